package shards

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func newActorSystem(t *testing.T) *actor.ActorSystem {
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	t.Cleanup(sys.Shutdown)
	return sys
}

// crash makes the receiving actor panic (through crashMiddleware).
type crash struct{}

func crashMiddleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		if _, ok := env.Message.(crash); ok {
			panic("injected failure")
		}
		next(c, env)
	}
}

// singleNode starts one Host on in-memory storage, stopped at cleanup.
func singleNode(t *testing.T) *node {
	t.Helper()
	n := &node{id: 1, dir: t.TempDir(), addr: freeAddr(t)}
	c := &cluster{t: t, be: backends[0], apps: map[string]map[uint64]int{}}
	c.openStorage(n)
	var err error
	n.host, err = NewHost(HostConfig{Dir: n.dir + "/nh", RaftAddress: n.addr, RTTMillisecond: 10, Storage: n.comp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stop(n) })
	return n
}

func request[T any](t *testing.T, sys *actor.ActorSystem, pid *actor.PID, msg any) T {
	t.Helper()
	v, err := sys.Root.RequestFuture(pid, msg, 10*time.Second).Result()
	if err != nil {
		t.Fatalf("request %T: %v", msg, err)
	}
	r, ok := v.(T)
	if !ok {
		t.Fatalf("reply %T to %T", v, msg)
	}
	return r
}

// TestShardActorStartsAndStopsReplica: a single-replica shard started by
// the shards supervisor serves writes, reads and health, and stopping the
// actor stops the replica.
func TestShardActorStartsAndStopsReplica(t *testing.T) {
	sys := newActorSystem(t)
	n := singleNode(t)
	sup := sys.Root.Spawn(SupervisorProps(SupervisionPolicy{}, nil, nil))
	cfg := testShardConfig()
	cfg.ExportInterval = 50 * time.Millisecond
	spec := ShardSpec{Host: n.host, ShardID: testShard, ReplicaID: 1, Members: map[uint64]string{1: n.addr}, Config: cfg}
	st := request[*StartShardReply](t, sys, sup, &StartShard{Spec: spec})
	if st.Err != nil {
		t.Fatal(st.Err)
	}
	waitFor(t, "leader", func() bool { return n.host.Health(testShard).State == StateLeader })
	w := request[*WriteReply](t, sys, st.PID, &Write{Command: put("a", "v", "1")})
	if w.Err != nil || w.Result.Status != applied {
		t.Fatalf("write: %+v", w)
	}
	r := request[*ReadReply](t, sys, st.PID, &Read{Query: GetObject{ID: "a"}})
	if r.Err != nil || r.Value.(*ObjectState).Meta.GetVersion() != 1 {
		t.Fatalf("read: %+v", r)
	}
	h := request[Health](t, sys, st.PID, &GetHealth{})
	if h.State != StateLeader || h.AppliedIndex == 0 || h.LeaderID != 1 {
		t.Fatalf("health %+v", h)
	}
	// Scheduled exports land in the node's snapshot store.
	waitFor(t, "a scheduled export", func() bool {
		m, err := n.comp.Snapshots().List(t.Context())
		return err == nil && len(m) > 0
	})
	e := request[*ExportReply](t, sys, st.PID, &ExportNow{})
	for errors.Is(e.Err, errExportBusy) {
		e = request[*ExportReply](t, sys, st.PID, &ExportNow{})
	}
	if e.Err != nil || e.Meta.Records == 0 {
		t.Fatalf("export: %+v", e)
	}
	if s := request[*StopShardReply](t, sys, sup, &StopShard{ShardID: testShard}); s.Err != nil {
		t.Fatal(s.Err)
	}
	if n.host.Running(testShard) {
		t.Fatal("replica still running after the shard actor stopped")
	}
}

// TestInjectedPanicsLoseNothing: panics injected in a child and in the
// shard actor during a write load lose no acknowledged write, and the
// shard keeps serving.
func TestInjectedPanicsLoseNothing(t *testing.T) {
	sys := newActorSystem(t)
	c := newCluster(t, backends[1], testShardConfig())
	leader := c.waitLeader(nil)
	var restarts sync.Map // child id -> count
	onDecide := func(child *actor.PID, _ any, d Decision) {
		if d.Directive == Restart {
			v, _ := restarts.LoadOrStore(child.Id, new(atomic.Int32))
			v.(*atomic.Int32).Add(1)
		}
	}
	sup := sys.Root.Spawn(SupervisorProps(SupervisionPolicy{MaxRestarts: 100, Backoff: 5 * time.Millisecond}, nil, onDecide))
	spec := ShardSpec{Host: leader.host, ShardID: testShard, ReplicaID: leader.id, Config: testShardConfig(),
		Middleware: []actor.ReceiverMiddleware{crashMiddleware},
		Children:   SupervisionPolicy{MaxRestarts: 100}, OnDecide: onDecide}
	st := request[*StartShardReply](t, sys, sup, &StartShard{Spec: spec})
	if st.Err != nil {
		t.Fatal(st.Err)
	}
	shard := st.PID
	data := actor.NewPID(shard.Address, shard.Id+"/data")
	logc := actor.NewPID(shard.Address, shard.Id+"/log")

	var (
		mu    sync.Mutex
		acked = map[string]string{} // id -> value acknowledged
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id, val := fmt.Sprintf("w%d-%d", w, i), fmt.Sprint(i)
				v, err := sys.Root.RequestFuture(shard, &Write{Command: withRID(put(id, "v", val), id)}, 2*time.Second).Result()
				if err != nil {
					continue // not acknowledged (e.g. dropped with a crashing message)
				}
				if r := v.(*WriteReply); r.Err == nil && r.Result.Status == applied {
					mu.Lock()
					acked[id] = val
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		time.Sleep(40 * time.Millisecond)
		sys.Root.Send(data, crash{})
		sys.Root.Send(logc, crash{})
		time.Sleep(40 * time.Millisecond)
		sys.Root.Send(shard, crash{})
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()

	count := func(id string) int32 {
		v, ok := restarts.Load(id)
		if !ok {
			return 0
		}
		return v.(*atomic.Int32).Load()
	}
	if count(shard.Id) < 5 || count(data.Id) < 1 {
		t.Fatalf("restarts: shard %d, data %d", count(shard.Id), count(data.Id))
	}
	if len(acked) < 10 {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
	// The shard still serves, and every acknowledged write is there.
	for id, val := range acked {
		r := request[*ReadReply](t, sys, shard, &Read{Query: GetObject{ID: id}})
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		o := r.Value.(*ObjectState)
		if o.Meta == nil || string(o.Entries[0].Value) != val {
			t.Fatalf("acknowledged write %s lost: %+v", id, o)
		}
	}
	w := request[*WriteReply](t, sys, shard, &Write{Command: put("after", "v", "1")})
	if w.Err != nil {
		t.Fatal(w.Err)
	}
	if !leader.host.Running(testShard) {
		t.Fatal("replica stopped by a restart")
	}
	t.Logf("%d writes acknowledged; restarts: shard %d, data %d, log %d", len(acked), count(shard.Id), count(data.Id), count(logc.Id))
	c.checkAppliedOnce()
}

// TestReplicaRestartOnSameHost: stopping and starting a replica again on a
// running Host reopens its app store with its data.
func TestReplicaRestartOnSameHost(t *testing.T) {
	c := newCluster(t, backends[1], testShardConfig())
	leader := c.waitLeader(nil)
	if _, err := c.write(leader, "a", "r1", "v", "1"); err != nil {
		t.Fatal(err)
	}
	var f *node
	for _, n := range c.nodes {
		if n != leader {
			f = n
			break
		}
	}
	waitFor(t, "follower applied", func() bool { return c.read(f, "a", Stale).Meta != nil })
	for i := 0; i < 3; i++ {
		if err := f.host.StopReplica(testShard); err != nil {
			t.Fatal(err)
		}
		if err := f.host.StartReplica(testShard, f.id, nil, false, testShardConfig(), SMOptions{Hooks: Hooks{Applied: c.applied}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.write(leader, "b", "r2", "v", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "follower serves again", func() bool {
		o, err := f.host.Read(t.Context(), testShard, GetObject{ID: "b"}, Stale)
		return err == nil && o.(*ObjectState).Meta != nil
	})
	c.checkAppliedOnce()
}

// echo is what TestObjectsChild's objects child answers: its incarnation
// and the message it got.
type echo struct {
	incarnation int32
	msg         any
}

type ping struct{ n int }

// TestObjectsChild: with Spec.Objects the shard actor runs the object
// actors' parent as its child: unknown messages reach it with their sender,
// so do the shard's events, and a restart of the shard actor starts a new
// one. Without it, an unknown request is answered at once.
func TestObjectsChild(t *testing.T) {
	sys := newActorSystem(t)
	n := singleNode(t)

	var incarnations atomic.Int32
	events := make(chan Event, 100)
	objects := actor.PropsFromProducer(func() actor.Actor {
		inc := incarnations.Add(1)
		return actor.ReceiveFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case ping:
				ctx.Respond(echo{incarnation: inc, msg: m})
			case Event:
				select {
				case events <- m:
				default:
				}
			}
		})
	})
	sup := sys.Root.Spawn(SupervisorProps(SupervisionPolicy{}, nil, nil))
	spec := ShardSpec{Host: n.host, ShardID: testShard, ReplicaID: 1, Members: map[uint64]string{1: n.addr}, Config: testShardConfig(),
		Objects: objects, Middleware: []actor.ReceiverMiddleware{crashMiddleware}}
	st := request[*StartShardReply](t, sys, sup, &StartShard{Spec: spec})
	if st.Err != nil {
		t.Fatal(st.Err)
	}
	if e := request[echo](t, sys, st.PID, ping{1}); e.incarnation != 1 || e.msg != (ping{1}) {
		t.Fatalf("forwarded ping answered %+v", e)
	}
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("the objects child got no event of its shard")
	}
	sys.Root.Send(st.PID, crash{})
	waitFor(t, "a new objects child", func() bool { return incarnations.Load() == 2 })
	if e := request[echo](t, sys, st.PID, ping{2}); e.incarnation != 2 {
		t.Fatalf("after the shard actor's restart: %+v", e)
	}
	if s := request[*StopShardReply](t, sys, sup, &StopShard{ShardID: testShard}); s.Err != nil {
		t.Fatal(s.Err)
	}

	spec.Objects = nil
	st = request[*StartShardReply](t, sys, sup, &StartShard{Spec: spec})
	if st.Err != nil {
		t.Fatal(st.Err)
	}
	request[*UnhandledReply](t, sys, st.PID, ping{3})
}
