package remoteguard

import (
	"fmt"
	"net"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/odgm-go/odgm/internal/grpcsettle"
)

// startMu serialises the protoactor remote starts of this process:
// remote.Start sets gRPC's process-wide logger, a data race when two start
// at once (nodes, clients and test stand-ins alike).
var startMu sync.Mutex

// Start starts r, turning its panic (it panics when it cannot listen) into
// an error. With settle (a plain-text server only), it then waits until the
// new gRPC server has settled and returns the probe connection that did
// so, to close after Shutdown (see grpcsettle.Settle); else the
// connection is nil.
func Start(r *remote.Remote, sys *actor.ActorSystem, settle bool) (probe net.Conn, err error) {
	startMu.Lock()
	defer startMu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("start remote: %v", p)
		}
	}()
	r.Start()
	if settle {
		probe = grpcsettle.Settle(sys.Address())
	}
	return probe, nil
}

// Shutdown stops r, started by Start, and closes its probe connection (if
// any), under Start's lock. Not r.Shutdown(true): its endpoint writers close connections that
// their readers still read from another goroutine (a data race in
// protoactor). The endpoint actors are stopped first (each closes its
// connection), then the gRPC server. The actor system is the caller's.
func Shutdown(sys *actor.ActorSystem, r *remote.Remote, probe net.Conn) {
	startMu.Lock() // no remote starts while this one's gRPC shuts down
	defer startMu.Unlock()
	for _, name := range []string{"EndpointSupervisor", "activator"} {
		_ = sys.Root.StopFuture(actor.NewPID(sys.Address(), name)).Wait()
	}
	r.Shutdown(false)
	if probe != nil {
		probe.Close()
	}
}
