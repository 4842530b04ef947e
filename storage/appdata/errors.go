package appdata

import "errors"

// Sentinel errors. Every error a Store returns that has one of these causes
// wraps it (test with errors.Is); the doc of each method says which it
// returns. Errors from the filesystem are wrapped with context as they are.
var (
	// ErrNotFound: Get (store and transaction) found no such key.
	ErrNotFound = errors.New("appdata: not found")
	// ErrClosed: any method called after Close.
	ErrClosed = errors.New("appdata: store closed")
	// ErrStoreFull: a write transaction (Update, Put, CompareAndSwap, …)
	// would have grown the live data past Options.MaxSizeMB; nothing was
	// written.
	ErrStoreFull = errors.New("appdata: store full (max_size_mb)")
	// ErrInvalidKey: a key is empty, or lies in the reserved namespace
	// (it starts with ReservedPrefix).
	ErrInvalidKey = errors.New("appdata: invalid key")
	// ErrUnknownIndex: QueryIndex or DropIndex named an index that does not
	// exist.
	ErrUnknownIndex = errors.New("appdata: unknown index")
	// ErrIndexConflict: CreateIndex (or Open, for Options.Indexes) named an
	// existing index with a different spec.
	ErrIndexConflict = errors.New("appdata: index exists with a different spec")
	// ErrInvalidIndex: CreateIndex was given a spec that IndexSpec.Validate
	// refuses.
	ErrInvalidIndex = errors.New("appdata: invalid index spec")
	// ErrInvalidQuery: a query bound that does not parse for the index's
	// type, a prefix query on a numeric index, more than one of Equal /
	// Range / Prefix set, or a resume token that was not produced by the
	// same kind of call (or that lies outside the scanned range).
	ErrInvalidQuery = errors.New("appdata: invalid query")
	// ErrTxDone: a ReadTx or WriteTx was used after its function returned.
	ErrTxDone = errors.New("appdata: transaction used after its function returned")
	// ErrCorrupt: Open found a data file that is not a well-formed buntdb
	// append-only file (a torn last command is not corruption: it is cut
	// off, as buntdb itself does).
	ErrCorrupt = errors.New("appdata: corrupt data file")
	// ErrInUse: Open was asked for a data file that this process already
	// has open (buntdb does not lock its file; other processes are not
	// detected).
	ErrInUse = errors.New("appdata: data file already open")
	// ErrInvalidOptions: Open was given options that Options.Validate
	// refuses, or an unknown backend name.
	ErrInvalidOptions = errors.New("appdata: invalid options")
)
