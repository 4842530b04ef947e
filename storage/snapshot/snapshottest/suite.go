// Package snapshottest is the conformance suite every snapshot.Store backend
// must pass. A backend's test calls Run with a Backend that opens fresh,
// empty stores:
//
//	func TestConformance(t *testing.T) {
//		snapshottest.Run(t, snapshottest.Backend{Name: "mine", Open: ...})
//	}
//
// The suite runs every check once per codec (none, s2, zstd).
package snapshottest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/odgm-go/odgm/storage/snapshot"
)

// Backend is a store implementation under test.
type Backend struct {
	Name string
	// Open returns a new, empty store with the given options. The test
	// closes it.
	Open func(t *testing.T, opts snapshot.Options, more ...snapshot.OpenOption) snapshot.Store
	// Damage, if set, replaces the stored encoding of snapshot id with
	// mutate's result, so that the suite can check how the store reports
	// stored corruption. Nil skips those checks (Import is still checked
	// with corrupt input).
	Damage func(t *testing.T, s snapshot.Store, id string, mutate func([]byte) []byte)
}

// Codecs are those the suite runs with.
var Codecs = []snapshot.Codec{snapshot.CodecNone, snapshot.CodecS2, snapshot.CodecZstd}

// Run runs the conformance suite against b.
func Run(t *testing.T, b Backend) {
	for _, c := range Codecs {
		t.Run(string(c), func(t *testing.T) {
			o := snapshot.Options{Compression: c}
			t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, b, o) })
			t.Run("ListLatestDelete", func(t *testing.T) { testListLatestDelete(t, b, o) })
			t.Run("AbortLeavesNothing", func(t *testing.T) { testAbort(t, b, o) })
			t.Run("DuplicateID", func(t *testing.T) { testDuplicate(t, b, o) })
			t.Run("Retention", func(t *testing.T) { testRetention(t, b, o) })
			t.Run("ImportExport", func(t *testing.T) { testImportExport(t, b, o) })
			t.Run("ImportCorrupt", func(t *testing.T) { testImportCorrupt(t, b, o) })
			t.Run("StoredCorruption", func(t *testing.T) { testStoredCorruption(t, b, o) })
			t.Run("Closed", func(t *testing.T) { testClosed(t, b, o) })
			t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, b, o) })
		})
	}
}

// Record is one key/value pair.
type Record struct{ Key, Value []byte }

// Records returns n deterministic random binary records of the given seed,
// including an empty key, empty values and one value larger than a frame.
func Records(seed uint64, n int) []Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Record, n)
	for i := range out {
		k := make([]byte, rng.IntN(40))
		v := make([]byte, rng.IntN(300))
		fill(rng, k)
		fill(rng, v)
		out[i] = Record{k, v}
	}
	if n > 2 {
		out[0].Key = nil                                                 // empty key
		out[1].Value = nil                                               // empty value
		out[2].Value = bytes.Repeat([]byte("0123456789abcdef"), 1<<16+3) // > 1 MiB, compressible
	}
	return out
}

func fill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// Write creates and commits a snapshot with header h and records recs.
func Write(t testing.TB, s snapshot.Store, h snapshot.Header, recs []Record) snapshot.Meta {
	t.Helper()
	m, err := write(s, h, recs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func write(s snapshot.Store, h snapshot.Header, recs []Record) (snapshot.Meta, error) {
	c, err := s.Create(context.Background(), h)
	if err != nil {
		return snapshot.Meta{}, fmt.Errorf("Create: %w", err)
	}
	defer c.Abort()
	for _, r := range recs {
		if err := c.Write(r.Key, r.Value); err != nil {
			return snapshot.Meta{}, fmt.Errorf("Write: %w", err)
		}
	}
	m, err := c.Commit()
	if err != nil {
		return snapshot.Meta{}, fmt.Errorf("Commit: %w", err)
	}
	return m, nil
}

// ReadAll reads every record of r, copying them, and closes r. It returns
// the records read before any error, and the error (nil after io.EOF).
func ReadAll(r *snapshot.Reader) ([]Record, error) {
	defer r.Close()
	var out []Record
	for {
		k, v, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, Record{bytes.Clone(k), bytes.Clone(v)})
	}
}

// Equal reports whether two record lists are the same, treating nil and
// empty slices alike.
func Equal(a, b []Record) bool {
	return slices.EqualFunc(a, b, func(x, y Record) bool {
		return bytes.Equal(x.Key, y.Key) && bytes.Equal(x.Value, y.Value)
	})
}

// Prefix reports whether got is a prefix of want.
func Prefix(got, want []Record) bool { return len(got) <= len(want) && Equal(got, want[:len(got)]) }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

func header(shard, index uint64, created time.Time) snapshot.Header {
	return snapshot.Header{ShardID: shard, ReplicaID: 7, Index: index, Term: 3, Created: created}
}

func open(t *testing.T, b Backend, o snapshot.Options, more ...snapshot.OpenOption) snapshot.Store {
	t.Helper()
	s := b.Open(t, o, more...)
	t.Cleanup(func() { s.Close() })
	return s
}

func sameMeta(t *testing.T, what string, got, want snapshot.Meta) {
	t.Helper()
	if !got.Created.Equal(want.Created) {
		t.Errorf("%s: Created = %v, want %v", what, got.Created, want.Created)
	}
	got.Created, want.Created = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("%s: Meta = %+v, want %+v", what, got, want)
	}
}

func testRoundTrip(t *testing.T, b Backend, o snapshot.Options) {
	ctx := context.Background()
	s := open(t, b, o)
	recs := Records(1, 200)
	h := header(42, 1000, t0)
	m := Write(t, s, h, recs)
	if m.Codec != o.Compression || m.ShardID != 42 || m.ReplicaID != 7 || m.Index != 1000 || m.Term != 3 || !m.Created.Equal(t0) {
		t.Errorf("Commit Meta header = %+v", m.Header)
	}
	if m.ID != h.ID() || m.Records != uint64(len(recs)) || m.Size <= 0 || m.RawBytes == 0 {
		t.Errorf("Commit Meta = %+v", m)
	}
	ms, err := s.List(ctx)
	if err != nil || len(ms) != 1 {
		t.Fatalf("List = %v, %v; want one", ms, err)
	}
	sameMeta(t, "List", ms[0], m)
	v, err := s.Verify(ctx, m.ID)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	sameMeta(t, "Verify", v, m)
	r, err := s.Open(ctx, m.ID)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := r.Header(); got.ShardID != 42 || got.Codec != o.Compression || !got.Created.Equal(t0) {
		t.Errorf("Reader.Header = %+v", got)
	}
	got, err := ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !Equal(got, recs) {
		t.Fatalf("records differ: got %d, want %d", len(got), len(recs))
	}
	sameMeta(t, "Reader.Meta", r.Meta(), m)

	// An empty snapshot is valid.
	e := Write(t, s, header(43, 1, t0), nil)
	r, err = s.Open(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadAll(r); err != nil || len(got) != 0 {
		t.Errorf("empty snapshot: %d records, %v", len(got), err)
	}
}

func testListLatestDelete(t *testing.T, b Backend, o snapshot.Options) {
	ctx := context.Background()
	s := open(t, b, o)
	if ms, err := s.List(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("List of empty store = %v, %v", ms, err)
	}
	if _, err := s.Latest(ctx, 1); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Latest of empty store: %v, want ErrNotFound", err)
	}
	recs := Records(2, 3)
	var ids []string
	// Created deliberately out of index order: Latest goes by index.
	for _, x := range []struct {
		shard, index uint64
		min          int
	}{{2, 10, 5}, {1, 30, 1}, {1, 10, 9}, {2, 5, 2}, {1, 20, 3}} {
		ids = append(ids, Write(t, s, header(x.shard, x.index, t0.Add(time.Duration(x.min)*time.Minute)), recs).ID)
	}
	ms, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]uint64
	for _, m := range ms {
		got = append(got, [2]uint64{m.ShardID, m.Index})
	}
	want := [][2]uint64{{1, 10}, {1, 20}, {1, 30}, {2, 5}, {2, 10}}
	if !slices.Equal(got, want) {
		t.Errorf("List order = %v, want %v", got, want)
	}
	if m, err := s.Latest(ctx, 1); err != nil || m.Index != 30 {
		t.Errorf("Latest(1) = %d, %v; want index 30", m.Index, err)
	}
	if m, err := s.Latest(ctx, 2); err != nil || m.Index != 10 {
		t.Errorf("Latest(2) = %d, %v; want index 10", m.Index, err)
	}
	if _, err := s.Latest(ctx, 3); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Latest(3): %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Latest(ctx, 1); err != nil || m.Index != 20 {
		t.Errorf("Latest(1) after delete = %d, %v; want 20", m.Index, err)
	}
	for _, id := range []string{ids[1], "0000000000000001-000000000000001e-0000000000000003-0000000000000000", "../etc/passwd", ""} {
		if err := s.Delete(ctx, id); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("Delete(%q): %v, want ErrNotFound", id, err)
		}
		if _, err := s.Open(ctx, id); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("Open(%q): %v, want ErrNotFound", id, err)
		}
		if _, err := s.Verify(ctx, id); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("Verify(%q): %v, want ErrNotFound", id, err)
		}
	}
	if ms, _ := s.List(ctx); len(ms) != 4 {
		t.Errorf("List after delete has %d, want 4", len(ms))
	}
	// A reader opened before Delete reads to the end.
	r, err := s.Open(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadAll(r); err != nil || !Equal(got, recs) {
		t.Errorf("read after Delete: %d records, %v", len(got), err)
	}
}

func testAbort(t *testing.T, b Backend, o snapshot.Options) {
	ctx := context.Background()
	s := open(t, b, o)
	c, err := s.Create(ctx, header(1, 1, t0))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Records(3, 50) {
		if err := c.Write(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	c.Abort()
	c.Abort() // idempotent
	if err := c.Write([]byte("k"), nil); !errors.Is(err, snapshot.ErrAborted) {
		t.Errorf("Write after Abort: %v, want ErrAborted", err)
	}
	if _, err := c.Commit(); !errors.Is(err, snapshot.ErrAborted) {
		t.Errorf("Commit after Abort: %v, want ErrAborted", err)
	}
	if ms, err := s.List(ctx); err != nil || len(ms) != 0 {
		t.Errorf("List after Abort = %v, %v", ms, err)
	}

	// A cancelled context aborts the creation.
	cctx, cancel := context.WithCancel(ctx)
	c, err = s.Create(cctx, header(1, 2, t0))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write([]byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := c.Commit(); !errors.Is(err, snapshot.ErrAborted) || !errors.Is(err, context.Canceled) {
		t.Errorf("Commit after cancel: %v, want ErrAborted and Canceled", err)
	}
	if ms, err := s.List(ctx); err != nil || len(ms) != 0 {
		t.Errorf("List after cancel = %v, %v", ms, err)
	}

	// Commit then Abort keeps the snapshot; a second Commit is refused.
	c, err = s.Create(ctx, header(1, 3, t0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	c.Abort()
	if _, err := c.Commit(); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("second Commit: %v, want ErrClosed", err)
	}
	if err := c.Write(nil, nil); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("Write after Commit: %v, want ErrClosed", err)
	}
	if ms, err := s.List(ctx); err != nil || len(ms) != 1 {
		t.Errorf("List after Commit+Abort = %v, %v; want one", ms, err)
	}

	// Oversized records are refused and the creation stays usable.
	c, err = s.Create(ctx, header(1, 4, t0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if err := c.Write(make([]byte, snapshot.MaxKeySize+1), nil); !errors.Is(err, snapshot.ErrTooLarge) {
		t.Errorf("oversized key: %v, want ErrTooLarge", err)
	}
	if err := c.Write([]byte("k"), []byte("v")); err != nil {
		t.Errorf("Write after ErrTooLarge: %v", err)
	}
	if m, err := c.Commit(); err != nil || m.Records != 1 {
		t.Errorf("Commit after ErrTooLarge: %+v, %v", m, err)
	}
}

func testDuplicate(t *testing.T, b Backend, o snapshot.Options) {
	s := open(t, b, o)
	recs := Records(4, 5)
	first := Write(t, s, header(1, 1, t0), recs)
	c, err := s.Create(context.Background(), header(1, 1, t0))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("other"), nil)
	if _, err := c.Commit(); !errors.Is(err, snapshot.ErrExists) {
		t.Errorf("Commit of a duplicate ID: %v, want ErrExists", err)
	}
	m, err := s.Verify(context.Background(), first.ID)
	if err != nil || m.Records != uint64(len(recs)) {
		t.Errorf("original after duplicate: %+v, %v", m, err)
	}
}

func testRetention(t *testing.T, b Backend, o snapshot.Options) {
	ctx := context.Background()
	now := t0.Add(100 * time.Hour)
	clock := func() time.Time { return now }
	type snap struct {
		shard, index uint64
		age          time.Duration
	}
	// Shard 1: five snapshots aged 50h..10h. Shard 2: two, both old.
	snaps := []snap{{1, 1, 50 * time.Hour}, {1, 2, 40 * time.Hour}, {1, 3, 30 * time.Hour}, {1, 4, 20 * time.Hour}, {1, 5, 10 * time.Hour}, {2, 1, 90 * time.Hour}, {2, 2, 80 * time.Hour}}
	big := []Record{{[]byte("k"), bytes.Repeat([]byte{1}, 100)}}
	for _, tc := range []struct {
		name string
		r    snapshot.Retention
		keep []string // shard/index
	}{
		{"keep_latest", snapshot.Retention{Strategy: snapshot.KeepLatest, KeepCount: 2}, []string{"1/4", "1/5", "2/1", "2/2"}},
		{"keep_by_age", snapshot.Retention{Strategy: snapshot.KeepByAge, MaxAge: 35 * time.Hour}, []string{"1/3", "1/4", "1/5"}},
		{"keep_by_age_hours", snapshot.Retention{Strategy: snapshot.KeepByAge, MaxAgeHours: 25}, []string{"1/4", "1/5"}},
		{"combined", snapshot.Retention{Strategy: snapshot.Combined, KeepCount: 3, MaxAge: 45 * time.Hour}, []string{"1/3", "1/4", "1/5", "2/2"}},
		{"defaults", snapshot.Retention{}, []string{"1/1", "1/2", "1/3", "1/4", "1/5", "2/1", "2/2"}},
		{"max_total_size", snapshot.Retention{Strategy: snapshot.KeepLatest, KeepCount: 10, MaxTotalSizeMB: 1}, nil}, // filled below
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, b, o, snapshot.WithClock(clock))
			var size int64
			for _, x := range snaps {
				recs := big
				if tc.name == "max_total_size" {
					// Each about 0.3 MiB, incompressible: 1 MiB keeps the
					// newest three.
					recs = []Record{{[]byte("k"), noise(x.shard*100+x.index, 300<<10)}}
				}
				size = Write(t, s, header(x.shard, x.index, now.Add(-x.age)), recs).Size
			}
			keep := tc.keep
			if tc.name == "max_total_size" {
				if size < 280<<10 || size > 340<<10 {
					t.Fatalf("test snapshot of %d bytes; adjust the sizes", size)
				}
				// Oldest by Created go first, never a shard's newest:
				// 2/1 (90h), then 1/1, 1/2, ...; 2/2 stays as newest of 2.
				keep = []string{"1/4", "1/5", "2/2"}
			}
			n, err := s.Cleanup(ctx, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("%d/%d", m.ShardID, m.Index))
			}
			if !slices.Equal(got, keep) || n != len(snaps)-len(keep) {
				t.Errorf("kept %v (removed %d), want %v", got, n, keep)
			}
		})
	}
}

// noise returns n pseudo-random bytes.
func noise(seed uint64, n int) []byte {
	b := make([]byte, n)
	fill(rand.New(rand.NewPCG(seed, 1)), b)
	return b
}

func testImportExport(t *testing.T, b Backend, o snapshot.Options) {
	ctx := context.Background()
	s := open(t, b, o)
	recs := Records(5, 100)
	m := Write(t, s, header(9, 99, t0), recs)
	var buf bytes.Buffer
	n, err := s.Export(ctx, m.ID, &buf)
	if err != nil || n != m.Size || int64(buf.Len()) != m.Size {
		t.Fatalf("Export = %d, %v; want %d bytes", n, err, m.Size)
	}
	if _, err := s.Import(ctx, bytes.NewReader(buf.Bytes())); !errors.Is(err, snapshot.ErrExists) {
		t.Errorf("Import into the same store: %v, want ErrExists", err)
	}
	s2 := open(t, b, snapshot.Options{})
	im, err := s2.Import(ctx, &buf)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	sameMeta(t, "Import", im, m)
	r, err := s2.Open(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadAll(r); err != nil || !Equal(got, recs) {
		t.Errorf("imported records: %d, %v", len(got), err)
	}
	// A stream written without a store imports too.
	var raw bytes.Buffer
	w, err := snapshot.NewWriter(&raw, header(9, 100, t0), o)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("a"), []byte("b"))
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Import(ctx, &raw); err != nil {
		t.Errorf("Import of a Writer's stream: %v", err)
	}
}

// small returns the encoding of a small snapshot with the options.
func small(t *testing.T, o snapshot.Options) ([]byte, []Record) {
	recs := Records(6, 8)[3:] // no big value: keep it small
	recs = append(recs, Record{nil, nil})
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, header(5, 55, t0), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), recs
}

// Mutations returns, for an encoding of n bytes, every truncation and a flip
// of every byte (or of a sample of 4096 positions for big encodings).
func Mutations(data []byte) []func([]byte) []byte {
	var out []func([]byte) []byte
	positions := make([]int, len(data))
	for i := range positions {
		positions[i] = i
	}
	if len(positions) > 4096 {
		rng := rand.New(rand.NewPCG(uint64(len(data)), 2))
		rng.Shuffle(len(positions), func(i, j int) { positions[i], positions[j] = positions[j], positions[i] })
		positions = positions[:4096]
	}
	for _, i := range positions {
		out = append(out, func(b []byte) []byte {
			b = bytes.Clone(b)
			b[i] ^= 1 << (i % 8)
			return b
		})
	}
	for n := 0; n < len(data); n++ {
		out = append(out, func(b []byte) []byte { return bytes.Clone(b[:n]) })
	}
	return out
}

func testImportCorrupt(t *testing.T, b Backend, o snapshot.Options) {
	ctx := context.Background()
	s := open(t, b, o)
	data, _ := small(t, o)
	for i, mut := range Mutations(data) {
		bad := mut(data)
		if _, err := s.Import(ctx, bytes.NewReader(bad)); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Fatalf("mutation %d: Import: %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := s.Import(ctx, bytes.NewReader(append(bytes.Clone(data), 0))); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("Import with trailing data: %v, want ErrCorrupt", err)
	}
	if ms, err := s.List(ctx); err != nil || len(ms) != 0 {
		t.Errorf("List after corrupt imports = %d, %v; want none", len(ms), err)
	}
}

func testStoredCorruption(t *testing.T, b Backend, o snapshot.Options) {
	if b.Damage == nil {
		t.Skip("backend cannot damage stored snapshots")
	}
	ctx := context.Background()
	s := open(t, b, o)
	data, recs := small(t, o)
	m, err := s.Import(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i, mut := range Mutations(data) {
		b.Damage(t, s, m.ID, func([]byte) []byte { return mut(data) })
		if _, err := s.Verify(ctx, m.ID); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Fatalf("mutation %d: Verify: %v, want ErrCorrupt", i, err)
		}
		r, err := s.Open(ctx, m.ID)
		if err == nil {
			var got []Record
			got, err = ReadAll(r)
			if !Prefix(got, recs) {
				t.Fatalf("mutation %d: read records that were never written", i)
			}
		}
		if !errors.Is(err, snapshot.ErrCorrupt) {
			t.Fatalf("mutation %d: reading: %v, want ErrCorrupt", i, err)
		}
		// List may show it (header and trailer intact) or leave it out,
		// but must not fail.
		if _, err := s.List(ctx); err != nil {
			t.Fatalf("mutation %d: List: %v", i, err)
		}
	}
	b.Damage(t, s, m.ID, func([]byte) []byte { return data })
	if _, err := s.Verify(ctx, m.ID); err != nil {
		t.Errorf("Verify after repair: %v", err)
	}
}

func testClosed(t *testing.T, b Backend, o snapshot.Options) {
	ctx := context.Background()
	s := b.Open(t, o)
	m := Write(t, s, header(1, 1, t0), Records(7, 3))
	c, err := s.Create(ctx, header(1, 2, t0))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("Commit after Close: %v, want ErrClosed", err)
	}
	checks := map[string]error{}
	_, checks["Create"] = s.Create(ctx, header(1, 3, t0))
	_, checks["List"] = s.List(ctx)
	_, checks["Latest"] = s.Latest(ctx, 1)
	_, checks["Open"] = s.Open(ctx, m.ID)
	_, checks["Verify"] = s.Verify(ctx, m.ID)
	checks["Delete"] = s.Delete(ctx, m.ID)
	_, checks["Cleanup"] = s.Cleanup(ctx, snapshot.Retention{})
	_, checks["Import"] = s.Import(ctx, bytes.NewReader(nil))
	_, checks["Export"] = s.Export(ctx, m.ID, io.Discard)
	checks["Close"] = s.Close()
	for name, err := range checks {
		if !errors.Is(err, snapshot.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func testConcurrent(t *testing.T, b Backend, o snapshot.Options) {
	ctx := context.Background()
	o.MaxSnapshots = 100
	s := open(t, b, o)
	recs := Records(8, 30)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 4 {
		wg.Go(func() {
			for i := range 5 {
				m, err := write(s, header(uint64(g), uint64(i+1), t0), recs)
				if err != nil {
					errs <- err
					return
				}
				r, err := s.Open(ctx, m.ID)
				if err != nil {
					errs <- err
					return
				}
				if got, err := ReadAll(r); err != nil || !Equal(got, recs) {
					errs <- fmt.Errorf("shard %d: %d records, %v", g, len(got), err)
				}
				if _, err := s.List(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ms, err := s.List(ctx); err != nil || len(ms) != 20 {
		t.Errorf("List = %d, %v; want 20", len(ms), err)
	}
}
