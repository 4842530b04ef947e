package shards

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
)

// BenchmarkUpdate feeds StateMachine.Update batches of commands like
// bench/shardbench's (one 129-byte put to one of 25600 objects, every one a
// change), with and without request ids, over an in-memory and a file
// buntdb app store. Time is per command.
func BenchmarkUpdate(b *testing.B) {
	for _, backend := range []string{appdata.BackendMemory, appdata.BackendBuntDB} {
		for _, rid := range []bool{false, true} {
			for _, batch := range []int{1, 64} {
				name := fmt.Sprintf("%s/rid=%v/batch=%d", backend, rid, batch)
				b.Run(name, func(b *testing.B) { benchUpdate(b, backend, rid, batch) })
			}
		}
	}
}

func benchUpdate(b *testing.B, backend string, rid bool, batch int) {
	cfg := storage.Memory()
	if backend == appdata.BackendBuntDB {
		cfg = storage.Config{}
		cfg.EnsureDefaults()
		cfg.ResolvePaths(filepath.Join(b.TempDir(), "data"))
	}
	h := newHarness(b, cfg, Config{Class: "bench", MaxRememberedRequests: 10000})
	value := make([]byte, 129)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	// Pre-encode a cycle of commands, as dragonboat hands them over.
	const cycle = 1 << 14
	cmds := make([][]byte, cycle)
	at := timestamppb.New(t0)
	for i := range cmds {
		value[len(value)-1] = byte(i)
		c := &odgmv1.Command{
			Object:     &odgmv1.ObjectRef{Class: "bench", Id: fmt.Sprintf("o%d-%d", i%256, (i/256)%100)},
			Puts:       []*odgmv1.Entry{{Name: "v", Value: value}},
			ProposedAt: at,
		}
		if rid {
			// Unique within the cycle, which is longer than the table's
			// bound: every command is new, and each evicts one.
			c.RequestId = fmt.Sprintf("req-%08d", i)
		}
		var err error
		if cmds[i], err = proto.Marshal(c); err != nil {
			b.Fatal(err)
		}
	}
	ents := make([]sm.Entry, batch)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		for j := range ents {
			h.idx++
			ents[j] = sm.Entry{Index: h.idx, Cmd: cmds[n%cycle]}
			n++
		}
		if _, err := h.sm.Update(ents); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeMeta checks the fast metadata decoder against proto.Unmarshal:
// whatever it accepts, protobuf decodes to the same message.
func TestDecodeMeta(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs [][]byte
	for i := 0; i < 2000; i++ {
		m := &odgmv1.ObjectMeta{Version: rng.Uint64() >> rng.IntN(64)}
		if rng.IntN(4) > 0 {
			m.CreatedAt = &timestamppb.Timestamp{Seconds: rng.Int64() >> rng.IntN(64), Nanos: rng.Int32N(1e9)}
		}
		if rng.IntN(4) > 0 {
			m.UpdatedAt = &timestamppb.Timestamp{Seconds: -rng.Int64N(1 << 40), Nanos: -rng.Int32N(5)}
		}
		enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := decodeMeta(enc); !ok || !proto.Equal(got, m) {
			t.Fatalf("decodeMeta(%x) = %v, %v; want %v", enc, got, ok, m)
		}
		inputs = append(inputs, enc)
		// Damaged and odd forms: flipped bytes, cut short, fields repeated
		// or out of order, unknown fields.
		bad := append([]byte(nil), enc...)
		if len(bad) > 0 {
			bad[rng.IntN(len(bad))] ^= byte(1 << rng.IntN(8))
			inputs = append(inputs, bad, enc[:rng.IntN(len(enc))])
		}
		inputs = append(inputs, append(append([]byte(nil), enc...), enc...),
			protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), enc...), 9, protowire.VarintType), 7))
	}
	inputs = append(inputs, nil, []byte{}, []byte{0x12, 0x00}, []byte{0x08, 0x00}, []byte{0x10, 0x01})
	accepted := 0
	for _, in := range inputs {
		got, ok := decodeMeta(in)
		if !ok {
			continue
		}
		accepted++
		var want odgmv1.ObjectMeta
		if err := proto.Unmarshal(in, &want); err != nil {
			t.Fatalf("decodeMeta accepts %x, which proto rejects: %v", in, err)
		}
		if !proto.Equal(got, &want) {
			t.Fatalf("decodeMeta(%x) = %v, proto says %v", in, got, &want)
		}
	}
	if accepted < 2000 {
		t.Fatalf("only %d inputs accepted", accepted)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte{0x08, 0x05, 0x12, 0x06, 0x08, 0x80, 0xa1, 0x9b, 0xcb, 0x06, 0x1a, 0x00})
	f.Add([]byte{0x12, 0x02, 0x10, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := decodeMeta(in)
		if !ok {
			return
		}
		var want odgmv1.ObjectMeta
		if err := proto.Unmarshal(in, &want); err != nil {
			t.Fatalf("decodeMeta accepts %x, which proto rejects: %v", in, err)
		}
		if !proto.Equal(got, &want) {
			t.Fatalf("decodeMeta(%x) = %v, proto says %v", in, got, &want)
		}
	})
}

// checkDecodeCommand fails t if decodeCommand accepts in and proto.Unmarshal
// decodes it otherwise, or rejects it.
func checkDecodeCommand(t *testing.T, in []byte) bool {
	t.Helper()
	var sc applyScratch
	if !decodeCommand(in, &sc) {
		return false
	}
	var want odgmv1.Command
	if err := proto.Unmarshal(in, &want); err != nil {
		t.Fatalf("decodeCommand accepts %x, which proto rejects: %v", in, err)
	}
	if !proto.Equal(&sc.cmd, &want) {
		t.Fatalf("decodeCommand(%x) = %v, proto says %v", in, &sc.cmd, &want)
	}
	return true
}

// TestDecodeCommand checks the fast command decoder against proto.Unmarshal.
func TestDecodeCommand(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	str := func() string {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(4) > 0 {
				b[i] = 'a' + byte(rng.IntN(26))
			}
		}
		return string(b)
	}
	accepted, total := 0, 0
	for i := 0; i < 3000; i++ {
		c := &odgmv1.Command{}
		if rng.IntN(2) == 0 {
			c.RequestId = str()
		}
		if rng.IntN(5) > 0 {
			c.Object = &odgmv1.ObjectRef{Class: str(), Id: str()}
		}
		for n := rng.IntN(4); n > 0; n-- {
			e := &odgmv1.Entry{Name: str()}
			if rng.IntN(3) > 0 {
				e.Value = []byte(str())
			}
			c.Puts = append(c.Puts, e)
		}
		for n := rng.IntN(3); n > 0; n-- {
			c.Deletes = append(c.Deletes, str())
		}
		c.DeleteObject = rng.IntN(4) == 0
		if rng.IntN(3) == 0 {
			v := rng.Uint64() >> rng.IntN(64)
			c.ExpectedVersion = &v
		}
		if rng.IntN(4) > 0 {
			c.ProposedAt = &timestamppb.Timestamp{Seconds: rng.Int64() >> rng.IntN(64), Nanos: rng.Int32() >> rng.IntN(32)}
		}
		enc, err := proto.Marshal(c)
		if err != nil {
			continue // invalid UTF-8: proto refuses to encode it
		}
		total++
		if checkDecodeCommand(t, enc) {
			accepted++
		}
		bad := append([]byte(nil), enc...)
		if len(bad) > 0 {
			bad[rng.IntN(len(bad))] ^= byte(1 << rng.IntN(8))
			checkDecodeCommand(t, bad)
			checkDecodeCommand(t, enc[:rng.IntN(len(enc))])
		}
		checkDecodeCommand(t, append(append([]byte(nil), enc...), enc...))
		checkDecodeCommand(t, protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), enc...), 9, protowire.VarintType), 7))
	}
	if accepted != total {
		t.Fatalf("decodeCommand accepts %d of %d encoded commands", accepted, total)
	}
	// Strings that are not UTF-8 are proto's to reject.
	bad := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff")
	if checkDecodeCommand(t, bad) {
		t.Fatal("decodeCommand accepts a request id that is not UTF-8")
	}
}

func FuzzDecodeCommand(f *testing.F) {
	enc, _ := proto.Marshal(&odgmv1.Command{RequestId: "r", Object: &odgmv1.ObjectRef{Class: "c", Id: "i"},
		Puts: []*odgmv1.Entry{{Name: "a", Value: []byte("x")}, {Name: "b"}}, Deletes: []string{"d"},
		ExpectedVersion: new(uint64(3)), ProposedAt: timestamppb.New(t0)})
	f.Add(enc)
	f.Fuzz(func(t *testing.T, in []byte) { checkDecodeCommand(t, in) })
}

// TestAppendResult checks the hand-written encoders against proto.Marshal,
// byte for byte: remembered results and metadata are replicated data.
func TestAppendResult(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ts := func() *timestamppb.Timestamp {
		if rng.IntN(4) == 0 {
			return nil
		}
		return &timestamppb.Timestamp{Seconds: rng.Int64() >> rng.IntN(64) * int64(1-2*rng.IntN(2)), Nanos: rng.Int32() >> rng.IntN(32) * int32(1-2*rng.IntN(2))}
	}
	for i := 0; i < 3000; i++ {
		r := &odgmv1.CommandResult{Status: odgmv1.CommandStatus(rng.IntN(6) - 1)}
		if rng.IntN(4) > 0 {
			r.Meta = &odgmv1.ObjectMeta{Version: rng.Uint64() >> rng.IntN(64), CreatedAt: ts(), UpdatedAt: ts()}
		}
		if rng.IntN(3) == 0 {
			r.Message = fmt.Sprint("message ", rng.IntN(1000))
		}
		if rng.IntN(10) == 0 && r.Meta != nil && r.Meta.CreatedAt != nil {
			// An unknown field, as a newer version might have stored.
			r.Meta.CreatedAt.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1))
		}
		want, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendResult([]byte("prefix"), r)
		if err != nil || string(got) != "prefix"+string(want) {
			t.Fatalf("appendResult(%v) = %x, %v; want %x", r, got, err, want)
		}
		if r.Meta == nil {
			continue
		}
		want, err = proto.MarshalOptions{Deterministic: true}.Marshal(r.Meta)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := appendMeta(nil, r.Meta); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("appendMeta(%v) = %x, %v; want %x", r.Meta, got, err, want)
		}
	}
}

// TestKeyBuilders checks the append forms of the keys against the layout
// (see the package doc).
func TestKeyBuilders(t *testing.T) {
	for _, seq := range []uint64{0, 1, 0xabc, 1<<63 + 5, ^uint64(0)} {
		if got, want := string(appendSeqKey([]byte("x"), reqRecordPrefix, seq)), fmt.Sprintf("x%s%016x", reqRecordPrefix, seq); got != want {
			t.Errorf("appendSeqKey(%d) = %q, want %q", seq, got, want)
		}
	}
	checks := []struct{ got, want string }{
		{string(appendReqKey(nil, "r-1")), oldReqPrefix + "r-1"},
		{string(appendObjectKeyPrefix(nil, "account", "a1")), objectKeyPrefix("account", "a1")},
		{string(appendMetaKey([]byte{}, "account", "a1")), metaKey("account", "a1")},
		{string(appendEntryKey(nil, "account", "a1", "bal")), entryKey("account", "a1", "bal")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
