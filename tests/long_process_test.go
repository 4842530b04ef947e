package tests

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/odgm-go/odgm/internal/proccluster"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// TestProcessClusterLong (ODGM_LONG=1; rounds from ODGM_ROUNDS, default 10):
// four node processes under a steady write load; each round SIGKILLs the
// node leading the most shards, waits for repair, restarts it and waits
// until it is back. Every acknowledged write must be readable at the end.
func TestProcessClusterLong(t *testing.T) {
	if os.Getenv("ODGM_LONG") == "" {
		t.Skip("long variant: set ODGM_LONG=1")
	}
	rounds := 10
	if r, err := strconv.Atoi(os.Getenv("ODGM_ROUNDS")); err == nil && r > 0 {
		rounds = r
	}
	pc := newProcCluster(t, 4)
	c := pc.dial(1, 2, 3, 4)
	waitStatus(t, c, 60*time.Second, "four nodes", proccluster.Settled(4))
	if err := proccluster.Retry(30*time.Second, func(ctx context.Context) error {
		return c.CreateClass(ctx, &odgmv1.ClassSpec{Name: "kv", Partitions: 4, Replicas: 3})
	}); err != nil {
		t.Fatal(err)
	}
	// Each kill waits for a cluster that survives it: the meta shard and
	// the class's 4 shards led, on three caught-up replicas each (killing
	// the meta leader while the meta shard has two members stops the
	// cluster's placement until it is back, which is Raft, not a fault).
	ready := fullyReplicated(4, 5)
	waitStatus(t, c, 60*time.Second, "class placed, meta shard on three", ready)
	writes := startWriteLoad(t, c, "long-w", 4)
	for r := range rounds {
		st := waitStatus(t, c, 90*time.Second, "every shard on three caught-up replicas", ready)
		victim, leads := busiestLeader(st)
		t.Logf("round %d: killing node %d (leads %d shards)", r, victim, leads)
		pc.kill(victim)
		time.Sleep(4 * time.Second) // past node_dead_timeout: repair starts
		pc.restart(victim)
	}
	n := writes.stopAndCheck(c)
	t.Logf("%d acknowledged writes over %d rounds, all readable", n, rounds)
}
