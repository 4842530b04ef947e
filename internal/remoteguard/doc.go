// Package remoteguard hardens the gRPC server of protoactor-go's remote
// package against messages that would crash the process.
//
// protoactor's endpoint reader trusts the wire. In the version this module
// uses (asynkron/protoactor-go v0.0.0-20240822202345-3c0e61ca19c9) it runs
// inside a gRPC handler goroutine, where a panic is not recovered and so
// ends the whole process, and it:
//
//   - looks up each type name in protoregistry.GlobalTypes and calls New on
//     the result without checking it: an unknown name is a nil pointer
//     dereference (remote/proto_serializer.go);
//   - indexes MessageBatch.TypeNames by envelope.TypeId, Targets by
//     envelope.Target and Senders by envelope.Sender-1 without bounds
//     checks, and the serializer table by envelope.SerializerId;
//   - hands actor.Watch, actor.Unwatch and actor.Terminated to the actor
//     system synchronously and dereferences their PID field (a Watch whose
//     watcher is unset, sent to an absent actor, or a Terminated whose who
//     is unset, panics in the reader);
//   - implements the unary RPCs ListProcesses and GetProcessDiagnostics as
//     panic("implement me").
//
// [ServerOptions] returns options for remote.WithServerOptions that close
// these holes. A stream interceptor checks every received RemoteMessage
// carrying a MessageBatch and, on the first bad one, fails the stream with
// codes.InvalidArgument before protoactor sees it. A batch passes when:
//
//   - every type name is a message registered in protoregistry.GlobalTypes
//     (every node must link every message type it may receive);
//   - every envelope's type_id, target and sender index lies within the
//     batch's type_names, targets and senders (sender 0 means none);
//   - every envelope uses the protobuf serializer (id 0). protoactor's JSON
//     serializer (id 1) does not crash on unknown names, but turns them into
//     *remote.JsonMessage values our actors do not expect; ids beyond the
//     table would index out of range. Only protobuf is accepted;
//   - actor.Watch and actor.Unwatch name a watcher and actor.Terminated
//     names who, decoding to check (Unwatch only for symmetry: its handling
//     runs in an actor, where protoactor recovers panics).
//
// Rejecting fails the whole stream: the rest of the batch is dropped too,
// and the sending node sees its endpoint terminate (watchers of its actors
// get Terminated with AddressTerminated), then reconnects on its next send.
// A node running a build that lacks a message type its peers send thus
// shows up as repeated endpoint terminations, not as a crash.
//
// A unary interceptor answers both unary RPCs with codes.Unimplemented. The
// interceptors are chained (grpc.ChainStreamInterceptor,
// grpc.ChainUnaryInterceptor), so callers may add their own.
// The options also bound received messages to maxMessageBytes (larger ones
// fail with codes.ResourceExhausted) and the number of concurrent streams
// per connection (protoactor uses one).
//
// Not checked, because protoactor survives them or allows them by design:
// that the message bytes decode (protoactor returns the error and closes
// the stream); that targets carry this node's address (a peer can make the
// node forward a message elsewhere); that a peer may send actor.Stop or
// actor.PoisonPill to any named actor. Use mutual TLS (package tlsfiles) to
// keep strangers out.
//
// remote.WithServerOptions and remote.WithDialOptions replace, not append,
// so pass everything in one call, for example
//
//	remote.WithServerOptions(append(remoteguard.ServerOptions(n), grpc.Creds(creds))...)
//	remote.WithDialOptions(append(remoteguard.DialOptions(n), grpc.WithTransportCredentials(creds))...)
//
// [DialOptions] carries no transport credentials: add them (protoactor's
// default, replaced by WithDialOptions, is insecure).
//
// [Start] and [Shutdown] start and stop a remote for nodes, clients and
// test stand-ins alike: under one process-wide lock (remote.Start sets
// gRPC's process-wide logger), with a failed listen as an error rather than
// protoactor's panic, and without Shutdown(true)'s race.
package remoteguard
