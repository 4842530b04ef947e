package shards

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// TestDecodeResultMatchesProto: decodeResult gives what proto.Unmarshal
// gives, for results as apply encodes them and as proto.Marshal does.
func TestDecodeResultMatchesProto(t *testing.T) {
	ts := func(s int64, n int32) *timestamppb.Timestamp { return &timestamppb.Timestamp{Seconds: s, Nanos: n} }
	results := []*odgmv1.CommandResult{
		{},
		{Status: odgmv1.CommandStatus_COMMAND_STATUS_APPLIED, Meta: &odgmv1.ObjectMeta{Version: 7, CreatedAt: ts(1, 2), UpdatedAt: ts(3, 4)}, Reply: []byte("r")},
		{Status: odgmv1.CommandStatus_COMMAND_STATUS_NOOP, Meta: &odgmv1.ObjectMeta{}},
		{Status: odgmv1.CommandStatus_COMMAND_STATUS_VERSION_MISMATCH, Meta: &odgmv1.ObjectMeta{Version: 1 << 40, CreatedAt: ts(-5, 0)}, Message: "expected version 3"},
		{Status: odgmv1.CommandStatus_COMMAND_STATUS_INVALID, Message: "bad ✓"},
		{Status: odgmv1.CommandStatus(-1)},
	}
	for i, r := range results {
		enc1, err := appendResult(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		enc2, _ := proto.Marshal(r)
		for _, enc := range [][]byte{enc1, enc2} {
			var want odgmv1.CommandResult
			if err := proto.Unmarshal(enc, &want); err != nil {
				t.Fatal(err)
			}
			got, ok := decodeResultFields(enc)
			if !ok {
				t.Fatalf("result %d: not decoded", i)
			}
			if !proto.Equal(got, &want) {
				t.Fatalf("result %d: decoded %v, proto gives %v", i, got, &want)
			}
		}
	}
	// What it does not know is left to proto.Unmarshal.
	for _, enc := range [][]byte{{0x0a}, {0x2a, 0x00}, {0x12, 0x00, 0x08, 0x01}, {0x1a, 0x01, 0xff}} {
		if _, ok := decodeResultFields(enc); ok {
			t.Fatalf("%x decoded", enc)
		}
	}
}

func FuzzDecodeResult(f *testing.F) {
	enc, _ := appendResult(nil, &odgmv1.CommandResult{Status: 1, Meta: &odgmv1.ObjectMeta{Version: 2, UpdatedAt: &timestamppb.Timestamp{Seconds: 3}}, Reply: []byte("x")})
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeResultFields(b)
		if !ok {
			return
		}
		var want odgmv1.CommandResult
		if err := proto.Unmarshal(b, &want); err != nil {
			t.Fatalf("decoded what proto refuses: %v", err)
		}
		if !proto.Equal(got, &want) {
			t.Fatalf("decoded %v, proto gives %v", got, &want)
		}
	})
}
