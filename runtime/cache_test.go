package runtime_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/odgm-go/odgm/internal/loopback"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/runtime"
)

// startCluster starts n in-memory nodes on loopback addresses and
// registers cls on each.
func startCluster(t *testing.T, n int, cls runtime.Class) []*runtime.Node {
	t.Helper()
	ctx := ctxT(t)
	addrs, err := loopback.Addrs(n)
	if err != nil {
		t.Fatal(err)
	}
	members := map[uint64]string{}
	for i, a := range addrs {
		members[uint64(i+1)] = a
	}
	var nodes []*runtime.Node
	for i := range n {
		nd, err := runtime.Start(ctx, runtime.Config{Memory: true, NodeID: uint64(i + 1), Cluster: members, RTTMillisecond: 5})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Stop(context.Background()) })
		nodes = append(nodes, nd)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = nd.RegisterClass(ctx, cls) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func put(t *testing.T, n *runtime.Node, class, id string, v uint64) {
	t.Helper()
	cmd := &odgmv1.Command{Object: &odgmv1.ObjectRef{Class: class, Id: id}, Puts: []*odgmv1.Entry{{Name: "n", Value: u64(v)}}}
	if _, err := n.Host().Propose(ctxT(t), runtime.ShardID(class, 0), cmd); err != nil {
		t.Fatal(err)
	}
}

func invokeU64(t *testing.T, n *runtime.Node, class, id, method string) uint64 {
	t.Helper()
	out, err := n.Invoke(ctxT(t), class, id, method, nil)
	if err != nil {
		t.Fatalf("%s on node %d: %v", method, n.ID(), err)
	}
	return getU64(out)
}

// TestReadOnlyInvocationSeesBypassingWrite: a read-only invocation served
// from an actor's cache on a single node still sees a write made through
// the shard directly.
func TestReadOnlyInvocationSeesBypassingWrite(t *testing.T) {
	n := startMemory(t, nil)
	if err := n.RegisterClass(ctxT(t), counterClass("counter", 1)); err != nil {
		t.Fatal(err)
	}
	if got := invokeU64(t, n, "counter", "c", "incr"); got != 1 {
		t.Fatalf("incr = %d", got)
	}
	put(t, n, "counter", "c", 100)
	if got := invokeU64(t, n, "counter", "c", "get"); got != 100 {
		t.Fatalf("get after a write behind the actor's back = %d, want 100", got)
	}
}

// TestReplicatedCacheIsCoherent: with 3 replicas, the leader's actor keeps
// the object's state, yet a read-only invocation on it sees writes made on
// another node (through the shard directly, and through that node's own
// actor), and its next write is based on them.
func TestReplicatedCacheIsCoherent(t *testing.T) {
	cls := counterClass("counter", 1)
	cls.Replicas = 3
	nodes := startCluster(t, 3, cls)
	sid := runtime.ShardID("counter", 0)
	leader, other := leaderAndOther(t, nodes, sid)
	if got := invokeU64(t, leader, "counter", "c", "incr"); got != 1 {
		t.Fatalf("incr = %d", got)
	}
	if got := invokeU64(t, leader, "counter", "c", "get"); got != 1 {
		t.Fatalf("get = %d", got)
	}
	put(t, other, "counter", "c", 7)
	if got := invokeU64(t, leader, "counter", "c", "get"); got != 7 {
		t.Fatalf("get after a write through another node's shard = %d, want 7", got)
	}
	if got := invokeU64(t, other, "counter", "c", "incr"); got != 8 {
		t.Fatalf("incr on another node = %d, want 8", got)
	}
	if got := invokeU64(t, leader, "counter", "c", "get"); got != 8 {
		t.Fatalf("get after another node's invocation = %d, want 8", got)
	}
	if got := invokeU64(t, leader, "counter", "c", "incr"); got != 9 {
		t.Fatalf("incr on a stale cache = %d, want 9", got)
	}
	// Delete and re-create up to the cached version: the cache must not
	// be taken for the new object.
	if err := other.DeleteObject(ctxT(t), "counter", "c"); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		invokeU64(t, other, "counter", "c", "incr")
	}
	put(t, other, "counter", "c", 42) // version 9, as cached
	if got := invokeU64(t, leader, "counter", "c", "get"); got != 42 {
		t.Fatalf("get after delete and re-create = %d, want 42", got)
	}
}

// TestCacheDroppedOnLeadershipLoss: when the shard's leader moves to
// another node, the old leader's object actors (and their caches) are
// passivated, and calls there still see the current state.
func TestCacheDroppedOnLeadershipLoss(t *testing.T) {
	cls := counterClass("counter", 1)
	cls.Replicas = 3
	nodes := startCluster(t, 3, cls)
	sid := runtime.ShardID("counter", 0)
	leader, other := leaderAndOther(t, nodes, sid)
	for i := range 5 {
		invokeU64(t, leader, "counter", fmt.Sprint("c", i), "incr")
	}
	if n, err := leader.ActiveObjects(ctxT(t), "counter"); err != nil || n != 5 {
		t.Fatalf("active objects = %d, %v; want 5", n, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		if i%50 == 0 && leader.Host().Health(sid).LeaderID != other.ID() {
			// A transfer can be lost (e.g. while the target catches up).
			_ = leader.Host().NodeHost().RequestLeaderTransfer(sid, other.ID())
		}
		n, err := leader.ActiveObjects(ctxT(t), "counter")
		if err == nil && n == 0 && leader.Host().Health(sid).LeaderID == other.ID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a leader transfer: %d active objects on the old leader (%v), leader %d", n, err, leader.Host().Health(sid).LeaderID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	put(t, other, "counter", "c0", 50)
	if got := invokeU64(t, leader, "counter", "c0", "get"); got != 50 {
		t.Fatalf("get on the old leader = %d, want 50", got)
	}
}

func leaderAndOther(t *testing.T, nodes []*runtime.Node, sid uint64) (leader, other *runtime.Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if l := nodes[0].Host().Health(sid).LeaderID; l != 0 {
			return nodes[l-1], nodes[l%uint64(len(nodes))]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader")
	return nil, nil
}

// TestMethodErrorOnStaleCacheIsRetried: a method that fails on the cached
// state is run again on the current one when the object has changed
// behind the actor's back, rather than failing on what it no longer is.
func TestMethodErrorOnStaleCacheIsRetried(t *testing.T) {
	n := startMemory(t, nil)
	cls := counterClass("counter", 1)
	cls.Methods["take5"] = func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
		v, _ := o.Get("n")
		if getU64(v) < 5 {
			return nil, errFail
		}
		o.Set("n", u64(getU64(v)-5))
		return nil, nil
	}
	if err := n.RegisterClass(ctxT(t), cls); err != nil {
		t.Fatal(err)
	}
	invokeU64(t, n, "counter", "c", "incr") // cached: n = 1
	if _, err := n.Invoke(ctxT(t), "counter", "c", "take5", nil); err == nil {
		t.Fatal("take5 with n = 1 succeeded")
	}
	put(t, n, "counter", "c", 10)
	if _, err := n.Invoke(ctxT(t), "counter", "c", "take5", nil); err != nil {
		t.Fatalf("take5 after n was set to 10 behind the actor's back: %v", err)
	}
	if got := invokeU64(t, n, "counter", "c", "get"); got != 5 {
		t.Fatalf("n = %d, want 5", got)
	}
}
