package snapshot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Store keeps the snapshots of a node's shards.
//
// Contract, for every backend:
//
//   - Concurrency: all methods are safe for concurrent use by any number of
//     goroutines. A Creation or a Reader returned by a Store belongs to the
//     goroutine that uses it (not safe for concurrent use).
//   - Streaming: Create and Open stream; neither holds a whole snapshot in
//     memory (memory_snapshot keeps the encoded bytes, which is its purpose).
//   - Visibility and durability: a snapshot becomes visible to List, Latest,
//     Open, Verify and Delete only when Creation.Commit returns nil, and never
//     partially. For compressed_file it is then durable: the file and its
//     directory entry have been fsynced. Abort, a failed Commit, or a crash
//     before Commit leave nothing visible.
//   - Ownership: Meta values are copies owned by the caller. Records read
//     from a Reader are valid until its next Next or Close (see Reader.Next).
//   - Opened snapshots stay readable to the end even if deleted meanwhile.
//   - Errors: ErrNotFound (Latest, Open, Verify, Delete: no such snapshot),
//     ErrCorrupt (Open, Verify, Import, and reading: a failed check; the
//     message says where), ErrExists (Commit, Import: same ID stored),
//     ErrAborted (Creation after Abort or a cancelled context), ErrClosed
//     (after Close), ErrInvalid (malformed ID or options), ctx.Err() when the
//     context ends, and I/O errors wrapped with context.
type Store interface {
	// Create starts a new snapshot of the shard described by h (h.Codec is
	// set from the store's Options; a zero h.Created from the store's clock). Write the records to the returned
	// Creation, then Commit it, or Abort it. ctx bounds the whole creation:
	// if it ends before Commit, Commit fails with ErrAborted.
	Create(ctx context.Context, h Header) (*Creation, error)
	// Import reads a complete encoded snapshot (as written by Writer or by
	// Export) from r, checks all of it, and stores it under its own header.
	// Nothing is stored unless every check passes.
	Import(ctx context.Context, r io.Reader) (Meta, error)
	// List returns every stored snapshot, sorted by shard, then index, then
	// term, then created time. Meta comes from each snapshot's header and
	// trailer; the body is not checked (see Verify). Snapshots whose header
	// or trailer is unreadable are left out and logged.
	List(ctx context.Context) ([]Meta, error)
	// Latest returns the snapshot of shardID with the highest index (then
	// term, then created), or ErrNotFound.
	Latest(ctx context.Context, shardID uint64) (Meta, error)
	// Open returns a Reader over the records of snapshot id. The Reader
	// checks the stream as it goes (see Reader). Close it. ctx bounds the
	// opening only; stop reading to stop.
	Open(ctx context.Context, id string) (*Reader, error)
	// Export copies the encoded snapshot id to w as stored, without
	// decoding it (Import reads it back).
	Export(ctx context.Context, id string, w io.Writer) (int64, error)
	// Verify reads snapshot id to the end, checking every frame, record and
	// the trailer, and returns its Meta, or an error wrapping ErrCorrupt.
	Verify(ctx context.Context, id string) (Meta, error)
	// Delete removes snapshot id. For compressed_file the removal is
	// durable on return.
	Delete(ctx context.Context, id string) error
	// Cleanup removes the snapshots r does not keep (see Retention and
	// Plan) and returns how many it removed. Ages are measured with the
	// store's clock (WithClock).
	Cleanup(ctx context.Context, r Retention) (removed int, err error)
	// Close releases the store. Creations still open fail on Commit; readers
	// already open stay readable. Later calls return ErrClosed.
	Close() error
}

// OpenOption adjusts what Open builds beyond Options: injected clock and
// logger.
type OpenOption func(*env)

type env struct {
	now func() time.Time
	log *slog.Logger
}

// WithClock sets the clock Cleanup measures ages against and Create dates
// snapshots with when their header has no Created time (default time.Now).
func WithClock(now func() time.Time) OpenOption { return func(e *env) { e.now = now } }

// WithLogger sets where the store reports what it skips or cleans (stale
// temporary files, unreadable snapshots). Default: discarded.
func WithLogger(l *slog.Logger) OpenOption { return func(e *env) { e.log = l } }

// Open opens the store of the named backend. path is the directory of a
// compressed_file store (created if missing) and ignored by memory_snapshot.
// opts is completed by EnsureDefaults and checked by Validate.
func Open(backend, path string, opts Options, more ...OpenOption) (Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(backend); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	e := env{now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range more {
		o(&e)
	}
	switch backend {
	case BackendCompressedFile:
		if path == "" {
			return nil, fmt.Errorf("%w: compressed_file needs a directory path", ErrInvalid)
		}
		return openFileStore(path, opts, e)
	case BackendMemory:
		return newMemStore(opts, e), nil
	}
	return nil, fmt.Errorf("%w: backend %q is not one of %s, %s", ErrInvalid, backend, BackendCompressedFile, BackendMemory)
}

// Creation is a snapshot being written by Store.Create. It is visible to
// nobody until Commit returns nil. Not safe for concurrent use.
type Creation struct {
	ctx    context.Context
	w      *Writer
	commit func(Meta) (Meta, error) // after the trailer is written
	abort  func()                   // discards what was written
	state  int
	err    error
}

const (
	creating = iota
	committed
	aborted
)

// Header returns the snapshot's header, codec included.
func (c *Creation) Header() Header { return c.w.Header() }

// Write appends one record; see Writer.Write. The key and value may be
// reused when it returns.
func (c *Creation) Write(key, value []byte) error {
	switch c.state {
	case committed:
		return ErrClosed
	case aborted:
		return c.abortedErr()
	}
	if c.w.Records()&1023 == 0 {
		if err := c.ctx.Err(); err != nil {
			c.Abort()
			c.err = err
			return c.abortedErr()
		}
	}
	return c.w.Write(key, value)
}

func (c *Creation) abortedErr() error {
	if c.err != nil {
		return fmt.Errorf("%w: %w", ErrAborted, c.err)
	}
	return ErrAborted
}

// Commit writes the trailer, makes the snapshot durable (compressed_file)
// and visible, and returns its Meta. On error the Creation is aborted and
// nothing is visible, with one exception: if only the final fsync of the
// directory fails, the snapshot may be visible but not durable. Commit after
// Commit returns ErrClosed.
func (c *Creation) Commit() (Meta, error) {
	switch c.state {
	case committed:
		return Meta{}, ErrClosed
	case aborted:
		return Meta{}, c.abortedErr()
	}
	if err := c.ctx.Err(); err != nil {
		c.Abort()
		c.err = err
		return Meta{}, c.abortedErr()
	}
	m, err := c.w.Close()
	if err == nil {
		m, err = c.commit(m)
	}
	if err != nil {
		c.Abort()
		c.err = err
		return Meta{}, err
	}
	c.state = committed
	return m, nil
}

// Abort discards the snapshot. It is safe to defer: after Commit it does
// nothing, and it may be called more than once.
func (c *Creation) Abort() {
	if c.state != creating {
		return
	}
	c.state = aborted
	if !c.w.closed {
		c.w.closed = true
		c.w.codec.Close()
	}
	c.abort()
}
