package shards

import (
	"sync"

	"github.com/lni/dragonboat/v4/raftio"
)

// EventKind names a dragonboat event.
type EventKind string

// Event kinds, one per dragonboat listener callback.
const (
	EventLeaderUpdated         EventKind = "leader_updated"
	EventNodeReady             EventKind = "node_ready"
	EventNodeUnloaded          EventKind = "node_unloaded"
	EventNodeDeleted           EventKind = "node_deleted"
	EventMembershipChanged     EventKind = "membership_changed"
	EventConnectionEstablished EventKind = "connection_established"
	EventConnectionFailed      EventKind = "connection_failed"
	EventSendSnapshotStarted   EventKind = "send_snapshot_started"
	EventSendSnapshotCompleted EventKind = "send_snapshot_completed"
	EventSendSnapshotAborted   EventKind = "send_snapshot_aborted"
	EventSnapshotReceived      EventKind = "snapshot_received"
	EventSnapshotRecovered     EventKind = "snapshot_recovered"
	EventSnapshotCreated       EventKind = "snapshot_created"
	EventSnapshotCompacted     EventKind = "snapshot_compacted"
	EventLogCompacted          EventKind = "log_compacted"
	EventLogDBCompacted        EventKind = "logdb_compacted"
	EventNodeHostShuttingDown  EventKind = "nodehost_shutting_down"
)

// Event is one dragonboat event, as a message. Fields that the kind does not
// carry are zero. Events without a shard (connections, shutting down) have
// ShardID 0 and go to every subscriber.
type Event struct {
	Kind               EventKind
	ShardID, ReplicaID uint64
	LeaderID, Term     uint64 // leader_updated
	Index, From        uint64 // snapshot and log events
	Address            string // connection events
	SnapshotConnection bool   // connection events
}

// Dispatcher receives dragonboat's events (it implements
// raftio.IRaftEventListener and raftio.ISystemEventListener) and hands them
// to subscribers on its own goroutine. The listener methods never block:
// events are queued (unbounded, in order) and dragonboat's goroutine returns
// at once. Subscribers' functions must not block either (an actor's is a
// Send).
//
// The Host owns its Dispatcher: Close stops the goroutine and waits for it.
type Dispatcher struct {
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	mu struct {
		sync.Mutex
		queue  []Event
		subs   map[uint64]map[int]func(Event)
		nextID int
		closed bool
	}
}

var (
	_ raftio.IRaftEventListener   = (*Dispatcher)(nil)
	_ raftio.ISystemEventListener = (*Dispatcher)(nil)
)

// NewDispatcher starts a dispatcher; Close stops it.
func NewDispatcher() *Dispatcher {
	d := &Dispatcher{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	d.mu.subs = map[uint64]map[int]func(Event){}
	go d.run()
	return d
}

// Subscribe calls fn, on the dispatcher's goroutine, for every later event
// of shardID and every event without a shard. The returned function
// unsubscribes.
func (d *Dispatcher) Subscribe(shardID uint64, fn func(Event)) (cancel func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.mu.nextID
	d.mu.nextID++
	if d.mu.subs[shardID] == nil {
		d.mu.subs[shardID] = map[int]func(Event){}
	}
	d.mu.subs[shardID][id] = fn
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.mu.subs[shardID], id)
	}
}

// Close stops the goroutine (queued events are dropped) and waits for it.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return
	}
	d.mu.closed = true
	d.mu.Unlock()
	close(d.stop)
	<-d.done
}

func (d *Dispatcher) push(e Event) {
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return
	}
	d.mu.queue = append(d.mu.queue, e)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) run() {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
		}
		d.mu.Lock()
		q := d.mu.queue
		d.mu.queue = nil
		d.mu.Unlock()
		for _, e := range q {
			for _, fn := range d.subscribers(e.ShardID) {
				fn(e)
			}
		}
	}
}

func (d *Dispatcher) subscribers(shardID uint64) []func(Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var fns []func(Event)
	if shardID == 0 {
		for _, m := range d.mu.subs {
			for _, fn := range m {
				fns = append(fns, fn)
			}
		}
		return fns
	}
	for _, fn := range d.mu.subs[shardID] {
		fns = append(fns, fn)
	}
	return fns
}

// LeaderUpdated implements raftio.IRaftEventListener.
func (d *Dispatcher) LeaderUpdated(i raftio.LeaderInfo) {
	d.push(Event{Kind: EventLeaderUpdated, ShardID: i.ShardID, ReplicaID: i.ReplicaID, LeaderID: i.LeaderID, Term: i.Term})
}

func (d *Dispatcher) node(k EventKind, i raftio.NodeInfo) {
	d.push(Event{Kind: k, ShardID: i.ShardID, ReplicaID: i.ReplicaID})
}

func (d *Dispatcher) snap(k EventKind, i raftio.SnapshotInfo) {
	d.push(Event{Kind: k, ShardID: i.ShardID, ReplicaID: i.ReplicaID, Index: i.Index, From: i.From})
}

func (d *Dispatcher) conn(k EventKind, i raftio.ConnectionInfo) {
	d.push(Event{Kind: k, Address: i.Address, SnapshotConnection: i.SnapshotConnection})
}

// The raftio.ISystemEventListener methods.

func (d *Dispatcher) NodeHostShuttingDown()               { d.push(Event{Kind: EventNodeHostShuttingDown}) }
func (d *Dispatcher) NodeUnloaded(i raftio.NodeInfo)      { d.node(EventNodeUnloaded, i) }
func (d *Dispatcher) NodeDeleted(i raftio.NodeInfo)       { d.node(EventNodeDeleted, i) }
func (d *Dispatcher) NodeReady(i raftio.NodeInfo)         { d.node(EventNodeReady, i) }
func (d *Dispatcher) MembershipChanged(i raftio.NodeInfo) { d.node(EventMembershipChanged, i) }
func (d *Dispatcher) ConnectionEstablished(i raftio.ConnectionInfo) {
	d.conn(EventConnectionEstablished, i)
}
func (d *Dispatcher) ConnectionFailed(i raftio.ConnectionInfo)  { d.conn(EventConnectionFailed, i) }
func (d *Dispatcher) SendSnapshotStarted(i raftio.SnapshotInfo) { d.snap(EventSendSnapshotStarted, i) }
func (d *Dispatcher) SendSnapshotCompleted(i raftio.SnapshotInfo) {
	d.snap(EventSendSnapshotCompleted, i)
}
func (d *Dispatcher) SendSnapshotAborted(i raftio.SnapshotInfo) { d.snap(EventSendSnapshotAborted, i) }
func (d *Dispatcher) SnapshotReceived(i raftio.SnapshotInfo)    { d.snap(EventSnapshotReceived, i) }
func (d *Dispatcher) SnapshotRecovered(i raftio.SnapshotInfo)   { d.snap(EventSnapshotRecovered, i) }
func (d *Dispatcher) SnapshotCreated(i raftio.SnapshotInfo)     { d.snap(EventSnapshotCreated, i) }
func (d *Dispatcher) SnapshotCompacted(i raftio.SnapshotInfo)   { d.snap(EventSnapshotCompacted, i) }
func (d *Dispatcher) LogCompacted(i raftio.EntryInfo) {
	d.push(Event{Kind: EventLogCompacted, ShardID: i.ShardID, ReplicaID: i.ReplicaID, Index: i.Index})
}
func (d *Dispatcher) LogDBCompacted(i raftio.EntryInfo) {
	d.push(Event{Kind: EventLogDBCompacted, ShardID: i.ShardID, ReplicaID: i.ReplicaID, Index: i.Index})
}
