package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/odgm-go/odgm"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/shards"
)

// shardEnv is what the actors of one local shard share.
type shardEnv struct {
	node    *Node
	cls     *class
	shardID uint64
	// replicaID is this node's replica of the shard.
	replicaID uint64
}

// Messages of the object actors. They are local Go values.

type callKind int

const (
	callInvoke callKind = iota
	callWrite
)

// objCall is one request for an object: an invocation or a write.
type objCall struct {
	ctx       context.Context
	id        string
	kind      callKind
	requestID string
	// invocation
	method  string
	fn      Method
	payload []byte
	stale   bool
	// write
	puts         []*odgmv1.Entry
	dels         []string
	deleteObject bool
	expected     *uint64
}

// objReply answers an objCall.
type objReply struct {
	payload []byte
	result  *odgmv1.CommandResult // nil when nothing was proposed
	version uint64                // the object's version after the call
	err     error
}

// passivateReq asks the parent to passivate the sender (it was idle).
type passivateReq struct {
	id  string
	pid *actor.PID
}

// countActive asks an objects actor how many object actors it routes to.
type countActive struct{}

// drainAndStop asks an objects actor to let its children finish what they
// hold, then stop; it answers with a drainAndStop when done. Calls that
// arrive after it are answered with odgm.ErrClosed.
type drainAndStop struct{}

// leaderChanged tells an object actor that its shard has a new leader:
// a read or proposal in flight is sent again (the same request id, so a
// proposal is still applied at most once) rather than waiting for the old
// one to time out.
type leaderChanged struct{}

// passivate tells an object actor to stop after what it holds: its parent
// routes nothing more to it.
type passivate struct{}

// Continuations, sent back to the object actor; seq matches them with the
// operation waiting for them.
type loadDone struct {
	seq uint64
	st  *shards.ObjectState
	err error
}
type proposeDone struct {
	seq uint64
	res *odgmv1.CommandResult
	err error
}
type retryTick struct{ seq uint64 }
type confirmDone struct {
	seq  uint64
	meta *odgmv1.ObjectMeta
	err  error
}

// objectsProps are the props of a shard's objects actor: the parent of its
// object actors. It routes each objCall to the object's actor (activating
// it on first use), passivates idle ones when they ask, and all of them at
// once when this replica stops being the shard's leader. A panicking
// object actor is restarted (one for one).
func objectsProps(env *shardEnv) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &objectsActor{env: env, byID: map[string]*actor.PID{}, live: map[string]child{},
			passivating: map[string]*actor.PID{}, held: map[string][]pending{}, pool: newWorkerPool(objectWorkers)}
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(100, time.Second, actor.DefaultDecider)))
}

type child struct {
	id  string
	pid *actor.PID
}

type objectsActor struct {
	env  *shardEnv
	byID map[string]*actor.PID // the active actor of each object
	live map[string]child      // by pid.Id: every child not stopped yet
	// Objects whose actor is passivating (told to stop after what it
	// holds): calls for them wait here until it has stopped, so that an
	// object never has two actors running at once.
	passivating map[string]*actor.PID
	held        map[string][]pending

	stopping  bool
	stopReply *actor.PID

	pool *workerPool // runs the object actors' mailboxes
}

// objectWorkers bounds the goroutines a shard keeps for its object
// actors' mailboxes (see workerPool).
const objectWorkers = 64

func (a *objectsActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Restarting:
		// The children stop after this message, and one may be in a
		// method that waits for this actor: do not wait for the workers
		// (each ends after its turn). The next instance has its own pool.
		a.pool.stop(false)
	case *actor.Stopped:
		// Every child has stopped: the workers end now.
		a.pool.stop(true)
	case countActive:
		ctx.Respond(len(a.byID))
	case *drainAndStop:
		a.stopping, a.stopReply = true, ctx.Sender()
		for id, pid := range a.byID {
			a.passivate(ctx, id, pid)
		}
		a.maybeStop(ctx)
	case *objCall:
		if a.stopping {
			ctx.Respond(&objReply{err: odgm.ErrClosed})
			return
		}
		if pid, ok := a.byID[m.id]; ok {
			ctx.Forward(pid)
			return
		}
		if _, ok := a.passivating[m.id]; ok {
			a.held[m.id] = append(a.held[m.id], pending{msg: m, sender: ctx.Sender()})
			return
		}
		ctx.Forward(a.activate(ctx, m.id))
	case *passivateReq:
		if pid, ok := a.byID[m.id]; ok && pid.Equal(m.pid) {
			a.passivate(ctx, m.id, pid)
		}
	case *actor.Terminated:
		// Stopped by its supervisor (or after passivation).
		if c, ok := a.live[m.Who.Id]; ok {
			delete(a.live, m.Who.Id)
			if pid, ok := a.byID[c.id]; ok && pid.Equal(m.Who) {
				delete(a.byID, c.id)
			}
			if pid, ok := a.passivating[c.id]; ok && pid.Equal(m.Who) {
				delete(a.passivating, c.id)
				a.release(ctx, c.id)
			}
		}
		a.maybeStop(ctx)
	case shards.Event:
		if m.Kind == shards.EventLeaderUpdated && m.LeaderID != 0 {
			// A request forwarded to a leader that died is never
			// answered until it times out: send it again to the new one.
			// live also holds the children passivated but not stopped yet.
			for _, c := range a.live {
				ctx.Send(c.pid, leaderChanged{})
			}
		}
		lost := m.Kind == shards.EventLeaderUpdated && m.LeaderID != a.env.replicaID ||
			m.Kind == shards.EventNodeUnloaded || m.Kind == shards.EventNodeHostShuttingDown
		if lost {
			for id, pid := range a.byID {
				a.passivate(ctx, id, pid)
			}
		}
	}
}

// maybeStop stops the objects actor once it is stopping and every child
// has finished what it held.
func (a *objectsActor) maybeStop(ctx actor.Context) {
	if a.stopping && len(a.live) == 0 {
		if a.stopReply != nil {
			ctx.Send(a.stopReply, &drainAndStop{})
			a.stopReply = nil
		}
		ctx.Stop(ctx.Self())
	}
}

func (a *objectsActor) passivate(ctx actor.Context, id string, pid *actor.PID) {
	delete(a.byID, id)
	a.passivating[id] = pid
	ctx.Send(pid, passivate{})
}

// activate spawns the actor of an object.
func (a *objectsActor) activate(ctx actor.Context, id string) *actor.PID {
	box := &mailbox{}
	env := a.env
	pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newObjectActor(env, id, box) },
		actor.WithDispatcher(a.pool)))
	a.byID[id], a.live[pid.Id] = pid, child{id: id, pid: pid}
	return pid
}

// release hands the calls held for an object, in order, to a new actor
// (or answers them ErrClosed when stopping).
func (a *objectsActor) release(ctx actor.Context, id string) {
	held := a.held[id]
	delete(a.held, id)
	if len(held) == 0 {
		return
	}
	if a.stopping {
		for _, p := range held {
			if p.sender != nil {
				ctx.Send(p.sender, &objReply{err: odgm.ErrClosed})
			}
		}
		return
	}
	pid := a.activate(ctx, id)
	for _, p := range held {
		ctx.RequestWithCustomSender(pid, p.msg, p.sender)
	}
}

// mailbox holds an object actor's buffered messages; it outlives a restart
// of the actor (the producer closes over it), so nothing buffered is lost
// when a method panics.
type mailbox struct {
	buf []pending
}

type pending struct {
	msg    any // *objCall or passivate
	sender *actor.PID
}

// objectActor is the virtual actor of one object. It runs one request at a
// time in arrival order. While it waits for a read or a proposal it is in
// the waiting behaviour (BecomeStacked), which buffers every request; the
// continuation unbecomes and replays the buffer inline, in order.
type objectActor struct {
	actor.Behavior
	env *shardEnv
	id  string
	box *mailbox

	st       *objState // cached state; nil: unknown
	cached   bool      // the method runs on st kept from an earlier call, not read for this one
	held     *objReply // a reply computed on the cached state, while it is confirmed
	waiting  bool
	phase    phase // what the waiting is for
	draining bool

	// The request being served.
	cur        *pending
	seq        uint64
	attempt    int // runs of the method after version mismatches
	mismatches int // of them, those not replayed from the exactly-once table
	tries      int // proposals of cmd after dropped proposals
	cmd        *odgmv1.Command
	puts       []*odgmv1.Entry
	dels       []string
}

// maxAttempts bounds the runs of one invocation's method, replays
// included.
const maxAttempts = 256

type phase int

const (
	phaseNone phase = iota
	phaseLoad
	phasePropose
	phaseBackoff
	phaseConfirm
)

func newObjectActor(env *shardEnv, id string, box *mailbox) actor.Actor {
	a := &objectActor{Behavior: actor.NewBehavior(), env: env, id: id, box: box}
	a.Become(a.idle)
	return a
}

func (a *objectActor) Receive(ctx actor.Context) { a.Behavior.Receive(ctx) }

func (a *objectActor) idle(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.SetReceiveTimeout(a.env.cls.Options.IdleTimeout)
		a.drain(ctx) // what a previous incarnation buffered
	case *objCall:
		a.start(ctx, pending{msg: m, sender: ctx.Sender()})
	case passivate:
		ctx.Stop(ctx.Self())
	case *actor.ReceiveTimeout:
		ctx.Send(ctx.Parent(), &passivateReq{id: a.id, pid: ctx.Self()})
	case *actor.Stopping:
		a.failBuffered(ctx)
	}
}

func (a *objectActor) waitingReceive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *objCall:
		a.box.buf = append(a.box.buf, pending{msg: m, sender: ctx.Sender()})
	case passivate:
		a.box.buf = append(a.box.buf, pending{msg: m})
	case *loadDone:
		if m.seq == a.seq {
			a.loaded(ctx, m)
		}
	case *proposeDone:
		if m.seq == a.seq {
			a.proposed(ctx, m.res, m.err)
		}
	case *retryTick:
		if m.seq == a.seq {
			a.propose(ctx)
		}
	case *confirmDone:
		if m.seq == a.seq {
			a.confirmed(ctx, m)
		}
	case leaderChanged:
		switch a.phase {
		case phaseLoad:
			a.load(ctx)
		case phasePropose:
			a.propose(ctx)
		case phaseConfirm:
			a.confirm(ctx)
		}
	case *actor.Stopping:
		if a.cur != nil {
			a.reply(ctx, &objReply{err: fmt.Errorf("%w: object actor stopped", odgm.ErrUnavailable)})
		}
		a.failBuffered(ctx)
	}
}

func (a *objectActor) wait() {
	if !a.waiting {
		a.waiting = true
		a.BecomeStacked(a.waitingReceive)
	}
}

// drain serves buffered messages until one has to wait. It does not
// recurse: finish calls it, and an outer drain keeps going.
func (a *objectActor) drain(ctx actor.Context) {
	if a.draining {
		return
	}
	a.draining = true
	defer func() { a.draining = false }()
	for !a.waiting && a.cur == nil && len(a.box.buf) > 0 {
		p := a.box.buf[0]
		a.box.buf[0] = pending{}
		a.box.buf = a.box.buf[1:]
		switch p.msg.(type) {
		case passivate:
			ctx.Stop(ctx.Self())
			return
		case *objCall:
			a.start(ctx, p)
		}
	}
}

func (a *objectActor) failBuffered(ctx actor.Context) {
	for _, p := range a.box.buf {
		if p.sender != nil {
			ctx.Send(p.sender, &objReply{err: fmt.Errorf("%w: object actor stopped", odgm.ErrUnavailable)})
		}
	}
	a.box.buf = nil
}

func (a *objectActor) call() *objCall { return a.cur.msg.(*objCall) }

func (a *objectActor) start(ctx actor.Context, p pending) {
	a.cur, a.attempt, a.mismatches, a.tries, a.cmd, a.cached = &p, 0, 0, 0, nil, false
	m := a.call()
	if err := m.ctx.Err(); err != nil {
		a.finish(ctx, &objReply{err: odgm.FromContext(err)})
		return
	}
	switch m.kind {
	case callInvoke:
		a.runOrLoad(ctx)
	case callWrite:
		a.puts, a.dels = m.puts, m.dels
		a.cmd = &odgmv1.Command{
			RequestId: m.requestID, Object: &odgmv1.ObjectRef{Class: a.env.cls.Name, Id: a.id},
			Puts: m.puts, Deletes: m.dels, DeleteObject: m.deleteObject, ExpectedVersion: m.expected,
		}
		a.propose(ctx)
	}
}

// runOrLoad runs the method on the cached state, reading it first when the
// cache is empty or the class keeps none (see "Caching and coherence" in
// doc.go for why a cached state is safe).
func (a *objectActor) runOrLoad(ctx actor.Context) {
	if a.st != nil && !a.env.cls.Options.NoStateCache {
		a.cached = true
		a.run(ctx)
		return
	}
	a.load(ctx)
}

func (a *objectActor) load(ctx actor.Context) {
	a.seq++
	if a.env.cls.Replicas == 1 || a.call().stale {
		// The only replica is the leader and applies every acknowledged
		// write before it is acknowledged: its local state is as fresh as
		// a ReadIndex would make it, and reading it does not block. (Or
		// the caller asked for StaleRead: the method may see an older
		// state; its writes are still conditioned on the version read.)
		v, err := a.env.node.host.Read(a.call().ctx, a.env.shardID, shards.GetObject{ID: a.id}, shards.Stale)
		st, _ := v.(*shards.ObjectState)
		a.loaded(ctx, &loadDone{seq: a.seq, st: st, err: err})
		return
	}
	a.phase = phaseLoad
	seq, self, root := a.seq, ctx.Self(), ctx.ActorSystem().Root
	rctx, cancel := context.WithTimeout(a.call().ctx, a.env.node.cfg.AttemptTimeout)
	err := a.env.node.host.ReadAsync(rctx, a.env.shardID, shards.GetObject{ID: a.id}, shards.Linearizable,
		func(v any, err error) {
			cancel()
			st, _ := v.(*shards.ObjectState)
			root.Send(self, &loadDone{seq: seq, st: st, err: err})
		})
	if err != nil {
		cancel()
		a.finish(ctx, &objReply{err: mapErr(a.call().ctx, err)})
		return
	}
	a.wait()
}

func (a *objectActor) loaded(ctx actor.Context, m *loadDone) {
	if m.err != nil && a.call().ctx.Err() == nil && a.tries < a.env.node.cfg.MaxRetries {
		// The attempt timed out or the shard had no leader: read again.
		a.tries++
		a.load(ctx)
		return
	}
	if m.err != nil {
		a.finish(ctx, &objReply{err: mapErr(a.call().ctx, m.err)})
		return
	}
	st := &objState{meta: m.st.Meta, entries: make(map[string][]byte, len(m.st.Entries))}
	for _, e := range m.st.Entries {
		st.entries[e.Name] = e.Value
	}
	a.st, a.tries, a.cached = st, 0, false
	a.run(ctx)
}

// run calls the method. Its writes, if any, are proposed as one command
// conditioned on the version read.
func (a *objectActor) run(ctx actor.Context) {
	m := a.call()
	cls := a.env.cls
	obj := newObject(cls.Name, a.id, a.st, &a.env.node.cfg.Limits)
	out, err, pv := callMethod(m.fn, m.ctx, obj, m.payload)
	switch {
	case pv != nil:
		// Answer, then let the supervisor restart the actor (fresh state).
		// The buffer is kept in the mailbox and replayed on Started.
		a.reply(ctx, &objReply{err: &odgm.MethodError{Class: cls.Name, ID: a.id, Method: m.method, Panic: true, Message: fmt.Sprint(pv)}})
		a.cur, a.st = nil, nil
		a.env.node.log.Warn("object method panicked", "class", cls.Name, "id", a.id, "method", m.method, "panic", pv)
		panic(fmt.Sprintf("runtime: method %s.%s panicked: %v", cls.Name, m.method, pv))
	case err != nil:
		a.answer(ctx, &objReply{err: &odgm.MethodError{Class: cls.Name, ID: a.id, Method: m.method, Err: err, Message: err.Error()}})
		return
	case obj.err != nil:
		a.answer(ctx, &objReply{err: obj.err})
		return
	}
	puts, dels := obj.writes()
	if len(puts)+len(dels) == 0 {
		a.answer(ctx, &objReply{payload: out, version: a.st.version()})
		return
	}
	if err := checkBatch(&a.env.node.cfg.Limits, puts, dels); err != nil {
		a.finish(ctx, &objReply{err: err})
		return
	}
	rid := m.requestID
	if a.attempt > 0 {
		rid = fmt.Sprintf("%s#%d", rid, a.attempt)
	}
	v := a.st.version()
	a.puts, a.dels, a.tries = puts, dels, 0
	// The reply rides with the writes: a retry of this request id gets
	// the reply of the attempt that was applied, not one computed again.
	// Conditioned on the incarnation it read too: the object deleted and
	// created again up to the same version is another object.
	a.cmd = &odgmv1.Command{RequestId: rid, Object: &odgmv1.ObjectRef{Class: cls.Name, Id: a.id},
		Puts: puts, Deletes: dels, ExpectedVersion: &v, Reply: out, ExpectedCreatedAt: a.st.createdAt()}
	a.propose(ctx)
}

// answer replies r, computed by a run that proposes nothing (it wrote
// nothing, or failed). When that run was on a cached state, r is held
// until confirm has found the object still at that state: a reply must
// reflect every write acknowledged before the call, wherever it was made.
func (a *objectActor) answer(ctx actor.Context, r *objReply) {
	if !a.cached || a.call().stale {
		a.finish(ctx, r)
		return
	}
	a.held = r
	a.confirm(ctx)
}

// confirm checks that the object's metadata is still the cached state's,
// after a run on that state that proposes nothing: linearizably (ReadIndex, metadata
// only) when the class has several replicas, from the local state when it
// has one (which is as fresh as a ReadIndex would make it; see load).
func (a *objectActor) confirm(ctx actor.Context) {
	a.seq++
	q := shards.GetMeta{ID: a.id}
	if a.env.cls.Replicas == 1 {
		v, err := a.env.node.host.Read(a.call().ctx, a.env.shardID, q, shards.Stale)
		st, _ := v.(*shards.ObjectState)
		a.confirmed(ctx, &confirmDone{seq: a.seq, meta: metaOf(st), err: err})
		return
	}
	a.phase = phaseConfirm
	seq, self, root := a.seq, ctx.Self(), ctx.ActorSystem().Root
	rctx, cancel := context.WithTimeout(a.call().ctx, a.env.node.cfg.AttemptTimeout)
	err := a.env.node.host.ReadAsync(rctx, a.env.shardID, q, shards.Linearizable, func(v any, err error) {
		cancel()
		st, _ := v.(*shards.ObjectState)
		root.Send(self, &confirmDone{seq: seq, meta: metaOf(st), err: err})
	})
	if err != nil {
		cancel()
		a.finish(ctx, &objReply{err: mapErr(a.call().ctx, err)})
		return
	}
	a.wait()
}

func (a *objectActor) confirmed(ctx actor.Context, m *confirmDone) {
	switch {
	case m.err != nil && a.call().ctx.Err() == nil && a.tries < a.env.node.cfg.MaxRetries:
		a.tries++
		a.confirm(ctx)
	case m.err != nil:
		a.finish(ctx, &objReply{err: mapErr(a.call().ctx, m.err)})
	case sameMeta(m.meta, a.st.meta):
		a.finish(ctx, a.held)
	default:
		// Written by someone else since it was cached: read the object
		// and run the method again.
		a.st, a.tries, a.held = nil, 0, nil
		a.load(ctx)
	}
}

func callMethod(fn Method, ctx context.Context, obj *Object, payload []byte) (out []byte, err error, pv any) {
	defer func() {
		if r := recover(); r != nil {
			pv = r
		}
	}()
	out, err = fn(ctx, obj, payload)
	return out, err, nil
}

func (a *objectActor) propose(ctx actor.Context) {
	a.seq++
	a.phase = phasePropose
	seq, self, root := a.seq, ctx.Self(), ctx.ActorSystem().Root
	err := a.env.node.host.ProposeAsync(a.env.shardID, a.cmd, func(r *odgmv1.CommandResult, err error) {
		root.Send(self, &proposeDone{seq: seq, res: r, err: err})
	})
	if err != nil {
		a.proposed(ctx, nil, err)
		return
	}
	a.wait()
}

func (a *objectActor) proposed(ctx actor.Context, res *odgmv1.CommandResult, err error) {
	m := a.call()
	switch {
	case err == nil:
		a.st = a.st.applied(res, a.puts, a.dels, a.cmd.GetDeleteObject())
		// The reply of the attempt that was applied (this one's unless the
		// request id was applied before), as the command carried it.
		a.finish(ctx, &objReply{payload: res.GetReply(), result: res, version: res.GetMeta().GetVersion()})
	case errors.Is(err, shards.ErrVersionMismatch):
		a.st = nil
		// A retried request finds the results of its earlier attempts
		// (request ids rid, rid#1, ...) in the exactly-once table: such a
		// replayed mismatch reports a version no newer than the one this
		// attempt read (a fresh one, a newer version, unless the object
		// was deleted meanwhile), and does not count against MaxRetries
		// (else a retried request could never get past its first call's
		// attempts). maxAttempts and the deadline bound the rest.
		if res.GetMeta().GetVersion() > a.cmd.GetExpectedVersion() {
			a.mismatches++
		}
		if m.kind == callInvoke && a.mismatches <= a.env.node.cfg.MaxRetries && a.attempt < maxAttempts && m.ctx.Err() == nil {
			a.attempt++
			a.runOrLoad(ctx)
			return
		}
		a.finish(ctx, &objReply{result: res, version: res.GetMeta().GetVersion(),
			err: fmt.Errorf("%w: object %s/%s is at version %d", odgm.ErrVersionMismatch, a.env.cls.Name, a.id, res.GetMeta().GetVersion())})
	case errors.Is(err, shards.ErrProposal):
		// Unknown outcome (dropped during an election, timed out): the
		// same command again, same request id, is applied at most once.
		a.st = nil
		if a.tries < a.env.node.cfg.MaxRetries && m.ctx.Err() == nil {
			a.tries++
			a.seq++
			a.phase = phaseBackoff
			seq, self, root := a.seq, ctx.Self(), ctx.ActorSystem().Root
			time.AfterFunc(time.Duration(a.tries)*20*time.Millisecond, func() { root.Send(self, &retryTick{seq: seq}) })
			a.wait()
			return
		}
		a.finish(ctx, &objReply{err: mapErr(m.ctx, err)})
	default:
		a.st = nil
		a.finish(ctx, &objReply{err: mapErr(m.ctx, err)})
	}
}

// finish answers the current request, leaves the waiting behaviour and
// serves what was buffered meanwhile.
func (a *objectActor) finish(ctx actor.Context, r *objReply) {
	a.reply(ctx, r)
	a.cur, a.cmd, a.puts, a.dels, a.held, a.phase = nil, nil, nil, nil, nil, phaseNone
	if a.waiting {
		a.waiting = false
		a.UnbecomeStacked()
	}
	a.drain(ctx)
}

func (a *objectActor) reply(ctx actor.Context, r *objReply) {
	if a.cur != nil && a.cur.sender != nil {
		ctx.Send(a.cur.sender, r)
	}
}

// replyBox receives the reply to one call sent by Node.send, which waits
// on c together with the caller's context: no goroutine, future or timer
// per call. Only the first message counts (there is one reply, or a
// DeadLetterResponse when the objects actor is gone).
type replyBox struct {
	pid *actor.PID
	c   chan any
}

func (n *Node) newReplyBox() (*replyBox, func()) {
	b := &replyBox{c: make(chan any, 1)}
	b.pid, _ = n.sys.ProcessRegistry.Add(b, "reply"+n.sys.ProcessRegistry.NextId())
	return b, func() { n.sys.ProcessRegistry.Remove(b.pid) }
}

// SendUserMessage implements actor.Process.
func (b *replyBox) SendUserMessage(_ *actor.PID, m any) {
	_, msg, _ := actor.UnwrapEnvelope(m)
	select {
	case b.c <- msg:
	default:
	}
}

// SendSystemMessage implements actor.Process.
func (*replyBox) SendSystemMessage(*actor.PID, any) {}

// Stop implements actor.Process.
func (*replyBox) Stop(*actor.PID) {}

// workerPool is the dispatcher of a shard's object actors: it runs their
// mailboxes on goroutines that it keeps, instead of protoactor's default
// of a new goroutine for every turn of a mailbox (each of which grows a
// fresh stack on the way into a method and the Raft calls). Schedule
// hands fn to an idle worker, starts a new one while there are fewer than
// max, or else runs fn on a goroutine of its own as protoactor would. The
// objects actor owns the pool: it stops it when it stops, after its
// children (or, without waiting, when it restarts).
type workerPool struct {
	work chan func() // unbuffered: a send succeeds only with an idle worker
	quit chan struct{}
	wg   sync.WaitGroup
	max  int

	mu struct {
		sync.Mutex
		workers int
		stopped bool
	}
}

func newWorkerPool(max int) *workerPool {
	return &workerPool{work: make(chan func()), quit: make(chan struct{}), max: max}
}

// Schedule implements actor.Dispatcher.
func (p *workerPool) Schedule(fn func()) {
	select {
	case p.work <- fn:
		return
	default:
	}
	p.mu.Lock()
	start := !p.mu.stopped && p.mu.workers < p.max
	if start {
		p.mu.workers++
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if start {
		go p.worker(fn)
	} else {
		go fn()
	}
}

// Throughput implements actor.Dispatcher: protoactor's default.
func (p *workerPool) Throughput() int { return 300 }

func (p *workerPool) worker(fn func()) {
	defer p.wg.Done()
	for {
		fn()
		select {
		case fn = <-p.work:
		case <-p.quit:
			return
		}
	}
}

// stop ends the idle workers and the busy ones after their turn, waiting
// for them if wait; later Schedules get goroutines of their own.
func (p *workerPool) stop(wait bool) {
	p.mu.Lock()
	if !p.mu.stopped {
		p.mu.stopped = true
		close(p.quit)
	}
	p.mu.Unlock()
	if wait {
		p.wg.Wait()
	}
}
