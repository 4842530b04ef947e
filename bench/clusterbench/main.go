// Command clusterbench measures a cluster of three node processes: object
// calls per second through the remote client (protoactor remote) and
// through gRPC against the embedded API, and the time from killing a
// shard leader's node to the first successful write on that shard.
//
// The node processes run bench/clusterbench/node, the odgm node program
// with one class (package counter: "bench", 4 partitions × 3 replicas,
// method incr) registered, built once into a temporary directory; each
// node has durable default storage (append_log, buntdb) under that
// directory, a remote and a gRPC address on 127.0.0.1. Two operations are
// measured, each with 64 concurrent callers (-callers) over 10,000
// distinct objects (-objects) for 5 s (-quick: 2 s), after a short
// warm-up:
//
//   - put: Put of one 8-byte entry (a write: one Raft proposal);
//   - incr: Invoke of method incr (read the entry, write it back: one
//     proposal), the method running on the node of the shard's leader.
//
// Three paths are measured in the same run:
//
//   - remote: one client.Client dialled to the three nodes' remote
//     addresses (it sends each call to the next node, round robin; the
//     node forwards it to the shard leader's node);
//   - grpc: client.GRPCClient, one connection per node, caller w on node
//     w mod 3 (forwarded the same way);
//   - embedded, the baseline: three runtime.Nodes in this process, a
//     static cluster (runtime.Config.Cluster) over loopback TCP with the
//     same class, storage and RTT, each call made on the node of the
//     object's shard leader. That is the embedded API at its best: no
//     client hop and no forwarding. The ratio of a path to it is the cost
//     of the client and of the forwarding hop.
//
// The baseline runs before the node processes start, so the two do not
// share the CPUs.
//
// Failover, -rounds times (default 10): read the status, take the leader
// node L of partition r mod 4 and another node W; a prober starts a Put
// through W (a client dialled to W only) to an object of that partition
// every 10 ms; 300 ms after its first success L is SIGKILLed. The figure is the time from
// the kill to the end of the first successful Put started after it.
// Then L is restarted and the round waits until the cluster is settled
// again: all three nodes heard from, every replica reporting, each shard's
// replicas agreeing on its leader and within 100 entries of each other,
// and the same leaders for a second (the placement supervisor balances
// leaders by transfer after a node comes back). Each round starts from
// such a state, so L is the leader when it is killed.
// Dragonboat's election timeout, rtt_ms × election_rtt, drives this:
// the settings are printed with the results.
//
//	go run ./bench/clusterbench -quick
//	go run ./bench/clusterbench -markdown BENCHMARKS.md -chart bench/results
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/odgm-go/odgm/bench/internal/counter"
	"github.com/odgm-go/odgm/bench/report"
	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/loopback"
	"github.com/odgm-go/odgm/internal/proccluster"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/runtime"
	"github.com/odgm-go/odgm/shards"
)

const nodes = 3

type options struct {
	d         time.Duration
	callers   int
	objects   int
	rounds    int
	rtt       uint64
	heartbeat time.Duration
}

func main() {
	quick := flag.Bool("quick", false, "2 s per point instead of 5 s, 3 failover rounds")
	var o options
	flag.IntVar(&o.callers, "callers", 64, "concurrent callers")
	flag.IntVar(&o.objects, "objects", 10000, "distinct objects")
	flag.IntVar(&o.rounds, "rounds", 10, "failover rounds (-quick: 3 unless set)")
	flag.Uint64Var(&o.rtt, "rtt", 20, "rtt_ms of every node (dragonboat's RTT; the runtime's default is 20)")
	flag.DurationVar(&o.heartbeat, "heartbeat", 500*time.Millisecond, "heartbeat_interval of the node processes (the runtime's default)")
	md := flag.String("markdown", "", "append the tables to this Markdown file")
	chartDir := flag.String("chart", "", "write cluster-throughput.png and cluster-failover.png into this directory (e.g. bench/results)")
	flag.Parse()
	o.d = 5 * time.Second
	if *quick {
		o.d = 2 * time.Second
		roundsSet := false
		flag.Visit(func(f *flag.Flag) { roundsSet = roundsSet || f.Name == "rounds" })
		if !roundsSet {
			o.rounds = 3
		}
	}
	if err := run(o, *md, *chartDir); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

func run(o options, md, chartDir string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "clusterbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sc := shards.Config{Class: counter.Name}
	sc.EnsureDefaults()
	settings := fmt.Sprintf("rtt_ms %d, election_rtt %d (election timeout %d–%d ms), heartbeat_rtt %d, heartbeat_interval %v",
		o.rtt, sc.ElectionRTT, o.rtt*sc.ElectionRTT, 2*o.rtt*sc.ElectionRTT, sc.HeartbeatRTT, o.heartbeat)
	fmt.Fprintln(os.Stderr, "clusterbench: dragonboat settings:", settings)

	fmt.Fprintln(os.Stderr, "clusterbench: building bench/clusterbench/node")
	bin, err := proccluster.Build(ctx, "github.com/odgm-go/odgm/bench/clusterbench/node", dir)
	if err != nil {
		return err
	}

	ops := []string{"put", "incr"}
	results := map[string]map[string]result{} // path → op → result
	emb, err := embedded(ctx, o, filepath.Join(dir, "embedded"), ops)
	if err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	results["embedded"] = emb

	c, err := proccluster.Start(proccluster.Config{Binary: bin, Dir: filepath.Join(dir, "cluster"), GRPC: true,
		RTTMillisecond: o.rtt, HeartbeatInterval: o.heartbeat, NodeDeadTimeout: time.Minute,
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }}, nodes)
	if err != nil {
		return err
	}
	defer c.Close()
	failed := true
	defer func() {
		if failed {
			c.DumpLogs()
		}
	}()
	ids := c.IDs()
	rc, err := c.Dial(ctx, ids)
	if err != nil {
		return err
	}
	defer rc.Close()
	var gcs []*client.GRPCClient
	for _, id := range ids {
		conn, err := c.DialGRPC(id)
		if err != nil {
			return err
		}
		defer conn.Close()
		gcs = append(gcs, client.NewGRPC(conn))
	}
	if _, _, err := steady(ctx, gcs[0]); err != nil {
		return err
	}

	remote := map[string]call{
		"put": func(ctx context.Context, w int, id string, v []byte) error {
			_, err := rc.Put(ctx, counter.Name, id, map[string][]byte{"n": v})
			return err
		},
		"incr": func(ctx context.Context, w int, id string, _ []byte) error {
			_, err := rc.Invoke(ctx, counter.Name, id, "incr", nil)
			return err
		},
	}
	grpcCalls := map[string]call{
		"put": func(ctx context.Context, w int, id string, v []byte) error {
			_, err := gcs[w%len(gcs)].Put(ctx, counter.Name, id, map[string][]byte{"n": v})
			return err
		},
		"incr": func(ctx context.Context, w int, id string, _ []byte) error {
			_, err := gcs[w%len(gcs)].Invoke(ctx, counter.Name, id, "incr", nil)
			return err
		},
	}
	for _, p := range []struct {
		name  string
		calls map[string]call
	}{{"remote", remote}, {"grpc", grpcCalls}} {
		results[p.name] = map[string]result{}
		for _, op := range ops {
			results[p.name][op] = measure(o, p.name+" "+op, p.calls[op])
		}
	}

	rounds, err := failover(ctx, o, c)
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	failed = false

	tp := &report.Table{
		Title: fmt.Sprintf("Calls through 3 node processes vs the embedded API (3 in-process nodes, each call on its shard leader's node), class %s: %d partitions × %d replicas, %d callers, %d objects, %v per point, durable default storage; %s",
			counter.Name, counter.Partitions, counter.Replicas, o.callers, o.objects, o.d, settings),
		Columns: []string{"path", "op", "calls/s", "p50 ms", "p99 ms", "failed", "÷ embedded"},
	}
	chart := &report.Chart{Title: "Calls through node processes / embedded API (same run)", YLabel: "ratio to embedded"}
	chart.Groups = ops
	for _, path := range []string{"embedded", "remote", "grpc"} {
		s := report.Series{Name: path}
		for _, op := range ops {
			r, base := results[path][op], results["embedded"][op]
			ratio := 0.0
			if base.rate > 0 {
				ratio = r.rate / base.rate
			}
			tp.Add(path, op, r.rate, r.p50, r.p99, r.failed, fmt.Sprintf("%.2f", ratio))
			s.Values = append(s.Values, ratio)
		}
		if path != "embedded" {
			chart.Series = append(chart.Series, s)
		}
	}

	tf := &report.Table{
		Title:   fmt.Sprintf("Failover: SIGKILL of a shard leader's node while a prober writes to that shard through another node (a Put started every 10 ms); time from the kill to the first successful write started after it; %s", settings),
		Columns: []string{"round", "partition", "killed node", "it led meta", "writer node", "first write ms", "settled again s"},
	}
	fc := &report.Chart{Title: "Kill a leader's node → first successful write on its shard", YLabel: "ms"}
	fs := report.Series{Name: "ms to first write"}
	var firsts []float64
	for i, r := range rounds {
		tf.Add(i+1, r.partition, r.killed, yesNo(r.meta), r.writer, msOf(r.first), r.settle.Seconds())
		firsts = append(firsts, msOf(r.first))
		fc.Groups = append(fc.Groups, fmt.Sprint(i+1))
		fs.Values = append(fs.Values, msOf(r.first))
	}
	fc.Series = []report.Series{fs}
	sort.Float64s(firsts)
	tf.Add("median", "", "", "", "", median(firsts), "")
	tf.Add("min", "", "", "", "", firsts[0], "")
	tf.Add("max", "", "", "", "", firsts[len(firsts)-1], "")

	fmt.Println(report.Machine())
	tp.WriteText(os.Stdout)
	tf.WriteText(os.Stdout)
	if chartDir != "" {
		if err := chart.WritePNG(filepath.Join(chartDir, "cluster-throughput.png")); err != nil {
			return err
		}
		if err := fc.WritePNG(filepath.Join(chartDir, "cluster-failover.png")); err != nil {
			return err
		}
	}
	if md != "" {
		if err := report.AppendMarkdown(md, "go run ./bench/clusterbench", tp, tf); err != nil {
			return err
		}
	}
	return nil
}

// classSettled accepts a status with three live nodes, the meta shard and
// the class's shards, every shard with a leader.
func classSettled(st *odgmv1.ClusterStatus) bool {
	return len(st.GetShards()) == 1+counter.Partitions && proccluster.Settled(nodes)(st) && proccluster.AllAlive(st)
}

func wait(ctx context.Context, s proccluster.StatusSource, d time.Duration, what string, ok func(*odgmv1.ClusterStatus) bool) (*odgmv1.ClusterStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return proccluster.WaitStatus(ctx, s, what, ok)
}

// call makes one call for caller w on object id; v is an 8-byte value.
type call func(ctx context.Context, w int, id string, v []byte) error

type result struct {
	rate, p50, p99 float64
	failed         int64
}

// measure warms up for a quarter of o.d, then calls op from o.callers
// goroutines for o.d and returns the rate of successes and their
// latency percentiles; failures are counted, the first one printed.
func measure(o options, desc string, op call) result {
	runFor(o, o.d/4, op)
	bar := progressbar.NewOptions64(o.d.Milliseconds(),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = bar.Set64(time.Since(start).Milliseconds())
			}
		}
	}()
	l := runFor(o, o.d, op)
	close(done)
	wg.Wait()
	_ = bar.Finish()
	if l.FirstErr != nil {
		fmt.Fprintln(os.Stderr, "  first failure:", l.FirstErr)
	}
	r := result{rate: l.Rate, p50: l.Ms(50), p99: l.Ms(99), failed: int64(l.Failed)}
	fmt.Fprintf(os.Stderr, "%s: %.0f calls/s, p50 %.2f ms, p99 %.2f ms, %d failed\n", desc, r.rate, r.p50, r.p99, r.failed)
	return r
}

// runFor is report.RunLoad over o.callers callers writing o.objects
// objects, each call with a 10 s deadline.
func runFor(o options, d time.Duration, op call) report.Load {
	values := make([][]byte, o.callers)
	for w := range values {
		values[w] = make([]byte, 8)
	}
	return report.RunLoad(o.callers, d, func(w, i int) error {
		id := fmt.Sprint("o", (w*7919+i)%o.objects)
		binary.BigEndian.PutUint64(values[w], uint64(i))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return op(ctx, w, id, values[w])
	})
}

// embedded measures ops on three runtime.Nodes in this process (a static
// cluster), each call on the node of its shard's leader.
func embedded(ctx context.Context, o options, dir string, ops []string) (map[string]result, error) {
	addrs, err := loopback.Addrs(nodes)
	if err != nil {
		return nil, err
	}
	members := map[uint64]string{}
	for i, a := range addrs {
		members[uint64(i+1)] = a
	}
	var ns []*runtime.Node
	defer func() {
		for _, n := range ns {
			n.Stop(ctx)
		}
	}()
	for id := uint64(1); id <= nodes; id++ {
		n, err := runtime.Start(ctx, runtime.Config{DataDir: filepath.Join(dir, fmt.Sprint("n", id)), NodeID: id, Cluster: members, RTTMillisecond: o.rtt})
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.RegisterClass(ctx, counter.Class()) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The leader node of each partition, once all have one.
	leaders := make([]*runtime.Node, counter.Partitions)
	for deadline := time.Now().Add(time.Minute); ; {
		missing := 0
		for p := range leaders {
			l := ns[0].Host().Health(runtime.ShardID(counter.Name, p)).LeaderID
			if l == 0 || l > nodes {
				missing++
				continue
			}
			leaders[p] = ns[l-1]
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d partitions without a leader after a minute", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	on := func(id string) *runtime.Node { return leaders[object.Partition(id, counter.Partitions)] }
	calls := map[string]call{
		"put": func(ctx context.Context, _ int, id string, v []byte) error {
			_, err := on(id).Put(ctx, counter.Name, id, map[string][]byte{"n": v})
			return err
		},
		"incr": func(ctx context.Context, _ int, id string, _ []byte) error {
			_, err := on(id).Invoke(ctx, counter.Name, id, "incr", nil)
			return err
		},
	}
	out := map[string]result{}
	for _, op := range ops {
		out[op] = measure(o, "embedded "+op, calls[op])
	}
	return out, nil
}

type round struct {
	partition      uint32
	killed, writer uint64
	meta           bool // the killed node led the meta shard too
	first, settle  time.Duration
}

// failover runs o.rounds rounds of: kill the leader node of a partition
// while a prober writes to that partition through another node, time the
// first successful write started after the kill, restart the node and
// wait until the cluster is settled.
func failover(ctx context.Context, o options, c *proccluster.Cluster) ([]round, error) {
	grpcs := map[uint64]*client.GRPCClient{}
	for _, id := range c.IDs() {
		conn, err := c.DialGRPC(id)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		grpcs[id] = client.NewGRPC(conn)
	}
	bar := progressbar.NewOptions(o.rounds,
		progressbar.OptionSetDescription("failover rounds"),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish())
	defer bar.Finish()
	var rounds []round
	var prev map[uint32]uint64
	for r := range o.rounds {
		leaders, meta, err := steady(ctx, grpcs[1])
		if err != nil {
			return nil, err
		}
		p := uint32(r % counter.Partitions)
		leader := leaders[p]
		writer := leader%nodes + 1
		id := objectIn(p, r)
		wc, err := c.Dial(ctx, []uint64{writer})
		if err != nil {
			return nil, err
		}
		first, err := probeKill(c, wc, id, leader)
		wc.Close()
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", r+1, err)
		}
		t0 := time.Now()
		if err := c.Restart(leader); err != nil {
			return nil, err
		}
		if _, _, err := steady(ctx, grpcs[writer]); err != nil {
			return nil, err
		}
		settle := time.Since(t0)
		fmt.Fprintf(os.Stderr, "\nround %d: partition %d, killed node %d (leaders %v, before %v), writes through node %d: first write %.0f ms after the kill; settled %.1f s after the restart\n",
			r+1, p, leader, leaders, prev, writer, msOf(first), settle.Seconds())
		prev = leaders
		rounds = append(rounds, round{partition: p, killed: leader, writer: writer, meta: leader == meta, first: first, settle: settle})
		_ = bar.Add(1)
	}
	return rounds, nil
}

// steady waits (up to a minute) until the cluster is settled and its
// leaders are stable, and returns the leader node of each partition of
// the class and the meta shard's leader node. Settled: three nodes, all heard from within three heartbeat
// intervals; every shard has a report from each of its replicas, all of
// one term and naming the same leader, which says it leads, with applied
// indexes within 100 of each other. Stable: the same leaders in two such
// statuses a second apart (the placement supervisor may transfer leaders
// to balance them after a node comes back).
func steady(ctx context.Context, s proccluster.StatusSource) (map[uint32]uint64, uint64, error) {
	var last map[uint32]uint64
	var lastAt time.Time
	deadline := time.Now().Add(time.Minute)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := s.Status(cctx)
		cancel()
		var leaders map[uint32]uint64
		if err == nil && classSettled(st) {
			leaders = settledLeaders(st)
		}
		switch {
		case leaders == nil || !maps.Equal(leaders, last):
			last, lastAt = leaders, time.Now()
		case time.Since(lastAt) >= time.Second:
			return leaders, st.GetMetaLeaderNode(), nil
		}
		if time.Now().After(deadline) {
			return nil, 0, fmt.Errorf("cluster not settled with stable leaders within a minute: last status %v (err %v)", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settledLeaders returns the leader node of each class partition when st
// is settled (see steady), else nil.
func settledLeaders(st *odgmv1.ClusterStatus) map[uint32]uint64 {
	for _, n := range st.GetNodes() {
		if n.GetLastSeenMs() > 1500 {
			return nil
		}
	}
	leaders := map[uint32]uint64{}
	for _, s := range st.GetShards() {
		pl := s.GetPlacement()
		nodeOf := map[uint64]uint64{}
		for _, r := range pl.GetReplicas() {
			nodeOf[r.GetReplicaId()] = r.GetNodeId()
		}
		reports := s.GetReports()
		if len(reports) != len(pl.GetReplicas()) || len(reports) == 0 {
			return nil
		}
		var term, leader, lo, hi uint64
		lo = ^uint64(0)
		for i, r := range reports {
			if i == 0 {
				term, leader = r.GetTerm(), r.GetLeaderReplicaId()
			}
			if r.GetTerm() != term || r.GetLeaderReplicaId() != leader || leader == 0 || r.GetIsLeader() != (r.GetReplicaId() == leader) {
				return nil
			}
			lo, hi = min(lo, r.GetAppliedIndex()), max(hi, r.GetAppliedIndex())
		}
		if hi-lo > 100 || nodeOf[leader] == 0 {
			return nil
		}
		if pl.GetClass() == counter.Name {
			leaders[pl.GetPartition()] = nodeOf[leader]
		}
	}
	if len(leaders) != counter.Partitions {
		return nil
	}
	return leaders
}

// objectIn returns an object id of partition p, a new one each round.
func objectIn(p uint32, round int) string {
	for k := 0; ; k++ {
		id := fmt.Sprintf("f%d-%d", round, k)
		if object.Partition(id, counter.Partitions) == p {
			return id
		}
	}
}

// probeKill starts a Put of id through wc every 10 ms, SIGKILLs node
// victim 300 ms after the first success and returns the time from the kill to the end of
// the first successful Put started after it (at most 30 s).
func probeKill(c *proccluster.Cluster, wc *client.Client, id string, victim uint64) (time.Duration, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var killedAt atomic.Int64 // unix ns; 0 before the kill
	var before atomic.Int64   // successes before the kill
	firstEnd := make(chan time.Time, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	stopProbes := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopProbes:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := wc.Put(cctx, counter.Name, id, map[string][]byte{"n": binary.BigEndian.AppendUint64(nil, uint64(start.UnixNano()))})
				ccancel()
				if err != nil {
					return
				}
				k := killedAt.Load()
				switch {
				case k == 0:
					before.Add(1)
				case start.UnixNano() >= k:
					select {
					case firstEnd <- time.Now():
					default:
					}
				}
			}()
		}
	}()
	defer close(stopProbes)
	for deadline := time.Now().Add(10 * time.Second); before.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no write to %s succeeded in 10 s before the kill", id)
		}
	}
	time.Sleep(300 * time.Millisecond)
	k := time.Now()
	killedAt.Store(k.UnixNano())
	if err := c.Kill(victim); err != nil {
		return 0, err
	}
	select {
	case end := <-firstEnd:
		return end.Sub(k), nil
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("no write to %s succeeded within 30 s of killing node %d", id, victim)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
