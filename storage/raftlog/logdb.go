package raftlog

import (
	"fmt"
	"path/filepath"
	"sync"
	_ "unsafe" // go:linkname, for dragonboat's pebble LogDB below

	_ "github.com/lni/dragonboat/v4" // links internal/logdb, see newPebbleLogDB

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// binaryFormat is recorded by dragonboat in the NodeHost directory; it
// changes only with the on-disk layout of our backends.
const binaryFormat uint32 = 0x0d61_0001

// LogDB adapts a Store to dragonboat's raftio.ILogDB. Every SaveRaftState
// call becomes one Store.Commit, so one fsync makes the whole call durable
// whatever the number of shards and entries in it; concurrent callers
// (dragonboat's exec workers) are safe and, on append_log, share fsyncs.
type LogDB struct {
	name  string
	store Store

	// kv_log shrinks its file in the background: a shrink takes seconds
	// and dragonboat calls CompactEntriesTo from a step worker.
	reclaim struct {
		sync.Mutex
		wg      sync.WaitGroup
		running chan struct{} // closed when the running shrink ends
		err     error         // of the last one, returned once
	}

	closeOnce sync.Once
	closeErr  error
}

var _ raftio.ILogDB = (*LogDB)(nil)

// NewLogDB returns the ILogDB view of s under the given backend name. The
// LogDB owns s: Close closes it.
func NewLogDB(backend string, s Store) *LogDB {
	return &LogDB{name: "odgm-" + backend, store: s}
}

// Store returns the underlying store.
func (d *LogDB) Store() Store { return d.store }

// Name is constant per backend ("odgm-append_log", ...).
func (d *LogDB) Name() string { return d.name }

// BinaryFormat is constant.
func (d *LogDB) BinaryFormat() uint32 { return binaryFormat }

// Close closes the store; later calls return the first call's result.
func (d *LogDB) Close() error {
	d.closeOnce.Do(func() {
		d.reclaim.wg.Wait()
		d.closeErr = d.store.Close()
	})
	return d.closeErr
}

// ListNodeInfo lists the replicas with a bootstrap record, as
// dragonboat's own engines do.
func (d *LogDB) ListNodeInfo() ([]raftio.NodeInfo, error) {
	var ns []raftio.NodeInfo
	for _, n := range d.store.Nodes() {
		if st, ok := d.store.State(n); ok && st.HasBootstrap {
			ns = append(ns, n)
		}
	}
	return ns, nil
}

// SaveBootstrapInfo stores a replica's bootstrap record durably.
func (d *LogDB) SaveBootstrapInfo(shardID, replicaID uint64, bs pb.Bootstrap) error {
	var b Batch
	b.SetBootstrap(Node{ShardID: shardID, ReplicaID: replicaID}, bs)
	return d.store.Commit(&b)
}

// GetBootstrapInfo returns raftio.ErrNoBootstrapInfo if none was saved.
func (d *LogDB) GetBootstrapInfo(shardID, replicaID uint64) (pb.Bootstrap, error) {
	st, ok := d.store.State(Node{ShardID: shardID, ReplicaID: replicaID})
	if !ok || !st.HasBootstrap {
		return pb.Bootstrap{}, raftio.ErrNoBootstrapInfo
	}
	return st.Bootstrap, nil
}

// SaveRaftState stores, for each update, its hard state (unless empty),
// its snapshot (if newer: the log restarts after it) and its entries
// (overwriting from their first index), all as one atomic, durable batch.
// workerID is dragonboat's exec worker; it is not needed.
func (d *LogDB) SaveRaftState(updates []pb.Update, workerID uint64) error {
	var b Batch
	for i := range updates {
		ud := &updates[i]
		n := Node{ShardID: ud.ShardID, ReplicaID: ud.ReplicaID}
		if !pb.IsEmptyState(ud.State) {
			b.SetHardState(n, ud.State)
		}
		if !pb.IsEmptySnapshot(ud.Snapshot) {
			b.InstallSnapshot(n, ud.Snapshot)
		}
		b.Append(n, ud.EntriesToSave)
	}
	return d.store.Commit(&b)
}

// IterateEntries appends to ents the entries in [low, high), stopping
// after the one that takes size past maxSize.
func (d *LogDB) IterateEntries(ents []pb.Entry, size uint64, shardID, replicaID, low, high, maxSize uint64) ([]pb.Entry, uint64, error) {
	return d.store.Entries(Node{ShardID: shardID, ReplicaID: replicaID}, ents, size, low, high, maxSize)
}

// ReadRaftState returns raftio.ErrNoSavedLog if no hard state was saved;
// otherwise the hard state and the entries held from snapshotIndex on.
func (d *LogDB) ReadRaftState(shardID, replicaID, snapshotIndex uint64) (raftio.RaftState, error) {
	st, ok := d.store.State(Node{ShardID: shardID, ReplicaID: replicaID})
	if !ok || !st.HasHardState {
		return raftio.RaftState{}, raftio.ErrNoSavedLog
	}
	rs := raftio.RaftState{State: st.HardState, FirstIndex: snapshotIndex}
	if st.LastIndex >= st.FirstIndex && snapshotIndex <= st.LastIndex {
		rs.FirstIndex = max(st.FirstIndex, snapshotIndex)
		rs.EntryCount = st.LastIndex - rs.FirstIndex + 1
	}
	return rs, nil
}

// RemoveEntriesTo compacts the log up to index and gives back the space
// where it can at once (whole append_log segments).
func (d *LogDB) RemoveEntriesTo(shardID, replicaID, index uint64) error {
	var b Batch
	b.Compact(Node{ShardID: shardID, ReplicaID: replicaID}, index)
	if err := d.store.Commit(&b); err != nil {
		return err
	}
	if _, ok := d.store.(*kvLog); ok {
		return nil // shrinking a buntdb file is slow: CompactEntriesTo does it
	}
	return d.store.Reclaim()
}

// CompactEntriesTo reclaims the disk space of compacted entries (the
// compaction itself is RemoveEntriesTo's); the returned channel is closed
// when done: before it returns, except on kv_log, whose shrink runs in a
// goroutine the LogDB owns (Close waits for it; an error is returned by
// the next call).
func (d *LogDB) CompactEntriesTo(shardID, replicaID, index uint64) (<-chan struct{}, error) {
	if _, ok := d.store.(*kvLog); !ok {
		done := make(chan struct{})
		err := d.store.Reclaim()
		close(done)
		return done, err
	}
	r := &d.reclaim
	r.Lock()
	defer r.Unlock()
	err := r.err
	r.err = nil
	if r.running != nil {
		return r.running, err
	}
	done := make(chan struct{})
	r.running = done
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		e := d.store.Reclaim()
		r.Lock()
		r.err, r.running = e, nil
		r.Unlock()
		close(done)
	}()
	return done, err
}

// SaveSnapshots records each update's snapshot metadata if newer.
func (d *LogDB) SaveSnapshots(updates []pb.Update) error {
	var b Batch
	for i := range updates {
		ud := &updates[i]
		if !pb.IsEmptySnapshot(ud.Snapshot) {
			b.SaveSnapshot(Node{ShardID: ud.ShardID, ReplicaID: ud.ReplicaID}, ud.Snapshot)
		}
	}
	return d.store.Commit(&b)
}

// GetSnapshot returns the newest snapshot's metadata, empty if none.
func (d *LogDB) GetSnapshot(shardID, replicaID uint64) (pb.Snapshot, error) {
	st, _ := d.store.State(Node{ShardID: shardID, ReplicaID: replicaID})
	return st.Snapshot, nil
}

// RemoveNodeData forgets everything stored for the replica.
func (d *LogDB) RemoveNodeData(shardID, replicaID uint64) error {
	var b Batch
	b.Remove(Node{ShardID: shardID, ReplicaID: replicaID})
	if err := d.store.Commit(&b); err != nil {
		return err
	}
	return d.store.Reclaim()
}

// ImportSnapshot replaces everything stored for the replica by what a
// restore from ss needs: a joining bootstrap record, a hard state at the
// snapshot and the snapshot itself, with an empty log after it.
func (d *LogDB) ImportSnapshot(ss pb.Snapshot, replicaID uint64) error {
	if ss.Type == pb.UnknownStateMachine {
		return fmt.Errorf("raftlog: import snapshot: unknown state machine type")
	}
	n := Node{ShardID: ss.ShardID, ReplicaID: replicaID}
	var b Batch
	b.Remove(n)
	b.SetBootstrap(n, pb.Bootstrap{Join: true, Type: ss.Type})
	b.SetHardState(n, pb.State{Term: ss.Term, Commit: ss.Index})
	b.InstallSnapshot(n, ss)
	return d.store.Commit(&b)
}

// factory is a config.LogDBFactory for one backend.
type factory struct {
	backend string
	dir     string
	opts    Options
}

// NewFactory returns the factory to set in
// NodeHostConfig.Expert.LogDBFactory for the named backend. For the
// project's own backends the store lives in dir, or, if dir is empty, in
// the directory dragonboat gives (under NodeHostDir). pebble and tan are
// dragonboat's own engines sized by opts.MemoryProfile (the factory sets
// Expert.LogDB when it creates them).
func NewFactory(backend, dir string, opts Options) (config.LogDBFactory, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(backend); err != nil {
		return nil, err
	}
	switch backend {
	case BackendAppendLog, BackendMemory, BackendKV, BackendPebble, BackendTan:
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownBackend, backend)
	}
	return &factory{backend: backend, dir: dir, opts: opts}, nil
}

// Name is the backend's constant name.
func (f *factory) Name() string {
	switch f.backend {
	case BackendPebble:
		return "sharded-pebble"
	case BackendTan:
		return tan.Factory.Name()
	}
	return "odgm-" + f.backend
}

// Create opens the store.
func (f *factory) Create(cfg config.NodeHostConfig, cb config.LogDBCallback, dirs, walDirs []string) (raftio.ILogDB, error) {
	switch f.backend {
	case BackendPebble, BackendTan:
		cfg.Expert.LogDB = profileConfig(f.opts.MemoryProfile)
		if cfg.Expert.FS == nil {
			if err := cfg.Prepare(); err != nil {
				return nil, err
			}
			cfg.Expert.LogDB = profileConfig(f.opts.MemoryProfile)
		}
		if f.dir != "" {
			dirs, walDirs = []string{f.dir}, []string{f.dir}
		}
		create := newPebbleLogDB
		if f.backend == BackendTan {
			create = tan.Factory.Create
		}
		db, err := create(cfg, cb, dirs, walDirs)
		if err != nil {
			return nil, err
		}
		return &closeOnce{ILogDB: db}, nil
	}
	dir := f.dir
	if dir == "" {
		if len(dirs) == 0 {
			return nil, fmt.Errorf("raftlog: no directory for %s", f.backend)
		}
		dir = filepath.Join(dirs[0], f.backend)
	}
	s, err := Open(f.backend, dir, f.opts)
	if err != nil {
		return nil, err
	}
	return NewLogDB(f.backend, s), nil
}

// OpenLogDB opens the named backend's ILogDB in dir outside a NodeHost:
// for tools, tests and benchmarks. Close it when done.
func OpenLogDB(backend, dir string, opts Options) (raftio.ILogDB, error) {
	f, err := NewFactory(backend, dir, opts)
	if err != nil {
		return nil, err
	}
	cfg := config.NodeHostConfig{NodeHostDir: dir, RTTMillisecond: 1, RaftAddress: "127.0.0.1:1"}
	if err := cfg.Prepare(); err != nil {
		return nil, err
	}
	return f.Create(cfg, nil, []string{dir}, []string{dir})
}

func profileConfig(p MemoryProfile) config.LogDBConfig {
	switch p {
	case ProfileSmall:
		return config.GetSmallMemLogDBConfig()
	case ProfileMedium:
		return config.GetMediumMemLogDBConfig()
	case ProfileLarge:
		return config.GetLargeMemLogDBConfig()
	case ProfileDefault:
		return config.GetDefaultLogDBConfig()
	}
	return config.GetTinyMemLogDBConfig()
}

// newPebbleLogDB is dragonboat's default (sharded pebble) LogDB. Dragonboat
// builds it only when Expert.LogDBFactory is nil and exports no
// constructor, so the pebble backend links to it by name; the pinned
// dragonboat version keeps this stable.
//
//go:linkname newPebbleLogDB github.com/lni/dragonboat/v4/internal/logdb.NewDefaultLogDB
func newPebbleLogDB(cfg config.NodeHostConfig, cb config.LogDBCallback, dirs, lldirs []string) (raftio.ILogDB, error)

// closeOnce guards dragonboat's engines, which panic when closed twice.
type closeOnce struct {
	raftio.ILogDB
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.ILogDB.Close() })
	return c.err
}
