// Command shardbench measures the write path of a 3-replica shard in one
// process (three NodeHosts over loopback TCP): throughput and p50/p99
// latency with 1, 16 and 256 concurrent writers, for each log backend
// (append_log, kv_log, pebble) under the shards state machine over buntdb,
// and the same workload on raw dragonboat (its default pebble LogDB, tiny
// memory profile) with a trivial in-memory state machine: the ceiling.
// Every figure is also given as a ratio to the ceiling at the same writer
// count.
//
//	go run ./bench/shardbench                 # 5 s per point
//	go run ./bench/shardbench -quick          # 1 s per point
//	go run ./bench/shardbench -markdown BENCHMARKS.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/odgm-go/odgm/bench/internal/rawshard"
	"github.com/odgm-go/odgm/bench/report"
	"github.com/odgm-go/odgm/internal/loopback"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/shards"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
)

const shardID = 1

// rttMS is the Raft RTT: generous, so that a loaded 2-core machine does not
// trigger elections in the middle of a point.
const rttMS = 50

func main() {
	quick := flag.Bool("quick", false, "1 s per point instead of 5 s")
	dur := flag.Duration("duration", 0, "time per point (overrides -quick)")
	backends := flag.String("backends", "append_log,kv_log,pebble", "log backends to measure")
	writersFlag := flag.String("writers", "1,16,256", "concurrent writer counts")
	valueSize := flag.Int("value", 128, "bytes per written value")
	appSync := flag.String("app-sync", "never", "shards.Config.AppSync: fsync policy of the shards' app stores (never = by Sync before compaction, every_second, always)")
	md := flag.String("markdown", "", "append the table to this Markdown file")
	dir := flag.String("dir", "", "scratch directory (default: a new temporary one)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "shardbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	d := 5 * time.Second
	if *quick {
		d = time.Second
	}
	if *dur > 0 {
		d = *dur
	}
	for _, name := range []string{"LogDB", "config", "dragonboat", "gossip", "grpc", "logdb", "pebblekv",
		"raft", "raft-mt", "raftpb", "registry", "rsm", "server", "settings", "tan", "tools", "transport"} {
		logger.GetLogger(name).SetLevel(logger.CRITICAL)
	}
	var writers []int
	for _, w := range strings.Split(*writersFlag, ",") {
		var n int
		if _, err := fmt.Sscan(w, &n); err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "shardbench: bad -writers")
			os.Exit(2)
		}
		writers = append(writers, n)
	}
	err := run(*dir, strings.Split(*backends, ","), writers, d, *valueSize, appdata.SyncPolicy(*appSync), *md)
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "shardbench:", err)
		os.Exit(1)
	}
}

type point struct {
	ops      float64 // per second
	p50, p99 time.Duration
	errors   int
	firstErr error
}

// target is what a workload writes to: the three nodes of one setup.
type target interface {
	// propose writes one value from writer w and returns its latency.
	propose(ctx context.Context, w, i int) error
	close()
}

func run(dir string, backends []string, writers []int, d time.Duration, valueSize int, appSync appdata.SyncPolicy, md string) error {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "shardbench"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	results := map[string]map[int]point{}
	names := append([]string{"raw dragonboat"}, backends...)
	for _, name := range names {
		results[name] = map[int]point{}
		for _, w := range writers {
			sub := filepath.Join(dir, fmt.Sprintf("%s-%d", strings.ReplaceAll(name, " ", "_"), w))
			var t target
			var err error
			if name == "raw dragonboat" {
				t, err = newRaw(sub, valueSize)
			} else {
				t, err = newODGM(sub, name, value, appSync)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			p := measure(t, w, d)
			t.close()
			results[name][w] = p
			fmt.Fprintf(os.Stderr, "%-15s writers=%-4d %8.0f ops/s p50=%v p99=%v errors=%d (%v)\n", name, w, p.ops, p.p50, p.p99, p.errors, p.firstErr)
		}
	}
	tab := &report.Table{
		Title: fmt.Sprintf("3-replica shard writes, %d-byte values, app sync_policy %s, %v per point (ratios: to raw dragonboat with a trivial state machine)",
			valueSize, appSync, d),
		Columns: []string{"setup", "writers", "ops/s", "p50 ms", "p99 ms", "ops/s ratio", "p50 ratio", "p99 ratio"},
	}
	for _, name := range names {
		for _, w := range writers {
			p, base := results[name][w], results["raw dragonboat"][w]
			tab.Add(name, w, p.ops, ms(p.p50), ms(p.p99), p.ops/base.ops, float64(p.p50)/float64(base.p50), float64(p.p99)/float64(base.p99))
		}
	}
	fmt.Println(report.Machine())
	if err := tab.WriteText(os.Stdout); err != nil {
		return err
	}
	if md != "" {
		return report.AppendMarkdown(md, "go run ./bench/shardbench "+strings.Join(os.Args[1:], " "), tab)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measure runs w writers against t for d (after a short warm-up).
func measure(t target, w int, d time.Duration) point {
	ctx := context.Background()
	// Warm up until proposals succeed: a new leader drops proposals until it
	// has applied an entry of its term.
	deadline := time.Now().Add(20 * time.Second)
	for ok := 0; ok < 20 && time.Now().Before(deadline); {
		if t.propose(ctx, 0, ok) == nil {
			ok++
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	l := report.RunLoad(w, d, func(k, i int) error { return t.propose(ctx, k, i) })
	return point{ops: l.Rate, errors: l.Failed, firstErr: l.FirstErr, p50: l.Percentile(50), p99: l.Percentile(99)}
}

// odgm is a 3-replica shard under the shards state machine.
type odgm struct {
	hosts  []*shards.Host
	comps  []*storage.Composite
	leader *shards.Host
	value  []byte
}

func newODGM(dir, logType string, value []byte, appSync appdata.SyncPolicy) (*odgm, error) {
	addrs, err := loopback.Addrs(3)
	if err != nil {
		return nil, err
	}
	members := map[uint64]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	o := &odgm{value: value}
	cfg := shards.Config{Class: "bench", SnapshotEntries: 10000, CompactionOverhead: 1000, AppSync: appSync}
	for i := 0; i < 3; i++ {
		sc := storage.Config{Log: storage.LogConfig{Type: logType}}
		sc.EnsureDefaults()
		sc.ResolvePaths(filepath.Join(dir, fmt.Sprint("n", i), "data"))
		comp, err := storage.Open(context.Background(), sc)
		if err != nil {
			o.close()
			return nil, err
		}
		o.comps = append(o.comps, comp)
		h, err := shards.NewHost(shards.HostConfig{Dir: filepath.Join(dir, fmt.Sprint("n", i), "nh"), RaftAddress: addrs[i], RTTMillisecond: rttMS, Storage: comp})
		if err != nil {
			o.close()
			return nil, err
		}
		o.hosts = append(o.hosts, h)
		if err := h.StartReplica(shardID, uint64(i+1), members, false, cfg, shards.SMOptions{}); err != nil {
			o.close()
			return nil, err
		}
	}
	o.leader, err = waitLeader(o.hosts[0].NodeHost(), func(id uint64) *shards.Host { return o.hosts[id-1] })
	if err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func waitLeader[T any](nh *dragonboat.NodeHost, pick func(uint64) T) (T, error) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if id, _, ok, err := nh.GetLeaderID(shardID); err == nil && ok {
			return pick(id), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	var zero T
	return zero, errors.New("no leader")
}

func (o *odgm) propose(ctx context.Context, w, i int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := &odgmv1.Command{
		Object: &odgmv1.ObjectRef{Class: "bench", Id: fmt.Sprintf("o%d-%d", w, i%100)},
		Puts:   []*odgmv1.Entry{{Name: "v", Value: append(o.value[:len(o.value):len(o.value)], byte(i))}},
	}
	_, err := o.leader.Propose(ctx, shardID, cmd)
	return err
}

func (o *odgm) close() {
	for _, h := range o.hosts {
		h.Close()
	}
	for _, c := range o.comps {
		c.Close()
	}
}

// raw is a 3-replica shard on plain dragonboat with a trivial state
// machine (dragonboat's default LogDB, tiny memory profile).
type raw struct {
	shard   *rawshard.Shard
	payload []byte
}

func newRaw(dir string, valueSize int) (*raw, error) {
	addrs, err := loopback.Addrs(3)
	if err != nil {
		return nil, err
	}
	// The same encoded size as an ODGM command of this value size.
	cmd, _ := proto.Marshal(&odgmv1.Command{Object: &odgmv1.ObjectRef{Class: "bench", Id: "o1-1"},
		Puts: []*odgmv1.Entry{{Name: "v", Value: make([]byte, valueSize+1)}}, ProposedAt: timestamppb.Now()})
	s, err := rawshard.Start(rawshard.Config{Dir: dir, Members: addrs, RTTMillisecond: rttMS,
		Raft: config.Config{ElectionRTT: 10, HeartbeatRTT: 1, SnapshotEntries: 10000, CompactionOverhead: 1000}})
	if err != nil {
		return nil, err
	}
	return &raw{shard: s, payload: cmd}, nil
}

func (r *raw) propose(ctx context.Context, _, _ int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return r.shard.Propose(ctx, r.payload)
}

func (r *raw) close() { r.shard.Close() }
