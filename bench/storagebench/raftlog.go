package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/lni/dragonboat/v4/logger"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"golang.org/x/sys/unix"

	"github.com/odgm-go/odgm/bench/report"
	"github.com/odgm-go/odgm/internal/memstat"
	"github.com/odgm-go/odgm/storage/raftlog"
)

// The raftlog suite measures the Raft log layer through dragonboat's
// ILogDB interface, as dragonboat drives it:
//
//   - append throughput: SaveRaftState of one shard's batch of 1, 16 or
//     256 entries of 128 B or 1 KiB with sync_policy always, after an
//     untimed warm-up of 40 MiB (see warmUp) and with the log compacted
//     after every slice (untimed, as after a Raft snapshot), as entries/s
//     and as a ratio to the physical limit measured in the same run: the
//     same entries' bytes (their protobuf encoding: index, term and type
//     as well as the command, which any Raft log must keep) written raw
//     with one fdatasync per batch, the faster of two ways: appended to a
//     file, or written over a zero-filled, fsynced one (no size change
//     for the fdatasync to journal: what append_log's preallocated
//     segments and pebble's recycled WAL files get);
//   - memory: Go heap and RSS growth after 1,000,000 uncompacted 128 B
//     entries, each backend in a child process of its own so that one
//     backend's memory does not count against the next;
//   - compaction: in the same child, the time to compact all those entries
//     (RemoveEntriesTo then CompactEntriesTo) and the disk it gave back.

func init() {
	suites["raftlog"] = raftlogSuite
	if dir := os.Getenv(raftlogChildEnv); dir != "" {
		// A child started by raftlogMemory: measure one backend, print
		// the figures as JSON and exit before main runs.
		os.Exit(raftlogChild(dir))
	}
}

const raftlogChildEnv = "ODGM_RAFTLOG_BENCH_CHILD"

var raftlogBackends = []string{raftlog.BackendAppendLog, raftlog.BackendKV, raftlog.BackendPebble, raftlog.BackendTan, raftlog.BackendMemory}

func raftlogQuiet() {
	for _, name := range []string{"config", "dragonboat", "logdb", "pebblekv", "tan", "raft", "rsm", "transport", "settings", "server"} {
		logger.GetLogger(name).SetLevel(logger.ERROR)
	}
}

func raftlogSuite(ctx context.Context, o options) (result, error) {
	raftlogQuiet()
	var res result
	tput, chart, err := raftlogThroughput(ctx, o)
	if err != nil {
		return res, err
	}
	mem, comp, err := raftlogMemory(ctx, o)
	if err != nil {
		return res, err
	}
	res.Tables = []*report.Table{tput, mem, comp}
	res.Charts = map[string]*report.Chart{"raftlog_throughput.png": chart}
	return res, nil
}

// raftlogEntries makes n entries from index first with cmds of size bytes.
func raftlogEntries(r *rand.Rand, first uint64, n, size int) []pb.Entry {
	es := make([]pb.Entry, n)
	for i := range es {
		cmd := make([]byte, size)
		for j := 0; j < size; j += 8 {
			v := r.Uint64()
			for k := 0; k < 8 && j+k < size; k++ {
				cmd[j+k] = byte(v >> (8 * k))
			}
		}
		es[i] = pb.Entry{Index: first + uint64(i), Term: 1, Type: pb.ApplicationEntry, Cmd: cmd}
	}
	return es
}

// raftlogOpts are the options every backend is measured with.
func raftlogOpts(sync raftlog.SyncPolicy) raftlog.Options {
	return raftlog.Options{SyncPolicy: sync, MaxEntries: 1 << 30, MemoryProfile: raftlog.ProfileTiny}
}

type raftlogCell struct {
	size, batch int
}

func raftlogThroughput(ctx context.Context, o options) (*report.Table, *report.Chart, error) {
	cells := []raftlogCell{{128, 1}, {128, 16}, {128, 256}, {1024, 1}, {1024, 16}, {1024, 256}}
	// The disk is shared: contenders run in turns, slice after slice, and
	// each keeps its best slice, so that a burst of someone else's I/O
	// does not decide a ratio.
	slice, rounds, maxEntries := 400*time.Millisecond, 5, 50_000
	if o.Quick {
		slice, rounds, maxEntries = 100*time.Millisecond, 3, 20_000
	}
	t := &report.Table{
		Title:   fmt.Sprintf("raftlog: appends through ILogDB.SaveRaftState, sync_policy always, one shard (entries/s, best of %d interleaved %v slices; in brackets, ratio to the faster raw way of writing the encoded entries with one fdatasync per batch: appending to a file, or overwriting a zero-filled one)", rounds, slice),
		Columns: append([]string{"entry", "batch", "raw append", "raw overwrite"}, raftlogBackends...),
	}
	chart := &report.Chart{Title: "raftlog: append throughput / raw fdatasync limit (best of append, overwrite)", YLabel: "ratio to raw limit"}
	series := make([][]float64, len(raftlogBackends))
	bar := o.progress("raftlog throughput", int64(len(cells)*rounds))
	for _, c := range cells {
		r := rand.New(rand.NewPCG(uint64(c.size), uint64(c.batch)))
		batches := make([][]pb.Entry, 64)
		for i := range batches {
			batches[i] = raftlogEntries(r, 1, c.batch, c.size)
		}
		raw, err := raftlogNewRaw(o.Dir, batches, false)
		if err != nil {
			return nil, nil, err
		}
		rawOver, err := raftlogNewRaw(o.Dir, batches, true)
		if err != nil {
			return nil, nil, err
		}
		const raws = 2
		contenders := []raftlogContender{raw, rawOver}
		for _, b := range raftlogBackends {
			sv, err := raftlogNewSaver(b, o.Dir, batches)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", b, err)
			}
			contenders = append(contenders, sv)
		}
		best := make([]float64, len(contenders))
		for round := 0; round < rounds && err == nil; round++ {
			for i, ct := range contenders {
				var rate float64
				if rate, err = raftlogRun(ctx, ct, slice, maxEntries); err != nil {
					break
				}
				best[i] = max(best[i], rate)
			}
			_ = bar.Add(1)
		}
		for _, ct := range contenders {
			err = errors.Join(err, ct.close())
		}
		if err != nil {
			return nil, nil, err
		}
		limit := max(best[0], best[1])
		row := []any{fmt.Sprintf("%d B", c.size), c.batch, report.Float(best[0]), report.Float(best[1])}
		for i := range raftlogBackends {
			rate := best[i+raws]
			row = append(row, fmt.Sprintf("%s (%s)", report.Float(rate), report.Float(rate/limit)))
			series[i] = append(series[i], rate/limit)
		}
		t.Add(row...)
		chart.Groups = append(chart.Groups, fmt.Sprintf("%dB×%d", c.size, c.batch))
	}
	_ = bar.Finish()
	for i, b := range raftlogBackends {
		chart.Series = append(chart.Series, report.Series{Name: b, Values: series[i]})
	}
	return t, chart, nil
}

// raftlogContender appends one batch per call.
type raftlogContender interface {
	step() (entries int, err error)
	// rest runs untimed after a slice (memory_log compacts, to stay small).
	rest() error
	close() error
}

func raftlogRun(ctx context.Context, c raftlogContender, slice time.Duration, maxEntries int) (float64, error) {
	n := 0
	start := time.Now()
	for time.Since(start) < slice && n < maxEntries {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		k, err := c.step()
		if err != nil {
			return 0, err
		}
		n += k
	}
	rate := float64(n) / time.Since(start).Seconds()
	return rate, c.rest()
}

// raftlogRaw appends the batches' command bytes to a file, one fdatasync
// per batch: the physical limit.
type raftlogRaw struct {
	f     *os.File
	bufs  [][]byte
	count int // entries per buffer
	i     int
	wrap  int64 // overwrite mode: the file's size; 0 = append
	off   int64 // overwrite mode: where the next batch goes
}

func raftlogNewRaw(dir string, batches [][]pb.Entry, overwrite bool) (*raftlogRaw, error) {
	r := &raftlogRaw{bufs: make([][]byte, len(batches)), count: len(batches[0])}
	for i, b := range batches {
		for _, e := range b {
			enc, err := e.Marshal()
			if err != nil {
				return nil, err
			}
			r.bufs[i] = append(r.bufs[i], enc...)
		}
	}
	f, err := os.CreateTemp(dir, "raw-")
	if err != nil {
		return nil, err
	}
	r.f = f
	if overwrite {
		// A zero-filled, fsynced file written round and round: what a
		// preallocated or recycled log segment costs.
		r.wrap = raftlogRawFile
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < r.wrap; off += int64(len(zeros)) {
			if _, err := f.WriteAt(zeros, off); err != nil {
				return nil, errors.Join(err, r.close())
			}
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return nil, errors.Join(err, r.close())
		}
	}
	return r, nil
}

// raftlogRawFile is the size of the overwritten raw file.
const raftlogRawFile = 64 << 20

func (r *raftlogRaw) step() (int, error) {
	b := r.bufs[r.i%len(r.bufs)]
	r.i++
	if r.wrap > 0 {
		if r.off+int64(len(b)) > r.wrap {
			r.off = 0
		}
		if _, err := r.f.WriteAt(b, r.off); err != nil {
			return 0, err
		}
		r.off += int64(len(b))
	} else if _, err := r.f.Write(b); err != nil {
		return 0, err
	}
	if err := unix.Fdatasync(int(r.f.Fd())); err != nil {
		return 0, err
	}
	return r.count, nil
}

func (r *raftlogRaw) rest() error { return nil }

func (r *raftlogRaw) close() error {
	return errors.Join(r.f.Close(), os.Remove(r.f.Name()))
}

// raftlogSaver calls SaveRaftState with the batches, renumbered as it goes.
type raftlogSaver struct {
	backend string
	dir     string
	db      raftio.ILogDB
	batches [][]pb.Entry
	i       int
	next    uint64
	ud      []pb.Update
}

func raftlogNewSaver(backend, dir string, batches [][]pb.Entry) (*raftlogSaver, error) {
	d, err := os.MkdirTemp(dir, backend+"-")
	if err != nil {
		return nil, err
	}
	opts := raftlogOpts(raftlog.SyncAlways)
	opts.SegmentSize = raftlogSegment
	db, err := raftlog.OpenLogDB(backend, d, opts)
	if err != nil {
		os.RemoveAll(d)
		return nil, err
	}
	s := &raftlogSaver{backend: backend, dir: d, db: db, batches: batches, next: 1, ud: []pb.Update{{ShardID: 1, ReplicaID: 1}}}
	if err := s.warmUp(); err != nil {
		return nil, errors.Join(err, s.close())
	}
	return s, nil
}

// raftlogSegment is append_log's segment size in the throughput runs:
// small enough that the warm-up rotates onto a preallocated segment.
const raftlogSegment = 16 << 20

// warmUp writes 2.5 segments' worth of 256 KiB batches, untimed, so that
// every durable backend is measured in its steady state: append_log on
// preallocated segments (prepared once a segment is half full), pebble on
// recycled WAL files.
func (s *raftlogSaver) warmUp() error {
	if s.backend == raftlog.BackendMemory {
		return nil
	}
	es := make([]pb.Entry, 256)
	cmd := make([]byte, 1024)
	for range 5 * raftlogSegment / 2 / (256 * 1024) {
		for j := range es {
			es[j] = pb.Entry{Index: s.next + uint64(j), Term: 1, Type: pb.ApplicationEntry, Cmd: cmd}
		}
		s.next += uint64(len(es))
		s.ud[0].EntriesToSave = es
		s.ud[0].State = pb.State{Term: 1, Vote: 1, Commit: s.next - 1}
		if err := s.db.SaveRaftState(s.ud, 1); err != nil {
			return err
		}
	}
	return nil
}

func (s *raftlogSaver) step() (int, error) {
	es := s.batches[s.i%len(s.batches)]
	s.i++
	for j := range es {
		es[j].Index = s.next + uint64(j)
	}
	s.next += uint64(len(es))
	s.ud[0].EntriesToSave = es
	s.ud[0].State = pb.State{Term: 1, Vote: 1, Commit: s.next - 1}
	return len(es), s.db.SaveRaftState(s.ud, 1)
}

// rest compacts the log after each slice, untimed, as a Raft node does
// after a snapshot: memory_log stays small, and append_log recycles the
// segments it gives up as spares (see its package doc).
func (s *raftlogSaver) rest() error {
	if err := s.db.RemoveEntriesTo(1, 1, s.next-1); err != nil {
		return err
	}
	done, err := s.db.CompactEntriesTo(1, 1, s.next-1)
	if err != nil {
		return err
	}
	<-done
	return nil
}

func (s *raftlogSaver) close() error {
	return errors.Join(s.db.Close(), os.RemoveAll(s.dir))
}

// raftlogFigures is what a memory child reports.
type raftlogFigures struct {
	Backend      string
	Entries      int
	HeapMiB      float64 // live Go heap growth after GC
	RSSMiB       float64 // resident set growth
	CompactMS    float64 // RemoveEntriesTo + CompactEntriesTo of every entry
	DiskBefore   int64   // bytes on disk before compaction
	DiskAfter    int64
	FillEntriesS float64 // entries/s while filling (sync_policy none)
}

func raftlogMemory(ctx context.Context, o options) (*report.Table, *report.Table, error) {
	entries := 1_000_000
	if o.Quick {
		entries = 200_000
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	figs := map[string]raftlogFigures{}
	bar := o.progress("raftlog memory+compaction", int64(len(raftlogBackends)))
	for _, b := range raftlogBackends {
		d, err := os.MkdirTemp(o.Dir, "mem-"+b+"-")
		if err != nil {
			return nil, nil, err
		}
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), raftlogChildEnv+"="+d, "ODGM_RAFTLOG_BENCH_BACKEND="+b, "ODGM_RAFTLOG_BENCH_ENTRIES="+strconv.Itoa(entries))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		os.RemoveAll(d)
		if err != nil {
			return nil, nil, fmt.Errorf("memory child %s: %w", b, err)
		}
		var f raftlogFigures
		if err := json.Unmarshal(out, &f); err != nil {
			return nil, nil, fmt.Errorf("memory child %s: %w (%q)", b, err, out)
		}
		figs[b] = f
		_ = bar.Add(1)
	}
	_ = bar.Finish()
	kv := figs[raftlog.BackendKV]
	mem := &report.Table{
		Title:   fmt.Sprintf("raftlog: memory after %d uncompacted 128 B entries (growth from an empty store; ratio to kv_log)", entries),
		Columns: []string{"backend", "heap MiB", "heap / kv_log", "RSS MiB", "RSS / kv_log", "fill entries/s (sync none)"},
	}
	comp := &report.Table{
		Title:   fmt.Sprintf("raftlog: compacting %d entries (RemoveEntriesTo + CompactEntriesTo)", entries),
		Columns: []string{"backend", "time ms", "disk before MiB", "disk after MiB", "reclaimed MiB", "time / kv_log"},
	}
	for _, b := range raftlogBackends {
		f := figs[b]
		mem.Add(b, f.HeapMiB, raftlogRatio(f.HeapMiB, kv.HeapMiB), f.RSSMiB, raftlogRatio(f.RSSMiB, kv.RSSMiB), f.FillEntriesS)
		if b == raftlog.BackendMemory {
			continue
		}
		comp.Add(b, f.CompactMS, float64(f.DiskBefore)/(1<<20), float64(f.DiskAfter)/(1<<20),
			float64(f.DiskBefore-f.DiskAfter)/(1<<20), raftlogRatio(f.CompactMS, kv.CompactMS))
	}
	return mem, comp, nil
}

func raftlogRatio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return report.Float(a / b)
}

func raftlogHeap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func raftlogDirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// raftlogChild fills one backend with 128 B entries in batches of 256,
// measures memory, then compacts everything. It returns the exit code.
func raftlogChild(dir string) int {
	raftlogQuiet()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "raftlog child:", err)
		return 1
	}
	backend := os.Getenv("ODGM_RAFTLOG_BENCH_BACKEND")
	entries, err := strconv.Atoi(os.Getenv("ODGM_RAFTLOG_BENCH_ENTRIES"))
	if err != nil {
		return fail(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const batch = 256
	batches := make([][]pb.Entry, 16)
	for i := range batches {
		batches[i] = raftlogEntries(r, 1, batch, 128)
	}
	heap0 := raftlogHeap()
	rss0, err := memstat.RSS()
	if err != nil {
		return fail(err)
	}
	db, err := raftlog.OpenLogDB(backend, dir, raftlogOpts(raftlog.SyncNone))
	if err != nil {
		return fail(err)
	}
	f := raftlogFigures{Backend: backend, Entries: entries}
	start := time.Now()
	ud := []pb.Update{{ShardID: 1, ReplicaID: 1}}
	for next := uint64(1); next <= uint64(entries); {
		es := batches[int(next/batch)%len(batches)]
		es = es[:min(len(es), entries-int(next)+1)]
		for j := range es {
			es[j].Index = next + uint64(j)
		}
		ud[0].EntriesToSave = es
		ud[0].State = pb.State{Term: 1, Vote: 1, Commit: next}
		if err := db.SaveRaftState(ud, 1); err != nil {
			return fail(err)
		}
		next += uint64(len(es))
	}
	f.FillEntriesS = float64(entries) / time.Since(start).Seconds()
	batches = nil
	heap1 := raftlogHeap()
	rss1, _ := memstat.RSS()
	f.HeapMiB = (float64(heap1) - float64(heap0)) / (1 << 20)
	f.RSSMiB = float64(rss1-rss0) / (1 << 20)
	f.DiskBefore = raftlogDirSize(dir)
	start = time.Now()
	if err := db.RemoveEntriesTo(1, 1, uint64(entries)); err != nil {
		return fail(err)
	}
	done, err := db.CompactEntriesTo(1, 1, uint64(entries))
	if err != nil {
		return fail(err)
	}
	<-done
	f.CompactMS = float64(time.Since(start).Microseconds()) / 1000
	f.DiskAfter = raftlogDirSize(dir)
	if err := db.Close(); err != nil {
		return fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(f); err != nil {
		return fail(err)
	}
	return 0
}
