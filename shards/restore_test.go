package shards

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// TestRestoreFromExportedSnapshot: a 3-replica shard exports a snapshot,
// writes more, and every replica is restored from the snapshot as a new
// Raft group: one on its running Host, one after a process restart on the
// same directories, one on a brand-new node. The group serves exactly the
// exported data, versions and exactly-once table included, and takes new
// writes.
func TestRestoreFromExportedSnapshot(t *testing.T) {
	for _, be := range backends {
		// The test copies snapshot files between nodes' stores.
		if be.durable && be.config(t.TempDir()).Snapshot.Type == snapshot.BackendCompressedFile {
			t.Run(be.name, func(t *testing.T) { testRestore(t, be) })
		}
	}
}

func testRestore(t *testing.T, be backend) {
	cfg := testShardConfig()
	c := newCluster(t, be, cfg)
	leader := c.waitLeader(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type want struct {
		meta  *odgmv1.ObjectMeta // version and times
		value string
	}
	exported := map[string]want{}
	for round, n := range []int{20, 5} { // o0..o4 end at version 2
		for i := 0; i < n; i++ {
			id, v := fmt.Sprint("o", i), fmt.Sprint(i, "abc"[round:round+1])
			res, err := c.writeRetry(leader, withRID(put(id, "v", v), fmt.Sprint("abc"[round:round+1], i)))
			if err != nil {
				t.Fatal(err)
			}
			exported[id] = want{res.Meta, v}
		}
	}
	meta, err := leader.host.Export(ctx, testShard)
	if err != nil {
		t.Fatal(err)
	}
	var encoded bytes.Buffer
	if _, err := leader.comp.Snapshots().Export(ctx, meta.ID, &encoded); err != nil {
		t.Fatal(err)
	}
	// Writes after the export: the restore discards them.
	if _, err := c.writeRetry(leader, withRID(put("late", "v", "x"), "late")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.writeRetry(leader, withRID(put("o0", "v", "later"), "c0")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every replica applied the late writes", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.apps["c0"]) == 3
	})

	if err := leader.host.RestoreReplica(ctx, testShard, leader.id, meta.ID, cfg); !errors.Is(err, ErrReplicaRunning) {
		t.Fatalf("restore of a running replica: %v", err)
	}

	// Every member stops. Node 1 keeps its Host; node 2's process
	// restarts on the same directories; node 3 is replaced by a new node
	// (fresh directories, same Raft address).
	for _, n := range c.nodes {
		if err := n.host.StopReplica(testShard); err != nil {
			t.Fatal(err)
		}
	}
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	c.stop(n2)
	c.openStorage(n2)
	c.openHostOnly(n2)
	c.stop(n3)
	n3.dir = t.TempDir()
	c.openStorage(n3)
	c.openHostOnly(n3)
	for _, n := range c.nodes {
		if _, err := n.comp.Snapshots().Import(ctx, bytes.NewReader(encoded.Bytes())); err != nil && !errors.Is(err, snapshot.ErrExists) {
			t.Fatal(err)
		}
	}

	// Failed restores change nothing.
	checkUnchanged := func(what string, n *node) {
		t.Helper()
		if !n.host.NodeHost().HasNodeInfo(testShard, n.id) {
			t.Fatalf("%s: node %d lost its Raft data", what, n.id)
		}
		if _, err := os.Stat(n.host.appFile(AppStoreName(testShard, n.id) + ".restore")); !os.IsNotExist(err) {
			t.Fatalf("%s: temporary store left behind: %v", what, err)
		}
		st, err := n.comp.OpenApp(AppStoreName(testShard, n.id))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Get([]byte(metaKey(testClass, "late"))); err != nil {
			t.Fatalf("%s: node %d's store changed: %v", what, n.id, err)
		}
	}
	missing := snapshot.Header{ShardID: testShard, Index: 999, Created: time.Unix(1, 0)}.ID()
	err = n1.host.RestoreReplica(ctx, testShard, n1.id, missing, cfg)
	if !errors.Is(err, ErrRestoreFailed) || !errors.Is(err, snapshot.ErrNotFound) {
		t.Fatalf("missing snapshot: %v", err)
	}
	checkUnchanged("missing snapshot", n1)

	other := importSnapshot(t, n1.comp, testShard+1, 10, 10)
	if err := n1.host.RestoreReplica(ctx, testShard, n1.id, other, cfg); !errors.Is(err, ErrRestoreFailed) {
		t.Fatalf("snapshot of another shard: %v", err)
	}
	checkUnchanged("another shard's snapshot", n1)

	// A snapshot damaged in its last frame fails after some of its records
	// were loaded (small transactions).
	bad := importSnapshot(t, n1.comp, testShard, 600, 1024)
	path := filepath.Join(n1.comp.Config().Snapshot.Path, bad+".snap")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)*4/5] ^= 0xff
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	small := cfg
	small.RecoverBatchBytes = 4096
	err = n1.host.RestoreReplica(ctx, testShard, n1.id, bad, small)
	if !errors.Is(err, ErrRestoreFailed) || !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("corrupt snapshot: %v", err)
	}
	checkUnchanged("corrupt snapshot", n1)

	// A restore interrupted past its point of no return blocks the start.
	if err := n1.host.setRestoreIntent(testShard, n1.id, meta.ID); err != nil {
		t.Fatal(err)
	}
	if err := n1.host.StartReplica(testShard, n1.id, c.members, false, cfg, SMOptions{}); !errors.Is(err, ErrRestorePending) {
		t.Fatalf("start after an interrupted restore: %v", err)
	}

	for _, n := range c.nodes {
		if err := n.host.RestoreReplica(ctx, testShard, n.id, meta.ID, cfg); err != nil {
			t.Fatalf("node %d: %v", n.id, err)
		}
	}
	for _, n := range c.nodes {
		if err := n.host.StartReplica(testShard, n.id, c.members, false, cfg, SMOptions{Hooks: Hooks{Applied: c.applied}}); err != nil {
			t.Fatalf("node %d: %v", n.id, err)
		}
	}
	leader = c.waitLeader(nil)

	for _, n := range c.nodes {
		for id, w := range exported {
			o := c.readRetry(n, id)
			if !proto.Equal(o.Meta, w.meta) || len(o.Entries) != 1 || string(o.Entries[0].Value) != w.value {
				t.Fatalf("node %d %s: %v, want %v value %q", n.id, id, o, w.meta, w.value)
			}
		}
		if o := c.readRetry(n, "late"); o.Meta != nil {
			t.Fatalf("node %d: a write after the snapshot survived: %v", n.id, o)
		}
		if l := c.readQuery(n, ListObjects{}).(*ObjectList); len(l.IDs) != len(exported) {
			t.Fatalf("node %d lists %v", n.id, l.IDs)
		}
		if from, err := n.host.RestoredFrom(testShard); err != nil || from != meta.ID {
			t.Fatalf("node %d restored from %q (%v)", n.id, from, err)
		}
	}

	// New writes: CAS on the restored versions, replicated everywhere.
	if _, err := c.writeRetry(leader, withRID(expect(put("o0", "v", "new"), 2), "after")); err != nil {
		t.Fatal(err)
	}
	// The exactly-once table came with the snapshot: a retry of a request
	// acknowledged before it is answered, not applied.
	res, err := c.writeRetry(leader, withRID(put("o3", "v", "retried"), "a3"))
	if err != nil || res.GetMeta().GetVersion() != 1 {
		t.Fatalf("retry of a remembered request: %v %v", res, err)
	}
	waitFor(t, "every replica applied the new write", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.apps["after"]) == 3
	})
	for _, n := range c.nodes {
		if o := c.readRetry(n, "o0"); o.Meta.GetVersion() != 3 || string(o.Entries[0].Value) != "new" {
			t.Fatalf("node %d o0 after the new write: %v", n.id, o)
		}
		if o := c.readRetry(n, "o3"); o.Meta.GetVersion() != 2 || string(o.Entries[0].Value) != "3b" {
			t.Fatalf("node %d o3 after the retry: %v", n.id, o)
		}
	}
	m1, _ := n1.host.StateMachine(testShard)
	for _, n := range c.nodes[1:] {
		m, _ := n.host.StateMachine(testShard)
		if dumpObjects(t, m) != dumpObjects(t, m1) {
			t.Fatalf("node %d's data differs from node 1's", n.id)
		}
	}
	c.checkAppliedOnce()
}

// writeRetry proposes cmd through n until it completes (a new leader may
// drop the first proposals); cmd carries a request id, so a retry is safe.
func (c *cluster) writeRetry(n *node, cmd *odgmv1.Command) (*odgmv1.CommandResult, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		res, err := n.host.Propose(ctx, testShard, cmd)
		cancel()
		if !errors.Is(err, ErrProposal) || time.Now().After(deadline) {
			return res, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readQuery serves q linearizably on n, retrying: a new leader drops read
// requests until it has committed an entry of its term, and a dropped
// request waits for its timeout (kept short: 10 RTT).
func (c *cluster) readQuery(n *node, q any) any {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	attempt := 10 * time.Duration(max(c.be.rttMS, 10)) * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), attempt)
		v, err := n.host.Read(ctx, testShard, q, Linearizable)
		cancel()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("read %v on node %d: %v", q, n.id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *cluster) readRetry(n *node, id string) *ObjectState {
	c.t.Helper()
	return c.readQuery(n, GetObject{ID: id}).(*ObjectState)
}

// openHostOnly starts n's Host without starting the replica.
func (c *cluster) openHostOnly(n *node) {
	c.t.Helper()
	var err error
	n.host, err = NewHost(HostConfig{Dir: filepath.Join(n.dir, "nodehost"), RaftAddress: n.addr, RTTMillisecond: max(c.be.rttMS, 10), Storage: n.comp})
	if err != nil {
		c.t.Fatal(err)
	}
}

// importSnapshot stores a snapshot of shard with n records of size-byte
// values (not compressed) in comp's snapshot store and returns its ID.
func importSnapshot(t *testing.T, comp *storage.Composite, shard uint64, n, size int) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Header{ShardID: shard, Index: 5, Created: time.Unix(int64(shard), int64(n))},
		snapshot.Options{Compression: snapshot.CodecNone})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.Write(fmt.Appendf(nil, "o/%s/x%04d/e/v", testClass, i), bytes.Repeat([]byte{'v'}, size)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := comp.Snapshots().Import(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func TestRestoreNeedsDurableAppStore(t *testing.T) {
	comp, err := storage.Open(context.Background(), storage.Memory())
	if err != nil {
		t.Fatal(err)
	}
	defer comp.Close()
	h := &Host{cfg: HostConfig{Storage: comp}}
	if err := h.RestoreReplica(context.Background(), 1, 1, "x", testShardConfig()); !errors.Is(err, ErrRestoreUnsupported) {
		t.Fatalf("memory app store: %v", err)
	}
	if comp.Config().App.Type != appdata.BackendMemory {
		t.Fatal("not a memory app store")
	}
}
