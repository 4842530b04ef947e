package shards

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	// scratch belongs to Update (the apply goroutine).
	scratch applyScratch
	// requests is the exactly-once table, loaded by the first Update after
	// Open or RecoverFromSnapshot (apply goroutine only).
	requests *requestTable
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

// requestTable returns the exactly-once table, loading it from tx when
// it is not loaded or a failed Update left it ahead of the store.
func (s *StateMachine) requestTable(tx appdata.WriteTx) (*requestTable, error) {
	if s.requests == nil || s.requests.stale {
		rt, err := loadRequestTable(tx, s.cfg.MaxRememberedRequests)
		if err != nil {
			return nil, err
		}
		s.requests = rt
	}
	return s.requests, nil
}

// applyScratch is reused by every Update of a state machine (they run one
// at a time, on the apply goroutine) so that applying a command allocates
// little beyond what protobuf decoding needs. Nothing in it outlives the
// call that fills it: appdata copies the keys and values it keeps.
type applyScratch struct {
	cmd     odgmv1.Command
	key     []byte
	val     []byte
	changes []change
	// Parts of cmd that decodeCommand reuses from one command to the next;
	// nothing refers to them once the command's result is encoded.
	ref       odgmv1.ObjectRef
	at        timestamppb.Timestamp
	createdAt timestamppb.Timestamp
	expected  uint64
	puts      []*odgmv1.Entry
}

// release drops the scratch's references to the batch's commands (entry
// values alias dragonboat's buffers), so that they do not outlive Update.
func (sc *applyScratch) release() {
	sc.cmd = odgmv1.Command{}
	for _, e := range sc.puts[:cap(sc.puts)] {
		if e != nil {
			*e = odgmv1.Entry{}
		}
	}
}

// change is one name of a command's net effect (see mutate).
type change struct {
	name  string
	value []byte
	del   bool
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
		rt, err := s.requestTable(tx)
		if err != nil {
			return err
		}
		// Until the transaction commits, the table in memory is ahead of
		// the store: a failure makes it load again.
		rt.stale = true
		// The batch's encoded results share one buffer (each entry gets a
		// capped slice of it): one allocation instead of one per entry.
		var out []byte
		for i := range entries {
			e := &entries[i]
			if e.Index <= applied {
				e.Result = sm.Result{}
				continue
			}
			if out == nil {
				out = make([]byte, 0, 64*(len(entries)-i))
			}
			res, rid, dup, err := s.apply(tx, rt, e.Cmd)
			if err != nil {
				return err
			}
			start := len(out)
			if out, err = appendResult(out, res); err != nil {
				return err
			}
			data := out[start:len(out):len(out)]
			if rid != "" && !dup {
				if err := rt.remember(tx, rid, data); err != nil {
					return err
				}
			}
			e.Result = sm.Result{Value: uint64(res.Status), Data: data}
			last = e.Index
			if s.opts.Hooks.Applied != nil {
				events = append(events, ApplyEvent{ShardID: s.shardID, ReplicaID: s.replicaID, Index: e.Index,
					RequestID: rid, Status: res.Status, Duplicate: dup})
			}
		}
		s.scratch.release()
		if err := rt.flush(tx); err != nil {
			return err
		}
		if last == applied {
			return nil
		}
		return tx.Put([]byte(keyApplied), u64(last))
	})
	if err != nil {
		return nil, fmt.Errorf("shards: apply to %s: %w", s.name, err)
	}
	s.requests.stale = false
	s.applied.Store(last)
	for _, ev := range events {
		s.opts.Hooks.Applied(ev)
	}
	return entries, nil
}

func invalid(format string, a ...any) *odgmv1.CommandResult {
	return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_INVALID, Message: fmt.Sprintf(format, a...)}
}

// apply applies one command inside tx. It returns the result, the request
// id, and whether the result is a remembered one; the caller remembers a
// new result of a request id (see remember). err is a storage failure
// only.
func (s *StateMachine) apply(tx appdata.WriteTx, rt *requestTable, data []byte) (_ *odgmv1.CommandResult, rid string, dup bool, err error) {
	cmd := &s.scratch.cmd
	if !decodeCommand(data, &s.scratch) {
		if proto.Unmarshal(data, cmd) != nil {
			// Not the decoder's message: protobuf varies its text between
			// builds, and results must not depend on the build.
			return invalid("undecodable command"), "", false, nil
		}
	}
	rid = cmd.GetRequestId()
	if len(rid) > MaxRequestIDLen {
		return invalid("request id of %d bytes, at most %d allowed", len(rid), MaxRequestIDLen), "", false, nil
	}
	if rid != "" {
		if v, ok := rt.lookup(rid); ok {
			var prev odgmv1.CommandResult
			if proto.Unmarshal(v, &prev) != nil {
				return nil, rid, false, fmt.Errorf("shards: remembered result of %q is damaged", rid)
			}
			return &prev, rid, true, nil
		}
	}
	res, err := s.mutate(tx, cmd)
	if err != nil {
		return nil, rid, false, err
	}
	switch res.Status {
	case odgmv1.CommandStatus_COMMAND_STATUS_APPLIED, odgmv1.CommandStatus_COMMAND_STATUS_NOOP:
		res.Reply = cmd.Reply
	}
	return res, rid, false, nil
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
	sc := &s.scratch
	meta, err := s.readMeta(tx, class, id)
	if err != nil {
		return nil, err
	}
	cur := meta.GetVersion()
	if ev := cmd.ExpectedVersion; ev != nil && *ev != cur {
		return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_VERSION_MISMATCH, Meta: meta,
			Message: fmt.Sprintf("expected version %d, object is at version %d", *ev, cur)}, nil
	}
	if ec := cmd.GetExpectedCreatedAt(); ec != nil && (meta == nil || !sameTime(meta.GetCreatedAt(), ec)) {
		return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_VERSION_MISMATCH, Meta: meta,
			Message: "the object was deleted and created again since it was read"}, nil
	}

	if cmd.GetDeleteObject() {
		if meta == nil {
			return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_NOOP}, nil
		}
		sc.key = appendObjectKeyPrefix(sc.key[:0], class, id)
		if _, err := tx.DeletePrefix(sc.key); err != nil {
			return nil, err
		}
		return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_APPLIED}, nil
	}

	// The net effect: puts in order, then deletes (a delete wins over a put
	// of the same name): the last change of each name, taken in name
	// order. Only names whose stored value changes count.
	changes := sc.changes[:0]
	for _, e := range cmd.GetPuts() {
		changes = append(changes, change{name: e.GetName(), value: e.GetValue()})
	}
	for _, n := range cmd.GetDeletes() {
		changes = append(changes, change{name: n, del: true})
	}
	if len(changes) > 1 {
		slices.SortStableFunc(changes, func(a, b change) int { return strings.Compare(a.name, b.name) })
	}
	changed := false
	for i, c := range changes {
		if i+1 < len(changes) && changes[i+1].name == c.name {
			continue // a later change of the same name wins
		}
		sc.key = appendEntryKey(sc.key[:0], class, id, c.name)
		old, err := tx.Get(sc.key)
		exists := err == nil
		if err != nil && !errors.Is(err, appdata.ErrNotFound) {
			return nil, err
		}
		switch {
		case c.del && exists:
			if _, err := tx.Delete(sc.key); err != nil {
				return nil, err
			}
			changed = true
		case !c.del && (!exists || !bytes.Equal(old, c.value)):
			if err := tx.Put(sc.key, c.value); err != nil {
				return nil, err
			}
			changed = true
		}
	}
	clear(changes) // drop the references to this command's names and values
	sc.changes = changes[:0]
	if !changed {
		return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_NOOP, Meta: meta}, nil
	}
	next := &odgmv1.ObjectMeta{Version: cur + 1, CreatedAt: meta.GetCreatedAt(), UpdatedAt: cmd.GetProposedAt()}
	if meta == nil {
		next.CreatedAt = cmd.GetProposedAt()
	}
	enc, err := appendMeta(sc.val[:0], next)
	if err != nil {
		return nil, err
	}
	sc.val = enc
	sc.key = appendMetaKey(sc.key[:0], class, id)
	if err := tx.Put(sc.key, enc); err != nil {
		return nil, err
	}
	return &odgmv1.CommandResult{Status: odgmv1.CommandStatus_COMMAND_STATUS_APPLIED, Meta: next}, nil
}

// readMeta returns the object's metadata, nil if it does not exist.
func readMeta(tx appdata.ReadTx, class, id string) (*odgmv1.ObjectMeta, error) {
	return readMetaAt(tx, []byte(metaKey(class, id)), class, id)
}

// readMeta is readMeta with the scratch key buffer, for the apply path.
func (s *StateMachine) readMeta(tx appdata.ReadTx, class, id string) (*odgmv1.ObjectMeta, error) {
	s.scratch.key = appendMetaKey(s.scratch.key[:0], class, id)
	return readMetaAt(tx, s.scratch.key, class, id)
}

// readMetaAt reads the metadata of class/id stored at key.
func readMetaAt(tx appdata.ReadTx, key []byte, class, id string) (*odgmv1.ObjectMeta, error) {
	v, err := tx.Get(key)
	if errors.Is(err, appdata.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m, ok := decodeMeta(v); ok {
		return m, nil
	}
	var m odgmv1.ObjectMeta
	if err := proto.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("shards: metadata of %s/%s is damaged: %w", class, id, err)
	}
	return &m, nil
}

// decodeMeta decodes metadata as mutate encodes it (known fields, each at
// most once, in field order) without protobuf's reflection, which costs
// more than the rest of reading it. Anything else is !ok, and the caller
// falls back to proto.Unmarshal: the result is the same either way.
func decodeMeta(b []byte) (*odgmv1.ObjectMeta, bool) {
	m := &odgmv1.ObjectMeta{}
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last {
			return nil, false
		}
		b, last = b[n:], num
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			m.Version, b = v, b[n:]
		case (num == 2 || num == 3) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			ts, ok := decodeTimestamp(v)
			if !ok {
				return nil, false
			}
			if num == 2 {
				m.CreatedAt = ts
			} else {
				m.UpdatedAt = ts
			}
			b = b[n:]
		default:
			return nil, false
		}
	}
	return m, true
}

// decodeResultFields decodes a result as appendResult encodes it (known
// fields, each at most once, in field order) without protobuf's
// reflection; anything else is !ok, and the caller falls back to
// proto.Unmarshal, with the same result. The reply is copied: data is
// dragonboat's.
func decodeResultFields(b []byte) (*odgmv1.CommandResult, bool) {
	r := &odgmv1.CommandResult{}
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last {
			return nil, false
		}
		b, last = b[n:], num
		if num == 1 {
			if typ != protowire.VarintType {
				return nil, false
			}
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			r.Status, b = odgmv1.CommandStatus(int32(v)), b[n:]
			continue
		}
		if typ != protowire.BytesType || num > 4 {
			return nil, false
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch num {
		case 2:
			m, ok := decodeMeta(v)
			if !ok {
				return nil, false
			}
			r.Meta = m
		case 3:
			if !utf8.Valid(v) {
				return nil, false
			}
			r.Message = string(v)
		case 4:
			r.Reply = bytes.Clone(v)
		}
	}
	return r, true
}

// appendResult appends r encoded as proto.Marshal encodes it.
func appendResult(b []byte, r *odgmv1.CommandResult) ([]byte, error) {
	if !plainResult(r) {
		return proto.MarshalOptions{}.MarshalAppend(b, r)
	}
	if r.Status != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(r.Status)))
	}
	if r.Meta != nil {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(metaSize(r.Meta)))
		b = appendMetaFields(b, r.Meta)
	}
	if r.Message != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, r.Message)
	}
	if len(r.Reply) > 0 {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, r.Reply)
	}
	return b, nil
}

// appendMeta appends m encoded as proto.Marshal (deterministic or not: it
// has no maps) encodes it.
func appendMeta(b []byte, m *odgmv1.ObjectMeta) ([]byte, error) {
	if !plainMeta(m) {
		return proto.MarshalOptions{Deterministic: true}.MarshalAppend(b, m)
	}
	return appendMetaFields(b, m), nil
}

// plainResult and plainMeta report whether the messages have no unknown
// fields (which proto.Marshal would keep and appendResult does not know):
// true for those apply builds, unless a stored one came from a newer
// version.
func plainResult(r *odgmv1.CommandResult) bool {
	return len(r.ProtoReflect().GetUnknown()) == 0 && (r.Meta == nil || plainMeta(r.Meta))
}

func plainMeta(m *odgmv1.ObjectMeta) bool {
	plain := func(ts *timestamppb.Timestamp) bool { return ts == nil || len(ts.ProtoReflect().GetUnknown()) == 0 }
	return len(m.ProtoReflect().GetUnknown()) == 0 && plain(m.CreatedAt) && plain(m.UpdatedAt)
}

func appendMetaFields(b []byte, m *odgmv1.ObjectMeta) []byte {
	if m.Version != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, m.Version)
	}
	b = appendTimestamp(b, 2, m.CreatedAt)
	return appendTimestamp(b, 3, m.UpdatedAt)
}

func metaSize(m *odgmv1.ObjectMeta) int {
	n := 0
	if m.Version != 0 {
		n += 1 + protowire.SizeVarint(m.Version)
	}
	if m.CreatedAt != nil {
		n += 1 + sizeWithLen(timestampSize(m.CreatedAt))
	}
	if m.UpdatedAt != nil {
		n += 1 + sizeWithLen(timestampSize(m.UpdatedAt))
	}
	return n
}

func sizeWithLen(n int) int { return protowire.SizeVarint(uint64(n)) + n }

// appendTimestamp appends ts as field num, if it is not nil.
func appendTimestamp(b []byte, num protowire.Number, ts *timestamppb.Timestamp) []byte {
	if ts == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(timestampSize(ts)))
	if ts.Seconds != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(ts.Seconds))
	}
	if ts.Nanos != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(ts.Nanos)))
	}
	return b
}

func timestampSize(ts *timestamppb.Timestamp) int {
	n := 0
	if ts.Seconds != 0 {
		n += 1 + protowire.SizeVarint(uint64(ts.Seconds))
	}
	if ts.Nanos != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(ts.Nanos)))
	}
	return n
}

// sameTime reports whether two timestamps are the same instant.
func sameTime(a, b *timestamppb.Timestamp) bool {
	return a.GetSeconds() == b.GetSeconds() && a.GetNanos() == b.GetNanos()
}

// decodeCommand decodes data into sc.cmd like proto.Unmarshal, without its
// reflection and with fewer allocations, when data is in the form
// proto.Marshal gives (known fields in field order, each singular one at
// most once, valid UTF-8 strings); otherwise it returns false, leaving
// sc.cmd to be overwritten by proto.Unmarshal, which then decodes it or
// reports why it cannot.
//
// The command lives until the next call: its object, proposed_at, expected
// version and entries are sc's, reused, and entry values alias data (which
// dragonboat does not change during Update). The strings are copies: the
// request id outlives the call in ApplyEvent.
func decodeCommand(data []byte, sc *applyScratch) bool {
	cmd := &sc.cmd
	*cmd = odgmv1.Command{}
	puts := sc.puts[:0]
	defer func() { sc.puts = puts[:0] }()
	last := protowire.Number(0)
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 || num < last || (num == last && num != 3 && num != 4) {
			return false
		}
		data, last = data[n:], num
		if num == 5 || num == 6 {
			if typ != protowire.VarintType {
				return false
			}
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return false
			}
			data = data[n:]
			if num == 5 {
				cmd.DeleteObject = protowire.DecodeBool(v)
			} else {
				sc.expected = v
				cmd.ExpectedVersion = &sc.expected
			}
			continue
		}
		if typ != protowire.BytesType || num < 1 || num > 9 {
			return false
		}
		v, n := protowire.ConsumeBytes(data)
		if n < 0 {
			return false
		}
		data = data[n:]
		switch num {
		case 1:
			if !utf8.Valid(v) {
				return false
			}
			cmd.RequestId = string(v)
		case 2:
			sc.ref = odgmv1.ObjectRef{}
			if !decodeObjectRef(v, &sc.ref) {
				return false
			}
			cmd.Object = &sc.ref
		case 3:
			if len(puts) == cap(puts) {
				puts = append(puts, &odgmv1.Entry{})
			} else {
				puts = puts[:len(puts)+1]
				if puts[len(puts)-1] == nil {
					puts[len(puts)-1] = &odgmv1.Entry{}
				}
			}
			e := puts[len(puts)-1]
			*e = odgmv1.Entry{}
			if !decodeEntry(v, e) {
				return false
			}
		case 4:
			if !utf8.Valid(v) {
				return false
			}
			cmd.Deletes = append(cmd.Deletes, string(v))
		case 7:
			sc.at = timestamppb.Timestamp{}
			if !decodeTimestampInto(v, &sc.at) {
				return false
			}
			cmd.ProposedAt = &sc.at
		case 8:
			if len(v) > 0 {
				cmd.Reply = v[:len(v):len(v)]
			}
		case 9:
			sc.createdAt = timestamppb.Timestamp{}
			if !decodeTimestampInto(v, &sc.createdAt) {
				return false
			}
			cmd.ExpectedCreatedAt = &sc.createdAt
		}
	}
	if len(puts) > 0 {
		cmd.Puts = puts
	}
	return true
}

// decodeObjectRef is decodeCommand for an ObjectRef.
func decodeObjectRef(b []byte, ref *odgmv1.ObjectRef) bool {
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || num > 2 || typ != protowire.BytesType {
			return false
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 || !utf8.Valid(v) {
			return false
		}
		b, last = b[n+m:], num
		if num == 1 {
			ref.Class = string(v)
		} else {
			ref.Id = string(v)
		}
	}
	return true
}

// decodeEntry is decodeCommand for an Entry; the value aliases b.
func decodeEntry(b []byte, e *odgmv1.Entry) bool {
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || num > 2 || typ != protowire.BytesType {
			return false
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return false
		}
		b, last = b[n+m:], num
		if num == 1 {
			if !utf8.Valid(v) {
				return false
			}
			e.Name = string(v)
		} else if len(v) > 0 {
			e.Value = v[:len(v):len(v)]
		}
	}
	return true
}

// decodeTimestamp is decodeMeta for a google.protobuf.Timestamp.
func decodeTimestamp(b []byte) (*timestamppb.Timestamp, bool) {
	ts := &timestamppb.Timestamp{}
	return ts, decodeTimestampInto(b, ts)
}

func decodeTimestampInto(b []byte, ts *timestamppb.Timestamp) bool {
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || num > 2 || typ != protowire.VarintType {
			return false
		}
		v, m := protowire.ConsumeVarint(b[n:])
		if m < 0 {
			return false
		}
		b, last = b[n+m:], num
		if num == 1 {
			ts.Seconds = int64(v)
		} else {
			ts.Nanos = int32(v)
		}
	}
	return true
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
	check := func() error {
		if stopped(stopc) {
			return sm.ErrSnapshotStopped
		}
		return nil
	}
	skip := func(k []byte) bool { return string(k) == keyRecovering }
	if err := loadSnapshot(s.store, sr, s.cfg.RecoverBatchBytes, check, skip); err != nil {
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
	s.requests = nil // the snapshot's table is loaded by the next Update
	s.applied.Store(idx)
	return nil
}

// loadSnapshot writes the records of sr into st in transactions of at most
// batchBytes (keys plus values), leaving out the keys skip names. check
// runs before each transaction; its error ends the load. It returns nil
// only once sr has verified the snapshot's trailer.
func loadSnapshot(st appdata.Store, sr *snapshot.Reader, batchBytes int, check func() error, skip func(key []byte) bool) error {
	for done := false; !done; {
		if err := check(); err != nil {
			return err
		}
		err := st.Update(func(tx appdata.WriteTx) error {
			for size := 0; size < batchBytes; {
				k, v, err := sr.Next()
				if err == io.EOF {
					done = true
					return nil
				}
				if err != nil {
					return err
				}
				if skip(k) {
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
