package shards

import (
	"context"
	"errors"
	"fmt"

	"github.com/lni/dragonboat/v4"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// StartRegularReplica starts a replica of a shard whose state machine is a
// regular (in-memory) dragonboat state machine made by create, such as the
// cluster's meta shard. members and join are as for StartReplica; cfg
// gives the Raft settings (its Class, Indexes and app settings are not
// used). Health reports it like any replica (without app-layer figures);
// Propose and Read do not apply (use NodeHost directly).
func (h *Host) StartRegularReplica(shardID, replicaID uint64, members map[uint64]string, join bool, cfg Config, create sm.CreateStateMachineFunc) error {
	cfg.EnsureDefaults()
	return h.start(shardID, replicaID, members, join, cfg, func(_ *replica, targets map[uint64]dragonboat.Target) error {
		return h.nh.StartReplica(targets, join, create, cfg.RaftConfig(shardID, replicaID))
	})
}

// ReplicaID returns the id of the shard's replica on this host, if one
// runs.
func (h *Host) ReplicaID(shardID uint64) (uint64, bool) {
	r, ok := h.replica(shardID)
	if !ok {
		return 0, false
	}
	return r.replicaID, true
}

// RunningShards lists the shards with a replica started on this host.
func (h *Host) RunningShards() map[uint64]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[uint64]uint64, len(h.mu.replicas))
	for id, r := range h.mu.replicas {
		out[id] = r.replicaID
	}
	return out
}

// RemoveReplica deletes the replica replicaID of shardID from this host
// for good: it stops it if it runs, then removes its Raft state and its
// app store. Used when the replica was removed from the shard's membership
// (moved to another node, or replaced while this node was away): dragonboat
// never lets that replica id take part again.
func (h *Host) RemoveReplica(ctx context.Context, shardID, replicaID uint64) error {
	if r, ok := h.replica(shardID); ok && r.replicaID == replicaID {
		// Not started here, or already unloaded by dragonboat (a removed
		// replica stops itself): nothing to stop.
		if err := h.StopReplica(shardID); err != nil && !errors.Is(err, ErrNotStarted) && !errors.Is(err, dragonboat.ErrShardNotFound) {
			return err
		}
	}
	if err := h.removeRaftData(ctx, shardID, replicaID); err != nil {
		return fmt.Errorf("shards: remove shard %d replica %d: %w", shardID, replicaID, err)
	}
	if err := h.cfg.Storage.RemoveApp(AppStoreName(shardID, replicaID)); err != nil {
		return fmt.Errorf("shards: remove shard %d replica %d app store: %w", shardID, replicaID, err)
	}
	return nil
}

// LeaderID returns the replica id of the shard's leader as this host's
// replica knows it (0 if none, or no replica here). Unlike Health it
// reads nothing else: cheap enough for every request's routing.
func (h *Host) LeaderID(shardID uint64) uint64 {
	if _, ok := h.replica(shardID); !ok {
		return 0
	}
	leader, _, valid, err := h.nh.GetLeaderID(shardID)
	if err != nil || !valid {
		return 0
	}
	return leader
}
