package runtime

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWorkerPool: every scheduled function runs, beyond the pool's bound
// and after it has stopped.
func TestWorkerPool(t *testing.T) {
	p := newWorkerPool(4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	block := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		p.Schedule(func() {
			defer wg.Done()
			if i < 8 {
				<-block // keep workers busy: the rest need goroutines of their own
			}
			mu.Lock()
			ran++
			mu.Unlock()
		})
	}
	close(block)
	wg.Wait()
	p.stop(true)
	wg.Add(1)
	p.Schedule(func() { defer wg.Done(); mu.Lock(); ran++; mu.Unlock() })
	wg.Wait()
	if ran != 51 {
		t.Fatalf("%d functions ran, want 51", ran)
	}
	if p.mu.workers > 4 {
		t.Fatalf("%d workers, at most 4", p.mu.workers)
	}
}

// TestWorkerPoolStopWaits: stop(true) returns only once a worker busy when
// the pool stops has finished its function.
func TestWorkerPoolStopWaits(t *testing.T) {
	p := newWorkerPool(1)
	busy, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	p.Schedule(func() { // the pool's first: it starts the worker
		close(busy)
		<-release
		time.Sleep(10 * time.Millisecond)
		finished.Store(true)
	})
	<-busy
	stopped := make(chan struct{})
	go func() { p.stop(true); close(stopped) }()
	close(release)
	<-stopped
	if !finished.Load() {
		t.Fatal("stop(true) returned while a worker was still running its function")
	}
}
