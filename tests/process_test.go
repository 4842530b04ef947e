package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/proccluster"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// odgmBinary builds cmd/odgm once per test binary (into a directory left
// for the OS to clean: tests of one binary share it).
var odgmBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "odgm-bin-")
	if err != nil {
		return "", err
	}
	return proccluster.Build(context.Background(), proccluster.ODGM, dir)
})

// procCluster is a proccluster.Cluster whose failures fail the test.
type procCluster struct {
	t *testing.T
	*proccluster.Cluster
}

// newProcCluster starts n node processes of the odgm binary; configure,
// when given, adjusts their configuration first. The nodes stop, and
// their logs are shown if the test failed, when the test ends.
func newProcCluster(t *testing.T, n int, configure ...func(*proccluster.Config)) *procCluster {
	t.Helper()
	if raceEnabled {
		t.Skip("several protoactor remotes (the test's clients) race inside protoactor; run without -race (make test does)")
	}
	bin, err := odgmBinary()
	if err != nil {
		t.Fatal(err)
	}
	cfg := proccluster.Config{Binary: bin, Dir: t.TempDir(), Logf: t.Logf}
	for _, f := range configure {
		f(&cfg)
	}
	c, err := proccluster.Start(cfg, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Log(err) // killed after 20 s: as before, not a failure
		}
		if t.Failed() {
			c.DumpLogs()
		}
	})
	return &procCluster{t: t, Cluster: c}
}

// add starts node id, joining through node 1.
func (pc *procCluster) add(id uint64) *proccluster.Node {
	pc.t.Helper()
	n, err := pc.Add(id)
	if err != nil {
		pc.t.Fatal(err)
	}
	return n
}

// kill SIGKILLs a node.
func (pc *procCluster) kill(id uint64) {
	pc.t.Helper()
	if err := pc.Kill(id); err != nil {
		pc.t.Fatal(err)
	}
}

// restart starts a killed or stopped node again.
func (pc *procCluster) restart(id uint64) {
	pc.t.Helper()
	if err := pc.Restart(id); err != nil {
		pc.t.Fatal(err)
	}
}

// dial returns a client of nodes ids, closed when the test ends.
func (pc *procCluster) dial(ids ...uint64) *client.Client {
	pc.t.Helper()
	return pc.dialWith(ids)
}

func (pc *procCluster) dialWith(ids []uint64, opts ...client.Option) *client.Client {
	pc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pc.Dial(ctx, ids, opts...)
	if err != nil {
		pc.t.Fatal(err)
	}
	pc.t.Cleanup(func() { c.Close() })
	return c
}

// waitStatus polls Status through c until ok accepts it, for up to d.
func waitStatus(t *testing.T, c proccluster.StatusSource, d time.Duration, what string, ok func(*odgmv1.ClusterStatus) bool) *odgmv1.ClusterStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	st, err := proccluster.WaitStatus(ctx, c, what, ok)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// caughtUpReplicas counts the INITIAL and ACTIVE replicas of shard id in
// st's placement.
func caughtUpReplicas(st *odgmv1.ClusterStatus, id uint64) int {
	n := 0
	for _, s := range st.GetShards() {
		if s.GetPlacement().GetShardId() != id {
			continue
		}
		for _, r := range s.GetPlacement().GetReplicas() {
			if r.GetState() == odgmv1.ReplicaState_REPLICA_STATE_INITIAL || r.GetState() == odgmv1.ReplicaState_REPLICA_STATE_ACTIVE {
				n++
			}
		}
	}
	return n
}

// fullyReplicated accepts a status of the given number of nodes, all
// alive, and shards (the meta shard included), each led and with exactly
// three replicas, all caught up: a cluster that survives the loss of any
// one node.
func fullyReplicated(nodes, shards int) func(*odgmv1.ClusterStatus) bool {
	return func(st *odgmv1.ClusterStatus) bool {
		if !settled(nodes)(st) || !proccluster.AllAlive(st) || len(st.GetShards()) != shards {
			return false
		}
		for _, s := range st.GetShards() {
			id := s.GetPlacement().GetShardId()
			if len(s.GetPlacement().GetReplicas()) != 3 || caughtUpReplicas(st, id) != 3 {
				return false
			}
		}
		return true
	}
}

var (
	settled = proccluster.Settled
	// retry repeats op while it fails with ErrUnavailable or a timeout, up to d.
	retry = proccluster.Retry
)

// TestProcessCluster runs three odgm node processes (a fourth joins
// later): a class created through node 1 is written through node 1, read
// through node 3 and listed through node 2; then the node with the most
// leaders is SIGKILLed during a write load: writes continue through the
// other nodes, every acknowledged write is there, every shard is back to
// 3 replicas on live nodes after node_dead_timeout, and the killed node
// comes back as a member without its stale replicas.
func TestProcessCluster(t *testing.T) {
	pc := newProcCluster(t, 3)
	c1 := pc.dial(1)
	waitStatus(t, c1, 30*time.Second, "three nodes", settled(3))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c1.CreateClass(ctx, &odgmv1.ClassSpec{Name: "kv", Partitions: 4, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c1, 30*time.Second, "class shards have leaders", func(st *odgmv1.ClusterStatus) bool {
		return len(st.GetShards()) == 5 && settled(3)(st)
	})
	for i := range 20 {
		id := "k" + strconv.Itoa(i)
		if err := retry(10*time.Second, func(ctx context.Context) error {
			_, err := c1.Put(ctx, "kv", id, map[string][]byte{"v": []byte(id)}, odgm.RequestID("first-"+id))
			return err
		}); err != nil {
			t.Fatalf("put %s through node 1: %v", id, err)
		}
	}
	c3, c2 := pc.dial(3), pc.dial(2)
	for i := range 20 {
		id := "k" + strconv.Itoa(i)
		st, err := c3.Get(ctx, "kv", id)
		if err != nil || string(st.Entries["v"]) != id {
			t.Fatalf("get %s through node 3: %+v %v", id, st, err)
		}
	}
	var listed []string
	for cursor := ""; ; {
		p, err := c2.List(ctx, "kv", odgm.ListOptions{Limit: 6, Cursor: cursor})
		if err != nil {
			t.Fatalf("list through node 2: %v", err)
		}
		listed = append(listed, p.IDs...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(listed) != 20 {
		t.Fatalf("list through node 2: %d ids %v, want 20", len(listed), listed)
	}

	// A fourth node joins; then the node leading the most shards dies
	// during a write load.
	pc.add(4)
	// The meta shard first grows to three members (it survives one loss).
	st := waitStatus(t, c1, 40*time.Second, "four nodes, meta shard on three", func(st *odgmv1.ClusterStatus) bool {
		return settled(4)(st) && caughtUpReplicas(st, 1) == 3
	})
	victim, leads := busiestLeader(st)
	var others []uint64
	for id := uint64(1); id <= 4; id++ {
		if id != victim {
			others = append(others, id)
		}
	}
	load := pc.dial(others...)
	writes := startWriteLoad(t, load, "w", 4)
	time.Sleep(500 * time.Millisecond)
	killedAt := time.Now()
	pc.kill(victim)
	t.Logf("killed node %d (leading %d shards)", victim, leads)
	if d := writes.firstAckAfter(killedAt, 10*time.Second); d == 0 {
		t.Fatalf("no write acknowledged within 10s of the kill")
	} else {
		t.Logf("first write acknowledged %v after the kill", d)
	}
	time.Sleep(3 * time.Second)
	t.Logf("%d acknowledged writes checked", writes.stopAndCheck(load))

	// Repair: every shard back to 3 replicas, none on the dead node.
	repaired := func(st *odgmv1.ClusterStatus) bool {
		for _, s := range st.GetShards() {
			live := 0
			for _, r := range s.GetPlacement().GetReplicas() {
				if r.GetNodeId() == victim {
					return false
				}
				if r.GetState() == odgmv1.ReplicaState_REPLICA_STATE_INITIAL || r.GetState() == odgmv1.ReplicaState_REPLICA_STATE_ACTIVE {
					live++
				}
			}
			if live != 3 || s.GetLeaderNode() == 0 {
				return false
			}
		}
		return true
	}
	waitStatus(t, load, 40*time.Second, "repair after node_dead_timeout", repaired)

	// The killed node comes back: a member again, with none of the
	// replicas it had (they were replaced).
	before := map[uint64]uint64{}
	for _, s := range st.GetShards() {
		for _, r := range s.GetPlacement().GetReplicas() {
			if r.GetNodeId() == victim {
				before[s.GetPlacement().GetShardId()] = r.GetReplicaId()
			}
		}
	}
	pc.restart(victim)
	back := waitStatus(t, load, 40*time.Second, "killed node back", func(st *odgmv1.ClusterStatus) bool {
		for _, n := range st.GetNodes() {
			if n.GetNode().GetNodeId() == victim && n.GetAlive() {
				return settled(4)(st)
			}
		}
		return false
	})
	for _, s := range back.GetShards() {
		for _, r := range s.GetPlacement().GetReplicas() {
			if r.GetNodeId() == victim && before[s.GetPlacement().GetShardId()] == r.GetReplicaId() {
				t.Fatalf("shard %d still places stale replica %d on node %d", s.GetPlacement().GetShardId(), r.GetReplicaId(), victim)
			}
		}
	}
	vc := pc.dial(victim)
	if err := retry(20*time.Second, func(ctx context.Context) error {
		got, err := vc.Get(ctx, "kv", "k7")
		if err == nil && string(got.Entries["v"]) != "k7" {
			err = fmt.Errorf("k7 = %q", got.Entries["v"])
		}
		return err
	}); err != nil {
		t.Fatalf("read through the node that came back: %v", err)
	}
}

// TestProcessGarbage sends garbage bytes and an unknown-typed protobuf
// message to a node's remote port: the node stays up and keeps serving.
func TestProcessGarbage(t *testing.T) {
	pc := newProcCluster(t, 1)
	c := pc.dial(1)
	waitStatus(t, c, 30*time.Second, "one node", settled(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.CreateClass(ctx, &odgmv1.ClassSpec{Name: "kv", Partitions: 1, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", pc.Node(1).Remote)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00garbage garbage garbage"))
	conn.Close()
	conn, err = net.Dial("tcp", pc.Node(1).Remote)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("\xff\xfe\xfd definitely not http/2 \x00\x01\x02"))
	conn.Close()
	// A message of a type the node does not know, sent the way a peer
	// would: a second client sends a wrapper of an unregistered type name
	// through the remote protocol.
	sendUnknownType(t, pc.Node(1).Remote)
	if err := retry(10*time.Second, func(ctx context.Context) error {
		_, err := c.Put(ctx, "kv", "still-up", map[string][]byte{"v": []byte("yes")})
		return err
	}); err != nil {
		t.Fatalf("node stopped serving after garbage: %v", err)
	}
	select {
	case <-pc.Node(1).Exited():
		t.Fatal("node exited")
	default:
	}
}

// sendUnknownType sends, over protoactor remote's own gRPC stream, a batch
// holding a message of a protobuf type name no node links in, addressed to
// the node's gateway. An unguarded protoactor node crashes on it.
func sendUnknownType(t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := remote.NewRemotingClient(conn).Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	connect := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "stranger", Address: "127.0.0.1:1"}},
	}}}
	if err := stream.Send(connect); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	_ = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: &remote.MessageBatch{
		TypeNames: []string{"evil.v1.NoSuchType"},
		Targets:   []*actor.PID{actor.NewPID(addr, "gateway")},
		Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{0x0a, 0x03, 'a', 'b', 'c'}}},
	}}})
	_, err = stream.Recv() // the node ends the stream
	if err == nil {
		t.Fatal("the node accepted a message of an unknown type")
	}
}
