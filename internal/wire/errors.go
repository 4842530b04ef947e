package wire

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/odgm-go/odgm"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// sentinels pairs each code with its odgm error, in the order in which
// ErrorToProto picks the primary code.
var sentinels = []struct {
	code odgmv1.ErrorCode
	err  error
}{
	{odgmv1.ErrorCode_ERROR_CODE_NOT_FOUND, odgm.ErrNotFound},
	{odgmv1.ErrorCode_ERROR_CODE_VERSION_MISMATCH, odgm.ErrVersionMismatch},
	{odgmv1.ErrorCode_ERROR_CODE_INVALID_ID, odgm.ErrInvalidID},
	{odgmv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, odgm.ErrInvalidArgument},
	{odgmv1.ErrorCode_ERROR_CODE_UNKNOWN_CLASS, odgm.ErrUnknownClass},
	{odgmv1.ErrorCode_ERROR_CODE_CLASS_EXISTS, odgm.ErrClassExists},
	{odgmv1.ErrorCode_ERROR_CODE_UNKNOWN_METHOD, odgm.ErrUnknownMethod},
	{odgmv1.ErrorCode_ERROR_CODE_TOO_LARGE, odgm.ErrTooLarge},
	{odgmv1.ErrorCode_ERROR_CODE_TIMEOUT, odgm.ErrTimeout},
	{odgmv1.ErrorCode_ERROR_CODE_CANCELED, odgm.ErrCanceled},
	{odgmv1.ErrorCode_ERROR_CODE_UNAVAILABLE, odgm.ErrUnavailable},
	{odgmv1.ErrorCode_ERROR_CODE_CLOSED, odgm.ErrClosed},
}

func sentinel(c odgmv1.ErrorCode) error {
	for _, s := range sentinels {
		if s.code == c {
			return s.err
		}
	}
	return nil
}

// ErrorToProto classifies err for the wire (nil for nil); see the package
// documentation.
func ErrorToProto(err error) *odgmv1.Error {
	if err == nil {
		return nil
	}
	var matched []odgmv1.ErrorCode
	add := func(c odgmv1.ErrorCode) {
		for _, m := range matched {
			if m == c {
				return
			}
		}
		matched = append(matched, c)
	}
	e := &odgmv1.Error{Message: err.Error()}
	var me *odgm.MethodError
	if errors.As(err, &me) {
		add(odgmv1.ErrorCode_ERROR_CODE_METHOD_ERROR)
		e.Method = &odgmv1.MethodFailure{Class: me.Class, Id: me.ID, Method: me.Method, Panic: me.Panic, Message: me.Message}
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			add(s.code)
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		add(odgmv1.ErrorCode_ERROR_CODE_TIMEOUT)
	case errors.Is(err, context.Canceled):
		add(odgmv1.ErrorCode_ERROR_CODE_CANCELED)
	}
	if len(matched) == 0 {
		e.Code = odgmv1.ErrorCode_ERROR_CODE_INTERNAL
		return e
	}
	e.Code, e.Also = matched[0], matched[1:]
	if len(e.Also) == 0 {
		e.Also = nil
	}
	return e
}

// ErrorFromProto rebuilds the error an Error describes (nil for nil); see
// the package documentation.
func ErrorFromProto(e *odgmv1.Error) error {
	if e == nil {
		return nil
	}
	return newRemoteError(e, nil)
}

// remoteError is an error that crossed the wire: its text, and the errors
// it matches.
type remoteError struct {
	msg  string
	errs []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.errs }

// newRemoteError builds the error of e; cause, if not nil, is kept in the
// chain too (the gRPC status error it came in).
func newRemoteError(e *odgmv1.Error, cause error) error {
	r := &remoteError{msg: e.GetMessage()}
	if m := e.GetMethod(); m != nil || e.GetCode() == odgmv1.ErrorCode_ERROR_CODE_METHOD_ERROR {
		r.errs = append(r.errs, &odgm.MethodError{Class: m.GetClass(), ID: m.GetId(), Method: m.GetMethod(),
			Panic: m.GetPanic(), Message: m.GetMessage()})
	}
	for _, c := range append([]odgmv1.ErrorCode{e.GetCode()}, e.GetAlso()...) {
		if s := sentinel(c); s != nil {
			r.errs = append(r.errs, s)
		}
	}
	if r.msg == "" {
		r.msg = "odgm: " + e.GetCode().String()
		if len(r.errs) > 0 {
			r.msg = r.errs[0].Error()
		}
	}
	if cause != nil {
		r.errs = append(r.errs, cause)
	}
	return r
}

// grpcCodes is the gRPC code of each ErrorCode, as api.proto documents.
var grpcCodes = map[odgmv1.ErrorCode]codes.Code{
	odgmv1.ErrorCode_ERROR_CODE_UNSPECIFIED:      codes.Unknown,
	odgmv1.ErrorCode_ERROR_CODE_NOT_FOUND:        codes.NotFound,
	odgmv1.ErrorCode_ERROR_CODE_VERSION_MISMATCH: codes.Aborted,
	odgmv1.ErrorCode_ERROR_CODE_INVALID_ID:       codes.InvalidArgument,
	odgmv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT: codes.InvalidArgument,
	odgmv1.ErrorCode_ERROR_CODE_UNKNOWN_CLASS:    codes.NotFound,
	odgmv1.ErrorCode_ERROR_CODE_CLASS_EXISTS:     codes.AlreadyExists,
	odgmv1.ErrorCode_ERROR_CODE_UNKNOWN_METHOD:   codes.Unimplemented,
	odgmv1.ErrorCode_ERROR_CODE_TOO_LARGE:        codes.ResourceExhausted,
	odgmv1.ErrorCode_ERROR_CODE_TIMEOUT:          codes.DeadlineExceeded,
	odgmv1.ErrorCode_ERROR_CODE_CANCELED:         codes.Canceled,
	odgmv1.ErrorCode_ERROR_CODE_UNAVAILABLE:      codes.Unavailable,
	odgmv1.ErrorCode_ERROR_CODE_CLOSED:           codes.Unavailable,
	odgmv1.ErrorCode_ERROR_CODE_METHOD_ERROR:     codes.FailedPrecondition,
	odgmv1.ErrorCode_ERROR_CODE_INTERNAL:         codes.Internal,
}

// GRPCCode is the gRPC code of an ErrorCode (Unknown for values this
// version does not know).
func GRPCCode(c odgmv1.ErrorCode) codes.Code {
	if g, ok := grpcCodes[c]; ok {
		return g
	}
	return codes.Unknown
}

// GRPCStatus is the gRPC status of e: GRPCCode(e.Code), e's message, and e
// as a detail. nil is an OK status.
func GRPCStatus(e *odgmv1.Error) *status.Status {
	if e == nil {
		return status.New(codes.OK, "")
	}
	st := status.New(GRPCCode(e.GetCode()), e.GetMessage())
	if d, err := st.WithDetails(e); err == nil {
		return d
	}
	return st
}

// FromGRPCError turns an error of a gRPC call into an odgm error (nil for
// nil). A status carrying an Error detail gives ErrorFromProto's error; a
// status without one is mapped by its code: DeadlineExceeded →
// odgm.ErrTimeout, Canceled → odgm.ErrCanceled, Unavailable →
// odgm.ErrUnavailable, ResourceExhausted → odgm.ErrTooLarge (gRPC's own
// message size limit), anything else → an error that matches no odgm
// sentinel. The original error stays in the chain (status.Code still
// reads it).
func FromGRPCError(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		if ce := odgm.FromContext(err); ce != err {
			return &remoteError{msg: ce.Error() + ": " + err.Error(), errs: []error{ce, err}}
		}
		return &remoteError{msg: "odgm: internal: " + err.Error(), errs: []error{err}}
	}
	for _, d := range st.Details() {
		if e, ok := d.(*odgmv1.Error); ok {
			return newRemoteError(e, err)
		}
	}
	var s error
	switch st.Code() {
	case codes.OK:
		return nil
	case codes.DeadlineExceeded:
		s = odgm.ErrTimeout
	case codes.Canceled:
		s = odgm.ErrCanceled
	case codes.Unavailable:
		s = odgm.ErrUnavailable
	case codes.ResourceExhausted:
		s = odgm.ErrTooLarge
	default:
		return &remoteError{msg: "odgm: internal: " + st.Code().String() + ": " + st.Message(), errs: []error{err}}
	}
	return &remoteError{msg: s.Error() + ": " + st.Message(), errs: []error{s, err}}
}
