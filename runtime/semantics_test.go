package runtime_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/apitest"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/runtime"
)

func plain(name string, partitions int) runtime.Class {
	return runtime.Class{Name: name, Partitions: partitions}
}

func entries(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// TestObjectsSuite runs the object API's semantic suite
// (internal/apitest: versions, CAS, Select, pagination, invocations, typed
// errors, request ids, deadlines) on the embedded node; the remote client
// and the gRPC service run the same suite. The tests below pin what only
// the embedded API shows.
func TestObjectsSuite(t *testing.T) {
	apitest.Run(t, func(t *testing.T) apitest.Target {
		return apitest.Target{Objects: apitest.StartNode(t, nil), MaxValueSize: apitest.MaxValueSize}
	})
}

// TestCompareAndSwap: a stale expected version fails with
// ErrVersionMismatch and writes nothing; 0 means "must not exist".
func TestCompareAndSwap(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	if err := n.RegisterClass(ctx, plain("acct", 1)); err != nil {
		t.Fatal(err)
	}
	if v, err := n.CompareAndSwap(ctx, "acct", "a", 0, entries("bal", "10"), nil); err != nil || v != 1 {
		t.Fatalf("create: %d %v", v, err)
	}
	v, err := n.CompareAndSwap(ctx, "acct", "a", 0, entries("bal", "99"), nil)
	if !errors.Is(err, odgm.ErrVersionMismatch) || v != 1 {
		t.Fatalf("create again: %d %v", v, err)
	}
	if v, err := n.CompareAndSwap(ctx, "acct", "a", 1, entries("bal", "20", "x", "1"), []string{"nothing"}); err != nil || v != 2 {
		t.Fatalf("swap: %d %v", v, err)
	}
	if _, err := n.CompareAndSwap(ctx, "acct", "a", 1, nil, []string{"bal"}); !errors.Is(err, odgm.ErrVersionMismatch) {
		t.Fatalf("stale delete: %v", err)
	}
	st, err := n.Get(ctx, "acct", "a")
	if err != nil || st.Version != 2 || string(st.Entries["bal"]) != "20" {
		t.Fatalf("after: %+v %v", st, err)
	}
}

// TestTypedErrors: every failure a caller can meet is an odgm error.
func TestTypedErrors(t *testing.T) {
	n := startMemory(t, func(c *runtime.Config) {
		c.Limits = runtime.Limits{MaxIDLen: 20, MaxValueSize: 16, MaxBatchEntries: 2}
	})
	ctx := ctxT(t)
	if err := n.RegisterClass(ctx, counterClass("counter", 2)); err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-expired.Done()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	cases := []struct {
		name string
		err  error
		want []error
	}{
		{"unknown class", func() error { _, err := n.Get(ctx, "nope", "a"); return err }(), []error{odgm.ErrUnknownClass}},
		{"invalid id", func() error { _, err := n.Put(ctx, "counter", "bad id!", entries("a", "1")); return err }(), []error{odgm.ErrInvalidID}},
		{"empty id", func() error { _, err := n.Invoke(ctx, "counter", "", "get", nil); return err }(), []error{odgm.ErrInvalidID}},
		{"id too long", func() error { _, err := n.Get(ctx, "counter", strings.Repeat("a", 21)); return err }(), []error{odgm.ErrInvalidID, odgm.ErrTooLarge}},
		{"bad entry name", func() error { _, err := n.Put(ctx, "counter", "a", entries("a/b", "1")); return err }(), []error{odgm.ErrInvalidArgument}},
		{"value too large", func() error { _, err := n.Put(ctx, "counter", "a", entries("a", strings.Repeat("x", 17))); return err }(), []error{odgm.ErrTooLarge}},
		{"batch too large", func() error { _, err := n.Put(ctx, "counter", "a", entries("a", "1", "b", "2", "c", "3")); return err }(), []error{odgm.ErrTooLarge}},
		{"unknown method", func() error { _, err := n.Invoke(ctx, "counter", "a", "nope", nil); return err }(), []error{odgm.ErrUnknownMethod}},
		{"method error", func() error { _, err := n.Invoke(ctx, "counter", "a", "fail", nil); return err }(), []error{errFail}},
		{"not found", func() error { _, err := n.Get(ctx, "counter", "never"); return err }(), []error{odgm.ErrNotFound}},
		{"deadline", func() error { _, err := n.Invoke(expired, "counter", "a", "incr", nil); return err }(), []error{odgm.ErrTimeout, context.DeadlineExceeded}},
		{"deadline read", func() error { _, err := n.Get(expired, "counter", "a"); return err }(), []error{odgm.ErrTimeout, context.DeadlineExceeded}},
		{"canceled", func() error { _, err := n.Put(canceled, "counter", "a", entries("a", "1")); return err }(), []error{odgm.ErrCanceled, context.Canceled}},
		{"unknown index", func() error { _, err := n.QueryIndex(ctx, "counter", runtime.IndexQuery{Index: "x"}); return err }(), []error{odgm.ErrInvalidArgument}},
		{"unknown stateless", func() error { _, err := n.InvokeStateless(ctx, "counter", "x", nil); return err }(), []error{odgm.ErrUnknownMethod}},
	}
	for _, c := range cases {
		for _, w := range c.want {
			if !errors.Is(c.err, w) {
				t.Errorf("%s: %v is not %v", c.name, c.err, w)
			}
		}
	}
	var me *odgm.MethodError
	_, err := n.Invoke(ctx, "counter", "a", "fail", nil)
	if !errors.As(err, &me) || me.Method != "fail" || me.ID != "a" || me.Panic {
		t.Fatalf("method error: %#v", err)
	}
	// Class registration errors.
	if err := n.RegisterClass(ctx, counterClass("counter", 1)); !errors.Is(err, odgm.ErrClassExists) {
		t.Fatalf("register twice: %v", err)
	}
	if err := n.RegisterClass(ctx, runtime.Class{Name: "Bad Name"}); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("bad class: %v", err)
	}
	if err := n.RegisterClass(ctx, runtime.Class{Name: "three", Replicas: 3}); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("3 replicas on one node: %v", err)
	}
}

// TestMethodFailureWritesNothing: an error or a panic writes nothing; the
// panicking object's actor is restarted and keeps serving, in order.
func TestMethodFailureWritesNothing(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	if err := n.RegisterClass(ctx, counterClass("counter", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Invoke(ctx, "counter", "c", "incr", nil); err != nil {
		t.Fatal(err)
	}
	var me *odgm.MethodError
	if _, err := n.Invoke(ctx, "counter", "c", "fail", nil); !errors.As(err, &me) || me.Panic || !errors.Is(err, errFail) {
		t.Fatalf("fail: %v", err)
	}
	// Queue invocations behind a panic: they are served after the restart.
	var wg sync.WaitGroup
	errs := make([]error, 10)
	_, err := n.Invoke(ctx, "counter", "c", "boom", nil)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = n.Invoke(ctx, "counter", "c", "incr", nil)
		}()
	}
	if !errors.As(err, &me) || !me.Panic || me.Message != "boom" {
		t.Fatalf("boom: %v", err)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := n.Get(ctx, "counter", "c")
	if err != nil || getU64(st.Entries["n"]) != 11 || st.Version != 11 {
		t.Fatalf("after failures: n=%d version=%d %v", getU64(st.Entries["n"]), st.Version, err)
	}
}

// TestConcurrentPanics: panics racing with other invocations lose nothing
// buffered behind them.
func TestConcurrentPanics(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	if err := n.RegisterClass(ctx, counterClass("counter", 1)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var incrs, panics atomic.Int64
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := "incr"
			if i%3 == 0 {
				m = "boom"
			}
			_, err := n.Invoke(ctx, "counter", "c", m, nil)
			var me *odgm.MethodError
			switch {
			case err == nil && m == "incr":
				incrs.Add(1)
			case errors.As(err, &me) && me.Panic:
				panics.Add(1)
			default:
				t.Errorf("%s: %v", m, err)
			}
		}()
	}
	wg.Wait()
	out, err := n.Invoke(ctx, "counter", "c", "get", nil)
	if err != nil || getU64(out) != uint64(incrs.Load()) || incrs.Load() != 40 || panics.Load() != 20 {
		t.Fatalf("count %d, incrs %d, panics %d, %v", getU64(out), incrs.Load(), panics.Load(), err)
	}
}

// TestInvocationsSerialisedInArrivalOrder: one object runs one invocation
// at a time, in the order they arrived; each sees the previous one's
// writes.
func TestInvocationsSerialisedInArrivalOrder(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	release := make(chan struct{})
	var running atomic.Int32
	cls := runtime.Class{Name: "log", Methods: map[string]runtime.Method{
		"append": func(_ context.Context, o *runtime.Object, p []byte) ([]byte, error) {
			if running.Add(1) != 1 {
				t.Error("two invocations of one object at once")
			}
			defer running.Add(-1)
			if string(p) == "first" {
				<-release
			}
			v, _ := o.Get("log")
			o.Set("log", append(append([]byte{}, v...), p[0]))
			return nil, nil
		},
	}}
	if err := n.RegisterClass(ctx, cls); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	call := func(p string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := n.Invoke(ctx, "log", "l", "append", []byte(p)); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(50 * time.Millisecond) // let it arrive before the next
	}
	call("first")
	for _, p := range []string{"b", "c", "d", "e"} {
		call(p)
	}
	close(release)
	wg.Wait()
	st, err := n.Get(ctx, "log", "l")
	if err != nil || string(st.Entries["log"]) != "fbcde" || st.Version != 5 {
		t.Fatalf("log %q version %d %v", st.Entries["log"], st.Version, err)
	}

	// Many concurrent increments: each sees a distinct state.
	if err := n.RegisterClass(ctx, counterClass("counter", 4)); err != nil {
		t.Fatal(err)
	}
	const callers = 100
	seen := make([]uint64, callers)
	for i := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := n.Invoke(ctx, "counter", "hot", "incr", nil)
			if err != nil {
				t.Error(err)
			}
			seen[i] = getU64(out)
		}()
	}
	wg.Wait()
	slices.Sort(seen)
	for i, v := range seen {
		if v != uint64(i+1) {
			t.Fatalf("results are not 1..%d: %v", callers, seen)
		}
	}
}

// TestReadOnlyMethodProposesNothing: a method that writes nothing (or
// writes what is already stored) does not go through Raft.
func TestReadOnlyMethodProposesNothing(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	cls := counterClass("counter", 1)
	cls.Methods["same"] = func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
		v, _ := o.Get("n")
		o.Set("n", v)
		o.Delete("missing")
		return nil, nil
	}
	if err := n.RegisterClass(ctx, cls); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Invoke(ctx, "counter", "c", "incr", nil); err != nil {
		t.Fatal(err)
	}
	sid := runtime.ShardID("counter", 0)
	before := n.Host().Health(sid).AppliedIndex
	for _, m := range []string{"get", "same", "get"} {
		if _, err := n.Invoke(ctx, "counter", "c", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if after := n.Host().Health(sid).AppliedIndex; after != before {
		t.Fatalf("applied index moved %d -> %d", before, after)
	}
}

// TestStaleCacheIsRetried: a write that bypassed the object actor makes
// its cached state stale; the next invocation's write mismatches, the
// actor reloads and runs the method again.
func TestStaleCacheIsRetried(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	if err := n.RegisterClass(ctx, counterClass("counter", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Invoke(ctx, "counter", "c", "incr", nil); err != nil {
		t.Fatal(err)
	}
	cmd := &odgmv1.Command{Object: &odgmv1.ObjectRef{Class: "counter", Id: "c"}, Puts: []*odgmv1.Entry{{Name: "n", Value: u64(100)}}}
	if _, err := n.Host().Propose(ctx, runtime.ShardID("counter", 0), cmd); err != nil {
		t.Fatal(err)
	}
	out, err := n.Invoke(ctx, "counter", "c", "incr", nil)
	if err != nil || getU64(out) != 101 {
		t.Fatalf("incr after a write behind the actor's back: %d %v", getU64(out), err)
	}
}

// TestPassivation: an idle object actor is passivated, and the next
// invocation activates a new one that reads the current state.
func TestPassivation(t *testing.T) {
	n := startMemory(t, func(c *runtime.Config) { c.IdleTimeout = 500 * time.Millisecond })
	ctx := ctxT(t)
	if err := n.RegisterClass(ctx, counterClass("counter", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Invoke(ctx, "counter", "c", "incr", nil); err != nil {
		t.Fatal(err)
	}
	if a, err := n.ActiveObjects(ctx, "counter"); err != nil || a != 1 {
		t.Fatalf("active objects: %d %v", a, err)
	}
	cmd := &odgmv1.Command{Object: &odgmv1.ObjectRef{Class: "counter", Id: "c"}, Puts: []*odgmv1.Entry{{Name: "n", Value: u64(50)}}}
	if _, err := n.Host().Propose(ctx, runtime.ShardID("counter", 0), cmd); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err := n.ActiveObjects(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if a == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle object actor was not passivated")
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, err := n.Invoke(ctx, "counter", "c", "get", nil)
	if err != nil || getU64(out) != 50 {
		t.Fatalf("get after passivation: %d %v (a cached state survived)", getU64(out), err)
	}
}

// TestStatelessMethod runs on the caller's goroutine; its error and panic
// come back as MethodError.
func TestStatelessMethod(t *testing.T) {
	n := startMemory(t, nil)
	ctx := ctxT(t)
	cls := runtime.Class{Name: "util", StatelessMethods: map[string]runtime.StatelessMethod{
		"echo":  func(_ context.Context, p []byte) ([]byte, error) { return p, nil },
		"fail":  func(context.Context, []byte) ([]byte, error) { return nil, errFail },
		"panic": func(context.Context, []byte) ([]byte, error) { panic("no") },
	}}
	if err := n.RegisterClass(ctx, cls); err != nil {
		t.Fatal(err)
	}
	if out, err := n.InvokeStateless(ctx, "util", "echo", []byte("hi")); err != nil || string(out) != "hi" {
		t.Fatalf("echo %q %v", out, err)
	}
	if _, err := n.InvokeStateless(ctx, "util", "fail", nil); !errors.Is(err, errFail) {
		t.Fatalf("fail %v", err)
	}
	var me *odgm.MethodError
	if _, err := n.InvokeStateless(ctx, "util", "panic", nil); !errors.As(err, &me) || !me.Panic {
		t.Fatalf("panic %v", err)
	}
}

// TestMethodWriteLimits: a method's writes obey the node's limits.
func TestMethodWriteLimits(t *testing.T) {
	n := startMemory(t, func(c *runtime.Config) { c.Limits.MaxValueSize = 4; c.Limits.MaxBatchEntries = 2 })
	ctx := ctxT(t)
	cls := runtime.Class{Name: "w", Methods: map[string]runtime.Method{
		"big": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
			o.Set("a", []byte("12345"))
			return nil, nil
		},
		"many": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
			o.Set("a", nil)
			o.Set("b", nil)
			o.Set("c", nil)
			return nil, nil
		},
		"badname": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
			o.Set("a*", nil)
			return nil, nil
		},
	}}
	if err := n.RegisterClass(ctx, cls); err != nil {
		t.Fatal(err)
	}
	for m, want := range map[string]error{"big": odgm.ErrTooLarge, "many": odgm.ErrTooLarge, "badname": odgm.ErrInvalidArgument} {
		if _, err := n.Invoke(ctx, "w", "o", m, nil); !errors.Is(err, want) {
			t.Errorf("%s: %v", m, err)
		}
	}
	if _, err := n.Get(ctx, "w", "o"); !errors.Is(err, odgm.ErrNotFound) {
		t.Fatalf("something was written: %v", err)
	}
}

// TestSingleActivationUnderPassivation: with actors passivated between
// almost every call, an object still never runs two invocations at once,
// and every increment counts.
func TestSingleActivationUnderPassivation(t *testing.T) {
	n := startMemory(t, func(c *runtime.Config) { c.IdleTimeout = 2 * time.Millisecond })
	ctx := ctxT(t)
	var running atomic.Int32
	cls := runtime.Class{Name: "busy", Methods: map[string]runtime.Method{
		"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
			if running.Add(1) != 1 {
				t.Error("two invocations of one object at once")
			}
			defer running.Add(-1)
			time.Sleep(3 * time.Millisecond)
			v, _ := o.Get("n")
			o.Set("n", u64(getU64(v)+1))
			return nil, nil
		},
	}}
	if err := n.RegisterClass(ctx, cls); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if _, err := n.Invoke(ctx, "busy", "b", "incr", nil); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Duration(g) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	st, err := n.Get(ctx, "busy", "b")
	if err != nil || getU64(st.Entries["n"]) != 80 {
		t.Fatalf("count %d %v", getU64(st.Entries["n"]), err)
	}
}
