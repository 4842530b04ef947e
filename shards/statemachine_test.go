package shards

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
)

const testClass = "account"

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// harness drives one StateMachine directly, without Raft.
type harness struct {
	t    testing.TB
	comp *storage.Composite
	sm   *StateMachine
	idx  uint64
	apps map[string]int // request id -> times applied (not duplicate)
}

func newHarness(t testing.TB, cfg storage.Config, smCfg Config) *harness {
	t.Helper()
	comp, err := storage.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { comp.Close() })
	h := &harness{t: t, comp: comp, apps: map[string]int{}}
	h.open(smCfg)
	return h
}

func (h *harness) open(smCfg Config) {
	h.t.Helper()
	if smCfg.Class == "" {
		smCfg.Class = testClass
	}
	f := NewStateMachineFactory(h.comp, smCfg, SMOptions{Hooks: Hooks{Applied: func(e ApplyEvent) {
		if !e.Duplicate && e.RequestID != "" {
			h.apps[e.RequestID]++
		}
	}}})
	h.sm = f(1, 1).(*StateMachine)
	idx, err := h.sm.Open(make(chan struct{}))
	if err != nil {
		h.t.Fatal(err)
	}
	h.idx = idx
}

func (h *harness) applyRaw(cmds ...[]byte) []*odgmv1.CommandResult {
	h.t.Helper()
	var ents []sm.Entry
	for _, c := range cmds {
		h.idx++
		ents = append(ents, sm.Entry{Index: h.idx, Cmd: c})
	}
	out, err := h.sm.Update(ents)
	if err != nil {
		h.t.Fatalf("Update: %v", err)
	}
	var res []*odgmv1.CommandResult
	for _, e := range out {
		var r odgmv1.CommandResult
		if err := proto.Unmarshal(e.Result.Data, &r); err != nil {
			h.t.Fatal(err)
		}
		if uint64(r.Status) != e.Result.Value {
			h.t.Fatalf("Result.Value %d != status %v", e.Result.Value, r.Status)
		}
		res = append(res, &r)
	}
	return res
}

func (h *harness) apply(cmds ...*odgmv1.Command) []*odgmv1.CommandResult {
	h.t.Helper()
	var raw [][]byte
	for _, c := range cmds {
		b, err := proto.Marshal(c)
		if err != nil {
			h.t.Fatal(err)
		}
		raw = append(raw, b)
	}
	return h.applyRaw(raw...)
}

func (h *harness) get(id string) *ObjectState {
	h.t.Helper()
	v, err := h.sm.Lookup(GetObject{ID: id})
	if err != nil {
		h.t.Fatal(err)
	}
	return v.(*ObjectState)
}

func put(id string, kv ...string) *odgmv1.Command {
	c := &odgmv1.Command{Object: &odgmv1.ObjectRef{Class: testClass, Id: id}, ProposedAt: timestamppb.New(t0)}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Puts = append(c.Puts, &odgmv1.Entry{Name: kv[i], Value: []byte(kv[i+1])})
	}
	return c
}

func withRID(c *odgmv1.Command, rid string) *odgmv1.Command { c.RequestId = rid; return c }
func at(c *odgmv1.Command, t time.Time) *odgmv1.Command     { c.ProposedAt = timestamppb.New(t); return c }
func expect(c *odgmv1.Command, v uint64) *odgmv1.Command    { c.ExpectedVersion = &v; return c }

const (
	applied  = odgmv1.CommandStatus_COMMAND_STATUS_APPLIED
	noop     = odgmv1.CommandStatus_COMMAND_STATUS_NOOP
	mismatch = odgmv1.CommandStatus_COMMAND_STATUS_VERSION_MISMATCH
	invalidS = odgmv1.CommandStatus_COMMAND_STATUS_INVALID
)

func TestApplySemantics(t *testing.T) {
	h := newHarness(t, storage.Memory(), Config{})
	t1 := t0.Add(time.Hour)
	steps := []struct {
		name    string
		cmd     *odgmv1.Command
		status  odgmv1.CommandStatus
		version uint64
	}{
		{"first write creates at version 1", put("A1", "balance", "10", "owner", "x"), applied, 1},
		{"identical put is a no-op", put("a1", "balance", "10"), noop, 1},
		{"changed put bumps once", at(put("a1", "balance", "11", "owner", "y", "new", ""), t1), applied, 2},
		{"deleting a missing entry is a no-op", &odgmv1.Command{Object: ref("a1"), Deletes: []string{"nope"}, ProposedAt: timestamppb.New(t1)}, noop, 2},
		{"empty batch is a no-op", &odgmv1.Command{Object: ref("a1")}, noop, 2},
		{"delete an entry", &odgmv1.Command{Object: ref("a1"), Deletes: []string{"new"}, ProposedAt: timestamppb.New(t1)}, applied, 3},
		{"put then delete of a new name nets nothing", &odgmv1.Command{Object: ref("a1"), Puts: []*odgmv1.Entry{{Name: "tmp", Value: []byte("1")}}, Deletes: []string{"tmp"}, ProposedAt: timestamppb.New(t1)}, noop, 3},
		{"CAS with right version", expect(put("a1", "balance", "12"), 3), applied, 4},
		{"CAS with stale version", expect(put("a1", "balance", "99"), 3), mismatch, 4},
		{"CAS create on existing", expect(put("a1", "balance", "99"), 0), mismatch, 4},
		{"CAS create on missing", expect(put("b1", "balance", "1"), 0), applied, 1},
		{"invalid id", put("a/b", "x", "1"), invalidS, 0},
		{"invalid entry name", put("a1", "bad/name", "1"), invalidS, 0},
		{"class mismatch", &odgmv1.Command{Object: &odgmv1.ObjectRef{Class: "other", Id: "a1"}, Puts: []*odgmv1.Entry{{Name: "x"}}, ProposedAt: timestamppb.New(t0)}, invalidS, 0},
		{"missing proposed_at", &odgmv1.Command{Object: ref("a1"), Puts: []*odgmv1.Entry{{Name: "x"}}}, invalidS, 0},
		{"no object", &odgmv1.Command{}, invalidS, 0},
		{"delete_object with puts", &odgmv1.Command{Object: ref("a1"), DeleteObject: true, Puts: []*odgmv1.Entry{{Name: "x"}}, ProposedAt: timestamppb.New(t1)}, invalidS, 0},
		{"delete_object of missing", &odgmv1.Command{Object: ref("zz"), DeleteObject: true, ProposedAt: timestamppb.New(t1)}, noop, 0},
		{"delete_object", &odgmv1.Command{Object: ref("b1"), DeleteObject: true, ProposedAt: timestamppb.New(t1)}, applied, 0},
	}
	for _, st := range steps {
		r := h.apply(st.cmd)[0]
		if r.Status != st.status || r.GetMeta().GetVersion() != st.version {
			t.Fatalf("%s: got %v version %d (%s), want %v version %d", st.name, r.Status, r.GetMeta().GetVersion(), r.Message, st.status, st.version)
		}
	}
	o := h.get("A1")
	if o.Meta.GetVersion() != 4 || !o.Meta.CreatedAt.AsTime().Equal(t0) || !o.Meta.UpdatedAt.AsTime().Equal(t0) {
		t.Fatalf("meta %v", o.Meta)
	}
	got := map[string]string{}
	for _, e := range o.Entries {
		got[e.Name] = string(e.Value)
	}
	if fmt.Sprint(got) != "map[balance:12 owner:y]" {
		t.Fatalf("entries %v", got)
	}
	if o := h.get("b1"); o.Meta != nil || len(o.Entries) != 0 {
		t.Fatalf("deleted object still there: %v", o)
	}
	// Undecodable bytes: INVALID, and the replica keeps going.
	r := h.applyRaw([]byte{0xff, 0xff, 0xff})
	if r[0].Status != invalidS {
		t.Fatalf("undecodable: %v", r[0])
	}
}

func ref(id string) *odgmv1.ObjectRef { return &odgmv1.ObjectRef{Class: testClass, Id: id} }

func TestBatchIsOneTransaction(t *testing.T) {
	h := newHarness(t, storage.Memory(), Config{})
	res := h.apply(put("a", "x", "1"), put("a", "x", "2"), expect(put("a", "x", "3"), 1), put("b", "y", "1"))
	want := []odgmv1.CommandStatus{applied, applied, mismatch, applied}
	for i, r := range res {
		if r.Status != want[i] {
			t.Fatalf("cmd %d: %v", i, r)
		}
	}
	if h.sm.AppliedIndex() != 4 {
		t.Fatalf("applied %d", h.sm.AppliedIndex())
	}
}

func TestExactlyOnce(t *testing.T) {
	h := newHarness(t, storage.Memory(), Config{MaxRememberedRequests: 3})
	first := h.apply(withRID(put("a", "x", "1"), "r1"))[0]
	// A retry after the object moved on gets the first result.
	h.apply(put("a", "x", "2"))
	again := h.apply(withRID(put("a", "x", "1"), "r1"))[0]
	if !proto.Equal(first, again) || h.apps["r1"] != 1 {
		t.Fatalf("retry: %v vs %v, applied %d times", first, again, h.apps["r1"])
	}
	if v := string(h.get("a").Entries[0].Value); v != "2" {
		t.Fatalf("retry re-applied: x=%s", v)
	}
	// A retried CAS failure stays a failure.
	m := h.apply(withRID(expect(put("a", "x", "9"), 1), "r2"))[0]
	if m.Status != mismatch {
		t.Fatal(m)
	}
	if again := h.apply(withRID(expect(put("a", "x", "9"), 2), "r2"))[0]; again.Status != mismatch {
		t.Fatalf("retry of a mismatch with another version applied: %v", again)
	}
	// Eviction: oldest first, bounded.
	h.apply(withRID(put("a", "y", "1"), "r3"), withRID(put("a", "y", "2"), "r4"))
	st := mustStats(t, h.sm)
	if st.RememberedRequests != 3 {
		t.Fatalf("remembered %d, want 3", st.RememberedRequests)
	}
	// r1 was forgotten: applying it again applies.
	if r := h.apply(withRID(put("a", "x", "1"), "r1"))[0]; r.Status != applied || h.apps["r1"] != 2 {
		t.Fatalf("forgotten id: %v, applied %d", r, h.apps["r1"])
	}
	// r3 still remembered (r2 evicted by r1's re-run).
	if r := h.apply(withRID(put("a", "y", "7"), "r3"))[0]; h.apps["r3"] != 1 || r.Status != applied || r.Meta.Version != 3 {
		t.Fatalf("r3: %v applied %d", r, h.apps["r3"])
	}
}

func mustStats(t *testing.T, m *StateMachine) *Stats {
	t.Helper()
	v, err := m.Lookup(GetStats{})
	if err != nil {
		t.Fatal(err)
	}
	return v.(*Stats)
}

func TestRestartAppliesNothingTwice(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, storage.Default(dir), Config{})
	h.apply(withRID(put("a", "x", "1"), "r1"), withRID(put("a", "x", "2"), "r2"))
	if err := h.sm.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(Config{})
	if h.idx != 2 {
		t.Fatalf("Open returned %d, want 2", h.idx)
	}
	// dragonboat would not give entries <= 2 again; a replay is skipped anyway.
	out, err := h.sm.Update([]sm.Entry{{Index: 2, Cmd: mustMarshal(withRID(put("a", "x", "3"), "r3"))}})
	if err != nil || out[0].Result.Value != 0 || h.apps["r3"] != 0 {
		t.Fatalf("replayed entry applied: %v %v", out, err)
	}
	if o := h.get("a"); o.Meta.Version != 2 {
		t.Fatalf("version %d", o.Meta.Version)
	}
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSnapshotRoundTrip(t *testing.T) {
	src := newHarness(t, storage.Memory(), Config{})
	for i := 0; i < 500; i++ {
		src.apply(withRID(put(fmt.Sprintf("o%03d", i), "v", fmt.Sprint(i), "w", "x"), fmt.Sprint("r", i)))
	}
	ctx, err := src.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.sm.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	dst := newHarness(t, storage.Memory(), Config{RecoverBatchBytes: 1000})
	dst.apply(put("stale", "x", "1")) // replaced by the snapshot
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if dst.sm.AppliedIndex() != 500 {
		t.Fatalf("applied %d", dst.sm.AppliedIndex())
	}
	if o := dst.get("stale"); o.Meta != nil {
		t.Fatal("old data survived recovery")
	}
	a, b := dumpAll(t, src.sm), dumpAll(t, dst.sm)
	if a != b {
		t.Fatal("recovered data differs")
	}
	// The exactly-once table came along.
	dst.idx = 500
	if r := dst.apply(withRID(put("o001", "v", "new"), "r1"))[0]; r.Meta.Version != 1 || dst.apps["r1"] != 0 {
		t.Fatalf("remembered result lost: %v", r)
	}
	// A damaged stream fails and leaves the marker: reopening empties.
	bad := append([]byte(nil), buf.Bytes()...)
	bad = bad[:len(bad)-3]
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(bad), make(chan struct{})); err == nil {
		t.Fatal("truncated snapshot recovered")
	}
	dst.sm.Close()
	dst.open(Config{})
	if dst.idx != 0 || dumpAll(t, dst.sm) != "" {
		t.Fatalf("interrupted recovery not detected: index %d", dst.idx)
	}
}

func dumpAll(t *testing.T, m *StateMachine) string {
	t.Helper()
	var b bytes.Buffer
	items, _, err := m.store.ScanRange(nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		fmt.Fprintf(&b, "%q=%q\n", it.Key, it.Value)
	}
	return b.String()
}

func TestLookups(t *testing.T) {
	h := newHarness(t, storage.Memory(), Config{Indexes: []appdataIndex{{Name: "balance", Pattern: "o/account/*/e/balance", Type: "int"}}})
	for _, id := range []string{"a", "a.b", "b", "c", "ca"} {
		h.apply(put(id, "balance", fmt.Sprint(len(id)*10), "name", id))
	}
	var ids []string
	cursor := ""
	for {
		v, err := h.sm.Lookup(ListObjects{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		l := v.(*ObjectList)
		ids = append(ids, l.IDs...)
		if l.Next == "" {
			break
		}
		cursor = l.Next
	}
	if fmt.Sprint(ids) != "[a.b a b c ca]" {
		t.Fatalf("list %v", ids)
	}
	v, _ := h.sm.Lookup(ListObjects{Prefix: "C"})
	if fmt.Sprint(v.(*ObjectList).IDs) != "[c ca]" {
		t.Fatalf("prefix list %v", v)
	}
	v, err := h.sm.Lookup(&QueryIndex{Index: "balance", Query: rangeQuery("20", "")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range v.(*IndexResult).Items {
		got = append(got, it.ID+"="+string(it.Value))
	}
	if fmt.Sprint(got) != "[ca=20 a.b=30]" {
		t.Fatalf("index %v", got)
	}
	o, _ := h.sm.Lookup(GetObject{ID: "a", Names: []string{"name", "missing"}})
	if st := o.(*ObjectState); len(st.Entries) != 1 || st.Entries[0].Name != "name" {
		t.Fatalf("get some: %v", st)
	}
	if _, err := h.sm.Lookup(42); !errors.Is(err, ErrInvalidQuery) {
		t.Fatal(err)
	}
	if _, err := h.sm.Lookup(GetObject{ID: "bad id"}); !errors.Is(err, ErrInvalidQuery) {
		t.Fatal(err)
	}
}

type appdataIndex = appdata.IndexSpec

func rangeQuery(low, high string) appdata.Query {
	var l, hi []byte
	if low != "" {
		l = []byte(low)
	}
	if high != "" {
		hi = []byte(high)
	}
	return appdata.QueryRange(l, hi)
}

// An invocation's reply travels in its command: the result carries it, and
// a retry of the request id gets the first reply even when the retry
// computed another (its method ran again on the state the first one made).
func TestReplyRemembered(t *testing.T) {
	h := newHarness(t, storage.Memory(), Config{})
	cmd := withRID(put("c", "n", "1"), "inc-1")
	cmd.Reply = []byte("1")
	first := h.apply(cmd)[0]
	if first.Status != applied || string(first.Reply) != "1" {
		t.Fatalf("first: %v", first)
	}
	retry := withRID(put("c", "n", "2"), "inc-1")
	retry.Reply = []byte("2")
	again := h.apply(retry)[0]
	if string(again.Reply) != "1" || h.apps["inc-1"] != 1 {
		t.Fatalf("retry got %v (applied %d times), want the first reply", again, h.apps["inc-1"])
	}
	if v := string(h.get("c").Entries[0].Value); v != "1" {
		t.Fatalf("retry re-applied: n=%s", v)
	}
	// A no-op keeps its reply too; a mismatch has none.
	same := withRID(put("c", "n", "1"), "read-1")
	same.Reply = []byte("same")
	if r := h.apply(same)[0]; r.Status != noop || string(r.Reply) != "same" {
		t.Fatalf("no-op: %v", r)
	}
	bad := expect(put("c", "n", "3"), 7)
	bad.Reply = []byte("x")
	if r := h.apply(bad)[0]; r.Status != mismatch || r.Reply != nil {
		t.Fatalf("mismatch: %v", r)
	}
}

// A command conditioned on the incarnation it read does not apply to the
// object deleted and created again up to the same version.
func TestExpectedCreatedAt(t *testing.T) {
	h := newHarness(t, storage.Memory(), Config{})
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	first := h.apply(at(put("o", "n", "1"), t1))[0]
	if first.GetStatus() != applied || first.GetMeta().GetVersion() != 1 {
		t.Fatalf("first put: %v", first)
	}
	read := first.GetMeta().GetCreatedAt()
	h.apply(at(&odgmv1.Command{Object: ref("o"), DeleteObject: true}, t2))
	h.apply(at(put("o", "n", "100"), t2))
	stale := expect(at(put("o", "n", "2"), t2), 1)
	stale.ExpectedCreatedAt = read
	if r := h.apply(stale)[0]; r.GetStatus() != mismatch {
		t.Fatalf("write on a deleted and re-created object at the same version: %v", r)
	}
	if v := string(h.get("o").Entries[0].GetValue()); v != "100" {
		t.Fatalf("n = %q, the re-created object's value must stay", v)
	}
	fresh := expect(at(put("o", "n", "101"), t2), 1)
	fresh.ExpectedCreatedAt = timestamppb.New(t2)
	if r := h.apply(fresh)[0]; r.GetStatus() != applied || r.GetMeta().GetVersion() != 2 {
		t.Fatalf("write on the incarnation read: %v", r)
	}
	gone := put("p", "n", "1")
	gone.ExpectedCreatedAt = read
	if r := h.apply(gone)[0]; r.GetStatus() != mismatch {
		t.Fatalf("write expecting an incarnation of a missing object: %v", r)
	}
}
