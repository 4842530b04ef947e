// Package client is the object API of an ODGM cluster for a Go process
// that is not a node. Two faces implement odgm.Objects, with the typed
// errors of package odgm (errors.Is, errors.As for *odgm.MethodError):
//
//   - Client talks to the nodes' gateway actors over protoactor remote,
//     the message-driven path: it sends *odgmv1.Request messages and gets
//     *odgmv1.Response messages back.
//   - GRPCClient calls a node's gRPC service (odgm.v1.ObjectService) over a
//     connection the caller makes.
//
// Both also offer the cluster operations CreateClass, ListClasses and
// Status with the odgmv1 message types.
//
//	c, err := client.Dial(ctx, []string{"10.0.0.1:7000", "10.0.0.2:7000"},
//		client.WithListenAddress("10.0.0.9", 0)) // where the nodes reach us
//	if err != nil { ... }
//	defer c.Close()
//	v, err := c.Put(ctx, "doc", "d1", map[string][]byte{"title": []byte("hi")})
//	st, err := c.Get(ctx, "doc", "d1") // st.Version == v
//	_, err = c.CompareAndSwap(ctx, "doc", "d1", 99, nil, []string{"title"})
//	errors.Is(err, odgm.ErrVersionMismatch) // true
//
//	conn, err := grpc.NewClient("10.0.0.1:7100", grpc.WithTransportCredentials(creds))
//	g := client.NewGRPC(conn) // conn.Close() is the caller's
//	out, err := g.Invoke(ctx, "counter", "visits", "incr", nil)
//
// # Client (protoactor remote)
//
// Dial starts the client's own actor system (its logging discarded) with
// a remote endpoint, 127.0.0.1 on a free port unless WithListenAddress
// says otherwise: protoactor delivers each response over a connection the
// node opens back to that endpoint, so the nodes must be able to reach it
// (WithAdvertisedAddress when they reach it under another address).
// WithTLS secures both directions; the endpoint rejects malformed remote
// traffic like a node's (internal/remoteguard) and bounds messages to
// WithMaxMessageBytes. Dial contacts no node: the first call does.
//
// A call goes to the gateway actor ("gateway") of one node, chosen round
// robin. Each attempt gets a share of the time left on the call's context
// (WithTimeout, default 10 s, when the context has no deadline): the time
// left divided among the addresses not yet tried, at least 500 ms; with
// one address, all of it. Its timeout_ms is nine tenths of that share, so
// that the node's own timeout answer still arrives. When the node does not
// answer in its share, has no gateway, or
// answers that it cannot serve now (odgm.ErrUnavailable, ErrClosed) or
// timed out, the call is sent to the next address; each address is tried
// at most once per call, and only while the context allows. So that such
// a retry is applied at most once, Put, Delete, DeleteObject,
// CompareAndSwap and Invoke always carry a request id: the caller's
// (odgm.RequestID) or one the client makes up. InvokeStateless carries
// none and may run on two nodes. A node that is down costs its share of
// the time: protoactor reports a dead peer only by silence.
//
// Errors cross the wire as odgmv1.Error (internal/wire): errors.Is holds
// for every odgm error the node's error matched, and a method's failure is
// a *odgm.MethodError whose Err is nil (only its message crosses).
// CompareAndSwap's version on odgm.ErrVersionMismatch is 0, not the
// current version. A result pointer is never nil without an error.
//
// Close stops the endpoint and the actor system; calls after it fail with
// odgm.ErrClosed. Client's methods are safe for concurrent use.
//
// Dial is safe for concurrent use, but starts (and Close's shutdowns) are
// serialised behind a package mutex: protoactor's remote.Start writes
// gRPC's process-wide logger without synchronisation. Even serialised, that
// write races, as the race detector sees it, with gRPC logging anywhere
// else in the process; after its Start, Dial opens one HTTP/2 connection
// to its own endpoint and waits for the server's acknowledgement, which
// orders the new server's start-up logging before anything that follows
// (the connection stays open until Close; it is skipped with WithTLS or
// WithAdvertisedAddress, which the plain-text probe cannot reach). Close does not use protoactor's
// graceful Remote.Shutdown, which races with a connection lost at the same
// time; it stops the endpoint actors, then the gRPC server.
//
// # GRPCClient
//
// NewGRPC wraps any grpc.ClientConnInterface. Errors come from the Error
// detail of the status when the node sent one, otherwise from the status
// code (DeadlineExceeded → odgm.ErrTimeout, Canceled → ErrCanceled,
// Unavailable → ErrUnavailable, ResourceExhausted → ErrTooLarge; other
// codes match no odgm error); status.Code still reads the original. The
// request's deadline is the context's; without one the node applies its
// RequestTimeout. GRPCClient does not retry on other nodes: point the
// connection at a load balancer or use gRPC's own retry policy with
// request ids.
package client
