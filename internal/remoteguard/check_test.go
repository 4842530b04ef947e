package remoteguard

import (
	"errors"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestCheck(t *testing.T) {
	str := string((&wrapperspb.StringValue{}).ProtoReflect().Descriptor().FullName()) // links the type

	pid := &actor.PID{Address: "127.0.0.1:1", Id: "echo"}
	watchNoPID, _ := proto.Marshal(&actor.Watch{})
	watch, _ := proto.Marshal(&actor.Watch{Watcher: pid})
	batch := func(names []string, e ...*remote.MessageEnvelope) *remote.RemoteMessage {
		return &remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: &remote.MessageBatch{
			TypeNames: names,
			Targets:   []*actor.PID{pid},
			Senders:   []*actor.PID{pid},
			Envelopes: e,
		}}}
	}
	for _, tc := range []struct {
		name string
		msg  *remote.RemoteMessage
		want error // nil: accepted
	}{
		{"connect", &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{}}}, nil},
		{"empty message", &remote.RemoteMessage{}, nil},
		{"empty batch", batch(nil), nil},
		{"valid", batch([]string{str}, &remote.MessageEnvelope{TypeId: 0, Target: 0, Sender: 1}), nil},
		{"no sender", batch([]string{str}, &remote.MessageEnvelope{Sender: 0}), nil},
		{"watch", batch([]string{"actor.Watch"}, &remote.MessageEnvelope{MessageData: watch}), nil},
		{"unknown type", batch([]string{str, "no.such.Type"}, &remote.MessageEnvelope{}), errUnknownType},
		{"unknown unused type", batch([]string{"no.such.Type"}), errUnknownType},
		{"type id high", batch([]string{str}, &remote.MessageEnvelope{TypeId: 1}), errIndex},
		{"type id negative", batch([]string{str}, &remote.MessageEnvelope{TypeId: -1}), errIndex},
		{"no type names", batch(nil, &remote.MessageEnvelope{}), errIndex},
		{"target high", batch([]string{str}, &remote.MessageEnvelope{Target: 1}), errIndex},
		{"target negative", batch([]string{str}, &remote.MessageEnvelope{Target: -1}), errIndex},
		{"sender high", batch([]string{str}, &remote.MessageEnvelope{Sender: 2}), errIndex},
		{"sender negative", batch([]string{str}, &remote.MessageEnvelope{Sender: -1}), errIndex},
		{"json serializer", batch([]string{str}, &remote.MessageEnvelope{SerializerId: 1}), errSerializer},
		{"serializer out of range", batch([]string{str}, &remote.MessageEnvelope{SerializerId: 9}), errSerializer},
		{"watch without watcher", batch([]string{"actor.Watch"}, &remote.MessageEnvelope{MessageData: watchNoPID}), errSystemMessage},
		{"unwatch without watcher", batch([]string{"actor.Unwatch"}, &remote.MessageEnvelope{}), errSystemMessage},
		{"terminated without who", batch([]string{"actor.Terminated"}, &remote.MessageEnvelope{}), errSystemMessage},
		{"terminated undecodable", batch([]string{"actor.Terminated"}, &remote.MessageEnvelope{MessageData: []byte{0xff}}), errSystemMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(tc.msg)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("check: %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("check: %v, want %v", err, tc.want)
			}
		})
	}
}
