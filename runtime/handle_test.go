package runtime_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/odgm-go/odgm/internal/apitest"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// TestHandleRefusesEmptyRequests: a request without an operation, or with
// an unset one, is INVALID_ARGUMENT, never a panic.
func TestHandleRefusesEmptyRequests(t *testing.T) {
	n := apitest.StartNode(t, nil)
	ctx := ctxT(t)
	for _, req := range []*odgmv1.Request{
		nil,
		{},
		{Op: &odgmv1.Request_Get{}},
		{Op: &odgmv1.Request_Put{}},
		{Op: &odgmv1.Request_Delete{}},
		{Op: &odgmv1.Request_DeleteObject{}},
		{Op: &odgmv1.Request_CompareAndSwap{}},
		{Op: &odgmv1.Request_List{}},
		{Op: &odgmv1.Request_QueryIndex{}},
		{Op: &odgmv1.Request_Invoke{}},
		{Op: &odgmv1.Request_InvokeStateless{}},
		{Op: &odgmv1.Request_CreateClass{}},
		{Op: &odgmv1.Request_CreateClass{CreateClass: &odgmv1.CreateClassRequest{}}},
		{Op: &odgmv1.Request_ListClasses{}},
		{Op: &odgmv1.Request_Status{}},
		{Op: &odgmv1.Request_Put{Put: &odgmv1.PutRequest{Class: "doc", Id: "a", Entries: []*odgmv1.Entry{nil}}}},
		{Op: &odgmv1.Request_Put{Put: &odgmv1.PutRequest{Class: "doc", Id: "a", Entries: []*odgmv1.Entry{{Name: "a"}, {Name: "a"}}}}},
	} {
		resp := n.Handle(ctx, req)
		if got := resp.GetError().GetCode(); got != odgmv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
			t.Errorf("%v: %v", req, resp)
		}
	}
}

// TestHandleOperations: each operation's result lands in its own field.
func TestHandleOperations(t *testing.T) {
	n := apitest.StartNode(t, nil)
	ctx := ctxT(t)
	put := n.Handle(ctx, &odgmv1.Request{Op: &odgmv1.Request_Put{Put: &odgmv1.PutRequest{Class: "doc", Id: "h",
		Entries: []*odgmv1.Entry{{Name: "owner", Value: []byte("alice")}}, RequestId: "h-1"}}})
	if put.GetPut().GetVersion() != 1 {
		t.Fatalf("put: %v", put)
	}
	get := n.Handle(ctx, &odgmv1.Request{TimeoutMs: 5000, Op: &odgmv1.Request_Get{Get: &odgmv1.GetRequest{Class: "doc", Id: "h"}}})
	if st := get.GetGet().GetState(); st.GetVersion() != 1 || len(st.GetEntries()) != 1 || st.GetCreatedAt() == nil {
		t.Fatalf("get: %v", get)
	}
	q := n.Handle(ctx, &odgmv1.Request{Op: &odgmv1.Request_QueryIndex{QueryIndex: &odgmv1.QueryIndexRequest{Class: "doc", Index: "by_owner",
		Query: &odgmv1.IndexQuery{Equal: []byte("alice")}}}})
	if items := q.GetQueryIndex().GetItems(); len(items) != 1 || items[0].GetId() != "h" {
		t.Fatalf("query: %v", q)
	}
	inv := n.Handle(ctx, &odgmv1.Request{Op: &odgmv1.Request_Invoke{Invoke: &odgmv1.InvokeRequest{Class: "counter", Id: "h", Method: "boom"}}})
	if e := inv.GetError(); e.GetCode() != odgmv1.ErrorCode_ERROR_CODE_METHOD_ERROR || !e.GetMethod().GetPanic() {
		t.Fatalf("invoke boom: %v", inv)
	}
	cas := n.Handle(ctx, &odgmv1.Request{Op: &odgmv1.Request_CompareAndSwap{CompareAndSwap: &odgmv1.CompareAndSwapRequest{Class: "doc", Id: "h", ExpectedVersion: 5}}})
	if cas.GetError().GetCode() != odgmv1.ErrorCode_ERROR_CODE_VERSION_MISMATCH {
		t.Fatalf("cas: %v", cas)
	}
	// The request's timeout bounds the call: 1 ms is too short for a
	// linearizable read on a busy path, or not; either way the answer is
	// a result or TIMEOUT, never anything else.
	r := n.Handle(ctx, &odgmv1.Request{TimeoutMs: 1, Op: &odgmv1.Request_Invoke{Invoke: &odgmv1.InvokeRequest{Class: "counter", Id: "t", Method: "incr"}}})
	if r.GetInvoke() == nil && r.GetError().GetCode() != odgmv1.ErrorCode_ERROR_CODE_TIMEOUT {
		t.Fatalf("1 ms: %v", r)
	}
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if r := n.Handle(expired, &odgmv1.Request{TimeoutMs: 1 << 62, Op: &odgmv1.Request_Get{Get: &odgmv1.GetRequest{Class: "doc", Id: "h"}}}); r.GetError().GetCode() != odgmv1.ErrorCode_ERROR_CODE_TIMEOUT {
		t.Fatalf("expired: %v", r)
	}
}

// FuzzHandle: any request a peer can encode gets an answer: a result or
// an Error with a code, never a panic.
func FuzzHandle(f *testing.F) {
	for _, req := range []*odgmv1.Request{
		{Op: &odgmv1.Request_Get{Get: &odgmv1.GetRequest{Class: "doc", Id: "a", Names: []string{"x"}}}},
		{Op: &odgmv1.Request_Put{Put: &odgmv1.PutRequest{Class: "doc", Id: "a", Entries: []*odgmv1.Entry{{Name: "owner", Value: []byte("bob")}}}}},
		{Op: &odgmv1.Request_CompareAndSwap{CompareAndSwap: &odgmv1.CompareAndSwapRequest{Class: "doc", Id: "a", Deletes: []string{"owner"}}}},
		{Op: &odgmv1.Request_List{List: &odgmv1.ListRequest{Class: "item", Limit: 3}}},
		{Op: &odgmv1.Request_QueryIndex{QueryIndex: &odgmv1.QueryIndexRequest{Class: "doc", Index: "by_owner", Query: &odgmv1.IndexQuery{Prefix: []byte("b")}}}},
		{Op: &odgmv1.Request_Invoke{Invoke: &odgmv1.InvokeRequest{Class: "counter", Id: "c", Method: "incr"}}},
		{Op: &odgmv1.Request_InvokeStateless{InvokeStateless: &odgmv1.InvokeStatelessRequest{Class: "util", Method: "echo"}}},
		{Op: &odgmv1.Request_Status{Status: &odgmv1.StatusRequest{}}},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	n := apitest.StartNode(f, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		var req odgmv1.Request
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp := n.Handle(ctx, &req)
		if resp == nil || resp.Result == nil {
			t.Fatalf("%v: no answer", &req)
		}
		if e, ok := resp.Result.(*odgmv1.Response_Error); ok && (e.Error == nil || e.Error.Code == odgmv1.ErrorCode_ERROR_CODE_UNSPECIFIED) {
			t.Fatalf("%v: error without a code: %v", &req, resp)
		}
	})
}
