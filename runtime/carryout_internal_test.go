package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/odgm-go/odgm/actors/meta"
	"github.com/odgm-go/odgm/actors/placement"
	"github.com/odgm-go/odgm/internal/loopback"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"google.golang.org/protobuf/proto"
)

// TestStaleDecisionAddsNoMember: the meta leader plans growing the meta
// shard (a JOINING replica and its ADD_REPLICA) while a joining node's
// heartbeat registers it; the planned change then fails on its expected
// version. Its ADD must not be carried out: a one-member meta shard with a
// second member that no node starts has no quorum, for good (seen in CI:
// the meta shard stuck at one replica, members {1, 2}).
func TestStaleDecisionAddsNoMember(t *testing.T) {
	addrs, err := loopback.Addrs(3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{
		DataDir: t.TempDir(), NodeID: 1, RTTMillisecond: 5, Bootstrap: true,
		RaftAddress: addrs[0], RemoteAddress: addrs[1], HeartbeatInterval: 50 * time.Millisecond,
		// The node's own supervisor plans no growth: the test plays it.
		Placement: PlacementConfig{MetaReplicas: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	c := n.cl
	var st *odgmv1.ClusterState
	for st == nil || meta.FindShard(st, meta.ShardID) == nil {
		if ctx.Err() != nil {
			t.Fatal("the cluster was never bootstrapped")
		}
		time.Sleep(20 * time.Millisecond)
		if s, err := c.metaState(); err == nil {
			st = s
		}
	}
	grown := proto.Clone(meta.FindShard(st, meta.ShardID)).(*odgmv1.ShardPlacement)
	grown.Replicas = append(grown.Replicas, &odgmv1.ReplicaPlacement{
		ReplicaId: 2, NodeId: 2, State: odgmv1.ReplicaState_REPLICA_STATE_JOINING})
	grown.NextReplicaId = 3
	stale := st.GetVersion() - 1 // the state moved on since the plan
	d := placement.Decision{
		Change: &odgmv1.MetaCommand{ExpectedVersion: &stale, PutShards: []*odgmv1.ShardPlacement{grown}},
		Membership: []placement.Action{{ShardID: meta.ShardID, Op: odgmv1.MembershipOp_MEMBERSHIP_OP_ADD_REPLICA,
			ReplicaID: 2, NodeID: 2, Via: 1}},
	}
	// Node 2 is known to the state, so an ADD carried out would have its
	// address.
	v := st.GetVersion()
	if res, err := c.proposeMeta(&odgmv1.MetaCommand{ExpectedVersion: &v, PutNodes: []*odgmv1.NodeInfo{{
		NodeId: 2, RaftAddress: addrs[2], RemoteAddress: "127.0.0.1:1"}}}); err != nil || !res.GetApplied() {
		t.Fatalf("registering node 2: %v %v", err, res.GetMessage())
	}
	if st, err = c.metaState(); err != nil {
		t.Fatal(err)
	}
	c.carryOut(st, d)
	// An ADD carried out would run on a goroutine of its own: watch the
	// membership for a while.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := n.host.NodeHost().SyncGetShardMembership(mctx, meta.ShardID)
		mcancel()
		if err != nil {
			t.Fatalf("meta shard membership: %v (a member was added that never starts: no quorum)", err)
		}
		if len(m.Nodes) != 1 {
			t.Fatalf("meta shard members %v after a stale decision; want replica 1 alone", m.Nodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _ = c.metaState(); len(meta.FindShard(st, meta.ShardID).GetReplicas()) != 1 {
		t.Fatalf("the stale change was applied: %v", meta.FindShard(st, meta.ShardID))
	}
}
