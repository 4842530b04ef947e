package shards

import "github.com/odgm-go/odgm/storage/raftlog"

// State is a shard replica's state as health reports it.
type State string

// Replica states.
const (
	// StateStarting: the replica runs but knows no leader yet.
	StateStarting State = "starting"
	StateFollower State = "follower"
	StateLeader   State = "leader"
	// StateCatchingUp: the replica is loading a snapshot streamed from the
	// leader.
	StateCatchingUp State = "catching-up"
	// StateStopped: no replica of the shard runs on this host.
	StateStopped State = "stopped"
)

// Health is one shard replica's report.
type Health struct {
	ShardID, ReplicaID uint64
	State              State
	LeaderID, Term     uint64
	AppliedIndex       uint64
	// Log layer: entries held and their encoded bytes (0 for the pebble
	// and tan backends, which do not report them), and the log's range.
	LogEntries, LogBytes        uint64
	LogFirstIndex, LogLastIndex uint64
	// Snapshot layer: the index of the latest Raft snapshot (for an
	// on-disk state machine, metadata only), and the index and size of the
	// last snapshot this replica streamed or exported.
	LastSnapshotIndex                   uint64
	LastStreamedIndex, LastStreamedSize uint64
	// App layer: keys and bytes of the replica's app store.
	AppKeys, AppBytes int64
}

// Health reports the shard's replica on this host. It never blocks on Raft.
func (h *Host) Health(shardID uint64) Health {
	r, ok := h.replica(shardID)
	if !ok {
		return Health{ShardID: shardID, State: StateStopped}
	}
	out := Health{ShardID: shardID, ReplicaID: r.replicaID, State: StateStarting}
	if leader, term, valid, err := h.nh.GetLeaderID(shardID); err == nil && valid {
		out.LeaderID, out.Term = leader, term
		out.State = StateFollower
		if leader == r.replicaID {
			out.State = StateLeader
		}
	}
	if m := r.sm.Load(); m != nil {
		out.AppliedIndex = m.AppliedIndex()
		if m.recovering.Load() {
			out.State = StateCatchingUp
		}
		out.LastStreamedIndex, out.LastStreamedSize = m.lastSnapshotIndex.Load(), m.lastSnapshotSize.Load()
		if st := m.opened.Load(); st != nil {
			if st, err := (*st).Stats(); err == nil {
				out.AppKeys, out.AppBytes = st.Keys, st.Bytes
			}
		}
	}
	if l := h.logs.Load(); l != nil {
		st := l.Store().Stats(raftlog.Node{ShardID: shardID, ReplicaID: r.replicaID})
		out.LogEntries, out.LogBytes = st.Entries, st.Bytes
		out.LogFirstIndex, out.LogLastIndex = st.FirstIndex, st.LastIndex
	}
	if lr, err := h.nh.GetLogReader(shardID); err == nil {
		out.LastSnapshotIndex = lr.Snapshot().Index
		if out.LogFirstIndex == 0 {
			out.LogFirstIndex, out.LogLastIndex = lr.GetRange()
		}
	}
	return out
}
