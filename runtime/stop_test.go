package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/runtime"
)

// TestStopUnderLoad: Stop while invocations are in flight answers every
// call promptly (done, or ErrClosed/ErrUnavailable) and releases
// everything (the package's leak check).
func TestStopUnderLoad(t *testing.T) {
	n, err := runtime.Start(ctxT(t), runtime.Config{DataDir: t.TempDir(), RTTMillisecond: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := n.RegisterClass(ctx, counterClass("counter", 4)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				start := time.Now()
				_, err := n.Invoke(ctx, "counter", fmt.Sprint("c", (g+i)%8), "incr", nil)
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("a call took %v", d)
				}
				if err != nil {
					if !errors.Is(err, odgm.ErrClosed) && !errors.Is(err, odgm.ErrUnavailable) {
						t.Errorf("call during stop: %v", err)
					}
					return
				}
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok == 0 {
		t.Fatal("no call succeeded before the stop")
	}
}

// TestCancelWhileWaiting: cancelling the caller's context returns at once
// with ErrCanceled, even while the object is busy with an earlier call.
func TestCancelWhileWaiting(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	release := make(chan struct{})
	cls := runtime.Class{Name: "slow", Methods: map[string]runtime.Method{
		"wait": func(context.Context, *runtime.Object, []byte) ([]byte, error) { <-release; return nil, nil },
		"noop": func(context.Context, *runtime.Object, []byte) ([]byte, error) { return nil, nil },
	}}
	if err := n.RegisterClass(ctx, cls); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { _, err := n.Invoke(ctx, "slow", "o", "wait", nil); first <- err }()
	time.Sleep(50 * time.Millisecond)
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := n.Invoke(cctx, "slow", "o", "noop", nil)
	if !errors.Is(err, odgm.ErrCanceled) || !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("cancelled call: %v after %v", err, time.Since(start))
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}
