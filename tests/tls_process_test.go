package tests

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/proccluster"
	"github.com/odgm-go/odgm/internal/testcerts"
	"github.com/odgm-go/odgm/internal/tlsfiles"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// TestProcessClusterTLS runs three odgm node processes with mutual TLS
// from their YAML (tls: {ca_file, cert_file, key_file}), so Raft,
// protoactor remote and gRPC all use it: a class created through node 1
// is written through node 1 and read through node 3 by clients with a
// certificate of the same CA, and through node 2's gRPC service; a
// plain-text client's calls fail within their deadline, and the nodes
// keep serving.
func TestProcessClusterTLS(t *testing.T) {
	ca, err := testcerts.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint64]tlsfiles.Files{}
	for id := uint64(1); id <= 3; id++ {
		if ids[id], err = ca.Issue(fmt.Sprint("node", id)); err != nil {
			t.Fatal(err)
		}
	}
	me, err := ca.Issue("client")
	if err != nil {
		t.Fatal(err)
	}
	serverCreds, err := me.ServerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	dialCreds, err := me.ClientCredentials()
	if err != nil {
		t.Fatal(err)
	}
	pc := newProcCluster(t, 3, func(c *proccluster.Config) {
		c.TLS = func(id uint64) tlsfiles.Files { return ids[id] }
		c.GRPC = true
		c.ClientOptions = []client.Option{client.WithTLS(serverCreds, dialCreds)}
		c.GRPCCredentials = dialCreds
	})
	c1 := pc.dial(1)
	waitStatus(t, c1, 30*time.Second, "three nodes over TLS", settled(3))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Creating a class again with the same shape succeeds, so a create
	// whose answer was lost is retried.
	if err := retry(20*time.Second, func(ctx context.Context) error {
		return c1.CreateClass(ctx, &odgmv1.ClassSpec{Name: "kv", Partitions: 2, Replicas: 3})
	}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c1, 30*time.Second, "class shards have leaders", func(st *odgmv1.ClusterStatus) bool {
		return len(st.GetShards()) == 3 && settled(3)(st)
	})
	for i := range 10 {
		id := "k" + strconv.Itoa(i)
		if err := retry(10*time.Second, func(ctx context.Context) error {
			_, err := c1.Put(ctx, "kv", id, map[string][]byte{"v": []byte(id)}, odgm.RequestID("tls-"+id))
			return err
		}); err != nil {
			t.Fatalf("put %s through node 1: %v", id, err)
		}
	}
	c3 := pc.dial(3)
	for i := range 10 {
		id := "k" + strconv.Itoa(i)
		st, err := c3.Get(ctx, "kv", id)
		if err != nil || string(st.Entries["v"]) != id {
			t.Fatalf("get %s through node 3: %+v %v", id, st, err)
		}
	}

	// A client without TLS reaches no node: its call fails within its
	// deadline. protoactor's endpoint writer does not close the gRPC
	// connection of a failed connect attempt (remote/endpoint_writer.go,
	// initializeInternal), and such a connection keeps redialling; the
	// idle timeout tears those down before the leak check.
	plain := pc.dialWith([]uint64{1}, client.WithTLS(nil, nil), client.WithDialOptions(grpc.WithIdleTimeout(500*time.Millisecond)))
	pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
	started := time.Now()
	_, err = plain.Put(pctx, "kv", "plain", map[string][]byte{"v": []byte("no")})
	pcancel()
	if err == nil {
		t.Fatal("a plain-text client wrote to a TLS cluster")
	}
	// Generous slack: the machine running the tests may be busy.
	if d := time.Since(started); d > 15*time.Second {
		t.Fatalf("the plain-text client's call took %v, far past its 3s deadline", d)
	}
	t.Logf("plain-text client: %v", err)

	// gRPC with the client's certificate: a put through node 2, a get
	// through node 3; plain-text gRPC fails.
	conn2, err := pc.DialGRPC(2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	conn3, err := pc.DialGRPC(3)
	if err != nil {
		t.Fatal(err)
	}
	defer conn3.Close()
	g2, g3 := client.NewGRPC(conn2), client.NewGRPC(conn3)
	if err := retry(10*time.Second, func(ctx context.Context) error {
		_, err := g2.Put(ctx, "kv", "via-grpc", map[string][]byte{"v": []byte("yes")}, odgm.RequestID("tls-grpc"))
		return err
	}); err != nil {
		t.Fatalf("gRPC put through node 2: %v", err)
	}
	if st, err := g3.Get(ctx, "kv", "via-grpc"); err != nil || string(st.Entries["v"]) != "yes" {
		t.Fatalf("gRPC get through node 3: %+v %v", st, err)
	}
	plainConn, err := grpc.NewClient(pc.Node(2).GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plainConn.Close()
	gctx, gcancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err = client.NewGRPC(plainConn).Get(gctx, "kv", "via-grpc")
	gcancel()
	if err == nil {
		t.Fatal("a plain-text gRPC client read from a TLS node")
	}
	t.Logf("plain-text gRPC client: %v", err)

	// The nodes keep serving the clients with certificates.
	if err := retry(10*time.Second, func(ctx context.Context) error {
		_, err := c3.Put(ctx, "kv", "after", map[string][]byte{"v": []byte("ok")}, odgm.RequestID("tls-after"))
		return err
	}); err != nil {
		t.Fatalf("put through node 3 after the plain-text clients: %v", err)
	}
	if st, err := c1.Get(ctx, "kv", "after"); err != nil || string(st.Entries["v"]) != "ok" {
		t.Fatalf("get through node 1 after the plain-text clients: %+v %v", st, err)
	}
	for _, id := range pc.IDs() {
		select {
		case <-pc.Node(id).Exited():
			t.Fatalf("node %d exited", id)
		default:
		}
	}
}
