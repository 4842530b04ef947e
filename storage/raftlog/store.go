package raftlog

import (
	"fmt"

	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// Node names one replica's log on a node: a (shard, replica) pair.
type Node = raftio.NodeInfo

// Store holds the Raft logs of every replica hosted by a node. It is the
// layer's node-wide interface; LogDB adapts it to dragonboat and Log gives
// the per-shard view.
//
// Contract:
//   - Commit applies a Batch atomically (after a crash either every
//     operation in it is found or none is) and, under sync_policy always,
//     durably before it returns, with one fsync whatever the number of
//     replicas and entries in it. Commit may be called concurrently.
//   - Entries, State and Stats may be called concurrently with each other
//     and with Commit. Entries returned belong to the caller: the store
//     keeps no reference to them, and entries passed to Commit may be
//     reused by the caller once Commit returns.
//   - After Close every method returns ErrClosed (State and Stats return
//     zero values). Close may be called more than once.
type Store interface {
	// Commit applies b atomically; see the Batch methods for each
	// operation's meaning.
	Commit(b *Batch) error
	// Entries appends to dst the contiguous entries of n in [low, high),
	// adding each entry's SizeUpperLimit to size, and stops after the first
	// entry that takes size past maxSize (so at least one entry is returned
	// when low is in the log). An index outside the log returns dst
	// unchanged.
	Entries(n Node, dst []pb.Entry, size, low, high, maxSize uint64) ([]pb.Entry, uint64, error)
	// State returns what is known of n; ok is false if n has nothing stored.
	State(n Node) (st NodeState, ok bool)
	// Stats returns n's counters.
	Stats(n Node) Stats
	// Nodes lists every replica with something stored.
	Nodes() []Node
	// Reclaim gives back the disk space of compacted entries: append_log
	// deletes segments holding only compacted entries, kv_log shrinks its
	// file. memory_log frees memory at Compact already.
	Reclaim() error
	// Close releases the store. Under sync_policy batch or none it first
	// syncs what was written.
	Close() error
}

// NodeState is the metadata of one replica's log.
type NodeState struct {
	// FirstIndex and LastIndex bound the entries held; LastIndex is
	// FirstIndex-1 when there are none.
	FirstIndex, LastIndex uint64
	// Compacted is the highest index removed by compaction or by installing
	// a snapshot.
	Compacted uint64
	// HardState is the Raft term, vote and commit; HasHardState says if one
	// was saved.
	HardState    pb.State
	HasHardState bool
	// Snapshot is the newest snapshot's metadata (zero if none).
	Snapshot pb.Snapshot
	// Bootstrap is the replica's bootstrap record, if HasBootstrap.
	Bootstrap    pb.Bootstrap
	HasBootstrap bool
}

// Stats are one replica's log counters.
type Stats struct {
	FirstIndex, LastIndex uint64
	// Entries is the number of entries held; Bytes their encoded size.
	Entries uint64
	Bytes   uint64
	// Compactions counts compactions that removed at least one entry;
	// BytesReclaimed sums the encoded size of the entries they removed
	// (append_log gives the disk space back when whole segments become
	// free; see Store.Reclaim).
	Compactions    uint64
	BytesReclaimed uint64
}

type opKind uint8

const (
	opAppend          opKind = iota + 1 // entries, overwriting from their first index
	opHardState                         // state
	opInstallSnapshot                   // snapshot, newer only; the log restarts after it
	opSaveSnapshot                      // snapshot metadata, newer only
	opBootstrap                         // bootstrap
	opTruncate                          // index: drop entries >= index
	opCompact                           // index: drop entries <= index
	opRemove                            // forget the replica
	opCheckpoint                        // append_log only: a node's whole metadata
	opSegmentEnd                        // append_log only: where the previous segment's records end
)

type op struct {
	kind      opKind
	node      Node
	index     uint64
	entries   []pb.Entry
	state     pb.State
	snapshot  pb.Snapshot
	bootstrap pb.Bootstrap
}

// Batch is a list of operations for Store.Commit, applied in order. A Batch
// is not safe for concurrent use; it keeps the slices given to it until
// Commit returns.
type Batch struct {
	ops []op
}

// Append stores entries (contiguous, ascending) for n. Entries already
// held from ents[0].Index on are replaced: the Raft suffix overwrite.
// Entries at or below the compacted index are ignored.
func (b *Batch) Append(n Node, ents []pb.Entry) {
	if len(ents) > 0 {
		b.ops = append(b.ops, op{kind: opAppend, node: n, entries: ents})
	}
}

// SetHardState stores n's term, vote and commit index.
func (b *Batch) SetHardState(n Node, st pb.State) {
	b.ops = append(b.ops, op{kind: opHardState, node: n, state: st})
}

// InstallSnapshot records ss as n's newest snapshot, if newer than the one
// held, and restarts the log after it: every entry is dropped and the next
// entry expected is ss.Index+1. It is what a follower does on receiving a
// snapshot from its leader.
func (b *Batch) InstallSnapshot(n Node, ss pb.Snapshot) {
	b.ops = append(b.ops, op{kind: opInstallSnapshot, node: n, snapshot: ss})
}

// SaveSnapshot records ss as n's newest snapshot if it is newer than the
// one held; the log is not changed.
func (b *Batch) SaveSnapshot(n Node, ss pb.Snapshot) {
	b.ops = append(b.ops, op{kind: opSaveSnapshot, node: n, snapshot: ss})
}

// SetBootstrap stores n's bootstrap record.
func (b *Batch) SetBootstrap(n Node, bs pb.Bootstrap) {
	b.ops = append(b.ops, op{kind: opBootstrap, node: n, bootstrap: bs})
}

// Truncate drops n's entries from index from on (conflict repair).
func (b *Batch) Truncate(n Node, from uint64) {
	b.ops = append(b.ops, op{kind: opTruncate, node: n, index: from})
}

// Compact drops n's entries up to and including index to (capped at the
// last index).
func (b *Batch) Compact(n Node, to uint64) {
	b.ops = append(b.ops, op{kind: opCompact, node: n, index: to})
}

// Remove forgets everything stored for n.
func (b *Batch) Remove(n Node) {
	b.ops = append(b.ops, op{kind: opRemove, node: n})
}

// Len is the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch for reuse.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
}

// Open opens (creating if needed) the store of one of the project's own
// backends in dir: BackendAppendLog, BackendMemory (dir unused) or
// BackendKV. pebble and tan exist only as dragonboat ILogDBs: see
// NewFactory and OpenLogDB. opts is completed with EnsureDefaults and
// checked with Validate.
func Open(backend, dir string, opts Options) (Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(backend); err != nil {
		return nil, err
	}
	switch backend {
	case BackendAppendLog:
		return openAppendLog(dir, opts)
	case BackendMemory:
		return newMemoryLog(opts), nil
	case BackendKV:
		return openKVLog(dir, opts)
	case BackendPebble, BackendTan:
		return nil, fmt.Errorf("%w: %s is served only as a dragonboat ILogDB (use NewFactory or OpenLogDB)", ErrUnknownBackend, backend)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownBackend, backend)
}
