package meta

import (
	"bytes"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

func update(t *testing.T, m sm.IStateMachine, cmd *odgmv1.MetaCommand) *odgmv1.MetaResult {
	t.Helper()
	data, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Update(sm.Entry{Cmd: data})
	if err != nil {
		t.Fatal(err)
	}
	res := &odgmv1.MetaResult{}
	if err := proto.Unmarshal(r.Data, res); err != nil {
		t.Fatal(err)
	}
	return res
}

func state(t *testing.T, m sm.IStateMachine) *odgmv1.ClusterState {
	t.Helper()
	v, err := m.Lookup(nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.(*odgmv1.ClusterState)
}

func u64(v uint64) *uint64 { return &v }

func TestApply(t *testing.T) {
	m := New(ShardID, 1)
	node := &odgmv1.NodeInfo{NodeId: 2, RaftAddress: "127.0.0.1:2", RemoteAddress: "127.0.0.1:3"}
	if r := update(t, m, &odgmv1.MetaCommand{ExpectedVersion: u64(0), PutNodes: []*odgmv1.NodeInfo{node}}); !r.GetApplied() || r.GetVersion() != 1 {
		t.Fatalf("first change: %v", r)
	}
	// The same record again changes nothing: no new version.
	if r := update(t, m, &odgmv1.MetaCommand{PutNodes: []*odgmv1.NodeInfo{node}}); !r.GetApplied() || r.GetVersion() != 1 {
		t.Fatalf("no-op: %v", r)
	}
	// A stale expected version applies nothing.
	if r := update(t, m, &odgmv1.MetaCommand{ExpectedVersion: u64(0), RemoveNodes: []uint64{2}}); r.GetApplied() || len(state(t, m).GetNodes()) != 1 {
		t.Fatalf("stale version applied: %v", r)
	}
	kv := &odgmv1.ClassSpec{Name: "kv", Partitions: 4, Replicas: 3}
	if r := update(t, m, &odgmv1.MetaCommand{CreateClasses: []*odgmv1.ClassSpec{kv}}); !r.GetApplied() || r.GetVersion() != 2 {
		t.Fatalf("create: %v", r)
	}
	if r := update(t, m, &odgmv1.MetaCommand{CreateClasses: []*odgmv1.ClassSpec{kv}}); !r.GetApplied() || r.GetVersion() != 2 {
		t.Fatalf("same class again: %v", r)
	}
	// Another shape fails the whole command: the node in it is not added.
	other := &odgmv1.ClassSpec{Name: "kv", Partitions: 8, Replicas: 3}
	r := update(t, m, &odgmv1.MetaCommand{CreateClasses: []*odgmv1.ClassSpec{other},
		PutNodes: []*odgmv1.NodeInfo{{NodeId: 9, RaftAddress: "x:1"}}})
	if r.GetApplied() || !r.GetClassExists() || FindNode(state(t, m), 9) != nil {
		t.Fatalf("class of another shape: %v", r)
	}
	// Structurally bad placements are refused whole.
	bad := &odgmv1.ShardPlacement{ShardId: 7, NextReplicaId: 2, Replicas: []*odgmv1.ReplicaPlacement{{ReplicaId: 1, NodeId: 2}, {ReplicaId: 1, NodeId: 3}}}
	if r := update(t, m, &odgmv1.MetaCommand{PutShards: []*odgmv1.ShardPlacement{bad}}); r.GetApplied() || FindShard(state(t, m), 7) != nil {
		t.Fatalf("duplicate replica ids applied: %v", r)
	}
	// Shards stay sorted by id whatever the order they come in.
	for _, id := range []uint64{9, 1, 5} {
		sp := &odgmv1.ShardPlacement{ShardId: id, NextReplicaId: 2, Replicas: []*odgmv1.ReplicaPlacement{{ReplicaId: 1, NodeId: 2}}}
		if r := update(t, m, &odgmv1.MetaCommand{PutShards: []*odgmv1.ShardPlacement{sp}}); !r.GetApplied() {
			t.Fatal(r)
		}
	}
	var ids []uint64
	for _, s := range state(t, m).GetShards() {
		ids = append(ids, s.GetShardId())
	}
	if len(ids) != 3 || ids[0] != 1 || ids[1] != 5 || ids[2] != 9 || FindShard(state(t, m), 5) == nil {
		t.Fatalf("shards %v", ids)
	}
	// Garbage is refused, never a panic, and changes nothing.
	before := state(t, m)
	res, err := m.Update(sm.Entry{Cmd: []byte{0xff, 0xff, 0xff}})
	if err != nil {
		t.Fatal(err)
	}
	var mr odgmv1.MetaResult
	if proto.Unmarshal(res.Data, &mr) != nil || mr.GetApplied() || !proto.Equal(before, state(t, m)) {
		t.Fatalf("garbage: %v", &mr)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	m := New(ShardID, 1)
	update(t, m, &odgmv1.MetaCommand{PutNodes: []*odgmv1.NodeInfo{{NodeId: 1, RaftAddress: "a:1"}},
		CreateClasses: []*odgmv1.ClassSpec{{Name: "kv", Partitions: 2, Replicas: 1}}})
	var buf bytes.Buffer
	if err := m.SaveSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	m2 := New(ShardID, 2)
	if err := m2.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil, nil); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(state(t, m), state(t, m2)) {
		t.Fatal("snapshot did not round-trip")
	}
	if err := m2.RecoverFromSnapshot(bytes.NewReader([]byte{0xff, 0x01}), nil, nil); err == nil {
		t.Fatal("a corrupt snapshot was accepted")
	}
}

// TestPublishedStateUnchanged: a state handed out by Lookup is shared, so
// no later command — applied, refused or a no-op — may modify it.
func TestPublishedStateUnchanged(t *testing.T) {
	m := New(ShardID, 1)
	update(t, m, &odgmv1.MetaCommand{PutNodes: []*odgmv1.NodeInfo{{NodeId: 1, RaftAddress: "a:1", RemoteAddress: "a:2"}}})
	before := state(t, m)
	want := proto.Clone(before)
	update(t, m, &odgmv1.MetaCommand{PutNodes: []*odgmv1.NodeInfo{{NodeId: 1, RaftAddress: "a:1", RemoteAddress: "b:2"}},
		CreateClasses: []*odgmv1.ClassSpec{{Name: "kv", Partitions: 1, Replicas: 1}}})
	update(t, m, &odgmv1.MetaCommand{ExpectedVersion: u64(0), RemoveNodes: []uint64{1}})
	update(t, m, &odgmv1.MetaCommand{CreateClasses: []*odgmv1.ClassSpec{{Name: "kv", Partitions: 2, Replicas: 1}}})
	if !proto.Equal(before, want) {
		t.Fatalf("a published state changed: %v, was %v", before, want)
	}
	if after := state(t, m); after.GetVersion() != 2 || len(after.GetClasses()) != 1 {
		t.Fatalf("state after the change: %v", after)
	}
}
