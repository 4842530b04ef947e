// Package odgm holds what every face of ODGM shares with its users: the typed
// errors that the embedded runtime (package runtime), the remote client and
// the gRPC service return. Test them with errors.Is and errors.As, never by
// comparing strings:
//
//	_, err := node.CompareAndSwap(ctx, "account", "alice", 3, puts, nil)
//	if errors.Is(err, odgm.ErrVersionMismatch) { ... reload and retry ... }
//
//	var me *odgm.MethodError
//	if errors.As(err, &me) { ... the method itself failed: me.Err ... }
//
// The runtime lives in package runtime; the object address rules in package
// object; shards and storage in their own packages.
package odgm
