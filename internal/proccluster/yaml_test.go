package proccluster

import (
	"testing"
	"time"

	"github.com/odgm-go/odgm/internal/tlsfiles"
	"github.com/odgm-go/odgm/runtime"
)

// TestYAML checks that the YAML written for a node is a valid node
// configuration with the settings asked for (no process is started).
func TestYAML(t *testing.T) {
	c := &Cluster{cfg: Config{RTTMillisecond: 7, HeartbeatInterval: 300 * time.Millisecond, NodeDeadTimeout: 3 * time.Second,
		TLS: func(id uint64) tlsfiles.Files {
			return tlsfiles.Files{CA: "/c/ca.pem", Cert: "/c/n.pem", Key: "/c/n key.pem"}
		},
		Extra: func(uint64) string { return "max_message_bytes: 12345" },
	}, seed: "127.0.0.1:7100"}
	for _, n := range []*Node{
		{ID: 1, Dir: "/d/n1", Raft: "127.0.0.1:7001", Remote: "127.0.0.1:7100", GRPC: "127.0.0.1:7200"},
		{ID: 2, Dir: "/d/n2", Raft: "127.0.0.1:7002", Remote: "127.0.0.1:7101"},
	} {
		got, err := runtime.ParseConfig([]byte(c.yaml(n)))
		if err != nil {
			t.Fatalf("node %d: %v\n%s", n.ID, err, c.yaml(n))
		}
		if got.NodeID != n.ID || got.DataDir != n.Dir || got.RaftAddress != n.Raft || got.RemoteAddress != n.Remote || got.GRPCAddress != n.GRPC {
			t.Errorf("node %d: addresses %+v", n.ID, got)
		}
		if got.RTTMillisecond != 7 || got.HeartbeatInterval != 300*time.Millisecond || got.NodeDeadTimeout != 3*time.Second || got.MaxMessageBytes != 12345 {
			t.Errorf("node %d: settings %+v", n.ID, got)
		}
		if got.TLS != (tlsfiles.Files{CA: "/c/ca.pem", Cert: "/c/n.pem", Key: "/c/n key.pem"}) {
			t.Errorf("node %d: tls %+v", n.ID, got.TLS)
		}
		if bootstrap := n.ID == 1; got.Bootstrap != bootstrap || !bootstrap && (len(got.Seeds) != 1 || got.Seeds[0] != "127.0.0.1:7100") {
			t.Errorf("node %d: bootstrap %v seeds %v", n.ID, got.Bootstrap, got.Seeds)
		}
	}
}
