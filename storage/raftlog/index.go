package raftlog

import (
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// slot is what a backend keeps in memory per entry: the entry itself
// (memory_log), its position in a segment (append_log) or its size
// (kv_log).
type slot interface {
	size() uint64
}

// nodeIndex is the in-memory metadata of one replica's log, shared by the
// project's backends so that every backend gives an operation the same
// meaning. It is not safe for concurrent use: its owner locks.
type nodeIndex[T slot] struct {
	first     uint64 // index of slots[0]; compacted+1 after a reset
	slots     []T
	compacted uint64

	hasState bool
	state    pb.State
	snapshot pb.Snapshot
	hasBoot  bool
	boot     pb.Bootstrap

	bytes          uint64
	compactions    uint64
	bytesReclaimed uint64
}

func newNodeIndex[T slot]() *nodeIndex[T] { return &nodeIndex[T]{first: 1} }

func (x *nodeIndex[T]) last() uint64 { return x.first + uint64(len(x.slots)) - 1 }

// at returns the slot of index i, if held.
func (x *nodeIndex[T]) at(i uint64) (T, bool) {
	var zero T
	if i < x.first || i > x.last() {
		return zero, false
	}
	return x.slots[i-x.first], true
}

func (x *nodeIndex[T]) nodeState() NodeState {
	return NodeState{
		FirstIndex: x.first, LastIndex: x.last(), Compacted: x.compacted,
		HardState: x.state, HasHardState: x.hasState,
		Snapshot: x.snapshot, Bootstrap: x.boot, HasBootstrap: x.hasBoot,
	}
}

func (x *nodeIndex[T]) stats() Stats {
	return Stats{
		FirstIndex: x.first, LastIndex: x.last(), Entries: uint64(len(x.slots)),
		Bytes: x.bytes, Compactions: x.compactions, BytesReclaimed: x.bytesReclaimed,
	}
}

// appendCount returns how many entries the log would hold after appending
// n entries from index f: memory_log's bound check.
func (x *nodeIndex[T]) appendCount(f uint64, n int) int {
	end := f + uint64(n) - 1
	if end <= x.compacted {
		return len(x.slots)
	}
	if f <= x.compacted {
		f = x.compacted + 1
	}
	if f > x.last()+1 {
		return int(end - f + 1)
	}
	return int(end - x.first + 1)
}

// append stores slots for indexes f, f+1, ...: entries from f on are
// replaced; those at or below the compacted index are skipped. A first
// index past last+1 (a hole) restarts the log at f, as after a snapshot:
// the Store contract lets Raft do this; Log.Append refuses it earlier.
func (x *nodeIndex[T]) append(f uint64, ts []T) {
	if f <= x.compacted {
		skip := x.compacted + 1 - f
		if skip >= uint64(len(ts)) {
			return
		}
		ts = ts[skip:]
		f = x.compacted + 1
	}
	switch {
	case f > x.last()+1:
		x.dropAll()
		x.first = f
		x.compacted = f - 1
	case f <= x.last():
		x.truncate(f)
	}
	for _, t := range ts {
		x.bytes += t.size()
	}
	x.slots = append(x.slots, ts...)
}

// truncate drops the entries from index from on.
func (x *nodeIndex[T]) truncate(from uint64) {
	if from < x.first {
		from = x.first
	}
	if from > x.last() {
		return
	}
	k := from - x.first
	for _, t := range x.slots[k:] {
		x.bytes -= t.size()
	}
	clear(x.slots[k:])
	x.slots = x.slots[:k]
}

// compact drops the entries up to index to, capped at the last index.
func (x *nodeIndex[T]) compact(to uint64) {
	if to > x.last() {
		to = x.last()
	}
	if to <= x.compacted {
		return
	}
	x.compacted = to
	if to < x.first {
		return
	}
	k := to - x.first + 1
	var freed uint64
	for _, t := range x.slots[:k] {
		freed += t.size()
	}
	x.bytes -= freed
	x.bytesReclaimed += freed
	x.compactions++
	rest := x.slots[k:]
	if cap(rest) > 2*len(rest)+64 {
		// Let the compacted prefix's memory go.
		x.slots = append(make([]T, 0, len(rest)+len(rest)/4), rest...)
	} else {
		clear(x.slots[:k])
		x.slots = rest
	}
	x.first = to + 1
}

// compactTo is compact without the cap: the log restarts after to if it
// ends before. For replay, where entries may be gone with their segments.
func (x *nodeIndex[T]) compactTo(to uint64) {
	if to <= x.compacted {
		return
	}
	if to >= x.last() {
		x.compact(x.last())
		x.dropAll()
		x.first = to + 1
		x.compacted = to
		return
	}
	x.compact(to)
}

func (x *nodeIndex[T]) dropAll() {
	x.bytes = 0
	x.slots = nil
}

// installSnapshot records ss if newer and restarts the log after it.
func (x *nodeIndex[T]) installSnapshot(ss pb.Snapshot) {
	if ss.Index <= x.snapshot.Index && !pb.IsEmptySnapshot(x.snapshot) {
		return
	}
	x.snapshot = ss
	if ss.Index > x.compacted {
		x.compacted = ss.Index
	}
	x.dropAll()
	x.first = x.compacted + 1
}

// saveSnapshot records ss if newer.
func (x *nodeIndex[T]) saveSnapshot(ss pb.Snapshot) {
	if ss.Index > x.snapshot.Index || pb.IsEmptySnapshot(x.snapshot) {
		x.snapshot = ss
	}
}

// applyMeta applies an operation that carries no entries.
func (x *nodeIndex[T]) applyMeta(o *op) {
	switch o.kind {
	case opHardState:
		x.state, x.hasState = o.state, true
	case opInstallSnapshot:
		x.installSnapshot(o.snapshot)
	case opSaveSnapshot:
		x.saveSnapshot(o.snapshot)
	case opBootstrap:
		x.boot, x.hasBoot = o.bootstrap, true
	case opTruncate:
		x.truncate(o.index)
	case opCompact:
		x.compact(o.index)
	}
}

// entriesRange returns the indexes [lo, hi) of Store.Entries's answer
// before the size bound: empty if low is not held.
func (x *nodeIndex[T]) entriesRange(low, high uint64) (uint64, uint64) {
	if low < x.first || low > x.last() || high <= low {
		return low, low
	}
	if high > x.last()+1 {
		high = x.last() + 1
	}
	return low, high
}

// cloneEntry returns a copy of e owning its command bytes.
func cloneEntry(e pb.Entry) pb.Entry {
	if e.Cmd != nil {
		e.Cmd = append([]byte(nil), e.Cmd...)
	}
	return e
}
