package runtime

import "google.golang.org/grpc"

// NewGRPCServer exposes newGRPCServer to the external tests, which serve
// it on a listener of their own.
func NewGRPCServer(n *Node, opts ...grpc.ServerOption) *grpc.Server { return n.newGRPCServer(opts...) }
