package raftlog

import (
	"fmt"
	"sync"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

type memSlot struct{ e pb.Entry }

func (s memSlot) size() uint64 { return uint64(s.e.Size()) }

// memoryLog is the memory_log backend: every replica's entries in memory.
// A Commit that would leave a replica with more than MaxEntries entries
// fails with ErrFull and changes nothing: the operator (or Raft's snapshot
// settings) must compact sooner. Nothing survives Close.
type memoryLog struct {
	maxEntries int
	mu         struct {
		sync.RWMutex
		closed bool
		nodes  map[Node]*nodeIndex[memSlot]
	}
}

var _ Store = (*memoryLog)(nil)

func newMemoryLog(opts Options) *memoryLog {
	m := &memoryLog{maxEntries: opts.MaxEntries}
	m.mu.nodes = map[Node]*nodeIndex[memSlot]{}
	return m
}

func (m *memoryLog) Commit(b *Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	if err := m.checkLocked(b); err != nil {
		return err
	}
	for i := range b.ops {
		o := &b.ops[i]
		if o.kind == opRemove {
			delete(m.mu.nodes, o.node)
			continue
		}
		x := m.nodeLocked(o.node)
		if o.kind != opAppend {
			x.applyMeta(o)
			continue
		}
		ts := make([]memSlot, len(o.entries))
		for j, e := range o.entries {
			ts[j] = memSlot{cloneEntry(e)}
		}
		x.append(o.entries[0].Index, ts)
	}
	return nil
}

// checkLocked refuses a batch that would overflow a replica. It looks at
// each append alone against the current log: a batch that compacts and
// appends in one go is judged before its compaction.
func (m *memoryLog) checkLocked(b *Batch) error {
	if m.maxEntries <= 0 {
		return nil
	}
	for i := range b.ops {
		o := &b.ops[i]
		if o.kind != opAppend {
			continue
		}
		x, ok := m.mu.nodes[o.node]
		if !ok {
			x = newNodeIndex[memSlot]()
		}
		if n := x.appendCount(o.entries[0].Index, len(o.entries)); n > m.maxEntries {
			return fmt.Errorf("%w: shard %d replica %d would hold %d entries (max_entries %d); compact it (set SnapshotEntries) or raise max_entries",
				ErrFull, o.node.ShardID, o.node.ReplicaID, n, m.maxEntries)
		}
	}
	return nil
}

func (m *memoryLog) nodeLocked(n Node) *nodeIndex[memSlot] {
	x, ok := m.mu.nodes[n]
	if !ok {
		x = newNodeIndex[memSlot]()
		m.mu.nodes[n] = x
	}
	return x
}

func (m *memoryLog) Entries(n Node, dst []pb.Entry, size, low, high, maxSize uint64) ([]pb.Entry, uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.mu.closed {
		return dst, size, ErrClosed
	}
	x, ok := m.mu.nodes[n]
	if !ok {
		return dst, size, nil
	}
	lo, hi := x.entriesRange(low, high)
	for i := lo; i < hi; i++ {
		s, _ := x.at(i)
		dst = append(dst, cloneEntry(s.e))
		size += uint64(s.e.SizeUpperLimit())
		if size > maxSize {
			break
		}
	}
	return dst, size, nil
}

func (m *memoryLog) State(n Node) (NodeState, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	x, ok := m.mu.nodes[n]
	if !ok || m.mu.closed {
		return NodeState{FirstIndex: 1}, false
	}
	return x.nodeState(), true
}

func (m *memoryLog) Stats(n Node) Stats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	x, ok := m.mu.nodes[n]
	if !ok || m.mu.closed {
		return Stats{FirstIndex: 1}
	}
	return x.stats()
}

func (m *memoryLog) Nodes() []Node {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ns := make([]Node, 0, len(m.mu.nodes))
	for n := range m.mu.nodes {
		ns = append(ns, n)
	}
	return ns
}

func (m *memoryLog) Reclaim() error { return nil }

func (m *memoryLog) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.closed = true
	m.mu.nodes = nil
	return nil
}
