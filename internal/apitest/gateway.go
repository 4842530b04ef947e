package apitest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

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
// goroutines, when the test ends. Start it before any concurrent
// client.Dial: protoactor's remote start sets gRPC's global logger.
func StandInGateway(t testing.TB, h Handler) string {
	t.Helper()
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0,
		remote.WithServerOptions(append(remoteguard.ServerOptions(0), grpc.WaitForHandlers(true))...),
		remote.WithDialOptions(append(remoteguard.DialOptions(0), grpc.WithTransportCredentials(insecure.NewCredentials()))...)))
	r.Start()
	probe := settle(sys.Address())
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
		// Not r.Shutdown(true): see client.shutdownRemote.
		for _, name := range []string{"EndpointSupervisor", "activator"} {
			_ = sys.Root.StopFuture(actor.NewPID(sys.Address(), name)).Wait()
		}
		r.Shutdown(false)
		if probe != nil {
			probe.Close()
		}
		sys.Shutdown()
	})
	return sys.Address()
}

// settle works around protoactor's remote.Start writing gRPC's global
// logger without synchronisation: a later Start in the process races (as
// the race detector sees it) with every log line gRPC wrote before, such
// as the one the new server's goroutine writes when it starts serving. It
// opens an HTTP/2 connection to the server just started, sends the client
// preface and SETTINGS and reads until the server acknowledges them:
// what the server did up to that write is then ordered before what
// follows. The connection stays open, so that the server logs nothing
// about it until it is stopped (which closes it synchronously); close it
// after stopping the server. nil if the server could not be reached.
func settle(addr string) net.Conn {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	hello := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0) // preface, empty SETTINGS
	if _, err := conn.Write(hello); err != nil {
		conn.Close()
		return nil
	}
	var h [9]byte
	for {
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			conn.Close()
			return nil
		}
		n := int64(h[0])<<16 | int64(h[1])<<8 | int64(h[2])
		if _, err := io.CopyN(io.Discard, conn, n); err != nil {
			conn.Close()
			return nil
		}
		if h[3] == 4 && h[4]&1 == 1 { // SETTINGS with ACK
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return conn
}
