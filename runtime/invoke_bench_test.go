package runtime_test

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkInvoke measures increments by method invocation on an in-memory
// single node (no fsync: the CPU cost of the stack), from 256 goroutines
// over 10,000 objects, and reports allocations per invocation. Time is per
// invocation; compare runs of the same machine only (bench/runtimebench
// measures against raw dragonboat).
func BenchmarkInvoke(b *testing.B) {
	n := startMemory(b, nil)
	ctx := ctxT(b)
	if err := n.RegisterClass(ctx, counterClass("counter", 1)); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = fmt.Sprint("c", i)
	}
	var next atomic.Uint64
	b.SetParallelism(128) // 256 callers on 2 CPUs
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[next.Add(1)%uint64(len(ids))]
			if _, err := n.Invoke(ctx, "counter", id, "incr", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
