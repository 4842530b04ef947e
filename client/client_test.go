package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/apitest"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

func dial(t *testing.T, addrs []string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), addrs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSuite runs the object API's semantic suite through a Client and a
// gateway backed by a memory node.
func TestSuite(t *testing.T) {
	apitest.Run(t, func(t *testing.T) apitest.Target {
		n := apitest.StartNode(t, nil)
		gw := apitest.StandInGateway(t, n.Handle)
		return apitest.Target{Objects: dial(t, []string{gw}), MaxValueSize: apitest.MaxValueSize}
	})
}

// TestFailover: a node that does not answer is followed by the next; a
// call to nodes that all stay silent ends with its deadline, typed.
// (Not a dead address: protoactor's endpoint writer leaks a gRPC
// connection per failed connection attempt.)
func TestFailover(t *testing.T) {
	n := apitest.StartNode(t, nil)
	gw := apitest.StandInGateway(t, n.Handle)
	release := make(chan struct{})
	silent := apitest.StandInGateway(t, func(context.Context, *odgmv1.Request) *odgmv1.Response {
		<-release
		return nil // no answer (nor a connection to a client gone by then)
	})
	defer close(release)
	c := dial(t, []string{silent, gw}, client.WithTimeout(2*time.Second))
	c2 := dial(t, []string{silent})
	ctx := context.Background()
	for i := 0; i < 4; i++ { // round robin starts at either address
		if v, err := c.Put(ctx, "doc", "f", map[string][]byte{"a": {byte(i)}}); err != nil || v != uint64(i+1) {
			t.Fatalf("put %d through a silent node and a live one: %d %v", i, v, err)
		}
	}
	ctx2, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c2.Get(ctx2, "doc", "f"); !errors.Is(err, odgm.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent node: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("silent node took %v", d)
	}
}

// TestNoGateway: a remote endpoint without a gateway actor answers with a
// dead letter: ErrUnavailable at once.
func TestNoGateway(t *testing.T) {
	n := apitest.StartNode(t, nil)
	gw := apitest.StandInGateway(t, n.Handle)
	other := dial(t, []string{gw}) // a client's endpoint has no gateway
	c := dial(t, []string{other.Address()})
	start := time.Now()
	if _, err := c.Get(context.Background(), "doc", "x"); !errors.Is(err, odgm.ErrUnavailable) {
		t.Fatalf("no gateway: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("no gateway took %v", d)
	}
}

// TestRetryKeepsRequestID: a write whose first node applied it but whose
// answer was lost is retried on the next node with the same request id,
// and applied once.
func TestRetryKeepsRequestID(t *testing.T) {
	n := apitest.StartNode(t, nil)
	var mu sync.Mutex
	var ids []string
	record := func(req *odgmv1.Request) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, req.GetPut().GetRequestId())
	}
	release := make(chan struct{})
	lossy := apitest.StandInGateway(t, func(ctx context.Context, req *odgmv1.Request) *odgmv1.Response {
		record(req)
		n.Handle(ctx, req)
		<-release
		return nil // the answer is lost
	})
	good := apitest.StandInGateway(t, func(ctx context.Context, req *odgmv1.Request) *odgmv1.Response {
		record(req)
		return n.Handle(ctx, req)
	})
	defer close(release)
	c := dial(t, []string{lossy, good})
	c2 := dial(t, []string{good})
	ctx := context.Background()
	// Make the next call start at the lossy node: calls alternate.
	for {
		ctx1, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := c.Put(ctx1, "doc", "once", map[string][]byte{"a": []byte("1")})
		cancel()
		if err != nil || v != 1 {
			t.Fatalf("put: %d %v", v, err)
		}
		mu.Lock()
		tried := len(ids)
		mu.Unlock()
		if tried == 2 {
			break // the lossy node was tried first, then the good one
		}
		// The good node was first: try again on a fresh object.
		if err := c2.DeleteObject(ctx, "doc", "once"); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		ids = nil
		mu.Unlock()
	}
	mu.Lock()
	first, second := ids[0], ids[1]
	mu.Unlock()
	if first == "" || first != second {
		t.Fatalf("request ids of the two tries: %q %q", first, second)
	}
	st, err := c2.Get(ctx, "doc", "once")
	if err != nil || st.Version != 1 {
		t.Fatalf("after the retry: %+v %v", st, err)
	}
}

// TestClusterOps: the cluster operations reach the node (a single node,
// not in a cluster) and bring back its answers.
func TestClusterOps(t *testing.T) {
	n := apitest.StartNode(t, nil)
	c := dial(t, []string{apitest.StandInGateway(t, n.Handle)})
	apitest.CheckClusterOps(t, c, n.ID())
}

// TestClosed: Close ends a waiting call and fails later ones with
// ErrClosed; Close twice is fine.
func TestClosed(t *testing.T) {
	release := make(chan struct{})
	silent := apitest.StandInGateway(t, func(context.Context, *odgmv1.Request) *odgmv1.Response {
		<-release
		return nil
	})
	defer close(release)
	c := dial(t, []string{silent})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "doc", "x")
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond) // let it wait for its answer
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, odgm.ErrClosed) || time.Since(start) > 2*time.Second {
		t.Fatalf("call waiting at close: %v after %v", err, time.Since(start))
	}
	if _, err := c.Get(context.Background(), "doc", "x"); !errors.Is(err, odgm.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDialConcurrently: Dial is safe for concurrent use.
func TestDialConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.Dial(context.Background(), []string{"127.0.0.1:1"})
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		}()
	}
	wg.Wait()
	if _, err := client.Dial(context.Background(), nil); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("no address: %v", err)
	}
	if _, err := client.Dial(context.Background(), []string{"x"}, client.WithListenAddress("256.0.0.1", 1)); err == nil {
		t.Fatal("bad listen address")
	}
}
