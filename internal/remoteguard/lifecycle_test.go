package remoteguard_test

import (
	"log/slog"
	"net"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/odgm-go/odgm/internal/remoteguard"
)

// TestStartPortTaken: a remote that cannot listen is an error from Start,
// not protoactor's panic; one that can is started, settled and stopped.
func TestStartPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	newSys := func() *actor.ActorSystem {
		return actor.NewActorSystemWithConfig(actor.Configure(
			actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	}
	sys := newSys()
	defer sys.Shutdown()
	if _, err := remoteguard.Start(remote.NewRemote(sys, remote.Configure("127.0.0.1", port)), sys, false); err == nil {
		t.Fatal("a remote on a taken port started")
	}
	sys2 := newSys()
	defer sys2.Shutdown()
	r := remote.NewRemote(sys2, remote.Configure("127.0.0.1", 0))
	probe, err := remoteguard.Start(r, sys2, true)
	if err != nil || probe == nil {
		t.Fatalf("start: %v, probe %v", err, probe)
	}
	remoteguard.Shutdown(sys2, r, probe)
}
