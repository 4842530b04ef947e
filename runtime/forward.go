package runtime

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/actors/meta"
	"github.com/odgm-go/odgm/internal/wire"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/shards"
	"github.com/odgm-go/odgm/storage/appdata"
)

// maxHops bounds how many times a request is forwarded between nodes: a
// node that receives a request forwarded twice serves it if it can.
const maxHops = 2

// forwardAttempt bounds one forward: a request to a node that died is
// answered by nothing but a timeout.
const forwardAttempt = time.Second

// routeTarget says where a request on shard s is served: 0 for this node,
// else the node to forward it to — the node of the shard's leader, or,
// when no leader is known and no replica is here, a node with a replica.
func (n *Node) routeTarget(ctx context.Context, s *shard) (uint64, error) {
	if n.cl == nil {
		return 0, nil
	}
	me := n.cfg.NodeID
	leader, hosted := n.leaderOf(s)
	if hosted && (leader == me || leader == 0) {
		return 0, nil
	}
	if hopsOf(ctx) >= maxHops {
		if hosted {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: shard %d: forwarded %d times without reaching its leader", odgm.ErrUnavailable, s.id, maxHops)
	}
	if leader != 0 && leader != me {
		return leader, nil
	}
	if sp := meta.FindShard(n.cl.snapshot(), s.id); sp != nil {
		for _, r := range sp.GetReplicas() {
			if r.GetNodeId() != me {
				return r.GetNodeId(), nil
			}
		}
	}
	return 0, fmt.Errorf("%w: shard %d has no known replica", odgm.ErrUnavailable, s.id)
}

// routedShard serves a request on shard s through the node of its
// leader when that is another node: it returns handled false when this
// node should serve it. Forwarding is retried, with the route looked up
// again, while ctx allows: a leader change shows as latency.
func (n *Node) routedShard(ctx context.Context, s *shard, req func() *odgmv1.Request) (*odgmv1.Response, bool, error) {
	if n.cl == nil {
		return nil, false, nil // outside a dynamic cluster nothing is routed
	}
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	for {
		target, err := n.routeTarget(ctx, s)
		if err == nil && target == 0 {
			return nil, false, nil
		}
		if err == nil {
			var resp *odgmv1.Response
			resp, err = n.forward(ctx, target, req())
			if err == nil {
				if e := resp.GetError(); e != nil {
					err = wire.ErrorFromProto(e)
					if !errors.Is(err, odgm.ErrUnavailable) && !errors.Is(err, odgm.ErrClosed) {
						return resp, true, err
					}
				} else {
					return resp, true, nil
				}
			} else if s.hosted() != nil {
				// The leader's node did not answer (dead, or the remote
				// link between the nodes is down): this node's replica
				// serves — reads by ReadIndex, writes through Raft, which
				// reaches the leader by its own transport. A dead leader
				// is replaced by an election meanwhile.
				return nil, false, nil
			}
		}
		// Unavailable, unreachable or no route: look again shortly.
		select {
		case <-ctx.Done():
			return nil, true, fmt.Errorf("%w: shard %d: %w", odgm.FromContext(ctx.Err()), s.id, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// forward sends req to node's gateway and waits for the response (at most
// forwardAttempt, or what is left of ctx).
func (n *Node) forward(ctx context.Context, node uint64, req *odgmv1.Request) (*odgmv1.Response, error) {
	info := meta.FindNode(n.cl.snapshot(), node)
	if info == nil {
		return nil, fmt.Errorf("%w: node %d unknown", odgm.ErrUnavailable, node)
	}
	dl, _ := ctx.Deadline()
	left := time.Until(dl)
	if left <= 0 {
		return nil, odgm.FromContext(context.DeadlineExceeded)
	}
	req.Hops = hopsOf(ctx) + 1
	req.TimeoutMs = uint64(left.Milliseconds())
	// The reply box Node.send uses, not a future: no future and goroutine
	// per forward, and the caller's cancellation ends the wait.
	box, done := n.newReplyBox()
	defer done()
	n.sys.Root.RequestWithCustomSender(newGatewayPID(info.GetRemoteAddress()), req, box.pid)
	t := time.NewTimer(min(left, forwardAttempt+left/2))
	defer t.Stop()
	var v any
	select {
	case v = <-box.c:
	case <-t.C:
		return nil, fmt.Errorf("%w: node %d did not answer", odgm.ErrUnavailable, node)
	case <-ctx.Done():
		return nil, odgm.FromContext(ctx.Err())
	}
	if _, ok := v.(*actor.DeadLetterResponse); ok {
		return nil, fmt.Errorf("%w: node %d did not answer", odgm.ErrUnavailable, node)
	}
	resp, ok := v.(*odgmv1.Response)
	if !ok {
		return nil, fmt.Errorf("%w: node %d answered %T", odgm.ErrUnavailable, node, v)
	}
	return resp, nil
}

// writeRequest is the Request of a write (Put, Delete, DeleteObject or
// CompareAndSwap, as the arguments say).
func writeRequest(class, id string, puts map[string][]byte, dels []string, deleteObject bool, expected *uint64, requestID string) *odgmv1.Request {
	switch {
	case deleteObject:
		return &odgmv1.Request{Op: &odgmv1.Request_DeleteObject{DeleteObject: &odgmv1.DeleteObjectRequest{Class: class, Id: id, RequestId: requestID}}}
	case expected != nil:
		return &odgmv1.Request{Op: &odgmv1.Request_CompareAndSwap{CompareAndSwap: &odgmv1.CompareAndSwapRequest{
			Class: class, Id: id, ExpectedVersion: *expected, Puts: wire.EntriesToProto(puts), Deletes: dels, RequestId: requestID}}}
	case puts == nil && dels != nil:
		return &odgmv1.Request{Op: &odgmv1.Request_Delete{Delete: &odgmv1.DeleteRequest{Class: class, Id: id, Names: dels, RequestId: requestID}}}
	}
	return &odgmv1.Request{Op: &odgmv1.Request_Put{Put: &odgmv1.PutRequest{Class: class, Id: id, Entries: wire.EntriesToProto(puts), RequestId: requestID}}}
}

// writeVersion is the version a write's Response carries.
func writeVersion(resp *odgmv1.Response) (uint64, error) {
	switch r := resp.GetResult().(type) {
	case *odgmv1.Response_Put:
		return r.Put.GetVersion(), nil
	case *odgmv1.Response_Delete:
		return r.Delete.GetVersion(), nil
	case *odgmv1.Response_CompareAndSwap:
		return r.CompareAndSwap.GetVersion(), nil
	case *odgmv1.Response_DeleteObject:
		return 0, nil
	}
	return 0, fmt.Errorf("%w: response without a write result", odgm.ErrUnavailable)
}

// listShard lists one partition of a class: here, or through the node of
// the partition's leader.
func (n *Node) listShard(ctx context.Context, c *class, p int, q ListOptions, cons shards.Consistency) (*shards.ObjectList, error) {
	s := c.shards[p]
	part := uint32(p)
	resp, ok, err := n.routedShard(ctx, s, func() *odgmv1.Request {
		q.Stale = cons == shards.Stale
		l := wire.ListRequest(c.Name, q)
		l.Partition = &part
		return &odgmv1.Request{Op: &odgmv1.Request_List{List: l}}
	})
	if ok {
		if err != nil {
			return nil, err
		}
		p := wire.PageFromProto(resp.GetList())
		return &shards.ObjectList{IDs: p.IDs, Next: p.Next}, nil
	}
	if s.hosted() == nil {
		return nil, n.notHosted(c, s)
	}
	v, err := n.host.Read(ctx, s.id, shards.ListObjects{Prefix: q.Prefix, Limit: q.Limit, Cursor: q.Cursor}, cons)
	if err != nil {
		return nil, mapErr(ctx, err)
	}
	return v.(*shards.ObjectList), nil
}

// queryShard queries an index in one partition of a class: here, or
// through the node of the partition's leader.
func (n *Node) queryShard(ctx context.Context, c *class, p int, q IndexQuery, limit int, resume []byte, cons shards.Consistency) (*shards.IndexResult, error) {
	s := c.shards[p]
	part := uint32(p)
	resp, ok, err := n.routedShard(ctx, s, func() *odgmv1.Request {
		return &odgmv1.Request{Op: &odgmv1.Request_QueryIndex{QueryIndex: &odgmv1.QueryIndexRequest{Class: c.Name, Index: q.Index,
			Query: wire.QueryToProto(q.Query), Limit: wire.LimitToProto(limit), Cursor: hex.EncodeToString(resume),
			Stale: cons == shards.Stale, Partition: &part}}}
	})
	if ok {
		if err != nil {
			return nil, err
		}
		out := &shards.IndexResult{}
		for _, it := range resp.GetQueryIndex().GetItems() {
			out.Items = append(out.Items, shards.IndexItem{ID: it.GetId(), Entry: it.GetEntry(), Value: it.GetValue()})
		}
		if next := resp.GetQueryIndex().GetNext(); next != "" {
			if out.Next, err = hex.DecodeString(next); err != nil {
				return nil, fmt.Errorf("%w: bad resume key from node: %v", odgm.ErrUnavailable, err)
			}
		}
		return out, nil
	}
	if s.hosted() == nil {
		return nil, n.notHosted(c, s)
	}
	v, err := n.host.Read(ctx, s.id, shards.QueryIndex{Index: q.Index, Query: appdata.Query(q.Query), Limit: limit, Resume: resume}, cons)
	if err != nil {
		return nil, mapErr(ctx, err)
	}
	return v.(*shards.IndexResult), nil
}

// handlePartition serves a List or QueryIndex restricted to one partition
// (a node asking for the partition's page): resp is nil when req is not
// one.
func (n *Node) handlePartition(ctx context.Context, req *odgmv1.Request) (*odgmv1.Response, error) {
	if l := req.GetList(); l != nil && l.Partition != nil {
		c, err := n.class(l.GetClass())
		if err != nil {
			return nil, err
		}
		if int(l.GetPartition()) >= len(c.shards) {
			return nil, fmt.Errorf("%w: partition %d of %d", odgm.ErrInvalidArgument, l.GetPartition(), len(c.shards))
		}
		q := ListOptions{Prefix: l.GetPrefix(), Limit: wire.LimitFromProto(l.GetLimit()), Cursor: l.GetCursor()}
		if q.Limit <= 0 {
			q.Limit = defaultPageLimit
		}
		res, err := n.listShard(ctx, c, int(l.GetPartition()), q, c.consistency(odgm.CallOptions{Stale: l.GetStale()}))
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_List{List: &odgmv1.ListResponse{Ids: res.IDs, Next: res.Next}}}, nil
	}
	if x := req.GetQueryIndex(); x != nil && x.Partition != nil {
		c, err := n.class(x.GetClass())
		if err != nil {
			return nil, err
		}
		if int(x.GetPartition()) >= len(c.shards) {
			return nil, fmt.Errorf("%w: partition %d of %d", odgm.ErrInvalidArgument, x.GetPartition(), len(c.shards))
		}
		var resume []byte // nil: from the start (an empty token is malformed)
		if x.GetCursor() != "" {
			var err error
			if resume, err = hex.DecodeString(x.GetCursor()); err != nil {
				return nil, fmt.Errorf("%w: cursor: %v", odgm.ErrInvalidArgument, err)
			}
		}
		limit := wire.LimitFromProto(x.GetLimit())
		if limit <= 0 {
			limit = defaultPageLimit
		}
		q := IndexQuery{Index: x.GetIndex(), Query: wire.QueryFromProto(x.GetQuery())}
		res, err := n.queryShard(ctx, c, int(x.GetPartition()), q, limit, resume, c.consistency(odgm.CallOptions{Stale: x.GetStale()}))
		if err != nil {
			return nil, err
		}
		out := &odgmv1.QueryIndexResponse{Next: hex.EncodeToString(res.Next)}
		for _, it := range res.Items {
			out.Items = append(out.Items, &odgmv1.IndexItem{Id: it.ID, Entry: it.Entry, Value: it.Value})
		}
		return &odgmv1.Response{Result: &odgmv1.Response_QueryIndex{QueryIndex: out}}, nil
	}
	return nil, nil
}
