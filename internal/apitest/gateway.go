package apitest

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/odgm-go/odgm/internal/remoteguard"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// Handler serves one request of the message-driven protocol, as
// runtime.Node.Handle does.
type Handler func(context.Context, *odgmv1.Request) *odgmv1.Response

// StandInGateway starts an actor system of its own with protoactor remote
// on 127.0.0.1 (a free port) and a "gateway" actor that answers each
// *odgmv1.Request with h's Response (none if it is nil), each on a
// goroutine of its own. It
// returns the remote address and stops everything, waiting for those
// goroutines, when the test ends.
func StandInGateway(t testing.TB, h Handler) string {
	t.Helper()
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0,
		remote.WithServerOptions(append(remoteguard.ServerOptions(0), grpc.WaitForHandlers(true))...),
		remote.WithDialOptions(append(remoteguard.DialOptions(0), grpc.WithTransportCredentials(insecure.NewCredentials()))...)))
	probe, err := remoteguard.Start(r, sys, true)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex // orders every wg.Add before the cleanup's Wait
		stopped bool
	)
	ctx, cancel := context.WithCancel(context.Background())
	props := actor.PropsFromFunc(func(c actor.Context) {
		req, ok := c.Message().(*odgmv1.Request)
		if !ok {
			return
		}
		sender := c.Sender()
		if sender == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp := h(ctx, req); resp != nil {
				sys.Root.Send(sender, resp)
			}
		}()
	})
	if _, err := sys.Root.SpawnNamed(props, "gateway"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		cancel()
		wg.Wait()
		remoteguard.Shutdown(sys, r, probe)
		sys.Shutdown()
	})
	return sys.Address()
}
