// Package appdata is the application-data storage layer of a shard: the
// replicated state machine's data, kept in buntdb (github.com/tidwall/buntdb),
// an in-memory B-tree backed by an append-only file.
//
// # Main types
//
//   - Store: an ordered map of binary keys to binary values with read and
//     write transactions (View, Update), point reads (Get, MultiGet), ordered
//     scans with a limit and a resume key (ScanRange, ScanPrefix),
//     CompareAndSwap, secondary indexes (CreateIndex, QueryIndex, …), Stats,
//     Sync and Close. Its doc comment is the contract: ownership, goroutines,
//     durability and errors.
//   - ReadTx, WriteTx: what the functions given to View and Update work with.
//   - Options, IndexSpec: configuration (the app_storage.config section).
//   - Query: what QueryIndex selects (QueryEqual, QueryRange, QueryPrefix).
//
// Backends (Open's first argument): BackendBuntDB, a file; BackendMemory,
// buntdb ":memory:", gone when closed.
//
// # Usage
//
//	s, err := appdata.Open(appdata.BackendBuntDB, "/data/shard-7/app.db", appdata.Options{})
//	...
//	defer s.Close()
//	err = s.Update(func(tx appdata.WriteTx) error {
//		if err := tx.Put([]byte("obj/a/balance"), []byte("90")); err != nil {
//			return err
//		}
//		return tx.Put([]byte("obj/b/balance"), []byte("110"))
//	})
//	items, resume, err := s.ScanPrefix([]byte("obj/a/"), 100, nil)
//
// The Raft state machine applies a command with one Update (the applied
// index written in the same transaction as the data), calls Sync before
// dragonboat takes a local snapshot, and streams the whole store with
// View + ReadTx.Ascend to produce a full snapshot.
//
// # Concurrency
//
// Every Store method may be called from any goroutine. Reads run in
// parallel; writes run one at a time and exclude reads while they run
// (buntdb's single read/write lock). The function given to View or Update
// runs on the calling goroutine and must not call the Store (deadlock) nor
// hand its transaction to another goroutine; a transaction used after its
// function returned fails with ErrTxDone. In a write transaction, fn given to
// Ascend must not write (buntdb refuses writes while iterating).
//
// buntdb runs one background goroutine per database (fsync for
// every_second, auto-shrink). Close makes it stop: it notices at its next
// one-second tick, so it outlives Close by up to a second. Leak checks
// (goleak) must allow for that.
//
// # Ownership
//
// Every slice returned (values, keys, items, resume tokens) is a fresh copy
// owned by the caller, including those passed to the function given to
// ReadTx.Ascend. Slices passed in are not retained.
//
// # Durability
//
// A write that returned is visible to all later reads at once. It is on
// disk on return with sync_policy "always" (the default), within about a
// second with "every_second", and when Sync or Close returns with "never".
// For "always" the store fsyncs after each commit itself, rather than through
// buntdb's own "always", which ignores fsync errors.
// buntdb does not lock its file: Open refuses a file that this process
// already has open (ErrInUse); two processes must not share one file.
// On Open, a torn last record (a crash during a write) is cut off; any other
// malformation of the file is ErrCorrupt. Open reads the whole file once
// before buntdb loads it, because buntdb trusts its file and some malformed
// files make it panic or allocate without bound.
//
// # Keys, values and the reserved namespace
//
// Keys and values are binary-safe: any bytes, 0x00 and "\r\n" included.
// Keys are non-empty and ordered bytewise. Keys starting with
// ReservedPrefix ("\x00\xffappdata\x00") belong to the store: it keeps the
// specs of its indexes there, because buntdb does not persist index
// definitions. Scans, queries and Stats never show them, and reading or
// writing one is ErrInvalidKey. A nil value given to Put is the empty value.
//
// # Indexes
//
// An index covers the keys matching its glob pattern ("*" any run, "?" one
// UTF-8 character or one byte of invalid UTF-8, as buntdb's matcher does)
// and orders them by a value read from their value, then by key:
//
//   - string: the raw value, bytewise (not buntdb's case-folding IndexString).
//   - int: the value parsed as by strconv.ParseInt(v, 10, 64).
//   - float: the value parsed as by strconv.ParseFloat(v, 64); NaN does not
//     parse.
//   - json: the field at JSONPath (gjson syntax) of the value, ordered as
//     gjson orders values: false < numbers < strings (bytewise) < true <
//     objects and arrays.
//
// A value that does not parse (for int or float), or that has no field at
// the path or a null one (for json), is kept out of the index's results:
// internally it sorts before every valid value and queries start after
// those. It is not an error to store it.
//
// Query values are written as stored ones: "42" for int, "2.5" for float, a
// JSON literal (`"alice"`, `42`) for json. Prefix queries apply to string
// indexes and to the string values of json indexes.
//
// Created indexes are persisted (the spec is stored in the reserved
// namespace in the same transaction) and rebuilt from the data at Open,
// which costs a pass over the keys they cover. Options.Indexes are created
// at Open as well. Creating an existing index with the same spec is a
// no-op; with another spec it is ErrIndexConflict.
//
// Pagination resumes from a (value, key) pair, so pages are disjoint and
// complete while the data is unchanged. Resuming within a run of keys that
// share one indexed value skips that run's earlier keys one by one: cost
// linear in the run's length.
//
// # Size limit
//
// Options.MaxSizeMB bounds the sum of the lengths of the live user keys and
// values (Stats.Bytes). A write transaction that would grow it past the
// bound fails with ErrStoreFull and writes nothing; one that shrinks or
// keeps it succeeds even over the bound, so that deleting stays possible.
//
// # Errors
//
// Sentinels (errors.go) are wrapped with %w; test them with errors.Is:
// ErrNotFound (Get), ErrClosed (anything after Close), ErrStoreFull (writes),
// ErrInvalidKey (empty or reserved keys), ErrUnknownIndex (QueryIndex,
// DropIndex), ErrIndexConflict and ErrInvalidIndex (CreateIndex, Open),
// ErrInvalidQuery (QueryIndex, ScanPrefix), ErrTxDone (a transaction used
// late), ErrCorrupt, ErrInUse and ErrInvalidOptions (Open). Errors returned by the
// functions given to View and Update come back unchanged.
package appdata
