package shards

import (
	"testing"

	"github.com/lni/dragonboat/v4/logger"

	"github.com/odgm-go/odgm/internal/leakcheck"
)

func TestMain(m *testing.M) {
	for _, name := range []string{"LogDB", "config", "dragonboat", "gossip", "grpc", "logdb", "pebblekv",
		"raft", "raft-mt", "raftpb", "registry", "rsm", "server", "settings", "tan", "tools", "transport"} {
		logger.GetLogger(name).SetLevel(logger.CRITICAL)
	}
	leakcheck.VerifyTestMain(m)
}
