package raftlog

import (
	"fmt"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// Log is the per-shard view of a Store: the seed's operations on one
// replica's log. Its writes are single-operation Commits; to make several
// replicas' changes durable with one fsync use Store.Commit with a Batch.
//
// One goroutine at a time may write a replica's log (Raft's own rule);
// reads may run concurrently with writes. Entries returned belong to the
// caller. Errors: ErrGap (Append or Truncate out of range), ErrFull
// (memory_log), ErrClosed, and ErrCorrupt from reads of damaged data.
type Log interface {
	// Append stores entries (contiguous, ascending) atomically. The first
	// must be at most LastIndex()+1; entries from it on are replaced.
	Append(entries []pb.Entry) error
	// Entries returns the entries in [low, high), stopping after the one
	// that takes their total size past maxBytes (so at least one when low
	// is held).
	Entries(low, high, maxBytes uint64) ([]pb.Entry, error)
	// Truncate drops the entries from index from on (conflict repair).
	Truncate(from uint64) error
	// Compact drops the entries up to and including index to (after a
	// snapshot) and gives back their space where it can.
	Compact(to uint64) error
	// FirstIndex is the first entry held (LastIndex()+1 when none).
	FirstIndex() uint64
	// LastIndex is the last entry held (the compacted index when none).
	LastIndex() uint64
	// HardState returns the saved term, vote and commit; ok is false if
	// none was saved.
	HardState() (st pb.State, ok bool)
	// SetHardState saves the term, vote and commit.
	SetHardState(st pb.State) error
	// Stats returns the log's counters.
	Stats() Stats
}

// LogOf returns the per-shard view of n's log in s.
func LogOf(s Store, n Node) Log { return &shardLog{s: s, n: n} }

type shardLog struct {
	s Store
	n Node
}

func (l *shardLog) Append(entries []pb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	st, _ := l.s.State(l.n)
	if f := entries[0].Index; f > st.LastIndex+1 || f == 0 {
		return fmt.Errorf("%w: first entry %d after last index %d", ErrGap, f, st.LastIndex)
	}
	var b Batch
	b.Append(l.n, entries)
	return l.s.Commit(&b)
}

func (l *shardLog) Entries(low, high, maxBytes uint64) ([]pb.Entry, error) {
	es, _, err := l.s.Entries(l.n, nil, 0, low, high, maxBytes)
	return es, err
}

func (l *shardLog) Truncate(from uint64) error {
	st, _ := l.s.State(l.n)
	if from < st.FirstIndex {
		return fmt.Errorf("%w: truncate from %d below first index %d", ErrGap, from, st.FirstIndex)
	}
	var b Batch
	b.Truncate(l.n, from)
	return l.s.Commit(&b)
}

func (l *shardLog) Compact(to uint64) error {
	var b Batch
	b.Compact(l.n, to)
	if err := l.s.Commit(&b); err != nil {
		return err
	}
	return l.s.Reclaim()
}

func (l *shardLog) FirstIndex() uint64 {
	st, _ := l.s.State(l.n)
	return st.FirstIndex
}

func (l *shardLog) LastIndex() uint64 {
	st, _ := l.s.State(l.n)
	return st.LastIndex
}

func (l *shardLog) HardState() (pb.State, bool) {
	st, _ := l.s.State(l.n)
	return st.HardState, st.HasHardState
}

func (l *shardLog) SetHardState(st pb.State) error {
	var b Batch
	b.SetHardState(l.n, st)
	return l.s.Commit(&b)
}

func (l *shardLog) Stats() Stats { return l.s.Stats(l.n) }
