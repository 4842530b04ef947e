// Command replicated runs three ODGM nodes inside one process (separate
// data directories, Raft over loopback TCP) with a class whose shard has 3
// replicas, drives increments through all of them, stops the node hosting
// the shard's leader in the middle of the load, and checks that every
// acknowledged increment survived on the other two.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/loopback"
	"github.com/odgm-go/odgm/runtime"
)

func main() {
	dir, err := os.MkdirTemp("", "odgm-replicated-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, dir, 12, 40); err != nil {
		log.Fatal(err)
	}
}

func counter() runtime.Class {
	return runtime.Class{
		Name:     "counter",
		Replicas: 3,
		Methods: map[string]runtime.Method{
			"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
				o.Set("n", binary.BigEndian.AppendUint64(nil, get(o)+1))
				return nil, nil
			},
		},
	}
}

func get(o *runtime.Object) uint64 { v, _ := o.Get("n"); return value(v) }

func value(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

const objects = 4

func run(ctx context.Context, w io.Writer, dir string, callers, each int) error {
	cluster := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		addr, err := loopback.Addr()
		if err != nil {
			return err
		}
		cluster[id] = addr
	}
	nodes := make([]*runtime.Node, 3)
	alive := make([]atomic.Bool, 3)
	for i := range nodes {
		n, err := runtime.Start(ctx, runtime.Config{
			DataDir: filepath.Join(dir, fmt.Sprint("node", i+1)), NodeID: uint64(i + 1), Cluster: cluster,
		})
		if err != nil {
			return err
		}
		nodes[i] = n
		alive[i].Store(true)
		defer n.Stop(ctx)
	}
	// Each node registers the class; the shard elects a leader once a
	// quorum has.
	var wg sync.WaitGroup
	regErrs := make([]error, 3)
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); regErrs[i] = n.RegisterClass(ctx, counter()) }()
	}
	wg.Wait()
	if err := errors.Join(regErrs...); err != nil {
		return err
	}
	fmt.Fprintln(w, "3 nodes up, class counter with 3 replicas")

	var acked, attempts atomic.Int64
	errs := make(chan error, callers)
	halfway := make(chan struct{})
	var once sync.Once
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("c", c%objects)
			for i := range each {
				if c == 0 && i == each/2 {
					once.Do(func() { close(halfway) })
				}
				// One request id per increment: retried on another node
				// after a failure, it is applied at most once.
				rid := runtime.RequestID(fmt.Sprintf("incr-%d-%d", c, i))
				attempts.Add(1)
				var err error
				for try := 0; ; try++ {
					k := (c + i + try) % 3
					if !alive[k].Load() {
						continue
					}
					_, err = nodes[k].Invoke(ctx, "counter", id, "incr", nil, rid)
					if err == nil || try > 50 || !retryable(err) {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if err != nil {
					errs <- fmt.Errorf("caller %d increment %d: %w", c, i, err)
					return
				}
				acked.Add(1)
			}
		}()
	}
	<-halfway
	sid := runtime.ShardID("counter", 0)
	leader := nodes[0].Host().Health(sid).LeaderID
	if leader == 0 {
		return errors.New("no leader")
	}
	alive[leader-1].Store(false)
	if err := nodes[leader-1].Stop(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "stopped the leader's node mid-load")
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	var total uint64
	survivor := nodes[leader%3]
	for o := range objects {
		st, err := survivor.Get(ctx, "counter", fmt.Sprint("c", o))
		if err != nil {
			return err
		}
		total += value(st.Entries["n"])
	}
	if total != uint64(acked.Load()) {
		return fmt.Errorf("acknowledged %d increments, counters hold %d", acked.Load(), total)
	}
	fmt.Fprintf(w, "all %d acknowledged increments survived on the other two nodes\n", acked.Load())
	return nil
}

// retryable errors leave an increment's outcome unknown or undone: it is
// retried, with the same request id, on another node.
func retryable(err error) bool {
	return errors.Is(err, odgm.ErrTimeout) || errors.Is(err, odgm.ErrUnavailable) ||
		errors.Is(err, odgm.ErrClosed) || errors.Is(err, odgm.ErrVersionMismatch)
}
