package tests

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/loopback"
	"github.com/odgm-go/odgm/runtime"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type cluster struct {
	t       *testing.T
	dir     string
	members map[uint64]string
	nodes   map[uint64]*runtime.Node
	class   runtime.Class
}

func newCluster(t *testing.T, class runtime.Class) *cluster {
	c := &cluster{t: t, dir: t.TempDir(), members: map[uint64]string{}, nodes: map[uint64]*runtime.Node{}, class: class}
	for id := uint64(1); id <= 3; id++ {
		c.members[id] = freeAddr(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for id := uint64(1); id <= 3; id++ {
		n := c.start(id)
		wg.Add(1)
		go func() { defer wg.Done(); errs[id] = n.RegisterClass(context.Background(), class) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Stop(context.Background())
		}
	})
	return c
}

func (c *cluster) start(id uint64) *runtime.Node {
	n, err := runtime.Start(context.Background(), runtime.Config{
		DataDir: filepath.Join(c.dir, fmt.Sprint("n", id)), NodeID: id, Cluster: c.members, RTTMillisecond: 10,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id] = n
	return n
}

func (c *cluster) stop(id uint64) {
	if err := c.nodes[id].Stop(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	delete(c.nodes, id)
}

func (c *cluster) leader(shardID uint64) uint64 {
	for _, n := range c.nodes {
		if l := n.Host().Health(shardID).LeaderID; l != 0 {
			return l
		}
	}
	return 0
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestClusterWritesReadsAndFailover: any node with a replica serves
// writes, CAS and linearizable reads; after the leader's node stops, the
// other two keep serving with everything acknowledged; the stopped node
// restarts from its directory and catches up.
func TestClusterWritesReadsAndFailover(t *testing.T) {
	c := newCluster(t, runtime.Class{Name: "kv", Partitions: 2, Replicas: 3})
	ctx := ctxT(t)
	// Write on one node, read linearizably on another.
	for i := 0; i < 10; i++ {
		w, r := c.nodes[uint64(1+i%3)], c.nodes[uint64(1+(i+1)%3)]
		id := fmt.Sprint("k", i)
		if v, err := w.Put(ctx, "kv", id, map[string][]byte{"v": []byte(id)}); err != nil || v != 1 {
			t.Fatalf("put %s: %d %v", id, v, err)
		}
		st, err := r.Get(ctx, "kv", id)
		if err != nil || string(st.Entries["v"]) != id {
			t.Fatalf("get %s on another node: %+v %v", id, st, err)
		}
	}
	// CAS from two nodes on one version: exactly one wins.
	var wins, mismatches int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id := uint64(1); id <= 3; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.nodes[id].CompareAndSwap(ctx, "kv", "k0", 1, map[string][]byte{"v": []byte(fmt.Sprint("by", id))}, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, odgm.ErrVersionMismatch):
				mismatches++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || mismatches != 2 {
		t.Fatalf("CAS race: %d wins, %d mismatches", wins, mismatches)
	}

	// Stop the leader of partition 0's shard; keep writing on the others.
	sid := runtime.ShardID("kv", 0)
	dead := c.leader(sid)
	if dead == 0 {
		t.Fatal("no leader")
	}
	c.stop(dead)
	acked := map[string]uint64{}
	for i := 0; i < 20; i++ {
		id := fmt.Sprint("after", i)
		for _, n := range c.nodes {
			var v uint64
			var err error
			for try := 0; try < 100; try++ {
				v, err = n.Put(ctx, "kv", id, map[string][]byte{"v": []byte(id)}, runtime.RequestID("put-"+id))
				if err == nil || !errors.Is(err, odgm.ErrUnavailable) && !errors.Is(err, odgm.ErrTimeout) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("put %s after failover: %v", id, err)
			}
			acked[id] = v
			break
		}
	}
	for id, v := range acked {
		for _, n := range c.nodes {
			st, err := n.Get(ctx, "kv", id)
			if err != nil || st.Version != v {
				t.Fatalf("%s on node %d: %+v %v", id, n.ID(), st, err)
			}
		}
	}
	// Restart the stopped node: it catches up (a stale read on it
	// eventually sees the last write).
	n := c.start(dead)
	if err := n.RegisterClass(ctx, c.class); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := n.Get(ctx, "kv", "after19", runtime.StaleRead())
		if err == nil && string(st.Entries["v"]) == "after19" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted node did not catch up: %+v %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInvocationsAcrossNodes: increments invoked on every node of a
// 3-replica class are all counted once.
func TestInvocationsAcrossNodes(t *testing.T) {
	incr := func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
		v, _ := o.Get("n")
		o.Set("n", []byte(fmt.Sprint(atoi(v)+1)))
		return nil, nil
	}
	c := newCluster(t, runtime.Class{Name: "counter", Replicas: 3, Methods: map[string]runtime.Method{"incr": incr}})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	const each = 20
	for id := uint64(1); id <= 3; id++ {
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					rid := runtime.RequestID(fmt.Sprintf("n%d-g%d-%d", id, g, i))
					var err error
					for try := 0; try < 20; try++ {
						opts := []runtime.Option{rid}
						if g == 0 {
							// A stale state costs retries, never a lost increment.
							opts = append(opts, runtime.StaleRead())
						}
						if _, err = c.nodes[id].Invoke(ctx, "counter", "x", "incr", nil, opts...); !errors.Is(err, odgm.ErrVersionMismatch) {
							break
						}
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	st, err := c.nodes[1].Get(ctx, "counter", "x")
	if err != nil || atoi(st.Entries["n"]) != 9*each {
		t.Fatalf("count %s, want %d: %v", st.Entries["n"], 9*each, err)
	}
}

func atoi(b []byte) int {
	n := 0
	fmt.Sscan(string(b), &n)
	return n
}

// TestPassivateOnLeaderChange: when leadership moves to another node,
// the object actors of the old leader's node are passivated at once.
func TestPassivateOnLeaderChange(t *testing.T) {
	get := func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) { return nil, nil }
	c := newCluster(t, runtime.Class{Name: "thing", Replicas: 3, Methods: map[string]runtime.Method{"get": get}})
	ctx := ctxT(t)
	sid := runtime.ShardID("thing", 0)
	leader := c.leader(sid)
	ln := c.nodes[leader]
	for i := 0; i < 5; i++ {
		if _, err := ln.Invoke(ctx, "thing", fmt.Sprint("t", i), "get", nil); err != nil {
			t.Fatal(err)
		}
	}
	if a, err := ln.ActiveObjects(ctx, "thing"); err != nil || a != 5 {
		t.Fatalf("active on the leader: %d %v", a, err)
	}
	target := leader%3 + 1
	if err := ln.Host().NodeHost().RequestLeaderTransfer(sid, target); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := ln.ActiveObjects(ctx, "thing")
		if err != nil {
			t.Fatal(err)
		}
		if a == 0 && c.leader(sid) == target {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the transfer: leader %d, %d actors still active on node %d", c.leader(sid), a, leader)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The objects still serve (activated again) on the old leader's node.
	if _, err := ln.Invoke(ctx, "thing", "t0", "get", nil); err != nil {
		t.Fatal(err)
	}
}
