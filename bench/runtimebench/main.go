// Command runtimebench measures object invocations through the embedded
// runtime: invocations per second and p50/p99 latency, on a single node and
// on three nodes in one process (a class with 3 replicas, loopback TCP),
// with 1, 16 and 256 concurrent callers over 1 and 10,000 distinct
// objects. Each invocation is an increment (read an entry, write it back:
// one Raft proposal), made on the shard leader's node.
//
// The ceiling is the same write load on raw dragonboat (bench/internal/
// rawshard): the same number of NodeHosts, transport (in-process for the
// single node, loopback TCP for 3), RTT, Raft settings (the class's
// shards.Config: election, heartbeat, snapshot and compaction) and LogDB
// (the node's log storage from the same storage config: append_log,
// fsync before acknowledging), with the same concurrency proposing with
// SyncPropose to the leader one entry per write, of the same size as the
// runtime's command, to the same number of distinct keys. What the ceiling
// leaves out is all of ODGM above dragonboat: its state machine keeps the
// last value of each key in a Go map (no app store, no request-id table,
// no version check, no index), and there is no actor, method, read or
// version condition. So the ratio is what the runtime achieves of what
// dragonboat alone does with the same log, network and settings. With one
// object, invocations are serialised by design (one at a time per object)
// while the ceiling's writes are not: those rows are not like for like.
//
// For reference, each point also measures shards.Host.Propose of the same
// writes to other objects (unconditioned puts with request ids, through
// the shards state machine and the app store: everything but actors,
// methods and reads), the layer the runtime is built on.
//
//	go run ./bench/runtimebench            # 3 s per point
//	go run ./bench/runtimebench -quick     # 1 s per point
//	go run ./bench/runtimebench -markdown BENCHMARKS.md -chart bench/results/runtime-invocations.png
//	go run ./bench/runtimebench -setups single -objects 10000 -callers 256 -ceiling=false -shard=false -cpuprofile cpu.out
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/bench/internal/counter"
	"github.com/odgm-go/odgm/bench/internal/rawshard"
	"github.com/odgm-go/odgm/bench/report"
	"github.com/odgm-go/odgm/internal/loopback"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/runtime"
	"github.com/odgm-go/odgm/shards"
	"github.com/odgm-go/odgm/storage"
)

func main() {
	quick := flag.Bool("quick", false, "1 s per point instead of 3 s")
	callersFlag := flag.String("callers", "1,16,256", "concurrent caller counts")
	objectsFlag := flag.String("objects", "1,10000", "distinct object counts")
	setups := flag.String("setups", "single,replicated", "single (one node) and/or replicated (3 nodes, 3 replicas)")
	md := flag.String("markdown", "", "append the table to this Markdown file")
	chartPath := flag.String("chart", "", "draw the ratios to the ceiling into this PNG file (e.g. bench/results/runtime-invocations.png)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	withCeiling = flag.Bool("ceiling", true, "measure the ceiling too (false: the runtime only, e.g. for a profile)")
	withInvoke = flag.Bool("invoke", true, "measure the runtime's invocations (false: only the references, e.g. for a profile)")
	withShard = flag.Bool("shard", true, "also measure shards.Host.Propose of the same writes (the layer below the actors)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtimebench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	d := 3 * time.Second
	if *quick {
		d = time.Second
	}
	callers, objects := ints(*callersFlag), ints(*objectsFlag)
	t := &report.Table{
		Title:   fmt.Sprintf("Object invocations (increment = read + one proposal), %v per point; ceiling = raw dragonboat SyncPropose of the same writes (same log storage, transport, Raft settings; in-memory map state machine)", d),
		Columns: []string{"setup", "objects", "callers", "invocations/s", "p50 ms", "p99 ms", "ceiling/s", "ceiling p50 ms", "ceiling p99 ms", "% of ceiling", "Host.Propose/s", "% of Host.Propose"},
	}
	chart := &report.Chart{Title: "Object invocations / raw dragonboat ceiling (same run)", YLabel: "ratio to ceiling"}
	series := make([]report.Series, len(callers))
	for i, c := range callers {
		series[i].Name = fmt.Sprint(c, " callers")
	}
	for _, setup := range strings.Split(*setups, ",") {
		ratios, err := bench(setup, d, callers, objects, t)
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtimebench:", err)
			os.Exit(1)
		}
		for j, objs := range objects {
			chart.Groups = append(chart.Groups, fmt.Sprintf("%s, %d obj", setup, objs))
			for i := range callers {
				series[i].Values = append(series[i].Values, ratios[j][i])
			}
		}
	}
	chart.Series = series
	fmt.Println(report.Machine())
	t.WriteText(os.Stdout)
	if *chartPath != "" {
		if err := chart.WritePNG(*chartPath); err != nil {
			fmt.Fprintln(os.Stderr, "runtimebench:", err)
			os.Exit(1)
		}
	}
	if *md != "" {
		if err := report.AppendMarkdown(*md, "go run ./bench/runtimebench", t); err != nil {
			fmt.Fprintln(os.Stderr, "runtimebench:", err)
			os.Exit(1)
		}
	}
}

var withCeiling, withShard, withInvoke *bool

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func counterClass(replicas int) runtime.Class {
	return runtime.Class{Name: "counter", Replicas: replicas, Methods: map[string]runtime.Method{"incr": counter.Incr}}
}

// nodeConfig is the runtime config of node id (0: the single node) in
// dir; the ceiling takes its storage, RTT and class defaults from it.
func nodeConfig(dir string, id uint64, members map[uint64]string) runtime.Config {
	cfg := runtime.Config{DataDir: filepath.Join(dir, fmt.Sprint("n", id)), RTTMillisecond: 50}
	if id != 0 {
		cfg.NodeID, cfg.Cluster = id, members
	}
	return cfg
}

// bench measures one setup and returns the ratios to the ceiling by object
// count and caller count.
func bench(setup string, d time.Duration, callers, objects []int, t *report.Table) (ratios [][]float64, err error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "runtimebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var nodes []*runtime.Node
	defer func() {
		for _, n := range nodes {
			n.Stop(ctx)
		}
	}()
	var cfgs []runtime.Config
	var rawMembers []string
	replicas := 1
	switch setup {
	case "single":
		cfgs = append(cfgs, nodeConfig(dir, 0, nil))
		rawMembers = []string{"127.0.0.1:1"} // never listened on: in-process transport
	case "replicated":
		replicas = 3
		addrs, err := loopback.Addrs(6)
		if err != nil {
			return nil, err
		}
		members := map[uint64]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
		for id := uint64(1); id <= 3; id++ {
			cfgs = append(cfgs, nodeConfig(dir, id, members))
		}
		rawMembers = addrs[3:]
	default:
		return nil, fmt.Errorf("unknown setup %q", setup)
	}
	for _, cfg := range cfgs {
		n, err := runtime.Start(ctx, cfg)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.RegisterClass(ctx, counterClass(replicas)) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ceiling, err := startCeiling(ctx, filepath.Join(dir, "raw"), rawMembers, nodes[0].Config())
	if err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	defer ceiling.close()
	// Call on the shard leader's node: until the gateway forwards calls,
	// that is where a client would be routed.
	sid := runtime.ShardID("counter", 0)
	node := nodes[0]
	if l := nodes[0].Host().Health(sid).LeaderID; l != 0 {
		node = nodes[l-1]
	}
	for _, objs := range objects {
		ratios = append(ratios, nil)
		for _, c := range callers {
			// Host.Propose writes other objects ("p..."): writes behind
			// the actors' backs would make their next calls retry.
			var invL, ceilL, shardL report.Load
			if *withInvoke {
				invL = run(d, c, func(w, i int) error {
					_, err := node.Invoke(ctx, "counter", fmt.Sprint("o", (w*7919+i)%objs), "incr", nil)
					return err
				})
			}
			if *withCeiling {
				ceilL = run(d, c, func(w, i int) error {
					return ceiling.propose(ctx, fmt.Sprint("o", (w*7919+i)%objs), uint64(i))
				})
			}
			if *withShard {
				var seq atomic.Uint64
				shardL = run(d, c, func(w, i int) error {
					cmd := &odgmv1.Command{RequestId: fmt.Sprint("shard-", seq.Add(1)),
						Object: &odgmv1.ObjectRef{Class: "counter", Id: fmt.Sprint("p", (w*7919+i)%objs)},
						Puts:   []*odgmv1.Entry{{Name: "m", Value: binary.BigEndian.AppendUint64(nil, uint64(i))}}}
					_, err := node.Host().Propose(ctx, sid, cmd)
					return err
				})
			}
			inv, ceil, shard := invL.Rate, ceilL.Rate, shardL.Rate
			pct, shardPct := 0.0, 0.0
			if ceil > 0 {
				pct = 100 * inv / ceil
			}
			if shard > 0 {
				shardPct = 100 * inv / shard
			}
			t.Add(setup, objs, c, inv, invL.Ms(50), invL.Ms(99), ceil, ceilL.Ms(50), ceilL.Ms(99), pct, shard, shardPct)
			ratios[len(ratios)-1] = append(ratios[len(ratios)-1], pct/100)
			fmt.Fprintf(os.Stderr, "%s objects=%d callers=%d: %.0f/s (ceiling %.0f/s) %.1f%%\n", setup, objs, c, inv, ceil, pct)
		}
	}
	return ratios, nil
}

// ceiling is the raw dragonboat shard of one setup, and the size of the
// runtime's command for an increment, which its entries match.
type ceiling struct {
	shard *rawshard.Shard
	comps []*storage.Composite
	size  int
}

// startCeiling starts a raw dragonboat shard with one member per address,
// configured as the runtime node whose completed config is node: each
// member has its own log store of node's storage config, node's RTT, and
// the Raft settings of a class registered with node's class defaults.
// One member uses the in-process transport, as a single runtime node
// does.
func startCeiling(ctx context.Context, dir string, members []string, node runtime.Config) (*ceiling, error) {
	c := &ceiling{}
	factories := make([]config.LogDBFactory, len(members))
	for i := range members {
		sc := node.Storage
		sc.Log.Path, sc.Snapshot.Path, sc.App.Path = "", "", ""
		sc.ResolvePaths(filepath.Join(dir, fmt.Sprint("store", i)))
		comp, err := storage.Open(ctx, sc)
		if err != nil {
			c.close()
			return nil, err
		}
		c.comps = append(c.comps, comp)
		if factories[i], err = comp.LogDBFactory(); err != nil {
			c.close()
			return nil, err
		}
	}
	shard := node.Classes.Shard
	shard.Class = "counter"
	shard.EnsureDefaults()
	cfg := rawshard.Config{Dir: dir, Members: members, RTTMillisecond: node.RTTMillisecond,
		LogDB: func(i int) config.LogDBFactory { return factories[i] },
		Raft:  shard.RaftConfig(0, 0), Kind: rawshard.KV}
	if len(members) == 1 {
		cfg.Transport = shards.InProcessTransport()
	}
	var err error
	if c.shard, err = rawshard.Start(cfg); err != nil {
		c.close()
		return nil, err
	}
	// The runtime's command for an increment of object "o5000" (ids here
	// are "o0".."o9999"), with a request id as long as a node makes.
	v := uint64(5000)
	cmd, err := proto.Marshal(&odgmv1.Command{RequestId: "n1-0123456789ab-1e240", Object: &odgmv1.ObjectRef{Class: "counter", Id: "o5000"},
		Puts: []*odgmv1.Entry{{Name: "n", Value: make([]byte, 8)}}, ExpectedVersion: &v, ProposedAt: timestamppb.Now()})
	if err != nil {
		c.close()
		return nil, err
	}
	c.size = len(cmd)
	return c, nil
}

// propose writes value (padded to the runtime command's size) to key.
func (c *ceiling) propose(ctx context.Context, key string, value uint64) error {
	e := rawshard.Entry(make([]byte, 0, c.size), key, binary.BigEndian.AppendUint64(nil, value))
	if len(e) < c.size {
		e = e[:c.size]
	}
	return c.shard.Propose(ctx, e)
}

func (c *ceiling) close() {
	if c.shard != nil {
		c.shard.Close()
	}
	for _, comp := range c.comps {
		comp.Close()
	}
}

// run is report.RunLoad for this benchmark: version mismatches between
// callers of one object are neither successes nor failures.
func run(d time.Duration, c int, op func(w, i int) error) report.Load {
	l := report.RunLoad(c, d, func(w, i int) error {
		if err := op(w, i); errors.Is(err, odgm.ErrVersionMismatch) {
			return report.Skip
		} else {
			return err
		}
	})
	if l.Failed > 0 {
		fmt.Fprintf(os.Stderr, "  %d failed calls, first: %v\n", l.Failed, l.FirstErr)
	}
	return l
}
