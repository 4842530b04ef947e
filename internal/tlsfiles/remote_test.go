package tlsfiles_test

import (
	"crypto/tls"
	"github.com/odgm-go/odgm/internal/remotetest"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/odgm-go/odgm/internal/remoteguard"
	"github.com/odgm-go/odgm/internal/testcerts"
	"github.com/odgm-go/odgm/internal/tlsfiles"
)

// mtlsNode configures a node that listens with f's server credentials and
// dials with client, all behind the remote guard.
func mtlsNode(t *testing.T, f tlsfiles.Files, client credentials.TransportCredentials) remotetest.Node {
	t.Helper()
	server, err := f.ServerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if client == nil {
		if client, err = f.ClientCredentials(); err != nil {
			t.Fatal(err)
		}
	}
	return remotetest.Node{
		Server: remoteguard.ServerOptions(1 << 20),
		Creds:  server,
		Dial:   append(remoteguard.DialOptions(1<<20), grpc.WithTransportCredentials(client)),
	}
}

// dialOnceNode configures a node that dials with conf, for client
// credentials the server may refuse. protoactor's endpoint writer leaks the gRPC connection of a failed
// non-blocking dial and sleeps 2 s after each of its MaxRetryCount attempts,
// so the node tries once, with a blocking dial that gives up (and closes
// its connection) after a second. It listens with server, if not nil.
func dialOnceNode(conf *tls.Config, server credentials.TransportCredentials) remotetest.Node {
	return remotetest.Node{
		Creds: server,
		Dial: []grpc.DialOption{
			grpc.WithTransportCredentials(credentials.NewTLS(conf)),
			grpc.WithBlock(),              //nolint:staticcheck // see above
			grpc.WithTimeout(time.Second), //nolint:staticcheck // see above
		},
		Tune: func(c *remote.Config) { c.MaxRetryCount = 1 },
	}
}

func TestRemoteMutualTLS(t *testing.T) {
	ca, err := testcerts.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverFiles, _ := ca.Issue("server")
	clientFiles, _ := ca.Issue("client")
	strangerFiles, err := other.Issue("stranger")
	if err != nil {
		t.Fatal(err)
	}
	strangerFiles.CA = ca.CAFile // trusts our servers, holds a certificate we did not sign
	strangerConf, err := strangerFiles.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	clientConf, err := clientFiles.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	clientCreds, err := clientFiles.ServerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	anonConf := clientConf.Clone()
	anonConf.Certificates = nil

	systems := remotetest.StartSystems(t,
		mtlsNode(t, serverFiles, nil),
		mtlsNode(t, clientFiles, nil),
		dialOnceNode(strangerConf, nil),
		dialOnceNode(anonConf, nil),
		dialOnceNode(clientConf, clientCreds), // control: the same dialling, accepted
	)
	server, client, stranger, anon, control := systems[0], systems[1], systems[2], systems[3], systems[4]
	props := actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*wrapperspb.StringValue); ok {
			c.Respond(m)
		}
	})
	if _, err := server.Root.SpawnNamed(props, "echo"); err != nil {
		t.Fatal(err)
	}
	request := func(from *actor.ActorSystem, timeout time.Duration) error {
		// A fresh PID each time: a PID caches the process that first
		// resolved it, which belongs to one actor system; shared between
		// systems it would send through the wrong one.
		echo := actor.NewPID(server.Address(), "echo")
		res, err := from.Root.RequestFuture(echo, wrapperspb.String("ping"), timeout).Result()
		if err == nil {
			if v, ok := res.(*wrapperspb.StringValue); !ok || v.GetValue() != "ping" {
				t.Errorf("echo answered %v, want ping", res)
			}
		}
		return err
	}

	if err := request(client, 5*time.Second); err != nil {
		t.Fatalf("client with a certificate from the CA: %v", err)
	}
	var wg sync.WaitGroup
	for name, sys := range map[string]*actor.ActorSystem{"certificate from another CA": stranger, "no certificate": anon} {
		wg.Go(func() {
			if err := request(sys, 5*time.Second); err == nil {
				t.Errorf("client with %s got an answer", name)
			} else {
				t.Logf("client with %s: %v", name, err)
			}
		})
	}
	wg.Go(func() {
		if err := request(control, 5*time.Second); err != nil {
			t.Errorf("control client dialling once with a good certificate: %v", err)
		}
	})
	wg.Wait()
	if err := request(client, 5*time.Second); err != nil {
		t.Fatalf("server down after rejecting clients: %v", err)
	}
}
