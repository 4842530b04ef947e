package shards

import (
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/storage"
)

// FuzzUpdate: whatever bytes a command holds, Update neither fails nor
// panics, and returns a known status.
func FuzzUpdate(f *testing.F) {
	for _, c := range []*odgmv1.Command{put("a", "x", "1"), withRID(put("B", "y", ""), "r"), expect(put("c", "z", "2"), 0),
		{Object: ref("a"), DeleteObject: true}, {Object: ref("a/b")}} {
		f.Add(mustMarshal(c))
	}
	f.Add([]byte{0xff})
	h := newHarness(f, storage.Memory(), Config{MaxRememberedRequests: 4})
	f.Fuzz(func(t *testing.T, cmd []byte) {
		h.idx++
		out, err := h.sm.Update([]sm.Entry{{Index: h.idx, Cmd: cmd}})
		if err != nil {
			t.Fatalf("Update failed on bad input: %v", err)
		}
		var r odgmv1.CommandResult
		if err := proto.Unmarshal(out[0].Result.Data, &r); err != nil {
			t.Fatal(err)
		}
		switch r.Status {
		case applied, noop, mismatch, invalidS:
		default:
			t.Fatalf("status %v", r.Status)
		}
	})
}
