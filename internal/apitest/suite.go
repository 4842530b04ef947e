package apitest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
)

// Target is what the suite runs against.
type Target struct {
	// Objects is the face under test.
	Objects odgm.Objects
	// Names are the classes' names (zero: DefaultNames).
	Names Names
	// MaxValueSize is the serving node's value size limit (zero: the
	// runtime's default, 1 MiB).
	MaxValueSize int
}

// Run runs the suite against the Target that setup returns; setup is
// called once, and the subtests share the Target, each with its own ids.
// The Item class must hold no objects but the suite's.
func Run(t *testing.T, setup func(t *testing.T) Target) {
	tg := setup(t)
	if tg.Names == (Names{}) {
		tg.Names = DefaultNames
	}
	if tg.MaxValueSize == 0 {
		tg.MaxValueSize = 1 << 20
	}
	s := &suite{Target: tg, o: tg.Objects}
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Versions", s.versions},
		{"CompareAndSwap", s.compareAndSwap},
		{"ListPagination", s.listPagination},
		{"QueryIndexPagination", s.queryIndex},
		{"Invoke", s.invoke},
		{"InvokeStateless", s.invokeStateless},
		{"TypedErrors", s.typedErrors},
		{"RequestIDAppliedOnce", s.exactlyOnce},
		{"Deadlines", s.deadlines},
	} {
		t.Run(c.name, c.fn)
	}
}

type suite struct {
	Target
	o odgm.Objects
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func entries(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// versions: first write 1, +1 per changing write (a batch once), no
// change for no-op writes; a deleted object is gone and starts again at 1;
// Select picks entries.
func (s *suite) versions(t *testing.T) {
	ctx, doc := ctxT(t), s.Names.Doc
	steps := []struct {
		name string
		do   func() (uint64, error)
		want uint64
	}{
		{"first put", func() (uint64, error) { return s.o.Put(ctx, doc, "v", entries("a", "1")) }, 1},
		{"batch of three", func() (uint64, error) { return s.o.Put(ctx, doc, "v", entries("a", "2", "b", "2", "c", "2")) }, 2},
		{"same values", func() (uint64, error) { return s.o.Put(ctx, doc, "v", entries("a", "2", "b", "2")) }, 2},
		{"empty put", func() (uint64, error) { return s.o.Put(ctx, doc, "v", nil) }, 2},
		{"delete missing", func() (uint64, error) { return s.o.Delete(ctx, doc, "v", []string{"zz"}) }, 2},
		{"empty delete", func() (uint64, error) { return s.o.Delete(ctx, doc, "v", nil) }, 2},
		{"delete existing", func() (uint64, error) { return s.o.Delete(ctx, doc, "v", []string{"a", "zz"}) }, 3},
		{"delete all entries", func() (uint64, error) { return s.o.Delete(ctx, doc, "v", []string{"b", "c"}) }, 4},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil || got != st.want {
			t.Fatalf("%s: version %d, %v; want %d", st.name, got, err, st.want)
		}
	}
	st, err := s.o.Get(ctx, doc, "V") // ids fold to lower case
	if err != nil || st == nil || st.Version != 4 || len(st.Entries) != 0 || st.ID != "v" {
		t.Fatalf("object with no entries left: %+v %v", st, err)
	}
	if st.CreatedAt.IsZero() || st.UpdatedAt.Before(st.CreatedAt) {
		t.Fatalf("times %v %v", st.CreatedAt, st.UpdatedAt)
	}
	if err := s.o.DeleteObject(ctx, doc, "v"); err != nil {
		t.Fatal(err)
	}
	if st, err := s.o.Get(ctx, doc, "v"); !errors.Is(err, odgm.ErrNotFound) || st != nil {
		t.Fatalf("get deleted: %+v %v", st, err)
	}
	if err := s.o.DeleteObject(ctx, doc, "v"); err != nil {
		t.Fatalf("delete missing object: %v", err)
	}
	if v, err := s.o.Put(ctx, doc, "v", entries("a", "x")); err != nil || v != 1 {
		t.Fatalf("re-created: %d %v", v, err)
	}
	if v, err := s.o.Put(ctx, doc, "v", entries("b", "y", "e", "")); err != nil || v != 2 {
		t.Fatalf("second put: %d %v", v, err)
	}
	st, err = s.o.Get(ctx, doc, "v")
	if err != nil || st.Version != 2 || len(st.Entries) != 3 || string(st.Entries["a"]) != "x" || string(st.Entries["b"]) != "y" {
		t.Fatalf("all entries: %+v %v", st, err)
	}
	if v, ok := st.Entries["e"]; !ok || len(v) != 0 {
		t.Fatalf("empty value: %q %v", v, ok)
	}
	for _, opts := range [][]odgm.Option{{odgm.Select("b", "missing")}, {odgm.Select("b"), odgm.StaleRead()}} {
		st, err = s.o.Get(ctx, doc, "v", opts...)
		if err != nil || len(st.Entries) != 1 || string(st.Entries["b"]) != "y" || st.Version != 2 {
			t.Fatalf("select: %+v %v", st, err)
		}
	}
}

// compareAndSwap: 0 means "must not exist"; a stale expected version
// fails with ErrVersionMismatch and writes nothing.
func (s *suite) compareAndSwap(t *testing.T) {
	ctx, doc := ctxT(t), s.Names.Doc
	if v, err := s.o.CompareAndSwap(ctx, doc, "cas", 0, entries("bal", "10"), nil); err != nil || v != 1 {
		t.Fatalf("create: %d %v", v, err)
	}
	if _, err := s.o.CompareAndSwap(ctx, doc, "cas", 0, entries("bal", "99"), nil); !errors.Is(err, odgm.ErrVersionMismatch) {
		t.Fatalf("create again: %v", err)
	}
	if v, err := s.o.CompareAndSwap(ctx, doc, "cas", 1, entries("bal", "20", "x", "1"), []string{"nothing"}); err != nil || v != 2 {
		t.Fatalf("swap: %d %v", v, err)
	}
	if _, err := s.o.CompareAndSwap(ctx, doc, "cas", 1, nil, []string{"bal"}); !errors.Is(err, odgm.ErrVersionMismatch) {
		t.Fatalf("stale delete: %v", err)
	}
	if _, err := s.o.CompareAndSwap(ctx, doc, "cas", 7, entries("bal", "0"), nil); !errors.Is(err, odgm.ErrVersionMismatch) {
		t.Fatalf("future version: %v", err)
	}
	st, err := s.o.Get(ctx, doc, "cas")
	if err != nil || st.Version != 2 || string(st.Entries["bal"]) != "20" || string(st.Entries["x"]) != "1" {
		t.Fatalf("after: %+v %v", st, err)
	}
	if v, err := s.o.CompareAndSwap(ctx, doc, "cas", 2, nil, []string{"x"}); err != nil || v != 3 {
		t.Fatalf("delete by swap: %d %v", v, err)
	}
	if err := s.o.DeleteObject(ctx, doc, "cas"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.o.CompareAndSwap(ctx, doc, "cas", 0, entries("bal", "1"), nil); err != nil || v != 1 {
		t.Fatalf("create after delete: %d %v", v, err)
	}
}

// listPagination: pages across partitions are disjoint, in one stable
// order, within the limit, and cover every object; the prefix filters.
func (s *suite) listPagination(t *testing.T) {
	ctx, item := ctxT(t), s.Names.Item
	var want []string
	for i := 0; i < 57; i++ {
		id := fmt.Sprintf("k%03d", i)
		if i%4 == 0 {
			id = fmt.Sprintf("x%03d", i)
		}
		if _, err := s.o.Put(ctx, item, id, entries("v", "1")); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	slices.Sort(want)
	list := func(q odgm.ListOptions) []string {
		t.Helper()
		var got []string
		for pages := 0; ; pages++ {
			p, err := s.o.List(ctx, item, q)
			if err != nil || p == nil {
				t.Fatalf("list %+v: %v", q, err)
			}
			if q.Limit > 0 && len(p.IDs) > q.Limit || pages > 100 {
				t.Fatalf("page of %d over limit %d", len(p.IDs), q.Limit)
			}
			got = append(got, p.IDs...)
			if p.Next == "" {
				return got
			}
			q.Cursor = p.Next
		}
	}
	for _, limit := range []int{1, 7, 57, 100, 0} {
		if got := list(odgm.ListOptions{Limit: limit}); !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %v", limit, got)
		}
	}
	if got := list(odgm.ListOptions{Limit: 4, Stale: true}); !slices.Equal(got, want) {
		t.Fatalf("stale: listed %v", got)
	}
	p, err := s.o.List(ctx, item, odgm.ListOptions{Prefix: "X0", Limit: 1000})
	if err != nil || len(p.IDs) != 15 || p.Next != "" {
		t.Fatalf("prefix: %+v %v", p, err)
	}
	if got := list(odgm.ListOptions{Prefix: "x", Limit: 4}); len(got) != 15 || !slices.IsSorted(got) {
		t.Fatalf("prefix pages: %v", got)
	}
	// A cursor past the end gives an empty last page.
	p, err = s.o.List(ctx, item, odgm.ListOptions{Cursor: "zzz"})
	if err != nil || len(p.IDs) != 0 || p.Next != "" {
		t.Fatalf("past the end: %+v %v", p, err)
	}
	if _, err := s.o.List(ctx, item, odgm.ListOptions{Cursor: "bad cursor!"}); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// queryIndex: an index over one entry, queried across partitions in
// pages that together hold every match once.
func (s *suite) queryIndex(t *testing.T) {
	ctx, doc := ctxT(t), s.Names.Doc
	for i := 0; i < 20; i++ {
		owner := "bob"
		if i%2 == 0 {
			owner = "alice"
		}
		if _, err := s.o.Put(ctx, doc, fmt.Sprint("q", i), entries("owner", owner, "title", "t")); err != nil {
			t.Fatal(err)
		}
	}
	query := func(q odgm.Query, limit int) []string {
		t.Helper()
		var ids []string
		cursor := ""
		for pages := 0; ; pages++ {
			p, err := s.o.QueryIndex(ctx, doc, odgm.IndexQuery{Index: "by_owner", Query: q, Limit: limit, Cursor: cursor})
			if err != nil || p == nil {
				t.Fatalf("query %+v: %v", q, err)
			}
			if limit > 0 && len(p.Items) > limit || pages > 100 {
				t.Fatalf("page of %d over limit %d", len(p.Items), limit)
			}
			for _, it := range p.Items {
				if it.Entry != "owner" || (q.Equal != nil && string(it.Value) != string(q.Equal)) {
					t.Fatalf("item %+v", it)
				}
				ids = append(ids, it.ID)
			}
			if p.Next == "" {
				slices.Sort(ids)
				return ids
			}
			cursor = p.Next
		}
	}
	var alice []string
	for i := 0; i < 20; i += 2 {
		alice = append(alice, fmt.Sprint("q", i))
	}
	slices.Sort(alice)
	for _, limit := range []int{1, 3, 10, 0} {
		if got := query(odgm.QueryEqual([]byte("alice")), limit); !slices.Equal(got, alice) {
			t.Fatalf("limit %d: alice's docs %v", limit, got)
		}
	}
	if got := query(odgm.QueryPrefix([]byte("b")), 4); len(got) != 10 {
		t.Fatalf("prefix b: %v", got)
	}
	if got := query(odgm.QueryRange([]byte("alice"), []byte("b")), 4); !slices.Equal(got, alice) {
		t.Fatalf("range: %v", got)
	}
	if got := query(odgm.QueryEqual([]byte("carol")), 4); len(got) != 0 {
		t.Fatalf("carol: %v", got)
	}
	if _, err := s.o.QueryIndex(ctx, doc, odgm.IndexQuery{Index: "by_owner", Cursor: "not a cursor"}); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// invoke: replies, method errors and panics (nothing written), unknown
// methods.
func (s *suite) invoke(t *testing.T) {
	ctx, counter := ctxT(t), s.Names.Counter
	for i := uint64(1); i <= 3; i++ {
		out, err := s.o.Invoke(ctx, counter, "inv", "incr", nil)
		if err != nil || GetU64(out) != i {
			t.Fatalf("incr %d: %d %v", i, GetU64(out), err)
		}
	}
	var me *odgm.MethodError
	_, err := s.o.Invoke(ctx, counter, "inv", "fail", nil)
	if !errors.As(err, &me) || me.Panic || me.Message != ErrFail.Error() || me.Method != "fail" || me.ID != "inv" || me.Class != counter {
		t.Fatalf("fail: %#v", err)
	}
	_, err = s.o.Invoke(ctx, counter, "inv", "boom", nil)
	if !errors.As(err, &me) || !me.Panic || me.Message != "boom" || me.Method != "boom" {
		t.Fatalf("boom: %#v", err)
	}
	if _, err := s.o.Invoke(ctx, counter, "inv", "nope", nil); !errors.Is(err, odgm.ErrUnknownMethod) {
		t.Fatalf("unknown method: %v", err)
	}
	out, err := s.o.Invoke(ctx, counter, "inv", "get", nil, odgm.StaleRead())
	if err != nil || GetU64(out) != 3 {
		t.Fatalf("after failures: %d %v", GetU64(out), err)
	}
	st, err := s.o.Get(ctx, counter, "inv")
	if err != nil || st.Version != 3 || GetU64(st.Entries["n"]) != 3 {
		t.Fatalf("state after failures: %+v %v", st, err)
	}
	// A failing method on a new object creates nothing.
	if _, err := s.o.Invoke(ctx, counter, "inv-new", "fail", nil); !errors.As(err, &me) {
		t.Fatalf("fail on new: %v", err)
	}
	if _, err := s.o.Get(ctx, counter, "inv-new"); !errors.Is(err, odgm.ErrNotFound) {
		t.Fatalf("a failed method wrote: %v", err)
	}
}

func (s *suite) invokeStateless(t *testing.T) {
	ctx, util := ctxT(t), s.Names.Util
	if out, err := s.o.InvokeStateless(ctx, util, "echo", []byte("hi")); err != nil || string(out) != "hi" {
		t.Fatalf("echo %q %v", out, err)
	}
	var me *odgm.MethodError
	if _, err := s.o.InvokeStateless(ctx, util, "fail", nil); !errors.As(err, &me) || me.Panic || me.Message != ErrFail.Error() || me.Method != "fail" {
		t.Fatalf("fail %#v", err)
	}
	if _, err := s.o.InvokeStateless(ctx, util, "panic", nil); !errors.As(err, &me) || !me.Panic || me.Message != "no" {
		t.Fatalf("panic %#v", err)
	}
	if _, err := s.o.InvokeStateless(ctx, util, "nope", nil); !errors.Is(err, odgm.ErrUnknownMethod) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s.o.InvokeStateless(ctx, "nope", "echo", nil); !errors.Is(err, odgm.ErrUnknownClass) {
		t.Fatalf("unknown class: %v", err)
	}
}

// typedErrors: every failure a caller can provoke is an odgm error, and
// nothing is written by a refused call.
func (s *suite) typedErrors(t *testing.T) {
	ctx, counter, doc := ctxT(t), s.Names.Counter, s.Names.Doc
	sel := func(st *odgm.State, err error) error {
		if st != nil {
			t.Errorf("a state with an error: %+v", st)
		}
		return err
	}
	long := strings.Repeat("a", 161)
	cases := []struct {
		name string
		err  error
		want []error
	}{
		{"unknown class", sel(s.o.Get(ctx, "nope", "a")), []error{odgm.ErrUnknownClass}},
		{"unknown class put", func() error { _, err := s.o.Put(ctx, "nope", "a", entries("a", "1")); return err }(), []error{odgm.ErrUnknownClass}},
		{"unknown class list", func() error { _, err := s.o.List(ctx, "nope", odgm.ListOptions{}); return err }(), []error{odgm.ErrUnknownClass}},
		{"invalid id", func() error { _, err := s.o.Put(ctx, doc, "bad id!", entries("a", "1")); return err }(), []error{odgm.ErrInvalidID}},
		{"empty id", func() error { _, err := s.o.Invoke(ctx, counter, "", "get", nil); return err }(), []error{odgm.ErrInvalidID}},
		{"empty id get", sel(s.o.Get(ctx, doc, "")), []error{odgm.ErrInvalidID}},
		{"id too long", sel(s.o.Get(ctx, doc, long)), []error{odgm.ErrInvalidID, odgm.ErrTooLarge}},
		{"id too long cas", func() error { _, err := s.o.CompareAndSwap(ctx, doc, long, 0, entries("a", "1"), nil); return err }(), []error{odgm.ErrInvalidID, odgm.ErrTooLarge}},
		{"bad entry name", func() error { _, err := s.o.Put(ctx, doc, "te", entries("a/b", "1")); return err }(), []error{odgm.ErrInvalidArgument}},
		{"bad selected name", sel(s.o.Get(ctx, doc, "te", odgm.Select("a/b"))), []error{odgm.ErrInvalidArgument}},
		{"value too large", func() error {
			_, err := s.o.Put(ctx, doc, "te", map[string][]byte{"a": make([]byte, s.MaxValueSize+1)})
			return err
		}(), []error{odgm.ErrTooLarge}},
		{"request id too long", func() error {
			_, err := s.o.Put(ctx, doc, "te", entries("a", "1"), odgm.RequestID(strings.Repeat("r", odgm.MaxRequestIDLen+1)))
			return err
		}(), []error{odgm.ErrInvalidArgument}},
		{"not found", sel(s.o.Get(ctx, doc, "never")), []error{odgm.ErrNotFound}},
		{"unknown index", func() error { _, err := s.o.QueryIndex(ctx, doc, odgm.IndexQuery{Index: "x"}); return err }(), []error{odgm.ErrInvalidArgument}},
		{"unknown class query", func() error { _, err := s.o.QueryIndex(ctx, "nope", odgm.IndexQuery{Index: "by_owner"}); return err }(), []error{odgm.ErrUnknownClass}},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !errors.Is(c.err, w) {
				t.Errorf("%s: %v is not %v", c.name, c.err, w)
			}
		}
	}
	if _, err := s.o.Get(ctx, doc, "te"); !errors.Is(err, odgm.ErrNotFound) {
		t.Fatalf("a refused write wrote: %v", err)
	}
	// At the limit is fine.
	if v, err := s.o.Put(ctx, doc, "te", map[string][]byte{"a": make([]byte, s.MaxValueSize)}); err != nil || v != 1 {
		t.Fatalf("value at the limit: %d %v", v, err)
	}
	if v, err := s.o.Put(ctx, doc, strings.Repeat("a", 160), entries("a", "1")); err != nil || v != 1 {
		t.Fatalf("id at the limit: %d %v", v, err)
	}
}

// exactlyOnce: a write or invocation retried with its request id is
// applied once, and every try gets the first one's result.
func (s *suite) exactlyOnce(t *testing.T) {
	ctx, counter := ctxT(t), s.Names.Counter
	for i := 0; i < 3; i++ {
		out, err := s.o.Invoke(ctx, counter, "once", "incr", nil, odgm.RequestID("apitest-incr-1"))
		if err != nil || GetU64(out) != 1 {
			t.Fatalf("try %d of one invocation: %d %v", i+1, GetU64(out), err)
		}
	}
	out, err := s.o.Invoke(ctx, counter, "once", "get", nil)
	if err != nil || GetU64(out) != 1 {
		t.Fatalf("three tries of one request: count %d %v", GetU64(out), err)
	}
	if v, err := s.o.Put(ctx, counter, "once-p", entries("a", "first"), odgm.RequestID("apitest-put-1")); err != nil || v != 1 {
		t.Fatalf("put: %d %v", v, err)
	}
	v, err := s.o.Put(ctx, counter, "once-p", entries("a", "second"), odgm.RequestID("apitest-put-1"))
	if err != nil || v != 1 {
		t.Fatalf("retried put: version %d, %v", v, err)
	}
	if v, err := s.o.Delete(ctx, counter, "once-p", []string{"a"}, odgm.RequestID("apitest-del-1")); err != nil || v != 2 {
		t.Fatalf("delete: %d %v", v, err)
	}
	if _, err := s.o.Put(ctx, counter, "once-p", entries("a", "third")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.o.Delete(ctx, counter, "once-p", []string{"a"}, odgm.RequestID("apitest-del-1")); err != nil || v != 2 {
		t.Fatalf("retried delete: %d %v", v, err)
	}
	st, err := s.o.Get(ctx, counter, "once-p")
	if err != nil || st.Version != 3 || string(st.Entries["a"]) != "third" {
		t.Fatalf("after retries: %+v %v", st, err)
	}
}

// deadlines: an expired or cancelled context fails the call with
// ErrTimeout or ErrCanceled (which also match the context's errors).
func (s *suite) deadlines(t *testing.T) {
	counter := s.Names.Counter
	expired, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-expired.Done()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for _, c := range []struct {
		name string
		err  error
		want []error
	}{
		{"invoke", func() error { _, err := s.o.Invoke(expired, counter, "dl", "incr", nil); return err }(), []error{odgm.ErrTimeout, context.DeadlineExceeded}},
		{"get", func() error { _, err := s.o.Get(expired, counter, "dl"); return err }(), []error{odgm.ErrTimeout, context.DeadlineExceeded}},
		{"put canceled", func() error { _, err := s.o.Put(canceled, counter, "dl", entries("a", "1")); return err }(), []error{odgm.ErrCanceled, context.Canceled}},
		{"list canceled", func() error { _, err := s.o.List(canceled, counter, odgm.ListOptions{}); return err }(), []error{odgm.ErrCanceled, context.Canceled}},
	} {
		for _, w := range c.want {
			if !errors.Is(c.err, w) {
				t.Errorf("%s: %v is not %v", c.name, c.err, w)
			}
		}
	}
}
