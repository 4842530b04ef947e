package snapshot

import (
	"errors"
	"fmt"
)

// Sentinel errors. Wrapped with context; test with errors.Is.
var (
	// ErrCorrupt is returned by NewReader, Reader.Next, Store.Open,
	// Store.Verify and Store.Import when a stream or stored snapshot fails
	// a check: bad magic, a checksum mismatch, a length out of bounds, a
	// truncation, undecodable compressed data, a trailer that does not
	// match the records, or data after the trailer. The wrapping message
	// says what failed and at which byte offset.
	ErrCorrupt = errors.New("snapshot: corrupt")
	// ErrUnsupportedVersion is returned by NewReader for a well-formed
	// stream of a format version this package does not read.
	ErrUnsupportedVersion = errors.New("snapshot: unsupported format version")
	// ErrNotFound is returned by Store.Latest, Open, Verify and Delete when
	// no snapshot matches.
	ErrNotFound = errors.New("snapshot: not found")
	// ErrExists is returned by Creation.Commit and Store.Import when a
	// snapshot with the same ID (shard, index, term, created) is stored.
	ErrExists = errors.New("snapshot: already exists")
	// ErrClosed is returned by every Store method after Store.Close, by
	// Writer.Write after Close, and by Creation methods after Commit.
	ErrClosed = errors.New("snapshot: closed")
	// ErrAborted is returned by Creation.Write and Commit after Abort, or
	// after the context given to Store.Create was cancelled.
	ErrAborted = errors.New("snapshot: aborted")
	// ErrTooLarge is returned by Writer.Write for a key longer than MaxKeySize
	// or a value longer than MaxValueSize.
	ErrTooLarge = errors.New("snapshot: record too large")
	// ErrInvalid is returned for arguments that can never work: an unknown
	// backend or codec, a malformed ID.
	ErrInvalid = errors.New("snapshot: invalid argument")
)

// corruptf returns an error wrapping ErrCorrupt with a formatted context.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
