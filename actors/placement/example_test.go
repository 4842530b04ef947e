package placement_test

import (
	"fmt"
	"strings"

	"github.com/odgm-go/odgm/actors/placement"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

func Example() {
	cfg := placement.Config{
		ShardID: func(class string, partition int) uint64 { return 100 + uint64(partition) },
	}
	state := &odgmv1.ClusterState{
		Version: 3,
		Nodes:   []*odgmv1.NodeInfo{{NodeId: 1}, {NodeId: 2}, {NodeId: 3}, {NodeId: 4}},
		Classes: []*odgmv1.ClassSpec{{Name: "counter", Partitions: 2, Replicas: 3}},
	}
	alive := map[uint64]bool{1: true, 2: true, 3: true, 4: true}

	// A new class: its shards are placed on the least-loaded nodes.
	d := placement.Plan(placement.Input{State: state, Alive: alive, Config: cfg})
	printDecision(d)

	// The meta shard applies the change; the nodes start the replicas.
	state.Shards = d.Change.GetPutShards()
	state.Version++

	// Node 2 goes silent; the others report their replicas.
	alive[2] = false
	reports := map[uint64][]*odgmv1.ReplicaReport{
		1: {
			{ShardId: 100, ReplicaId: 1, IsLeader: true, Term: 1, AppliedIndex: 42, Members: []uint64{1, 2, 3}},
			{ShardId: 101, ReplicaId: 2, Term: 1, AppliedIndex: 17},
		},
		3: {{ShardId: 100, ReplicaId: 3, Term: 1, AppliedIndex: 42}},
		4: {{ShardId: 101, ReplicaId: 1, IsLeader: true, Term: 1, AppliedIndex: 17, Members: []uint64{1, 2, 3}}},
	}
	d = placement.Plan(placement.Input{State: state, Alive: alive, Reports: reports, Config: cfg})
	printDecision(d)

	// Each shard with a replica on node 2 gets a JOINING replica on the
	// least-loaded node without one, added to its Raft group by its leader.
	// Once it has caught up, a later Plan makes it ACTIVE, then retires the
	// replica on node 2.

	// Output:
	// version 3: shard 100: r1@n1 INITIAL, r2@n2 INITIAL, r3@n3 INITIAL
	// version 3: shard 101: r1@n4 INITIAL, r2@n1 INITIAL, r3@n2 INITIAL
	// version 4: shard 100: r1@n1 INITIAL, r2@n2 INITIAL, r3@n3 INITIAL, r4@n4 JOINING
	// version 4: shard 101: r1@n4 INITIAL, r2@n1 INITIAL, r3@n2 INITIAL, r4@n3 JOINING
	// on node 1: shard 100 ADD_REPLICA replica 4 (node 4)
	// on node 4: shard 101 ADD_REPLICA replica 4 (node 3)
}

func printDecision(d placement.Decision) {
	for _, sp := range d.Change.GetPutShards() {
		var rs []string
		for _, r := range sp.GetReplicas() {
			state := strings.TrimPrefix(r.GetState().String(), "REPLICA_STATE_")
			rs = append(rs, fmt.Sprintf("r%d@n%d %s", r.GetReplicaId(), r.GetNodeId(), state))
		}
		fmt.Printf("version %d: shard %d: %s\n", d.Change.GetExpectedVersion(), sp.GetShardId(), strings.Join(rs, ", "))
	}
	for _, a := range d.Membership {
		op := strings.TrimPrefix(a.Op.String(), "MEMBERSHIP_OP_")
		fmt.Printf("on node %d: shard %d %s replica %d (node %d)\n", a.Via, a.ShardID, op, a.ReplicaID, a.NodeID)
	}
}
