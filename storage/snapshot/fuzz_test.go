package snapshot_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/odgm-go/odgm/storage/snapshot"
	"github.com/odgm-go/odgm/storage/snapshot/snapshottest"
)

// FuzzReader feeds arbitrary bytes to the Reader: it must end with io.EOF or
// an error — ErrCorrupt for anything malformed — never panic, and never
// allocate more than the format's bounds. Seeded with valid snapshots of
// every codec and some damaged ones.
//
//	go test -fuzz=FuzzReader -fuzztime=5s ./storage/snapshot
func FuzzReader(f *testing.F) {
	recs := snapshottest.Records(21, 6)[3:]
	recs = append(recs, snapshottest.Record{Key: []byte("o/c/1/e/x"), Value: []byte(`{"a":1}`)})
	for _, c := range snapshottest.Codecs {
		var buf bytes.Buffer
		w, err := snapshot.NewWriter(&buf, snapshot.Header{ShardID: 1, Index: 2}, snapshot.Options{Compression: c})
		if err != nil {
			f.Fatal(err)
		}
		for _, r := range recs {
			w.Write(r.Key, r.Value)
		}
		if _, err := w.Close(); err != nil {
			f.Fatal(err)
		}
		data := buf.Bytes()
		f.Add(data)
		f.Add(data[:len(data)/2])
		flipped := bytes.Clone(data)
		flipped[len(flipped)/2] ^= 0x10
		f.Add(flipped)
	}
	f.Add([]byte{})
	f.Add([]byte("ODGMSNAP"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := snapshot.NewReader(bytes.NewReader(data), snapshot.Options{})
		if err != nil {
			if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrUnsupportedVersion) {
				t.Fatalf("NewReader: %v is neither ErrCorrupt nor ErrUnsupportedVersion", err)
			}
			return
		}
		defer r.Close()
		for {
			_, _, err := r.Next()
			if err == io.EOF {
				if m := r.Meta(); m.Size != int64(len(data)) {
					t.Fatalf("accepted %d bytes as a snapshot of %d", len(data), m.Size)
				}
				return
			}
			if err != nil {
				if !errors.Is(err, snapshot.ErrCorrupt) {
					t.Fatalf("Next: %v is not ErrCorrupt", err)
				}
				return
			}
		}
	})
}
