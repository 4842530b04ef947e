package shards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	chantransport "github.com/lni/dragonboat/v4/plugin/chan"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/raftlog"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// Errors returned by Host methods; test them with errors.Is.
var (
	// ErrVersionMismatch: the command's expected version was not the
	// object's; nothing was written. The result carries the current meta.
	ErrVersionMismatch = errors.New("shards: version mismatch")
	// ErrInvalidCommand: the state machine refused the command (bad id,
	// entry name, class, or an undecodable command); nothing was written.
	ErrInvalidCommand = errors.New("shards: invalid command")
	// ErrNotStarted: the shard has no replica on this host.
	ErrNotStarted = errors.New("shards: shard not started on this host")
	// ErrAlreadyStarted: StartReplica for a shard already started.
	ErrAlreadyStarted = errors.New("shards: shard already started on this host")
	// ErrDirInUse: another Host of this process uses the directory
	// (dragonboat would panic).
	ErrDirInUse = errors.New("shards: NodeHost directory in use in this process")
	// ErrClosed: the Host is closed.
	ErrClosed = errors.New("shards: host closed")
	// ErrProposal: the proposal did not complete (timeout, dropped,
	// rejected, terminated); it may or may not have been applied — retry
	// with the same request id.
	ErrProposal = errors.New("shards: proposal not completed")
)

// HostConfig configures a Host.
type HostConfig struct {
	// Dir is dragonboat's NodeHost directory (its flag files and received
	// snapshots). Required; one Host per directory.
	Dir string
	// RaftAddress is this node's Raft address, IPv4 host:port (port 0 is
	// refused by dragonboat). Required.
	RaftAddress string
	// RTTMillisecond is the Raft round trip in milliseconds, the unit of
	// ElectionRTT and HeartbeatRTT. Zero means 100.
	RTTMillisecond uint64
	// Storage is the node's storage; its log config chooses the LogDB and
	// each replica opens its app store in it. Required. The Host does not
	// close it.
	Storage *storage.Composite
	// Transport replaces dragonboat's TCP transport (e.g.
	// InProcessTransport). Nil means TCP.
	Transport config.TransportFactory
	// ProposalTimeout bounds an asynchronous proposal, and each attempt of
	// a linearizable read (Read tries again while its context allows).
	// Zero means 10s.
	ProposalTimeout time.Duration
	// Logger receives the Host's warnings. Nil means discarded.
	Logger *slog.Logger
	// MutualTLS, when CAFile, CertFile and KeyFile are set, makes the
	// Raft transport use mutual TLS with them (PEM files).
	CAFile, CertFile, KeyFile string
	// Now is the clock that stamps commands without proposed_at. Nil means
	// time.Now.
	Now func() time.Time
}

// Host is one node's Raft engine for shards: a dragonboat NodeHost whose
// LogDB is the storage's log layer, whose events go to a Dispatcher, and
// which runs the shards' state machines over their app stores. Its methods
// are safe for concurrent use.
type Host struct {
	cfg  HostConfig
	nh   *dragonboat.NodeHost
	disp *Dispatcher
	logs atomic.Pointer[raftlog.LogDB] // nil for pebble and tan

	wg   sync.WaitGroup // asynchronous proposals and reads
	stop chan struct{}

	mu struct {
		sync.Mutex
		closed   bool
		replicas map[uint64]*replica
		// restoring holds the shards RestoreReplica is working on.
		restoring map[uint64]bool
	}
}

type replica struct {
	shardID, replicaID uint64
	cfg                Config
	sm                 atomic.Pointer[StateMachine]
}

var dirs struct {
	sync.Mutex
	inUse map[string]bool
}

// NewHost starts a NodeHost. Close stops it.
func NewHost(cfg HostConfig) (*Host, error) {
	if cfg.Dir == "" || cfg.RaftAddress == "" || cfg.Storage == nil {
		return nil, errors.New("shards: HostConfig needs Dir, RaftAddress and Storage")
	}
	if cfg.RTTMillisecond == 0 {
		cfg.RTTMillisecond = 100
	}
	if cfg.ProposalTimeout == 0 {
		cfg.ProposalTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	dirs.Lock()
	if dirs.inUse == nil {
		dirs.inUse = map[string]bool{}
	}
	if dirs.inUse[abs] {
		dirs.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrDirInUse, abs)
	}
	dirs.inUse[abs] = true
	dirs.Unlock()
	release := func() {
		dirs.Lock()
		delete(dirs.inUse, abs)
		dirs.Unlock()
	}

	f, err := cfg.Storage.LogDBFactory()
	if err != nil {
		release()
		return nil, fmt.Errorf("shards: %w", err)
	}
	h := &Host{cfg: cfg, disp: NewDispatcher(), stop: make(chan struct{})}
	h.mu.replicas = map[uint64]*replica{}
	nhc := config.NodeHostConfig{
		NodeHostDir:         abs,
		RTTMillisecond:      cfg.RTTMillisecond,
		RaftAddress:         cfg.RaftAddress,
		RaftEventListener:   h.disp,
		SystemEventListener: h.disp,
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		nhc.MutualTLS, nhc.CAFile, nhc.CertFile, nhc.KeyFile = true, cfg.CAFile, cfg.CertFile, cfg.KeyFile
	}
	nhc.Expert.LogDBFactory = &capturingFactory{LogDBFactory: f, h: h}
	if cfg.Transport != nil {
		nhc.Expert.TransportFactory = cfg.Transport
	}
	nh, err := newNodeHost(nhc)
	if err != nil {
		h.disp.Close()
		release()
		return nil, fmt.Errorf("shards: start NodeHost: %w", err)
	}
	h.nh = nh
	h.cfg.Dir = abs
	return h, nil
}

// newNodeHost turns dragonboat's panics on bad configs into errors.
func newNodeHost(nhc config.NodeHostConfig) (nh *dragonboat.NodeHost, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("dragonboat panicked: %v", r)
		}
	}()
	return dragonboat.NewNodeHost(nhc)
}

// capturingFactory remembers the LogDB dragonboat creates, for stats.
type capturingFactory struct {
	config.LogDBFactory
	h *Host
}

func (f *capturingFactory) Create(c config.NodeHostConfig, cb config.LogDBCallback, d, w []string) (raftio.ILogDB, error) {
	db, err := f.LogDBFactory.Create(c, cb, d, w)
	if l, ok := db.(*raftlog.LogDB); ok {
		f.h.logs.Store(l)
	}
	return db, err
}

// NodeHost is the underlying dragonboat NodeHost (membership changes,
// leader transfer...). Do not Close it: Close the Host.
func (h *Host) NodeHost() *dragonboat.NodeHost { return h.nh }

// Events is the Host's event dispatcher.
func (h *Host) Events() *Dispatcher { return h.disp }

// StartReplica starts the replica replicaID of shardID. members is the
// initial membership (replica id → Raft address) when the shard is created;
// pass nil (and join false) to restart a replica that this host ran
// before, or nil with join true for a replica added by a membership change.
// cfg is completed with EnsureDefaults and checked with Validate.
func (h *Host) StartReplica(shardID, replicaID uint64, members map[uint64]string, join bool, cfg Config, opts SMOptions) error {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("shards: shard %d config: %w", shardID, err)
	}
	if err := h.checkRestoreIntent(shardID, replicaID); err != nil {
		return err
	}
	base := NewStateMachineFactory(h.cfg.Storage, cfg, opts)
	return h.start(shardID, replicaID, members, join, cfg, func(r *replica, targets map[uint64]dragonboat.Target) error {
		create := func(s, rid uint64) smOnDisk {
			m := base(s, rid).(*StateMachine)
			r.sm.Store(m)
			return m
		}
		return h.nh.StartOnDiskReplica(targets, join, create, cfg.RaftConfig(shardID, replicaID))
	})
}

// start registers the replica and starts it with startFn, which gets the
// initial membership as dragonboat targets: shared by StartReplica and
// StartRegularReplica.
func (h *Host) start(shardID, replicaID uint64, members map[uint64]string, join bool, cfg Config,
	startFn func(r *replica, targets map[uint64]dragonboat.Target) error) error {
	if len(members) == 0 && !join && !h.nh.HasNodeInfo(shardID, replicaID) {
		return fmt.Errorf("shards: shard %d replica %d was never started here: members are required", shardID, replicaID)
	}
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	if _, ok := h.mu.replicas[shardID]; ok {
		h.mu.Unlock()
		return fmt.Errorf("%w: %d", ErrAlreadyStarted, shardID)
	}
	if h.mu.restoring[shardID] {
		h.mu.Unlock()
		return fmt.Errorf("%w: shard %d is being restored", ErrRestorePending, shardID)
	}
	r := &replica{shardID: shardID, replicaID: replicaID, cfg: cfg}
	h.mu.replicas[shardID] = r
	h.mu.Unlock()

	targets := map[uint64]dragonboat.Target{}
	for id, addr := range members {
		targets[id] = addr
	}
	err := startFn(r, targets)
	// StopReplica returns before dragonboat has unloaded the replica: a
	// quick restart waits for it.
	for i := 0; errors.Is(err, dragonboat.ErrShardAlreadyExist) && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
		err = startFn(r, targets)
	}
	if err != nil {
		h.mu.Lock()
		delete(h.mu.replicas, shardID)
		h.mu.Unlock()
		return fmt.Errorf("shards: start shard %d replica %d: %w", shardID, replicaID, err)
	}
	return nil
}

// StopReplica stops the shard's replica on this host (its data stays).
func (h *Host) StopReplica(shardID uint64) error {
	h.mu.Lock()
	r, ok := h.mu.replicas[shardID]
	delete(h.mu.replicas, shardID)
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %d", ErrNotStarted, shardID)
	}
	return h.nh.StopReplica(shardID, r.replicaID)
}

// Running reports whether the shard has a replica started on this host.
func (h *Host) Running(shardID uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.mu.replicas[shardID]
	return ok
}

// StateMachine returns the shard's state machine on this host, if running.
func (h *Host) StateMachine(shardID uint64) (*StateMachine, bool) {
	r, ok := h.replica(shardID)
	if !ok {
		return nil, false
	}
	m := r.sm.Load()
	return m, m != nil
}

func (h *Host) replica(shardID uint64) (*replica, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.mu.replicas[shardID]
	return r, ok
}

func (h *Host) encode(cmd *odgmv1.Command) ([]byte, error) {
	if cmd.GetProposedAt() == nil {
		cmd = withProposedAt(cmd, h.cfg.Now())
	}
	return proto.Marshal(cmd)
}

// Propose replicates cmd and returns its result once applied on this
// replica. A VERSION_MISMATCH result comes with an error wrapping
// ErrVersionMismatch, INVALID with ErrInvalidCommand. A command without
// proposed_at is stamped with the Host's clock.
func (h *Host) Propose(ctx context.Context, shardID uint64, cmd *odgmv1.Command) (*odgmv1.CommandResult, error) {
	if _, ok := h.replica(shardID); !ok {
		return nil, fmt.Errorf("%w: %d", ErrNotStarted, shardID)
	}
	data, err := h.encode(cmd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := h.withDeadline(ctx)
	defer cancel()
	var res sm.Result
	err = retryDropped(ctx, h.stop, func() (err error) {
		res, err = h.nh.SyncPropose(ctx, h.nh.GetNoOPSession(shardID), data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	return decodeResult(res.Data)
}

// dropped reports whether dragonboat refused a request without taking it
// in: the replica does not know a leader yet (just started, or an election
// is running) or is overloaded. Such a request is safe to send again.
func dropped(err error) bool {
	return errors.Is(err, dragonboat.ErrShardNotReady) || errors.Is(err, dragonboat.ErrSystemBusy)
}

// retryDropped runs op until it returns something other than a dropped
// request, ctx ends or stop closes, backing off from 2 ms to 100 ms: the
// caller sees an election only as latency.
func retryDropped(ctx context.Context, stop <-chan struct{}, op func() error) error {
	wait := 2 * time.Millisecond
	for {
		err := op()
		if !dropped(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-stop:
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

func decodeResult(data []byte) (*odgmv1.CommandResult, error) {
	out, ok := decodeResultFields(data)
	if !ok {
		out = &odgmv1.CommandResult{}
		if err := proto.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("shards: undecodable result: %w", err)
		}
	}
	return out, ResultError(out)
}

// withProposedAt returns cmd stamped with now: a shallow copy, so that the
// caller's command is left as it is and nothing below the top level is
// copied (every proposal of the runtime comes this way).
func withProposedAt(cmd *odgmv1.Command, now time.Time) *odgmv1.Command {
	return &odgmv1.Command{RequestId: cmd.RequestId, Object: cmd.Object, Puts: cmd.Puts, Deletes: cmd.Deletes,
		DeleteObject: cmd.DeleteObject, ExpectedVersion: cmd.ExpectedVersion, Reply: cmd.Reply,
		ExpectedCreatedAt: cmd.ExpectedCreatedAt, ProposedAt: timestamppb.New(now)}
}

// ResultError maps a result's status to an error: nil for APPLIED and
// NOOP, ErrVersionMismatch, ErrInvalidCommand.
func ResultError(r *odgmv1.CommandResult) error {
	switch r.GetStatus() {
	case odgmv1.CommandStatus_COMMAND_STATUS_APPLIED, odgmv1.CommandStatus_COMMAND_STATUS_NOOP:
		return nil
	case odgmv1.CommandStatus_COMMAND_STATUS_VERSION_MISMATCH:
		return fmt.Errorf("%w: %s", ErrVersionMismatch, r.GetMessage())
	case odgmv1.CommandStatus_COMMAND_STATUS_INVALID:
		return fmt.Errorf("%w: %s", ErrInvalidCommand, r.GetMessage())
	}
	return fmt.Errorf("shards: unknown result status %v", r.GetStatus())
}

// ProposeAsync replicates cmd without waiting: done is called exactly once,
// on a goroutine owned by the Host, with what Propose would have returned.
// done must not block. Close waits for every pending done.
func (h *Host) ProposeAsync(shardID uint64, cmd *odgmv1.Command, done func(*odgmv1.CommandResult, error)) error {
	if _, ok := h.replica(shardID); !ok {
		return fmt.Errorf("%w: %d", ErrNotStarted, shardID)
	}
	data, err := h.encode(cmd)
	if err != nil {
		return err
	}
	if !h.addTask() {
		return ErrClosed
	}
	rs, err := h.nh.Propose(h.nh.GetNoOPSession(shardID), data, h.cfg.ProposalTimeout)
	if err != nil && !dropped(err) {
		h.wg.Done()
		return fmt.Errorf("%w: %w", ErrProposal, err)
	}
	go func() {
		defer h.wg.Done()
		done(h.awaitProposal(shardID, data, rs))
	}()
	return nil
}

// awaitProposal waits for the proposal rs of data (nil if it was dropped
// before being taken in) and proposes it again while dragonboat drops it,
// until ProposalTimeout has passed since the first try or the Host closes.
func (h *Host) awaitProposal(shardID uint64, data []byte, rs *dragonboat.RequestState) (*odgmv1.CommandResult, error) {
	deadline := time.Now().Add(h.cfg.ProposalTimeout)
	wait := 2 * time.Millisecond
	for {
		var outcome error = dragonboat.ErrShardNotReady
		if rs != nil {
			// dragonboat always completes a request: applied, timed
			// out, dropped, or terminated when the replica or the
			// NodeHost stops.
			r := <-rs.ResultC()
			rs.Release()
			switch {
			case r.Completed():
				return decodeResult(r.GetResult().Data)
			case r.Timeout():
				return nil, fmt.Errorf("%w: %w", ErrProposal, dragonboat.ErrTimeout)
			case !r.Dropped():
				return nil, fmt.Errorf("%w: %s", ErrProposal, requestOutcome(r))
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w: %w", ErrProposal, outcome)
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-h.stop:
			t.Stop()
			return nil, fmt.Errorf("%w: %w", ErrProposal, ErrClosed)
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
		var err error
		rs, err = h.nh.Propose(h.nh.GetNoOPSession(shardID), data, max(time.Until(deadline), time.Millisecond))
		if err != nil && !dropped(err) {
			return nil, fmt.Errorf("%w: %w", ErrProposal, err)
		}
		if err != nil {
			rs = nil
		}
	}
}

func requestOutcome(r dragonboat.RequestResult) string {
	switch {
	case r.Terminated():
		return "terminated"
	case r.Dropped():
		return "dropped"
	case r.Rejected():
		return "rejected"
	case r.Aborted():
		return "aborted"
	}
	return "not completed"
}

func (h *Host) addTask() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// Read serves query q (see Lookup) from the shard's replica on this host:
// with Linearizable through ReadIndex, with Stale from the local state at
// once; "" means the shard's ReadConsistency.
func (h *Host) Read(ctx context.Context, shardID uint64, q any, c Consistency) (any, error) {
	r, ok := h.replica(shardID)
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrNotStarted, shardID)
	}
	if c == "" {
		c = r.cfg.ReadConsistency
	}
	if c == Stale {
		return h.nh.StaleRead(shardID, q)
	}
	ctx, cancel := h.withDeadline(ctx)
	defer cancel()
	var out any
	for {
		err := retryDropped(ctx, h.stop, func() (err error) {
			// One attempt is bounded by ProposalTimeout: a read index
			// lost with a leader change (sent to a leader that died or
			// stepped down — a leader transfer does that) is never
			// answered, only timed out. (Object actors read with one
			// attempt's deadline already: no second context for them.)
			actx := ctx
			if dl, _ := ctx.Deadline(); time.Until(dl) > h.cfg.ProposalTimeout {
				var acancel context.CancelFunc
				actx, acancel = context.WithTimeout(ctx, h.cfg.ProposalTimeout)
				defer acancel()
			}
			out, err = h.nh.SyncRead(actx, shardID, q)
			return err
		})
		// A read changes nothing: ask again while the caller waits.
		if errors.Is(err, dragonboat.ErrTimeout) && ctx.Err() == nil && !stopped(h.stop) {
			continue
		}
		return out, err
	}
}

// withDeadline gives ctx the Host's ProposalTimeout if it has no deadline
// (dragonboat's Sync calls require one).
func (h *Host) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.cfg.ProposalTimeout)
}

// ReadAsync is Read without waiting: done is called once on a goroutine
// owned by the Host (see ProposeAsync).
func (h *Host) ReadAsync(ctx context.Context, shardID uint64, q any, c Consistency, done func(any, error)) error {
	if !h.addTask() {
		return ErrClosed
	}
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-h.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		done(h.Read(ctx, shardID, q, c))
	}()
	return nil
}

// Export streams a consistent copy of the replica's data on this host into
// the node's snapshot store, after a ReadIndex (so it holds every write
// acknowledged before the call). The snapshot's index is the applied index
// of the copy; its term is 0.
func (h *Host) Export(ctx context.Context, shardID uint64) (snapshot.Meta, error) {
	if _, ok := h.replica(shardID); !ok {
		return snapshot.Meta{}, fmt.Errorf("%w: %d", ErrNotStarted, shardID)
	}
	ctx, cancel := h.withDeadline(ctx)
	defer cancel()
	v, err := h.nh.SyncRead(ctx, shardID, &exportQuery{ctx: ctx, store: h.cfg.Storage.Snapshots()})
	if err != nil {
		return snapshot.Meta{}, err
	}
	return v.(snapshot.Meta), nil
}

// Close stops the NodeHost (which completes every pending proposal), waits
// for the Host's goroutines, and stops the dispatcher. A second Close
// returns ErrClosed.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.mu.closed = true
	h.mu.replicas = map[uint64]*replica{}
	h.mu.Unlock()
	close(h.stop)
	h.nh.Close()
	h.wg.Wait()
	h.disp.Close()
	dirs.Lock()
	delete(dirs.inUse, h.cfg.Dir)
	dirs.Unlock()
	return nil
}

// InProcessTransport returns dragonboat's channel transport, for NodeHosts
// of one process (a single node, tests, benchmarks): its own Validate
// panics, so this one accepts any address.
func InProcessTransport() config.TransportFactory { return &inProcessTransport{} }

type inProcessTransport struct {
	chantransport.ChanTransportFactory
}

func (*inProcessTransport) Validate(string) bool { return true }
