package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/odgm-go/odgm/storage/snapshot"
	"github.com/odgm-go/odgm/storage/snapshot/snapshottest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func fileBackend() snapshottest.Backend {
	dirs := map[snapshot.Store]string{}
	return snapshottest.Backend{
		Name: snapshot.BackendCompressedFile,
		Open: func(t *testing.T, o snapshot.Options, more ...snapshot.OpenOption) snapshot.Store {
			dir := t.TempDir()
			s, err := snapshot.Open(snapshot.BackendCompressedFile, dir, o, more...)
			if err != nil {
				t.Fatal(err)
			}
			dirs[s] = dir
			return s
		},
		Damage: func(t *testing.T, s snapshot.Store, id string, mutate func([]byte) []byte) {
			p := filepath.Join(dirs[s], id+".snap")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, mutate(b), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func memBackend() snapshottest.Backend {
	return snapshottest.Backend{
		Name: snapshot.BackendMemory,
		Open: func(t *testing.T, o snapshot.Options, more ...snapshot.OpenOption) snapshot.Store {
			if o.MaxSnapshots == 0 {
				o.MaxSnapshots = 100
			}
			s, err := snapshot.Open(snapshot.BackendMemory, "", o, more...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

func TestConformanceCompressedFile(t *testing.T) { snapshottest.Run(t, fileBackend()) }
func TestConformanceMemory(t *testing.T)         { snapshottest.Run(t, memBackend()) }

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		backend, path string
		o             snapshot.Options
	}{
		{"nope", "", snapshot.Options{}},
		{snapshot.BackendCompressedFile, "", snapshot.Options{}},
		{snapshot.BackendMemory, "", snapshot.Options{Compression: "lz4"}},
		{snapshot.BackendMemory, "", snapshot.Options{CompressionLevel: 23}},
	} {
		if _, err := snapshot.Open(tc.backend, tc.path, tc.o); !errors.Is(err, snapshot.ErrInvalid) {
			t.Errorf("Open(%q, %q, %+v): %v, want ErrInvalid", tc.backend, tc.path, tc.o, err)
		}
	}
}

// A crash mid-write leaves a .tmp file: it is never listed, and the next
// Open removes it.
func TestFileStaleTempInvisibleAndCleaned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := snapshot.Open(snapshot.BackendCompressedFile, dir, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := snapshottest.Write(t, s, snapshot.Header{ShardID: 1, Index: 1}, snapshottest.Records(1, 10))
	c, err := s.Create(ctx, snapshot.Header{ShardID: 1, Index: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range snapshottest.Records(2, 100) {
		c.Write(r.Key, r.Value)
	}
	// "Crash": the creation is neither committed nor aborted.
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(tmps) != 1 {
		t.Fatalf("want one .tmp file during creation, have %v", tmps)
	}
	// A complete-looking snapshot under a .tmp name is not visible either.
	var buf bytes.Buffer
	if _, err := s.Export(ctx, done.ID, &buf); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "x.snap.tmp"), buf.Bytes(), 0o644)
	if ms, err := s.List(ctx); err != nil || len(ms) != 1 || ms[0].ID != done.ID {
		t.Fatalf("List during creation = %v, %v", ms, err)
	}
	s.Close()

	s, err = snapshot.Open(snapshot.BackendCompressedFile, dir, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Errorf("stale .tmp files after Open: %v", tmps)
	}
	if ms, err := s.List(ctx); err != nil || len(ms) != 1 || ms[0].ID != done.ID {
		t.Errorf("List after reopen = %v, %v", ms, err)
	}
	c.Abort() // the old creation's file is gone: Abort copes
}

// List reads headers rather than trusting names: a file with a damaged
// header, a renamed snapshot, or a stray name are left out (and logged);
// Verify reports them.
func TestFileListSkipsUnreadable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs bytes.Buffer
	s, err := snapshot.Open(snapshot.BackendCompressedFile, dir, snapshot.Options{}, snapshot.WithLogger(newLogger(&logs)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := snapshottest.Write(t, s, snapshot.Header{ShardID: 1, Index: 1}, snapshottest.Records(1, 5))
	bad := snapshottest.Write(t, s, snapshot.Header{ShardID: 1, Index: 2}, snapshottest.Records(1, 5))
	moved := snapshottest.Write(t, s, snapshot.Header{ShardID: 1, Index: 3}, snapshottest.Records(1, 5))
	p := func(id string) string { return filepath.Join(dir, id+".snap") }
	b, _ := os.ReadFile(p(bad.ID))
	b[20] ^= 0xff // first byte of the header
	os.WriteFile(p(bad.ID), b, 0o644)
	renamed := strings.Replace(moved.ID, "0000000000000003", "0000000000000009", 1)
	os.Rename(p(moved.ID), p(renamed))
	os.WriteFile(filepath.Join(dir, "notes.snap"), []byte("hello"), 0o644)

	ms, err := s.List(ctx)
	if err != nil || len(ms) != 1 || ms[0].ID != good.ID {
		t.Fatalf("List = %v, %v; want only %s", ms, err, good.ID)
	}
	for _, id := range []string{bad.ID, renamed} {
		if _, err := s.Verify(ctx, id); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Errorf("Verify(%s): %v, want ErrCorrupt", id, err)
		}
		if _, err := s.Open(ctx, id); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Errorf("Open(%s): %v, want ErrCorrupt", id, err)
		}
		if !strings.Contains(logs.String(), id) {
			t.Errorf("log does not name %s:\n%s", id, logs.String())
		}
	}
	if n, err := s.Cleanup(ctx, snapshot.Retention{Strategy: snapshot.KeepLatest, KeepCount: 1}); err != nil || n != 0 {
		t.Errorf("Cleanup = %d, %v; corrupt files are not counted or touched", n, err)
	}
}

func TestMemoryMaxSnapshotsEvictsOldest(t *testing.T) {
	ctx := context.Background()
	s, err := snapshot.Open(snapshot.BackendMemory, "", snapshot.Options{MaxSnapshots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []string
	for i := range 4 {
		ids = append(ids, snapshottest.Write(t, s, snapshot.Header{ShardID: 1, Index: uint64(10 - i)}, nil).ID)
	}
	ms, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.ID)
	}
	slices.Sort(got)
	want := []string{ids[3], ids[2]} // the two committed last, sorted
	if !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
}

// Create dates a header without a Created time with the store's clock.
func TestCreateFillsCreatedFromClock(t *testing.T) {
	at := time.Date(2030, 5, 6, 7, 8, 9, 10, time.UTC)
	for _, b := range []snapshottest.Backend{fileBackend(), memBackend()} {
		s := b.Open(t, snapshot.Options{}, snapshot.WithClock(func() time.Time { return at }))
		m := snapshottest.Write(t, s, snapshot.Header{ShardID: 1}, nil)
		if !m.Created.Equal(at) {
			t.Errorf("%s: Created = %v, want %v", b.Name, m.Created, at)
		}
		s.Close()
	}
}
