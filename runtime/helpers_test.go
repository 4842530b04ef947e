package runtime_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/odgm-go/odgm/runtime"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startMemory starts an in-memory node with fast Raft ticks.
func startMemory(t testing.TB, mod func(*runtime.Config)) *runtime.Node {
	t.Helper()
	cfg := runtime.Config{Memory: true, RTTMillisecond: 5}
	if mod != nil {
		mod(&cfg)
	}
	n, err := runtime.Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return n
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// counterClass is a class whose "incr" adds one to entry "n" and returns
// the new value, "get" returns it, "fail" returns an error after writing,
// "boom" panics after writing.
func counterClass(name string, partitions int) runtime.Class {
	return runtime.Class{
		Name:       name,
		Partitions: partitions,
		Methods: map[string]runtime.Method{
			"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
				v, _ := o.Get("n")
				next := getU64(v) + 1
				o.Set("n", u64(next))
				return u64(next), nil
			},
			"get": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
				v, _ := o.Get("n")
				return u64(getU64(v)), nil
			},
			"fail": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
				o.Set("n", u64(1000))
				return nil, errFail
			},
			"boom": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
				o.Set("n", u64(1000))
				panic("boom")
			},
		},
	}
}
