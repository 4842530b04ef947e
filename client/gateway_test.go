package client_test

import (
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/apitest"
	"github.com/odgm-go/odgm/runtime"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestInProcessNodeGateway runs the suite through a Client and the gateway
// actor of a real (single-node, dynamic-cluster) node, and through a
// GRPCClient and that node's own gRPC service.
func TestInProcessNodeGateway(t *testing.T) {
	if raceEnabled {
		t.Skip("a node's remote and a client's in one process race inside protoactor (remote.Start writes gRPC's global logger); run without -race")
	}
	start := func(t *testing.T) *runtime.Node {
		return apitest.StartNode(t, func(c *runtime.Config) {
			c.RaftAddress, c.RemoteAddress, c.GRPCAddress = freeAddr(t), freeAddr(t), "127.0.0.1:0"
			c.Bootstrap = true
			c.HeartbeatInterval, c.NodeDeadTimeout = 100*time.Millisecond, 2*time.Second
		})
	}
	t.Run("remote", func(t *testing.T) {
		apitest.Run(t, func(t *testing.T) apitest.Target {
			n := start(t)
			return apitest.Target{Objects: dial(t, []string{n.Config().RemoteAddress}), MaxValueSize: apitest.MaxValueSize}
		})
	})
	t.Run("grpc", func(t *testing.T) {
		apitest.Run(t, func(t *testing.T) apitest.Target {
			n := start(t)
			conn, err := grpc.NewClient(n.GRPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			return apitest.Target{Objects: client.NewGRPC(conn), MaxValueSize: apitest.MaxValueSize}
		})
	})
}
