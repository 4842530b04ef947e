package raftlog

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/logger"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild(os.Getenv(crashChildEnv))
		return
	}
	quietDragonboat()
	// buntdb's background goroutine notices Close within a second; Close
	// does not wait for it.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/tidwall/buntdb.(*DB).backgroundManager"))
}

func ents(lo, hi, term uint64) []pb.Entry {
	var es []pb.Entry
	for i := lo; i <= hi; i++ {
		es = append(es, pb.Entry{Index: i, Term: term, Cmd: []byte(fmt.Sprintf("entry-%d-%d-%s", i, term, strings.Repeat("x", int(i%50))))})
	}
	return es
}

func mustOpen(t *testing.T, backend, dir string, opts Options) Store {
	t.Helper()
	s, err := Open(backend, dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", backend, err)
	}
	return s
}

func commit(t *testing.T, s Store, f func(*Batch)) {
	t.Helper()
	var b Batch
	f(&b)
	if err := s.Commit(&b); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

var n1 = Node{ShardID: 1, ReplicaID: 1}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// fillSegments writes batches of 10 entries until the log has at least
// two segments; it returns the last index.
func fillSegments(t *testing.T, s Store, dir string, minSegments int) uint64 {
	last := uint64(0)
	for len(segmentFiles(t, dir)) < minSegments {
		commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1, last+10, 1)) })
		last += 10
	}
	return last
}

func TestCorruptMiddleOfSegment(t *testing.T) {
	for _, which := range []string{"newest", "older"} {
		t.Run(which, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SyncPolicy: SyncNone, SegmentSize: 64 << 10}
			s := mustOpen(t, BackendAppendLog, dir, opts)
			fillSegments(t, s, dir, 3)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			files := segmentFiles(t, dir)
			victim := files[len(files)-1]
			if which == "older" {
				victim = files[0]
			}
			b, err := os.ReadFile(victim)
			if err != nil {
				t.Fatal(err)
			}
			if which == "newest" {
				// Records after the damage tell it from a torn tail.
				s := mustOpen(t, BackendAppendLog, dir, opts)
				last := LogOf(s, n1).LastIndex()
				for i := uint64(0); i < 100; i++ {
					commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1+2*i, last+2+2*i, 1)) })
				}
				s.Close()
				if files := segmentFiles(t, dir); files[len(files)-1] != victim {
					t.Fatal("the newest segment rotated")
				}
				b, _ = os.ReadFile(victim)
			}
			at := len(b) / 2
			b[at] ^= 0x5a
			if err := os.WriteFile(victim, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(BackendAppendLog, dir, opts)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open after flipping byte %d of %s: %v, want ErrCorrupt", at, victim, err)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != victim || ce.Offset < 0 || ce.Offset > int64(at) {
				t.Fatalf("corrupt error %+v: want file %s and an offset at or before %d", ce, victim, at)
			}
			t.Log(err)
		})
	}
}

func TestTornTailIsCut(t *testing.T) {
	for _, how := range []string{"truncated", "zeros"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SyncPolicy: SyncNone, SegmentSize: 1 << 20}
			s := mustOpen(t, BackendAppendLog, dir, opts)
			for i := uint64(0); i < 20; i++ {
				commit(t, s, func(b *Batch) {
					b.Append(n1, ents(i*10+1, i*10+10, 1))
					b.SetHardState(n1, pb.State{Term: 1, Commit: i * 10})
				})
			}
			s.Close()
			files := segmentFiles(t, dir)
			f := files[len(files)-1]
			st, _ := os.Stat(f)
			switch how {
			case "truncated":
				// Cut the last record (10 entries) in its middle.
				if err := os.Truncate(f, st.Size()-100); err != nil {
					t.Fatal(err)
				}
			case "zeros":
				// A size extended with nothing written, then a torn header.
				fh, _ := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
				fh.Write(make([]byte, 5000))
				fh.Close()
			}
			s = mustOpen(t, BackendAppendLog, dir, opts)
			want := uint64(200)
			if how == "truncated" {
				want = 190
			}
			l := LogOf(s, n1)
			if l.LastIndex() != want {
				t.Fatalf("last index %d, want %d", l.LastIndex(), want)
			}
			es, err := l.Entries(1, want+1, 1<<30)
			if err != nil || len(es) != int(want) {
				t.Fatalf("entries: %d, %v", len(es), err)
			}
			// The log goes on from the cut.
			if err := l.Append(ents(want+1, want+5, 2)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = mustOpen(t, BackendAppendLog, dir, opts)
			defer s.Close()
			if got := LogOf(s, n1).LastIndex(); got != want+5 {
				t.Fatalf("after reopen last %d, want %d", got, want+5)
			}
		})
	}
}

func TestSegmentsDeletedAfterCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncPolicy: SyncNone, SegmentSize: 64 << 10}
	s := mustOpen(t, BackendAppendLog, dir, opts)
	n2 := Node{ShardID: 2, ReplicaID: 1}
	commit(t, s, func(b *Batch) {
		b.SetBootstrap(n2, pb.Bootstrap{Join: true})
		b.SetHardState(n2, pb.State{Term: 3, Vote: 2})
		b.Append(n2, ents(1, 3, 3))
	})
	last := fillSegments(t, s, dir, 8)
	before, _ := Disk(s)
	l := LogOf(s, n1)
	if err := l.Compact(last - 5); err != nil {
		t.Fatal(err)
	}
	// n2 still holds entries in the first segment: nothing can go.
	if d, _ := Disk(s); d.SegmentsDeleted != 0 {
		t.Fatalf("deleted %d segments while shard 2 holds entries in the first", d.SegmentsDeleted)
	}
	if err := LogOf(s, n2).Compact(3); err != nil {
		t.Fatal(err)
	}
	after, _ := Disk(s)
	if after.SegmentsDeleted < 5 || after.Bytes >= before.Bytes/2 || after.BytesReclaimed == 0 {
		t.Fatalf("before %+v after %+v: want most segments deleted", before, after)
	}
	st := l.Stats()
	if st.Compactions != 1 || st.BytesReclaimed == 0 || st.Entries != 5 || st.FirstIndex != last-4 {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
	// Metadata and the remaining entries survive through the checkpoints.
	s = mustOpen(t, BackendAppendLog, dir, opts)
	defer s.Close()
	es, err := LogOf(s, n1).Entries(last-4, last+1, 1<<30)
	if err != nil || len(es) != 5 || es[0].Index != last-4 {
		t.Fatalf("after reopen: %d entries, %v", len(es), err)
	}
	ns, ok := s.State(n2)
	if !ok || !ns.HasBootstrap || ns.HardState.Vote != 2 || ns.Compacted != 3 || ns.LastIndex != 3 {
		t.Fatalf("shard 2 after reopen: %+v", ns)
	}
}

func TestLogView(t *testing.T) {
	for _, backend := range []string{BackendAppendLog, BackendMemory, BackendKV} {
		t.Run(backend, func(t *testing.T) {
			s := mustOpen(t, backend, t.TempDir(), Options{SyncPolicy: SyncNone})
			defer s.Close()
			l := LogOf(s, n1)
			if l.FirstIndex() != 1 || l.LastIndex() != 0 {
				t.Fatalf("empty log: first %d last %d", l.FirstIndex(), l.LastIndex())
			}
			if _, ok := l.HardState(); ok {
				t.Fatal("empty log has a hard state")
			}
			if err := l.Append(ents(2, 3, 1)); !errors.Is(err, ErrGap) {
				t.Fatalf("append with a gap: %v, want ErrGap", err)
			}
			if err := l.Append(ents(1, 100, 1)); err != nil {
				t.Fatal(err)
			}
			if err := l.SetHardState(pb.State{Term: 1, Vote: 1, Commit: 50}); err != nil {
				t.Fatal(err)
			}
			one := uint64(ents(10, 10, 1)[0].SizeUpperLimit())
			es, err := l.Entries(10, 100, 2*one)
			if err != nil || len(es) < 2 || len(es) > 4 || es[0].Index != 10 {
				t.Fatalf("bounded read: %d entries, %v", len(es), err)
			}
			if err := l.Truncate(60); err != nil || l.LastIndex() != 59 {
				t.Fatalf("truncate: last %d, %v", l.LastIndex(), err)
			}
			if err := l.Compact(20); err != nil || l.FirstIndex() != 21 {
				t.Fatalf("compact: first %d, %v", l.FirstIndex(), err)
			}
			if err := l.Truncate(5); !errors.Is(err, ErrGap) {
				t.Fatalf("truncate below first: %v, want ErrGap", err)
			}
			st := l.Stats()
			if st.FirstIndex != 21 || st.LastIndex != 59 || st.Entries != 39 || st.Bytes == 0 || st.Compactions != 1 || st.BytesReclaimed == 0 {
				t.Fatalf("stats %+v", st)
			}
			if hs, ok := l.HardState(); !ok || hs.Commit != 50 {
				t.Fatalf("hard state %+v", hs)
			}
		})
	}
}

func TestMemoryLogFull(t *testing.T) {
	s := mustOpen(t, BackendMemory, "", Options{MaxEntries: 10})
	defer s.Close()
	l := LogOf(s, n1)
	if err := l.Append(ents(1, 8, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ents(9, 11, 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("append past max_entries: %v, want ErrFull", err)
	}
	if l.LastIndex() != 8 {
		t.Fatalf("a refused batch changed the log: last %d", l.LastIndex())
	}
	// Overwriting a suffix or compacting first makes room.
	if err := l.Compact(5); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ents(9, 15, 1)); err != nil {
		t.Fatalf("after compaction: %v", err)
	}
}

func TestOpenLocksDir(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, BackendAppendLog, dir, Options{})
	defer s.Close()
	if _, err := Open(BackendAppendLog, dir, Options{}); err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
}

func TestSyncBatchAndClose(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, BackendAppendLog, dir, Options{SyncPolicy: SyncBatch, FlushIntervalMS: 5})
	commit(t, s, func(b *Batch) { b.Append(n1, ents(1, 10, 1)) })
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	var b Batch
	b.Append(n1, ents(11, 12, 1))
	if err := s.Commit(&b); !errors.Is(err, ErrClosed) {
		t.Fatalf("commit after close: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{SyncPolicy: "sometimes", SegmentSize: 100, MemoryProfile: "huge"}
	err := o.Validate(BackendAppendLog)
	for _, field := range []string{"sync_policy", "segment_size", "memory_profile"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Fatalf("Validate: %v, want a problem with %s", err, field)
		}
	}
	if _, err := Open("nope", t.TempDir(), Options{}); !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("unknown backend: %v", err)
	}
}

// Crash safety: a child process appends acknowledged batches and is
// killed with SIGKILL at a random moment; every acknowledged batch must
// be found whole and in order, the batch in flight whole or absent.

const crashChildEnv = "ODGM_RAFTLOG_CRASH_CHILD"

const crashShards = 3

// crashCmd encodes batch id, position in batch and batch size.
func crashCmd(batch, i, n uint64) []byte {
	return []byte(fmt.Sprintf("%d:%d:%d:%s", batch, i, n, strings.Repeat("p", int(batch%200))))
}

func parseCrashCmd(b []byte) (batch, i, n uint64, ok bool) {
	f := strings.SplitN(string(b), ":", 4)
	if len(f) != 4 {
		return 0, 0, 0, false
	}
	batch, e1 := strconv.ParseUint(f[0], 10, 64)
	i, e2 := strconv.ParseUint(f[1], 10, 64)
	n, e3 := strconv.ParseUint(f[2], 10, 64)
	return batch, i, n, e1 == nil && e2 == nil && e3 == nil
}

func crashOptions() Options {
	return Options{SyncPolicy: SyncAlways, SegmentSize: 64 << 10, BufferSize: 4096}
}

// crashChild appends batches forever: batch k goes to shard 1+k%3 (and,
// one time in four, also to the next shard in the same record). It prints
// "try k" before SaveRaftState and "ack k" after. Every 40 batches a shard
// is compacted.
func crashChild(dir string) {
	db, err := OpenLogDB(BackendAppendLog, dir, crashOptions())
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ldb := db.(*LogDB)
	s := ldb.Store()
	next := uint64(1)
	for sh := uint64(1); sh <= crashShards; sh++ {
		st, _ := s.State(Node{ShardID: sh, ReplicaID: 1})
		if st.LastIndex >= st.FirstIndex {
			es, _, _ := s.Entries(Node{ShardID: sh, ReplicaID: 1}, nil, 0, st.LastIndex, st.LastIndex+1, 1<<30)
			if b, _, _, ok := parseCrashCmd(es[0].Cmd); ok && b >= next {
				next = b + 1
			}
		}
	}
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), next))
	for k := next; ; k++ {
		shards := []uint64{1 + k%crashShards}
		if k%4 == 0 {
			shards = append(shards, 1+(k+1)%crashShards)
		}
		var uds []pb.Update
		for _, sh := range shards {
			st, _ := s.State(Node{ShardID: sh, ReplicaID: 1})
			n := uint64(1 + r.IntN(64))
			var es []pb.Entry
			for i := uint64(0); i < n; i++ {
				es = append(es, pb.Entry{Index: st.LastIndex + 1 + i, Term: 1, Cmd: crashCmd(k, i, n)})
			}
			uds = append(uds, pb.Update{ShardID: sh, ReplicaID: 1, State: pb.State{Term: 1, Commit: st.LastIndex}, EntriesToSave: es})
		}
		fmt.Printf("try %d\n", k)
		if err := ldb.SaveRaftState(uds, 1); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("ack %d\n", k)
		if k%40 == 0 {
			sh := uint64(1 + r.IntN(crashShards))
			st, _ := s.State(Node{ShardID: sh, ReplicaID: 1})
			if st.LastIndex > 100 {
				if err := ldb.RemoveEntriesTo(sh, 1, st.LastIndex-100); err != nil {
					fmt.Println("error", err)
					os.Exit(2)
				}
			}
		}
	}
}

func TestCrashSafety(t *testing.T) {
	rounds := 20
	if os.Getenv("ODGM_LONG") != "" {
		rounds = 200
	}
	dir := t.TempDir()
	acked := map[uint64]bool{}
	inflight := map[uint64]bool{} // batches maybe durable but unacknowledged
	maxAcked := uint64(0)
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := time.Duration(30+rand.IntN(250)) * time.Millisecond
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		sc := bufio.NewScanner(out)
		lastTry := uint64(0)
		for sc.Scan() {
			line := sc.Text()
			if k, ok := strings.CutPrefix(line, "try "); ok {
				lastTry, _ = strconv.ParseUint(k, 10, 64)
			} else if k, ok := strings.CutPrefix(line, "ack "); ok {
				id, _ := strconv.ParseUint(k, 10, 64)
				acked[id] = true
				maxAcked = max(maxAcked, id)
			} else {
				t.Errorf("child: %s", line)
			}
		}
		timer.Stop()
		cmd.Wait()
		inflight[lastTry] = true // the batch in flight when the child died
		verifyCrashLog(t, dir, acked, inflight, maxAcked)
		if t.Failed() {
			t.Fatalf("round %d", round)
		}
	}
	t.Logf("%d rounds, %d batches acknowledged", rounds, len(acked))
}

func verifyCrashLog(t *testing.T, dir string, acked, inflight map[uint64]bool, maxAcked uint64) {
	t.Helper()
	s, err := Open(BackendAppendLog, dir, crashOptions())
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	found := map[uint64]bool{}
	foundIn := map[uint64]map[uint64]bool{} // batch → shards holding it
	oldestIn := map[uint64]uint64{}         // shard → its oldest batch
	for sh := uint64(1); sh <= crashShards; sh++ {
		n := Node{ShardID: sh, ReplicaID: 1}
		st, _ := s.State(n)
		es, _, err := s.Entries(n, nil, 0, st.FirstIndex, st.LastIndex+1, 1<<40)
		if err != nil {
			t.Fatalf("shard %d: %v", sh, err)
		}
		if uint64(len(es)) != st.LastIndex-st.FirstIndex+1 {
			t.Fatalf("shard %d: %d entries for [%d, %d]", sh, len(es), st.FirstIndex, st.LastIndex)
		}
		prev := uint64(0)
		for j := 0; j < len(es); {
			b, i, cnt, ok := parseCrashCmd(es[j].Cmd)
			if !ok {
				t.Fatalf("shard %d index %d: bad command %q", sh, es[j].Index, es[j].Cmd)
			}
			if b <= prev {
				t.Fatalf("shard %d index %d: batch %d after batch %d", sh, es[j].Index, b, prev)
			}
			if i != 0 && j != 0 {
				t.Fatalf("shard %d index %d: batch %d starts at its entry %d", sh, es[j].Index, b, i)
			}
			// The rest of the batch must follow, whole.
			for want := i; want < cnt; want++ {
				if j >= len(es) {
					t.Fatalf("shard %d: batch %d cut after entry %d of %d", sh, b, want, cnt)
				}
				b2, i2, _, _ := parseCrashCmd(es[j].Cmd)
				if b2 != b || i2 != want {
					t.Fatalf("shard %d index %d: found batch %d entry %d, want batch %d entry %d", sh, es[j].Index, b2, i2, b, want)
				}
				j++
			}
			found[b] = true
			if foundIn[b] == nil {
				foundIn[b] = map[uint64]bool{}
			}
			foundIn[b][sh] = true
			if prev == 0 {
				oldestIn[sh] = b
			}
			prev = b
		}
	}
	for b := range found {
		if !acked[b] && !inflight[b] {
			t.Errorf("batch %d found but never acknowledged (last ack %d)", b, maxAcked)
		}
		if b%4 != 0 {
			continue
		}
		// A batch spanning two shards is one record: both parts or none.
		for _, sh := range []uint64{1 + b%crashShards, 1 + (b+1)%crashShards} {
			if !foundIn[b][sh] && oldestIn[sh] != 0 && oldestIn[sh] < b {
				t.Errorf("batch %d found in shards %v but not in shard %d", b, foundIn[b], sh)
			}
		}
	}
	// Every acknowledged batch must be there unless compaction removed it:
	// only the 100 newest entries per shard are sure to remain, so check
	// the acknowledged batches newer than the oldest batch found per shard.
	for sh := uint64(1); sh <= crashShards; sh++ {
		n := Node{ShardID: sh, ReplicaID: 1}
		st, _ := s.State(n)
		if st.LastIndex < st.FirstIndex {
			continue
		}
		es, _, _ := s.Entries(n, nil, 0, st.FirstIndex, st.FirstIndex+1, 0)
		oldest, _, _, _ := parseCrashCmd(es[0].Cmd)
		for b := oldest; b <= maxAcked; b++ {
			if acked[b] && b%crashShards+1 == sh && !found[b] {
				t.Errorf("acknowledged batch %d of shard %d is missing", b, sh)
			}
		}
	}
}

func quietDragonboat() {
	for _, name := range []string{"config", "dragonboat", "logdb", "pebblekv", "tan", "raft", "rsm", "transport", "settings", "server", "grpc", "registry", "raftpb", "tools", "gossip"} {
		logger.GetLogger(name).SetLevel(logger.ERROR)
	}
	logger.GetLogger("transport").SetLevel(logger.CRITICAL)
}

// One SaveRaftState call is one fsync whatever it spans; concurrent
// callers share fsyncs.
func TestGroupCommitOneFsync(t *testing.T) {
	// Without preallocation: moving onto a spare segment the moment it is
	// ready would add the old segment's fsync to whichever call does it.
	db, err := OpenLogDB(BackendAppendLog, t.TempDir(), Options{DisablePreallocation: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := db.(*LogDB).Store()
	before, _ := Disk(s)
	var uds []pb.Update
	for sh := uint64(1); sh <= 50; sh++ {
		uds = append(uds, pb.Update{ShardID: sh, ReplicaID: 1, State: pb.State{Term: 1, Commit: 1}, EntriesToSave: ents(1, 100, 1)})
	}
	if err := db.SaveRaftState(uds, 1); err != nil {
		t.Fatal(err)
	}
	after, _ := Disk(s)
	if n := after.Syncs - before.Syncs; n != 1 {
		t.Fatalf("one SaveRaftState of 50 shards × 100 entries made %d fsyncs, want 1", n)
	}

	const workers, rounds = 8, 50
	var wg sync.WaitGroup
	for w := uint64(1); w <= workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := uint64(1); r <= rounds; r++ {
				u := []pb.Update{{ShardID: 100 + w, ReplicaID: 1, EntriesToSave: ents(r, r, 1)}}
				if err := db.SaveRaftState(u, w); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	end, _ := Disk(s)
	t.Logf("%d concurrent SaveRaftState calls: %d fsyncs", workers*rounds, end.Syncs-after.Syncs)
	if end.Syncs-after.Syncs > workers*rounds {
		t.Fatalf("%d fsyncs for %d calls", end.Syncs-after.Syncs, workers*rounds)
	}
}

// Readers run while a writer appends, compacts and deletes segments.
func TestConcurrentReadsDuringReclaim(t *testing.T) {
	s := mustOpen(t, BackendAppendLog, t.TempDir(), Options{SyncPolicy: SyncNone, SegmentSize: 64 << 10, CacheSize: 4 << 10})
	defer s.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, _ := s.State(n1)
				es, _, err := s.Entries(n1, nil, 0, st.FirstIndex, st.LastIndex+1, 1<<30)
				if err != nil {
					t.Error(err)
					return
				}
				for i := 1; i < len(es); i++ {
					if es[i].Index != es[i-1].Index+1 {
						t.Errorf("entries not contiguous: %d after %d", es[i].Index, es[i-1].Index)
						return
					}
				}
			}
		}()
	}
	l := LogOf(s, n1)
	for i := uint64(0); i < 300; i++ {
		if err := l.Append(ents(i*20+1, i*20+20, 1)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			if err := l.Compact(i*20 - 50); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if d, _ := Disk(s); d.SegmentsDeleted == 0 {
		t.Fatalf("no segment deleted: %+v", d)
	}
}

// A crash between creating a segment and writing its checkpoint leaves an
// empty newest segment; Open writes the checkpoint, so that deleting the
// older segments later loses no metadata.
func TestEmptyNewestSegmentGetsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncPolicy: SyncNone, SegmentSize: 64 << 10}
	s := mustOpen(t, BackendAppendLog, dir, opts)
	commit(t, s, func(b *Batch) {
		b.SetBootstrap(n1, pb.Bootstrap{Join: true})
		b.SetHardState(n1, pb.State{Term: 7, Vote: 1})
	})
	last := fillSegments(t, s, dir, 2)
	s.Close()
	files := segmentFiles(t, dir)
	if err := os.Truncate(files[len(files)-1], 0); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, BackendAppendLog, dir, opts)
	st, _ := s.State(n1)
	commit(t, s, func(b *Batch) { b.Compact(n1, st.LastIndex) })
	if err := s.Reclaim(); err != nil {
		t.Fatal(err)
	}
	if d, _ := Disk(s); d.SegmentsDeleted == 0 {
		t.Fatalf("nothing deleted: %+v", d)
	}
	s.Close()
	s = mustOpen(t, BackendAppendLog, dir, opts)
	defer s.Close()
	st, ok := s.State(n1)
	if !ok || !st.HasBootstrap || st.HardState.Term != 7 || st.LastIndex < last-20 {
		t.Fatalf("metadata lost: %+v (last written %d)", st, last)
	}
}
