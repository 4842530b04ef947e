package remoteguard_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/odgm-go/odgm/internal/remoteguard"
	"github.com/odgm-go/odgm/internal/remotetest"
)

const limit = 1 << 20

var stringValueName = string((&wrapperspb.StringValue{}).ProtoReflect().Descriptor().FullName())

func guarded() remotetest.Node {
	return remotetest.Node{
		Server: remoteguard.ServerOptions(limit),
		Dial: append(remoteguard.DialOptions(limit),
			grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// spawnEcho starts an actor named "echo" that answers every StringValue
// with itself.
func spawnEcho(t *testing.T, sys *actor.ActorSystem) {
	t.Helper()
	props := actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*wrapperspb.StringValue); ok {
			c.Respond(m)
		}
	})
	if _, err := sys.Root.SpawnNamed(props, "echo"); err != nil {
		t.Fatalf("spawn echo: %v", err)
	}
}

// requireEcho requires an answer from the echo actor at addr to a
// request from client: the node is still up and serving real peers.
func requireEcho(t *testing.T, client *actor.ActorSystem, addr string) {
	t.Helper()
	res, err := client.Root.RequestFuture(actor.NewPID(addr, "echo"), wrapperspb.String("ping"), 5*time.Second).Result()
	if err != nil {
		t.Fatalf("echo from %s: %v", addr, err)
	}
	if v, ok := res.(*wrapperspb.StringValue); !ok || v.GetValue() != "ping" {
		t.Fatalf("echo from %s: got %v, want ping", addr, res)
	}
}

// attack opens protoactor's Receive stream to addr as a peer would, sends
// msg and returns the error that ends the stream (nil if none within a
// second).
func attack(t *testing.T, addr string, msg *remote.RemoteMessage) error {
	t.Helper()
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := remote.NewRemotingClient(conn).Receive(ctx)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	connect := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{
			SystemId: "attacker", Address: "127.0.0.1:1",
		}},
	}}}
	if err := stream.Send(connect); err != nil {
		t.Fatalf("send connect: %v", err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetConnectResponse() == nil {
		t.Fatalf("connect response: %v, %v", resp, err)
	}
	if err := stream.Send(msg); err != nil && err != io.EOF {
		t.Fatalf("send: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(time.Second):
		cancel()
		<-errc
		return nil
	}
}

func batch(addr string, typeNames []string, e *remote.MessageEnvelope) *remote.RemoteMessage {
	return &remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: &remote.MessageBatch{
		TypeNames: typeNames,
		Targets:   []*actor.PID{actor.NewPID(addr, "echo")},
		Envelopes: []*remote.MessageEnvelope{e},
	}}}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGuardKeepsNodeUp(t *testing.T) {
	systems := remotetest.StartSystems(t, guarded(), guarded())
	server, client := systems[0], systems[1]
	addr := server.Address()
	spawnEcho(t, server)
	requireEcho(t, client, addr)
	ping := mustMarshal(t, wrapperspb.String("ping"))

	t.Run("garbage over TCP", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		garbage := append([]byte("GET / HTTP/1.1\r\n\r\n"), bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096)...)
		_, _ = c.Write(garbage) // the server may hang up mid-write
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c) // until the server closes the connection
		requireEcho(t, client, addr)
	})

	for _, tc := range []struct {
		name string
		msg  *remote.RemoteMessage
		code codes.Code
	}{
		{"unknown type", batch(addr, []string{"no.such.Type"}, &remote.MessageEnvelope{MessageData: ping}), codes.InvalidArgument},
		{"type id out of range", batch(addr, []string{stringValueName}, &remote.MessageEnvelope{TypeId: 3, MessageData: ping}), codes.InvalidArgument},
		{"target out of range", batch(addr, []string{stringValueName}, &remote.MessageEnvelope{Target: 1, MessageData: ping}), codes.InvalidArgument},
		{"sender out of range", batch(addr, []string{stringValueName}, &remote.MessageEnvelope{Sender: 1, MessageData: ping}), codes.InvalidArgument},
		{"serializer out of range", batch(addr, []string{stringValueName}, &remote.MessageEnvelope{SerializerId: 5, MessageData: ping}), codes.InvalidArgument},
		{"terminated without who", batch(addr, []string{"actor.Terminated"}, &remote.MessageEnvelope{}), codes.InvalidArgument},
		{"over the size limit", batch(addr, []string{stringValueName}, &remote.MessageEnvelope{
			MessageData: mustMarshal(t, wrapperspb.String(strings.Repeat("x", limit+1))),
		}), codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := attack(t, addr, tc.msg)
			if got := status.Code(err); got != tc.code {
				t.Fatalf("stream ended with %v, want code %v", err, tc.code)
			}
			requireEcho(t, client, addr)
		})
	}

	t.Run("unary RPC", func(t *testing.T) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = remote.NewRemotingClient(conn).ListProcesses(ctx, &remote.ListProcessesRequest{})
		if got := status.Code(err); got != codes.Unimplemented {
			t.Fatalf("ListProcesses: %v, want code Unimplemented", err)
		}
		requireEcho(t, client, addr)
	})
}

// The attacks below crash an unguarded node. Each runs in a child process
// (this test binary re-executed with childEnv set) so that the crash takes
// down only the child; the parent requires that it did crash. This shows
// that each check of the guard is needed, and that TestGuardKeepsNodeUp
// can fail.
const childEnv = "REMOTEGUARD_UNGUARDED_ATTACK"

var unguardedAttacks = map[string]struct {
	run   func(t *testing.T, addr string)
	crash string // expected in the child's output
}{
	"unknown-type": {
		run: func(t *testing.T, addr string) {
			ping := mustMarshal(t, wrapperspb.String("ping"))
			attack(t, addr, batch(addr, []string{"no.such.Type"}, &remote.MessageEnvelope{MessageData: ping}))
		},
		crash: "remote.(*protoSerializer).Deserialize",
	},
	"type-id-out-of-range": {
		run: func(t *testing.T, addr string) {
			ping := mustMarshal(t, wrapperspb.String("ping"))
			attack(t, addr, batch(addr, []string{stringValueName}, &remote.MessageEnvelope{TypeId: 3, MessageData: ping}))
		},
		crash: "index out of range [3] with length 1",
	},
	"terminated-without-who": {
		run: func(t *testing.T, addr string) {
			attack(t, addr, batch(addr, []string{"actor.Terminated"}, &remote.MessageEnvelope{}))
		},
		crash: "remote.(*endpointManager).remoteTerminate",
	},
	"unary-list-processes": {
		run: func(t *testing.T, addr string) {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = remote.NewRemotingClient(conn).ListProcesses(ctx, &remote.ListProcessesRequest{})
		},
		crash: "panic: implement me",
	},
}

func TestUnguardedAttackCrashes(t *testing.T) {
	if name := os.Getenv(childEnv); name != "" {
		runUnguardedAttack(t, name)
		return
	}
	for name, a := range unguardedAttacks {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestUnguardedAttackCrashes$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("unguarded node survived %s; output:\n%s", name, out)
			}
			i := strings.Index(string(out), "panic: ")
			if i < 0 || !strings.Contains(string(out), a.crash) {
				t.Fatalf("child failed (%v) without a panic mentioning %q; output:\n%s", err, a.crash, out)
			}
			first, _, _ := strings.Cut(string(out[i:]), "\n")
			t.Logf("unguarded node crashed: %v: %s", err, first)
		})
	}
}

// runUnguardedAttack runs in the child: it attacks a node without the
// guard and, if the process is still alive afterwards, reports survival by
// returning normally.
func runUnguardedAttack(t *testing.T, name string) {
	server := remotetest.StartSystems(t, remotetest.Node{})[0]
	addr := server.Address()
	spawnEcho(t, server)
	unguardedAttacks[name].run(t, addr)
	time.Sleep(500 * time.Millisecond)
	t.Logf("survived %s", name)
}
