package client

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// DefaultMaxMessageBytes bounds each message sent or received; it is the
// node's default (runtime.Config.MaxMessageBytes).
const DefaultMaxMessageBytes = 64 << 20

// Option configures Dial.
type Option func(*options)

type options struct {
	host          string
	port          int
	advertised    string
	timeout       time.Duration
	maxBytes      int
	serverCreds   credentials.TransportCredentials
	dialCreds     credentials.TransportCredentials
	serverOptions []grpc.ServerOption
	dialOptions   []grpc.DialOption
}

// WithListenAddress sets where the client's own remote endpoint listens:
// the nodes connect back to it to deliver responses. The default is
// 127.0.0.1 on a free port, which only nodes on the same machine reach; a
// client of remote nodes listens on an address they can reach (and
// WithAdvertisedAddress if that is not the listening one, behind NAT).
func WithListenAddress(host string, port int) Option {
	return func(o *options) { o.host, o.port = host, port }
}

// WithAdvertisedAddress sets the host:port the nodes connect back to, when
// it differs from the listening address.
func WithAdvertisedAddress(hostPort string) Option {
	return func(o *options) { o.advertised = hostPort }
}

// WithTimeout sets the deadline of a call whose context has none
// (DefaultTimeout if zero or less).
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithMaxMessageBytes bounds each message sent and received
// (DefaultMaxMessageBytes if zero or less). Keep it at least the nodes'.
func WithMaxMessageBytes(n int) Option {
	return func(o *options) { o.maxBytes = n }
}

// WithTLS secures both directions of protoactor remote: server serves the
// client's endpoint (nodes connect to it with their client certificates),
// dial authenticates the nodes (and presents the client's certificate for
// mutual TLS). Either may be nil to leave that direction in plain text.
func WithTLS(server, dial credentials.TransportCredentials) Option {
	return func(o *options) { o.serverCreds, o.dialCreds = server, dial }
}

// WithServerOptions adds gRPC server options for the client's endpoint
// (after the size limit and the guards against bad input).
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(o *options) { o.serverOptions = append(o.serverOptions, opts...) }
}

// WithDialOptions adds gRPC dial options for the connections to the nodes.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}
