// Package wire converts between package odgm's object API (types and typed
// errors) and the odgm.v1 protobuf messages that carry it over protoactor
// remote and gRPC. It is shared by the node's side (runtime.Node.Handle and
// its gRPC service) and the clients (package client), so that both ends
// agree on one mapping.
//
// # Values
//
// Entries travel as a list sorted by name (deterministic bytes); converted
// back, duplicate names or nil entries are ErrInvalidArgument. Byte slices
// are not copied: a converted value shares its bytes with its source, so
// convert messages that nothing else will modify. An unset timestamp is the
// zero time.Time and back. A limit below zero or above MaxUint32 travels as
// zero (the default) or MaxUint32.
//
// # Errors
//
// ErrorToProto classifies an error with errors.Is against every odgm.Err*
// sentinel (and context.DeadlineExceeded / context.Canceled): the first
// match in the order of the ErrorCode values (a *odgm.MethodError first of
// all) is the code, further matches are listed in Error.also. An error that
// matches nothing is ERROR_CODE_INTERNAL with its text. ErrorFromProto
// rebuilds an error whose Error() is the original text and for which
// errors.Is holds for the code's sentinel and every also code's, and
// errors.As finds a *odgm.MethodError (its Err is nil: only the message
// crossed the wire). ERROR_CODE_INTERNAL and unknown codes match no
// sentinel.
//
// GRPCStatus gives the gRPC status of an Error (the code in the comment of
// each ErrorCode value, the Error attached as a detail); FromGRPCError reads
// it back, and maps a status without that detail (from gRPC itself: a
// deadline, a connection failure, a message over the size limit) by its
// code.
//
// Every function is safe for concurrent use.
package wire
