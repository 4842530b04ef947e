package runtime

import (
	"context"
	"sync"
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
	n, addrs, st := startBootstrapped(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := n.cl
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
		NodeId: 2, RaftAddress: addrs[0], RemoteAddress: "127.0.0.1:1"}}}); err != nil || !res.GetApplied() {
		t.Fatalf("registering node 2: %v %v", err, res.GetMessage())
	}
	st, err := c.metaState()
	if err != nil {
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

// startBootstrapped starts a one-node dynamic cluster whose own placement
// supervisor plans no growth, and waits for its bootstrap. It returns the
// node, a free address, and the bootstrapped state.
func startBootstrapped(t *testing.T) (*Node, []string, *odgmv1.ClusterState) {
	t.Helper()
	addrs, err := loopback.Addrs(3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{
		DataDir: t.TempDir(), NodeID: 1, RTTMillisecond: 5, Bootstrap: true,
		RaftAddress: addrs[0], RemoteAddress: addrs[1], HeartbeatInterval: 50 * time.Millisecond,
		// The node's own supervisor plans no growth: the tests play it.
		Placement: PlacementConfig{MetaReplicas: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(context.Background()) })
	for {
		if st, err := n.cl.metaState(); err == nil && meta.FindShard(st, meta.ShardID) != nil {
			return n, addrs[2:], st
		}
		if ctx.Err() != nil {
			t.Fatal("the cluster was never bootstrapped")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRefreshShared: callers that ask for the cluster's state together
// (requests naming a class this node does not know) share exchanges with
// the meta leader instead of making one each, one after the other.
func TestRefreshShared(t *testing.T) {
	n, _, _ := startBootstrapped(t)
	before := n.cl.refreshes.Load()
	// An exchange in progress (the lock held) while 32 callers arrive:
	// here a local one is too quick for callers to overlap by themselves.
	n.cl.refreshMu.Lock()
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.cl.refresh()
		}()
	}
	time.Sleep(100 * time.Millisecond) // every caller is waiting for the lock
	n.cl.refreshMu.Unlock()
	wg.Wait()
	if got := n.cl.refreshes.Load() - before; got != 1 {
		t.Fatalf("32 callers arriving together made %d exchanges, want 1", got)
	}
}
