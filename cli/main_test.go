package cli

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/odgm-go/odgm/internal/leakcheck"
)

// See tests/main_test.go: gRPC callback serializers of connections to a
// node that outlives the command's client.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// A child of TestUnreachableNode: protoactor leaks the gRPC
		// connections of a node that never answered; the child exits.
		os.Exit(m.Run())
	}
	leakcheck.VerifyTestMain(m, goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"))
}
