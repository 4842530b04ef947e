package storage

import (
	"context"
	"errors"

	"github.com/odgm-go/odgm/storage/appdata"
)

// ErrNotFound is returned by KV.Get for a missing key.
var ErrNotFound = appdata.ErrNotFound

// KV is the plain key/value view of a composite's app layer: get, put,
// delete and scan, for code that wants nothing more (the seed plan's
// backward-compatibility adapter). It writes straight to the app layer,
// outside Raft: use it for a store of one node's own, or for tools that work
// on a stopped node's data, never on a shard that Raft replicates.
//
// Every method checks ctx first and returns its error if it has ended. Safe
// for concurrent use; returned slices belong to the caller.
type KV struct {
	app appdata.Store
}

// NewKV returns the KV view of c.
func NewKV(c *Composite) *KV { return &KV{app: c.App()} }

// Get returns the value of key, or an error wrapping ErrNotFound.
func (kv *KV) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return kv.app.Get(key)
}

// Put sets key to value, durably under the app layer's sync policy.
func (kv *KV) Put(ctx context.Context, key, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return kv.app.Put(key, value)
}

// Delete removes key; deleting a missing key is not an error.
func (kv *KV) Delete(ctx context.Context, key []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := kv.app.Delete(key)
	return err
}

// Scan returns up to limit items whose key starts with prefix, in key order,
// starting at resume (nil: the first); next is the resume for the following
// page, nil after the last.
func (kv *KV) Scan(ctx context.Context, prefix []byte, limit int, resume []byte) (items []appdata.Item, next []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return kv.app.ScanPrefix(prefix, limit, resume)
}

// IsNotFound reports whether err means a missing key.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
