package appdata_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/odgm-go/odgm/internal/leakcheck"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/appdata/appdatatest"
)

// TestMain fails the run if goroutines are left behind (after a grace
// period: buntdb's background goroutine returns at its next tick after Close).
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestConformanceBuntDB(t *testing.T) {
	appdatatest.Run(t, appdatatest.Backend{
		Name:    appdata.BackendBuntDB,
		Durable: true,
		Open: func(dir string, opts appdata.Options) (appdata.Store, error) {
			return appdata.Open(appdata.BackendBuntDB, filepath.Join(dir, "app.db"), opts)
		},
	})
}

func TestConformanceMemory(t *testing.T) {
	appdatatest.Run(t, appdatatest.Backend{
		Name: appdata.BackendMemory,
		Open: func(dir string, opts appdata.Options) (appdata.Store, error) {
			return appdata.Open(appdata.BackendMemory, "", opts)
		},
	})
}

func TestOpenUnknownBackend(t *testing.T) {
	_, err := appdata.Open("rocks", t.TempDir(), appdata.Options{})
	if !errors.Is(err, appdata.ErrInvalidOptions) {
		t.Fatalf("err = %v, want ErrInvalidOptions", err)
	}
	_, err = appdata.Open(appdata.BackendBuntDB, "", appdata.Options{})
	if !errors.Is(err, appdata.ErrInvalidOptions) {
		t.Fatalf("empty path: err = %v, want ErrInvalidOptions", err)
	}
}

func TestOpenDirectoryIsAnError(t *testing.T) {
	if s, err := appdata.Open(appdata.BackendBuntDB, t.TempDir(), appdata.Options{}); err == nil {
		s.Close()
		t.Fatal("opened a directory as a data file")
	}
}

// TestOpenCorruptFile writes malformed files, some of which make buntdb
// itself panic or allocate without bound, and expects ErrCorrupt from Open.
func TestOpenCorruptFile(t *testing.T) {
	valid := "*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n"
	cases := map[string]string{
		"garbage":                 "this is not a buntdb file\n\x00\x01\x02",
		"garbage without newline": "garbage", // buntdb: silently truncated to nothing
		"random binary":           "\x8f\x01\xfe*3\r\n\xff",
		"short command name":      "*2\r\n$1\r\ns\r\n$1\r\nb\r\n", // buntdb: index out of range
		"empty command name":      "*1\r\n$0\r\n\r\n",
		"overflowing length":      "*1\r\n$99999999999999999999999\r\n",
		"unknown command":         "*2\r\n$4\r\nincr\r\n$1\r\na\r\n",
		"wrong arity":             "*2\r\n$3\r\nset\r\n$1\r\na\r\n",
		"missing CRLF after data": "*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1XY" + valid,
		"zero byte mid-file":      valid + "*3\r\n$3\r\nset\r\n\x00\x00" + valid,
		"bad count":               "*x\r\n",
		"bad TTL":                 "*5\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n$2\r\nex\r\n$2\r\nzz\r\n",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.db")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened a corrupt file")
			}
			if !errors.Is(err, appdata.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			// The file is left as it was, for an operator to look at.
			if got, _ := os.ReadFile(path); string(got) != content {
				t.Fatal("Open changed a corrupt file")
			}
		})
	}
}

// TestOpenTornTail cuts the file inside its last record, as a crash during a
// write does, or pads it with zeros: Open keeps the earlier records.
func TestOpenTornTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	s, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put([]byte("a"), []byte("first")); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	good := st.FileSize
	if err := s.Put([]byte("b"), []byte("second value")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tails := map[string][]byte{
		"cut in the data":         full[:len(full)-3],
		"cut in a length":         full[:good+6],
		"cut after the first '*'": full[:good+1],
		"zero padded":             append(append([]byte{}, full[:len(full)-5]...), make([]byte, 4096)...),
		"zeros after a record":    append(append([]byte{}, full[:good]...), make([]byte, 100)...),
	}
	for name, content := range tails {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			if v, err := s.Get([]byte("a")); err != nil || string(v) != "first" {
				t.Fatalf("Get(a) = %q, %v", v, err)
			}
			if _, err := s.Get([]byte("b")); !errors.Is(err, appdata.ErrNotFound) {
				t.Fatalf("Get(b) = %v, want ErrNotFound (torn record)", err)
			}
			// New writes land after the last good record and survive.
			if err := s.Put([]byte("c"), []byte("third")); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s2.Close()
			if v, err := s2.Get([]byte("c")); err != nil || string(v) != "third" {
				t.Fatalf("Get(c) after reopen = %q, %v", v, err)
			}
		})
	}
}

// TestSyncPolicies opens the file backend under each policy and checks a
// write survives Close.
func TestSyncPolicies(t *testing.T) {
	for _, p := range []appdata.SyncPolicy{appdata.SyncAlways, appdata.SyncEverySecond, appdata.SyncNever} {
		t.Run(string(p), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.db")
			opts := appdata.Options{SyncPolicy: p, AutoShrinkMinSizeMB: 1, AutoShrinkPercentage: 50}
			s, err := appdata.Open(appdata.BackendBuntDB, path, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put([]byte("k"), bytes.Repeat([]byte("v"), 1000)); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() < 1000 {
				t.Fatalf("file after Sync: %v, %v", fi, err)
			}
			s.Close()
			s, err = appdata.Open(appdata.BackendBuntDB, path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if v, err := s.Get([]byte("k")); err != nil || len(v) != 1000 {
				t.Fatalf("after reopen: %d bytes, %v", len(v), err)
			}
		})
	}
}

// TestOpenHugeLength: a record claiming more bytes than the file holds is a
// torn tail (buntdb would try to allocate them all and die).
func TestOpenHugeLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	valid := "*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n"
	if err := os.WriteFile(path, []byte(valid+"*3\r\n$3\r\nset\r\n$99999999999999\r\nx\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("Get(a) = %q, %v", v, err)
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(len(valid)) {
		t.Fatalf("file is %d bytes, want the torn tail cut at %d", fi.Size(), len(valid))
	}
}

// TestOpenTwice: one process may not open one data file twice (buntdb would
// interleave two logs in it); after Close it may.
func TestOpenTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	s, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appdata.Open(appdata.BackendBuntDB, filepath.Join(filepath.Dir(path), ".", "app.db"), appdata.Options{}); !errors.Is(err, appdata.ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

// TestViewCannotWrite: a ReadTx type-asserted to a WriteTx still cannot write.
func TestViewCannotWrite(t *testing.T) {
	s, err := appdata.Open(appdata.BackendMemory, "", appdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(func(tx appdata.ReadTx) error {
		w, ok := tx.(appdata.WriteTx)
		if !ok {
			return nil
		}
		return w.Put([]byte("k"), []byte("v"))
	})
	if err == nil {
		t.Fatal("a write through View succeeded")
	}
	if _, err := s.Get([]byte("k")); !errors.Is(err, appdata.ErrNotFound) {
		t.Fatalf("Get after the refused write: %v", err)
	}
}

// TestAutoShrink lets buntdb rewrite the file in the background (the options
// reach its config), then checks Sync, Close and reopen still see all data:
// the shrink swaps the file under the store.
func TestAutoShrink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	opts := appdata.Options{SyncPolicy: appdata.SyncNever, AutoShrinkMinSizeMB: 1, AutoShrinkPercentage: 10}
	s, err := appdata.Open(appdata.BackendBuntDB, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := bytes.Repeat([]byte("v"), 1<<20)
	for i := range 4 {
		big[0] = byte('a' + i)
		if err := s.Put([]byte("big"), big); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := s.Stats()
	grown := st.FileSize
	deadline := time.Now().Add(5 * time.Second)
	for st.FileSize >= grown/2 {
		if time.Now().After(deadline) {
			t.Fatalf("file still %d bytes (was %d): no shrink", st.FileSize, grown)
		}
		time.Sleep(100 * time.Millisecond)
		st, _ = s.Stats()
	}
	if err := s.Put([]byte("after"), []byte("shrink")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = appdata.Open(appdata.BackendBuntDB, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get([]byte("big")); err != nil || v[0] != 'd' || len(v) != 1<<20 {
		t.Fatalf("big after shrink and reopen: %d bytes, %v", len(v), err)
	}
	if v, err := s.Get([]byte("after")); err != nil || string(v) != "shrink" {
		t.Fatalf("after = %q, %v", v, err)
	}
}

// TestOpenMutatedFiles damages a valid file at random (flipped bytes, cuts,
// insertions): Open must either succeed or return ErrCorrupt, never panic, and
// what it opens must be readable.
func TestOpenMutatedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	s, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := s.Put(fmt.Appendf(nil, "key\x00%d", i), bytes.Repeat([]byte{byte(i), '\r', '\n'}, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete([]byte("key\x003")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	opened, corrupt := 0, 0
	for range 300 {
		b := append([]byte{}, orig...)
		for range 1 + rng.IntN(3) {
			switch i := rng.IntN(len(b)); rng.IntN(4) {
			case 0:
				b[i] = byte(rng.IntN(256))
			case 1:
				b[i] = "*$\r\n0123456789"[rng.IntN(14)]
			case 2:
				b = b[:i]
			default:
				b = append(b[:i], append([]byte{byte(rng.IntN(256))}, b[i:]...)...)
			}
			if len(b) == 0 {
				b = append(b, '*')
			}
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{})
		if err != nil {
			if !errors.Is(err, appdata.ErrCorrupt) {
				t.Fatalf("content %q: err %v, want nil or ErrCorrupt", b, err)
			}
			corrupt++
			continue
		}
		opened++
		if _, _, err := s.ScanRange(nil, nil, 0); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	t.Logf("%d opened, %d refused as corrupt", opened, corrupt)
}
