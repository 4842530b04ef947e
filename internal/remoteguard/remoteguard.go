package remoteguard

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// DefaultMaxMessageBytes is the message size limit used when
// ServerOptions or DialOptions is given zero or less; it is gRPC's default.
const DefaultMaxMessageBytes = 4 << 20

// maxStreamsPerConn bounds concurrent streams on one connection. protoactor
// opens one Receive stream per connection; the slack is for retries.
const maxStreamsPerConn = 16

// protoSerializerID is the index of protoactor's protobuf serializer, the
// first one its remote package registers.
const protoSerializerID = 0

// Errors returned by check. A peer sees them only as the text of an
// InvalidArgument status.
var (
	errUnknownType   = errors.New("remoteguard: unregistered message type")
	errIndex         = errors.New("remoteguard: index out of range")
	errSerializer    = errors.New("remoteguard: serializer not accepted")
	errSystemMessage = errors.New("remoteguard: malformed system message")
)

// ServerOptions returns gRPC server options for remote.WithServerOptions:
// a receive size limit of maxMessageBytes (DefaultMaxMessageBytes if zero
// or less), a per-connection stream limit, and the interceptors described
// in the package documentation.
//
// The limit applies to one gRPC message, which protoactor fills with a
// batch of up to EndpointWriterBatchSize (default 1000) queued messages.
// A peer whose batch is larger has its stream closed with
// codes.ResourceExhausted, and protoactor on that peer then drops the batch
// and the endpoint. Choose maxMessageBytes above the batch size times the
// largest message, or lower the batch size with
// remote.WithEndpointWriterBatchSize, and use the same value on every node.
func ServerOptions(maxMessageBytes int) []grpc.ServerOption {
	if maxMessageBytes <= 0 {
		maxMessageBytes = DefaultMaxMessageBytes
	}
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		// Chained, so callers may add interceptors of their own.
		grpc.ChainStreamInterceptor(streamInterceptor),
		grpc.ChainUnaryInterceptor(unaryInterceptor),
	}
}

// DialOptions returns gRPC dial options for remote.WithDialOptions that
// bound sent and received messages to maxMessageBytes
// (DefaultMaxMessageBytes if zero or less), so that an oversized batch
// fails on the sending node rather than the receiving one; see
// ServerOptions. They carry no transport credentials; the caller adds them.
func DialOptions(maxMessageBytes int) []grpc.DialOption {
	if maxMessageBytes <= 0 {
		maxMessageBytes = DefaultMaxMessageBytes
	}
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageBytes),
			grpc.MaxCallSendMsgSize(maxMessageBytes),
		),
	}
}

func unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	switch info.FullMethod {
	case "/remote.Remoting/ListProcesses", "/remote.Remoting/GetProcessDiagnostics":
		// protoactor implements both as panic("implement me").
		return nil, status.Errorf(codes.Unimplemented, "remoteguard: %s is not served", info.FullMethod)
	}
	return handler(ctx, req)
}

func streamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &checkedStream{ServerStream: ss})
}

// checkedStream checks each received message before the handler sees it.
type checkedStream struct {
	grpc.ServerStream
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if rm, ok := m.(*remote.RemoteMessage); ok {
		if err := check(rm); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
	}
	return nil
}

// check returns nil if protoactor's endpoint reader can process m without
// panicking, or an error wrapping one of the errors above.
func check(m *remote.RemoteMessage) error {
	b := m.GetMessageBatch()
	if b == nil {
		return nil // connect and disconnect messages are handled safely
	}
	for i, name := range b.TypeNames {
		if _, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name)); err != nil {
			return fmt.Errorf("%w: type_names[%d] %q", errUnknownType, i, name)
		}
	}
	for i, e := range b.Envelopes {
		if e.SerializerId != protoSerializerID {
			return fmt.Errorf("%w: envelopes[%d] serializer_id %d", errSerializer, i, e.SerializerId)
		}
		if e.TypeId < 0 || int(e.TypeId) >= len(b.TypeNames) {
			return fmt.Errorf("%w: envelopes[%d] type_id %d of %d type names", errIndex, i, e.TypeId, len(b.TypeNames))
		}
		if e.Target < 0 || int(e.Target) >= len(b.Targets) {
			return fmt.Errorf("%w: envelopes[%d] target %d of %d targets", errIndex, i, e.Target, len(b.Targets))
		}
		if e.Sender < 0 || int(e.Sender) > len(b.Senders) { // 1-based; 0 means no sender
			return fmt.Errorf("%w: envelopes[%d] sender %d of %d senders", errIndex, i, e.Sender, len(b.Senders))
		}
		if err := checkSystemMessage(b.TypeNames[e.TypeId], e.MessageData); err != nil {
			return fmt.Errorf("envelopes[%d]: %w", i, err)
		}
	}
	return nil
}

// checkSystemMessage decodes the system messages whose PID field protoactor
// dereferences on the reader's goroutine and requires that field.
func checkSystemMessage(typeName string, data []byte) error {
	var (
		msg proto.Message
		pid func() *actor.PID
	)
	switch protoreflect.FullName(typeName) {
	case (*actor.Watch)(nil).ProtoReflect().Descriptor().FullName():
		w := &actor.Watch{}
		msg, pid = w, w.GetWatcher
	case (*actor.Unwatch)(nil).ProtoReflect().Descriptor().FullName():
		u := &actor.Unwatch{}
		msg, pid = u, u.GetWatcher
	case (*actor.Terminated)(nil).ProtoReflect().Descriptor().FullName():
		t := &actor.Terminated{}
		msg, pid = t, t.GetWho
	default:
		return nil
	}
	if err := proto.Unmarshal(data, msg); err != nil {
		return fmt.Errorf("%w: %s: %w", errSystemMessage, typeName, err)
	}
	if pid() == nil {
		return fmt.Errorf("%w: %s without a PID", errSystemMessage, typeName)
	}
	return nil
}

// OneConnectAttempt makes protoactor's endpoint writer try a peer once
// per connection instead of five times, 2 s apart. Each of its retries
// replaces its gRPC ClientConn without closing the previous one (a leak of
// a connection that reconnects forever, per failed attempt); with one
// attempt the connection is closed when the writer stops. A peer that did
// not answer is tried again with the next message sent to it.
func OneConnectAttempt(c *remote.Config) { c.MaxRetryCount = 1 }
