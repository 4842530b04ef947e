package snapshot_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/odgm-go/odgm/internal/memstat"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// Streaming a large snapshot through Writer → pipe → Reader grows peak RSS
// by less than 64 MiB: nothing buffers the whole snapshot. 256 MiB of
// records per codec by default (128 MiB under -race), ODGM_LONG=1 streams
// 1 GiB, ODGM_FLAT_MIB=n streams n MiB.
func TestMemoryStaysFlat(t *testing.T) {
	total := int64(256 << 20)
	if raceEnabled {
		total = 128 << 20
	}
	if s := os.Getenv("ODGM_FLAT_MIB"); s != "" {
		n, _ := strconv.Atoi(s)
		total = int64(n) << 20
	}
	if os.Getenv("ODGM_LONG") == "1" {
		total = 1 << 30
	}
	if err := memstat.ResetPeak(); errors.Is(err, memstat.ErrUnsupported) {
		t.Skip(err)
	}
	for _, c := range []snapshot.Codec{snapshot.CodecZstd, snapshot.CodecS2} {
		t.Run(string(c), func(t *testing.T) {
			// Warm up: the first codec instances and, under -race, their
			// shadow memory are a fixed cost, not growth with size.
			streamBig(t, c, 16<<20)
			runtime.GC()
			debug.FreeOSMemory()
			if err := memstat.ResetPeak(); err != nil {
				t.Fatal(err)
			}
			base, err := memstat.RSS()
			if err != nil {
				t.Fatal(err)
			}
			raw := streamBig(t, c, total)
			peak, err := memstat.PeakRSS()
			if err != nil {
				t.Fatal(err)
			}
			grew := peak - base
			t.Logf("%s: %d MiB of records, peak RSS grew %.1f MiB", c, raw>>20, float64(grew)/(1<<20))
			if grew > 64<<20 {
				t.Errorf("peak RSS grew %d MiB streaming %d MiB", grew>>20, total>>20)
			}
		})
	}
}

// streamBig streams total bytes of records through Writer → pipe → Reader
// and returns the record bytes read.
func streamBig(t *testing.T, c snapshot.Codec, total int64) int64 {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- writeBig(pw, c, total) }()
	defer func() {
		pr.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}()
	r, err := snapshot.NewReader(pr, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var raw int64
	for {
		k, v, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw += int64(len(k) + len(v))
	}
	if raw < total {
		t.Fatalf("read %d bytes of records, wrote at least %d", raw, total)
	}
	return raw
}

// writeBig writes object-like records of about 1 KiB until total bytes.
func writeBig(pw *io.PipeWriter, c snapshot.Codec, total int64) error {
	w, err := snapshot.NewWriter(pw, snapshot.Header{ShardID: 1}, snapshot.Options{Compression: c})
	if err != nil {
		pw.CloseWithError(err)
		return err
	}
	val := make([]byte, 0, 2048)
	var key []byte
	var written int64
	for i := 0; written < total; i++ {
		key = fmt.Appendf(key[:0], "o/%d/%08d/e/state", i%7, i)
		val = val[:0]
		for j := 0; len(val) < 1000; j++ {
			val = append(val, `{"field":"`...)
			val = strconv.AppendInt(val, int64(i*31+j), 10)
			val = append(val, `","n":`...)
			val = strconv.AppendInt(val, int64(j^i), 16)
			val = append(val, "},"...)
		}
		if err := w.Write(key, val); err != nil {
			pw.CloseWithError(err)
			return err
		}
		written += int64(len(key) + len(val))
	}
	_, err = w.Close()
	pw.CloseWithError(err)
	return err
}
