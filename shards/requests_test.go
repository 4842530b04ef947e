package shards

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
)

// TestRequestWindowIndependentOfBatches: whether a request id is still
// remembered depends on the applied log alone — not on how dragonboat cut
// it into batches (which differs between replicas and after a restart),
// nor on restarts. Three replicas apply the same commands, with ids reused
// at every distance around the window: one command per Update, random
// batches (with an id twice in one batch), and random batches with a
// close and reopen between some of them. Every result and every object
// must agree.
func TestRequestWindowIndependentOfBatches(t *testing.T) {
	const window = 8
	rng := rand.New(rand.NewPCG(1, 2))
	var cmds []*odgmv1.Command
	for i := range 400 {
		rid := fmt.Sprint("r", rng.IntN(24)) // reused after 0 to ~40 others
		cmds = append(cmds, withRID(put(fmt.Sprint("o", rng.IntN(5)), "v", fmt.Sprint(i)), rid))
	}
	cfg := Config{MaxRememberedRequests: window}
	one := newHarness(t, storage.Memory(), cfg)
	batched := newHarness(t, storage.Memory(), cfg)
	restarted := newHarness(t, storage.Default(t.TempDir()), cfg)
	var want, got, got2 []*odgmv1.CommandResult
	for _, c := range cmds {
		want = append(want, one.apply(c)...)
	}
	for i := 0; i < len(cmds); {
		n := min(1+rng.IntN(12), len(cmds)-i)
		got = append(got, batched.apply(cmds[i:i+n]...)...)
		got2 = append(got2, restarted.apply(cmds[i:i+n]...)...)
		if rng.IntN(4) == 0 {
			if err := restarted.sm.Close(); err != nil {
				t.Fatal(err)
			}
			restarted.open(cfg)
		}
		i += n
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) || !proto.Equal(want[i], got2[i]) {
			t.Fatalf("command %d (%s): one at a time %v, batched %v, restarted %v",
				i, cmds[i].GetRequestId(), want[i], got[i], got2[i])
		}
	}
	for rid, n := range one.apps {
		if batched.apps[rid] != n || restarted.apps[rid] != n {
			t.Fatalf("%s applied %d, %d, %d times", rid, n, batched.apps[rid], restarted.apps[rid])
		}
	}
	applied := 0
	for _, n := range one.apps {
		applied += n
	}
	// The run must exercise both sides of the window.
	if applied == len(cmds) || applied < len(cmds)/4 {
		t.Fatalf("%d of %d commands applied: the ids do not straddle the window", applied, len(cmds))
	}
	for o := range 5 {
		id := fmt.Sprint("o", o)
		a, b, c := one.get(id), batched.get(id), restarted.get(id)
		if !proto.Equal(a.Meta, b.Meta) || !proto.Equal(a.Meta, c.Meta) {
			t.Fatalf("object %s: %v, %v, %v", id, a.Meta, b.Meta, c.Meta)
		}
	}
	// Records leave the store with their last id: one id per record when
	// applied one at a time, at most a batch's more when batched.
	if n := len(storedRecords(t, one)); n != window {
		t.Fatalf("%d records stored one at a time, want %d", n, window)
	}
	if ids := storedRecords(t, batched); len(ids) > window+12 {
		t.Fatalf("%d ids stored batched, want at most %d", len(ids), window+12)
	}
	if st := mustStats(t, restarted.sm); st.RememberedRequests != window {
		t.Fatalf("remembered %d, want %d", st.RememberedRequests, window)
	}
}

// TestRequestTableConvertsOldFormat: a store written by the earlier
// layout (s/rq/<id> and s/rs/<seq>, two keys per id) opens with every id
// still remembered, under its sequence number, and the old keys gone.
func TestRequestTableConvertsOldFormat(t *testing.T) {
	h := newHarness(t, storage.Default(t.TempDir()), Config{MaxRememberedRequests: 4})
	first := &odgmv1.CommandResult{Status: applied, Meta: &odgmv1.ObjectMeta{Version: 7}}
	enc := mustMarshal(first)
	err := h.sm.store.Update(func(tx appdata.WriteTx) error {
		var hdr [16]byte
		binary.BigEndian.PutUint64(hdr[:8], 13)
		binary.BigEndian.PutUint64(hdr[8:], 4)
		if err := tx.Put([]byte(keyRequests), hdr[:]); err != nil {
			return err
		}
		// Sequence numbers 9, 10 and 12: a gap (a damaged old table)
		// keeps each id's own number.
		for i, rid := range []string{"r9", "r10", "r12"} {
			seq := uint64(9 + i + i/2)
			if err := tx.Put(appendSeqKey(nil, oldReqSeqPrefix, seq), []byte(rid)); err != nil {
				return err
			}
			if err := tx.Put(appendReqKey(nil, rid), append(binary.BigEndian.AppendUint64(nil, seq), enc...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sm.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(Config{MaxRememberedRequests: 4})
	for _, rid := range []string{"r9", "r10", "r12"} {
		if r := h.apply(withRID(put("a", "x", "1"), rid))[0]; !proto.Equal(r, first) || h.apps[rid] != 0 {
			t.Fatalf("%s after conversion: %v, applied %d times", rid, r, h.apps[rid])
		}
	}
	for _, p := range []string{oldReqPrefix, oldReqSeqPrefix} {
		items, _, err := h.sm.store.ScanPrefix([]byte(p), 0, nil)
		if err != nil || len(items) != 0 {
			t.Fatalf("%d keys of the old layout left under %s (%v)", len(items), p, err)
		}
	}
	// The sequence goes on from 13 with a window of 4: a new id (13)
	// pushes r9 out, r9's rerun (14) pushes r10 out, r12 stays.
	h.apply(withRID(put("a", "x", "2"), "new"))
	if r := h.apply(withRID(put("a", "x", "3"), "r9"))[0]; r.Status != applied || h.apps["r9"] != 1 {
		t.Fatalf("r9 should have left the window: %v", r)
	}
	if r := h.apply(withRID(put("a", "x", "4"), "r10"))[0]; r.Status != applied || h.apps["r10"] != 1 {
		t.Fatalf("r10 should have left the window: %v", r)
	}
	if r := h.apply(withRID(put("a", "x", "5"), "r12"))[0]; !proto.Equal(r, first) {
		t.Fatalf("r12 should still be remembered: %v", r)
	}
}

// TestRequestRecordDamaged: a damaged record makes the next Update fail
// (the replica stops) instead of forgetting ids or panicking.
func TestRequestRecordDamaged(t *testing.T) {
	h := newHarness(t, storage.Memory(), Config{})
	h.apply(withRID(put("a", "x", "1"), "r1"))
	for _, v := range [][]byte{{0xff}, {1, 'r'}, {1, 'r', 9}, {}} {
		err := h.sm.store.Put(appendSeqKey(nil, reqRecordPrefix, 0), v)
		if err != nil {
			t.Fatal(err)
		}
		h.sm.requests = nil // as after a restart
		h.idx++
		if _, err := h.sm.Update([]sm.Entry{{Index: h.idx + 1, Cmd: mustMarshal(withRID(put("a", "x", "2"), "r2"))}}); err == nil {
			t.Fatalf("record %x: Update succeeded", v)
		}
	}
}

// storedRecords returns the ids of every stored record, oldest first.
func storedRecords(t *testing.T, h *harness) []string {
	t.Helper()
	items, _, err := h.sm.store.ScanPrefix([]byte(reqRecordPrefix), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := &requestTable{ids: map[string]remembered{}}
	var ids []string
	for _, it := range items {
		rec, err := rt.parse(it.Key, it.Value)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ids...)
	}
	return ids
}

// TestRequestRecordsBounded: an Update whose results are large (replies of
// invocations) stores its ids in several records of about maxRecordBytes,
// never one value too large for a snapshot, and every id is remembered,
// also after a restart.
func TestRequestRecordsBounded(t *testing.T) {
	h := newHarness(t, storage.Default(t.TempDir()), Config{})
	reply := make([]byte, maxRecordBytes/3)
	var cmds []*odgmv1.Command
	for i := range 8 {
		c := withRID(put(fmt.Sprint("o", i), "v", "1"), fmt.Sprint("big", i))
		c.Reply = reply
		cmds = append(cmds, c)
	}
	first := h.apply(cmds...)
	items, _, err := h.sm.store.ScanPrefix([]byte(reqRecordPrefix), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) < 3 {
		t.Fatalf("%d records for 8 results of %d bytes", len(items), len(reply))
	}
	for _, it := range items {
		if len(it.Value) > 2*maxRecordBytes {
			t.Fatalf("record %q of %d bytes", it.Key, len(it.Value))
		}
	}
	if err := h.sm.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(Config{})
	for i, c := range cmds {
		if r := h.apply(c)[0]; !proto.Equal(r, first[i]) || h.apps[c.GetRequestId()] != 1 {
			t.Fatalf("%s after restart: applied %d times", c.GetRequestId(), h.apps[c.GetRequestId()])
		}
	}
}

// TestRequestHeaderWhenLastRecordFull: an Update whose last remembered id
// fills a record still stores the header (it once did not: a replica
// restarted after it reloaded an old next sequence number, reused stored
// ones and disagreed with one that kept running).
func TestRequestHeaderWhenLastRecordFull(t *testing.T) {
	cfg := Config{MaxRememberedRequests: 4}
	running := newHarness(t, storage.Default(t.TempDir()), cfg)
	restarted := newHarness(t, storage.Default(t.TempDir()), cfg)
	reply := make([]byte, maxRecordBytes/3)
	var big []*odgmv1.Command
	for i := range 3 {
		c := withRID(put(fmt.Sprint("o", i), "v", "1"), fmt.Sprint("big", i))
		c.Reply = reply
		big = append(big, c)
	}
	running.apply(big...)
	restarted.apply(big...)
	var next uint64
	if err := restarted.sm.store.View(func(tx appdata.ReadTx) error {
		var err error
		next, _, err = loadRequestHeader(tx)
		return err
	}); err != nil || next != 3 {
		t.Fatalf("stored header: next %d after 3 remembered ids, want 3 (%v)", next, err)
	}
	if err := restarted.sm.Close(); err != nil {
		t.Fatal(err)
	}
	restarted.open(cfg)
	for i := range 4 {
		c := withRID(put("x", "v", fmt.Sprint(i)), fmt.Sprint("n", i))
		running.apply(c)
		restarted.apply(c)
	}
	a, b := running.apply(big[0])[0], restarted.apply(big[0])[0]
	if !proto.Equal(a, b) || running.apps["big0"] != restarted.apps["big0"] {
		t.Fatalf("retry of big0: applied %d times on the running replica, %d on the restarted one",
			running.apps["big0"], restarted.apps["big0"])
	}
}

// TestRequestBoundRaisedForgetsNothingBack: raising MaxRememberedRequests
// on restart does not bring back ids already forgotten — which a replica
// that applied in larger batches may still hold in a record, and one that
// applied one at a time not: both decide alike.
func TestRequestBoundRaisedForgetsNothingBack(t *testing.T) {
	small, large := Config{MaxRememberedRequests: 2}, Config{MaxRememberedRequests: 10}
	one := newHarness(t, storage.Default(t.TempDir()), small)
	batched := newHarness(t, storage.Default(t.TempDir()), small)
	var cmds []*odgmv1.Command
	for i := range 6 {
		cmds = append(cmds, withRID(put("o", "v", fmt.Sprint(i)), fmt.Sprint("a", i)))
	}
	for _, c := range cmds {
		one.apply(c)
	}
	batched.apply(cmds[:5]...)
	batched.apply(cmds[5])
	for _, h := range []*harness{one, batched} {
		if err := h.sm.Close(); err != nil {
			t.Fatal(err)
		}
		h.open(large)
	}
	for _, rid := range []string{"a0", "a4"} {
		c := withRID(put("o", "v", "again"), rid)
		a, b := one.apply(c)[0], batched.apply(c)[0]
		if !proto.Equal(a, b) || one.apps[rid] != batched.apps[rid] {
			t.Fatalf("retry of %s after raising the bound: applied %d times one at a time, %d times batched",
				rid, one.apps[rid], batched.apps[rid])
		}
	}
	if one.apps["a0"] != 2 || one.apps["a4"] != 1 {
		t.Fatalf("a0 (forgotten) applied %d times, a4 (remembered) %d times", one.apps["a0"], one.apps["a4"])
	}
}

// TestRequestTableAfterFailedUpdate: an Update that fails (here: the app
// store's size limit) leaves nothing of its ids in the table: a replica
// stops then, and its table in memory must not be ahead of the store if
// it is used again.
func TestRequestTableAfterFailedUpdate(t *testing.T) {
	cfg := storage.Memory()
	cfg.App.Config.MaxSizeMB = 1
	h := newHarness(t, cfg, Config{})
	h.apply(withRID(put("a", "x", "1"), "r1"))
	huge := put("b", "x", string(make([]byte, 2<<20)))
	h.idx++
	_, err := h.sm.Update([]sm.Entry{
		{Index: h.idx, Cmd: mustMarshal(withRID(put("a", "x", "2"), "r2"))},
		{Index: h.idx + 1, Cmd: mustMarshal(withRID(huge, "r3"))},
	})
	if err == nil {
		t.Fatal("an Update past the store's size limit succeeded")
	}
	h.idx--
	if r := h.apply(withRID(put("a", "x", "2"), "r2"))[0]; r.Status != applied || r.Meta.Version != 2 || h.apps["r2"] != 1 {
		t.Fatalf("r2 after its failed Update: %v, applied %d times", r, h.apps["r2"])
	}
	if v := string(h.get("a").Entries[0].Value); v != "2" {
		t.Fatalf("x = %s after r2", v)
	}
	if r := h.apply(withRID(put("a", "x", "9"), "r1"))[0]; r.Meta.Version != 1 || h.apps["r1"] != 1 {
		t.Fatalf("r1 forgotten after a failed Update: %v", r)
	}
}
