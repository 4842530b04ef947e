// Command runtimebench measures object invocations through the embedded
// runtime: invocations per second and p50/p99 latency, on a single node and
// on three nodes in one process (a class with 3 replicas, loopback TCP),
// with 1, 16 and 256 concurrent callers over 1 and 10,000 distinct
// objects. Each invocation is an increment (read an entry, write it back:
// one Raft proposal). The ceiling is the same write load proposed straight
// to the shard with shards.Host.Propose (dragonboat SyncPropose on the same
// state machine and storage, no actors, no method, no version condition);
// bench/shardbench has raw dragonboat with a trivial state machine.
//
//	go run ./bench/runtimebench            # 3 s per point
//	go run ./bench/runtimebench -quick     # 1 s per point
//	go run ./bench/runtimebench -markdown BENCHMARKS.md
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/bench/report"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/runtime"
)

func main() {
	quick := flag.Bool("quick", false, "1 s per point instead of 3 s")
	callersFlag := flag.String("callers", "1,16,256", "concurrent caller counts")
	objectsFlag := flag.String("objects", "1,10000", "distinct object counts")
	setups := flag.String("setups", "single,replicated", "single (one node) and/or replicated (3 nodes, 3 replicas)")
	md := flag.String("markdown", "", "append the table to this Markdown file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
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
		Title:   fmt.Sprintf("Object invocations (increment = read + one proposal), %v per point; ceiling = shards.Host.Propose of the same writes", d),
		Columns: []string{"setup", "objects", "callers", "invocations/s", "p50 ms", "p99 ms", "ceiling/s", "ceiling p50 ms", "% of ceiling"},
	}
	for _, setup := range strings.Split(*setups, ",") {
		if err := bench(setup, d, callers, objects, t); err != nil {
			fmt.Fprintln(os.Stderr, "runtimebench:", err)
			os.Exit(1)
		}
	}
	t.WriteText(os.Stdout)
	if *md != "" {
		if err := report.AppendMarkdown(*md, "go run ./bench/runtimebench", t); err != nil {
			fmt.Fprintln(os.Stderr, "runtimebench:", err)
			os.Exit(1)
		}
	}
}

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

func counter(replicas int) runtime.Class {
	return runtime.Class{Name: "counter", Replicas: replicas, Methods: map[string]runtime.Method{
		"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
			v, _ := o.Get("n")
			var n uint64
			if len(v) == 8 {
				n = binary.BigEndian.Uint64(v)
			}
			o.Set("n", binary.BigEndian.AppendUint64(nil, n+1))
			return nil, nil
		},
	}}
}

func bench(setup string, d time.Duration, callers, objects []int, t *report.Table) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "runtimebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var nodes []*runtime.Node
	defer func() {
		for _, n := range nodes {
			n.Stop(ctx)
		}
	}()
	replicas := 1
	switch setup {
	case "single":
		n, err := runtime.Start(ctx, runtime.Config{DataDir: filepath.Join(dir, "n1"), RTTMillisecond: 50})
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	case "replicated":
		replicas = 3
		members := map[uint64]string{}
		for id := uint64(1); id <= 3; id++ {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			members[id] = l.Addr().String()
			l.Close()
		}
		for id := uint64(1); id <= 3; id++ {
			n, err := runtime.Start(ctx, runtime.Config{DataDir: filepath.Join(dir, fmt.Sprint("n", id)), NodeID: id, Cluster: members, RTTMillisecond: 50})
			if err != nil {
				return err
			}
			nodes = append(nodes, n)
		}
	default:
		return fmt.Errorf("unknown setup %q", setup)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.RegisterClass(ctx, counter(replicas)) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Call on the shard leader's node: until the gateway forwards calls,
	// that is where a client would be routed.
	sid := runtime.ShardID("counter", 0)
	node := nodes[0]
	if l := nodes[0].Host().Health(sid).LeaderID; l != 0 {
		node = nodes[l-1]
	}
	for _, objs := range objects {
		for _, c := range callers {
			inv, invLat := run(d, c, func(w, i int) error {
				_, err := node.Invoke(ctx, "counter", fmt.Sprint("o", (w*7919+i)%objs), "incr", nil)
				return err
			})
			var seq atomic.Uint64
			ceil, ceilLat := run(d, c, func(w, i int) error {
				id := fmt.Sprint("o", (w*7919+i)%objs)
				cmd := &odgmv1.Command{RequestId: fmt.Sprint("ceil-", seq.Add(1)), Object: &odgmv1.ObjectRef{Class: "counter", Id: id},
					Puts: []*odgmv1.Entry{{Name: "m", Value: binary.BigEndian.AppendUint64(nil, uint64(i))}}}
				_, err := node.Host().Propose(ctx, runtime.ShardID("counter", 0), cmd)
				return err
			})
			pct := 0.0
			if ceil > 0 {
				pct = 100 * inv / ceil
			}
			t.Add(setup, objs, c, inv, ms(invLat, 50), ms(invLat, 99), ceil, ms(ceilLat, 50), pct)
			fmt.Fprintf(os.Stderr, "%s objects=%d callers=%d: %.0f/s (ceiling %.0f/s)\n", setup, objs, c, inv, ceil)
		}
	}
	return nil
}

// run calls op from c goroutines for d and returns the rate of successes
// and their latencies. Version mismatches between callers are counted as
// failures, not successes.
func run(d time.Duration, c int, op func(w, i int) error) (float64, []time.Duration) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	stop := time.Now().Add(d)
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; time.Now().Before(stop); i++ {
				t0 := time.Now()
				if err := op(w, i); err != nil {
					if !errors.Is(err, odgm.ErrVersionMismatch) {
						failed.Add(1)
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "  %d failed calls\n", f)
	}
	return float64(len(lat)) / time.Since(start).Seconds(), lat
}

func ms(lat []time.Duration, p int) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return float64(lat[(len(lat)-1)*p/100]) / float64(time.Millisecond)
}
