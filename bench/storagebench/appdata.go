package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/odgm-go/odgm/bench/report"
	"github.com/odgm-go/odgm/storage/appdata"
)

// The appdata suite measures the application-data layer: point reads and
// writes, 100-operation write transactions, range scans, and an indexed range
// query against a full scan with a filter, on the buntdb file backend and the
// memory backend. Each figure is also given as a ratio against a baseline
// measured in the same run.

func init() { suites["appdata"] = appdataSuite }

// appdataPad makes values about 100 bytes long.
const appdataPad = "................................................................................................"

// appdataFigures are one backend's results.
type appdataFigures struct {
	load, get, put, tx, scanMBps float64
	indexed, scanned             time.Duration // one query each way
	matches                      int
}

func appdataSuite(ctx context.Context, o options) (result, error) {
	objects := 1_000_000
	dur := 2 * time.Second
	if o.Quick {
		objects, dur = 50_000, 300*time.Millisecond
	}
	never, err := appdataRun(ctx, o, "buntdb (never)", appdata.BackendBuntDB, filepath.Join(o.Dir, "never.db"), appdata.SyncNever, objects, dur)
	if err != nil {
		return result{}, err
	}
	mem, err := appdataRun(ctx, o, "memory", appdata.BackendMemory, "", "", objects, dur)
	if err != nil {
		return result{}, err
	}
	alwaysPut, err := appdataPutAlways(ctx, filepath.Join(o.Dir, "always.db"), dur)
	if err != nil {
		return result{}, err
	}

	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return report.Float(a/b) + "×"
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	t := &report.Table{
		Title:   fmt.Sprintf("appdata: %d objects of ~%d bytes, one goroutine", objects, 12+len(appdataPad)+8),
		Columns: []string{"figure", "buntdb (never)", "buntdb (always)", "memory", "buntdb never ÷ memory"},
	}
	t.Add("load, objects/s (1000 per tx)", never.load, "-", mem.load, ratio(never.load, mem.load))
	t.Add("point get/s", never.get, "-", mem.get, ratio(never.get, mem.get))
	t.Add("point put/s", never.put, alwaysPut, mem.put, ratio(never.put, mem.put))
	t.Add("100-op write tx/s", never.tx, "-", mem.tx, ratio(never.tx, mem.tx))
	t.Add("ScanRange MB/s (pages of 1000)", never.scanMBps, "-", mem.scanMBps, ratio(never.scanMBps, mem.scanMBps))
	t.Add(fmt.Sprintf("indexed range query, ms, median (%d matches)", never.matches), ms(never.indexed), "-", ms(mem.indexed), ratio(ms(never.indexed), ms(mem.indexed)))
	t.Add("full scan + filter, ms, median (same query)", ms(never.scanned), "-", ms(mem.scanned), ratio(ms(never.scanned), ms(mem.scanned)))
	t.Add("index speed-up over scan (target ≥ 100×)", ratio(ms(never.scanned), ms(never.indexed)), "-", ratio(ms(mem.scanned), ms(mem.indexed)), "-")
	t.Add("put/s always vs never", "-", ratio(alwaysPut, never.put), "-", "-")

	charts := map[string]*report.Chart{
		"appdata-vs-memory.png": {
			Title:  "appdata: buntdb file backend relative to memory (memory = 1)",
			YLabel: "ratio",
			Groups: []string{"get/s", "put/s", "100-op tx/s", "scan MB/s"},
			Series: []report.Series{
				{Name: "buntdb never", Values: []float64{never.get / mem.get, never.put / mem.put, never.tx / mem.tx, never.scanMBps / mem.scanMBps}},
				{Name: "buntdb always", Values: []float64{0, alwaysPut / mem.put, 0, 0}},
			},
		},
		"appdata-index-speedup.png": {
			Title:  fmt.Sprintf("appdata: indexed range query vs scan + filter, %d objects", objects),
			YLabel: "speed-up (×)",
			Groups: []string{"buntdb (never)", "memory"},
			Series: []report.Series{{Name: "scan time / index time", Values: []float64{
				float64(never.scanned) / float64(never.indexed), float64(mem.scanned) / float64(mem.indexed)}}},
		},
	}
	return result{Tables: []*report.Table{t}, Charts: charts}, nil
}

func appdataKey(i int) []byte { return fmt.Appendf(nil, "obj/%08d", i) }

// appdataValue starts with a zero-padded score, so a string index orders
// values by score.
func appdataValue(score int) []byte { return fmt.Appendf(nil, "%08d|%s", score, appdataPad) }

// appdataLoop calls op until d has passed and returns calls per second.
func appdataLoop(ctx context.Context, d time.Duration, op func(i int) error) (float64, error) {
	start := time.Now()
	n := 0
	for ; ; n++ {
		if n%64 == 0 {
			if el := time.Since(start); el >= d {
				return float64(n) / el.Seconds(), nil
			}
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		if err := op(n); err != nil {
			return 0, err
		}
	}
}

func appdataRun(ctx context.Context, o options, name, backend, path string, policy appdata.SyncPolicy, objects int, dur time.Duration) (f appdataFigures, err error) {
	s, err := appdata.Open(backend, path, appdata.Options{
		SyncPolicy: policy,
		Indexes:    []appdata.IndexSpec{{Name: "score", Pattern: "obj/*", Type: appdata.IndexString}},
	})
	if err != nil {
		return f, err
	}
	defer func() {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]int, objects)

	// Load.
	bar := o.progress("appdata: loading "+name, int64(objects))
	start := time.Now()
	for i := 0; i < objects; i += 1000 {
		if err := ctx.Err(); err != nil {
			return f, err
		}
		err := s.Update(func(tx appdata.WriteTx) error {
			for j := i; j < min(i+1000, objects); j++ {
				scores[j] = rng.IntN(objects)
				if err := tx.Put(appdataKey(j), appdataValue(scores[j])); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return f, err
		}
		_ = bar.Add(min(1000, objects-i))
	}
	f.load = float64(objects) / time.Since(start).Seconds()
	_ = bar.Finish()

	// Point reads and writes, on random existing objects.
	if f.get, err = appdataLoop(ctx, dur, func(int) error {
		_, err := s.Get(appdataKey(rng.IntN(objects)))
		return err
	}); err != nil {
		return f, err
	}
	if f.put, err = appdataLoop(ctx, dur, func(int) error {
		i := rng.IntN(objects)
		return s.Put(appdataKey(i), appdataValue(scores[i]))
	}); err != nil {
		return f, err
	}
	if f.tx, err = appdataLoop(ctx, dur, func(int) error {
		return s.Update(func(tx appdata.WriteTx) error {
			for range 100 {
				i := rng.IntN(objects)
				if err := tx.Put(appdataKey(i), appdataValue(scores[i])); err != nil {
					return err
				}
			}
			return nil
		})
	}); err != nil {
		return f, err
	}

	// Scan everything in pages.
	start = time.Now()
	var scanned int64
	var resume []byte
	for {
		items, next, err := s.ScanRange(resume, nil, 1000)
		if err != nil {
			return f, err
		}
		for _, it := range items {
			scanned += int64(len(it.Key) + len(it.Value))
		}
		if next == nil {
			break
		}
		resume = next
	}
	f.scanMBps = float64(scanned) / 1e6 / time.Since(start).Seconds()

	// A range query selecting 0.1 % of the objects: by the index, and by
	// a full scan with a filter. Both must find the same objects.
	width := max(objects/1000, 1)
	const queries, scans = 50, 3
	var idxTimes, scanTimes []time.Duration
	for q := range queries {
		low := rng.IntN(objects - width)
		lo, hi := appdataValue(low)[:8], appdataValue(low + width)[:8]
		start := time.Now()
		items, _, err := s.QueryIndex("score", appdata.QueryRange(lo, hi), 0, nil)
		if err != nil {
			return f, err
		}
		idxTimes = append(idxTimes, time.Since(start))
		f.matches += len(items)
		if q < scans {
			start := time.Now()
			n := 0
			err := s.View(func(tx appdata.ReadTx) error {
				return tx.Ascend(nil, nil, func(k, v []byte) (bool, error) {
					if string(v[:8]) >= string(lo) && string(v[:8]) < string(hi) {
						n++
					}
					return true, nil
				})
			})
			if err != nil {
				return f, err
			}
			scanTimes = append(scanTimes, time.Since(start))
			if n != len(items) {
				return f, fmt.Errorf("%s: index found %d objects, scan %d", name, len(items), n)
			}
		}
	}
	f.indexed = appdataMedian(idxTimes)
	f.scanned = appdataMedian(scanTimes)
	f.matches /= queries
	return f, nil
}

// appdataMedian is the median of ds: steadier than the mean on a shared
// machine.
func appdataMedian(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// appdataPutAlways measures single puts that each fsync.
func appdataPutAlways(ctx context.Context, path string, dur time.Duration) (float64, error) {
	s, err := appdata.Open(appdata.BackendBuntDB, path, appdata.Options{SyncPolicy: appdata.SyncAlways})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return appdataLoop(ctx, dur, func(i int) error {
		return s.Put(appdataKey(i%10000), appdataValue(i))
	})
}
