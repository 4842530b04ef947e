package shards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// Messages of the shard actor tree. They are local (Go values): the
// protobuf forms for remote clients come with the gateway.

// Write asks the shard actor to replicate Command. The reply (to the
// sender, if any) is a *WriteReply.
type Write struct {
	Command *odgmv1.Command
}

// WriteReply answers a Write: Err as Host.Propose returns it
// (ErrVersionMismatch, ErrInvalidCommand, ErrProposal, ...).
type WriteReply struct {
	Result *odgmv1.CommandResult
	Err    error
}

// Read asks the shard's data actor to serve Query (see Lookup) with
// Consistency ("" means the shard's default). The reply is a *ReadReply.
type Read struct {
	Query       any
	Consistency Consistency
	// Timeout bounds a linearizable read. Zero means the Host's
	// ProposalTimeout.
	Timeout time.Duration
}

// ReadReply answers a Read.
type ReadReply struct {
	Value any
	Err   error
}

// GetHealth asks the shard actor for the replica's Health (the reply).
type GetHealth struct{}

// ExportNow asks the snapshot actor to export a snapshot now; the reply is
// an *ExportReply.
type ExportNow struct{}

// ExportReply answers ExportNow (and reports scheduled exports).
type ExportReply struct {
	Meta    snapshot.Meta
	Removed int // by the retention clean-up that followed
	Err     error
}

var errExportBusy = errors.New("shards: an export is already running")

// proposalDone is a completed proposal, delivered to the shard actor.
type proposalDone struct {
	replyTo *actor.PID
	reply   *WriteReply
}

type logTick struct{}
type exportTick struct{}
type exportDone struct {
	replyTo *actor.PID
	reply   *ExportReply
}

// ShardSpec describes one shard replica for ShardProps.
type ShardSpec struct {
	Host               *Host
	ShardID, ReplicaID uint64
	// Members and Join are as for Host.StartReplica.
	Members map[uint64]string
	Join    bool
	Config  Config
	SM      SMOptions
	// Children is the restart policy of the log, snapshot and data
	// actors. Zero means SupervisionPolicy's defaults.
	Children SupervisionPolicy
	// LogCompactionInterval is how often the log actor asks dragonboat to
	// reclaim compacted log space. Zero means a minute.
	LogCompactionInterval time.Duration
	// Now is the supervision clock. Nil means time.Now.
	Now func() time.Time
	// Middleware wraps the receive function of every actor of the tree
	// (tracing, tests).
	Middleware []actor.ReceiverMiddleware
	// OnDecide observes supervision decisions about the children.
	OnDecide func(child *actor.PID, reason any, d Decision)
	Logger   *slog.Logger
	// Objects, if set, are the props of the parent of the shard's object
	// actors (the runtime's): the shard actor spawns it as its child
	// "objects", supervises it with Children, forwards to it every message
	// it does not handle itself (object calls keep their sender), and
	// sends it every event of the shard. A restart of the shard actor
	// stops it with the other children and starts it again.
	Objects *actor.Props
}

// ShardProps returns the props of a shard actor. The shard actor starts
// its replica on Started (or re-attaches to it when it is already running,
// after a restart), stops it on Stopping, and supervises its log, snapshot
// and data children with Spec.Children. Proposals never block its
// mailbox: they complete as messages back to it.
func ShardProps(spec ShardSpec) *actor.Props {
	if spec.Logger == nil {
		spec.Logger = slog.New(slog.DiscardHandler)
	}
	if spec.LogCompactionInterval == 0 {
		spec.LogCompactionInterval = time.Minute
	}
	spec.Config.EnsureDefaults()
	strategy := NewStrategy(spec.Children, spec.Now, spec.OnDecide)
	return actor.PropsFromProducer(func() actor.Actor { return &shardActor{spec: spec, strategy: strategy} },
		actor.WithSupervisor(strategy), actor.WithReceiverMiddleware(spec.Middleware...))
}

type shardActor struct {
	spec     ShardSpec
	strategy *Strategy
	log      *actor.PID
	snap     *actor.PID
	data     *actor.PID
	objects  *actor.PID // nil without Spec.Objects, or once it has stopped
	unsub    func()
}

func (a *shardActor) Receive(ctx actor.Context) {
	s := &a.spec
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if !s.Host.Running(s.ShardID) {
			if err := s.Host.StartReplica(s.ShardID, s.ReplicaID, s.Members, s.Join, s.Config, s.SM); err != nil && !errors.Is(err, ErrAlreadyStarted) {
				// Without a replica the actor is useless: fail and let the
				// supervisor decide.
				panic(err)
			}
		}
		self, root := ctx.Self(), ctx.ActorSystem().Root
		a.unsub = s.Host.Events().Subscribe(s.ShardID, func(e Event) { root.Send(self, e) })
		a.log = spawnChild(ctx, "log", actor.PropsFromProducer(func() actor.Actor { return &logActor{spec: s} },
			actor.WithReceiverMiddleware(s.Middleware...)))
		a.snap = spawnChild(ctx, "snapshot", actor.PropsFromProducer(func() actor.Actor { return &snapshotActor{spec: s} },
			actor.WithReceiverMiddleware(s.Middleware...)))
		a.data = spawnChild(ctx, "data", actor.PropsFromProducer(func() actor.Actor { return &dataActor{spec: s} },
			actor.WithReceiverMiddleware(s.Middleware...)))
		if s.Objects != nil {
			a.objects = spawnChild(ctx, "objects", s.Objects)
		}
	case *actor.Restarting:
		// The replica keeps running: the next instance re-attaches to it.
		a.unsubscribe()
	case *actor.Stopping:
		a.unsubscribe()
		a.strategy.Close()
		if err := s.Host.StopReplica(s.ShardID); err != nil && !errors.Is(err, ErrNotStarted) {
			s.Logger.Warn("stop replica", "shard", s.ShardID, "err", err)
		}
	case *Write:
		replyTo, self, root := ctx.Sender(), ctx.Self(), ctx.ActorSystem().Root
		err := s.Host.ProposeAsync(s.ShardID, m.Command, func(r *odgmv1.CommandResult, err error) {
			root.Send(self, &proposalDone{replyTo: replyTo, reply: &WriteReply{Result: r, Err: err}})
		})
		if err != nil && replyTo != nil {
			ctx.Respond(&WriteReply{Err: err})
		}
	case *proposalDone:
		if m.replyTo != nil {
			ctx.Send(m.replyTo, m.reply)
		}
	case *Read:
		ctx.Forward(a.data)
	case *ExportNow:
		ctx.Forward(a.snap)
	case *GetHealth:
		ctx.Respond(s.Host.Health(s.ShardID))
	case *actor.Terminated:
		if a.objects != nil && m.Who.Equal(a.objects) {
			a.objects = nil // it stopped itself (drained): nothing to forward to
		}
	case Event:
		if a.objects != nil {
			ctx.Send(a.objects, m)
		}
		switch m.Kind {
		case EventLogCompacted, EventLogDBCompacted:
			ctx.Send(a.log, m)
		case EventSnapshotCreated, EventSnapshotReceived, EventSnapshotRecovered, EventSnapshotCompacted,
			EventSendSnapshotStarted, EventSendSnapshotCompleted, EventSendSnapshotAborted:
			ctx.Send(a.snap, m)
		case EventLeaderUpdated:
			s.Logger.Debug("leader updated", "shard", m.ShardID, "leader", m.LeaderID, "term", m.Term)
		}
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		if a.objects != nil {
			ctx.Forward(a.objects)
		} else if ctx.Sender() != nil {
			ctx.Respond(&UnhandledReply{Message: fmt.Sprintf("shards: shard %d has no handler for %T", s.ShardID, m)})
		}
	}
}

// UnhandledReply answers a request the shard actor has no handler for
// (and no objects child to forward it to), so that the sender fails at
// once instead of waiting for its timeout.
type UnhandledReply struct{ Message string }

func (a *shardActor) unsubscribe() {
	if a.unsub != nil {
		a.unsub()
		a.unsub = nil
	}
}

func spawnChild(ctx actor.Context, name string, props *actor.Props) *actor.PID {
	pid, err := ctx.SpawnNamed(props, name)
	if err != nil {
		pid = ctx.Spawn(props) // the name is still taken by a stopping child
	}
	return pid
}

// logActor asks dragonboat to reclaim compacted log space on a schedule
// and keeps the log figures up to date.
type logActor struct {
	spec   *ShardSpec
	cancel scheduler.CancelFunc
	last   Event
}

func (a *logActor) Receive(ctx actor.Context) {
	s := a.spec
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.cancel = scheduler.NewTimerScheduler(ctx).SendRepeatedly(s.LogCompactionInterval, s.LogCompactionInterval, ctx.Self(), logTick{})
	case *actor.Stopping, *actor.Restarting:
		if a.cancel != nil {
			a.cancel()
		}
	case logTick:
		// Rejected when there is nothing to compact: not an error.
		_, _ = s.Host.NodeHost().RequestCompaction(s.ShardID, s.ReplicaID)
	case Event:
		a.last = m
	}
}

// snapshotActor exports snapshots on Config.ExportInterval into the node's
// snapshot store and applies the retention policy after each export. An
// export runs on a goroutine the actor owns (waited for on Stopping and
// Restarting), so the mailbox never blocks on it.
type snapshotActor struct {
	spec      *ShardSpec
	cancel    scheduler.CancelFunc
	exporting bool
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

func (a *snapshotActor) Receive(ctx actor.Context) {
	s := a.spec
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if iv := s.Config.ExportInterval; iv > 0 {
			a.cancel = scheduler.NewTimerScheduler(ctx).SendRepeatedly(iv, iv, ctx.Self(), exportTick{})
		}
	case *actor.Stopping, *actor.Restarting:
		if a.cancel != nil {
			a.cancel()
		}
		if a.stop != nil {
			a.stop()
		}
		a.wg.Wait()
	case exportTick:
		a.export(ctx, nil)
	case *ExportNow:
		a.export(ctx, ctx.Sender())
	case *exportDone:
		a.exporting = false
		if m.reply.Err != nil {
			s.Logger.Warn("export", "shard", s.ShardID, "err", m.reply.Err)
		}
		if m.replyTo != nil {
			ctx.Send(m.replyTo, m.reply)
		}
	}
}

func (a *snapshotActor) export(ctx actor.Context, replyTo *actor.PID) {
	if a.exporting {
		if replyTo != nil {
			ctx.Send(replyTo, &ExportReply{Err: errExportBusy})
		}
		return
	}
	a.exporting = true
	s, self, root := a.spec, ctx.Self(), ctx.ActorSystem().Root
	c, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		r := &ExportReply{}
		r.Meta, r.Err = s.Host.Export(c, s.ShardID)
		if r.Err == nil {
			ret := s.Config.ExportRetention
			r.Removed, r.Err = s.Host.cfg.Storage.Snapshots().Cleanup(c, ret)
		}
		root.Send(self, &exportDone{replyTo: replyTo, reply: r})
	}()
}

// dataActor serves reads: each on a goroutine owned by the Host (stopped
// when the Host closes), the reply sent straight to the requester.
type dataActor struct{ spec *ShardSpec }

func (a *dataActor) Receive(ctx actor.Context) {
	s := a.spec
	m, ok := ctx.Message().(*Read)
	if !ok {
		return
	}
	replyTo, root := ctx.Sender(), ctx.ActorSystem().Root
	c, cancel := context.Background(), context.CancelFunc(func() {})
	if m.Timeout > 0 {
		c, cancel = context.WithTimeout(c, m.Timeout)
	}
	err := s.Host.ReadAsync(c, s.ShardID, m.Query, m.Consistency, func(v any, err error) {
		cancel()
		if replyTo != nil {
			root.Send(replyTo, &ReadReply{Value: v, Err: err})
		}
	})
	if err != nil {
		cancel()
		if replyTo != nil {
			ctx.Respond(&ReadReply{Err: err})
		}
	}
}

// StartShard asks the shards supervisor to spawn a shard actor; the reply
// is a *StartShardReply.
type StartShard struct{ Spec ShardSpec }

// StartShardReply answers StartShard.
type StartShardReply struct {
	PID *actor.PID
	Err error
}

// StopShard asks the shards supervisor to stop the shard actor of ShardID
// (which stops its replica); the reply is a *StopShardReply once it has
// stopped.
type StopShard struct{ ShardID uint64 }

// StopShardReply answers StopShard.
type StopShardReply struct{ Err error }

// SupervisorProps returns the props of the node's shards supervisor: the
// parent of its shard actors, which restarts a failing shard actor
// according to policy (use a Backoff) with the clock now. A restarted shard
// actor re-attaches to its running replica.
func SupervisorProps(policy SupervisionPolicy, now func() time.Time, onDecide func(child *actor.PID, reason any, d Decision)) *actor.Props {
	strategy := NewStrategy(policy, now, onDecide)
	return actor.PropsFromProducer(func() actor.Actor { return &supervisorActor{shards: map[uint64]*actor.PID{}, strategy: strategy} },
		actor.WithSupervisor(strategy))
}

type supervisorActor struct {
	shards   map[uint64]*actor.PID
	strategy *Strategy
}

func (a *supervisorActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		a.strategy.Close()
	case *StartShard:
		if _, ok := a.shards[m.Spec.ShardID]; ok {
			ctx.Respond(&StartShardReply{Err: ErrAlreadyStarted})
			return
		}
		cfg := m.Spec.Config
		cfg.EnsureDefaults()
		if err := cfg.Validate(); err != nil {
			ctx.Respond(&StartShardReply{Err: fmt.Errorf("shards: shard %d config: %w", m.Spec.ShardID, err)})
			return
		}
		pid, err := ctx.SpawnNamed(ShardProps(m.Spec), fmt.Sprintf("shard-%d", m.Spec.ShardID))
		if err == nil {
			a.shards[m.Spec.ShardID] = pid
		}
		ctx.Respond(&StartShardReply{PID: pid, Err: err})
	case *StopShard:
		pid, ok := a.shards[m.ShardID]
		if !ok {
			ctx.Respond(&StopShardReply{Err: ErrNotStarted})
			return
		}
		delete(a.shards, m.ShardID)
		sender := ctx.Sender()
		// Wait without blocking the mailbox.
		ctx.ReenterAfter(ctx.StopFuture(pid), func(_ any, err error) {
			if sender != nil {
				ctx.Send(sender, &StopShardReply{Err: err})
			}
		})
	}
}
