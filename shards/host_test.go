package shards

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// withProposedAt copies every field of the command but proposed_at, and
// leaves the caller's command alone.
func TestWithProposedAtCopiesEveryField(t *testing.T) {
	v := uint64(3)
	cmd := &odgmv1.Command{RequestId: "r", Object: &odgmv1.ObjectRef{Class: "c", Id: "i"},
		Puts: []*odgmv1.Entry{{Name: "n", Value: []byte("v")}}, Deletes: []string{"d"}, DeleteObject: true,
		ExpectedVersion: &v, Reply: []byte("reply"), ExpectedCreatedAt: timestamppb.New(time.Unix(1600000000, 7))}
	if n := cmd.ProtoReflect().Descriptor().Fields().Len(); n != 9 {
		t.Fatalf("Command has %d fields: copy the new ones in withProposedAt and set them here", n)
	}
	orig := proto.Clone(cmd).(*odgmv1.Command)
	now := time.Unix(1700000000, 5)
	got := withProposedAt(cmd, now)
	if !got.GetProposedAt().AsTime().Equal(now) {
		t.Fatalf("proposed_at %v", got.GetProposedAt())
	}
	got.ProposedAt = nil
	if !proto.Equal(got, orig) || !proto.Equal(cmd, orig) {
		t.Fatalf("copy %v, caller's %v, want %v", got, cmd, orig)
	}
}
