package shards

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/proto"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// ApplyEvent describes one command applied (or answered from the
// exactly-once table) by a replica; see Hooks.
type ApplyEvent struct {
	ShardID, ReplicaID uint64
	Index              uint64
	RequestID          string
	Status             odgmv1.CommandStatus
	// Duplicate is true when the result came from the exactly-once table:
	// nothing was applied.
	Duplicate bool
}

// Hooks are optional callbacks of a state machine. They run on dragonboat's
// apply goroutine after the batch is committed and must not block.
type Hooks struct {
	// Applied is called once per command of a committed Update batch.
	Applied func(ApplyEvent)
}

// SMOptions configure the state machines a factory creates.
type SMOptions struct {
	Hooks  Hooks
	Logger *slog.Logger
	// Now dates streamed snapshot headers (never used by apply). Default
	// time.Now.
	Now func() time.Time
}

// StateMachine is the replicated state machine of one shard replica: a
// dragonboat IOnDiskStateMachine over the replica's own app store. See the
// package doc for the key layout, apply semantics and goroutines.
type StateMachine struct {
	shardID, replicaID uint64
	name               string // app store name
	cfg                Config
	comp               *storage.Composite
	opts               SMOptions

	store   appdata.Store
	applied atomic.Uint64 // written by Open, Update and RecoverFromSnapshot only
	// recovering is true while RecoverFromSnapshot runs (health reports it
	// as catching up).
	recovering atomic.Bool
	// lastSnapshot is the index and encoded size of the last snapshot
	// streamed by SaveSnapshot.
	lastSnapshotIndex, lastSnapshotSize atomic.Uint64
	// opened is the store once Open has opened it, for readers on other
	// goroutines (Health).
	opened atomic.Pointer[appdata.Store]
}

var _ sm.IOnDiskStateMachine = (*StateMachine)(nil)

// NewStateMachineFactory returns the function dragonboat's StartOnDiskReplica
// calls to create a replica's state machine. cfg is completed with
// EnsureDefaults; the caller should have checked it with Validate.
func NewStateMachineFactory(comp *storage.Composite, cfg Config, opts SMOptions) sm.CreateOnDiskStateMachineFunc {
	cfg.EnsureDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return func(shardID, replicaID uint64) sm.IOnDiskStateMachine {
		return newStateMachine(comp, cfg, opts, shardID, replicaID)
	}
}

func newStateMachine(comp *storage.Composite, cfg Config, opts SMOptions, shardID, replicaID uint64) *StateMachine {
	return &StateMachine{
		shardID: shardID, replicaID: replicaID,
		name: AppStoreName(shardID, replicaID),
		cfg:  cfg, comp: comp, opts: opts,
	}
}

// AppStoreName is the name of a replica's app store in the composite.
func AppStoreName(shardID, replicaID uint64) string {
	return fmt.Sprintf("shard-%d-%d", shardID, replicaID)
}

// AppliedIndex is the last Raft index applied (safe from any goroutine).
func (s *StateMachine) AppliedIndex() uint64 { return s.applied.Load() }

// Open opens the replica's app store and returns the applied index stored
// with the data. A store left "recovering" by a crash in the middle of
// RecoverFromSnapshot is emptied and Open returns 0, so that dragonboat
// recovers again from the snapshot it had received.
func (s *StateMachine) Open(stopc <-chan struct{}) (uint64, error) {
	st, err := s.comp.OpenApp(s.name, storage.WithSyncPolicy(s.cfg.AppSync))
	// A replica restarted right after StopReplica may find its previous
	// instance still closing the store: wait for it, briefly.
	for i := 0; errors.Is(err, storage.ErrInUse) && i < 500; i++ {
		select {
		case <-stopc:
			return 0, sm.ErrOpenStopped
		case <-time.After(10 * time.Millisecond):
		}
		st, err = s.comp.OpenApp(s.name, storage.WithSyncPolicy(s.cfg.AppSync))
	}
	if err != nil {
		return 0, fmt.Errorf("shards: open state machine %d/%d: %w", s.shardID, s.replicaID, err)
	}
	s.store = st
	s.opened.Store(&st)
	for _, ix := range s.cfg.Indexes {
		if err := st.CreateIndex(ix); err != nil {
			return 0, fmt.Errorf("shards: create index %q: %w", ix.Name, err)
		}
	}
	if _, err := st.Get([]byte(keyRecovering)); err == nil {
		s.opts.Logger.Warn("interrupted snapshot recovery: emptying the replica's data", "shard", s.shardID, "replica", s.replicaID)
		if err := s.wipe(stopc); err != nil {
			return 0, err
		}
		if _, err := st.Delete([]byte(keyRecovering)); err != nil {
			return 0, err
		}
		s.applied.Store(0)
		return 0, nil
	} else if !errors.Is(err, appdata.ErrNotFound) {
		return 0, err
	}
	v, err := st.Get([]byte(keyApplied))
	switch {
	case errors.Is(err, appdata.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("shards: applied index of %s is %d bytes", s.name, len(v))
	}
	idx := binary.BigEndian.Uint64(v)
	s.applied.Store(idx)
	return idx, nil
}

// wipe deletes every key but the recovery marker, in transactions of at
// most wipeBatch keys.
func (s *StateMachine) wipe(stopc <-chan struct{}) error {
	const wipeBatch = 4096
	for {
		select {
		case <-stopc:
			return sm.ErrOpenStopped
		default:
		}
		n := 0
		err := s.store.Update(func(tx appdata.WriteTx) error {
			var keys [][]byte
			err := tx.Ascend(nil, nil, func(k, _ []byte) (bool, error) {
				if string(k) != keyRecovering {
					keys = append(keys, k)
				}
				return len(keys) < wipeBatch, nil
			})
			if err != nil {
				return err
			}
			for _, k := range keys {
				if _, err := tx.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return fmt.Errorf("shards: empty %s: %w", s.name, err)
		}
		if n == 0 {
			return nil
		}
	}
}

// requestTable is the exactly-once table's counters.
type requestTable struct {
	next, count uint64
	dirty       bool
}

// Update applies a batch of committed entries in one app write transaction
// that also stores the last index. Entries at or below the stored applied
// index (replayed after a snapshot whose data was ahead of its index; see
// SaveSnapshot) are skipped. Bad commands never fail the batch: they yield
// an INVALID result. Only a storage failure returns an error (which stops
// the replica, as it must).
func (s *StateMachine) Update(entries []sm.Entry) ([]sm.Entry, error) {
	var events []ApplyEvent
	applied := s.applied.Load()
	last := applied
	err := s.store.Update(func(tx appdata.WriteTx) error {
		events = events[:0]
		rt, err := loadRequestTable(tx)
		if err != nil {
			return err
		}
		for i := range entries {
			e := &entries[i]
			if e.Index <= applied {
				e.Result = sm.Result{}
				continue
			}
			res, rid, dup, err := s.apply(tx, e.Cmd, &rt)
			if err != nil {
				return err
			}
			data, err := proto.Marshal(res)
			if err != nil {
				return err
			}
			e.Result = sm.Result{Value: uint64(res.Status), Data: data}
			last = e.Index
			if s.opts.Hooks.Applied != nil {
				events = append(events, ApplyEvent{ShardID: s.shardID, ReplicaID: s.replicaID, Index: e.Index,
					RequestID: rid, Status: res.Status, Duplicate: dup})
			}
		}
		if rt.dirty {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], rt.next)
			binary.BigEndian.PutUint64(b[8:], rt.count)
			if err := tx.Put([]byte(keyRequests), b[:]); err != nil {
				return err
			}
		}
		if last == applied {
			return nil
		}
		return tx.Put([]byte(keyApplied), u64(last))
	})
	if err != nil {
		return nil, fmt.Errorf("shards: apply to %s: %w", s.name, err)
	}
	s.applied.Store(last)
	for _, ev := range events {
		s.opts.Hooks.Applied(ev)
	}
	return entries, nil
}

func loadRequestTable(tx appdata.ReadTx) (requestTable, error) {
	v, err := tx.Get([]byte(keyRequests))
	if errors.Is(err, appdata.ErrNotFound) {
		return requestTable{}, nil
	}
	if err != nil {
		return requestTable{}, err
	}
	if len(v) != 16 {
		return requestTable{}, fmt.Errorf("shards: request table header is %d bytes", len(v))
	}
	return requestTable{next: binary.BigEndian.Uint64(v[:8]), count: binary.BigEndian.Uint64(v[8:])}, nil
}

func invalid(format string, a ...any) *odgmv1.CommandResult {
	return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_INVALID, Message: fmt.Sprintf(format, a...)}
}

// apply applies one command inside tx. It returns the result, the request
// id, and whether the result is a remembered one. err is a storage failure
// only.
func (s *StateMachine) apply(tx appdata.WriteTx, data []byte, rt *requestTable) (_ *odgmv1.CommandResult, rid string, dup bool, err error) {
	var cmd odgmv1.Command
	if err := proto.Unmarshal(data, &cmd); err != nil {
		return invalid("undecodable command: %v", err), "", false, nil
	}
	rid = cmd.GetRequestId()
	if len(rid) > MaxRequestIDLen {
		return invalid("request id of %d bytes, at most %d allowed", len(rid), MaxRequestIDLen), "", false, nil
	}
	if rid != "" {
		v, err := tx.Get([]byte(reqKey(rid)))
		switch {
		case err == nil:
			var prev odgmv1.CommandResult
			if len(v) < 8 || proto.Unmarshal(v[8:], &prev) != nil {
				return nil, rid, false, fmt.Errorf("shards: remembered result of %q is damaged", rid)
			}
			return &prev, rid, true, nil
		case !errors.Is(err, appdata.ErrNotFound):
			return nil, rid, false, err
		}
	}
	res, err := s.mutate(tx, &cmd)
	if err != nil {
		return nil, rid, false, err
	}
	if rid != "" {
		if err := s.remember(tx, rt, rid, res); err != nil {
			return nil, rid, false, err
		}
	}
	return res, rid, false, nil
}

// remember stores res as the first result of rid and forgets the oldest
// remembered ids beyond the bound.
func (s *StateMachine) remember(tx appdata.WriteTx, rt *requestTable, rid string, res *odgmv1.CommandResult) error {
	enc, err := proto.Marshal(res)
	if err != nil {
		return err
	}
	seq := rt.next
	rt.next++
	rt.count++
	rt.dirty = true
	if err := tx.Put([]byte(reqKey(rid)), append(u64(seq), enc...)); err != nil {
		return err
	}
	if err := tx.Put([]byte(reqSeqKey(seq)), []byte(rid)); err != nil {
		return err
	}
	for rt.count > uint64(s.cfg.MaxRememberedRequests) {
		items, _, err := tx.ScanPrefix([]byte(reqSeqPrefix), 1, nil)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			rt.count = 0
			break
		}
		if _, err := tx.Delete(items[0].Key); err != nil {
			return err
		}
		if _, err := tx.Delete([]byte(reqKey(string(items[0].Value)))); err != nil {
			return err
		}
		rt.count--
	}
	return nil
}

// mutate validates cmd and applies it: all or nothing.
func (s *StateMachine) mutate(tx appdata.WriteTx, cmd *odgmv1.Command) (*odgmv1.CommandResult, error) {
	ref := cmd.GetObject()
	if ref == nil {
		return invalid("command names no object"), nil
	}
	if ref.GetClass() != s.cfg.Class {
		return invalid("class %q is not this shard's class %q", ref.GetClass(), s.cfg.Class), nil
	}
	id, err := object.NormalizeID(ref.GetId())
	if err != nil {
		return invalid("%v", err), nil
	}
	for _, e := range cmd.GetPuts() {
		if err := object.ValidateEntryName(e.GetName()); err != nil {
			return invalid("put: %v", err), nil
		}
	}
	for _, n := range cmd.GetDeletes() {
		if err := object.ValidateEntryName(n); err != nil {
			return invalid("delete: %v", err), nil
		}
	}
	if cmd.GetDeleteObject() && (len(cmd.GetPuts()) > 0 || len(cmd.GetDeletes()) > 0) {
		return invalid("delete_object cannot be combined with puts or deletes"), nil
	}
	mutates := cmd.GetDeleteObject() || len(cmd.GetPuts()) > 0 || len(cmd.GetDeletes()) > 0
	if mutates && cmd.GetProposedAt() == nil {
		return invalid("proposed_at is required"), nil
	}
	if at := cmd.GetProposedAt(); at != nil && at.CheckValid() != nil {
		return invalid("proposed_at: %v", at.CheckValid()), nil
	}

	class := s.cfg.Class
	meta, err := readMeta(tx, class, id)
	if err != nil {
		return nil, err
	}
	cur := meta.GetVersion()
	if ev := cmd.ExpectedVersion; ev != nil && *ev != cur {
		return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_VERSION_MISMATCH, Meta: meta,
			Message: fmt.Sprintf("expected version %d, object is at version %d", *ev, cur)}, nil
	}
	noop := &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_NOOP, Meta: meta}

	if cmd.GetDeleteObject() {
		if meta == nil {
			return noop, nil
		}
		if _, err := tx.DeletePrefix([]byte(objectKeyPrefix(class, id))); err != nil {
			return nil, err
		}
		return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_APPLIED}, nil
	}

	// The net effect: puts in order, then deletes (a delete wins over a put
	// of the same name). Only names whose stored value changes count.
	final := map[string][]byte{} // nil value: delete
	for _, e := range cmd.GetPuts() {
		v := e.GetValue()
		if v == nil {
			v = []byte{}
		}
		final[e.GetName()] = v
	}
	for _, n := range cmd.GetDeletes() {
		final[n] = nil
	}
	names := make([]string, 0, len(final))
	for n := range final {
		names = append(names, n)
	}
	sort.Strings(names)
	changed := false
	for _, n := range names {
		k := []byte(entryKey(class, id, n))
		old, err := tx.Get(k)
		exists := err == nil
		if err != nil && !errors.Is(err, appdata.ErrNotFound) {
			return nil, err
		}
		v := final[n]
		switch {
		case v == nil && exists:
			if _, err := tx.Delete(k); err != nil {
				return nil, err
			}
			changed = true
		case v != nil && (!exists || !bytes.Equal(old, v)):
			if err := tx.Put(k, v); err != nil {
				return nil, err
			}
			changed = true
		}
	}
	if !changed {
		return noop, nil
	}
	next := &odgmv1.ObjectMeta{Version: cur + 1, CreatedAt: meta.GetCreatedAt(), UpdatedAt: cmd.GetProposedAt()}
	if meta == nil {
		next.CreatedAt = cmd.GetProposedAt()
	}
	enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(next)
	if err != nil {
		return nil, err
	}
	if err := tx.Put([]byte(metaKey(class, id)), enc); err != nil {
		return nil, err
	}
	return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_APPLIED, Meta: next}, nil
}

// readMeta returns the object's metadata, nil if it does not exist.
func readMeta(tx appdata.ReadTx, class, id string) (*odgmv1.ObjectMeta, error) {
	v, err := tx.Get([]byte(metaKey(class, id)))
	if errors.Is(err, appdata.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m odgmv1.ObjectMeta
	if err := proto.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("shards: metadata of %s/%s is damaged: %w", class, id, err)
	}
	return &m, nil
}

// Sync fsyncs the app store: dragonboat calls it before a metadata-only
// snapshot lets the log be compacted.
func (s *StateMachine) Sync() error { return s.store.Sync() }

// snapshotPoint is what PrepareSnapshot returns: the applied index at the
// time (the data streamed may be ahead of it; see SaveSnapshot).
type snapshotPoint struct{ index uint64 }

// PrepareSnapshot records the applied index. It runs on the apply
// goroutine.
func (s *StateMachine) PrepareSnapshot() (any, error) {
	return snapshotPoint{index: s.applied.Load()}, nil
}

// SaveSnapshot streams every key of the app store through the snapshot
// format, from one read transaction (a consistent point in time). The read
// transaction holds buntdb's lock for the whole stream, so Update waits
// until the stream ends; see the package doc for why that is acceptable and
// why the point may be later than PrepareSnapshot's.
func (s *StateMachine) SaveSnapshot(ctx any, w io.Writer, stopc <-chan struct{}) error {
	var meta snapshot.Meta
	err := s.store.View(func(tx appdata.ReadTx) error {
		var err error
		meta, err = writeSnapshot(tx, w, snapshot.Header{ShardID: s.shardID, ReplicaID: s.replicaID, Created: s.opts.Now()},
			s.cfg.snapshotOptions(), stopc)
		return err
	})
	if err != nil {
		return err
	}
	s.lastSnapshotIndex.Store(meta.Index)
	s.lastSnapshotSize.Store(uint64(meta.Size))
	return nil
}

// writeSnapshot streams tx's keys to w; the header's index is the applied
// index read in tx.
func writeSnapshot(tx appdata.ReadTx, w io.Writer, h snapshot.Header, opts snapshot.Options, stopc <-chan struct{}) (snapshot.Meta, error) {
	v, err := tx.Get([]byte(keyApplied))
	if err == nil && len(v) == 8 {
		h.Index = binary.BigEndian.Uint64(v)
	} else if err != nil && !errors.Is(err, appdata.ErrNotFound) {
		return snapshot.Meta{}, err
	}
	sw, err := snapshot.NewWriter(w, h, opts)
	if err != nil {
		return snapshot.Meta{}, err
	}
	n := 0
	err = tx.Ascend(nil, nil, func(k, v []byte) (bool, error) {
		if n++; n%1024 == 0 && stopped(stopc) {
			return false, sm.ErrSnapshotStopped
		}
		return true, sw.Write(k, v)
	})
	if err != nil {
		return snapshot.Meta{}, err
	}
	return sw.Close()
}

func stopped(stopc <-chan struct{}) bool {
	select {
	case <-stopc:
		return true
	default:
		return false
	}
}

// RecoverFromSnapshot replaces the replica's data with the snapshot's. It
// first marks the store "recovering" (durably), empties it and loads the
// records in transactions of at most Config.RecoverBatchBytes, then removes
// the mark once the snapshot's trailer has been verified. A crash on the
// way leaves the mark, and Open then starts over (see Open).
func (s *StateMachine) RecoverFromSnapshot(r io.Reader, stopc <-chan struct{}) error {
	s.recovering.Store(true)
	defer s.recovering.Store(false)
	sr, err := snapshot.NewReader(r, s.cfg.snapshotOptions())
	if err != nil {
		return fmt.Errorf("shards: recover %s: %w", s.name, err)
	}
	defer sr.Close()
	if err := s.store.Put([]byte(keyRecovering), nil); err != nil {
		return err
	}
	if err := s.store.Sync(); err != nil {
		return err
	}
	if err := s.wipe(stopc); err != nil {
		return err
	}
	if err := loadSnapshot(s.store, sr, s.cfg.RecoverBatchBytes, stopc); err != nil {
		return fmt.Errorf("shards: recover %s: %w", s.name, err)
	}
	var idx uint64
	err = s.store.Update(func(tx appdata.WriteTx) error {
		if _, err := tx.Delete([]byte(keyRecovering)); err != nil {
			return err
		}
		v, err := tx.Get([]byte(keyApplied))
		if err == nil && len(v) == 8 {
			idx = binary.BigEndian.Uint64(v)
		} else if err != nil && !errors.Is(err, appdata.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.store.Sync(); err != nil {
		return err
	}
	s.applied.Store(idx)
	return nil
}

// loadSnapshot writes the records of sr into st in transactions of at most
// batchBytes. It returns nil only once sr has verified its trailer.
func loadSnapshot(st appdata.Store, sr *snapshot.Reader, batchBytes int, stopc <-chan struct{}) error {
	done := false
	for !done {
		if stopped(stopc) {
			return sm.ErrSnapshotStopped
		}
		err := st.Update(func(tx appdata.WriteTx) error {
			size := 0
			for size < batchBytes {
				k, v, err := sr.Next()
				if err == io.EOF {
					done = true
					return nil
				}
				if err != nil {
					return err
				}
				if string(k) == keyRecovering {
					continue
				}
				if err := tx.Put(k, v); err != nil {
					return err
				}
				size += len(k) + len(v)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes the app store.
func (s *StateMachine) Close() error {
	if s.store == nil {
		return nil
	}
	err := s.store.Close()
	if errors.Is(err, appdata.ErrClosed) {
		return nil
	}
	return err
}

type smOnDisk = sm.IOnDiskStateMachine
