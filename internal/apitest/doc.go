// Package apitest is the semantic test suite of the object API
// (odgm.Objects), run unchanged against every face of it: an embedded
// runtime.Node, a client.Client talking to a node's gateway over
// protoactor remote, and a client.GRPCClient over a node's gRPC service.
//
// A test starts a node with the suite's classes (StartNode registers
// Classes on a memory node), builds the face to test on it, and calls Run:
//
//	func TestObjects(t *testing.T) {
//		apitest.Run(t, func(t *testing.T) apitest.Target {
//			n := apitest.StartNode(t, nil)
//			return apitest.Target{Objects: n, MaxValueSize: apitest.MaxValueSize}
//		})
//	}
//
// The suite pins what a caller sees through odgm.Objects: the version
// rules, CompareAndSwap, Get with Select, DeleteObject, List and QueryIndex
// pagination, Invoke and InvokeStateless with their method errors and
// panics, exactly-once request ids, deadlines and the typed errors. What
// only the embedded API can show (a method's own error value through
// MethodError.Err, the current version returned with a version mismatch,
// actor behaviour) stays in package runtime's tests.
//
// StandInGateway serves the message-driven protocol on a protoactor remote
// endpoint of its own, for testing clients before (or without) a node's
// own gateway actor.
//
// This is a test-support package: it calls testing.T's methods and is
// imported only by tests.
package apitest
