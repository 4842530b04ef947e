package snapshot_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/odgm-go/odgm/storage/snapshot"
	"github.com/odgm-go/odgm/storage/snapshot/snapshottest"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encode(t testing.TB, o snapshot.Options, h snapshot.Header, recs []snapshottest.Record) ([]byte, snapshot.Meta) {
	t.Helper()
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, h, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if err := w.Write(nil, nil); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if m.Size != int64(buf.Len()) {
		t.Errorf("Meta.Size = %d, encoded %d bytes", m.Size, buf.Len())
	}
	return buf.Bytes(), m
}

func decode(data []byte) ([]snapshottest.Record, snapshot.Meta, error) {
	r, err := snapshot.NewReader(bytes.NewReader(data), snapshot.Options{})
	if err != nil {
		return nil, snapshot.Meta{}, err
	}
	recs, err := snapshottest.ReadAll(r)
	return recs, r.Meta(), err
}

// Every codec, several zstd levels and concurrencies round-trip, and the
// reader's Meta matches the writer's.
func TestStreamRoundTrip(t *testing.T) {
	recs := snapshottest.Records(11, 300)
	h := snapshot.Header{ShardID: 1, ReplicaID: 2, Index: 3, Term: 4, Created: time.Unix(1700000000, 5).UTC()}
	for _, o := range []snapshot.Options{
		{Compression: snapshot.CodecNone},
		{Compression: snapshot.CodecS2},
		{Compression: snapshot.CodecS2, Concurrency: 3},
		{Compression: snapshot.CodecZstd, CompressionLevel: 1},
		{Compression: snapshot.CodecZstd, CompressionLevel: 3, Concurrency: 3},
		{Compression: snapshot.CodecZstd, CompressionLevel: 9},
		{Compression: snapshot.CodecZstd, CompressionLevel: 22},
	} {
		data, wm := encode(t, o, h, recs)
		got, rm, err := decode(data)
		if err != nil || !snapshottest.Equal(got, recs) {
			t.Fatalf("%+v: %d records, %v", o, len(got), err)
		}
		if !rm.Created.Equal(wm.Created) || rm.Codec != o.Compression {
			t.Errorf("%+v: read header %+v", o, rm.Header)
		}
		rm.Created, wm.Created = time.Time{}, time.Time{}
		if rm != wm {
			t.Errorf("%+v: reader Meta %+v, writer Meta %+v", o, rm, wm)
		}
	}
}

// Flipping any bit of any byte, or truncating at any length, of a small
// snapshot of each codec is reported as ErrCorrupt, without panicking and
// without returning a record that was not written.
func TestStreamCorruptionEverywhere(t *testing.T) {
	recs := snapshottest.Records(12, 12)[3:]
	for _, c := range snapshottest.Codecs {
		data, _ := encode(t, snapshot.Options{Compression: c}, snapshot.Header{ShardID: 9}, recs)
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			for i := range data {
				bad := bytes.Clone(data)
				bad[i] ^= flip
				got, _, err := decode(bad)
				if !errors.Is(err, snapshot.ErrCorrupt) {
					t.Fatalf("%s: byte %d ^ %#x: %v, want ErrCorrupt", c, i, flip, err)
				}
				if !snapshottest.Prefix(got, recs) {
					t.Fatalf("%s: byte %d ^ %#x: returned records never written", c, i, flip)
				}
			}
		}
		for n := range len(data) {
			got, _, err := decode(data[:n])
			if !errors.Is(err, snapshot.ErrCorrupt) || !snapshottest.Prefix(got, recs) {
				t.Fatalf("%s: truncated to %d: %v (%d records)", c, n, err, len(got))
			}
		}
		if _, _, err := decode(append(bytes.Clone(data), 'x')); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Errorf("%s: trailing byte: %v, want ErrCorrupt", c, err)
		}
	}
}

// A well-formed prefix of a later format version is refused as such.
func TestStreamUnsupportedVersion(t *testing.T) {
	data, _ := encode(t, snapshot.Options{}, snapshot.Header{}, nil)
	bad := bytes.Clone(data)
	binary.LittleEndian.PutUint32(bad[8:], 2)
	hlen := binary.LittleEndian.Uint32(bad[12:])
	binary.LittleEndian.PutUint32(bad[16:], crc32.Checksum(append(bytes.Clone(bad[8:16]), bad[20:20+hlen]...), castagnoli))
	_, err := snapshot.NewReader(bytes.NewReader(bad), snapshot.Options{})
	if !errors.Is(err, snapshot.ErrUnsupportedVersion) {
		t.Fatalf("version 2: %v, want ErrUnsupportedVersion", err)
	}
}

// A damaged record length that passes the frame checks (forged here: the
// frame's CRC is recomputed) claims a 60 MiB value: the reader reports
// corruption without allocating anything like that.
func TestStreamForgedLengthAllocatesLittle(t *testing.T) {
	data, _ := encode(t, snapshot.Options{Compression: snapshot.CodecNone}, snapshot.Header{}, []snapshottest.Record{{Key: []byte("k"), Value: []byte("vvvv")}})
	hlen := binary.LittleEndian.Uint32(data[12:])
	f := 20 + int(hlen) // first frame: length, CRC, data
	n := binary.LittleEndian.Uint32(data[f:])
	rec := binary.AppendUvarint(binary.AppendUvarint(nil, 1), 60<<20)
	rec = append(rec, 'k', 'v')
	if int(n) != len(rec) {
		t.Fatalf("frame of %d bytes, expected %d", n, len(rec))
	}
	bad := bytes.Clone(data)
	copy(bad[f+8:], rec)
	sum := crc32.Update(crc32.Update(0, castagnoli, bad[f:f+4]), castagnoli, rec)
	binary.LittleEndian.PutUint32(bad[f+4:], sum)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := decode(bad)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("forged length: %v, want ErrCorrupt", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("allocated %d bytes for a forged length", grew)
	}
}

func TestReaderAfterEnd(t *testing.T) {
	data, _ := encode(t, snapshot.Options{}, snapshot.Header{}, []snapshottest.Record{{Key: []byte("a")}})
	r, err := snapshot.NewReader(bytes.NewReader(data), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next at end: %v, want io.EOF", err)
		}
	}
	if m := r.Meta(); m.Records != 1 {
		t.Errorf("Meta.Records = %d", m.Records)
	}
	r.Close()
	if _, _, err := r.Next(); err != io.EOF {
		t.Errorf("Next after Close at end: %v, want io.EOF", err)
	}

	r, _ = snapshot.NewReader(bytes.NewReader(data), snapshot.Options{})
	r.Close()
	if _, _, err := r.Next(); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
}

// A failing destination fails the Writer, and keeps failing it.
func TestWriterStickyError(t *testing.T) {
	fw := &failWriter{after: 100}
	w, err := snapshot.NewWriter(fw, snapshot.Header{}, snapshot.Options{Compression: snapshot.CodecNone})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i := 0; werr == nil && i < 1e6; i++ {
		werr = w.Write([]byte("key"), bytes.Repeat([]byte("v"), 1000))
	}
	if !errors.Is(werr, errDisk) {
		t.Fatalf("Write: %v, want errDisk", werr)
	}
	if err := w.Write(nil, nil); !errors.Is(err, errDisk) {
		t.Errorf("Write after failure: %v", err)
	}
	if _, err := w.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close after failure: %v", err)
	}
}

var errDisk = errors.New("disk on fire")

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errDisk
	}
	f.after--
	return len(p), nil
}
