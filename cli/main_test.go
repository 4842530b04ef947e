package cli

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/odgm-go/odgm/internal/leakcheck"
)

// See tests/main_test.go: gRPC callback serializers of connections to a
// node that outlives the command's client.
func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(m, goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"))
}
