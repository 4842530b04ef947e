package meta

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// ShardID is the dragonboat shard id of the meta shard.
const ShardID uint64 = 1

// maxSnapshotBytes bounds a snapshot read back (the state is small; a
// larger one is corrupt).
const maxSnapshotBytes = 256 << 20

// StateMachine is the meta shard's state machine (dragonboat IStateMachine).
//
// Its state is never modified once published: Update applies a command to
// a copy and publishes the copy if the command changed something, so that
// Lookup hands out the state itself — read on every heartbeat by the meta
// leader, which once cloned it each time — and readers share it.
type StateMachine struct {
	mu    sync.RWMutex
	state *odgmv1.ClusterState
}

// New returns the state machine factory for dragonboat's StartReplica.
func New(shardID, replicaID uint64) sm.IStateMachine {
	return &StateMachine{state: &odgmv1.ClusterState{}}
}

// Update applies one MetaCommand; the result's Data is a MetaResult.
func (m *StateMachine) Update(e sm.Entry) (sm.Result, error) {
	var cmd odgmv1.MetaCommand
	res := &odgmv1.MetaResult{}
	m.mu.Lock()
	if err := proto.Unmarshal(e.Cmd, &cmd); err != nil {
		res.Message = "undecodable meta command: " + err.Error()
	} else {
		next := proto.Clone(m.state).(*odgmv1.ClusterState)
		apply(next, &cmd, res)
		if next.GetVersion() != m.state.GetVersion() {
			m.state = next
		}
	}
	res.Version = m.state.GetVersion()
	m.mu.Unlock()
	data, err := proto.Marshal(res)
	if err != nil {
		return sm.Result{}, err
	}
	return sm.Result{Value: 1, Data: data}, nil
}

// apply applies cmd to st, or nothing, filling res.
func apply(st *odgmv1.ClusterState, cmd *odgmv1.MetaCommand, res *odgmv1.MetaResult) {
	if cmd.ExpectedVersion != nil && cmd.GetExpectedVersion() != st.GetVersion() {
		res.Message = fmt.Sprintf("expected version %d, state is at %d", cmd.GetExpectedVersion(), st.GetVersion())
		return
	}
	if err := Check(cmd); err != nil {
		res.Message = err.Error()
		return
	}
	var newClasses []*odgmv1.ClassSpec
	for _, c := range cmd.GetCreateClasses() {
		if old := FindClass(st, c.GetName()); old != nil || slices.ContainsFunc(newClasses, func(n *odgmv1.ClassSpec) bool { return n.GetName() == c.GetName() }) {
			if old != nil && !SameShape(old, c) {
				res.Message = fmt.Sprintf("class %q exists with another shape", c.GetName())
				res.ClassExists = true
				return
			}
			continue
		}
		newClasses = append(newClasses, proto.Clone(c).(*odgmv1.ClassSpec))
	}
	changed := len(newClasses) > 0
	st.Classes = append(st.Classes, newClasses...)
	slices.SortFunc(st.Classes, func(a, b *odgmv1.ClassSpec) int { return cmp.Compare(a.GetName(), b.GetName()) })
	for _, n := range cmd.GetPutNodes() {
		changed = putByID(&st.Nodes, proto.Clone(n).(*odgmv1.NodeInfo), (*odgmv1.NodeInfo).GetNodeId) || changed
	}
	for _, s := range cmd.GetPutShards() {
		changed = putByID(&st.Shards, proto.Clone(s).(*odgmv1.ShardPlacement), (*odgmv1.ShardPlacement).GetShardId) || changed
	}
	for _, id := range cmd.GetRemoveNodes() {
		if i := slices.IndexFunc(st.Nodes, func(n *odgmv1.NodeInfo) bool { return n.GetNodeId() == id }); i >= 0 {
			st.Nodes = slices.Delete(st.Nodes, i, i+1)
			changed = true
		}
	}
	if changed {
		st.Version++
	}
	res.Applied = true
}

// putByID replaces the element with v's id or inserts v in id order; it
// reports whether anything changed.
func putByID[T proto.Message](list *[]T, v T, id func(T) uint64) bool {
	i, found := slices.BinarySearchFunc(*list, id(v), func(e T, k uint64) int { return cmp.Compare(id(e), k) })
	if found {
		if proto.Equal((*list)[i], v) {
			return false
		}
		(*list)[i] = v
		return true
	}
	*list = slices.Insert(*list, i, v)
	return true
}

// Check reports what is structurally wrong with cmd (zero ids, replicas
// without nodes, duplicate replica ids): such a command is refused whole.
func Check(cmd *odgmv1.MetaCommand) error {
	var errs []error
	for _, n := range cmd.GetPutNodes() {
		if n.GetNodeId() == 0 || n.GetRaftAddress() == "" {
			errs = append(errs, fmt.Errorf("node %d: id and raft address are required", n.GetNodeId()))
		}
	}
	for _, c := range cmd.GetCreateClasses() {
		if c.GetName() == "" || c.GetPartitions() == 0 || c.GetReplicas() == 0 {
			errs = append(errs, fmt.Errorf("class %q: name, partitions and replicas are required", c.GetName()))
		}
	}
	for _, s := range cmd.GetPutShards() {
		seen := map[uint64]bool{}
		nodes := map[uint64]bool{}
		for _, r := range s.GetReplicas() {
			if r.GetReplicaId() == 0 || r.GetNodeId() == 0 || seen[r.GetReplicaId()] || nodes[r.GetNodeId()] || r.GetReplicaId() >= s.GetNextReplicaId() {
				errs = append(errs, fmt.Errorf("shard %d: replica %d on node %d: ids must be set, unique, below next_replica_id, one replica per node",
					s.GetShardId(), r.GetReplicaId(), r.GetNodeId()))
			}
			seen[r.GetReplicaId()], nodes[r.GetNodeId()] = true, true
		}
		if s.GetShardId() == 0 {
			errs = append(errs, errors.New("shard id 0"))
		}
	}
	return errors.Join(errs...)
}

// SameShape reports whether two class specs describe the same class
// (name, partitions, replicas, indexes).
func SameShape(a, b *odgmv1.ClassSpec) bool {
	return a.GetName() == b.GetName() && a.GetPartitions() == b.GetPartitions() && a.GetReplicas() == b.GetReplicas() &&
		slices.EqualFunc(a.GetIndexes(), b.GetIndexes(), func(x, y *odgmv1.IndexSpec) bool { return proto.Equal(x, y) })
}

// FindClass returns the class named name, or nil.
func FindClass(st *odgmv1.ClusterState, name string) *odgmv1.ClassSpec {
	for _, c := range st.GetClasses() {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

// FindNode returns the node with id, or nil.
func FindNode(st *odgmv1.ClusterState, id uint64) *odgmv1.NodeInfo {
	i, ok := slices.BinarySearchFunc(st.GetNodes(), id, func(n *odgmv1.NodeInfo, k uint64) int { return cmp.Compare(n.GetNodeId(), k) })
	if !ok {
		return nil
	}
	return st.GetNodes()[i]
}

// FindShard returns the placement of shard id, or nil.
func FindShard(st *odgmv1.ClusterState, id uint64) *odgmv1.ShardPlacement {
	i, ok := slices.BinarySearchFunc(st.GetShards(), id, func(s *odgmv1.ShardPlacement, k uint64) int { return cmp.Compare(s.GetShardId(), k) })
	if !ok {
		return nil
	}
	return st.GetShards()[i]
}

// Lookup returns the state (the query is ignored). It is shared and never
// modified: callers must not modify it either.
func (m *StateMachine) Lookup(any) (any, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state, nil
}

// SaveSnapshot writes the state as one protobuf.
func (m *StateMachine) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	m.mu.RLock()
	data, err := proto.Marshal(m.state)
	m.mu.RUnlock()
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// RecoverFromSnapshot replaces the state by a snapshot's.
func (m *StateMachine) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	data, err := io.ReadAll(io.LimitReader(r, maxSnapshotBytes+1))
	if err != nil {
		return err
	}
	if len(data) > maxSnapshotBytes {
		return fmt.Errorf("meta: snapshot over %d bytes", maxSnapshotBytes)
	}
	st := &odgmv1.ClusterState{}
	if err := proto.Unmarshal(data, st); err != nil {
		return fmt.Errorf("meta: snapshot: %w", err)
	}
	m.mu.Lock()
	m.state = st
	m.mu.Unlock()
	return nil
}

// Close does nothing.
func (m *StateMachine) Close() error { return nil }
