package appdata

import (
	"fmt"
	"os"
	"path/filepath"
)

// Item is one key and its value. Both slices belong to the caller.
type Item struct {
	Key   []byte
	Value []byte
}

// Stats describes a store's contents at one moment.
type Stats struct {
	// Keys is the number of live user keys (the reserved namespace is not
	// counted).
	Keys int64
	// Bytes is the total length of the live user keys and their values:
	// the figure Options.MaxSizeMB bounds. It ignores buntdb's per-item
	// overhead, so memory and file use are larger.
	Bytes int64
	// FileSize is the size of the data file in bytes (0 for memory); it
	// includes superseded records until buntdb shrinks the file.
	FileSize int64
	// Indexes is the number of secondary indexes.
	Indexes int
}

// Store is the application-data layer of one shard: an ordered map of
// binary keys to binary values with transactions and secondary indexes.
//
// Keys are non-empty byte strings outside the reserved namespace (see
// ReservedPrefix); values are any byte strings, the empty one included.
// Keys are ordered bytewise.
//
// Ownership: every slice a Store returns (values, keys, items, resume
// tokens) is a fresh copy that belongs to the caller. Slices passed in may be
// reused by the caller once the call returns.
//
// Concurrency: every method may be called from any goroutine, concurrently.
// Readers (View, Get, MultiGet, scans, QueryIndex, Stats) run in parallel
// with each other; writers (Update, Put, Delete, CompareAndSwap,
// CreateIndex, DropIndex, Sync) run one at a time and exclude readers while
// they run. A function given to View or Update must not call methods of the
// Store (it would deadlock): use the transaction it is given. A
// transaction must not be used after its function returns (ErrTxDone) nor
// shared between goroutines.
//
// Durability: when a write method returns nil, the change is visible to
// every later read. It is on disk when the sync policy is "always"; with
// "every_second" within about a second; with "never" when Sync returns, or
// when the operating system gets round to it. Close fsyncs. The memory
// backend is never durable. With "always", a write whose fsync fails returns
// an error although the change is applied in memory: treat the store as
// failed (as Raft must).
//
// Errors: each method lists the sentinels it may wrap (see errors.go); any
// method returns ErrClosed after Close. Anything else is an I/O error,
// wrapped with context.
type Store interface {
	// View runs fn in a read transaction: a consistent snapshot that no
	// writer changes while fn runs. View returns fn's error as is.
	View(fn func(ReadTx) error) error
	// Update runs fn in a write transaction, all or nothing. If fn returns
	// nil the changes are committed, unless they would pass
	// Options.MaxSizeMB (ErrStoreFull: nothing is written). If fn returns
	// an error, nothing is written and the error is returned as is. If fn
	// panics, nothing is written and the panic continues in the caller.
	Update(fn func(WriteTx) error) error

	// Get returns the value of key (ErrNotFound, ErrInvalidKey).
	Get(key []byte) ([]byte, error)
	// MultiGet returns the values of keys, read from one snapshot, in the
	// same order; the element of a missing key is nil (a present empty
	// value is a non-nil empty slice). ErrInvalidKey.
	MultiGet(keys [][]byte) ([][]byte, error)
	// ScanRange returns the items with start <= key < end in key order,
	// at most limit of them (limit <= 0: no limit). A nil end means to the
	// end of the keys. resume is the start to pass for the next page, nil
	// when there is none: pages are disjoint and, taken together, return
	// every key in the range.
	ScanRange(start, end []byte, limit int) (items []Item, resume []byte, err error)
	// ScanPrefix returns the items whose key starts with prefix, in key
	// order, at most limit of them (limit <= 0: no limit), starting from
	// resume (nil: from the first). resume is as for ScanRange; a resume
	// that does not start with prefix is ErrInvalidQuery.
	ScanPrefix(prefix []byte, limit int, resume []byte) (items []Item, next []byte, err error)
	// Put sets key to value (ErrInvalidKey, ErrStoreFull).
	Put(key, value []byte) error
	// Delete removes key and reports whether it existed (ErrInvalidKey).
	Delete(key []byte) (existed bool, err error)
	// CompareAndSwap atomically sets key to new if its current value is
	// expected. A nil expected means "key must be absent"; a nil new means
	// "delete key"; an empty non-nil slice is a present empty value. It
	// reports whether the swap happened; a mismatch is not an error.
	// ErrInvalidKey, ErrStoreFull.
	CompareAndSwap(key, expected, new []byte) (swapped bool, err error)

	// CreateIndex creates a secondary index and fills it from the present
	// data. It is persisted with the data: a durable store has it again
	// after reopening. Creating an index that exists with the same spec
	// does nothing; with a different spec it is ErrIndexConflict.
	// ErrInvalidIndex.
	CreateIndex(spec IndexSpec) error
	// DropIndex removes an index and its persisted spec (ErrUnknownIndex).
	DropIndex(name string) error
	// Indexes returns the specs of the present indexes, ordered by name.
	Indexes() ([]IndexSpec, error)
	// QueryIndex returns the items of the keys covered by index name whose
	// indexed value matches q, ordered by indexed value and then by key, at
	// most limit of them (limit <= 0: no limit), starting from resume (nil:
	// from the first). next is the resume token for the next page, nil when
	// there is none. Keys whose value does not parse for the index's type
	// never match (see the package doc). ErrUnknownIndex, ErrInvalidQuery.
	QueryIndex(name string, q Query, limit int, resume []byte) (items []Item, next []byte, err error)

	// Stats describes the store now.
	Stats() (Stats, error)
	// Sync forces every committed write to disk (a no-op for memory).
	Sync() error
	// Close fsyncs and releases the store. It waits for running
	// transactions. A second Close returns nil; every other method returns
	// ErrClosed after Close.
	Close() error
}

// ReadTx reads from the snapshot of a View or Update. Its methods behave as
// the Store methods of the same name.
type ReadTx interface {
	Get(key []byte) ([]byte, error)
	ScanRange(start, end []byte, limit int) (items []Item, resume []byte, err error)
	ScanPrefix(prefix []byte, limit int, resume []byte) (items []Item, next []byte, err error)
	QueryIndex(name string, q Query, limit int, resume []byte) (items []Item, next []byte, err error)
	// Ascend calls fn for each item with start <= key < end (nil end: to
	// the end) in key order until fn returns false or an error. It streams:
	// nothing is gathered in memory. The slices passed to fn are copies
	// that fn may keep.
	Ascend(start, end []byte, fn func(key, value []byte) (more bool, err error)) error
}

// WriteTx reads and writes inside an Update. Reads see the transaction's
// own writes. Its methods behave as the Store methods of the same name.
type WriteTx interface {
	ReadTx
	Put(key, value []byte) error
	Delete(key []byte) (existed bool, err error)
	CompareAndSwap(key, expected, new []byte) (swapped bool, err error)
	// DeleteRange removes every key with start <= key < end (nil end: to
	// the end) and returns how many it removed.
	DeleteRange(start, end []byte) (n int, err error)
	// DeletePrefix removes every key that starts with prefix (an empty
	// prefix: every key) and returns how many it removed.
	DeletePrefix(prefix []byte) (n int, err error)
}

// Open opens (creating it if needed) the store of the named backend.
//
// For BackendBuntDB, path is the data file; its directory is created if
// missing. For BackendMemory, path is ignored. opts is completed by
// EnsureDefaults and checked by Validate (ErrInvalidOptions, wrapping the
// problems). A data file that is not a buntdb file is ErrCorrupt; a torn
// last record (a crash in the middle of a write) is cut off. The indexes
// persisted in the file and those of opts.Indexes are created; one declared
// in opts that conflicts with a persisted one is ErrIndexConflict.
func Open(backend, path string, opts Options) (Store, error) {
	opts.Indexes = append([]IndexSpec(nil), opts.Indexes...)
	opts.EnsureDefaults()
	if err := opts.Validate(backend); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	switch backend {
	case BackendBuntDB:
		if path == "" {
			return nil, fmt.Errorf("%w: buntdb needs a path", ErrInvalidOptions)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("appdata: open %s: %w", path, err)
		}
		return openBunt(path, opts)
	case BackendMemory:
		return openBunt("", opts)
	default:
		return nil, fmt.Errorf("%w: backend %q is not one of %s, %s", ErrInvalidOptions, backend, BackendBuntDB, BackendMemory)
	}
}
