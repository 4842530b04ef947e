package tests

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := proccluster.Retry(30*time.Second, func(ctx context.Context) error {
		return c.CreateClass(ctx, &odgmv1.ClassSpec{Name: "kv", Partitions: 4, Replicas: 3})
	}); err != nil {
		t.Fatal(err)
	}
	_ = ctx
	var acked sync.Map
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := proccluster.Retry(30*time.Second, func(ctx context.Context) error {
					_, err := c.Put(ctx, "kv", id, map[string][]byte{"v": []byte(id)}, odgm.RequestID("long-"+id))
					return err
				}); err != nil {
					t.Errorf("write %s: %v", id, err)
					return
				}
				acked.Store(id, true)
			}
		}()
	}
	for r := range rounds {
		st := waitStatus(t, c, 90*time.Second, "settled", func(st *odgmv1.ClusterStatus) bool {
			return proccluster.Settled(4)(st) && proccluster.AllAlive(st)
		})
		leads := map[uint64]int{}
		for _, s := range st.GetShards() {
			leads[s.GetLeaderNode()]++
		}
		victim := uint64(1)
		for id, n := range leads {
			if n > leads[victim] {
				victim = id
			}
		}
		t.Logf("round %d: killing node %d (leads %d shards)", r, victim, leads[victim])
		pc.kill(victim)
		time.Sleep(4 * time.Second) // past node_dead_timeout: repair starts
		pc.restart(victim)
	}
	stop.Store(true)
	wg.Wait()
	n := 0
	acked.Range(func(k, _ any) bool {
		id := k.(string)
		n++
		if err := proccluster.Retry(30*time.Second, func(ctx context.Context) error {
			got, err := c.Get(ctx, "kv", id)
			if err == nil && string(got.Entries["v"]) != id {
				err = fmt.Errorf("%s = %q", id, got.Entries["v"])
			}
			return err
		}); err != nil {
			t.Errorf("acknowledged write lost: %v", err)
		}
		return true
	})
	t.Logf("%d acknowledged writes over %d rounds, all readable", n, rounds)
}
