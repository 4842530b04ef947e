package runtime

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/wire"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/shards"
	"github.com/odgm-go/odgm/storage/appdata"
)

// The object API's types are package odgm's, shared with the remote and
// gRPC clients.
type (
	State       = odgm.State
	Option      = odgm.Option
	ListOptions = odgm.ListOptions
	Page        = odgm.Page
	IndexQuery  = odgm.IndexQuery
	IndexItem   = odgm.IndexItem
	IndexPage   = odgm.IndexPage
)

// RequestID is odgm.RequestID.
func RequestID(id string) Option { return odgm.RequestID(id) }

// StaleRead is odgm.StaleRead.
func StaleRead() Option { return odgm.StaleRead() }

// Select is odgm.Select.
func Select(names ...string) Option { return odgm.Select(names...) }

var _ odgm.Objects = (*Node)(nil)

// target resolves (class, id) to the class, the normalised id and its
// shard (hosted here or not: routing decides where it is served).
func (n *Node) target(className, id string) (*class, string, *shard, error) {
	c, err := n.class(className)
	if err != nil {
		return nil, "", nil, err
	}
	if len(id) > n.cfg.Limits.MaxIDLen {
		return nil, "", nil, fmt.Errorf("%w: %w: id of %d bytes, at most %d", odgm.ErrInvalidID, odgm.ErrTooLarge, len(id), n.cfg.Limits.MaxIDLen)
	}
	nid, err := object.NormalizeID(id)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w: %w", odgm.ErrInvalidID, err)
	}
	return c, nid, c.shardFor(nid), nil
}

// defaultPageLimit is the page size of a List or QueryIndex that asks for
// none.
const defaultPageLimit = 1000

// notHosted is the error of a request served here for a shard without a
// replica here.
func (n *Node) notHosted(c *class, s *shard) error {
	return fmt.Errorf("%w: shard %d of class %q has no replica on node %d (replicas on %v)",
		odgm.ErrUnavailable, s.id, c.Name, n.cfg.NodeID, s.replicas)
}

func (c *class) consistency(o odgm.CallOptions) shards.Consistency {
	if o.Stale {
		return shards.Stale
	}
	return c.Options.ReadConsistency
}

// Get returns an object's version, times and entries (all, or those named
// with Select). Linearizable unless StaleRead or the class says otherwise.
//
// Errors: odgm.ErrNotFound (the object does not exist), ErrUnknownClass,
// ErrInvalidID, ErrInvalidArgument (entry name), ErrTimeout, ErrCanceled,
// ErrUnavailable, ErrClosed.
func (n *Node) Get(ctx context.Context, class, id string, opts ...Option) (*State, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	c, nid, s, err := n.target(class, id)
	if err != nil {
		return nil, err
	}
	for _, name := range o.Names {
		if err := checkEntry(&n.cfg.Limits, name, nil); err != nil {
			return nil, err
		}
	}
	if resp, ok, err := n.routedShard(ctx, s, func() *odgmv1.Request {
		return &odgmv1.Request{Op: &odgmv1.Request_Get{Get: &odgmv1.GetRequest{Class: class, Id: nid, Names: o.Names, Stale: o.Stale}}}
	}); ok {
		if err != nil {
			return nil, err
		}
		return wire.StateFromProto(resp.GetGet().GetState())
	}
	if s.hosted() == nil {
		return nil, n.notHosted(c, s)
	}
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	v, err := n.host.Read(ctx, s.id, shards.GetObject{ID: nid, Names: o.Names}, c.consistency(o))
	if err != nil {
		return nil, mapErr(ctx, err)
	}
	os := v.(*shards.ObjectState)
	if os.Meta == nil {
		return nil, fmt.Errorf("%w: object %s/%s", odgm.ErrNotFound, class, nid)
	}
	st := &State{ID: nid, Version: os.Meta.GetVersion(), CreatedAt: tsTime(os.Meta.GetCreatedAt()),
		UpdatedAt: tsTime(os.Meta.GetUpdatedAt()), Entries: make(map[string][]byte, len(os.Entries))}
	for _, e := range os.Entries {
		st.Entries[e.Name] = bytes.Clone(e.Value)
	}
	return st, nil
}

func tsTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// Put writes entries of an object (creating it) as one command and returns
// the object's version after it: 1 for the first write, +1 for a write
// that changed something, unchanged for one that did not (the same
// values, or no entries).
//
// Errors: ErrTooLarge (a name, a value or the batch over the node's
// Limits), ErrInvalidArgument (entry name), ErrInvalidID, ErrUnknownClass,
// ErrTimeout (the write may or may not be applied: retry with the same
// RequestID), ErrCanceled, ErrUnavailable, ErrClosed.
func (n *Node) Put(ctx context.Context, class, id string, entries map[string][]byte, opts ...Option) (uint64, error) {
	return n.write(ctx, class, id, entries, nil, false, nil, opts)
}

// Delete removes entries of an object (the object stays, even with no
// entries left) and returns its version after it. Deleting entries that do
// not exist changes nothing, not even the version. Errors as Put.
func (n *Node) Delete(ctx context.Context, class, id string, names []string, opts ...Option) (uint64, error) {
	return n.write(ctx, class, id, nil, names, false, nil, opts)
}

// DeleteObject removes an object and all its entries. Deleting an object
// that does not exist is not an error. A re-created object starts again at
// version 1. Errors as Put.
func (n *Node) DeleteObject(ctx context.Context, class, id string, opts ...Option) error {
	_, err := n.write(ctx, class, id, nil, nil, true, nil, opts)
	return err
}

// CompareAndSwap applies puts, then deletes, to the object only if its
// version is expected (0: the object must not exist), and returns the
// version after it. Otherwise it returns an error wrapping
// odgm.ErrVersionMismatch, the current version, and writes nothing. Other
// errors as Put.
func (n *Node) CompareAndSwap(ctx context.Context, class, id string, expected uint64, puts map[string][]byte, deletes []string, opts ...Option) (uint64, error) {
	return n.write(ctx, class, id, puts, deletes, false, &expected, opts)
}

func (n *Node) write(ctx context.Context, class, id string, puts map[string][]byte, dels []string, deleteObject bool, expected *uint64, opts []Option) (uint64, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return 0, err
	}
	if o.RequestID == "" {
		// One id for every attempt, here or forwarded: applied once.
		o.RequestID = n.newRequestID()
	}
	_, nid, s, err := n.target(class, id)
	if err != nil {
		return 0, err
	}
	m := &objCall{ctx: ctx, id: nid, kind: callWrite, requestID: o.RequestID, deleteObject: deleteObject, expected: expected}
	for _, name := range slices.Sorted(mapsKeys(puts)) {
		if err := checkEntry(&n.cfg.Limits, name, puts[name]); err != nil {
			return 0, err
		}
		m.puts = append(m.puts, &odgmv1.Entry{Name: name, Value: bytes.Clone(puts[name])})
	}
	for _, name := range dels {
		if err := checkEntry(&n.cfg.Limits, name, nil); err != nil {
			return 0, err
		}
	}
	m.dels = slices.Clone(dels)
	if err := checkBatch(&n.cfg.Limits, m.puts, m.dels); err != nil {
		return 0, err
	}
	if resp, ok, err := n.routedShard(ctx, s, func() *odgmv1.Request {
		return writeRequest(class, nid, puts, dels, deleteObject, expected, o.RequestID)
	}); ok {
		if err != nil {
			return 0, err
		}
		return writeVersion(resp)
	}
	r, err := n.send(ctx, s, m)
	if r != nil {
		return r.version, err
	}
	return 0, err
}

func mapsKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Invoke runs method of the class on the object (activating its actor),
// after every earlier invocation and write of that object sent to this
// node, and returns its payload. What the method writes is applied as one
// command conditioned on the version it read; when that version is stale
// the method is run again on the fresh state, at most Config.MaxRetries
// times.
//
// Errors: a *odgm.MethodError (errors.As) when the method returned an
// error or panicked — nothing was written; ErrVersionMismatch (retries ran
// out); ErrUnknownMethod, ErrUnknownClass, ErrInvalidID, ErrTooLarge and
// ErrInvalidArgument (the method's writes), ErrTimeout (the write may
// have been applied: retry with the same RequestID), ErrCanceled,
// ErrUnavailable, ErrClosed.
func (n *Node) Invoke(ctx context.Context, class, id, method string, payload []byte, opts ...Option) ([]byte, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.RequestID == "" {
		// One id for every attempt, here or forwarded: applied once.
		o.RequestID = n.newRequestID()
	}
	c, nid, s, err := n.target(class, id)
	if err != nil {
		return nil, err
	}
	if resp, ok, err := n.routedShard(ctx, s, func() *odgmv1.Request {
		return &odgmv1.Request{Op: &odgmv1.Request_Invoke{Invoke: &odgmv1.InvokeRequest{
			Class: class, Id: nid, Method: method, Payload: payload, RequestId: o.RequestID, Stale: o.Stale}}}
	}); ok {
		if err != nil {
			return nil, err
		}
		if resp.GetInvoke() == nil {
			return nil, fmt.Errorf("%w: response without an invoke result", odgm.ErrUnavailable)
		}
		return resp.GetInvoke().GetPayload(), nil
	}
	fn, ok := c.Methods[method]
	if !ok {
		return nil, fmt.Errorf("%w: %s.%s", odgm.ErrUnknownMethod, class, method)
	}
	m := &objCall{ctx: ctx, id: nid, kind: callInvoke, requestID: o.RequestID, method: method, fn: fn, payload: payload, stale: o.Stale}
	r, err := n.send(ctx, s, m)
	if err != nil {
		return nil, err
	}
	return r.payload, nil
}

// InvokeStateless runs a class-level method on the calling goroutine.
// Errors: *odgm.MethodError (the method failed or panicked),
// ErrUnknownMethod, ErrUnknownClass, ErrClosed.
func (n *Node) InvokeStateless(ctx context.Context, class, method string, payload []byte) (out []byte, err error) {
	c, err := n.class(class)
	if err != nil {
		return nil, err
	}
	fn, ok := c.StatelessMethods[method]
	if !ok {
		return nil, fmt.Errorf("%w: %s.%s", odgm.ErrUnknownMethod, class, method)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &odgm.MethodError{Class: class, Method: method, Panic: true, Message: fmt.Sprint(r)}
		}
	}()
	out, err = fn(ctx, payload)
	if err != nil {
		return nil, &odgm.MethodError{Class: class, Method: method, Err: err, Message: err.Error()}
	}
	return out, nil
}

// send hands m to the shard's objects actor and waits for the reply.
func (n *Node) send(ctx context.Context, s *shard, m *objCall) (*objReply, error) {
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	m.ctx = ctx
	n.mu.RLock()
	if n.mu.closed {
		n.mu.RUnlock()
		return nil, odgm.ErrClosed
	}
	l := s.hosted()
	if l == nil {
		n.mu.RUnlock()
		return nil, fmt.Errorf("%w: shard %d has no replica on this node", odgm.ErrUnavailable, s.id)
	}
	box, done := n.newReplyBox()
	defer done()
	n.sys.Root.RequestWithCustomSender(l.objects, m, box.pid)
	n.mu.RUnlock()
	// Wait for the reply or the caller's cancellation, whichever comes
	// first.
	select {
	case v := <-box.c:
		if _, ok := v.(*actor.DeadLetterResponse); ok {
			return nil, fmt.Errorf("%w: object actor gone", odgm.ErrUnavailable)
		}
		r, ok := v.(*objReply)
		if !ok {
			return nil, fmt.Errorf("%w: unexpected reply %T", odgm.ErrUnavailable, v)
		}
		return r, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: object %s (the call may still complete: retry with the same request id)",
			odgm.FromContext(ctx.Err()), m.id)
	}
}

// List lists the ids of the class's existing objects across all its
// partitions, in one stable order: pages are disjoint and, taken from
// the first to the one with an empty Next, cover every object that existed
// throughout. Every partition must have a replica on this node.
//
// Errors: ErrUnknownClass, ErrInvalidArgument (cursor), ErrTimeout,
// ErrCanceled, ErrUnavailable, ErrClosed.
func (n *Node) List(ctx context.Context, class string, q ListOptions) (*Page, error) {
	c, err := n.class(class)
	if err != nil {
		return nil, err
	}
	if q.Cursor != "" {
		if _, err := object.NormalizeID(q.Cursor); err != nil {
			return nil, fmt.Errorf("%w: cursor: %w", odgm.ErrInvalidArgument, err)
		}
	}
	if q.Limit <= 0 {
		q.Limit = defaultPageLimit
	}
	cons := c.consistency(odgm.CallOptions{Stale: q.Stale})
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	var all []string
	more := false
	for p := range c.shards {
		l, err := n.listShard(ctx, c, p, q, cons)
		if err != nil {
			return nil, err
		}
		all = append(all, l.IDs...)
		more = more || l.Next != ""
	}
	slices.SortFunc(all, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
	page := &Page{IDs: all}
	if len(all) > q.Limit {
		page.IDs, more = all[:q.Limit], true
	}
	if more && len(page.IDs) > 0 {
		page.Next = page.IDs[len(page.IDs)-1]
	}
	return page, nil
}

// QueryIndex queries a secondary index of the class across its
// partitions. Every partition must have a replica on this node.
//
// Errors: ErrUnknownClass, ErrInvalidArgument (unknown index, bad cursor),
// ErrTimeout, ErrCanceled, ErrUnavailable, ErrClosed.
func (n *Node) QueryIndex(ctx context.Context, class string, q IndexQuery) (*IndexPage, error) {
	c, err := n.class(class)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(c.Indexes, func(ix Index) bool { return ix.Name == q.Index }) {
		return nil, fmt.Errorf("%w: class %q has no index %q", odgm.ErrInvalidArgument, class, q.Index)
	}
	part, resume, err := parseIndexCursor(q.Cursor, len(c.shards))
	if err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = defaultPageLimit
	}
	cons := c.consistency(odgm.CallOptions{Stale: q.Stale})
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	page := &IndexPage{}
	for ; part < len(c.shards); part, resume = part+1, nil {
		if len(page.Items) == q.Limit {
			page.Next = fmt.Sprintf("%d:", part)
			return page, nil
		}
		r, err := n.queryShard(ctx, c, part, q, q.Limit-len(page.Items), resume, cons)
		if err != nil {
			return nil, err
		}
		for _, it := range r.Items {
			page.Items = append(page.Items, IndexItem{ID: it.ID, Entry: it.Entry, Value: bytes.Clone(it.Value)})
		}
		if r.Next != nil {
			page.Next = fmt.Sprintf("%d:%s", part, hex.EncodeToString(r.Next))
			return page, nil
		}
	}
	return page, nil
}

// parseIndexCursor reads "<partition>:<hex resume key>".
func parseIndexCursor(cur string, parts int) (int, []byte, error) {
	if cur == "" {
		return 0, nil, nil
	}
	p, h, ok := strings.Cut(cur, ":")
	part, err := strconv.Atoi(p)
	if !ok || err != nil || part < 0 || part >= parts {
		return 0, nil, fmt.Errorf("%w: index cursor %q", odgm.ErrInvalidArgument, cur)
	}
	resume, err := hex.DecodeString(h)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: index cursor %q", odgm.ErrInvalidArgument, cur)
	}
	if len(resume) == 0 {
		resume = nil
	}
	return part, resume, nil
}

// mapErr turns an error of the shards layer or dragonboat into the odgm
// error a caller tests for, keeping the original in the chain.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{odgm.ErrNotFound, odgm.ErrVersionMismatch, odgm.ErrInvalidID, odgm.ErrInvalidArgument,
		odgm.ErrUnknownClass, odgm.ErrUnknownMethod, odgm.ErrTooLarge, odgm.ErrTimeout, odgm.ErrCanceled,
		odgm.ErrUnavailable, odgm.ErrClosed} {
		if errors.Is(err, e) {
			return err
		}
	}
	var target error
	switch {
	case errors.Is(err, shards.ErrVersionMismatch):
		target = odgm.ErrVersionMismatch
	case errors.Is(err, shards.ErrInvalidCommand), errors.Is(err, shards.ErrInvalidQuery), errors.Is(err, appdata.ErrInvalidQuery):
		target = odgm.ErrInvalidArgument
	case ctx.Err() != nil:
		target = odgm.FromContext(ctx.Err())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, dragonboat.ErrTimeout), errors.Is(err, dragonboat.ErrTimeoutTooSmall):
		target = odgm.ErrTimeout
	case errors.Is(err, context.Canceled), errors.Is(err, dragonboat.ErrCanceled):
		target = odgm.ErrCanceled
	case errors.Is(err, shards.ErrClosed):
		target = odgm.ErrClosed
	default:
		// Not started, no leader yet, dropped during an election, shard
		// or NodeHost closing, system busy: the shard cannot serve now.
		target = odgm.ErrUnavailable
	}
	return fmt.Errorf("%w: %w", target, err)
}
