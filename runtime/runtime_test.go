package runtime_test

import (
	"context"
	"errors"
	"testing"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/runtime"
)

var errFail = errors.New("deliberate failure")

func TestStartInvokeStop(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	if err := n.RegisterClass(ctx, counterClass("counter", 2)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		out, err := n.Invoke(ctx, "counter", "c1", "incr", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := getU64(out); got != uint64(i) {
			t.Fatalf("incr %d returned %d", i, got)
		}
	}
	st, err := n.Get(ctx, "counter", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != 3 || getU64(st.Entries["n"]) != 3 {
		t.Fatalf("state %+v", st)
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if _, err := n.Get(ctx, "counter", "c1"); !errors.Is(err, odgm.ErrClosed) {
		t.Fatalf("get after stop: %v", err)
	}
	_ = runtime.Config{}
}
