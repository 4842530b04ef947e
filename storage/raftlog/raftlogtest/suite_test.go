package raftlogtest_test

import (
	"testing"

	"github.com/lni/dragonboat/v4/logger"
	"github.com/lni/dragonboat/v4/raftio"
	"go.uber.org/goleak"

	"github.com/odgm-go/odgm/storage/raftlog"
	"github.com/odgm-go/odgm/storage/raftlog/raftlogtest"
)

func TestMain(m *testing.M) {
	for _, name := range []string{"config", "dragonboat", "logdb", "pebblekv", "tan", "raft", "rsm", "transport", "settings", "server"} {
		logger.GetLogger(name).SetLevel(logger.WARNING)
	}
	// buntdb's background goroutine notices Close within a second; Close
	// does not wait for it.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/tidwall/buntdb.(*DB).backgroundManager"))
}

func opener(backend string, opts raftlog.Options) func(testing.TB, string) raftio.ILogDB {
	return func(t testing.TB, dir string) raftio.ILogDB {
		db, err := raftlog.OpenLogDB(backend, dir, opts)
		if err != nil {
			t.Fatalf("open %s: %v", backend, err)
		}
		return db
	}
}

func TestAppendLog(t *testing.T) {
	raftlogtest.Run(t, raftlogtest.Backend{Name: raftlog.BackendAppendLog, Durable: true,
		Open: opener(raftlog.BackendAppendLog, raftlog.Options{SegmentSize: 64 << 10, SyncPolicy: raftlog.SyncNone})})
}

func TestAppendLogSyncAlways(t *testing.T) {
	raftlogtest.Run(t, raftlogtest.Backend{Name: raftlog.BackendAppendLog, Durable: true, PropertySteps: 300,
		Open: opener(raftlog.BackendAppendLog, raftlog.Options{SegmentSize: 64 << 10, CacheSize: 1 << 10})})
}

func TestMemoryLog(t *testing.T) {
	raftlogtest.Run(t, raftlogtest.Backend{Name: raftlog.BackendMemory,
		Open: opener(raftlog.BackendMemory, raftlog.Options{})})
}

func TestKVLog(t *testing.T) {
	raftlogtest.Run(t, raftlogtest.Backend{Name: raftlog.BackendKV, Durable: true, PropertySteps: 1000,
		Open: opener(raftlog.BackendKV, raftlog.Options{SyncPolicy: raftlog.SyncNone})})
}

func TestPebble(t *testing.T) {
	raftlogtest.Run(t, raftlogtest.Backend{Name: raftlog.BackendPebble, Durable: true, Loose: true, PropertySteps: 500,
		Open: opener(raftlog.BackendPebble, raftlog.Options{})})
}

func TestTan(t *testing.T) {
	raftlogtest.Run(t, raftlogtest.Backend{Name: raftlog.BackendTan, Durable: true, Loose: true, PropertySteps: 500,
		Open: opener(raftlog.BackendTan, raftlog.Options{})})
}
