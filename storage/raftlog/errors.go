package raftlog

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt marks damage found in stored log data: a record whose
	// checksum or framing is wrong anywhere but in the torn tail of the
	// newest segment. Returned by Open (append_log) and by reads. Test with
	// errors.Is; errors.As with *CorruptError gives the file and offset.
	ErrCorrupt = errors.New("raftlog: corrupt log")
	// ErrClosed is returned by every method of a closed Store or LogDB.
	ErrClosed = errors.New("raftlog: store closed")
	// ErrFull is returned by memory_log when a Commit would leave a shard
	// holding more than MaxEntries entries; nothing of the batch is applied.
	ErrFull = errors.New("raftlog: max_entries reached")
	// ErrGap is returned by Log.Append when the first entry would leave a
	// hole after the last index, and by Log.Truncate below the first index.
	ErrGap = errors.New("raftlog: entries not contiguous with the log")
	// ErrUnknownBackend is returned by Open and NewFactory for a backend
	// name they do not serve.
	ErrUnknownBackend = errors.New("raftlog: unknown backend")
)

// CorruptError says where corruption was found. It matches ErrCorrupt.
type CorruptError struct {
	File   string // path of the damaged file
	Offset int64  // byte offset of the first damaged record; -1 if unknown
	Reason string // what was wrong
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("raftlog: corrupt log: %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is reports ErrCorrupt as its sentinel.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
