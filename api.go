package odgm

import (
	"context"
	"fmt"
	"time"
)

// Objects is the object API, the same whether the objects are served by an
// embedded node (runtime.Node), reached through a node over protoactor
// remote (package client) or over gRPC (client.NewGRPC). Every call takes a
// context first and returns the errors of this package (errors.Is).
type Objects interface {
	Get(ctx context.Context, class, id string, opts ...Option) (*State, error)
	Put(ctx context.Context, class, id string, entries map[string][]byte, opts ...Option) (uint64, error)
	Delete(ctx context.Context, class, id string, names []string, opts ...Option) (uint64, error)
	DeleteObject(ctx context.Context, class, id string, opts ...Option) error
	CompareAndSwap(ctx context.Context, class, id string, expected uint64, puts map[string][]byte, deletes []string, opts ...Option) (uint64, error)
	List(ctx context.Context, class string, q ListOptions) (*Page, error)
	QueryIndex(ctx context.Context, class string, q IndexQuery) (*IndexPage, error)
	Invoke(ctx context.Context, class, id, method string, payload []byte, opts ...Option) ([]byte, error)
	InvokeStateless(ctx context.Context, class, method string, payload []byte) ([]byte, error)
}

// State is an object's state as Get returns it.
type State struct {
	ID                   string
	Version              uint64
	CreatedAt, UpdatedAt time.Time
	// Entries are the selected entries (all by default); the caller owns
	// the map and the values.
	Entries map[string][]byte
}

// Option adjusts one call.
type Option func(*CallOptions)

// CallOptions are the options of one call, as the Options set them.
type CallOptions struct {
	RequestID string
	Stale     bool
	Names     []string
}

// MaxRequestIDLen bounds a request id.
const MaxRequestIDLen = 200

// RequestID sets a write's or an invocation's request id (at most
// MaxRequestIDLen bytes). A call retried with the id of an earlier call is
// applied at most once: its write gets the first one's result. Without it
// each call gets a fresh id (and is itself retried internally with that
// id).
func RequestID(id string) Option { return func(o *CallOptions) { o.RequestID = id } }

// StaleRead serves a read from a replica at once, without a ReadIndex
// round: faster, possibly behind the latest writes. For Invoke of a class
// with several replicas, the method then reads that replica's state (its
// writes are still conditioned on the version it read, so a stale state
// costs a retry, never a lost update).
func StaleRead() Option { return func(o *CallOptions) { o.Stale = true } }

// Select makes Get return only the named entries.
func Select(names ...string) Option { return func(o *CallOptions) { o.Names = names } }

// ApplyOptions collects opts, checking the request id's length
// (ErrInvalidArgument).
func ApplyOptions(opts []Option) (CallOptions, error) {
	var o CallOptions
	for _, f := range opts {
		f(&o)
	}
	if len(o.RequestID) > MaxRequestIDLen {
		return o, fmt.Errorf("%w: request id of %d bytes, at most %d", ErrInvalidArgument, len(o.RequestID), MaxRequestIDLen)
	}
	return o, nil
}

// ListOptions select a page of List.
type ListOptions struct {
	// Prefix keeps the ids that start with it (folded to lower case).
	Prefix string
	// Limit is the most ids in the page. Zero means 1000.
	Limit int
	// Cursor is the previous page's Next; empty for the first page.
	Cursor string
	// Stale serves the page from replicas without ReadIndex.
	Stale bool
}

// Page is a page of object ids, in the bytewise order of id+"/" (the
// order of the shards' keys; it differs from plain id order only for ids
// where one is a prefix of another and a byte below '/' follows).
type Page struct {
	IDs []string
	// Next is the cursor of the next page; empty after the last.
	Next string
}

// Query selects index values: Equal, a range [Low, High) (a nil bound is
// open), or a string Prefix. Build one with QueryEqual, QueryRange or
// QueryPrefix.
type Query struct {
	Equal, Low, High, Prefix []byte
}

// QueryEqual selects the values equal to v.
func QueryEqual(v []byte) Query { return Query{Equal: v} }

// QueryRange selects the values in [low, high); a nil bound is open.
func QueryRange(low, high []byte) Query { return Query{Low: low, High: high} }

// QueryPrefix selects the string values that start with p.
func QueryPrefix(p []byte) Query { return Query{Prefix: p} }

// IndexQuery selects a page of QueryIndex.
type IndexQuery struct {
	// Index is the name of one of the class's indexes.
	Index string
	// Query selects values.
	Query Query
	// Limit is the most items in the page. Zero means 1000.
	Limit int
	// Cursor is the previous page's Next; empty for the first page.
	Cursor string
	// Stale serves the page from replicas without ReadIndex.
	Stale bool
}

// IndexItem is one indexed entry found.
type IndexItem struct {
	ID, Entry string
	Value     []byte
}

// IndexPage is a page of QueryIndex: partition by partition, and within a
// partition in the index's value order.
type IndexPage struct {
	Items []IndexItem
	// Next is the cursor of the next page; empty after the last.
	Next string
}
