// Package raftlogtest is the conformance suite of the raftlog layer: every
// backend's dragonboat ILogDB must pass Run.
package raftlogtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// Backend is a backend under test.
type Backend struct {
	Name string
	// Open opens the backend's LogDB in dir; called again with the same dir
	// to reopen it after Close.
	Open func(t testing.TB, dir string) raftio.ILogDB
	// Durable says whether data survives Close and Open.
	Durable bool
	// PropertySteps is the length of the randomised run (0: 2000).
	PropertySteps int
	// Loose relaxes the checks where dragonboat's own engines differ from
	// the project's stricter backends: pebble and tan may keep entry i
	// after RemoveEntriesTo(i), and tan reads everything for maxSize 0.
	Loose bool
}

// stride spaces the shards of one SaveRaftState call: dragonboat's pebble
// LogDB requires every shard of a call to map to one of its 16
// partitions (shardID mod 16), as dragonboat's exec workers guarantee.
const stride = 16

// Run runs the whole suite over b.
func Run(t *testing.T, b Backend) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, Backend)
	}{
		{"Empty", testEmpty},
		{"Bootstrap", testBootstrap},
		{"AppendRead", testAppendRead},
		{"SuffixOverwrite", testSuffixOverwrite},
		{"MaxSize", testMaxSize},
		{"Compact", testCompact},
		{"Snapshots", testSnapshots},
		{"SnapshotInUpdate", testSnapshotInUpdate},
		{"RemoveNodeData", testRemoveNodeData},
		{"ImportSnapshot", testImportSnapshot},
		{"ManyShardsOneBatch", testManyShards},
		{"ConcurrentSavers", testConcurrentSavers},
		{"Reopen", testReopen},
		{"Property", testProperty},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, b) })
	}
}

type db struct {
	raftio.ILogDB
	t    testing.TB
	b    Backend
	dir  string
	open bool
}

func openDB(t *testing.T, b Backend) *db {
	d := &db{t: t, b: b, dir: t.TempDir()}
	d.ILogDB = b.Open(t, d.dir)
	d.open = true
	t.Cleanup(func() {
		if d.open {
			d.ILogDB.Close()
		}
	})
	return d
}

func (d *db) reopen() {
	d.t.Helper()
	if err := d.ILogDB.Close(); err != nil {
		d.t.Fatalf("close: %v", err)
	}
	d.open = false
	d.ILogDB = d.b.Open(d.t, d.dir)
	d.open = true
}

// makeEnts returns entries lo..hi (inclusive) of the given term with
// deterministic commands.
func makeEnts(lo, hi, term uint64) []pb.Entry {
	var es []pb.Entry
	for i := lo; i <= hi; i++ {
		es = append(es, pb.Entry{Index: i, Term: term, Cmd: []byte(fmt.Sprintf("cmd-%d-%d", i, term))})
	}
	return es
}

func (d *db) save(uds ...pb.Update) {
	d.t.Helper()
	if err := d.SaveRaftState(uds, 1); err != nil {
		d.t.Fatalf("SaveRaftState: %v", err)
	}
}

func ud(shard, replica uint64, st pb.State, ents []pb.Entry) pb.Update {
	return pb.Update{ShardID: shard, ReplicaID: replica, State: st, EntriesToSave: ents}
}

func (d *db) all(shard, replica, lo, hi uint64) []pb.Entry {
	d.t.Helper()
	es, _, err := d.IterateEntries(nil, 0, shard, replica, lo, hi+1, 1<<62)
	if err != nil {
		d.t.Fatalf("IterateEntries: %v", err)
	}
	return es
}

func sameEntries(t testing.TB, got, want []pb.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries %s, want %d %s", len(got), span(got), len(want), span(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || string(g.Cmd) != string(w.Cmd) || g.Type != w.Type {
			t.Fatalf("entry %d: got (i%d t%d %q), want (i%d t%d %q)", i, g.Index, g.Term, g.Cmd, w.Index, w.Term, w.Cmd)
		}
	}
}

func span(es []pb.Entry) string {
	if len(es) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d..%d]", es[0].Index, es[len(es)-1].Index)
}

func (d *db) rs(shard, replica, ssIndex uint64) raftio.RaftState {
	d.t.Helper()
	rs, err := d.ReadRaftState(shard, replica, ssIndex)
	if err != nil {
		d.t.Fatalf("ReadRaftState: %v", err)
	}
	return rs
}

func testEmpty(t *testing.T, b Backend) {
	d := openDB(t, b)
	if _, err := d.ReadRaftState(1, 1, 0); !errors.Is(err, raftio.ErrNoSavedLog) {
		t.Fatalf("ReadRaftState on new node: %v, want ErrNoSavedLog", err)
	}
	if _, err := d.GetBootstrapInfo(1, 1); !errors.Is(err, raftio.ErrNoBootstrapInfo) {
		t.Fatalf("GetBootstrapInfo on new node: %v, want ErrNoBootstrapInfo", err)
	}
	es, _, err := d.IterateEntries(nil, 0, 1, 1, 1, 10, 1<<30)
	if err != nil || len(es) != 0 {
		t.Fatalf("IterateEntries on new node: %d entries, %v", len(es), err)
	}
	ss, err := d.GetSnapshot(1, 1)
	if err != nil || !pb.IsEmptySnapshot(ss) {
		t.Fatalf("GetSnapshot on new node: %v %v", ss, err)
	}
	if d.Name() == "" || d.Name() != d.ILogDB.Name() || d.BinaryFormat() != d.ILogDB.BinaryFormat() {
		t.Fatal("Name/BinaryFormat not constant")
	}
}

func testBootstrap(t *testing.T, b Backend) {
	d := openDB(t, b)
	bs := pb.Bootstrap{Addresses: map[uint64]string{1: "a:1", 2: "b:2"}, Type: pb.OnDiskStateMachine}
	if err := d.SaveBootstrapInfo(3, 2, bs); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetBootstrapInfo(3, 2)
	if err != nil || got.Addresses[2] != "b:2" || got.Type != pb.OnDiskStateMachine {
		t.Fatalf("GetBootstrapInfo: %+v %v", got, err)
	}
	ns, err := d.ListNodeInfo()
	if err != nil || len(ns) != 1 || ns[0] != (raftio.NodeInfo{ShardID: 3, ReplicaID: 2}) {
		t.Fatalf("ListNodeInfo: %v %v", ns, err)
	}
	if b.Durable {
		d.reopen()
		if got, err := d.GetBootstrapInfo(3, 2); err != nil || got.Addresses[1] != "a:1" {
			t.Fatalf("after reopen: %+v %v", got, err)
		}
	}
}

func testAppendRead(t *testing.T, b Backend) {
	d := openDB(t, b)
	st := pb.State{Term: 2, Vote: 1, Commit: 5}
	d.save(ud(1, 1, st, makeEnts(1, 10, 2)))
	d.save(ud(1, 1, pb.State{}, makeEnts(11, 20, 2)))
	sameEntries(t, d.all(1, 1, 1, 20), makeEnts(1, 20, 2))
	sameEntries(t, d.all(1, 1, 5, 7), makeEnts(5, 7, 2))
	rs := d.rs(1, 1, 0)
	if rs.State != st || rs.FirstIndex != 1 || rs.EntryCount != 20 {
		t.Fatalf("ReadRaftState: %+v", rs)
	}
	// high past the end is cut; one entry alone.
	sameEntries(t, d.all(1, 1, 18, 30), makeEnts(18, 20, 2))
	es, _, err := d.IterateEntries(nil, 0, 1, 1, 7, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, es, makeEnts(7, 7, 2))
}

func testSuffixOverwrite(t *testing.T, b Backend) {
	d := openDB(t, b)
	d.save(ud(1, 1, pb.State{Term: 1, Commit: 3}, makeEnts(1, 10, 1)))
	d.save(ud(1, 1, pb.State{Term: 2, Commit: 3}, makeEnts(6, 8, 2)))
	want := append(makeEnts(1, 5, 1), makeEnts(6, 8, 2)...)
	sameEntries(t, d.all(1, 1, 1, 10), want)
	if rs := d.rs(1, 1, 0); rs.FirstIndex != 1 || rs.EntryCount != 8 {
		t.Fatalf("ReadRaftState after overwrite: %+v", rs)
	}
	if b.Durable {
		d.reopen()
		sameEntries(t, d.all(1, 1, 1, 10), want)
	}
}

func testMaxSize(t *testing.T, b Backend) {
	d := openDB(t, b)
	es := makeEnts(1, 10, 1)
	d.save(ud(1, 1, pb.State{Term: 1}, es))
	one := uint64(es[0].SizeUpperLimit())
	// The entry that passes maxSize is the last one returned.
	got, size, err := d.IterateEntries(nil, 0, 1, 1, 1, 11, 3*one+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || size < 3*one+1 {
		t.Fatalf("maxSize 3*one+1: got %d entries (size %d), want 4", len(got), size)
	}
	got, _, _ = d.IterateEntries(nil, 0, 1, 1, 1, 11, 0)
	if len(got) != 1 && !b.Loose {
		t.Fatalf("maxSize 0: got %d entries, want 1", len(got))
	}
	// Existing ents and size are extended.
	got, size, _ = d.IterateEntries(makeEnts(0, 0, 1), 7, 1, 1, 1, 3, 1<<30)
	if len(got) != 3 || size != 7+2*one {
		t.Fatalf("extend: got %d entries size %d", len(got), size)
	}
}

func testCompact(t *testing.T, b Backend) {
	d := openDB(t, b)
	d.save(ud(1, 1, pb.State{Term: 1, Commit: 100}, makeEnts(1, 100, 1)))
	if err := d.RemoveEntriesTo(1, 1, 40); err != nil {
		t.Fatal(err)
	}
	ch, err := d.CompactEntriesTo(1, 1, 40)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	sameEntries(t, d.all(1, 1, 41, 100), makeEnts(41, 100, 1))
	if rs := d.rs(1, 1, 40); !b.compacted(rs, 40, 100) {
		t.Fatalf("ReadRaftState after compaction: %+v", rs)
	}
	d.save(ud(1, 1, pb.State{}, makeEnts(101, 110, 1)))
	if b.Durable {
		d.reopen()
	}
	sameEntries(t, d.all(1, 1, 41, 110), makeEnts(41, 110, 1))
	if rs := d.rs(1, 1, 40); !b.compacted(rs, 40, 110) {
		t.Fatalf("ReadRaftState after reopen: %+v", rs)
	}
}

// compacted checks a raft state read after compacting to index to.
func (b Backend) compacted(rs raftio.RaftState, to, last uint64) bool {
	first := to + 1
	if b.Loose && rs.FirstIndex == to {
		first = to
	}
	return rs.FirstIndex == first && rs.FirstIndex+rs.EntryCount-1 == last
}

func testSnapshots(t *testing.T, b Backend) {
	d := openDB(t, b)
	d.save(ud(1, 1, pb.State{Term: 1}, makeEnts(1, 30, 1)))
	ss := func(i uint64) pb.Update {
		return pb.Update{ShardID: 1, ReplicaID: 1, Snapshot: pb.Snapshot{Index: i, Term: 1, ShardID: 1, Filepath: fmt.Sprint("ss", i), Type: pb.OnDiskStateMachine}}
	}
	if err := d.SaveSnapshots([]pb.Update{ss(20)}); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveSnapshots([]pb.Update{ss(10)}); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetSnapshot(1, 1)
	if err != nil || got.Index != 20 || got.Filepath != "ss20" {
		t.Fatalf("GetSnapshot: %+v %v (older one must not replace newer)", got, err)
	}
	// A local snapshot does not change the log.
	sameEntries(t, d.all(1, 1, 1, 30), makeEnts(1, 30, 1))
	if b.Durable {
		d.reopen()
		if got, _ := d.GetSnapshot(1, 1); got.Index != 20 {
			t.Fatalf("after reopen: snapshot %d", got.Index)
		}
	}
}

func testSnapshotInUpdate(t *testing.T, b Backend) {
	d := openDB(t, b)
	d.save(ud(1, 1, pb.State{Term: 1, Commit: 5}, makeEnts(1, 10, 1)))
	// A follower receives a snapshot at 50 from its leader, then entries.
	u := ud(1, 1, pb.State{Term: 3, Commit: 50}, nil)
	u.Snapshot = pb.Snapshot{Index: 50, Term: 3, ShardID: 1, Type: pb.OnDiskStateMachine}
	d.save(u)
	if rs := d.rs(1, 1, 50); rs.EntryCount != 0 || rs.State.Commit != 50 {
		t.Fatalf("after snapshot: %+v", rs)
	}
	d.save(ud(1, 1, pb.State{}, makeEnts(51, 55, 3)))
	if b.Durable {
		d.reopen()
	}
	if got, _ := d.GetSnapshot(1, 1); got.Index != 50 {
		t.Fatalf("snapshot %d, want 50", got.Index)
	}
	rs := d.rs(1, 1, 50)
	if rs.FirstIndex != 51 || rs.EntryCount != 5 {
		t.Fatalf("ReadRaftState: %+v, want first 51 count 5", rs)
	}
	sameEntries(t, d.all(1, 1, 51, 55), makeEnts(51, 55, 3))
}

func testRemoveNodeData(t *testing.T, b Backend) {
	d := openDB(t, b)
	d.save(ud(1, 1, pb.State{Term: 1}, makeEnts(1, 10, 1)), ud(1+stride, 1, pb.State{Term: 1}, makeEnts(1, 10, 1)))
	if err := d.SaveBootstrapInfo(1, 1, pb.Bootstrap{Join: true, Type: pb.OnDiskStateMachine}); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveNodeData(1, 1); err != nil {
		t.Fatal(err)
	}
	if b.Durable {
		d.reopen()
	}
	if _, err := d.ReadRaftState(1, 1, 0); !errors.Is(err, raftio.ErrNoSavedLog) {
		t.Fatalf("removed node: ReadRaftState %v", err)
	}
	if es := d.all(1, 1, 1, 10); len(es) != 0 {
		t.Fatalf("removed node still has %d entries", len(es))
	}
	sameEntries(t, d.all(1+stride, 1, 1, 10), makeEnts(1, 10, 1))
}

func testImportSnapshot(t *testing.T, b Backend) {
	d := openDB(t, b)
	d.save(ud(1, 2, pb.State{Term: 1}, makeEnts(1, 10, 1)))
	ss := pb.Snapshot{Index: 100, Term: 5, ShardID: 1, Type: pb.OnDiskStateMachine, Filepath: "x"}
	if err := d.ImportSnapshot(ss, 2); err != nil {
		t.Fatal(err)
	}
	if b.Durable {
		d.reopen()
	}
	bs, err := d.GetBootstrapInfo(1, 2)
	if err != nil || !bs.Join || bs.Type != pb.OnDiskStateMachine {
		t.Fatalf("bootstrap after import: %+v %v", bs, err)
	}
	got, _ := d.GetSnapshot(1, 2)
	if got.Index != 100 {
		t.Fatalf("snapshot after import: %d", got.Index)
	}
	rs := d.rs(1, 2, 100)
	if rs.State.Term != 5 || rs.State.Commit != 100 || rs.EntryCount != 0 {
		t.Fatalf("raft state after import: %+v", rs)
	}
}

func testManyShards(t *testing.T, b Backend) {
	d := openDB(t, b)
	var uds []pb.Update
	for s := uint64(1); s <= 20; s++ {
		uds = append(uds, ud(s*stride, 1, pb.State{Term: s, Commit: 1}, makeEnts(1, s, s)))
	}
	d.save(uds...)
	if b.Durable {
		d.reopen()
	}
	for s := uint64(1); s <= 20; s++ {
		sameEntries(t, d.all(s*stride, 1, 1, s), makeEnts(1, s, s))
		if rs := d.rs(s*stride, 1, 0); rs.State.Term != s {
			t.Fatalf("shard %d term %d", s, rs.State.Term)
		}
	}
}

func testConcurrentSavers(t *testing.T, b Backend) {
	d := openDB(t, b)
	const workers, rounds = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := uint64(1); w <= workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := uint64(1); r <= rounds; r++ {
				// Each worker owns two shards, as dragonboat's exec workers do.
				u1 := ud(w, 1, pb.State{Term: 1, Commit: r}, makeEnts(r, r, 1))
				u2 := ud(w+10*stride, 1, pb.State{Term: 1, Commit: r}, makeEnts(r, r, 1))
				if err := d.SaveRaftState([]pb.Update{u1, u2}, w); err != nil {
					errs <- err
					return
				}
				if _, _, err := d.IterateEntries(nil, 0, w, 1, 1, r+1, 1<<30); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if b.Durable {
		d.reopen()
	}
	for w := uint64(1); w <= workers; w++ {
		sameEntries(t, d.all(w, 1, 1, rounds), makeEnts(1, rounds, 1))
		sameEntries(t, d.all(w+10*stride, 1, 1, rounds), makeEnts(1, rounds, 1))
	}
}

func testReopen(t *testing.T, b Backend) {
	if !b.Durable {
		t.Skip("not durable")
	}
	d := openDB(t, b)
	d.save(ud(7, 3, pb.State{Term: 4, Vote: 3, Commit: 9}, makeEnts(1, 1000, 4)))
	d.reopen()
	d.reopen()
	sameEntries(t, d.all(7, 3, 1, 1000), makeEnts(1, 1000, 4))
	if rs := d.rs(7, 3, 0); rs.State.Vote != 3 || rs.EntryCount != 1000 {
		t.Fatalf("ReadRaftState: %+v", rs)
	}
	// Close twice must not panic.
	if err := d.ILogDB.Close(); err != nil {
		t.Fatal(err)
	}
	d.ILogDB.Close()
	d.open = false
}

// model is the reference: a map of each node's entries, compacted index
// and hard state. The random run appends (to one or several shards in one
// call), overwrites suffixes with a newer term, compacts, installs
// snapshots past the log's end and reopens, checking the store against
// the model after every step.
type model struct {
	first, last uint64 // last < first when empty
	ents        map[uint64]pb.Entry
	state       pb.State
	compacted   uint64
}

func testProperty(t *testing.T, b Backend) {
	steps := b.PropertySteps
	if steps == 0 {
		steps = 2000
	}
	if os.Getenv("ODGM_LONG") != "" {
		steps *= 10
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	d := openDB(t, b)
	const nodes = 3
	ms := make([]*model, nodes+1)
	for i := 1; i <= nodes; i++ {
		ms[i] = &model{first: 1, ents: map[uint64]pb.Entry{}}
	}
	term := uint64(1)
	for step := 0; step < steps; step++ {
		shard := uint64(1 + r.IntN(nodes))
		m := ms[shard]
		switch k := r.IntN(100); {
		case k < 55: // append at the end, possibly several shards in one call
			var uds []pb.Update
			for s := uint64(1); s <= nodes; s++ {
				if s != shard && r.IntN(3) != 0 {
					continue
				}
				ms := ms[s]
				n := uint64(1 + r.IntN(20))
				es := randEnts(r, ms.last+1, ms.last+n, term)
				ms.apply(es)
				ms.state = pb.State{Term: term, Commit: ms.last / 2}
				uds = append(uds, ud(s*stride, 1, ms.state, es))
			}
			d.save(uds...)
		case k < 75: // overwrite a suffix with a newer term
			if m.last < m.first {
				continue
			}
			term++
			from := m.first + uint64(r.IntN(int(m.last-m.first+1)))
			es := randEnts(r, from, from+uint64(r.IntN(10)), term)
			m.apply(es)
			d.save(ud(shard*stride, 1, pb.State{}, es))
		case k < 88: // compact
			if m.last < m.first {
				continue
			}
			to := m.first + uint64(r.IntN(int(m.last-m.first+1)))
			if err := d.RemoveEntriesTo(shard*stride, 1, to); err != nil {
				t.Fatalf("step %d: RemoveEntriesTo: %v", step, err)
			}
			if _, err := d.CompactEntriesTo(shard*stride, 1, to); err != nil {
				t.Fatalf("step %d: CompactEntriesTo: %v", step, err)
			}
			for i := m.first; i <= to; i++ {
				delete(m.ents, i)
			}
			m.first, m.compacted = to+1, to
		case k < 92:
			if b.Durable {
				d.reopen()
			}
		case k < 96: // a follower installs its leader's snapshot, past its log
			term++
			ss := m.last + 1 + uint64(r.IntN(50))
			u := ud(shard*stride, 1, pb.State{Term: term, Commit: ss}, nil)
			u.Snapshot = pb.Snapshot{Index: ss, Term: term, ShardID: shard * stride, Type: pb.OnDiskStateMachine}
			d.save(u)
			m.ents = map[uint64]pb.Entry{}
			m.first, m.last, m.compacted = ss+1, ss, ss
			m.state = u.State
		default:
			// read a random range
		}
		checkModel(t, d, step, shard, m)
	}
	for s := uint64(1); s <= nodes; s++ {
		checkModel(t, d, steps, s, ms[s])
	}
}

func (m *model) apply(es []pb.Entry) {
	for i := es[0].Index; i <= m.last; i++ {
		delete(m.ents, i)
	}
	for _, e := range es {
		m.ents[e.Index] = e
	}
	m.last = es[len(es)-1].Index
}

func randEnts(r *rand.Rand, lo, hi, term uint64) []pb.Entry {
	var es []pb.Entry
	for i := lo; i <= hi; i++ {
		cmd := make([]byte, r.IntN(300))
		for j := range cmd {
			cmd[j] = byte(r.Uint32())
		}
		es = append(es, pb.Entry{Index: i, Term: term, Cmd: cmd})
	}
	return es
}

func checkModel(t *testing.T, d *db, step int, shard uint64, m *model) {
	t.Helper()
	if m.last < m.first && m.state.Term == 0 {
		return
	}
	shard *= stride
	rs, err := d.ReadRaftState(shard, 1, m.compacted)
	if err != nil {
		t.Fatalf("step %d shard %d: ReadRaftState: %v", step, shard, err)
	}
	wantCount := uint64(0)
	if m.last >= m.first {
		wantCount = m.last - m.first + 1
	}
	if d.b.Loose && wantCount > 0 && m.compacted > 0 && rs.FirstIndex == m.compacted {
		rs.FirstIndex++
		rs.EntryCount--
	}
	if rs.EntryCount != wantCount || (wantCount > 0 && rs.FirstIndex != m.first) {
		t.Fatalf("step %d shard %d: ReadRaftState first %d count %d, want %d %d", step, shard, rs.FirstIndex, rs.EntryCount, m.first, wantCount)
	}
	if wantCount == 0 {
		return
	}
	var want []pb.Entry
	for i := m.first; i <= m.last; i++ {
		want = append(want, m.ents[i])
	}
	got := d.all(shard, 1, m.first, m.last)
	sameEntries(t, got, want)
}
