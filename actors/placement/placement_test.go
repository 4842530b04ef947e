package placement_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	metasm "github.com/odgm-go/odgm/actors/meta"
	"github.com/odgm-go/odgm/actors/placement"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

const (
	initial = odgmv1.ReplicaState_REPLICA_STATE_INITIAL
	joining = odgmv1.ReplicaState_REPLICA_STATE_JOINING
	active  = odgmv1.ReplicaState_REPLICA_STATE_ACTIVE
	leaving = odgmv1.ReplicaState_REPLICA_STATE_LEAVING

	add      = odgmv1.MembershipOp_MEMBERSHIP_OP_ADD_REPLICA
	remove   = odgmv1.MembershipOp_MEMBERSHIP_OP_REMOVE_REPLICA
	transfer = odgmv1.MembershipOp_MEMBERSHIP_OP_TRANSFER_LEADER
)

// shardID numbers class "a" partitions from 100, "b" from 200, others 300.
func shardID(class string, p int) uint64 {
	switch class {
	case "a":
		return 100 + uint64(p)
	case "b":
		return 200 + uint64(p)
	}
	return 300 + uint64(p)
}

func rp(id, node uint64, s odgmv1.ReplicaState) *odgmv1.ReplicaPlacement {
	return &odgmv1.ReplicaPlacement{ReplicaId: id, NodeId: node, State: s}
}

func sh(id uint64, class string, next uint64, rs ...*odgmv1.ReplicaPlacement) *odgmv1.ShardPlacement {
	part := uint32(0)
	if id >= 100 {
		part = uint32(id % 100)
	}
	return &odgmv1.ShardPlacement{ShardId: id, Class: class, Partition: part, Replicas: rs, NextReplicaId: next}
}

func meta(next uint64, rs ...*odgmv1.ReplicaPlacement) *odgmv1.ShardPlacement {
	return sh(placement.MetaShardID, "", next, rs...)
}

func class(name string, partitions, replicas uint32) *odgmv1.ClassSpec {
	return &odgmv1.ClassSpec{Name: name, Partitions: partitions, Replicas: replicas}
}

// cluster builds a state as the meta shard keeps it: shards ordered by id.
func cluster(nodes []uint64, classes []*odgmv1.ClassSpec, shards ...*odgmv1.ShardPlacement) *odgmv1.ClusterState {
	slices.SortFunc(shards, func(a, b *odgmv1.ShardPlacement) int { return cmp.Compare(a.GetShardId(), b.GetShardId()) })
	s := &odgmv1.ClusterState{Version: 7, Classes: classes, Shards: shards}
	for _, n := range nodes {
		s.Nodes = append(s.Nodes, &odgmv1.NodeInfo{NodeId: n, RaftAddress: fmt.Sprintf("n%d:1", n)})
	}
	return s
}

func nodes(ids ...uint64) []uint64 { return ids }

func alive(ids ...uint64) map[uint64]bool {
	m := make(map[uint64]bool)
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// reps builds heartbeat reports.
type reps map[uint64][]*odgmv1.ReplicaReport

func (r reps) lead(node, shard, replica, applied uint64, members ...uint64) reps {
	r[node] = append(r[node], &odgmv1.ReplicaReport{
		ShardId: shard, ReplicaId: replica, LeaderReplicaId: replica, Term: 2,
		AppliedIndex: applied, Members: members, IsLeader: true,
	})
	return r
}

func (r reps) follow(node, shard, replica, applied uint64) reps {
	r[node] = append(r[node], &odgmv1.ReplicaReport{ShardId: shard, ReplicaId: replica, Term: 2, AppliedIndex: applied})
	return r
}

// settled reports a shard whose replica i+1 is on nodes[i], led by the first.
func (r reps) settled(shard uint64, nodes ...uint64) reps {
	var members []uint64
	for i := range nodes {
		members = append(members, uint64(i)+1)
	}
	r.lead(nodes[0], shard, 1, 1000, members...)
	for i, n := range nodes[1:] {
		r.follow(n, shard, uint64(i)+2, 1000)
	}
	return r
}

// settledShard is the placement matching reps.settled.
func settledShard(id uint64, class string, nodes ...uint64) *odgmv1.ShardPlacement {
	sp := sh(id, class, uint64(len(nodes))+1)
	for i, n := range nodes {
		sp.Replicas = append(sp.Replicas, rp(uint64(i)+1, n, active))
	}
	return sp
}

func cfg() placement.Config { return placement.Config{ShardID: shardID} }

type planCase struct {
	name string
	in   placement.Input
	put  []*odgmv1.ShardPlacement // nil: no change
	acts []placement.Action
}

func runCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := proto.Clone(tc.in.State)
			d := placement.Plan(tc.in)
			if !proto.Equal(before, tc.in.State) {
				t.Fatalf("Plan modified its input state")
			}
			checkDecision(t, tc.in, d)
			if again := placement.Plan(tc.in); !sameDecision(d, again) {
				t.Fatalf("Plan is not idempotent:\n%s\nthen\n%s", show(d), show(again))
			}
			var got []*odgmv1.ShardPlacement
			if d.Change != nil {
				got = d.Change.GetPutShards()
			}
			if len(got) != len(tc.put) || !slices.EqualFunc(got, tc.put, func(a, b *odgmv1.ShardPlacement) bool { return proto.Equal(a, b) }) {
				t.Errorf("put_shards:\n got %v\nwant %v", got, tc.put)
			}
			if !slices.Equal(d.Membership, tc.acts) {
				t.Errorf("membership:\n got %+v\nwant %+v", d.Membership, tc.acts)
			}
			if d.Empty() != (len(tc.put) == 0 && len(tc.acts) == 0) {
				t.Errorf("Empty() = %v", d.Empty())
			}
		})
	}
}

// checkDecision checks rule 9: one conditional MetaCommand, each shard put
// at most once and given at most one membership action.
func checkDecision(t *testing.T, in placement.Input, d placement.Decision) {
	t.Helper()
	if d.Change != nil {
		if d.Change.ExpectedVersion == nil || d.Change.GetExpectedVersion() != in.State.GetVersion() {
			t.Fatalf("expected_version = %v, want %d", d.Change.ExpectedVersion, in.State.GetVersion())
		}
		if len(d.Change.GetPutShards()) == 0 {
			t.Fatalf("a Change without put_shards")
		}
		seen := map[uint64]bool{}
		for _, sp := range d.Change.GetPutShards() {
			if seen[sp.GetShardId()] {
				t.Fatalf("shard %d put twice", sp.GetShardId())
			}
			seen[sp.GetShardId()] = true
		}
	}
	seen := map[uint64]bool{}
	for _, a := range d.Membership {
		if seen[a.ShardID] {
			t.Fatalf("shard %d given two actions: %+v", a.ShardID, d.Membership)
		}
		seen[a.ShardID] = true
		if a.Via == 0 || !in.Alive[a.Via] {
			t.Fatalf("action %+v is not via an alive node", a)
		}
	}
}

func sameDecision(a, b placement.Decision) bool {
	return proto.Equal(a.Change, b.Change) && slices.Equal(a.Membership, b.Membership)
}

func show(d placement.Decision) string {
	return fmt.Sprintf("change=%v membership=%+v", d.Change, d.Membership)
}

func TestRule1InitialPlacement(t *testing.T) {
	runCases(t, []planCase{
		{
			name: "least loaded first, ties to lowest id, counting this decision",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3), []*odgmv1.ClassSpec{class("a", 2, 2)}),
				Alive: alive(1, 2, 3), Config: cfg(),
			},
			put: []*odgmv1.ShardPlacement{
				sh(100, "a", 3, rp(1, 1, initial), rp(2, 2, initial)),
				sh(101, "a", 3, rp(1, 3, initial), rp(2, 1, initial)),
			},
		},
		{
			name: "existing replicas count as load",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3), []*odgmv1.ClassSpec{class("b", 1, 2), class("a", 1, 2)}, settledShard(200, "b", 1, 2)),
				Alive:   alive(1, 2, 3),
				Reports: reps{}.settled(200, 1, 2),
				Config:  cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 3, rp(1, 3, initial), rp(2, 1, initial))},
		},
		{
			name: "dead nodes get nothing",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3), []*odgmv1.ClassSpec{class("a", 1, 2)}),
				Alive: map[uint64]bool{1: true, 2: false, 3: true}, Config: cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 3, rp(1, 1, initial), rp(2, 3, initial))},
		},
		{
			name: "fewer alive nodes than replicas: nothing yet",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3), []*odgmv1.ClassSpec{class("a", 4, 3)}),
				Alive: alive(1, 2), Config: cfg(),
			},
		},
		{
			name: "only missing partitions",
			in: placement.Input{
				State:   cluster(nodes(1, 2), []*odgmv1.ClassSpec{class("a", 2, 1)}, settledShard(100, "a", 1)),
				Alive:   alive(1, 2),
				Reports: reps{}.settled(100, 1),
				Config:  cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(101, "a", 2, rp(1, 2, initial))},
		},
		{
			name: "no ShardID function: nothing placed",
			in: placement.Input{
				State: cluster(nodes(1, 2), []*odgmv1.ClassSpec{class("a", 2, 1)}),
				Alive: alive(1, 2),
			},
		},
		{
			name: "a shard id colliding with the meta shard is skipped",
			in: placement.Input{
				State: cluster(nodes(1), []*odgmv1.ClassSpec{class("a", 1, 1)}),
				Alive: alive(1),
				Config: placement.Config{ShardID: func(string, int) uint64 {
					return placement.MetaShardID
				}},
			},
		},
	})
}

func TestRule2MetaShard(t *testing.T) {
	runCases(t, []planCase{
		{
			name: "no meta shard yet: left to the bootstrapping node",
			in:   placement.Input{State: cluster(nodes(1, 2, 3), nil), Alive: alive(1, 2, 3), Config: cfg()},
		},
		{
			name: "grows on the lowest alive node not hosting it",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3, 4), nil, meta(2, rp(1, 1, initial))),
				Alive:   alive(1, 3, 4),
				Reports: reps{}.lead(1, 1, 1, 50, 1),
				Config:  cfg(),
			},
			put:  []*odgmv1.ShardPlacement{meta(3, rp(1, 1, initial), rp(2, 3, joining))},
			acts: []placement.Action{{ShardID: 1, Op: add, ReplicaID: 2, NodeID: 3, Via: 1}},
		},
		{
			name: "one JOINING at a time",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3), nil, meta(3, rp(1, 1, initial), rp(2, 2, joining))),
				Alive:   alive(1, 2, 3),
				Reports: reps{}.lead(1, 1, 1, 500, 1, 2).follow(2, 1, 2, 0),
				Config:  cfg(),
			},
		},
		{
			name: "capped by the number of nodes",
			in: placement.Input{
				State:   cluster(nodes(1, 2), nil, settledShard(1, "", 1, 2)),
				Alive:   alive(1, 2),
				Reports: reps{}.settled(1, 1, 2),
				Config:  placement.Config{MetaReplicas: 5, ShardID: shardID},
			},
		},
		{
			name: "MetaReplicas bounds it",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3), nil, settledShard(1, "", 1)),
				Alive:   alive(1, 2, 3),
				Reports: reps{}.settled(1, 1),
				Config:  placement.Config{MetaReplicas: 1, ShardID: shardID},
			},
		},
	})
}

func TestRule3Joining(t *testing.T) {
	st := func() *odgmv1.ClusterState {
		return cluster(nodes(1, 2, 3, 4), []*odgmv1.ClassSpec{class("a", 1, 3)},
			sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining)))
	}
	joined := sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, active))
	runCases(t, []planCase{
		{
			name: "not yet a member: ADD via the leader",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.follow(1, 100, 1, 1000).lead(2, 100, 2, 1000, 1, 2, 3).follow(3, 100, 3, 1000).follow(4, 100, 4, 0),
				Config:  cfg(),
			},
			acts: []placement.Action{{ShardID: 100, Op: add, ReplicaID: 4, NodeID: 4, Via: 2}},
		},
		{
			name: "member but lagging: wait",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(2, 100, 2, 1000).follow(3, 100, 3, 1000).follow(4, 100, 4, 899),
				Config:  cfg(),
			},
		},
		{
			name: "member within CatchUpLag: ACTIVE",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(2, 100, 2, 1000).follow(3, 100, 3, 1000).follow(4, 100, 4, 900),
				Config:  cfg(),
			},
			put: []*odgmv1.ShardPlacement{joined},
		},
		{
			name: "custom CatchUpLag",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(2, 100, 2, 1000).follow(3, 100, 3, 1000).follow(4, 100, 4, 600),
				Config:  placement.Config{CatchUpLag: 400, ShardID: shardID},
			},
			put: []*odgmv1.ShardPlacement{joined},
		},
		{
			name: "its own node must report it",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(2, 100, 2, 1000).follow(3, 100, 3, 1000),
				Config:  cfg(),
			},
		},
		{
			name: "no leader reported: nothing",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.follow(2, 100, 2, 1000).follow(3, 100, 3, 1000).follow(4, 100, 4, 1000),
				Config:  cfg(),
			},
		},
		{
			name: "its node died: abandoned as LEAVING",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3),
				Reports: reps{}.settled(100, 1, 2, 3),
				Config:  cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, leaving))},
		},
	})
}

func TestRule4Repair(t *testing.T) {
	classes := []*odgmv1.ClassSpec{class("a", 1, 3)}
	runCases(t, []planCase{
		{
			name: "replica on a dead node: JOINING on the least-loaded alive node",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3, 4, 5), []*odgmv1.ClassSpec{class("a", 1, 3), class("b", 2, 1)},
					settledShard(100, "a", 1, 2, 3), settledShard(200, "b", 4), settledShard(201, "b", 4)),
				Alive:   alive(1, 2, 4, 5),
				Reports: reps{}.settled(100, 1, 2).settled(200, 4).settled(201, 4),
				Config:  cfg(),
			},
			put:  []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 5, joining))},
			acts: []placement.Action{{ShardID: 100, Op: add, ReplicaID: 4, NodeID: 5, Via: 1}},
		},
		{
			name: "not limited by MaxMovesInFlight",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3, 4), []*odgmv1.ClassSpec{class("a", 2, 3)},
					settledShard(100, "a", 1, 2, 3),
					sh(101, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 4, active), rp(4, 3, leaving))),
				Alive: alive(1, 2, 4),
				Reports: reps{}.settled(100, 1, 2).
					lead(1, 101, 1, 1000, 1, 2, 3, 4).follow(2, 101, 2, 1000).follow(4, 101, 3, 1000),
				Config: cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining))},
			acts: []placement.Action{
				{ShardID: 100, Op: add, ReplicaID: 4, NodeID: 4, Via: 1},
				{ShardID: 101, Op: remove, ReplicaID: 4, NodeID: 3, Via: 1},
			},
		},
		{
			name: "a JOINING replica still catching up: no second one",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3, 4, 5), classes,
					sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining))),
				Alive:   alive(1, 2, 4, 5),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(2, 100, 2, 1000).follow(4, 100, 4, 10),
				Config:  cfg(),
			},
		},
		{
			name: "no spare node: nothing",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3), classes, settledShard(100, "a", 1, 2, 3)),
				Alive:   alive(1, 2),
				Reports: reps{}.settled(100, 1, 2),
				Config:  cfg(),
			},
		},
		{
			name: "leader unknown: ADD via a node running a replica",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3, 4), classes, settledShard(100, "a", 1, 2, 3)),
				Alive:   alive(2, 3, 4),
				Reports: reps{}.follow(3, 100, 3, 1000).follow(2, 100, 2, 1000),
				Config:  cfg(),
			},
			put:  []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining))},
			acts: []placement.Action{{ShardID: 100, Op: add, ReplicaID: 4, NodeID: 4, Via: 2}},
		},
		{
			name: "no node runs it: placement only, rule 3 adds it later",
			in: placement.Input{
				State:  cluster(nodes(1, 2, 3, 4), classes, settledShard(100, "a", 1, 2, 3)),
				Alive:  alive(2, 3, 4),
				Config: cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining))},
		},
		{
			name: "meta shard too",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3, 4), nil, settledShard(1, "", 1, 2, 3)),
				Alive:   alive(1, 3, 4),
				Reports: reps{}.settled(1, 1).follow(3, 1, 3, 1000),
				Config:  cfg(),
			},
			put:  []*odgmv1.ShardPlacement{meta(5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining))},
			acts: []placement.Action{{ShardID: 1, Op: add, ReplicaID: 4, NodeID: 4, Via: 1}},
		},
	})
}

func TestRule5OverReplicated(t *testing.T) {
	classes := []*odgmv1.ClassSpec{class("a", 1, 3)}
	runCases(t, []planCase{
		{
			name: "a replica on a dead node goes first",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3, 4), classes, settledShard(100, "a", 1, 2, 3, 4)),
				Alive:   alive(1, 2, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(2, 100, 2, 1000).follow(4, 100, 4, 1000),
				Config:  cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, leaving), rp(4, 4, active))},
		},
		{
			name: "else the most-loaded node, ties to the highest id",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3, 4), []*odgmv1.ClassSpec{class("a", 2, 3)},
					settledShard(100, "a", 1, 2, 3, 4), settledShard(101, "a", 1, 3, 2)),
				Alive: alive(1, 2, 3, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(2, 100, 2, 1000).follow(3, 100, 3, 1000).follow(4, 100, 4, 1000).
					settled(101, 1, 3, 2),
				Config: cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, leaving), rp(4, 4, active))},
		},
		{
			name: "the victim leads: move leadership first",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3, 4), []*odgmv1.ClassSpec{class("a", 2, 3)},
					settledShard(100, "a", 1, 2, 3, 4), settledShard(101, "a", 4, 2, 3)),
				Alive: alive(1, 2, 3, 4),
				Reports: reps{}.follow(1, 100, 1, 1000).follow(2, 100, 2, 1000).follow(3, 100, 3, 1000).lead(4, 100, 4, 1000, 1, 2, 3, 4).
					follow(2, 101, 2, 1000).lead(3, 101, 3, 1000, 1, 2, 3).follow(4, 101, 1, 1000),
				Config: cfg(),
			},
			// Node 4 is most loaded (ties to the highest id) and leads 100;
			// node 3 leads 101, so nodes 1 and 2 lead none: node 1 it is.
			acts: []placement.Action{{ShardID: 100, Op: transfer, ReplicaID: 1, NodeID: 1, Via: 4}},
		},
		{
			name: "JOINING replicas are not surplus",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3, 4), classes, sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining))),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(2, 100, 2, 1000).follow(3, 100, 3, 1000).follow(4, 100, 4, 0),
				Config:  cfg(),
			},
		},
	})
}

func TestRule6Leaving(t *testing.T) {
	classes := []*odgmv1.ClassSpec{class("a", 1, 3)}
	st := func() *odgmv1.ClusterState {
		return cluster(nodes(1, 2, 3, 4), classes,
			sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, leaving), rp(4, 4, active)))
	}
	runCases(t, []planCase{
		{
			name: "still a member: REMOVE via the leader",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.follow(1, 100, 1, 1000).lead(2, 100, 2, 1000, 1, 2, 3, 4).follow(3, 100, 3, 1000).follow(4, 100, 4, 1000),
				Config:  cfg(),
			},
			acts: []placement.Action{{ShardID: 100, Op: remove, ReplicaID: 3, NodeID: 3, Via: 2}},
		},
		{
			name: "no longer a member: dropped",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 4).follow(2, 100, 2, 1000).follow(4, 100, 4, 1000),
				Config:  cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(4, 4, active))},
		},
		{
			name: "no leader: nothing",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.follow(1, 100, 1, 1000).follow(2, 100, 2, 1000),
				Config:  cfg(),
			},
		},
		{
			name: "it leads: TRANSFER_LEADER first",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.follow(1, 100, 1, 1000).follow(2, 100, 2, 1000).lead(3, 100, 3, 1000, 1, 2, 3, 4).follow(4, 100, 4, 1000),
				Config:  cfg(),
			},
			acts: []placement.Action{{ShardID: 100, Op: transfer, ReplicaID: 1, NodeID: 1, Via: 3}},
		},
		{
			name: "another node died since: removal cancelled",
			in: placement.Input{
				State:   st(),
				Alive:   alive(1, 3, 4),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 4).follow(3, 100, 3, 1000).follow(4, 100, 4, 1000),
				Config:  cfg(),
			},
			put: []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, active))},
		},
		{
			name: "a member the placement does not know is removed",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3), classes, settledShard(100, "a", 1, 2, 3)),
				Alive:   alive(1, 2, 3),
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3, 9).follow(2, 100, 2, 1000).follow(3, 100, 3, 1000),
				Config:  cfg(),
			},
			acts: []placement.Action{{ShardID: 100, Op: remove, ReplicaID: 9, Via: 1}},
		},
	})
}

func TestRule7Rebalance(t *testing.T) {
	classes := []*odgmv1.ClassSpec{class("a", 3, 3), class("b", 1, 1)}
	three := func(extra ...*odgmv1.ShardPlacement) *odgmv1.ClusterState {
		cs := classes[:1]
		if len(extra) > 0 {
			cs = classes
		}
		return cluster(nodes(1, 2, 3, 4, 5), cs, append([]*odgmv1.ShardPlacement{
			settledShard(100, "a", 1, 2, 3), settledShard(101, "a", 1, 2, 3), settledShard(102, "a", 1, 2, 3),
		}, extra...)...)
	}
	rs := func() reps { return reps{}.settled(100, 1, 2, 3).settled(101, 1, 2, 3).settled(102, 1, 2, 3) }
	runCases(t, []planCase{
		{
			name: "most-loaded (highest id) to least-loaded (lowest id), lowest shard id",
			in:   placement.Input{State: three(), Alive: alive(1, 2, 3, 4, 5), Reports: rs(), Config: cfg()},
			put:  []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining))},
			acts: []placement.Action{{ShardID: 100, Op: add, ReplicaID: 4, NodeID: 4, Via: 1}},
		},
		{
			name: "dead nodes are not balanced onto",
			in:   placement.Input{State: three(), Alive: alive(1, 2, 3, 5), Reports: rs(), Config: cfg()},
			put:  []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 5, joining))},
			acts: []placement.Action{{ShardID: 100, Op: add, ReplicaID: 4, NodeID: 5, Via: 1}},
		},
		{
			name: "balanced within one: nothing",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3, 4), []*odgmv1.ClassSpec{class("a", 2, 3)}, settledShard(100, "a", 1, 2, 3), settledShard(101, "a", 4, 2, 3)),
				Alive:   alive(1, 2, 3, 4),
				Reports: reps{}.settled(100, 1, 2, 3).settled(101, 4, 2, 3),
				Config:  cfg(),
			},
		},
		{
			name: "MaxMovesInFlight reached: nothing",
			in: placement.Input{
				State:   three(sh(200, "b", 3, rp(1, 1, active), rp(2, 4, joining))),
				Alive:   alive(1, 2, 3, 4, 5),
				Reports: rs().lead(1, 200, 1, 1000, 1, 2).follow(4, 200, 2, 0),
				Config:  cfg(),
			},
		},
		{
			name: "a surplus replica is a move in flight",
			in: placement.Input{
				State:   three(settledShard(200, "b", 1, 4)),
				Alive:   alive(1, 2, 3, 4, 5),
				Reports: rs().settled(200, 1, 4),
				Config:  cfg(),
			},
			// Shard 200 has one replica too many and node 1 leads it: its
			// leadership moves, and no new move starts meanwhile.
			acts: []placement.Action{{ShardID: 200, Op: transfer, ReplicaID: 2, NodeID: 4, Via: 1}},
		},
		{
			name: "room for another move, not on a moving shard",
			in: placement.Input{
				State:   three(sh(200, "b", 3, rp(1, 1, active), rp(2, 4, joining))),
				Alive:   alive(1, 2, 3, 4, 5),
				Reports: rs().lead(1, 200, 1, 1000, 1, 2).follow(4, 200, 2, 0),
				Config:  placement.Config{MaxMovesInFlight: 2, ShardID: shardID},
			},
			put:  []*odgmv1.ShardPlacement{sh(100, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 5, joining))},
			acts: []placement.Action{{ShardID: 100, Op: add, ReplicaID: 4, NodeID: 5, Via: 1}},
		},
		{
			name: "negative MaxMovesInFlight disables it",
			in:   placement.Input{State: three(), Alive: alive(1, 2, 3, 4, 5), Reports: rs(), Config: placement.Config{MaxMovesInFlight: -1, ShardID: shardID}},
		},
		{
			name: "a shard needing repair blocks it",
			in: placement.Input{
				State:   cluster(nodes(1, 2, 3, 4, 5, 6), classes, settledShard(100, "a", 1, 2, 3), settledShard(101, "a", 1, 2, 3), settledShard(102, "a", 1, 2, 3), settledShard(200, "b", 6)),
				Alive:   alive(1, 2, 3, 4, 5),
				Reports: rs(),
				Config:  cfg(),
			},
			put:  []*odgmv1.ShardPlacement{sh(200, "b", 3, rp(1, 6, active), rp(2, 4, joining))},
			acts: nil, // nobody runs shard 200: rule 3 adds it once a node does
		},
	})
}

func TestRule8LeaderBalance(t *testing.T) {
	classes := []*odgmv1.ClassSpec{class("a", 3, 3)}
	st := func() *odgmv1.ClusterState {
		return cluster(nodes(1, 2, 3), classes, settledShard(100, "a", 1, 2, 3), settledShard(101, "a", 1, 2, 3), settledShard(102, "a", 1, 2, 3))
	}
	all1 := reps{}.settled(100, 1, 2, 3).settled(101, 1, 2, 3).settled(102, 1, 2, 3)
	on := placement.Config{BalanceLeaders: true, ShardID: shardID}
	runCases(t, []planCase{
		{
			name: "one transfer from the most- to the least-leading node",
			in:   placement.Input{State: st(), Alive: alive(1, 2, 3), Reports: all1, Config: on},
			acts: []placement.Action{{ShardID: 100, Op: transfer, ReplicaID: 2, NodeID: 2, Via: 1}},
		},
		{
			name: "off unless BalanceLeaders",
			in:   placement.Input{State: st(), Alive: alive(1, 2, 3), Reports: all1, Config: cfg()},
		},
		{
			name: "within one: nothing",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3), []*odgmv1.ClassSpec{class("a", 4, 3)}, settledShard(100, "a", 1, 2, 3), settledShard(101, "a", 1, 2, 3), settledShard(102, "a", 1, 2, 3), settledShard(103, "a", 1, 2, 3)),
				Alive: alive(1, 2, 3), Config: on,
				Reports: reps{}.settled(100, 1, 2, 3).settled(101, 1, 2, 3).
					follow(1, 102, 1, 1000).lead(2, 102, 2, 1000, 1, 2, 3).follow(3, 102, 3, 1000).
					follow(1, 103, 1, 1000).follow(2, 103, 2, 1000).lead(3, 103, 3, 1000, 1, 2, 3),
			},
		},
		{
			name: "prefers the widest gap",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3), []*odgmv1.ClassSpec{class("a", 4, 3)}, settledShard(100, "a", 1, 2, 3), settledShard(101, "a", 1, 2, 3), settledShard(102, "a", 1, 2, 3), settledShard(103, "a", 1, 2, 3)),
				Alive: alive(1, 2, 3), Config: on,
				Reports: reps{}.settled(100, 1, 2, 3).settled(101, 1, 2, 3).settled(102, 1, 2, 3).
					follow(1, 103, 1, 1000).lead(2, 103, 2, 1000, 1, 2, 3).follow(3, 103, 3, 1000),
			},
			acts: []placement.Action{{ShardID: 100, Op: transfer, ReplicaID: 3, NodeID: 3, Via: 1}},
		},
		{
			name: "no single transfer narrows the spread: first hop of a chain",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3), []*odgmv1.ClassSpec{class("a", 3, 2)},
					settledShard(100, "a", 1, 2), settledShard(101, "a", 1, 2), settledShard(102, "a", 2, 3)),
				Alive: alive(1, 2, 3), Config: placement.Config{BalanceLeaders: true, MaxMovesInFlight: -1, ShardID: shardID},
				// Leaders 1:2 2:1 3:0; node 1's shards have no replica on node 3.
				Reports: reps{}.settled(100, 1, 2).settled(101, 1, 2).settled(102, 2, 3),
			},
			acts: []placement.Action{{ShardID: 100, Op: transfer, ReplicaID: 2, NodeID: 2, Via: 1}},
		},
		{
			name: "not while a replica is JOINING",
			in: placement.Input{
				State: cluster(nodes(1, 2, 3, 4), classes, settledShard(100, "a", 1, 2, 3), settledShard(101, "a", 1, 2, 3),
					sh(102, "a", 5, rp(1, 1, active), rp(2, 2, active), rp(3, 3, active), rp(4, 4, joining))),
				Alive: alive(1, 2, 3, 4), Config: on,
				Reports: reps{}.settled(100, 1, 2, 3).settled(101, 1, 2, 3).settled(102, 1, 2, 3, 4).follow(4, 102, 4, 0),
			},
		},
		{
			name: "only to a caught-up replica",
			in: placement.Input{
				State: st(), Alive: alive(1, 2, 3), Config: on,
				Reports: reps{}.lead(1, 100, 1, 1000, 1, 2, 3).follow(2, 100, 2, 10).follow(3, 100, 3, 10).
					settled(101, 1, 2, 3).settled(102, 1, 2, 3),
			},
			acts: []placement.Action{{ShardID: 101, Op: transfer, ReplicaID: 2, NodeID: 2, Via: 1}},
		},
	})
}

func TestRule9OneConsistentDecision(t *testing.T) {
	// Several rules at once: a new class, a meta shard to grow, a repair and
	// a LEAVING replica to remove; all in one MetaCommand ordered by shard.
	in := placement.Input{
		State: cluster(nodes(1, 2, 3, 4), []*odgmv1.ClassSpec{class("a", 1, 2), class("b", 1, 2)},
			meta(2, rp(1, 1, initial)),
			settledShard(200, "b", 3, 4),
			sh(201, "b", 4, rp(1, 1, active), rp(2, 2, active), rp(3, 3, leaving)),
		),
		Alive: alive(1, 2, 3),
		Reports: reps{}.lead(1, 1, 1, 10, 1).settled(200, 3).
			lead(1, 201, 1, 1000, 1, 2, 3).follow(2, 201, 2, 1000).follow(3, 201, 3, 1000),
		Config: cfg(),
	}
	d := placement.Plan(in)
	checkDecision(t, in, d)
	want := []*odgmv1.ShardPlacement{
		// Node 2 is the lowest alive node without a meta replica.
		meta(3, rp(1, 1, initial), rp(2, 2, joining)),
		// Loads 1:2 2:1 3:2 (node 4 is dead): node 2, then node 1.
		sh(100, "a", 3, rp(1, 2, initial), rp(2, 1, initial)),
		// New shards are placed before existing ones step, so the loads are
		// now 1:3 2:3 (with the meta replica) 3:2: repair on node 1.
		sh(200, "b", 4, rp(1, 3, active), rp(2, 4, active), rp(3, 1, joining)),
	}
	if got := d.Change.GetPutShards(); !slices.EqualFunc(got, want, func(a, b *odgmv1.ShardPlacement) bool { return proto.Equal(a, b) }) {
		t.Errorf("put_shards:\n got %v\nwant %v", got, want)
	}
	wantActs := []placement.Action{
		{ShardID: 1, Op: add, ReplicaID: 2, NodeID: 2, Via: 1},
		{ShardID: 200, Op: add, ReplicaID: 3, NodeID: 1, Via: 3},
		{ShardID: 201, Op: remove, ReplicaID: 3, NodeID: 3, Via: 1},
	}
	if !slices.Equal(d.Membership, wantActs) {
		t.Errorf("membership:\n got %+v\nwant %+v", d.Membership, wantActs)
	}
}

func TestPlanNilState(t *testing.T) {
	if d := placement.Plan(placement.Input{}); !d.Empty() {
		t.Fatalf("Plan(nil state) = %s", show(d))
	}
}

func TestHelpers(t *testing.T) {
	st := cluster(nodes(1, 2, 3, 4), []*odgmv1.ClassSpec{class("a", 2, 2)},
		settledShard(101, "a", 2, 3), meta(3, rp(1, 1, initial), rp(2, 2, joining)), sh(100, "a", 3, rp(1, 1, initial), rp(2, 2, initial)))
	if got, want := placement.Load(st), map[uint64]int{1: 2, 2: 3, 3: 1, 4: 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Load = %v, want %v", got, want)
	}
	sp := metasm.FindShard(st, 100)
	if sp == nil || metasm.FindShard(st, 5) != nil {
		t.Fatalf("Shard")
	}
	if r := placement.ReplicaOn(sp, 2); r.GetReplicaId() != 2 || placement.ReplicaOn(sp, 3) != nil {
		t.Errorf("ReplicaOn = %v", r)
	}
	if r := placement.Replica(sp, 1); r.GetNodeId() != 1 || placement.Replica(sp, 3) != nil {
		t.Errorf("Replica = %v", r)
	}
	hosted := placement.ReplicasOn(st, 2)
	if len(hosted) != 3 || hosted[0].Shard.GetShardId() != 1 || hosted[1].Shard.GetShardId() != 100 || hosted[2].Replica.GetReplicaId() != 1 {
		t.Errorf("ReplicasOn = %v", hosted)
	}
	if got := placement.InitialMembers(metasm.FindShard(st, 1)); fmt.Sprint(got) != "map[1:1]" {
		t.Errorf("InitialMembers = %v", got)
	}
	for _, tc := range []struct {
		sp   *odgmv1.ShardPlacement
		cfg  placement.Config
		want int
		ok   bool
	}{
		{sp, placement.Config{}, 2, true},
		{metasm.FindShard(st, 1), placement.Config{}, 3, true},
		{metasm.FindShard(st, 1), placement.Config{MetaReplicas: 9}, 4, true},
		{metasm.FindShard(st, 1), placement.Config{MetaReplicas: 1}, 1, true},
		{sh(300, "zzz", 1), placement.Config{}, 0, false},
	} {
		if n, ok := placement.DesiredReplicas(st, tc.sp, tc.cfg); n != tc.want || ok != tc.ok {
			t.Errorf("DesiredReplicas(%d, %+v) = %d, %v; want %d, %v", tc.sp.GetShardId(), tc.cfg.MetaReplicas, n, ok, tc.want, tc.ok)
		}
	}

	// The highest term wins over a stale leader, then the lowest node.
	rs := reps{}.lead(3, 100, 2, 10, 1, 2).lead(1, 100, 1, 10, 1, 2)
	rs[3][0].Term = 5
	if n, ok := placement.LeaderNode(sp, rs); n != 3 || !ok {
		t.Errorf("LeaderNode = %d, %v; want 3", n, ok)
	}
	if got := placement.Leaders(rs); got[100] != 3 || len(got) != 1 {
		t.Errorf("Leaders = %v; want map[100:3]", got)
	}
	rs[3][0].Term = 2
	if n, r := placement.LeaderReport(100, rs); n != 1 || r.GetReplicaId() != 1 {
		t.Errorf("LeaderReport = %d, %v; want node 1", n, r)
	}
	if got := placement.Leaders(rs); got[100] != 1 {
		t.Errorf("Leaders = %v; want map[100:1]", got)
	}
	if _, ok := placement.LeaderNode(sp, reps{}.follow(1, 100, 1, 1)); ok {
		t.Errorf("LeaderNode found a leader among followers")
	}
}

func TestConfig(t *testing.T) {
	var c placement.Config
	c.EnsureDefaults()
	if c.MetaReplicas != 3 || c.MaxMovesInFlight != 1 || c.CatchUpLag != 100 {
		t.Errorf("EnsureDefaults = %+v", c)
	}
	err := placement.Config{MetaReplicas: -1}.Validate()
	if err == nil {
		t.Fatalf("Validate accepted a bad config")
	}
	for _, want := range []string{"MetaReplicas", "ShardID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %q, does not mention %s", err, want)
		}
	}
	if err := cfg().Validate(); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}
