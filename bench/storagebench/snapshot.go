package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/odgm-go/odgm/bench/report"
	"github.com/odgm-go/odgm/internal/memstat"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// The snapshot suite measures the snapshot layer: creating a snapshot of
// object-like records through a compressed_file store (fsync included) and
// reading it back, per codec, against a baseline measured in the same run:
// the same record bytes written raw to a file with fsync, and read raw.
// Throughput counts raw record bytes (keys + values). Peak RSS growth is
// measured per phase from a reset peak.

func init() { suites["snapshot"] = snapshotSuite }

// snapshotCase is one codec configuration.
type snapshotCase struct {
	name        string
	codec       snapshot.Codec
	level       int
	concurrency int
}

var snapshotCases = []snapshotCase{
	{"none", snapshot.CodecNone, 0, 1},
	{"s2", snapshot.CodecS2, 0, 1},
	{"zstd-1", snapshot.CodecZstd, 1, 1},
	{"zstd-3", snapshot.CodecZstd, 3, 1},
	{"zstd-3 ×2", snapshot.CodecZstd, 3, 2}, // two compressing goroutines
}

// snapshotFigures are one configuration's results.
type snapshotFigures struct {
	createMBps, readMBps float64
	saved                float64 // percent of raw bytes saved
	createRSS, readRSS   float64 // MiB of peak RSS growth
}

func snapshotSuite(ctx context.Context, o options) (result, error) {
	total := int64(1 << 30)
	if o.Quick {
		total = 64 << 20
	}
	gen := newSnapshotGen()

	// The first pass over a fresh file system is slower (block allocation,
	// cold caches): run the baseline once untimed so it is not flattered.
	if _, err := snapshotBaseline(ctx, o, gen, total); err != nil {
		return result{}, err
	}
	base, err := snapshotBaseline(ctx, o, gen, total)
	if err != nil {
		return result{}, err
	}
	figs := make([]snapshotFigures, len(snapshotCases))
	for i, c := range snapshotCases {
		if figs[i], err = snapshotRun(ctx, o, gen, c, total); err != nil {
			return result{}, fmt.Errorf("%s: %w", c.name, err)
		}
	}

	t := &report.Table{
		Title: fmt.Sprintf("snapshot: %d MiB of object records (~%d B each), compressed_file, concurrency 1 unless ×2; targets: create ≥ 100 MB/s, read ≥ 200 MB/s, zstd saves ≥ 60 %%, RSS growth < 64 MiB",
			total>>20, gen.avg()),
		Columns: []string{"codec", "create MB/s", "÷ raw write", "read MB/s", "÷ raw read", "saved %", "create RSS MiB", "read RSS MiB"},
	}
	t.Add("raw file (baseline)", base.createMBps, "1×", base.readMBps, "1×", 0.0, base.createRSS, base.readRSS)
	var groups []string
	var create, read, saved []float64
	for i, c := range snapshotCases {
		f := figs[i]
		t.Add(c.name, f.createMBps, report.Float(f.createMBps/base.createMBps)+"×", f.readMBps,
			report.Float(f.readMBps/base.readMBps)+"×", f.saved, f.createRSS, f.readRSS)
		groups = append(groups, c.name)
		create = append(create, f.createMBps)
		read = append(read, f.readMBps)
		saved = append(saved, f.saved)
	}
	return result{
		Tables: []*report.Table{t},
		Charts: map[string]*report.Chart{
			"snapshot-throughput.png": {
				Title: fmt.Sprintf("snapshot %d MiB, MB/s (raw file: write %.0f, read %.0f)",
					total>>20, base.createMBps, base.readMBps),
				YLabel: "MB/s",
				Groups: groups,
				Series: []report.Series{{Name: "create", Values: create}, {Name: "read", Values: read}},
			},
			"snapshot-saved.png": {
				Title:  "snapshot: % of raw bytes saved",
				YLabel: "% saved",
				Groups: groups,
				Series: []report.Series{{Name: "saved", Values: saved}},
			},
		},
	}, nil
}

// snapshotRun creates, reads and deletes one snapshot of total raw bytes.
func snapshotRun(ctx context.Context, o options, gen *snapshotGen, c snapshotCase, total int64) (f snapshotFigures, err error) {
	dir := filepath.Join(o.Dir, fmt.Sprintf("snap-%s-%d", c.codec, c.concurrency))
	st, err := snapshot.Open(snapshot.BackendCompressedFile, dir, snapshot.Options{Compression: c.codec, CompressionLevel: c.level, Concurrency: c.concurrency})
	if err != nil {
		return f, err
	}
	defer st.Close()

	var m snapshot.Meta
	var written int64
	secs, rss, err := snapshotMeasure(func() error {
		cr, err := st.Create(ctx, snapshot.Header{ShardID: 1, ReplicaID: 1, Index: 1000, Term: 2, Created: time.Now()})
		if err != nil {
			return err
		}
		defer cr.Abort()
		if written, err = gen.each(ctx, o, "create "+c.name, total, cr.Write); err != nil {
			return err
		}
		m, err = cr.Commit()
		return err
	})
	if err != nil {
		return f, err
	}
	f.createMBps, f.createRSS = float64(written)/secs/1e6, rss
	f.saved = 100 * (1 - float64(m.Size)/float64(written))

	var raw int64
	secs, rss, err = snapshotMeasure(func() error {
		r, err := st.Open(ctx, m.ID)
		if err != nil {
			return err
		}
		defer r.Close()
		bar := o.progress("read "+c.name, total)
		defer bar.Close()
		var step int64
		for n := 0; ; n++ {
			k, v, err := r.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			raw += int64(len(k) + len(v))
			if step += int64(len(k) + len(v)); step >= 4<<20 {
				bar.Add64(step)
				step = 0
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
	})
	if err != nil {
		return f, err
	}
	if raw != written {
		return f, fmt.Errorf("read %d record bytes, wrote %d", raw, written)
	}
	f.readMBps, f.readRSS = float64(raw)/secs/1e6, rss
	return f, st.Delete(ctx, m.ID)
}

// snapshotBaseline writes the same records raw (key, value) to a file with a
// 256 KiB buffer and an fsync at the end, then reads the file back.
func snapshotBaseline(ctx context.Context, o options, gen *snapshotGen, total int64) (f snapshotFigures, err error) {
	path := filepath.Join(o.Dir, "raw.bin")
	var written int64
	secs, rss, err := snapshotMeasure(func() error {
		file, err := os.Create(path)
		if err != nil {
			return err
		}
		defer file.Close()
		bw := bufio.NewWriterSize(file, 256<<10)
		written, err = gen.each(ctx, o, "raw write", total, func(k, v []byte) error {
			bw.Write(k)
			_, err := bw.Write(v)
			return err
		})
		if err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := file.Sync(); err != nil {
			return err
		}
		return file.Close()
	})
	if err != nil {
		return f, err
	}
	f.createMBps, f.createRSS = float64(written)/secs/1e6, rss
	secs, rss, err = snapshotMeasure(func() error {
		file, err := os.Open(path)
		if err != nil {
			return err
		}
		defer file.Close()
		bar := o.progress("raw read", written)
		defer bar.Close()
		buf := make([]byte, 256<<10)
		for {
			n, err := file.Read(buf)
			bar.Add(n)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if err != nil {
		return f, err
	}
	f.readMBps, f.readRSS = float64(written)/secs/1e6, rss
	return f, os.Remove(path)
}

// snapshotMeasure runs fn and returns its duration in seconds and the growth
// of peak RSS over the RSS before it, in MiB (0 where not measurable).
func snapshotMeasure(fn func() error) (secs, rssMiB float64, err error) {
	runtime.GC()
	debug.FreeOSMemory()
	measurable := memstat.ResetPeak() == nil
	before, err := memstat.RSS()
	measurable = measurable && err == nil
	start := time.Now()
	if err := fn(); err != nil {
		return 0, 0, err
	}
	secs = time.Since(start).Seconds()
	if measurable {
		if peak, err := memstat.PeakRSS(); err == nil {
			rssMiB = float64(peak-before) / (1 << 20)
		}
	}
	return secs, rssMiB, nil
}

// snapshotGen makes object-like records: keys o/<class>/<id>/e/<entry>,
// JSON-ish values with the field names, vocabulary and shapes real entries
// repeat, and varying numbers and ids. Values come from a pregenerated pool
// of 32 MiB (far larger than any codec window, so cycling through it does not
// flatter the ratio); keys are made as records are written, so every key is
// unique.
type snapshotGen struct {
	pool    []byte
	offsets []int // value i is pool[offsets[i]:offsets[i+1]]
}

var (
	snapshotClasses = []string{"orders", "customers", "carts", "inventory", "sessions", "invoices", "shipments"}
	snapshotEntries = []string{"state", "profile", "items", "history", "meta"}
	snapshotWords   = []string{"pending", "shipped", "delivered", "cancelled", "express", "standard", "gift", "priority",
		"returned", "paid", "refunded", "eu-west", "us-east", "ap-south", "warehouse", "retail", "wholesale", "online"}
)

func newSnapshotGen() *snapshotGen {
	g := &snapshotGen{pool: make([]byte, 0, 33<<20)}
	x := uint64(0x9e3779b97f4a7c15)
	rnd := func(n int) int { // xorshift64*: deterministic and cheap
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		return int((x * 2685821657736338717) >> 33 % uint64(n))
	}
	word := func() string { return snapshotWords[rnd(len(snapshotWords))] }
	for i := 0; len(g.pool) < 32<<20; i++ {
		g.offsets = append(g.offsets, len(g.pool))
		b := g.pool
		b = append(b, `{"id":"`...)
		b = strconv.AppendInt(b, int64(100000+rnd(900000)), 36)
		b = append(b, `","version":`...)
		b = strconv.AppendInt(b, int64(1+rnd(50)), 10)
		b = append(b, `,"status":"`...)
		b = append(b, word()...)
		b = append(b, `","created":"2026-`...)
		b = fmt.Appendf(b, "%02d-%02dT%02d:%02d:%02dZ", 1+rnd(12), 1+rnd(28), rnd(24), rnd(60), rnd(60))
		b = append(b, `","items":[`...)
		for j := range 1 + rnd(6) {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"sku":"SKU-`...)
			b = strconv.AppendInt(b, int64(rnd(5000)), 10)
			b = append(b, `","qty":`...)
			b = strconv.AppendInt(b, int64(1+rnd(9)), 10)
			b = append(b, `,"price":`...)
			b = strconv.AppendInt(b, int64(rnd(20000)), 10)
			b = append(b, `,"currency":"EUR","tags":["`...)
			b = append(b, word()...)
			b = append(b, `","`...)
			b = append(b, word()...)
			b = append(b, `"]}`...)
		}
		b = append(b, `],"shipping":{"method":"`...)
		b = append(b, word()...)
		b = append(b, `","region":"`...)
		b = append(b, word()...)
		b = append(b, `","address":{"street":"`...)
		b = strconv.AppendInt(b, int64(1+rnd(300)), 10)
		b = append(b, ` Market Street","city":"Springfield","postcode":"`...)
		b = strconv.AppendInt(b, int64(10000+rnd(89999)), 10)
		b = append(b, `"}},"note":"`...)
		for range rnd(4) {
			b = append(b, word()...)
			b = append(b, ' ')
		}
		b = append(b, `"}`...)
		g.pool = b
	}
	g.offsets = append(g.offsets, len(g.pool))
	return g
}

// avg is the average record size in bytes.
func (g *snapshotGen) avg() int { return len(g.pool)/(len(g.offsets)-1) + 24 }

// each calls fn with records until total key and value bytes have been
// given, with a progress bar, and returns the bytes given. fn may not keep
// the slices.
func (g *snapshotGen) each(ctx context.Context, o options, desc string, total int64, fn func(k, v []byte) error) (int64, error) {
	bar := o.progress(desc, total)
	defer bar.Close()
	n := len(g.offsets) - 1
	key := make([]byte, 0, 64)
	var done, step int64
	for i := 0; done < total; i++ {
		key = append(key[:0], "o/"...)
		key = append(key, snapshotClasses[i%len(snapshotClasses)]...)
		key = append(key, '/')
		key = strconv.AppendInt(key, int64(i), 36)
		key = append(key, "/e/"...)
		key = append(key, snapshotEntries[i%len(snapshotEntries)]...)
		v := g.pool[g.offsets[i%n]:g.offsets[i%n+1]]
		if err := fn(key, v); err != nil {
			return done, err
		}
		sz := int64(len(key) + len(v))
		done += sz
		if step += sz; step >= 4<<20 {
			bar.Add64(step)
			step = 0
			if err := ctx.Err(); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}
