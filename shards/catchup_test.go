package shards

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/odgm-go/odgm/internal/memstat"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// TestSnapshotStreamMemory: a follower that missed compacted entries
// catches up by a streamed snapshot of the whole app data, and the
// process's peak RSS grows by less than 64 MiB during the transfer. 8 MiB of
// data by default; ODGM_LONG=1 uses 112 MiB.
//
// The three replicas share the process, so the heap holds three copies of
// the data; the GC target is lowered to 10% during the transfer so that
// what is measured is the transfer's own footprint, not garbage the
// collector has not yet had a reason to collect.
func TestSnapshotStreamMemory(t *testing.T) {
	size := 8 << 20
	if os.Getenv("ODGM_LONG") != "" {
		size = 112 << 20
	}
	if _, err := memstat.RSS(); err != nil {
		t.Skip("no /proc: ", err)
	}
	cfg := testShardConfig()
	cfg.SnapshotEntries, cfg.CompactionOverhead = 20, 5
	c := newCluster(t, backends[1], cfg)
	leader := c.waitLeader(nil)
	const valueSize, perCmd = 32 << 10, 8
	val := make([]byte, valueSize)
	cmds := size / (valueSize * perCmd)
	start := time.Now()
	for i := 0; i < cmds; i++ {
		cmd := &odgmv1.Command{Object: ref(fmt.Sprint("big", i)), RequestId: fmt.Sprint("big", i)}
		for j := 0; j < perCmd; j++ {
			rand.Read(val)
			cmd.Puts = append(cmd.Puts, &odgmv1.Entry{Name: fmt.Sprint("e", j), Value: append([]byte(nil), val...)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := leader.host.Propose(ctx, testShard, cmd)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d MiB in %v", size>>20, time.Since(start))
	var follower *node
	for _, n := range c.nodes {
		if n != leader {
			follower = n
		}
	}
	waitFor(t, "follower has the data", func() bool {
		return follower.host.Health(testShard).AppliedIndex >= leader.host.Health(testShard).AppliedIndex
	})
	c.stop(follower)
	for i := 0; i < 60; i++ {
		if _, err := c.write(leader, "small", fmt.Sprint("s", i), "v", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "leader compacted past two snapshots", func() bool {
		h := leader.host.Health(testShard)
		return h.LastSnapshotIndex >= uint64(cmds+40) && h.LogFirstIndex > uint64(cmds+20)
	})

	c.openStorage(follower) // loads the follower's old copy of the data
	old := debug.SetGCPercent(10)
	defer debug.SetGCPercent(old)
	runtime.GC()
	if err := memstat.ResetPeak(); err != nil {
		t.Skip("cannot reset peak RSS: ", err)
	}
	base, _ := memstat.RSS()
	c.startHost(follower, false)
	want := leader.host.Health(testShard).AppliedIndex
	waitFor(t, "follower caught up", func() bool { return follower.host.Health(testShard).AppliedIndex >= want })
	peak, _ := memstat.PeakRSS()
	growth := peak - base
	var streamed uint64
	for _, n := range c.nodes {
		if n != follower {
			streamed += n.host.Health(testShard).LastStreamedSize
		}
	}
	t.Logf("snapshot of %d MiB streamed: RSS %d MiB before, peak growth %.1f MiB; %d bytes streamed (race detector: %v)",
		size>>20, base>>20, float64(growth)/(1<<20), streamed, raceEnabled)
	if streamed == 0 {
		t.Fatal("no snapshot was streamed to the follower")
	}
	// The race detector's shadow memory multiplies every allocation: the
	// bound is checked without it.
	if !raceEnabled && growth >= 64<<20 {
		t.Fatalf("RSS grew by %d MiB during the transfer", growth>>20)
	}
	lm, _ := leader.host.StateMachine(testShard)
	fm, _ := follower.host.StateMachine(testShard)
	if dumpObjects(t, lm) != dumpObjects(t, fm) {
		t.Fatal("follower data differs from leader's")
	}
	c.checkAppliedOnce()
}
