package runtime

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/wire"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// Handle serves one Request of the message-driven protocol (what a
// client's or another node's message to the gateway carries, and what
// each gRPC call of the ObjectService becomes): it decodes the envelope,
// calls the Node's object API (Get, Put, …, CreateClass, ListClasses,
// Status) and encodes the result, or the error as an Error (internal/wire).
// A Request without an operation, or with an unset operation or argument,
// is answered ERROR_CODE_INVALID_ARGUMENT. The call is bounded by ctx and
// by req.TimeoutMs when set. Handle never returns nil and is safe for
// concurrent use.
func (n *Node) Handle(ctx context.Context, req *odgmv1.Request) *odgmv1.Response {
	if ms := req.GetTimeoutMs(); ms > 0 {
		d := time.Duration(math.MaxInt64)
		if ms < uint64(math.MaxInt64/int64(time.Millisecond)) {
			d = time.Duration(ms) * time.Millisecond
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	resp, err := n.handle(ctx, req)
	if err != nil {
		return &odgmv1.Response{Result: &odgmv1.Response_Error{Error: wire.ErrorToProto(err)}}
	}
	return resp
}

func errUnset(what string) error {
	return fmt.Errorf("%w: request without %s", odgm.ErrInvalidArgument, what)
}

func callOptions(requestID string, stale bool, names []string) []Option {
	var opts []Option
	if requestID != "" {
		opts = append(opts, odgm.RequestID(requestID))
	}
	if stale {
		opts = append(opts, odgm.StaleRead())
	}
	if len(names) > 0 {
		opts = append(opts, odgm.Select(names...))
	}
	return opts
}

func (n *Node) handle(ctx context.Context, req *odgmv1.Request) (*odgmv1.Response, error) {
	if resp, err := n.handlePartition(ctx, req); resp != nil || err != nil {
		return resp, err
	}
	switch op := req.GetOp().(type) {
	case *odgmv1.Request_Get:
		r := op.Get
		if r == nil {
			return nil, errUnset("get")
		}
		st, err := n.Get(ctx, r.Class, r.Id, callOptions("", r.Stale, r.Names)...)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_Get{Get: &odgmv1.GetResponse{State: wire.StateToProto(st)}}}, nil
	case *odgmv1.Request_Put:
		r := op.Put
		if r == nil {
			return nil, errUnset("put")
		}
		entries, err := wire.EntriesFromProto(r.Entries)
		if err != nil {
			return nil, err
		}
		v, err := n.Put(ctx, r.Class, r.Id, entries, callOptions(r.RequestId, false, nil)...)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_Put{Put: &odgmv1.PutResponse{Version: v}}}, nil
	case *odgmv1.Request_Delete:
		r := op.Delete
		if r == nil {
			return nil, errUnset("delete")
		}
		v, err := n.Delete(ctx, r.Class, r.Id, r.Names, callOptions(r.RequestId, false, nil)...)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_Delete{Delete: &odgmv1.DeleteResponse{Version: v}}}, nil
	case *odgmv1.Request_DeleteObject:
		r := op.DeleteObject
		if r == nil {
			return nil, errUnset("delete_object")
		}
		if err := n.DeleteObject(ctx, r.Class, r.Id, callOptions(r.RequestId, false, nil)...); err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_DeleteObject{DeleteObject: &odgmv1.DeleteObjectResponse{}}}, nil
	case *odgmv1.Request_CompareAndSwap:
		r := op.CompareAndSwap
		if r == nil {
			return nil, errUnset("compare_and_swap")
		}
		puts, err := wire.EntriesFromProto(r.Puts)
		if err != nil {
			return nil, err
		}
		v, err := n.CompareAndSwap(ctx, r.Class, r.Id, r.ExpectedVersion, puts, r.Deletes, callOptions(r.RequestId, false, nil)...)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_CompareAndSwap{CompareAndSwap: &odgmv1.CompareAndSwapResponse{Version: v}}}, nil
	case *odgmv1.Request_List:
		if op.List == nil {
			return nil, errUnset("list")
		}
		class, q := wire.ListOptionsFromProto(op.List)
		p, err := n.List(ctx, class, q)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_List{List: wire.PageToProto(p)}}, nil
	case *odgmv1.Request_QueryIndex:
		if op.QueryIndex == nil {
			return nil, errUnset("query_index")
		}
		class, q := wire.IndexQueryFromProto(op.QueryIndex)
		p, err := n.QueryIndex(ctx, class, q)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_QueryIndex{QueryIndex: wire.IndexPageToProto(p)}}, nil
	case *odgmv1.Request_Invoke:
		r := op.Invoke
		if r == nil {
			return nil, errUnset("invoke")
		}
		out, err := n.Invoke(ctx, r.Class, r.Id, r.Method, r.Payload, callOptions(r.RequestId, r.Stale, nil)...)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_Invoke{Invoke: &odgmv1.InvokeResponse{Payload: out}}}, nil
	case *odgmv1.Request_InvokeStateless:
		r := op.InvokeStateless
		if r == nil {
			return nil, errUnset("invoke_stateless")
		}
		out, err := n.InvokeStateless(ctx, r.Class, r.Method, r.Payload)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_InvokeStateless{InvokeStateless: &odgmv1.InvokeStatelessResponse{Payload: out}}}, nil
	case *odgmv1.Request_CreateClass:
		if op.CreateClass.GetClass() == nil {
			return nil, errUnset("create_class.class")
		}
		if err := n.CreateClass(ctx, op.CreateClass.Class); err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_CreateClass{CreateClass: &odgmv1.CreateClassResponse{}}}, nil
	case *odgmv1.Request_ListClasses:
		if op.ListClasses == nil {
			return nil, errUnset("list_classes")
		}
		cs, err := n.ListClasses(ctx)
		if err != nil {
			return nil, err
		}
		return &odgmv1.Response{Result: &odgmv1.Response_ListClasses{ListClasses: &odgmv1.ListClassesResponse{Classes: cs}}}, nil
	case *odgmv1.Request_Status:
		if op.Status == nil {
			return nil, errUnset("status")
		}
		st, err := n.Status(ctx)
		if err != nil {
			return nil, err
		}
		if st == nil {
			st = &odgmv1.ClusterStatus{}
		}
		return &odgmv1.Response{Result: &odgmv1.Response_Status{Status: &odgmv1.StatusResponse{Status: st}}}, nil
	}
	return nil, errUnset("an operation")
}
