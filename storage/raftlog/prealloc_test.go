package raftlog

import (
	"errors"
	"os"
	"testing"
	"time"
)

// waitSpare waits until s's preallocator has a spare segment ready.
func waitSpare(t *testing.T, s Store) {
	t.Helper()
	l := s.(*appendLog)
	l.prealloc.request() // as a half-full segment would
	deadline := time.Now().Add(10 * time.Second)
	for !l.prealloc.available() {
		if time.Now().After(deadline) {
			t.Fatalf("no spare segment after 10s (last error: %v)", l.prealloc.err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPreallocatedSegmentsReplay(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncPolicy: SyncAlways, SegmentSize: 64 << 10}
	s := mustOpen(t, BackendAppendLog, dir, opts)
	waitSpare(t, s)
	last := uint64(0)
	for range 200 {
		commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1, last+10, 1)) })
		last += 10
		if last%300 == 0 {
			waitSpare(t, s) // let rotations find a spare most of the time
		}
	}
	files := segmentFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d segments, want several", len(files))
	}
	full := 0
	for _, f := range files {
		if st, _ := os.Stat(f); st.Size() == opts.SegmentSize {
			full++
		}
	}
	if full == 0 {
		t.Fatal("no segment was preallocated")
	}
	d, _ := Disk(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/" + spareName); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left the unused spare: %v", err)
	}

	s = mustOpen(t, BackendAppendLog, dir, opts)
	defer s.Close()
	l := LogOf(s, n1)
	if l.LastIndex() != last {
		t.Fatalf("last index %d after reopen, want %d", l.LastIndex(), last)
	}
	es, err := l.Entries(1, last+1, 1<<30)
	if err != nil || uint64(len(es)) != last {
		t.Fatalf("entries: %d, %v", len(es), err)
	}
	for i, e := range es {
		if want := ents(uint64(i+1), uint64(i+1), 1)[0]; string(e.Cmd) != string(want.Cmd) {
			t.Fatalf("entry %d: %q, want %q", i+1, e.Cmd, want.Cmd)
		}
	}
	if d2, _ := Disk(s); d2.Bytes != d.Bytes {
		t.Fatalf("record bytes %d after reopen, %d before: the zeros must not count", d2.Bytes, d.Bytes)
	}
	// Appends continue in the preallocated tail after reopening.
	if err := l.Append(ents(last+1, last+5, 2)); err != nil {
		t.Fatal(err)
	}
}

// Zeros where a record header should be, in front of valid records, are
// damage, not the end of a preallocated segment.
func TestPreallocatedZeroedHeaderIsCorruption(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncPolicy: SyncAlways, SegmentSize: 1 << 20}
	s := mustOpen(t, BackendAppendLog, dir, opts)
	waitSpare(t, s)
	commit(t, s, func(b *Batch) { b.Append(n1, ents(1, 10, 1)) })
	// The first commit after the spare is ready moves onto it.
	var recOffsets []int64
	last := uint64(10)
	for range 20 {
		recOffsets = append(recOffsets, s.(*appendLog).active.size)
		commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1, last+10, 1)) })
		last += 10
	}
	if !s.(*appendLog).active.preallocated {
		t.Fatal("the active segment is not preallocated")
	}
	victim := s.(*appendLog).active.path
	s.Close()

	f, err := os.OpenFile(victim, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := recOffsets[len(recOffsets)/2]
	if _, err := f.WriteAt(make([]byte, headerSize), at); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Open(BackendAppendLog, dir, opts)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != victim || ce.Offset != at {
		t.Fatalf("open after zeroing the header at %d: %v, want a CorruptError there", at, err)
	}
}

// A torn write into a preallocated tail is cut off like any torn tail.
func TestPreallocatedTornTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncPolicy: SyncAlways, SegmentSize: 1 << 20}
	s := mustOpen(t, BackendAppendLog, dir, opts)
	waitSpare(t, s)
	last := uint64(0)
	for range 20 {
		commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1, last+10, 1)) })
		last += 10
	}
	a := s.(*appendLog)
	victim, end := a.active.path, a.active.size
	if !a.active.preallocated {
		t.Fatal("the active segment is not preallocated")
	}
	s.Close()
	f, _ := os.OpenFile(victim, os.O_RDWR, 0)
	f.WriteAt([]byte{0x40, 0x01, 0, 0, 0xde, 0xad}, end) // half a header
	f.Close()
	s = mustOpen(t, BackendAppendLog, dir, opts)
	defer s.Close()
	if got := LogOf(s, n1).LastIndex(); got != last {
		t.Fatalf("last index %d, want %d", got, last)
	}
}

// Segments given up after compaction come back as spares; records they held
// before cannot pass for the new segment's, across reopens.
func TestRecycledSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncPolicy: SyncAlways, SegmentSize: 64 << 10}
	s := mustOpen(t, BackendAppendLog, dir, opts)
	last := uint64(0)
	recycled := uint64(0)
	for round := range 6 {
		for range 60 {
			commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1, last+10, 1)) })
			last += 10
		}
		commit(t, s, func(b *Batch) { b.Compact(n1, last-20) })
		if err := s.Reclaim(); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 { // reopen now and then: replay must stop at each segment's end
			d, _ := Disk(s)
			recycled += d.SegmentsRecycled
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, BackendAppendLog, dir, opts)
		}
		waitSpare(t, s)
	}
	if recycled == 0 {
		t.Fatal("no segment was recycled")
	}
	s.Close()
	s = mustOpen(t, BackendAppendLog, dir, opts)
	defer s.Close()
	l := LogOf(s, n1)
	if l.FirstIndex() != last-19 || l.LastIndex() != last {
		t.Fatalf("first/last %d/%d, want %d/%d", l.FirstIndex(), l.LastIndex(), last-19, last)
	}
	es, err := l.Entries(last-19, last+1, 1<<30)
	if err != nil || len(es) != 20 {
		t.Fatalf("entries: %d, %v", len(es), err)
	}
	for _, e := range es {
		if want := ents(e.Index, e.Index, 1)[0]; string(e.Cmd) != string(want.Cmd) {
			t.Fatalf("entry %d: %q", e.Index, e.Cmd)
		}
	}
}

// Damage to the last record of a segment that is not the newest is
// corruption, even where old bytes of a recycled file follow it: the next
// segment's checkpoint says where its records end.
func TestDamagedLastRecordOfOlderSegment(t *testing.T) {
	for _, recycle := range []bool{false, true} {
		t.Run(map[bool]string{false: "fresh", true: "recycled"}[recycle], func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SyncPolicy: SyncAlways, SegmentSize: 64 << 10}
			s := mustOpen(t, BackendAppendLog, dir, opts)
			last := uint64(0)
			if recycle {
				for range 200 {
					commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1, last+10, 1)) })
					last += 10
				}
				commit(t, s, func(b *Batch) { b.Compact(n1, last) })
				if err := s.Reclaim(); err != nil {
					t.Fatal(err)
				}
				if d, _ := Disk(s); d.SegmentsRecycled == 0 {
					waitSpare(t, s)
				}
			}
			// Fill until a segment has rotated, remembering where the
			// last record of the older one starts.
			a := s.(*appendLog)
			old := a.active
			var lastOff int64
			for a.active == old {
				off := a.active.size
				commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1, last+10, 1)) })
				last += 10
				if a.active == old {
					lastOff = off
				}
			}
			victim := old.path
			if recycle && !old.preallocated {
				t.Fatal("the rotated segment was not a recycled or preallocated one")
			}
			commit(t, s, func(b *Batch) { b.Append(n1, ents(last+1, last+10, 1)) })
			s.Close()
			f, _ := os.OpenFile(victim, os.O_RDWR, 0)
			b := make([]byte, 1)
			f.ReadAt(b, lastOff+headerSize+5)
			b[0] ^= 0xff
			f.WriteAt(b, lastOff+headerSize+5)
			f.Close()
			_, err := Open(BackendAppendLog, dir, opts)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != victim {
				t.Fatalf("open after damaging the last record of %s: %v, want a CorruptError there", victim, err)
			}
			t.Log(err)
		})
	}
}
