package tests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/apitest"
	"github.com/odgm-go/odgm/internal/loopback"
	"github.com/odgm-go/odgm/internal/proccluster"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/runtime"
)

// dynCluster is a dynamic cluster of nodes in this process: node 1
// bootstraps the meta shard, the others join through it.
type dynCluster struct {
	t     *testing.T
	dir   string
	nodes map[uint64]*runtime.Node
	cfgs  map[uint64]runtime.Config
	mod   func(*runtime.Config)
}

func newDynCluster(t *testing.T, n int) *dynCluster { return newDynClusterWith(t, n, nil) }

// newDynClusterWith is newDynCluster with mod adjusting every node's
// config.
func newDynClusterWith(t *testing.T, n int, mod func(*runtime.Config)) *dynCluster {
	// ODGM_RACE_ANYWAY=1 runs them under -race anyway, to look for races
	// of our own among protoactor's (gRPC's global logger, at last look).
	if raceEnabled && os.Getenv("ODGM_RACE_ANYWAY") == "" {
		t.Skip("several protoactor remotes in one process race inside protoactor; run without -race (make test does)")
	}
	c := &dynCluster{t: t, dir: t.TempDir(), nodes: map[uint64]*runtime.Node{}, cfgs: map[uint64]runtime.Config{}, mod: mod}
	for id := uint64(1); id <= uint64(n); id++ {
		c.add(id)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Stop(context.Background())
		}
	})
	return c
}

// add configures node id (node 1 bootstraps, the others join through it)
// and starts it.
func (c *dynCluster) add(id uint64) *runtime.Node {
	c.t.Helper()
	a, err := loopback.Addrs(2)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := runtime.Config{
		DataDir: filepath.Join(c.dir, fmt.Sprint("n", id)), NodeID: id, RTTMillisecond: 10,
		RaftAddress: a[0], RemoteAddress: a[1],
		HeartbeatInterval: 100 * time.Millisecond, NodeDeadTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", id),
	}
	if c.mod != nil {
		c.mod(&cfg)
	}
	if id == 1 {
		cfg.Bootstrap = true
	} else {
		cfg.Seeds = []string{c.cfgs[1].RemoteAddress}
	}
	c.cfgs[id] = cfg
	return c.start(id)
}

func (c *dynCluster) start(id uint64) *runtime.Node {
	c.t.Helper()
	n, err := runtime.Start(context.Background(), c.cfgs[id])
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id] = n
	return n
}

// waitSettled waits until node id's status lists the given number of
// nodes and every shard has a leader.
func (c *dynCluster) waitSettled(id uint64, nodes int) *odgmv1.ClusterStatus {
	c.t.Helper()
	return waitStatus(c.t, c.nodes[id], 30*time.Second, "settled", settled(nodes))
}

func TestInProcessClusterRoutes(t *testing.T) {
	c := newDynCluster(t, 3)
	c.waitSettled(1, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The meta leader refuses a class that needs more nodes than there are
	// (asked through another node, whose view may be behind).
	if err := c.nodes[2].CreateClass(ctx, &odgmv1.ClassSpec{Name: "big", Partitions: 1, Replicas: 5}); !errors.Is(err, odgm.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "the cluster has 3 nodes") {
		t.Fatalf("class with 5 replicas on 3 nodes: %v, want ErrInvalidArgument", err)
	}
	if err := c.nodes[1].CreateClass(ctx, &odgmv1.ClassSpec{Name: "kv", Partitions: 4, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	// Every node learns the class and its shards' placement.
	for id := range c.nodes {
		waitStatus(t, c.nodes[id], 60*time.Second, "class known", func(st *odgmv1.ClusterStatus) bool {
			return len(st.GetClasses()) == 1 && len(st.GetShards()) == 5
		})
	}
	const objects = 40
	for i := range objects {
		id := "obj-" + strconv.Itoa(i)
		if err := retry(30*time.Second, func(ctx context.Context) error {
			_, err := c.nodes[1].Put(ctx, "kv", id, map[string][]byte{"v": []byte(id)}, runtime.RequestID("put-"+id))
			return err
		}); err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
	}
	for i := range objects {
		id := "obj-" + strconv.Itoa(i)
		st, err := c.nodes[3].Get(ctx, "kv", id)
		if err != nil {
			t.Fatalf("get %s through node 3: %v", id, err)
		}
		if string(st.Entries["v"]) != id || st.Version != 1 {
			t.Fatalf("get %s: %+v", id, st)
		}
	}
	seen := map[string]bool{}
	cursor := ""
	for {
		p, err := c.nodes[2].List(ctx, "kv", runtime.ListOptions{Limit: 7, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range p.IDs {
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(seen) != objects {
		t.Fatalf("listed %d objects, want %d", len(seen), objects)
	}
}

// TestInProcessClusterMetaGrows: with four nodes the meta shard gets three
// caught-up members.
func TestInProcessClusterMetaGrows(t *testing.T) {
	c := newDynCluster(t, 4)
	waitStatus(t, c.nodes[1], 30*time.Second, "meta shard on three", func(st *odgmv1.ClusterStatus) bool {
		return caughtUpReplicas(st, 1) == 3
	})
}

// TestInProcessClusterRegisterAgain: registering a class whose shards get
// no leader in time (a node it needs is down) fails with a timeout; the
// same registration again, once the node is back, succeeds (it answered
// ErrClassExists for good: odgm node retried it forever).
func TestInProcessClusterRegisterAgain(t *testing.T) {
	c := newDynCluster(t, 3)
	c.waitSettled(1, 3)
	if err := c.nodes[3].Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c.nodes[1], 30*time.Second, "node 3 dead", func(st *odgmv1.ClusterStatus) bool {
		return len(st.GetNodes()) == 3 && !proccluster.AllAlive(st)
	})
	cls := runtime.Class{Name: "again", Replicas: 3, Methods: map[string]runtime.Method{
		"get": func(context.Context, *runtime.Object, []byte) ([]byte, error) { return nil, nil }}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := c.nodes[1].RegisterClass(ctx, cls)
	cancel()
	if !errors.Is(err, odgm.ErrTimeout) {
		t.Fatalf("register with a node down: %v, want a timeout", err)
	}
	c.start(3)
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.nodes[1].RegisterClass(ctx, cls); err != nil {
		t.Fatalf("register again with the node back: %v", err)
	}
	if _, err := c.nodes[1].Put(ctx, "again", "x", map[string][]byte{"v": []byte("1")}); err != nil {
		t.Fatal(err)
	}
}

// TestInProcessClusterRebalances: a node that joins a cluster takes a fair
// share of the replicas (add, catch up, remove), and data stays readable.
func TestInProcessClusterRebalances(t *testing.T) {
	c := newDynCluster(t, 3)
	c.waitSettled(1, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.nodes[1].CreateClass(ctx, &odgmv1.ClassSpec{Name: "kv", Partitions: 4, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		id := "r" + strconv.Itoa(i)
		if err := retry(30*time.Second, func(ctx context.Context) error {
			_, err := c.nodes[2].Put(ctx, "kv", id, map[string][]byte{"v": []byte(id)}, runtime.RequestID("put-"+id))
			return err
		}); err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
	}
	c.add(4)
	for {
		st, err := c.nodes[1].Status(ctx)
		if err == nil && len(st.GetNodes()) == 4 {
			load := map[uint64]int{}
			moving := false
			for _, s := range st.GetShards() {
				for _, r := range s.GetPlacement().GetReplicas() {
					load[r.GetNodeId()]++
					if r.GetState() == odgmv1.ReplicaState_REPLICA_STATE_JOINING || r.GetState() == odgmv1.ReplicaState_REPLICA_STATE_LEAVING {
						moving = true
					}
				}
			}
			lo, hi := 1<<30, 0
			for id := uint64(1); id <= 4; id++ {
				lo, hi = min(lo, load[id]), max(hi, load[id])
			}
			if !moving && hi-lo <= 1 && load[4] > 0 {
				t.Logf("replicas per node after the join: %v", load)
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no balance after node 4 joined: %v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range 20 {
		id := "r" + strconv.Itoa(i)
		st, err := c.nodes[4].Get(ctx, "kv", id)
		if err != nil || string(st.Entries["v"]) != id {
			t.Fatalf("get %s through node 4: %+v %v", id, st, err)
		}
	}
}

// TestInProcessClusterSuite runs the API's semantic suite through a
// remote client connected to one node of a three-node cluster whose
// classes have three replicas: most calls are forwarded to the node of
// their shard's leader.
func TestInProcessClusterSuite(t *testing.T) {
	apitest.Run(t, func(t *testing.T) apitest.Target {
		c := newDynClusterWith(t, 3, func(cfg *runtime.Config) {
			cfg.Limits.MaxValueSize = apitest.MaxValueSize
		})
		c.waitSettled(1, 3)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for _, n := range c.nodes {
			for _, cl := range apitest.Classes() {
				cl.Replicas = 3
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := n.RegisterClass(ctx, cl); err != nil {
						errs <- fmt.Errorf("node %d class %s: %w", n.ID(), cl.Name, err)
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		cl, err := client.Dial(ctx, []string{c.cfgs[2].RemoteAddress})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return apitest.Target{Objects: cl, MaxValueSize: apitest.MaxValueSize}
	})
}
