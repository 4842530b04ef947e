// Package appdatatest is the conformance suite of the application-data
// layer: every appdata backend must pass Run. It is imported by tests only.
//
//	func TestConformance(t *testing.T) {
//		appdatatest.Run(t, appdatatest.Backend{Name: "memory", Open: ...})
//	}
package appdatatest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/odgm-go/odgm/storage/appdata"
)

// Backend describes a backend under test.
type Backend struct {
	// Name is the backend's name, for messages.
	Name string
	// Durable says that data survives Close and a new Open on the same dir.
	Durable bool
	// Open opens the store kept in dir, a directory the test owns. Opening
	// the same dir again must reopen the same data when Durable.
	Open func(dir string, opts appdata.Options) (appdata.Store, error)
}

// Run runs every conformance test against b, each as a subtest.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"BinarySafe", testBinarySafe},
		{"InvalidKeys", testInvalidKeys},
		{"MultiGet", testMultiGet},
		{"UpdateErrorRollsBack", testUpdateErrorRollsBack},
		{"UpdatePanicRollsBack", testUpdatePanicRollsBack},
		{"TxUsedAfterReturn", testTxUsedAfterReturn},
		{"TxReadsOwnWritesAndDeletesRanges", testTxWrites},
		{"ScanRangePagination", testScanRangePagination},
		{"ScanPrefix", testScanPrefix},
		{"ScanRandomised", testScanRandomised},
		{"Ascend", testAscend},
		{"CompareAndSwap", testCompareAndSwap},
		{"IndexString", testIndexString},
		{"IndexInt", testIndexInt},
		{"IndexFloat", testIndexFloat},
		{"IndexJSON", testIndexJSON},
		{"IndexRandomisedPagination", testIndexRandomised},
		{"IndexLifecycle", testIndexLifecycle},
		{"IndexFromOptions", testIndexFromOptions},
		{"Reopen", testReopen},
		{"Closed", testClosed},
		{"CloseStopsBackgroundGoroutine", testCloseStopsGoroutine},
		{"StoreFull", testStoreFull},
		{"Stats", testStats},
		{"InvalidOptions", testInvalidOptions},
		{"ConcurrentReadersAndWriters", testConcurrency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// open opens a store in a fresh directory and closes it when the test ends.
func open(t *testing.T, b Backend, opts appdata.Options) (appdata.Store, string) {
	t.Helper()
	dir := t.TempDir()
	return reopen(t, b, dir, opts), dir
}

func reopen(t *testing.T, b Backend, dir string, opts appdata.Options) appdata.Store {
	t.Helper()
	s, err := b.Open(dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func put(t *testing.T, s appdata.Store, kvs ...string) {
	t.Helper()
	must(t, s.Update(func(tx appdata.WriteTx) error {
		for i := 0; i+1 < len(kvs); i += 2 {
			if err := tx.Put([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	}))
}

func get(t *testing.T, s appdata.Store, k string) (string, bool) {
	t.Helper()
	v, err := s.Get([]byte(k))
	if errors.Is(err, appdata.ErrNotFound) {
		return "", false
	}
	must(t, err)
	return string(v), true
}

// all returns every item of the store as "key=value" strings.
func all(t *testing.T, s appdata.Store) []string {
	t.Helper()
	items, resume, err := s.ScanRange(nil, nil, 0)
	must(t, err)
	if resume != nil {
		t.Fatalf("unlimited scan returned resume %q", resume)
	}
	return itemStrings(items)
}

func itemStrings(items []appdata.Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, string(it.Key)+"="+string(it.Value))
	}
	return out
}

func keysOf(items []appdata.Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, string(it.Key))
	}
	return out
}

func testGetPutDelete(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	_, err := s.Get([]byte("a"))
	wantErr(t, err, appdata.ErrNotFound)
	must(t, s.Put([]byte("a"), []byte("1")))
	must(t, s.Put([]byte("a"), []byte("2")))
	if v, ok := get(t, s, "a"); !ok || v != "2" {
		t.Fatalf("Get(a) = %q, %v", v, ok)
	}
	// An empty value is a present value, returned as a non-nil empty slice;
	// a nil value is the empty value.
	must(t, s.Put([]byte("e"), []byte{}))
	must(t, s.Put([]byte("n"), nil))
	for _, k := range []string{"e", "n"} {
		v, err := s.Get([]byte(k))
		must(t, err)
		if v == nil || len(v) != 0 {
			t.Fatalf("Get(%s) = %#v, want empty non-nil", k, v)
		}
	}
	// Returned slices are the caller's: changing one changes nothing stored.
	v, _ := s.Get([]byte("a"))
	v[0] = 'X'
	if v, _ := get(t, s, "a"); v != "2" {
		t.Fatalf("stored value changed through a returned slice: %q", v)
	}
	in := []byte("abc")
	must(t, s.Put([]byte("c"), in))
	in[0] = 'Z'
	if v, _ := get(t, s, "c"); v != "abc" {
		t.Fatalf("stored value changed through the caller's slice: %q", v)
	}
	existed, err := s.Delete([]byte("a"))
	must(t, err)
	if !existed {
		t.Fatal("Delete(a) reported not existed")
	}
	existed, err = s.Delete([]byte("a"))
	must(t, err)
	if existed {
		t.Fatal("second Delete(a) reported existed")
	}
	if _, ok := get(t, s, "a"); ok {
		t.Fatal("a still present after Delete")
	}
}

// binaryKeys are keys and values that trip text protocols.
var binaryKeys = []string{
	"\x00", "\x00\x00", "a\x00b", "\r\n", "k\r\nv", "*3\r\n$3\r\nset\r\n", "\xff", "\xff\xff\xfe",
	"$-1\r\n", "\x00\xffappdat", "é", "\x7f",
}

func testBinarySafe(t *testing.T, b Backend) {
	s, dir := open(t, b, appdata.Options{})
	want := map[string]string{}
	var kvs []string
	for i, k := range binaryKeys {
		v := binaryKeys[(i+3)%len(binaryKeys)] + "\x00tail\r\n"
		want[k] = v
		kvs = append(kvs, k, v)
	}
	put(t, s, kvs...)
	check := func(s appdata.Store) {
		t.Helper()
		for k, v := range want {
			if got, ok := get(t, s, k); !ok || got != v {
				t.Fatalf("Get(%q) = %q, %v; want %q", k, got, ok, v)
			}
		}
		items, _, err := s.ScanRange(nil, nil, 0)
		must(t, err)
		keys := keysOf(items)
		if !sort.StringsAreSorted(keys) || len(keys) != len(want) {
			t.Fatalf("scan keys %q: want the %d keys in bytewise order", keys, len(want))
		}
	}
	check(s)
	if b.Durable {
		must(t, s.Close())
		check(reopen(t, b, dir, appdata.Options{}))
	}
}

func testInvalidKeys(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "all", Pattern: "*"})) // writes a reserved key
	reserved := []byte(appdata.ReservedPrefix + "x")
	for _, k := range [][]byte{nil, {}, reserved, []byte(appdata.ReservedPrefix)} {
		wantErr(t, s.Put(k, []byte("v")), appdata.ErrInvalidKey)
		_, err := s.Get(k)
		wantErr(t, err, appdata.ErrInvalidKey)
		_, err = s.Delete(k)
		wantErr(t, err, appdata.ErrInvalidKey)
		_, err = s.CompareAndSwap(k, nil, []byte("v"))
		wantErr(t, err, appdata.ErrInvalidKey)
		_, err = s.MultiGet([][]byte{[]byte("ok"), k})
		wantErr(t, err, appdata.ErrInvalidKey)
	}
	// The reserved namespace is invisible: scans, queries, stats.
	put(t, s, "\x00", "a", "z", "b")
	if got := all(t, s); !slices.Equal(got, []string{"\x00=a", "z=b"}) {
		t.Fatalf("scan = %q", got)
	}
	items, _, err := s.ScanPrefix([]byte("\x00"), 0, nil)
	must(t, err)
	if got := keysOf(items); !slices.Equal(got, []string{"\x00"}) {
		t.Fatalf("ScanPrefix(\\x00) = %q", got)
	}
	items, _, err = s.QueryIndex("all", appdata.Query{}, 0, nil)
	must(t, err)
	if got := keysOf(items); !slices.Equal(got, []string{"\x00", "z"}) {
		t.Fatalf("query over pattern * = %q", got)
	}
	st, err := s.Stats()
	must(t, err)
	if st.Keys != 2 {
		t.Fatalf("Stats.Keys = %d, want 2", st.Keys)
	}
	must(t, s.Update(func(tx appdata.WriteTx) error {
		n, err := tx.DeletePrefix(nil)
		if n != 2 {
			t.Errorf("DeletePrefix(all) removed %d, want 2", n)
		}
		return err
	}))
	if specs, _ := s.Indexes(); len(specs) != 1 {
		t.Fatalf("deleting every user key touched the index specs: %v", specs)
	}
}

func testMultiGet(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	put(t, s, "a", "1", "c", "")
	vs, err := s.MultiGet([][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("a")})
	must(t, err)
	if len(vs) != 4 || string(vs[0]) != "1" || vs[1] != nil || vs[2] == nil || len(vs[2]) != 0 || string(vs[3]) != "1" {
		t.Fatalf("MultiGet = %#v", vs)
	}
	vs, err = s.MultiGet(nil)
	must(t, err)
	if len(vs) != 0 {
		t.Fatalf("MultiGet(nil) = %#v", vs)
	}
}

var errBoom = errors.New("boom")

func testUpdateErrorRollsBack(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "v", Pattern: "*", Type: appdata.IndexInt}))
	put(t, s, "a", "1", "b", "2")
	before := all(t, s)
	st0, _ := s.Stats()
	err := s.Update(func(tx appdata.WriteTx) error {
		must(t, tx.Put([]byte("a"), []byte("10")))
		must(t, tx.Put([]byte("c"), []byte("3")))
		if _, err := tx.Delete([]byte("b")); err != nil {
			return err
		}
		if _, err := tx.DeletePrefix([]byte("a")); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	wantErr(t, err, errBoom)
	if got := all(t, s); !slices.Equal(got, before) {
		t.Fatalf("after a failed Update: %q, want %q", got, before)
	}
	st1, _ := s.Stats()
	if st0 != st1 {
		t.Fatalf("stats changed by a failed Update: %+v -> %+v", st0, st1)
	}
	items, _, err := s.QueryIndex("v", appdata.Query{}, 0, nil)
	must(t, err)
	if got := itemStrings(items); !slices.Equal(got, []string{"a=1", "b=2"}) {
		t.Fatalf("index after a failed Update: %q", got)
	}
}

func testUpdatePanicRollsBack(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	put(t, s, "a", "1")
	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Fatalf("recovered %v, want the panic to reach the caller", r)
			}
		}()
		_ = s.Update(func(tx appdata.WriteTx) error {
			must(t, tx.Put([]byte("a"), []byte("2")))
			must(t, tx.Put([]byte("b"), []byte("2")))
			panic("kaboom")
		})
		t.Fatal("Update returned after a panic")
	}()
	if got := all(t, s); !slices.Equal(got, []string{"a=1"}) {
		t.Fatalf("after a panicking Update: %q", got)
	}
	// The store is still usable: the panic released its locks.
	put(t, s, "c", "3")
	func() {
		defer func() { _ = recover() }()
		_ = s.View(func(appdata.ReadTx) error { panic("in view") })
	}()
	if v, ok := get(t, s, "c"); !ok || v != "3" {
		t.Fatalf("Get(c) = %q %v", v, ok)
	}
}

func testTxUsedAfterReturn(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	var wtx appdata.WriteTx
	must(t, s.Update(func(tx appdata.WriteTx) error { wtx = tx; return nil }))
	wantErr(t, wtx.Put([]byte("a"), []byte("1")), appdata.ErrTxDone)
	_, err := wtx.Get([]byte("a"))
	wantErr(t, err, appdata.ErrTxDone)
	_, err = wtx.DeleteRange(nil, nil)
	wantErr(t, err, appdata.ErrTxDone)
	var rtx appdata.ReadTx
	must(t, s.View(func(tx appdata.ReadTx) error { rtx = tx; return nil }))
	_, _, err = rtx.ScanRange(nil, nil, 0)
	wantErr(t, err, appdata.ErrTxDone)
	_, _, err = rtx.QueryIndex("x", appdata.Query{}, 0, nil)
	wantErr(t, err, appdata.ErrTxDone)
	if _, ok := get(t, s, "a"); ok {
		t.Fatal("a late Put wrote")
	}
}

func testTxWrites(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	put(t, s, "obj/a/1", "x", "obj/a/2", "x", "obj/ab", "x", "obj/b/1", "x", "z", "x")
	must(t, s.Update(func(tx appdata.WriteTx) error {
		must(t, tx.Put([]byte("new"), []byte("v")))
		if v, err := tx.Get([]byte("new")); err != nil || string(v) != "v" {
			t.Errorf("tx.Get(new) = %q, %v", v, err)
		}
		n, err := tx.DeletePrefix([]byte("obj/a/"))
		if err != nil || n != 2 {
			t.Errorf("DeletePrefix = %d, %v; want 2", n, err)
		}
		n, err = tx.DeleteRange([]byte("obj/b"), []byte("z"))
		if err != nil || n != 1 {
			t.Errorf("DeleteRange = %d, %v; want 1", n, err)
		}
		items, _, err := tx.ScanRange(nil, nil, 0)
		if got := keysOf(items); err != nil || !slices.Equal(got, []string{"new", "obj/ab", "z"}) {
			t.Errorf("scan inside tx = %q, %v", got, err)
		}
		return nil
	}))
	if got := all(t, s); !slices.Equal(got, []string{"new=v", "obj/ab=x", "z=x"}) {
		t.Fatalf("after tx: %q", got)
	}
	must(t, s.Update(func(tx appdata.WriteTx) error {
		n, err := tx.DeleteRange([]byte("o"), nil)
		if err != nil || n != 2 {
			t.Errorf("DeleteRange(o, nil) = %d, %v; want 2", n, err)
		}
		return err
	}))
	if got := all(t, s); !slices.Equal(got, []string{"new=v"}) {
		t.Fatalf("after DeleteRange to the end: %q", got)
	}
}

// pages pages through a scan with limit and returns the keys of every page.
func pages(t *testing.T, limit int, first []byte, scan func(resume []byte) ([]appdata.Item, []byte, error)) [][]string {
	t.Helper()
	var out [][]string
	resume := first
	for i := 0; ; i++ {
		items, next, err := scan(resume)
		must(t, err)
		if limit > 0 && len(items) > limit {
			t.Fatalf("page of %d items, limit %d", len(items), limit)
		}
		if next != nil && len(items) == 0 {
			t.Fatal("empty page with a resume token")
		}
		out = append(out, keysOf(items))
		if next == nil {
			return out
		}
		if i > 100000 {
			t.Fatal("pagination does not end")
		}
		resume = next
	}
}

func flat(pp [][]string) []string {
	var out []string
	for _, p := range pp {
		out = append(out, p...)
	}
	return out
}

func testScanRangePagination(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	var kvs, keys []string
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i)
		kvs = append(kvs, k, "v")
		keys = append(keys, k)
	}
	put(t, s, kvs...)
	pp := pages(t, 7, nil, func(r []byte) ([]appdata.Item, []byte, error) { return s.ScanRange(r, nil, 7) })
	if len(pp) != 15 || !slices.Equal(flat(pp), keys) {
		t.Fatalf("%d pages, keys %q", len(pp), flat(pp))
	}
	// An exact fit ends with a nil resume on the last full page.
	pp = pages(t, 10, []byte("k000"), func(r []byte) ([]appdata.Item, []byte, error) { return s.ScanRange(r, []byte("k050"), 10) })
	if len(pp) != 5 || !slices.Equal(flat(pp), keys[:50]) {
		t.Fatalf("bounded: %d pages, keys %q", len(pp), flat(pp))
	}
	for _, c := range []struct{ start, end string }{{"k050", "k050"}, {"k060", "k050"}, {"l", ""}} {
		var end []byte
		if c.end != "" {
			end = []byte(c.end)
		}
		items, resume, err := s.ScanRange([]byte(c.start), end, 5)
		must(t, err)
		if len(items) != 0 || resume != nil {
			t.Fatalf("ScanRange(%q, %q) = %d items, resume %q", c.start, c.end, len(items), resume)
		}
	}
	items, resume, err := s.ScanRange([]byte("k0405"), []byte("k043"), 0)
	must(t, err)
	if got := keysOf(items); resume != nil || !slices.Equal(got, []string{"k041", "k042"}) {
		t.Fatalf("ScanRange(k0405, k043) = %q, %q", got, resume)
	}
}

func testScanPrefix(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	put(t, s, "a", "", "ab", "", "ab\x00", "", "ab\xff", "", "ab\xff\xff", "", "abc", "", "ac", "", "\xff\xff", "", "\xff\xff\x00", "")
	cases := map[string][]string{
		"ab":       {"ab", "ab\x00", "abc", "ab\xff", "ab\xff\xff"},
		"ab\xff":   {"ab\xff", "ab\xff\xff"},
		"\xff\xff": {"\xff\xff", "\xff\xff\x00"},
		"":         {"a", "ab", "ab\x00", "abc", "ab\xff", "ab\xff\xff", "ac", "\xff\xff", "\xff\xff\x00"},
		"b":        {},
	}
	for p, want := range cases {
		for _, limit := range []int{0, 1, 2, 100} {
			pp := pages(t, limit, nil, func(r []byte) ([]appdata.Item, []byte, error) {
				return s.ScanPrefix([]byte(p), limit, r)
			})
			if got := flat(pp); !slices.Equal(append([]string{}, got...), want) {
				t.Fatalf("ScanPrefix(%q, %d) = %q, want %q", p, limit, got, want)
			}
		}
	}
	_, _, err := s.ScanPrefix([]byte("ab"), 1, []byte("b"))
	wantErr(t, err, appdata.ErrInvalidQuery)
}

func testScanRandomised(t *testing.T, b Backend) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	s, _ := open(t, b, appdata.Options{})
	alphabet := []byte{0x00, 0x01, 'a', 'b', '\r', '\n', 0xfe, 0xff}
	randKey := func(max int) []byte {
		k := make([]byte, 1+rng.IntN(max))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return k
	}
	ref := map[string]string{}
	for range 5 { // a few transactions, with overwrites and deletes
		must(t, s.Update(func(tx appdata.WriteTx) error {
			for range 150 {
				k := randKey(5)
				if bytes.HasPrefix(k, []byte(appdata.ReservedPrefix)) {
					continue
				}
				if rng.IntN(5) == 0 {
					if _, err := tx.Delete(k); err != nil {
						return err
					}
					delete(ref, string(k))
					continue
				}
				v := randKey(8)
				if err := tx.Put(k, v); err != nil {
					return err
				}
				ref[string(k)] = string(v)
			}
			return nil
		}))
	}
	sorted := make([]string, 0, len(ref))
	for k := range ref {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for range 60 {
		start, end := randKey(3), randKey(3)
		if rng.IntN(4) == 0 {
			end = nil
		}
		if rng.IntN(6) == 0 {
			start = nil
		}
		limit := rng.IntN(40)
		var want []string
		for _, k := range sorted {
			if k >= string(start) && (end == nil || k < string(end)) {
				want = append(want, k)
			}
		}
		pp := pages(t, limit, start, func(r []byte) ([]appdata.Item, []byte, error) {
			items, next, err := s.ScanRange(r, end, limit)
			for _, it := range items {
				if ref[string(it.Key)] != string(it.Value) {
					t.Fatalf("value of %q = %q, want %q", it.Key, it.Value, ref[string(it.Key)])
				}
			}
			return items, next, err
		})
		if got := flat(pp); !slices.Equal(got, want) {
			t.Fatalf("ScanRange(%q, %q, limit %d) = %q, want %q", start, end, limit, got, want)
		}
		prefix := randKey(2)[:rng.IntN(2)]
		want = want[:0]
		for _, k := range sorted {
			if bytes.HasPrefix([]byte(k), prefix) {
				want = append(want, k)
			}
		}
		pp = pages(t, limit, nil, func(r []byte) ([]appdata.Item, []byte, error) { return s.ScanPrefix(prefix, limit, r) })
		if got := flat(pp); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("ScanPrefix(%q, limit %d) = %q, want %q", prefix, limit, got, want)
		}
	}
}

func testAscend(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	put(t, s, "a", "1", "b", "2", "c", "3", "d", "4")
	var got []string
	must(t, s.View(func(tx appdata.ReadTx) error {
		return tx.Ascend([]byte("b"), nil, func(k, v []byte) (bool, error) {
			got = append(got, string(k)+"="+string(v))
			return string(k) < "c", nil
		})
	}))
	if !slices.Equal(got, []string{"b=2", "c=3"}) {
		t.Fatalf("Ascend stopping after c: %q", got)
	}
	err := s.View(func(tx appdata.ReadTx) error {
		return tx.Ascend(nil, []byte("c"), func(k, v []byte) (bool, error) { return true, errBoom })
	})
	wantErr(t, err, errBoom)
}

func testCompareAndSwap(t *testing.T, b Backend) {
	s, _ := open(t, b, appdata.Options{})
	k := []byte("k")
	steps := []struct {
		name          string
		expected, new []byte
		swapped       bool
		after         *string // nil: absent
	}{
		{"absent, expect absent: create", nil, []byte("1"), true, ptr("1")},
		{"present, expect absent: no", nil, []byte("2"), false, ptr("1")},
		{"present, wrong value: no", []byte("9"), []byte("2"), false, ptr("1")},
		{"present, expect empty while 1: no", []byte{}, []byte("2"), false, ptr("1")},
		{"present, right value: swap", []byte("1"), []byte{}, true, ptr("")},
		{"empty value, expect absent: no", nil, []byte("3"), false, ptr("")},
		{"empty value, expect empty: swap", []byte{}, []byte("3"), true, ptr("3")},
		{"delete with wrong value: no", []byte("1"), nil, false, ptr("3")},
		{"delete with right value", []byte("3"), nil, true, nil},
		{"absent, expect a value: no", []byte("3"), []byte("4"), false, nil},
		{"absent, expect empty: no", []byte{}, []byte("4"), false, nil},
		{"absent, expect absent, delete: trivially true", nil, nil, true, nil},
	}
	for _, st := range steps {
		swapped, err := s.CompareAndSwap(k, st.expected, st.new)
		must(t, err)
		if swapped != st.swapped {
			t.Fatalf("%s: swapped = %v", st.name, swapped)
		}
		v, ok := get(t, s, "k")
		if (st.after == nil) == ok || (ok && v != *st.after) {
			t.Fatalf("%s: after: %q present %v", st.name, v, ok)
		}
	}
}

func ptr(s string) *string { return &s }

func query(t *testing.T, s appdata.Store, name string, q appdata.Query, limit int) []string {
	t.Helper()
	var out []string
	resume := []byte(nil)
	for {
		items, next, err := s.QueryIndex(name, q, limit, resume)
		must(t, err)
		if limit > 0 && len(items) > limit {
			t.Fatalf("page of %d, limit %d", len(items), limit)
		}
		out = append(out, itemStrings(items)...)
		if next == nil {
			return out
		}
		resume = next
	}
}

// checkQueries runs each query with several page sizes.
func checkQueries(t *testing.T, s appdata.Store, name string, cases []queryCase) {
	t.Helper()
	for _, c := range cases {
		for _, limit := range []int{0, 1, 2, 3, 100} {
			got := query(t, s, name, c.q, limit)
			if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Fatalf("%s: %s (limit %d) = %q, want %q", name, c.name, limit, got, c.want)
			}
		}
	}
}

type queryCase struct {
	name string
	q    appdata.Query
	want []string
}

func b(s string) []byte { return []byte(s) }

func testIndexString(t *testing.T, be Backend) {
	s, _ := open(t, be, appdata.Options{})
	put(t, s, "u/1", "bob", "u/2", "alice", "u/3", "Carol", "u/4", "alice", "u/5", "al\x00x", "u/6", "", "x/1", "alice", "u/7", "alicia")
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "name", Pattern: "u/*"}))
	checkQueries(t, s, "name", []queryCase{
		{"all", appdata.Query{}, []string{"u/6=", "u/3=Carol", "u/5=al\x00x", "u/2=alice", "u/4=alice", "u/7=alicia", "u/1=bob"}},
		{"equal", appdata.QueryEqual(b("alice")), []string{"u/2=alice", "u/4=alice"}},
		{"equal empty", appdata.QueryEqual(b("")), []string{"u/6="}},
		{"equal none", appdata.QueryEqual(b("zed")), nil},
		{"range", appdata.QueryRange(b("alice"), b("bob")), []string{"u/2=alice", "u/4=alice", "u/7=alicia"}},
		{"range low only", appdata.QueryRange(b("alicia"), nil), []string{"u/7=alicia", "u/1=bob"}},
		{"range high only", appdata.QueryRange(nil, b("al")), []string{"u/6=", "u/3=Carol"}},
		{"prefix", appdata.QueryPrefix(b("al")), []string{"u/5=al\x00x", "u/2=alice", "u/4=alice", "u/7=alicia"}},
		{"prefix (case-sensitive)", appdata.QueryPrefix(b("C")), []string{"u/3=Carol"}},
	})
	// The index follows writes.
	put(t, s, "u/2", "zoe", "u/8", "alice")
	_, err := s.Delete(b("u/4"))
	must(t, err)
	checkQueries(t, s, "name", []queryCase{{"equal after writes", appdata.QueryEqual(b("alice")), []string{"u/8=alice"}}})
	_, _, err = s.QueryIndex("name", appdata.Query{Equal: b("a"), Prefix: b("a")}, 0, nil)
	wantErr(t, err, appdata.ErrInvalidQuery)
	_, _, err = s.QueryIndex("name", appdata.Query{}, 1, b("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"))
	wantErr(t, err, appdata.ErrInvalidQuery)
}

func testIndexInt(t *testing.T, be Backend) {
	s, _ := open(t, be, appdata.Options{})
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "n", Pattern: "n/*", Type: appdata.IndexInt}))
	// Invalid values are stored, and kept out of every query.
	put(t, s, "n/a", "10", "n/b", "9", "n/c", "-5", "n/d", "007", "n/e", "abc", "n/f", "",
		"n/g", "1.5", "n/h", "99999999999999999999", "n/i", " 7", "n/j", "7", "n/k", "-9223372036854775808", "n/l", "9223372036854775807")
	checkQueries(t, s, "n", []queryCase{
		{"all", appdata.Query{}, []string{"n/k=-9223372036854775808", "n/c=-5", "n/d=007", "n/j=7", "n/b=9", "n/a=10", "n/l=9223372036854775807"}},
		{"equal 7 matches 007", appdata.QueryEqual(b("7")), []string{"n/d=007", "n/j=7"}},
		{"range [-5, 10)", appdata.QueryRange(b("-5"), b("10")), []string{"n/c=-5", "n/d=007", "n/j=7", "n/b=9"}},
		{"range high only", appdata.QueryRange(nil, b("0")), []string{"n/k=-9223372036854775808", "n/c=-5"}},
		{"range low only", appdata.QueryRange(b("10"), nil), []string{"n/a=10", "n/l=9223372036854775807"}},
	})
	for _, q := range []appdata.Query{appdata.QueryEqual(b("x")), appdata.QueryRange(b("1.5"), nil), appdata.QueryPrefix(b("1"))} {
		_, _, err := s.QueryIndex("n", q, 0, nil)
		wantErr(t, err, appdata.ErrInvalidQuery)
	}
	// A value turning valid or invalid moves in or out.
	put(t, s, "n/e", "8", "n/a", "ten")
	checkQueries(t, s, "n", []queryCase{{"after rewrite", appdata.QueryRange(b("8"), b("11")), []string{"n/e=8", "n/b=9"}}})
}

func testIndexFloat(t *testing.T, be Backend) {
	s, _ := open(t, be, appdata.Options{})
	put(t, s, "f/a", "1.5", "f/b", "-2", "f/c", "1e3", "f/d", "NaN", "f/e", "x", "f/f", "-Inf", "f/g", "1.50", "f/h", "0.1")
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "f", Pattern: "f/*", Type: appdata.IndexFloat}))
	checkQueries(t, s, "f", []queryCase{
		{"all", appdata.Query{}, []string{"f/f=-Inf", "f/b=-2", "f/h=0.1", "f/a=1.5", "f/g=1.50", "f/c=1e3"}},
		{"equal", appdata.QueryEqual(b("1.5")), []string{"f/a=1.5", "f/g=1.50"}},
		{"range", appdata.QueryRange(b("0"), b("1000")), []string{"f/h=0.1", "f/a=1.5", "f/g=1.50"}},
	})
	_, _, err := s.QueryIndex("f", appdata.QueryEqual(b("NaN")), 0, nil)
	wantErr(t, err, appdata.ErrInvalidQuery)
}

func testIndexJSON(t *testing.T, be Backend) {
	s, _ := open(t, be, appdata.Options{})
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "owner", Pattern: "o/*", Type: appdata.IndexJSON, JSONPath: "owner.name"}))
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "age", Pattern: "o/*", Type: appdata.IndexJSON, JSONPath: "age"}))
	put(t, s,
		"o/1", `{"owner":{"name":"alice"},"age":31}`,
		"o/2", `{"owner":{"name":"bob"},"age":40}`,
		"o/3", `{"owner":{"name":"Alice"},"age":30.5}`,
		"o/4", `{"owner":{"name":"alicia"},"age":"old"}`,
		"o/5", `{"age":29}`,
		"o/6", `not json`,
		"o/7", `{"owner":{"name":null},"age":null}`,
		"o/8", `{"owner":{"name":"al\"ex"},"age":39}`,
		"o/9", "\xff\xfeappdata-pivot:sal", // not JSON, though it looks like the store's internal pivots
	)
	checkQueries(t, s, "owner", []queryCase{
		{"equal", appdata.QueryEqual(b(`"alice"`)), []string{`o/1={"owner":{"name":"alice"},"age":31}`}},
		{"prefix", appdata.QueryPrefix(b("al")), []string{`o/8={"owner":{"name":"al\"ex"},"age":39}`, `o/1={"owner":{"name":"alice"},"age":31}`, `o/4={"owner":{"name":"alicia"},"age":"old"}`}},
		{"range", appdata.QueryRange(b(`"b"`), b(`"c"`)), []string{`o/2={"owner":{"name":"bob"},"age":40}`}},
	})
	checkQueries(t, s, "age", []queryCase{
		{"numbers in [30, 40)", appdata.QueryRange(b("30"), b("40")), []string{`o/3={"owner":{"name":"Alice"},"age":30.5}`, `o/1={"owner":{"name":"alice"},"age":31}`, `o/8={"owner":{"name":"al\"ex"},"age":39}`}},
		{"equal 40", appdata.QueryEqual(b("40.0")), []string{`o/2={"owner":{"name":"bob"},"age":40}`}},
		{"numbers only", appdata.QueryRange(b("0"), b(`""`)), []string{`o/5={"age":29}`, `o/3={"owner":{"name":"Alice"},"age":30.5}`, `o/1={"owner":{"name":"alice"},"age":31}`, `o/8={"owner":{"name":"al\"ex"},"age":39}`, `o/2={"owner":{"name":"bob"},"age":40}`}},
	})
	// Missing, null and non-JSON values never match, not even the whole range.
	for _, kv := range query(t, s, "age", appdata.Query{}, 0) {
		if kv[:3] == "o/6" || kv[:3] == "o/7" {
			t.Fatalf("whole-range query returned %q", kv)
		}
	}
	_, _, err := s.QueryIndex("age", appdata.QueryEqual(b("{")), 0, nil)
	wantErr(t, err, appdata.ErrInvalidQuery)
}

// testIndexRandomised checks an int index with many duplicate values against
// a brute-force reference, across random pages and writes.
func testIndexRandomised(t *testing.T, be Backend) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	s, _ := open(t, be, appdata.Options{})
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "v", Pattern: "k*", Type: appdata.IndexInt}))
	ref := map[string]int{}
	for round := range 4 {
		must(t, s.Update(func(tx appdata.WriteTx) error {
			for range 100 {
				k := fmt.Sprintf("k%03d", rng.IntN(300))
				if rng.IntN(6) == 0 {
					delete(ref, k)
					_, err := tx.Delete(b(k))
					must(t, err)
					continue
				}
				v := rng.IntN(20) - 5
				ref[k] = v
				must(t, tx.Put(b(k), b(strconv.Itoa(v))))
			}
			return nil
		}))
		type kv struct {
			k string
			v int
		}
		var sorted []kv
		for k, v := range ref {
			sorted = append(sorted, kv{k, v})
		}
		sort.Slice(sorted, func(i, j int) bool {
			if sorted[i].v != sorted[j].v {
				return sorted[i].v < sorted[j].v
			}
			return sorted[i].k < sorted[j].k
		})
		for range 15 {
			lo, hi := rng.IntN(24)-7, rng.IntN(24)-7
			var want []string
			for _, e := range sorted {
				if e.v >= lo && e.v < hi {
					want = append(want, fmt.Sprintf("%s=%d", e.k, e.v))
				}
			}
			limit := 1 + rng.IntN(25)
			got := query(t, s, "v", appdata.QueryRange(b(strconv.Itoa(lo)), b(strconv.Itoa(hi))), limit)
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("round %d: [%d, %d) limit %d = %q, want %q", round, lo, hi, limit, got, want)
			}
		}
	}
}

func testIndexLifecycle(t *testing.T, be Backend) {
	s, _ := open(t, be, appdata.Options{})
	spec := appdata.IndexSpec{Name: "a", Pattern: "a/*", Type: appdata.IndexInt}
	must(t, s.CreateIndex(spec))
	must(t, s.CreateIndex(spec)) // same spec: no-op
	wantErr(t, s.CreateIndex(appdata.IndexSpec{Name: "a", Pattern: "b/*", Type: appdata.IndexInt}), appdata.ErrIndexConflict)
	wantErr(t, s.CreateIndex(appdata.IndexSpec{Name: "a", Pattern: "a/*"}), appdata.ErrIndexConflict)
	wantErr(t, s.CreateIndex(appdata.IndexSpec{Name: "", Pattern: "x"}), appdata.ErrInvalidIndex)
	wantErr(t, s.CreateIndex(appdata.IndexSpec{Name: "j", Pattern: "x", Type: appdata.IndexJSON}), appdata.ErrInvalidIndex)
	wantErr(t, s.CreateIndex(appdata.IndexSpec{Name: "t", Pattern: "x", Type: "blob"}), appdata.ErrInvalidIndex)
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "0", Pattern: "*"})) // type defaults to string
	specs, err := s.Indexes()
	must(t, err)
	want := []appdata.IndexSpec{{Name: "0", Pattern: "*", Type: appdata.IndexString}, spec}
	if !slices.Equal(specs, want) {
		t.Fatalf("Indexes() = %+v, want %+v", specs, want)
	}
	// Queries inside transactions see the transaction's own writes.
	must(t, s.Update(func(tx appdata.WriteTx) error {
		must(t, tx.Put(b("a/1"), b("5")))
		items, _, err := tx.QueryIndex("a", appdata.QueryEqual(b("5")), 0, nil)
		if got := keysOf(items); err != nil || !slices.Equal(got, []string{"a/1"}) {
			t.Errorf("query in tx = %q, %v", got, err)
		}
		return nil
	}))
	must(t, s.DropIndex("a"))
	wantErr(t, s.DropIndex("a"), appdata.ErrUnknownIndex)
	_, _, err = s.QueryIndex("a", appdata.Query{}, 0, nil)
	wantErr(t, err, appdata.ErrUnknownIndex)
	// After a drop the name is free for another spec.
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "a", Pattern: "b/*"}))
}

func testIndexFromOptions(t *testing.T, be Backend) {
	opts := appdata.Options{Indexes: []appdata.IndexSpec{{Name: "n", Pattern: "n/*", Type: appdata.IndexInt}, {Name: "s", Pattern: "*"}}}
	s, dir := open(t, be, opts)
	put(t, s, "n/1", "2", "n/2", "1")
	if got := query(t, s, "n", appdata.Query{}, 0); !slices.Equal(got, []string{"n/2=1", "n/1=2"}) {
		t.Fatalf("query = %q", got)
	}
	if specs, _ := s.Indexes(); len(specs) != 2 || specs[1].Type != appdata.IndexString {
		t.Fatalf("Indexes() = %+v", specs)
	}
	if !be.Durable {
		return
	}
	must(t, s.Close())
	_, err := be.Open(dir, appdata.Options{Indexes: []appdata.IndexSpec{{Name: "n", Pattern: "n/*", Type: appdata.IndexFloat}}})
	wantErr(t, err, appdata.ErrIndexConflict)
	s = reopen(t, be, dir, opts)
	if got := query(t, s, "n", appdata.Query{}, 0); !slices.Equal(got, []string{"n/2=1", "n/1=2"}) {
		t.Fatalf("query after reopen = %q", got)
	}
}

func testReopen(t *testing.T, be Backend) {
	if !be.Durable {
		t.Skip("not durable")
	}
	s, dir := open(t, be, appdata.Options{})
	put(t, s, "a", "1", "b\x00", "\r\n", "c", "", "gone", "x")
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "j", Pattern: "*", Type: appdata.IndexJSON, JSONPath: "x"}))
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "dropped", Pattern: "*"}))
	must(t, s.DropIndex("dropped"))
	put(t, s, "j1", `{"x":2}`, "j2", `{"x":1}`)
	_, err := s.Delete(b("gone"))
	must(t, err)
	st0, _ := s.Stats()
	before := all(t, s)
	must(t, s.Sync())
	must(t, s.Close())
	s = reopen(t, be, dir, appdata.Options{})
	if got := all(t, s); !slices.Equal(got, before) {
		t.Fatalf("after reopen %q, want %q", got, before)
	}
	specs, _ := s.Indexes()
	if len(specs) != 1 || specs[0].Name != "j" || specs[0].JSONPath != "x" {
		t.Fatalf("indexes after reopen: %+v", specs)
	}
	if got := query(t, s, "j", appdata.Query{}, 1); !slices.Equal(got, []string{`j2={"x":1}`, `j1={"x":2}`}) {
		t.Fatalf("query after reopen = %q", got)
	}
	st1, _ := s.Stats()
	if st0.Keys != st1.Keys || st0.Bytes != st1.Bytes {
		t.Fatalf("stats %+v before, %+v after reopen", st0, st1)
	}
}

func testClosed(t *testing.T, be Backend) {
	s, err := be.Open(t.TempDir(), appdata.Options{})
	must(t, err)
	must(t, s.Close())
	must(t, s.Close()) // harmless
	k := b("k")
	errs := map[string]error{}
	errs["View"] = s.View(func(appdata.ReadTx) error { return nil })
	errs["Update"] = s.Update(func(appdata.WriteTx) error { return nil })
	_, errs["Get"] = s.Get(k)
	_, errs["MultiGet"] = s.MultiGet([][]byte{k})
	_, _, errs["ScanRange"] = s.ScanRange(nil, nil, 0)
	_, _, errs["ScanPrefix"] = s.ScanPrefix(nil, 0, nil)
	errs["Put"] = s.Put(k, k)
	_, errs["Delete"] = s.Delete(k)
	_, errs["CompareAndSwap"] = s.CompareAndSwap(k, nil, k)
	errs["CreateIndex"] = s.CreateIndex(appdata.IndexSpec{Name: "x", Pattern: "*"})
	errs["DropIndex"] = s.DropIndex("x")
	_, errs["Indexes"] = s.Indexes()
	_, _, errs["QueryIndex"] = s.QueryIndex("x", appdata.Query{}, 0, nil)
	_, errs["Stats"] = s.Stats()
	errs["Sync"] = s.Sync()
	for name, err := range errs {
		if !errors.Is(err, appdata.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func testCloseStopsGoroutine(t *testing.T, be Backend) {
	ignore := goleak.IgnoreCurrent()
	s, err := be.Open(t.TempDir(), appdata.Options{})
	must(t, err)
	put(t, s, "a", "1")
	must(t, s.Close())
	// buntdb's background goroutine returns at its next one-second tick.
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := goleak.Find(ignore)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testStoreFull(t *testing.T, be Backend) {
	s, _ := open(t, be, appdata.Options{MaxSizeMB: 1})
	buf := bytes.Repeat([]byte("x"), 1<<20)
	big := buf[:600<<10]
	must(t, s.Put(b("a"), big))
	wantErr(t, s.Put(b("b"), big), appdata.ErrStoreFull)
	if _, ok := get(t, s, "b"); ok {
		t.Fatal("a refused Put wrote")
	}
	err := s.Update(func(tx appdata.WriteTx) error {
		must(t, tx.Put(b("c"), b("small")))
		return tx.Put(b("d"), big)
	})
	wantErr(t, err, appdata.ErrStoreFull)
	if _, ok := get(t, s, "c"); ok {
		t.Fatal("a refused transaction wrote part of itself")
	}
	_, err = s.CompareAndSwap(b("e"), nil, big)
	wantErr(t, err, appdata.ErrStoreFull)
	// Replacing in place within the bound, shrinking, and deleting all work.
	must(t, s.Put(b("a"), buf[:1<<20-1]))
	wantErr(t, s.Put(b("a"), buf), appdata.ErrStoreFull)
	must(t, s.Put(b("a"), b("tiny")))
	must(t, s.Put(b("b"), big))
	_, err = s.Delete(b("b"))
	must(t, err)
	st, _ := s.Stats()
	if st.Bytes != 5 {
		t.Fatalf("Stats.Bytes = %d, want 5", st.Bytes)
	}
}

func testStats(t *testing.T, be Backend) {
	s, _ := open(t, be, appdata.Options{})
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "i", Pattern: "*"}))
	put(t, s, "ab", "123", "c", "", "d", "4")
	put(t, s, "ab", "1")
	_, err := s.Delete(b("d"))
	must(t, err)
	must(t, s.Update(func(tx appdata.WriteTx) error {
		_, err := tx.CompareAndSwap(b("c"), b(""), nil)
		return err
	}))
	st, err := s.Stats()
	must(t, err)
	if st.Keys != 1 || st.Bytes != 3 || st.Indexes != 1 {
		t.Fatalf("Stats = %+v, want 1 key, 3 bytes, 1 index", st)
	}
	must(t, s.Sync())
	st, _ = s.Stats()
	if be.Durable && st.FileSize == 0 {
		t.Fatalf("durable backend with FileSize 0 after Sync")
	}
}

func testInvalidOptions(t *testing.T, be Backend) {
	for _, opts := range []appdata.Options{
		{SyncPolicy: "sometimes"},
		{MaxSizeMB: -1},
		{Indexes: []appdata.IndexSpec{{Name: "x"}}},
	} {
		s, err := be.Open(t.TempDir(), opts)
		if err == nil {
			s.Close()
		}
		wantErr(t, err, appdata.ErrInvalidOptions)
	}
}

// testConcurrency runs bank transfers (read two accounts, write two) in
// parallel with readers that check the total never changes, and CAS
// increments of one counter that must add up.
func testConcurrency(t *testing.T, be Backend) {
	s, _ := open(t, be, appdata.Options{SyncPolicy: appdata.SyncNever})
	must(t, s.CreateIndex(appdata.IndexSpec{Name: "bal", Pattern: "acct/*", Type: appdata.IndexInt}))
	const accounts, initial = 20, 100
	must(t, s.Update(func(tx appdata.WriteTx) error {
		for i := range accounts {
			must(t, tx.Put(b(fmt.Sprintf("acct/%02d", i)), b(strconv.Itoa(initial))))
		}
		return tx.Put(b("counter"), b("0"))
	}))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 100)
	const writers, transfers = 3, 150
	var casOK [writers]int
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for range transfers {
				from, to := rng.IntN(accounts), rng.IntN(accounts)
				err := s.Update(func(tx appdata.WriteTx) error {
					fk, tk := b(fmt.Sprintf("acct/%02d", from)), b(fmt.Sprintf("acct/%02d", to))
					fv, err := tx.Get(fk)
					if err != nil {
						return err
					}
					f, _ := strconv.Atoi(string(fv))
					if f == 0 {
						return nil
					}
					if err := tx.Put(fk, b(strconv.Itoa(f-1))); err != nil {
						return err
					}
					tv, err := tx.Get(tk)
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(tv))
					return tx.Put(tk, b(strconv.Itoa(n+1)))
				})
				if err != nil {
					errc <- err
					return
				}
				cur, err := s.Get(b("counter"))
				if err != nil {
					errc <- err
					return
				}
				n, _ := strconv.Atoi(string(cur))
				ok, err := s.CompareAndSwap(b("counter"), cur, b(strconv.Itoa(n+1)))
				if err != nil {
					errc <- err
					return
				}
				if ok {
					casOK[w]++
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.View(func(tx appdata.ReadTx) error {
					items, _, err := tx.ScanPrefix(b("acct/"), 0, nil)
					if err != nil {
						return err
					}
					sum := 0
					for _, it := range items {
						n, _ := strconv.Atoi(string(it.Value))
						sum += n
					}
					if sum != accounts*initial || len(items) != accounts {
						return fmt.Errorf("saw %d accounts holding %d", len(items), sum)
					}
					q, _, err := tx.QueryIndex("bal", appdata.Query{}, 0, nil)
					if err == nil && len(q) != accounts {
						return fmt.Errorf("index holds %d accounts", len(q))
					}
					return err
				})
				if err != nil {
					errc <- err
					return
				}
				if _, err := s.Stats(); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	total := 0
	for _, n := range casOK {
		total += n
	}
	if v, _ := get(t, s, "counter"); v != strconv.Itoa(total) {
		t.Fatalf("counter = %s, successful CAS increments = %d", v, total)
	}
}
