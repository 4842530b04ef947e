package remotetest

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// The helpers below work around three
// faults of protoactor remote that show when several remotes share a
// process:
//
//   - Remote.Start writes gRPC's global logger, which every gRPC goroutine
//     reads when it logs. StartSystems orders each Start after everything
//     the gRPC goroutines already running have logged (see gatedCreds), and
//     must be called once per test binary run, before any traffic: run these
//     tests with -count=1.
//   - Remote.Shutdown(true) writes endpoint manager fields that the
//     connection goroutine of an endpoint writer reads when the peer it
//     writes to disconnects. The cleanup of StartSystems stops systems one
//     at a time, and before stopping the next waits, in every system still
//     running that had connected to the stopped one, for that read to be
//     done (see shutdownWatch).
//   - Remote.Shutdown(true) sends on a channel per inbound stream that the
//     stream's handler closes when the stream ends, and a goroutine removes
//     the channel from the manager's map only after that close: a stream
//     ending just as its system stops panics with "send on closed channel"
//     (or, under the race detector, reports a race). Before stopping a
//     system the cleanup waits until the streams its stopped peers had
//     opened to it have ended (see streamTracker), then lets the removing
//     goroutines run for a moment.

// Node configures one actor system for StartSystems.
type Node struct {
	Server []grpc.ServerOption              // server options other than credentials
	Dial   []grpc.DialOption                // all dial options with transport credentials; nil means insecure
	Creds  credentials.TransportCredentials // server credentials; nil means insecure
	Tune   func(*remote.Config)             // if set, adjusts the configuration
}

// StartSystems starts one actor system with remote per node, on free
// 127.0.0.1 ports, with logging discarded, and shuts them down in order at
// the end of the test.
func StartSystems(t *testing.T, nodes ...Node) []*actor.ActorSystem {
	t.Helper()
	release := make(chan struct{}) // lets probe handshakes fail
	hold := make(chan struct{})    // lets held endpoint writer goroutines go on
	var (
		probes   []net.Conn
		systems  []*actor.ActorSystem
		remotes  []*remote.Remote
		watches  []*shutdownWatch
		released bool
	)
	releaseProbes := func() {
		if !released {
			released = true
			close(release)
			for _, c := range probes {
				c.Close()
			}
		}
	}
	defer releaseProbes()
	var trackers []*streamTracker
	t.Cleanup(func() {
		releaseProbes()
		for i, sys := range systems {
			if i > 0 {
				for _, prev := range systems[:i] {
					if !trackers[i].waitGone(prev.Address(), 5*time.Second) {
						t.Errorf("streams from %s to %s still open", prev.Address(), sys.Address())
					}
				}
				time.Sleep(50 * time.Millisecond) // the handlers' map removals
			}
			addr := sys.Address()
			var waits []<-chan struct{}
			for _, w := range watches[i+1:] {
				if ch := w.arm(addr, hold); ch != nil {
					waits = append(waits, ch)
				}
			}
			remotes[i].Shutdown(true)
			sys.Shutdown()
			for _, ch := range waits {
				select {
				case <-ch:
				case <-time.After(5 * time.Second):
					t.Errorf("no endpoint termination for %s seen by a peer", addr)
				}
			}
		}
		close(hold)
	})

	for _, n := range nodes {
		creds, dial := n.Creds, n.Dial
		if creds == nil {
			creds = insecure.NewCredentials()
		}
		if dial == nil {
			dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		}
		g := &gatedCreds{TransportCredentials: creds, reached: make(chan struct{}), release: release}
		tr := &streamTracker{active: make(map[string]int), changed: make(chan struct{})}
		trackers = append(trackers, tr)
		server := append(n.Server[:len(n.Server):len(n.Server)], grpc.Creds(g), grpc.ChainStreamInterceptor(tr.intercept))
		sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		}))
		cfg := remote.Configure("127.0.0.1", 0,
			remote.WithServerOptions(server...),
			remote.WithDialOptions(dial...))
		if n.Tune != nil {
			n.Tune(cfg)
		}
		r := remote.NewRemote(sys, cfg)
		r.Start()
		w := &shutdownWatch{connected: make(map[string]bool)}
		sys.EventStream.Subscribe(w.handle)
		systems, remotes, watches = append(systems, sys), append(remotes, r), append(watches, w)

		c, err := net.Dial("tcp", sys.Address())
		if err != nil {
			t.Fatalf("probe %s: %v", sys.Address(), err)
		}
		probes = append(probes, c)
		select {
		case <-g.reached:
		case <-time.After(10 * time.Second):
			t.Fatalf("probe %s: no handshake", sys.Address())
		}
	}
	return systems
}

var errProbe = errors.New("start probe")

// gatedCreds holds the first server handshake, the probe's, until release
// is closed. The handshake is the first thing the connection goroutine
// does, and that goroutine is started by the Serve goroutine after Serve
// has logged, so reaching it orders Serve's log before the next Start;
// holding it orders the failure it then logs after the last Start.
type gatedCreds struct {
	credentials.TransportCredentials
	once    sync.Once
	reached chan struct{}
	release <-chan struct{}
}

func (g *gatedCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	probe := false
	g.once.Do(func() { probe = true })
	if probe {
		close(g.reached)
		<-g.release
		return nil, nil, errProbe
	}
	return g.TransportCredentials.ServerHandshake(c)
}

// shutdownWatch subscribes to a system's event stream after its endpoint
// manager, so for each endpoint event it runs right after the manager's
// handler, on the same goroutine. Armed for an address, it signals when the
// manager has handled that address's termination and then holds the
// goroutine (an endpoint writer's) until the test is done, so that a second
// termination event cannot reach the manager while its system stops.
type shutdownWatch struct {
	mu        sync.Mutex
	connected map[string]bool
	addr      string
	reached   chan struct{}
	hold      <-chan struct{}
}

// arm returns a channel closed once the termination of addr has been
// handled, or nil if the system never connected to addr.
func (w *shutdownWatch) arm(addr string, hold <-chan struct{}) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.connected[addr] {
		return nil
	}
	w.addr, w.reached, w.hold = addr, make(chan struct{}), hold
	return w.reached
}

func (w *shutdownWatch) handle(evt any) {
	switch e := evt.(type) {
	case *remote.EndpointConnectedEvent:
		w.mu.Lock()
		w.connected[e.Address] = true
		w.mu.Unlock()
	case *remote.EndpointTerminatedEvent:
		w.mu.Lock()
		if w.reached == nil || e.Address != w.addr {
			w.mu.Unlock()
			return
		}
		close(w.reached)
		w.reached = nil
		hold := w.hold
		w.mu.Unlock()
		<-hold
	}
}

// streamTracker counts the streams a system serves, by the address the peer
// announces in protoactor's ConnectRequest.
type streamTracker struct {
	mu      sync.Mutex
	active  map[string]int
	changed chan struct{} // closed and replaced on every change
}

func (s *streamTracker) add(addr string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active[addr] += d
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitGone reports whether no stream from addr is open, waiting up to
// timeout for that.
func (s *streamTracker) waitGone(addr string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		n, changed := s.active[addr], s.changed
		s.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}

func (s *streamTracker) intercept(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ts := &trackedStream{ServerStream: ss, tracker: s}
	err := handler(srv, ts)
	if ts.peer != "" {
		s.add(ts.peer, -1)
	}
	return err
}

type trackedStream struct {
	grpc.ServerStream
	tracker *streamTracker
	peer    string // set by the first ConnectRequest
}

func (t *trackedStream) RecvMsg(m any) error {
	err := t.ServerStream.RecvMsg(m)
	if rm, ok := m.(*remote.RemoteMessage); ok && err == nil && t.peer == "" {
		if sc := rm.GetConnectRequest().GetServerConnection(); sc != nil {
			t.peer = sc.GetAddress()
			t.tracker.add(t.peer, 1)
		}
	}
	return err
}
