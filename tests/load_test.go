package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/proccluster"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// writeLoad is workers writers putting fresh objects of class kv through
// o, each retrying a write (same request id) until it is acknowledged.
type writeLoad struct {
	t       *testing.T
	o       odgm.Objects
	acked   sync.Map // id → true
	stop    atomic.Bool
	wg      sync.WaitGroup
	ackedAt atomic.Int64 // unix nanos of the latest acknowledgement
}

func startWriteLoad(t *testing.T, o odgm.Objects, prefix string, workers int) *writeLoad {
	l := &writeLoad{t: t, o: o}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; !l.stop.Load(); i++ {
				id := fmt.Sprintf("%s%d-%d", prefix, w, i)
				if err := proccluster.Retry(30*time.Second, func(ctx context.Context) error {
					_, err := o.Put(ctx, "kv", id, map[string][]byte{"v": []byte(id)}, odgm.RequestID("load-"+id))
					return err
				}); err != nil {
					t.Errorf("write %s: %v", id, err)
					return
				}
				l.acked.Store(id, true)
				l.ackedAt.Store(time.Now().UnixNano())
			}
		}()
	}
	return l
}

// firstAckAfter waits up to d for a write acknowledged after t0 and
// returns how long after t0 it was (0: none).
func (l *writeLoad) firstAckAfter(t0 time.Time, d time.Duration) time.Duration {
	for deadline := t0.Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if at := time.Unix(0, l.ackedAt.Load()); at.After(t0) {
			return at.Sub(t0)
		}
	}
	return 0
}

// stopAndCheck stops the writers and reads back every acknowledged write
// through o; it returns how many there were.
func (l *writeLoad) stopAndCheck(o odgm.Objects) int {
	l.stop.Store(true)
	l.wg.Wait()
	n := 0
	l.acked.Range(func(k, _ any) bool {
		id := k.(string)
		n++
		if err := proccluster.Retry(30*time.Second, func(ctx context.Context) error {
			got, err := o.Get(ctx, "kv", id)
			if err == nil && string(got.Entries["v"]) != id {
				err = fmt.Errorf("%s = %q", id, got.Entries["v"])
			}
			return err
		}); err != nil {
			l.t.Errorf("acknowledged write %s lost: %v", id, err)
		}
		return true
	})
	return n
}

// busiestLeader is the node leading the most shards (the lowest id among
// equals) and how many it leads.
func busiestLeader(st *odgmv1.ClusterStatus) (uint64, int) {
	leads := map[uint64]int{}
	for _, s := range st.GetShards() {
		if s.GetLeaderNode() != 0 {
			leads[s.GetLeaderNode()]++
		}
	}
	var victim uint64
	for id, n := range leads {
		if victim == 0 || n > leads[victim] || n == leads[victim] && id < victim {
			victim = id
		}
	}
	return victim, leads[victim]
}
