package odgm

import (
	"context"
	"errors"
	"fmt"
)

// Errors returned by the runtime's object API (and later by the remote
// client and the gRPC service). Each method's doc says which it returns;
// errors wrap them with context, so test with errors.Is.
var (
	// ErrNotFound: the object does not exist (Get), or nothing matched.
	ErrNotFound = errors.New("odgm: not found")
	// ErrVersionMismatch: a conditional write (CompareAndSwap, or an
	// invocation whose retries ran out) found another version; nothing was
	// written.
	ErrVersionMismatch = errors.New("odgm: version mismatch")
	// ErrInvalidID: the object id is empty, too long, or holds a byte
	// outside [a-z0-9._:-] after ASCII upper case is folded.
	ErrInvalidID = errors.New("odgm: invalid object id")
	// ErrInvalidArgument: an entry name, class name, index or option is not
	// valid.
	ErrInvalidArgument = errors.New("odgm: invalid argument")
	// ErrUnknownClass: no class of that name is registered on the node.
	ErrUnknownClass = errors.New("odgm: unknown class")
	// ErrClassExists: RegisterClass of a name already registered.
	ErrClassExists = errors.New("odgm: class already registered")
	// ErrUnknownMethod: the class has no method of that name.
	ErrUnknownMethod = errors.New("odgm: unknown method")
	// ErrTooLarge: an id, entry name, value or batch is over its limit.
	ErrTooLarge = errors.New("odgm: too large")
	// ErrTimeout: the call's deadline passed. It also matches
	// context.DeadlineExceeded. A write that timed out may or may not have
	// been applied: retry it with the same request id.
	ErrTimeout = &ctxError{msg: "odgm: timeout", ctxErr: context.DeadlineExceeded}
	// ErrCanceled: the call's context was cancelled. It also matches
	// context.Canceled.
	ErrCanceled = &ctxError{msg: "odgm: canceled", ctxErr: context.Canceled}
	// ErrUnavailable: the shard cannot serve now (no leader, not hosted on
	// this node, stopping). Retrying later may succeed.
	ErrUnavailable = errors.New("odgm: unavailable")
	// ErrClosed: the node is stopped.
	ErrClosed = errors.New("odgm: node closed")
)

type ctxError struct {
	msg    string
	ctxErr error
}

func (e *ctxError) Error() string        { return e.msg }
func (e *ctxError) Is(target error) bool { return target == e.ctxErr }

// FromContext maps a context error to ErrTimeout or ErrCanceled (nil for
// nil, err itself for other errors).
func FromContext(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	}
	return err
}

// MethodError is a method's own failure, carried back to the caller: the
// error it returned, or the value it panicked with. Nothing the method
// wrote was applied. Err is the method's error as returned (for a remote
// caller, nil: only Message crosses the wire).
type MethodError struct {
	Class, ID, Method string
	// Err is the error the method returned; nil after a panic.
	Err error
	// Panic is true if the method panicked; Message holds the value.
	Panic   bool
	Message string
}

func (e *MethodError) Error() string {
	where := e.Class + "." + e.Method
	if e.ID != "" {
		where = fmt.Sprintf("%s(%s).%s", e.Class, e.ID, e.Method)
	}
	if e.Panic {
		return "odgm: method " + where + " panicked: " + e.Message
	}
	return "odgm: method " + where + ": " + e.Message
}

// Unwrap returns the method's error, so errors.Is sees through to it.
func (e *MethodError) Unwrap() error { return e.Err }
