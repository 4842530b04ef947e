// Package tests holds cross-package tests: several runtime nodes in one
// process, node processes of the built odgm binary, failures, and the
// typed errors seen from outside.
package tests

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/odgm-go/odgm/internal/leakcheck"
)

// The process tests' clients leave gRPC's callback serializers of their
// connections to nodes that outlive them: protoactor remote's endpoint
// writer does not close its ClientConn when the client stops while the
// node stays up (seen with protoactor 2024-08-22). Ignored here only.
func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(m, goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"))
}
