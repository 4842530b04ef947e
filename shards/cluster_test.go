package shards

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/odgm-go/odgm/internal/loopback"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/raftlog"
	"github.com/odgm-go/odgm/storage/snapshot"
)

const testShard = 7

// backend is one storage combination the config allows.
type backend struct {
	name    string
	durable bool
	config  func(dir string) storage.Config
	rttMS   uint64 // zero: 10
}

func durableWith(logType string) func(string) storage.Config {
	return func(dir string) storage.Config {
		c := storage.Config{Log: storage.LogConfig{Type: logType}}
		c.EnsureDefaults()
		c.ResolvePaths(dir)
		return c
	}
}

var backends = []backend{
	{"memory", false, func(string) storage.Config { return storage.Memory() }, 0},
	{"append_log", true, durableWith(raftlog.BackendAppendLog), 0},
	{"kv_log", true, durableWith(raftlog.BackendKV), 0},
	// dragonboat's pebble is slower to fsync: a longer RTT keeps elections
	// stable.
	{"pebble", true, durableWith(raftlog.BackendPebble), 50},
	{"tan", true, durableWith(raftlog.BackendTan), 50},
	// Exported snapshots in memory beside a durable log and app store.
	{"append_log+memory_snapshot", true, func(dir string) storage.Config {
		c := durableWith(raftlog.BackendAppendLog)(dir)
		c.Snapshot = storage.SnapshotConfig{Type: snapshot.BackendMemory}
		c.Snapshot.Config.EnsureDefaults()
		return c
	}, 0},
}

// node is one member of a test cluster.
type node struct {
	id   uint64
	dir  string
	addr string
	comp *storage.Composite
	host *Host
}

type cluster struct {
	t       *testing.T
	be      backend
	cfg     Config
	nodes   []*node
	members map[uint64]string
	// hostOpts adjust every node's HostConfig.
	hostOpts []func(*HostConfig)

	mu   sync.Mutex
	apps map[string]map[uint64]int // request id -> replica -> applications
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testShardConfig() Config {
	return Config{Class: testClass, ElectionRTT: 10, HeartbeatRTT: 1, SnapshotEntries: 1000, CompactionOverhead: 100}
}

func newCluster(t *testing.T, be backend, cfg Config, hostOpts ...func(*HostConfig)) *cluster {
	t.Helper()
	c := &cluster{t: t, be: be, cfg: cfg, members: map[uint64]string{}, apps: map[string]map[uint64]int{}, hostOpts: hostOpts}
	base := t.TempDir()
	for i := uint64(1); i <= 3; i++ {
		n := &node{id: i, dir: filepath.Join(base, fmt.Sprint("n", i)), addr: freeAddr(t)}
		c.nodes = append(c.nodes, n)
		c.members[i] = n.addr
	}
	for _, n := range c.nodes {
		c.start(n, true)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n)
		}
	})
	c.waitLeader(nil)
	return c
}

func (c *cluster) start(n *node, initial bool) {
	c.t.Helper()
	c.openStorage(n)
	c.startHost(n, initial)
}

func (c *cluster) openStorage(n *node) {
	c.t.Helper()
	var err error
	n.comp, err = storage.Open(context.Background(), c.be.config(filepath.Join(n.dir, "data")))
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) startHost(n *node, initial bool) {
	c.t.Helper()
	var err error
	hc := HostConfig{Dir: filepath.Join(n.dir, "nodehost"), RaftAddress: n.addr, RTTMillisecond: max(c.be.rttMS, 10), Storage: n.comp}
	for _, o := range c.hostOpts {
		o(&hc)
	}
	n.host, err = NewHost(hc)
	if err != nil {
		c.t.Fatal(err)
	}
	var members map[uint64]string
	if initial {
		members = c.members
	}
	if err := n.host.StartReplica(testShard, n.id, members, false, c.cfg, SMOptions{Hooks: Hooks{Applied: c.applied}}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) stop(n *node) {
	if n.host != nil {
		n.host.Close()
		n.host = nil
	}
	if n.comp != nil {
		n.comp.Close()
		n.comp = nil
	}
}

func (c *cluster) applied(e ApplyEvent) {
	if e.Duplicate || e.RequestID == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apps[e.RequestID] == nil {
		c.apps[e.RequestID] = map[uint64]int{}
	}
	c.apps[e.RequestID][e.ReplicaID]++
}

// checkAppliedOnce fails if any request was applied twice on one replica.
func (c *cluster) checkAppliedOnce() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for rid, m := range c.apps {
		for r, n := range m {
			if n > 1 {
				c.t.Errorf("request %s applied %d times on replica %d", rid, n, r)
			}
		}
	}
}

// waitLeader waits for a leader among the running nodes other than except.
func (c *cluster) waitLeader(except *node) *node {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.host == nil || n == except {
				continue
			}
			id, _, ok, err := n.host.NodeHost().GetLeaderID(testShard)
			if err == nil && ok {
				for _, l := range c.nodes {
					if l.id == id && l.host != nil && l != except {
						return l
					}
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return nil
}

func (c *cluster) write(n *node, id, rid string, kv ...string) (*odgmv1.CommandResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.host.Propose(ctx, testShard, withRID(put(id, kv...), rid))
}

func (c *cluster) read(n *node, id string, cons Consistency) *ObjectState {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		v, err := n.host.Read(ctx, testShard, GetObject{ID: id}, cons)
		if err == nil {
			return v.(*ObjectState)
		}
		if ctx.Err() != nil {
			c.t.Fatalf("read %s on node %d: %v", id, n.id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClusterReplicationEveryBackend(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			c := newCluster(t, be, testShardConfig())
			leader := c.waitLeader(nil)
			for i := 0; i < 20; i++ {
				if _, err := c.write(leader, fmt.Sprint("obj", i), fmt.Sprint("r", i), "v", fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			// Every replica, linearizably, sees every acknowledged write.
			for _, n := range c.nodes {
				for i := 0; i < 20; i++ {
					o := c.read(n, fmt.Sprint("obj", i), Linearizable)
					if o.Meta.GetVersion() != 1 || string(o.Entries[0].Value) != fmt.Sprint(i) {
						t.Fatalf("node %d obj%d: %v", n.id, i, o)
					}
				}
			}
			// CAS conflict: typed error, nothing written.
			res, err := leader.host.Propose(context.Background(), testShard, expect(put("obj1", "v", "x"), 7))
			if !errors.Is(err, ErrVersionMismatch) || res.GetMeta().GetVersion() != 1 {
				t.Fatalf("CAS conflict: %v %v", res, err)
			}
			if o := c.read(leader, "obj1", Linearizable); string(o.Entries[0].Value) != "1" || o.Meta.Version != 1 {
				t.Fatalf("CAS conflict wrote: %v", o)
			}
			// A retried request id: first result, applied once.
			first, err := c.write(leader, "obj1", "retry", "v", "y")
			if err != nil {
				t.Fatal(err)
			}
			second, err := c.write(leader, "obj1", "retry", "v", "y")
			if err != nil || second.Meta.Version != first.Meta.Version || second.Status != first.Status {
				t.Fatalf("retry: %v vs %v (%v)", first, second, err)
			}
			if _, err := leader.host.Propose(context.Background(), testShard, put("BAD/ID", "v", "1")); !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("invalid id: %v", err)
			}
			waitFor(t, "every replica applied the retry", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return len(c.apps["retry"]) == 3
			})
			c.checkAppliedOnce()
			h := leader.host.Health(testShard)
			if h.State != StateLeader || h.AppliedIndex == 0 || h.AppKeys == 0 {
				t.Fatalf("health %+v", h)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLeaderFailover(t *testing.T) {
	c := newCluster(t, backends[1], testShardConfig())
	leader := c.waitLeader(nil)
	for i := 0; i < 10; i++ {
		if _, err := c.write(leader, fmt.Sprint("o", i), fmt.Sprint("a", i), "v", "1"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	c.stop(leader)
	next := c.waitLeader(leader)
	took := time.Since(start)
	// Election timeout is 10 RTT of 10 ms; allow a few of them plus scheduling.
	if took > 3*time.Second {
		t.Errorf("new leader after %v", took)
	}
	t.Logf("new leader %d after %v", next.id, took)
	for i := 0; i < 10; i++ {
		if o := c.read(next, fmt.Sprint("o", i), Linearizable); o.Meta.GetVersion() != 1 {
			t.Fatalf("acknowledged write o%d lost", i)
		}
	}
	if _, err := c.write(next, "after", "b1", "v", "2"); err != nil {
		t.Fatalf("writes do not resume: %v", err)
	}
	// The old leader comes back and catches up.
	c.start(leader, false)
	waitFor(t, "old leader catches up", func() bool {
		o, err := leader.host.Read(context.Background(), testShard, GetObject{ID: "after"}, Stale)
		return err == nil && o.(*ObjectState).Meta != nil
	})
	c.checkAppliedOnce()
}

// TestReadOutlivesLostReadIndex: a linearizable read on a follower whose
// read index went to a leader that just stopped is never answered by
// dragonboat, only timed out; Read asks again (each attempt bounded by
// ProposalTimeout) and is served by the next leader within the caller's
// deadline, instead of failing at it (seen as a list timing out during a
// leader transfer).
func TestReadOutlivesLostReadIndex(t *testing.T) {
	c := newCluster(t, backends[1], testShardConfig(), func(hc *HostConfig) { hc.ProposalTimeout = 300 * time.Millisecond })
	leader := c.waitLeader(nil)
	if _, err := c.write(leader, "o1", "r1", "v", "1"); err != nil {
		t.Fatal(err)
	}
	var follower *node
	for _, n := range c.nodes {
		if n != leader {
			follower = n
		}
	}
	// The followers take the stopped leader for the leader until their
	// election timeout: the read index goes to it and is lost.
	c.stop(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := follower.host.Read(ctx, testShard, GetObject{ID: "o1"}, Linearizable)
	if err != nil {
		t.Fatalf("read on a follower after its leader stopped: %v", err)
	}
	if o := v.(*ObjectState); o.Meta.GetVersion() != 1 {
		t.Fatalf("acknowledged write not read: %v", o.Meta)
	}
}

func TestNodeRestartAppliesNothingTwice(t *testing.T) {
	c := newCluster(t, backends[1], testShardConfig())
	leader := c.waitLeader(nil)
	for i := 0; i < 30; i++ {
		if _, err := c.write(leader, fmt.Sprint("o", i%5), fmt.Sprint("r", i), "v", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all replicas applied", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.apps["r29"]) == 3
	})
	before := map[uint64]string{}
	for _, n := range c.nodes {
		m, _ := n.host.StateMachine(testShard)
		before[n.id] = dumpObjects(t, m)
	}
	for _, n := range c.nodes {
		c.stop(n)
	}
	for _, n := range c.nodes {
		c.start(n, false)
	}
	for _, n := range c.nodes {
		waitFor(t, "state machine open", func() bool {
			m, ok := n.host.StateMachine(testShard)
			return ok && m.opened.Load() != nil
		})
		m, _ := n.host.StateMachine(testShard)
		if got := dumpObjects(t, m); got != before[n.id] {
			t.Fatalf("node %d: state after restart differs", n.id)
		}
	}
	leader = c.waitLeader(nil)
	if _, err := c.write(leader, "post", "post", "v", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all replicas applied after restart", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.apps["post"]) == 3
	})
	for _, n := range c.nodes {
		if o := c.read(n, "o0", Stale); o.Meta.GetVersion() != 6 {
			t.Fatalf("node %d: o0 at version %d", n.id, o.Meta.GetVersion())
		}
	}
	c.checkAppliedOnce()
}

// TestFollowerCatchesUpBySnapshot: a follower down while the others write
// past two snapshots and compaction comes back through a streamed snapshot.
func TestFollowerCatchesUpBySnapshot(t *testing.T) {
	cfg := testShardConfig()
	cfg.SnapshotEntries, cfg.CompactionOverhead = 20, 5
	c := newCluster(t, backends[2], cfg)
	leader := c.waitLeader(nil)
	var follower *node
	for _, n := range c.nodes {
		if n != leader {
			follower = n
			break
		}
	}
	c.stop(follower)
	events := make(chan Event, 1000)
	for i := 0; i < 100; i++ {
		if _, err := c.write(leader, fmt.Sprint("o", i), fmt.Sprint("r", i), "v", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "leader compacted past two snapshots", func() bool {
		h := leader.host.Health(testShard)
		return h.LastSnapshotIndex >= 40 && h.LogFirstIndex > 20
	})
	c.start(follower, false)
	cancel := follower.host.Events().Subscribe(testShard, func(e Event) {
		select {
		case events <- e:
		default:
		}
	})
	defer cancel()
	want := leader.host.Health(testShard).AppliedIndex
	waitFor(t, "follower caught up", func() bool { return follower.host.Health(testShard).AppliedIndex >= want })
	for i := 0; i < 100; i += 9 {
		if o := c.read(follower, fmt.Sprint("o", i), Stale); o.Meta.GetVersion() != 1 {
			t.Fatalf("follower lacks o%d", i)
		}
	}
	lm, _ := leader.host.StateMachine(testShard)
	fm, _ := follower.host.StateMachine(testShard)
	if dumpObjects(t, lm) != dumpObjects(t, fm) {
		t.Fatal("follower data differs from leader's")
	}
	sawSnapshot := false
	for len(events) > 0 {
		if e := <-events; e.Kind == EventSnapshotRecovered || e.Kind == EventSnapshotReceived {
			sawSnapshot = true
		}
	}
	if !sawSnapshot {
		t.Error("no snapshot event: the follower did not catch up by snapshot")
	}
	c.checkAppliedOnce()
}

func dumpObjects(t *testing.T, m *StateMachine) string {
	t.Helper()
	items, _, err := m.store.ScanPrefix([]byte(objectPrefix), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(len(items), items)
}
