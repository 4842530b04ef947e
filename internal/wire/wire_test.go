package wire_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/wire"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// viaBytes marshals and unmarshals m, as the wire does.
func viaBytes[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStateRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, s := range []*odgm.State{
		{ID: "a", Version: 1, Entries: map[string][]byte{}},
		{ID: "b", Version: 7, CreatedAt: now, UpdatedAt: now.Add(time.Second),
			Entries: map[string][]byte{"z": []byte("1"), "a": []byte("2"), "m": []byte{0, 255}}},
	} {
		p := wire.StateToProto(s)
		for i := 1; i < len(p.Entries); i++ {
			if p.Entries[i-1].Name >= p.Entries[i].Name {
				t.Fatalf("entries not sorted: %v", p.Entries)
			}
		}
		got, err := wire.StateFromProto(viaBytes(t, p))
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(s.CreatedAt) || !got.UpdatedAt.Equal(s.UpdatedAt) {
			t.Fatalf("times %v %v", got.CreatedAt, got.UpdatedAt)
		}
		got.CreatedAt, got.UpdatedAt = s.CreatedAt, s.UpdatedAt
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip: %+v, want %+v", got, s)
		}
	}
	if wire.StateToProto(nil) != nil {
		t.Fatal("nil state")
	}
	if _, err := wire.StateFromProto(nil); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("nil proto state: %v", err)
	}
	for _, es := range [][]*odgmv1.Entry{{nil}, {{Name: "a"}, {Name: "a"}}} {
		if _, err := wire.EntriesFromProto(es); !errors.Is(err, odgm.ErrInvalidArgument) {
			t.Fatalf("%v: %v", es, err)
		}
	}
}

func TestPagesAndQueriesRoundTrip(t *testing.T) {
	lo := odgm.ListOptions{Prefix: "k", Limit: 7, Cursor: "k003", Stale: true}
	class, got := wire.ListOptionsFromProto(viaBytes(t, wire.ListRequest("item", lo)))
	if class != "item" || got != lo {
		t.Fatalf("list options %q %+v", class, got)
	}
	if _, got := wire.ListOptionsFromProto(wire.ListRequest("c", odgm.ListOptions{Limit: -3})); got.Limit != 0 {
		t.Fatalf("negative limit: %d", got.Limit)
	}
	if wire.LimitToProto(1<<40) != 1<<32-1 {
		t.Fatal("limit not clamped")
	}
	page := &odgm.Page{IDs: []string{"a", "b"}, Next: "b"}
	if got := wire.PageFromProto(viaBytes(t, wire.PageToProto(page))); !reflect.DeepEqual(got, page) {
		t.Fatalf("page %+v", got)
	}
	for _, q := range []odgm.Query{
		{},
		odgm.QueryEqual([]byte("alice")),
		odgm.QueryEqual([]byte{}), // set though empty
		odgm.QueryRange([]byte("a"), nil),
		odgm.QueryRange(nil, []byte("z")),
		odgm.QueryPrefix([]byte("al")),
	} {
		iq := odgm.IndexQuery{Index: "by_owner", Query: q, Limit: 3, Cursor: "1:00", Stale: true}
		class, got := wire.IndexQueryFromProto(viaBytes(t, wire.QueryIndexRequest("doc", iq)))
		if class != "doc" || !reflect.DeepEqual(got, iq) {
			t.Fatalf("index query %+v, want %+v", got, iq)
		}
		if (q.Equal == nil) != (got.Query.Equal == nil) {
			t.Fatalf("presence of equal lost: %+v", got.Query)
		}
	}
	if got := wire.QueryFromProto(nil); !reflect.DeepEqual(got, odgm.Query{}) {
		t.Fatalf("nil query %+v", got)
	}
	ip := &odgm.IndexPage{Items: []odgm.IndexItem{{ID: "d1", Entry: "owner", Value: []byte("alice")}}, Next: "0:ab"}
	got2, err := wire.IndexPageFromProto(viaBytes(t, wire.IndexPageToProto(ip)))
	if err != nil || !reflect.DeepEqual(got2, ip) {
		t.Fatalf("index page %+v %v", got2, err)
	}
	if p, err := wire.IndexPageFromProto(nil); err != nil || p == nil || len(p.Items) != 0 {
		t.Fatalf("nil index page %+v %v", p, err)
	}
	if _, err := wire.IndexPageFromProto(&odgmv1.QueryIndexResponse{Items: []*odgmv1.IndexItem{nil}}); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("nil item: %v", err)
	}
}

var errMine = errors.New("mine")

// errorCases are errors as the runtime returns them, with the code and the
// sentinels they must still match after crossing the wire.
var errorCases = []struct {
	name string
	err  error
	code odgmv1.ErrorCode
	grpc codes.Code
	is   []error
}{
	{"not found", fmt.Errorf("%w: object doc/d", odgm.ErrNotFound), odgmv1.ErrorCode_ERROR_CODE_NOT_FOUND, codes.NotFound, []error{odgm.ErrNotFound}},
	{"version", fmt.Errorf("%w: version 3", odgm.ErrVersionMismatch), odgmv1.ErrorCode_ERROR_CODE_VERSION_MISMATCH, codes.Aborted, []error{odgm.ErrVersionMismatch}},
	{"invalid id", fmt.Errorf("%w: bad", odgm.ErrInvalidID), odgmv1.ErrorCode_ERROR_CODE_INVALID_ID, codes.InvalidArgument, []error{odgm.ErrInvalidID}},
	{"long id", fmt.Errorf("%w: %w: id of 161 bytes", odgm.ErrInvalidID, odgm.ErrTooLarge), odgmv1.ErrorCode_ERROR_CODE_INVALID_ID, codes.InvalidArgument, []error{odgm.ErrInvalidID, odgm.ErrTooLarge}},
	{"invalid argument", odgm.ErrInvalidArgument, odgmv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, codes.InvalidArgument, []error{odgm.ErrInvalidArgument}},
	{"unknown class", fmt.Errorf("%w: \"x\"", odgm.ErrUnknownClass), odgmv1.ErrorCode_ERROR_CODE_UNKNOWN_CLASS, codes.NotFound, []error{odgm.ErrUnknownClass}},
	{"class exists", odgm.ErrClassExists, odgmv1.ErrorCode_ERROR_CODE_CLASS_EXISTS, codes.AlreadyExists, []error{odgm.ErrClassExists}},
	{"unknown method", odgm.ErrUnknownMethod, odgmv1.ErrorCode_ERROR_CODE_UNKNOWN_METHOD, codes.Unimplemented, []error{odgm.ErrUnknownMethod}},
	{"too large", odgm.ErrTooLarge, odgmv1.ErrorCode_ERROR_CODE_TOO_LARGE, codes.ResourceExhausted, []error{odgm.ErrTooLarge}},
	{"timeout", fmt.Errorf("%w: object a", odgm.ErrTimeout), odgmv1.ErrorCode_ERROR_CODE_TIMEOUT, codes.DeadlineExceeded, []error{odgm.ErrTimeout, context.DeadlineExceeded}},
	{"raw deadline", context.DeadlineExceeded, odgmv1.ErrorCode_ERROR_CODE_TIMEOUT, codes.DeadlineExceeded, []error{odgm.ErrTimeout, context.DeadlineExceeded}},
	{"canceled", odgm.ErrCanceled, odgmv1.ErrorCode_ERROR_CODE_CANCELED, codes.Canceled, []error{odgm.ErrCanceled, context.Canceled}},
	{"raw canceled", fmt.Errorf("x: %w", context.Canceled), odgmv1.ErrorCode_ERROR_CODE_CANCELED, codes.Canceled, []error{odgm.ErrCanceled, context.Canceled}},
	{"unavailable", fmt.Errorf("%w: %w", odgm.ErrUnavailable, errMine), odgmv1.ErrorCode_ERROR_CODE_UNAVAILABLE, codes.Unavailable, []error{odgm.ErrUnavailable}},
	{"closed", odgm.ErrClosed, odgmv1.ErrorCode_ERROR_CODE_CLOSED, codes.Unavailable, []error{odgm.ErrClosed}},
	{"method error", &odgm.MethodError{Class: "c", ID: "a", Method: "fail", Err: errMine, Message: "mine"}, odgmv1.ErrorCode_ERROR_CODE_METHOD_ERROR, codes.FailedPrecondition, nil},
	{"method panic", fmt.Errorf("wrapped: %w", &odgm.MethodError{Class: "c", Method: "boom", Panic: true, Message: "boom"}), odgmv1.ErrorCode_ERROR_CODE_METHOD_ERROR, codes.FailedPrecondition, nil},
	{"method not found", &odgm.MethodError{Class: "c", ID: "a", Method: "m", Err: odgm.ErrNotFound, Message: "nf"}, odgmv1.ErrorCode_ERROR_CODE_METHOD_ERROR, codes.FailedPrecondition, []error{odgm.ErrNotFound}},
	{"unknown", errMine, odgmv1.ErrorCode_ERROR_CODE_INTERNAL, codes.Internal, nil},
}

func checkTyped(t *testing.T, name string, orig, got error, is []error, code odgmv1.ErrorCode) {
	t.Helper()
	if got.Error() != orig.Error() {
		t.Errorf("%s: message %q, want %q", name, got.Error(), orig.Error())
	}
	for _, w := range is {
		if !errors.Is(got, w) {
			t.Errorf("%s: %v is not %v", name, got, w)
		}
	}
	var want, me *odgm.MethodError
	if errors.As(orig, &want) != errors.As(got, &me) {
		t.Fatalf("%s: method error lost or invented: %#v", name, got)
	}
	if want != nil && (me.Class != want.Class || me.ID != want.ID || me.Method != want.Method || me.Panic != want.Panic || me.Message != want.Message || me.Err != nil) {
		t.Errorf("%s: method error %+v, want %+v", name, me, want)
	}
	// Nothing beyond what was listed.
	for _, s := range []error{odgm.ErrNotFound, odgm.ErrVersionMismatch, odgm.ErrInvalidID, odgm.ErrInvalidArgument, odgm.ErrUnknownClass,
		odgm.ErrClassExists, odgm.ErrUnknownMethod, odgm.ErrTooLarge, odgm.ErrTimeout, odgm.ErrCanceled, odgm.ErrUnavailable, odgm.ErrClosed} {
		if errors.Is(got, s) && !errors.Is(orig, s) && !(s == odgm.ErrTimeout && errors.Is(orig, context.DeadlineExceeded)) &&
			!(s == odgm.ErrCanceled && errors.Is(orig, context.Canceled)) {
			t.Errorf("%s: %v matches %v", name, got, s)
		}
	}
}

func TestErrorRoundTrip(t *testing.T) {
	if wire.ErrorToProto(nil) != nil || wire.ErrorFromProto(nil) != nil {
		t.Fatal("nil error")
	}
	for _, c := range errorCases {
		e := wire.ErrorToProto(c.err)
		if e.Code != c.code {
			t.Errorf("%s: code %v, want %v", c.name, e.Code, c.code)
		}
		for _, a := range e.Also {
			if a == e.Code {
				t.Errorf("%s: code %v repeated in also", c.name, a)
			}
		}
		checkTyped(t, c.name, c.err, wire.ErrorFromProto(viaBytes(t, e)), c.is, c.code)
		if got := wire.GRPCCode(e.Code); got != c.grpc {
			t.Errorf("%s: grpc code %v, want %v", c.name, got, c.grpc)
		}
	}
	e := wire.ErrorToProto(fmt.Errorf("%w: %w", odgm.ErrInvalidID, odgm.ErrTooLarge))
	if len(e.Also) != 1 || e.Also[0] != odgmv1.ErrorCode_ERROR_CODE_TOO_LARGE {
		t.Fatalf("also %v", e.Also)
	}
	// A peer's error without message, and codes this version does not know.
	if err := wire.ErrorFromProto(&odgmv1.Error{Code: odgmv1.ErrorCode_ERROR_CODE_NOT_FOUND}); !errors.Is(err, odgm.ErrNotFound) || err.Error() == "" {
		t.Fatalf("bare code: %v", err)
	}
	if err := wire.ErrorFromProto(&odgmv1.Error{Code: 99, Message: "future"}); err == nil || err.Error() != "future" || errors.Is(err, odgm.ErrUnavailable) {
		t.Fatalf("unknown code: %v", err)
	}
	var me *odgm.MethodError
	if err := wire.ErrorFromProto(&odgmv1.Error{Code: odgmv1.ErrorCode_ERROR_CODE_METHOD_ERROR}); !errors.As(err, &me) {
		t.Fatalf("method error without failure: %v", err)
	}
}

func TestGRPCStatusRoundTrip(t *testing.T) {
	for _, c := range errorCases {
		st := wire.GRPCStatus(wire.ErrorToProto(c.err))
		if st.Code() != c.grpc || st.Message() != c.err.Error() {
			t.Errorf("%s: status %v %q", c.name, st.Code(), st.Message())
		}
		// Through the status's own proto, as a gRPC client receives it.
		got := wire.FromGRPCError(status.ErrorProto(viaBytes(t, st.Proto())))
		checkTyped(t, c.name, c.err, got, c.is, c.code)
		if status.Code(got) != c.grpc {
			t.Errorf("%s: status.Code of the converted error %v", c.name, status.Code(got))
		}
	}
	if wire.GRPCStatus(nil).Code() != codes.OK || wire.FromGRPCError(nil) != nil {
		t.Fatal("nil")
	}
}

func TestFromPlainGRPCError(t *testing.T) {
	for _, c := range []struct {
		err  error
		is   error
		none bool
	}{
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), odgm.ErrTimeout, false},
		{status.Error(codes.DeadlineExceeded, "x"), context.DeadlineExceeded, false},
		{status.Error(codes.Canceled, "x"), odgm.ErrCanceled, false},
		{status.Error(codes.Unavailable, "connection refused"), odgm.ErrUnavailable, false},
		{status.Error(codes.ResourceExhausted, "message larger than max"), odgm.ErrTooLarge, false},
		{status.Error(codes.Unimplemented, "unknown service"), nil, true},
		{status.Error(codes.Internal, "boom"), nil, true},
		{context.DeadlineExceeded, odgm.ErrTimeout, false},
		{errMine, errMine, true},
	} {
		got := wire.FromGRPCError(c.err)
		if got == nil || (c.is != nil && !errors.Is(got, c.is)) {
			t.Errorf("%v: %v is not %v", c.err, got, c.is)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("%v: original lost", c.err)
		}
		if c.none {
			for _, s := range []error{odgm.ErrNotFound, odgm.ErrUnavailable, odgm.ErrTimeout, odgm.ErrInvalidArgument} {
				if errors.Is(got, s) {
					t.Errorf("%v: matches %v", c.err, s)
				}
			}
		}
	}
}
