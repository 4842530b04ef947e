package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/remoteguard"
	"github.com/odgm-go/odgm/internal/wire"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// GatewayName is the name of the actor every node runs to serve clients:
// a client sends *odgmv1.Request to actor.NewPID(nodeAddress, GatewayName)
// and gets a *odgmv1.Response back.
const GatewayName = "gateway"

// Client is the object API of an ODGM cluster for a process that is not a
// node, over protoactor remote. It implements odgm.Objects; its methods
// are safe for concurrent use.
type Client struct {
	gateways []*actor.PID
	timeout  time.Duration
	sys      *actor.ActorSystem
	remote   *remote.Remote
	probe    net.Conn // see grpcsettle.Settle; nil if none

	reqPrefix string
	reqSeq    atomic.Uint64
	next      atomic.Uint64

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: waiting calls end
	mu        struct {
		sync.RWMutex
		closed bool
	}
}

var _ odgm.Objects = (*Client)(nil)

// Dial starts the client's actor system and remote endpoint and returns a
// Client of the nodes at addrs (their protoactor remote addresses,
// host:port). It does not contact the nodes: the first call does, and
// fails with odgm.ErrUnavailable or odgm.ErrTimeout if none answers. Dial
// is safe for concurrent use, but starts are serialised behind a package
// mutex (protoactor's remote sets gRPC's global logger). Close releases
// everything.
func Dial(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: client: no node address", odgm.ErrInvalidArgument)
	}
	o := options{host: "127.0.0.1"}
	for _, f := range opts {
		f(&o)
	}
	if o.timeout <= 0 {
		o.timeout = DefaultTimeout
	}
	if o.maxBytes <= 0 {
		o.maxBytes = DefaultMaxMessageBytes
	}
	// WaitForHandlers: Close's Stop returns only after the stream handlers
	// (and what they log) are done; see grpcsettle.Settle.
	serverOpts := append(remoteguard.ServerOptions(o.maxBytes), grpc.MaxSendMsgSize(o.maxBytes), grpc.WaitForHandlers(true))
	if o.serverCreds != nil {
		serverOpts = append(serverOpts, grpc.Creds(o.serverCreds))
	}
	serverOpts = append(serverOpts, o.serverOptions...)
	dialOpts := remoteguard.DialOptions(o.maxBytes)
	if o.dialCreds != nil {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(o.dialCreds))
	} else {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	dialOpts = append(dialOpts, o.dialOptions...)
	rcfg := []remote.ConfigOption{remote.WithServerOptions(serverOpts...), remote.WithDialOptions(dialOpts...), remoteguard.OneConnectAttempt}
	if o.advertised != "" {
		rcfg = append(rcfg, remote.WithAdvertisedHost(o.advertised))
	}

	if err := ctx.Err(); err != nil {
		return nil, odgm.FromContext(err)
	}
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	r := remote.NewRemote(sys, remote.Configure(o.host, o.port, rcfg...))
	probe, err := remoteguard.Start(r, sys, o.serverCreds == nil && o.advertised == "")
	if err != nil {
		sys.Shutdown()
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{timeout: o.timeout, sys: sys, remote: r, probe: probe, closed: make(chan struct{})}
	for _, a := range addrs {
		c.gateways = append(c.gateways, actor.NewPID(a, GatewayName))
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	c.reqPrefix = "c-" + hex.EncodeToString(b[:])
	return c, nil
}

// Address is the client's own remote address, where nodes send responses.
func (c *Client) Address() string { return c.sys.Address() }

// Close stops the client's remote endpoint and actor system. Calls in
// flight and later ones fail with odgm.ErrClosed (a write in flight may
// still be applied). A second Close does nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.mu.closed = true
		c.mu.Unlock()
		close(c.closed)
		remoteguard.Shutdown(c.sys, c.remote, c.probe)
		c.sys.Shutdown()
	})
	return nil
}

// reply is the process that receives one attempt's response: a stand-in
// for an actor.Future that can also end when the caller's context does,
// without a goroutine waiting on it.
type reply struct {
	ch chan any
}

func (p *reply) SendUserMessage(_ *actor.PID, m any) {
	_, msg, _ := actor.UnwrapEnvelope(m)
	select {
	case p.ch <- msg:
	default: // a second answer (cannot happen for one request) is dropped
	}
}

func (p *reply) SendSystemMessage(*actor.PID, any) {}
func (p *reply) Stop(*actor.PID)                   {}

// errClosed is the error of a call on a closed Client.
var errClosed = fmt.Errorf("%w: client closed", odgm.ErrClosed)

// errNoAnswer marks an attempt that got no response in its time.
var errNoAnswer = errors.New("no answer")

// attempt sends req to one gateway and waits at most wait for its
// response, or until ctx ends.
func (c *Client) attempt(ctx context.Context, gw *actor.PID, req *odgmv1.Request, wait time.Duration) (*odgmv1.Response, error) {
	p := &reply{ch: make(chan any, 1)}
	c.mu.RLock()
	if c.mu.closed {
		c.mu.RUnlock()
		return nil, errClosed
	}
	pid, ok := c.sys.ProcessRegistry.Add(p, "reply"+c.sys.ProcessRegistry.NextId())
	if !ok {
		c.mu.RUnlock()
		return nil, fmt.Errorf("%w: client: reply id taken", odgm.ErrUnavailable)
	}
	defer c.sys.ProcessRegistry.Remove(pid)
	c.sys.Root.RequestWithCustomSender(gw, req, pid)
	c.mu.RUnlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case m := <-p.ch:
		switch m := m.(type) {
		case *odgmv1.Response:
			return m, nil
		case *actor.DeadLetterResponse:
			return nil, fmt.Errorf("%w: no gateway at %s", odgm.ErrUnavailable, gw.Address)
		default:
			return nil, fmt.Errorf("client: unexpected %T from %s", m, gw.Address)
		}
	case <-t.C:
		return nil, fmt.Errorf("%w: %w from %s in %v", odgm.ErrTimeout, errNoAnswer, gw.Address, wait.Round(time.Millisecond))
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for %s", odgm.FromContext(ctx.Err()), gw.Address)
	case <-c.closed:
		return nil, errClosed
	}
}

// retryable says whether another node may serve what this attempt could
// not: no answer in its share of the time, no gateway, or a node that
// cannot serve now or timed out.
func retryable(err error) bool {
	if err == errClosed {
		return false
	}
	return errors.Is(err, odgm.ErrTimeout) || errors.Is(err, odgm.ErrUnavailable) || errors.Is(err, odgm.ErrClosed)
}

// do sends req to the nodes in turn, starting with the next in
// round-robin order, each at most once, while ctx allows: each attempt
// gets an equal share of the time left (at least minAttempt), and a node
// that does not answer in it, has no gateway, or answers that it cannot
// serve now (ErrUnavailable, ErrClosed) or timed out, is followed by the
// next. Writes carry a request id, so a
// retry on another node is applied at most once.
func (c *Client) do(ctx context.Context, req *odgmv1.Request) (*odgmv1.Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	n := len(c.gateways)
	start := int(c.next.Add(1) % uint64(n))
	var err error
	for i := 0; i < n; i++ {
		left := time.Until(dl)
		if ctx.Err() != nil || left <= 0 {
			break
		}
		wait := left / time.Duration(n-i)
		if wait < minAttempt {
			wait = min(minAttempt, left)
		}
		// The node gives up a little before the client does, so that its
		// answer (ErrTimeout) still arrives. Each attempt sends an envelope
		// of its own: an earlier one may still be being serialised.
		r := &odgmv1.Request{TimeoutMs: uint64(max((wait - wait/10).Milliseconds(), 1)), Hops: req.Hops, Op: req.Op}
		var resp *odgmv1.Response
		resp, err = c.attempt(ctx, c.gateways[(start+i)%n], r, wait)
		if err == nil {
			e := resp.GetError()
			if e == nil {
				return resp, nil
			}
			err = wire.ErrorFromProto(e)
		}
		if !retryable(err) {
			return nil, err
		}
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, errNoAnswer)) {
		return nil, fmt.Errorf("%w: no answer from %d node(s)", odgm.FromContext(ctx.Err()), n)
	}
	return nil, err
}

// minAttempt is the least time an attempt gets when several nodes share
// what is left.
const minAttempt = 500 * time.Millisecond

// requestID returns id, or a fresh one if it is empty: a write retried on
// another node must carry the id of its first try.
func (c *Client) requestID(id string) string {
	if id != "" {
		return id
	}
	return fmt.Sprintf("%s-%x", c.reqPrefix, c.reqSeq.Add(1))
}

// Get returns an object's state; see odgm.Objects and runtime.Node.Get.
func (c *Client) Get(ctx context.Context, class, id string, opts ...odgm.Option) (*odgm.State, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_Get{Get: getRequest(class, id, o)}})
	if err != nil {
		return nil, err
	}
	return stateResult(resp.GetGet())
}

// Put writes entries of an object and returns its version after.
func (c *Client) Put(ctx context.Context, class, id string, entries map[string][]byte, opts ...odgm.Option) (uint64, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return 0, err
	}
	o.RequestID = c.requestID(o.RequestID)
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_Put{Put: putRequest(class, id, entries, o)}})
	if err != nil {
		return 0, err
	}
	if resp.GetPut() == nil {
		return 0, errResponse("put")
	}
	return resp.GetPut().GetVersion(), nil
}

// Delete removes entries of an object and returns its version after.
func (c *Client) Delete(ctx context.Context, class, id string, names []string, opts ...odgm.Option) (uint64, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return 0, err
	}
	o.RequestID = c.requestID(o.RequestID)
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_Delete{Delete: deleteRequest(class, id, names, o)}})
	if err != nil {
		return 0, err
	}
	if resp.GetDelete() == nil {
		return 0, errResponse("delete")
	}
	return resp.GetDelete().GetVersion(), nil
}

// DeleteObject removes an object and all its entries.
func (c *Client) DeleteObject(ctx context.Context, class, id string, opts ...odgm.Option) error {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return err
	}
	o.RequestID = c.requestID(o.RequestID)
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_DeleteObject{DeleteObject: deleteObjectRequest(class, id, o)}})
	if err != nil {
		return err
	}
	if resp.GetDeleteObject() == nil {
		return errResponse("delete_object")
	}
	return nil
}

// CompareAndSwap applies puts then deletes if the object's version is
// expected (0: it must not exist). On odgm.ErrVersionMismatch the version
// returned is 0: the current version does not cross the wire.
func (c *Client) CompareAndSwap(ctx context.Context, class, id string, expected uint64, puts map[string][]byte, deletes []string, opts ...odgm.Option) (uint64, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return 0, err
	}
	o.RequestID = c.requestID(o.RequestID)
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_CompareAndSwap{CompareAndSwap: casRequest(class, id, expected, puts, deletes, o)}})
	if err != nil {
		return 0, err
	}
	if resp.GetCompareAndSwap() == nil {
		return 0, errResponse("compare_and_swap")
	}
	return resp.GetCompareAndSwap().GetVersion(), nil
}

// List lists a page of the class's object ids.
func (c *Client) List(ctx context.Context, class string, q odgm.ListOptions) (*odgm.Page, error) {
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_List{List: wire.ListRequest(class, q)}})
	if err != nil {
		return nil, err
	}
	if resp.GetList() == nil {
		return nil, errResponse("list")
	}
	return wire.PageFromProto(resp.GetList()), nil
}

// QueryIndex queries a page of a secondary index of the class.
func (c *Client) QueryIndex(ctx context.Context, class string, q odgm.IndexQuery) (*odgm.IndexPage, error) {
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_QueryIndex{QueryIndex: wire.QueryIndexRequest(class, q)}})
	if err != nil {
		return nil, err
	}
	if resp.GetQueryIndex() == nil {
		return nil, errResponse("query_index")
	}
	return wire.IndexPageFromProto(resp.GetQueryIndex())
}

// Invoke runs a method of the class on the object and returns its reply.
// A method's failure is a *odgm.MethodError whose Err is nil (only its
// message crosses the wire).
func (c *Client) Invoke(ctx context.Context, class, id, method string, payload []byte, opts ...odgm.Option) ([]byte, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	o.RequestID = c.requestID(o.RequestID)
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_Invoke{Invoke: invokeRequest(class, id, method, payload, o)}})
	if err != nil {
		return nil, err
	}
	if resp.GetInvoke() == nil {
		return nil, errResponse("invoke")
	}
	return resp.GetInvoke().GetPayload(), nil
}

// InvokeStateless runs a class-level method on a node. It carries no
// request id: if a node does not answer in time, it may run again on
// another.
func (c *Client) InvokeStateless(ctx context.Context, class, method string, payload []byte) ([]byte, error) {
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_InvokeStateless{InvokeStateless: &odgmv1.InvokeStatelessRequest{
		Class: class, Method: method, Payload: payload}}})
	if err != nil {
		return nil, err
	}
	if resp.GetInvokeStateless() == nil {
		return nil, errResponse("invoke_stateless")
	}
	return resp.GetInvokeStateless().GetPayload(), nil
}

// CreateClass creates a data-only class in the cluster (its methods, if
// any, are Go code of the node programs).
func (c *Client) CreateClass(ctx context.Context, spec *odgmv1.ClassSpec) error {
	if spec == nil {
		return fmt.Errorf("%w: client: nil class spec", odgm.ErrInvalidArgument)
	}
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_CreateClass{CreateClass: &odgmv1.CreateClassRequest{Class: spec}}})
	if err != nil {
		return err
	}
	if resp.GetCreateClass() == nil {
		return errResponse("create_class")
	}
	return nil
}

// ListClasses lists the cluster's classes (never nil without an error).
func (c *Client) ListClasses(ctx context.Context) ([]*odgmv1.ClassSpec, error) {
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_ListClasses{ListClasses: &odgmv1.ListClassesRequest{}}})
	if err != nil {
		return nil, err
	}
	return classesResult(resp.GetListClasses())
}

// Status reports the cluster as the answering node sees it.
func (c *Client) Status(ctx context.Context) (*odgmv1.ClusterStatus, error) {
	resp, err := c.do(ctx, &odgmv1.Request{Op: &odgmv1.Request_Status{Status: &odgmv1.StatusRequest{}}})
	if err != nil {
		return nil, err
	}
	return statusResult(resp.GetStatus())
}
