package raftlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/tidwall/buntdb"
)

type kvSlot uint32 // the encoded entry's size

func (s kvSlot) size() uint64 { return uint64(s) }

// kvLog is the kv_log backend, the legacy layout: every entry is a key
// ("e/<shard>/<replica>/<index>", fixed-width hex) in a buntdb file, and
// each replica's metadata another key ("n/<shard>/<replica>"). buntdb keeps
// every key and value in memory, which is the cost the append_log design
// removes. A Commit is one buntdb transaction: one fsync under
// sync_policy always.
type kvLog struct {
	path string
	db   *buntdb.DB
	// deleted counts bytes of values deleted since the last shrink.
	deleted atomic.Int64
	mu      struct {
		sync.RWMutex
		closed bool
		failed error
		nodes  map[Node]*nodeIndex[kvSlot]
	}
}

var _ Store = (*kvLog)(nil)

func openKVLog(dir string, opts Options) (*kvLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	path := filepath.Join(dir, "raftlog.db")
	db, err := buntdb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("raftlog: open %s: %w", path, err)
	}
	var cfg buntdb.Config
	if err := db.ReadConfig(&cfg); err != nil {
		db.Close()
		return nil, err
	}
	switch opts.SyncPolicy {
	case SyncAlways:
		cfg.SyncPolicy = buntdb.Always
	case SyncBatch:
		cfg.SyncPolicy = buntdb.EverySecond
	default:
		cfg.SyncPolicy = buntdb.Never
	}
	if err := db.SetConfig(cfg); err != nil {
		db.Close()
		return nil, err
	}
	k := &kvLog{path: path, db: db}
	k.mu.nodes = map[Node]*nodeIndex[kvSlot]{}
	if err := k.load(); err != nil {
		db.Close()
		return nil, err
	}
	return k, nil
}

func kvNodePrefix(n Node) string {
	return fmt.Sprintf("%016x/%016x/", n.ShardID, n.ReplicaID)
}

func kvEntryKey(n Node, i uint64) string {
	return "e/" + kvNodePrefix(n) + fmt.Sprintf("%016x", i)
}

func kvMetaKey(n Node) string { return "n/" + kvNodePrefix(n) }

func (k *kvLog) load() error {
	return k.db.View(func(tx *buntdb.Tx) error {
		var err error
		tx.AscendRange("", "n/", "n0", func(key, val string) bool {
			var n Node
			if _, e := fmt.Sscanf(key, "n/%016x/%016x/", &n.ShardID, &n.ReplicaID); e != nil {
				err = &CorruptError{File: k.path, Offset: -1, Reason: "bad key " + strconv.Quote(key)}
				return false
			}
			x := newNodeIndex[kvSlot]()
			if e := decodeMeta([]byte(val), x); e != nil {
				err = &CorruptError{File: k.path, Offset: -1, Reason: "bad metadata for " + key}
				return false
			}
			x.first = x.compacted + 1
			k.mu.nodes[n] = x
			return true
		})
		if err != nil {
			return err
		}
		for n, x := range k.mu.nodes {
			pre := "e/" + kvNodePrefix(n)
			next := x.first
			tx.AscendRange("", kvEntryKey(n, x.first), pre+"g", func(key, val string) bool {
				i, e := strconv.ParseUint(key[len(pre):], 16, 64)
				if e != nil || i != next {
					err = &CorruptError{File: k.path, Offset: -1, Reason: fmt.Sprintf("entry key %q where index %d was expected", key, next)}
					return false
				}
				x.slots = append(x.slots, kvSlot(len(val)))
				x.bytes += uint64(len(val))
				next++
				return true
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (k *kvLog) node(n Node) *nodeIndex[kvSlot] {
	x, ok := k.mu.nodes[n]
	if !ok {
		x = newNodeIndex[kvSlot]()
		k.mu.nodes[n] = x
	}
	return x
}

// deleteRange deletes the entry keys [lo, hi] of n.
func (k *kvLog) deleteRange(tx *buntdb.Tx, n Node, lo, hi uint64) error {
	var freed int64
	for i := lo; i <= hi && i >= lo; i++ {
		v, err := tx.Delete(kvEntryKey(n, i))
		if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
			return err
		}
		freed += int64(len(v)) + 64
	}
	k.deleted.Add(freed)
	return nil
}

func (k *kvLog) Commit(b *Batch) error {
	if len(b.ops) == 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mu.closed {
		return ErrClosed
	}
	if k.mu.failed != nil {
		return k.mu.failed
	}
	// The index is changed inside the transaction; should the transaction
	// fail, the store refuses further work rather than serve a wrong index.
	err := k.db.Update(func(tx *buntdb.Tx) error {
		dirty := map[Node]bool{}
		for i := range b.ops {
			o := &b.ops[i]
			if o.kind == opRemove {
				if x, ok := k.mu.nodes[o.node]; ok {
					if err := k.deleteRange(tx, o.node, x.first, x.last()); err != nil {
						return err
					}
					delete(k.mu.nodes, o.node)
				}
				delete(dirty, o.node)
				if _, err := tx.Delete(kvMetaKey(o.node)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
					return err
				}
				continue
			}
			x := k.node(o.node)
			dirty[o.node] = true
			oldFirst, oldLast := x.first, x.last()
			if o.kind == opAppend {
				ts := make([]kvSlot, len(o.entries))
				for j := range o.entries {
					e := &o.entries[j]
					if e.Index <= x.compacted {
						continue
					}
					data, err := e.Marshal()
					if err != nil {
						return err
					}
					ts[j] = kvSlot(len(data))
					if _, _, err := tx.Set(kvEntryKey(o.node, e.Index), string(data), nil); err != nil {
						return err
					}
				}
				x.append(o.entries[0].Index, ts)
			} else {
				x.applyMeta(o)
			}
			// Delete what the operation dropped: a prefix, a suffix or all.
			if x.first > oldFirst {
				if err := k.deleteRange(tx, o.node, oldFirst, min(x.first-1, oldLast)); err != nil {
					return err
				}
			}
			if x.last() < oldLast {
				if err := k.deleteRange(tx, o.node, max(x.last()+1, oldFirst, x.first), oldLast); err != nil {
					return err
				}
			}
		}
		for n := range dirty {
			if _, _, err := tx.Set(kvMetaKey(n), string(encodeMeta(k.mu.nodes[n])), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		k.mu.failed = fmt.Errorf("raftlog: kv_log commit: %w", err)
		return k.mu.failed
	}
	return nil
}

func (k *kvLog) Entries(n Node, dst []pb.Entry, size, low, high, maxSize uint64) ([]pb.Entry, uint64, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.mu.closed {
		return dst, size, ErrClosed
	}
	x, ok := k.mu.nodes[n]
	if !ok {
		return dst, size, nil
	}
	lo, hi := x.entriesRange(low, high)
	err := k.db.View(func(tx *buntdb.Tx) error {
		for i := lo; i < hi; i++ {
			v, err := tx.Get(kvEntryKey(n, i))
			if err != nil {
				return &CorruptError{File: k.path, Offset: -1, Reason: fmt.Sprintf("entry %d: %v", i, err)}
			}
			e, err := decodeEntry([]byte(v))
			if err != nil {
				return &CorruptError{File: k.path, Offset: -1, Reason: fmt.Sprintf("entry %d: %v", i, err)}
			}
			dst = append(dst, e)
			size += uint64(e.SizeUpperLimit())
			if size > maxSize {
				return nil
			}
		}
		return nil
	})
	return dst, size, err
}

func (k *kvLog) State(n Node) (NodeState, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	x, ok := k.mu.nodes[n]
	if !ok || k.mu.closed {
		return NodeState{FirstIndex: 1}, false
	}
	return x.nodeState(), true
}

func (k *kvLog) Stats(n Node) Stats {
	k.mu.RLock()
	defer k.mu.RUnlock()
	x, ok := k.mu.nodes[n]
	if !ok || k.mu.closed {
		return Stats{FirstIndex: 1}
	}
	return x.stats()
}

func (k *kvLog) Nodes() []Node {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ns := make([]Node, 0, len(k.mu.nodes))
	for n := range k.mu.nodes {
		ns = append(ns, n)
	}
	return ns
}

// Reclaim rewrites the buntdb file without the deleted keys, once they
// are worth it (a quarter of the file, and at least 1 MiB).
func (k *kvLog) Reclaim() error {
	k.mu.RLock()
	closed := k.mu.closed
	k.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	if d := k.deleted.Load(); d < 1<<20 || d < st.Size()/4 {
		return nil
	}
	k.deleted.Store(0)
	for {
		// buntdb may be shrinking on its own (auto-shrink): wait for it,
		// then shrink again so the space is surely given back on return.
		err := k.db.Shrink()
		if !errors.Is(err, buntdb.ErrShrinkInProcess) {
			if err != nil && !errors.Is(err, buntdb.ErrDatabaseClosed) {
				return fmt.Errorf("raftlog: shrink %s: %w", k.path, err)
			}
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (k *kvLog) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mu.closed {
		return nil
	}
	k.mu.closed = true
	k.mu.nodes = nil
	return k.db.Close()
}

// encodeMeta encodes a replica's metadata (the checkpoint body).
func encodeMeta[T slot](x *nodeIndex[T]) []byte {
	var e encoder
	appendMeta(&e, x)
	return e.buf
}

func decodeMeta[T slot](b []byte, x *nodeIndex[T]) error {
	d := decoder{p: b}
	d.meta(&x.compacted, &x.state, &x.snapshot, &x.boot, &x.hasState, &x.hasBoot)
	return d.err
}
