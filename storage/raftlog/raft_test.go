package raftlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/odgm-go/odgm/internal/loopback"
)

// counterSM counts applied proposals and the bytes they carried.
type counterSM struct {
	mu    sync.Mutex
	count uint64
}

func (c *counterSM) Update(e sm.Entry) (sm.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	return sm.Result{Value: c.count}, nil
}

func (c *counterSM) Lookup(any) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count, nil
}

func (c *counterSM) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return binary.Write(w, binary.LittleEndian, c.count)
}

func (c *counterSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return binary.Read(r, binary.LittleEndian, &c.count)
}

func (c *counterSM) Close() error { return nil }

func freePort(t *testing.T) string {
	t.Helper()
	a, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// capturingFactory records the LogDBs it creates so the test can look at
// append_log's segments.
type capturingFactory struct {
	config.LogDBFactory
	mu  sync.Mutex
	dbs []raftio.ILogDB
}

func (f *capturingFactory) Create(cfg config.NodeHostConfig, cb config.LogDBCallback, dirs, wals []string) (raftio.ILogDB, error) {
	db, err := f.LogDBFactory.Create(cfg, cb, dirs, wals)
	if err == nil {
		f.mu.Lock()
		f.dbs = append(f.dbs, db)
		f.mu.Unlock()
	}
	return db, err
}

func (f *capturingFactory) last() raftio.ILogDB {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dbs[len(f.dbs)-1]
}

type raftNode struct {
	id      uint64
	addr    string
	dir     string
	nh      *dragonboat.NodeHost
	factory *capturingFactory
}

const raftShard = 1

func (n *raftNode) start(t *testing.T, backend string, members map[uint64]string) {
	t.Helper()
	n.startAs(t, backend, members, false)
}

func (n *raftNode) startJoin(t *testing.T, backend string) {
	t.Helper()
	n.startAs(t, backend, nil, true)
}

func (n *raftNode) startAs(t *testing.T, backend string, members map[uint64]string, join bool) {
	t.Helper()
	f, err := NewFactory(backend, "", Options{SyncPolicy: SyncAlways, SegmentSize: 64 << 10, MaxEntries: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	n.factory = &capturingFactory{LogDBFactory: f}
	nhc := config.NodeHostConfig{
		NodeHostDir:    n.dir,
		RTTMillisecond: 5,
		RaftAddress:    n.addr,
		Expert:         config.ExpertConfig{LogDBFactory: n.factory},
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		t.Fatalf("node %d: %v", n.id, err)
	}
	n.nh = nh
	rc := config.Config{
		ShardID: raftShard, ReplicaID: n.id,
		ElectionRTT: 20, HeartbeatRTT: 2, CheckQuorum: true,
		SnapshotEntries: 50, CompactionOverhead: 10,
	}
	if err := nh.StartReplica(members, join, func(uint64, uint64) sm.IStateMachine { return &counterSM{} }, rc); err != nil {
		t.Fatalf("node %d: start replica: %v", n.id, err)
	}
}

func (n *raftNode) stop() {
	if n.nh != nil {
		n.nh.Close()
		n.nh = nil
	}
}

// count is what n's state machine has applied (0 while not ready).
func (n *raftNode) count() uint64 {
	v, err := n.nh.StaleRead(raftShard, nil)
	if err != nil {
		return 0
	}
	return v.(uint64)
}

func propose(t *testing.T, nh *dragonboat.NodeHost, cmd []byte) {
	t.Helper()
	session := nh.GetNoOPSession(raftShard)
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := nh.SyncPropose(ctx, session, cmd)
		cancel()
		if err == nil {
			return
		}
		if try > 50 || !(errors.Is(err, dragonboat.ErrShardNotReady) || errors.Is(err, dragonboat.ErrTimeout) || errors.Is(err, dragonboat.ErrSystemBusy) || errors.Is(err, dragonboat.ErrShardNotFound)) {
			t.Fatalf("propose: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRaftThreeNodes(t *testing.T) {
	backends := []string{BackendAppendLog, BackendMemory, BackendKV, BackendPebble, BackendTan}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) { testRaft(t, backend) })
	}
}

func testRaft(t *testing.T, backend string) {
	base := t.TempDir()
	nodes := make([]*raftNode, 3)
	members := map[uint64]string{}
	for i := range nodes {
		nodes[i] = &raftNode{id: uint64(i + 1), addr: freePort(t), dir: filepath.Join(base, fmt.Sprint("n", i+1))}
		members[nodes[i].id] = nodes[i].addr
	}
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for _, n := range nodes {
		n.start(t, backend, members)
	}
	leader := func() *raftNode {
		var l *raftNode
		waitFor(t, "a leader", func() bool {
			id, _, ok, err := nodes[0].nh.GetLeaderID(raftShard)
			if err != nil || !ok || id == 0 {
				return false
			}
			for _, n := range nodes {
				if n.id == id && n.nh != nil {
					l = n
					return true
				}
			}
			return false
		})
		return l
	}
	cmd := make([]byte, 1024)
	const first, second = 300, 300
	l := leader()
	for i := 0; i < first; i++ {
		propose(t, l.nh, cmd)
	}
	for _, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d to apply %d", n.id, first), func() bool { return n.count() >= first })
	}

	// Stop a follower, go on without it, restart it: it catches up.
	var follower *raftNode
	for _, n := range nodes {
		if n != l {
			follower = n
			break
		}
	}
	follower.stop()
	for i := 0; i < second; i++ {
		propose(t, l.nh, cmd)
	}
	if backend == BackendMemory {
		// Nothing of its log survived, and Raft forbids a replica to come
		// back with less than it acknowledged: it is replaced by a new
		// replica (new ID, empty directory) that joins and gets a snapshot.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := l.nh.SyncRequestDeleteReplica(ctx, raftShard, follower.id, 0); err != nil {
			t.Fatalf("delete replica: %v", err)
		}
		fresh := &raftNode{id: 4, addr: freePort(t), dir: follower.dir + "-fresh"}
		if err := l.nh.SyncRequestAddReplica(ctx, raftShard, fresh.id, fresh.addr, 0); err != nil {
			t.Fatalf("add replica: %v", err)
		}
		cancel()
		nodes = append(nodes, fresh)
		follower = fresh
		follower.startJoin(t, backend)
	} else {
		follower.start(t, backend, map[uint64]string{}) // a restart names no members
	}
	waitFor(t, fmt.Sprintf("restarted node %d to catch up", follower.id), func() bool { return follower.count() >= first+second })

	if backend != BackendAppendLog {
		return
	}
	// Snapshots every 50 entries and compaction let append_log delete
	// whole segments: its disk use fell below what it wrote.
	for _, n := range nodes {
		if n == follower {
			continue
		}
		s := n.factory.last().(*LogDB).Store()
		d, _ := Disk(s)
		st := s.Stats(Node{ShardID: raftShard, ReplicaID: n.id})
		t.Logf("node %d: %+v; log %+v", n.id, d, st)
		if d.SegmentsDeleted == 0 || d.BytesReclaimed <= uint64(d.Bytes) {
			t.Errorf("node %d: segments not deleted after compaction: %+v", n.id, d)
		}
		if st.Compactions == 0 || st.Entries > 200 {
			t.Errorf("node %d: log not compacted: %+v", n.id, st)
		}
	}
}
