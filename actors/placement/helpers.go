package placement

import (
	"cmp"
	"slices"

	"github.com/odgm-go/odgm/actors/meta"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// Shorter names for the enum values used throughout.
const (
	stateInitial = odgmv1.ReplicaState_REPLICA_STATE_INITIAL
	stateJoining = odgmv1.ReplicaState_REPLICA_STATE_JOINING
	stateActive  = odgmv1.ReplicaState_REPLICA_STATE_ACTIVE
	stateLeaving = odgmv1.ReplicaState_REPLICA_STATE_LEAVING

	opAdd      = odgmv1.MembershipOp_MEMBERSHIP_OP_ADD_REPLICA
	opRemove   = odgmv1.MembershipOp_MEMBERSHIP_OP_REMOVE_REPLICA
	opTransfer = odgmv1.MembershipOp_MEMBERSHIP_OP_TRANSFER_LEADER
)

// CaughtUp reports whether a replica in state s counts as caught up: INITIAL
// (a founding member) or ACTIVE.
func CaughtUp(s odgmv1.ReplicaState) bool {
	return s == stateInitial || s == stateActive
}

// Load returns how many replicas, in any state, each node hosts. Every node
// of state.Nodes is in the map (0 when it hosts none), and so is every node
// that hosts a replica. The map is the caller's.
func Load(state *odgmv1.ClusterState) map[uint64]int {
	load := make(map[uint64]int, len(state.GetNodes()))
	for _, n := range state.GetNodes() {
		load[n.GetNodeId()] += 0
	}
	for _, sp := range state.GetShards() {
		for _, r := range sp.GetReplicas() {
			load[r.GetNodeId()]++
		}
	}
	return load
}

// ReplicaOn returns the replica of sp on the node, in any state, or nil. It
// is sp's own message: do not modify it.
func ReplicaOn(sp *odgmv1.ShardPlacement, nodeID uint64) *odgmv1.ReplicaPlacement {
	for _, r := range sp.GetReplicas() {
		if r.GetNodeId() == nodeID {
			return r
		}
	}
	return nil
}

// Replica returns the replica of sp with the given replica id, or nil.
func Replica(sp *odgmv1.ShardPlacement, replicaID uint64) *odgmv1.ReplicaPlacement {
	for _, r := range sp.GetReplicas() {
		if r.GetReplicaId() == replicaID {
			return r
		}
	}
	return nil
}

// Hosted is one replica a node should run.
type Hosted struct {
	Shard   *odgmv1.ShardPlacement
	Replica *odgmv1.ReplicaPlacement
}

// ReplicasOn returns the replicas, in any state, that the node should run,
// ordered by shard id. A node starts an INITIAL replica with the shard's
// InitialMembers, a JOINING one as a joining replica, and keeps an ACTIVE or
// LEAVING one running; a replica missing from the list is stopped. The
// messages are state's own: do not modify them.
func ReplicasOn(state *odgmv1.ClusterState, nodeID uint64) []Hosted {
	var out []Hosted
	for _, sp := range state.GetShards() {
		if r := ReplicaOn(sp, nodeID); r != nil {
			out = append(out, Hosted{Shard: sp, Replica: r})
		}
	}
	slices.SortStableFunc(out, func(a, b Hosted) int {
		return cmp.Compare(a.Shard.GetShardId(), b.Shard.GetShardId())
	})
	return out
}

// InitialMembers returns replica id → node id of sp's INITIAL replicas: the
// members a founding replica starts its Raft group with.
func InitialMembers(sp *odgmv1.ShardPlacement) map[uint64]uint64 {
	m := make(map[uint64]uint64)
	for _, r := range sp.GetReplicas() {
		if r.GetState() == stateInitial {
			m[r.GetReplicaId()] = r.GetNodeId()
		}
	}
	return m
}

// DesiredReplicas returns how many caught-up replicas sp should have: its
// class's replicas, or for the meta shard min(cfg.MetaReplicas, number of
// nodes in state). ok is false when sp's class is not in state.Classes.
func DesiredReplicas(state *odgmv1.ClusterState, sp *odgmv1.ShardPlacement, cfg Config) (n int, ok bool) {
	if sp.GetShardId() == MetaShardID && sp.GetClass() == "" {
		want := cfg.MetaReplicas
		if want <= 0 {
			want = DefaultMetaReplicas
		}
		return min(want, len(state.GetNodes())), true
	}
	if c := meta.FindClass(state, sp.GetClass()); c != nil {
		return int(c.GetReplicas()), true
	}
	return 0, false
}

// LeaderReport returns the report of the shard's leader and the node that
// sent it, or (0, nil) when no node reports leading the shard. When several
// do (a stale leader has not yet learnt of a newer term), the highest term
// wins, then the lowest node id. Pass the reports of alive nodes only.
func LeaderReport(shardID uint64, reports map[uint64][]*odgmv1.ReplicaReport) (nodeID uint64, r *odgmv1.ReplicaReport) {
	for node, rs := range reports {
		for _, rep := range rs {
			if rep.GetShardId() != shardID || !rep.GetIsLeader() {
				continue
			}
			if leads(node, rep, nodeID, r) {
				nodeID, r = node, rep
			}
		}
	}
	return nodeID, r
}

// Leaders returns shard id → the node of its leader for every shard some
// node reports leading, by LeaderReport's rule, in one pass. Pass the
// reports of alive nodes only. The map is the caller's.
func Leaders(reports map[uint64][]*odgmv1.ReplicaReport) map[uint64]uint64 {
	type best struct {
		node uint64
		r    *odgmv1.ReplicaReport
	}
	bests := map[uint64]best{}
	for node, rs := range reports {
		for _, rep := range rs {
			if b := bests[rep.GetShardId()]; rep.GetIsLeader() && leads(node, rep, b.node, b.r) {
				bests[rep.GetShardId()] = best{node, rep}
			}
		}
	}
	out := make(map[uint64]uint64, len(bests))
	for sid, b := range bests {
		out[sid] = b.node
	}
	return out
}

// leads reports whether node's leader report rep wins over cur, the best
// so far (nil: none) from curNode: a higher term, then a lower node id.
func leads(node uint64, rep *odgmv1.ReplicaReport, curNode uint64, cur *odgmv1.ReplicaReport) bool {
	return cur == nil || rep.GetTerm() > cur.GetTerm() || (rep.GetTerm() == cur.GetTerm() && node < curNode)
}

// LeaderNode returns the node of sp's reported leader (see LeaderReport);
// ok is false when no node reports leading it.
func LeaderNode(sp *odgmv1.ShardPlacement, reports map[uint64][]*odgmv1.ReplicaReport) (nodeID uint64, ok bool) {
	nodeID, r := LeaderReport(sp.GetShardId(), reports)
	return nodeID, r != nil
}
