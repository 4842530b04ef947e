package shards

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// Errors of RestoreReplica (and StartReplica); test them with errors.Is.
var (
	// ErrReplicaRunning: RestoreReplica for a shard that has a replica
	// running, or being restored, on this host. Stop it first.
	ErrReplicaRunning = errors.New("shards: replica running on this host")
	// ErrRestoreFailed: RestoreReplica stopped before changing anything;
	// the replica's Raft data and app store are as they were. The cause is
	// wrapped too: snapshot.ErrNotFound, snapshot.ErrCorrupt, a context
	// error, a storage error, or a snapshot of another shard.
	ErrRestoreFailed = errors.New("shards: restore failed, replica unchanged")
	// ErrRestorePending: the replica's previous data is gone but its
	// restored data is not in place, because a RestoreReplica failed or
	// was interrupted (by a crash) after its point of no return, or is
	// running now. StartReplica refuses such a replica; RestoreReplica
	// returns it when it fails past that point. Run RestoreReplica again.
	ErrRestorePending = errors.New("shards: replica restore not finished")
	// ErrRestoreUnsupported: the node's app stores are in memory (each
	// opening starts empty), so there is nothing to restore into.
	ErrRestoreUnsupported = errors.New("shards: restore needs a durable app store")
)

// keyRestored holds the ID of the snapshot a replica's store was restored
// from (RestoreReplica). Replicated data like the rest: every member of a
// restored group has the same value, and new members receive it.
const keyRestored = "s/restored"

// RestoreReplica replaces the data of replica replicaID of shardID on this
// host by the snapshot snapshotID of the node's snapshot store (Export
// writes them; Store.Export and Store.Import copy one between nodes), as
// the first state of a NEW incarnation of the shard's Raft group. It is
// disaster recovery: every write after the snapshot is discarded.
//
// The replica must not be running here (ErrReplicaRunning). cfg is the
// shard's Config, as for StartReplica (RecoverBatchBytes bounds each load
// transaction). On success the replica has no Raft state on this
// NodeHost and an app store holding the snapshot's data with applied index
// 0; start it with StartReplica(shardID, replicaID, members, false, ...)
// where members is the full membership of the new group.
//
// Restore every member of the group, from the same snapshot, before
// starting any of them: a member that kept the old Raft history (or the
// data of another snapshot) would mix two histories. RestoredFrom tells
// which snapshot a running replica was restored from.
//
// The snapshot is first loaded and verified under a temporary store name;
// any failure up to there returns ErrRestoreFailed and changes nothing.
// Then a durable intent is recorded, the replica's Raft data removed, the
// loaded store moved into place and the intent cleared. If that fails or
// the process dies meanwhile, StartReplica refuses the replica with
// ErrRestorePending until RestoreReplica succeeds (run it again).
//
// It blocks until done or ctx ends; safe for concurrent use (one restore
// per shard at a time).
func (h *Host) RestoreReplica(ctx context.Context, shardID, replicaID uint64, snapshotID string, cfg Config) error {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("shards: shard %d config: %w", shardID, err)
	}
	if snapshotID == "" {
		return fmt.Errorf("%w: shard %d: no snapshot id", ErrRestoreFailed, shardID)
	}
	live := AppStoreName(shardID, replicaID)
	tmp := live + ".restore"
	if h.appFile(live) == "" {
		return fmt.Errorf("%w: shard %d replica %d", ErrRestoreUnsupported, shardID, replicaID)
	}
	h.mu.Lock()
	switch {
	case h.mu.closed:
		h.mu.Unlock()
		return ErrClosed
	case h.mu.restoring[shardID]:
		h.mu.Unlock()
		return fmt.Errorf("%w: shard %d is being restored", ErrReplicaRunning, shardID)
	}
	if _, ok := h.mu.replicas[shardID]; ok {
		h.mu.Unlock()
		return fmt.Errorf("%w: shard %d", ErrReplicaRunning, shardID)
	}
	if h.mu.restoring == nil {
		h.mu.restoring = map[uint64]bool{}
	}
	h.mu.restoring[shardID] = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.mu.restoring, shardID)
		h.mu.Unlock()
	}()

	if err := h.loadRestore(ctx, shardID, tmp, snapshotID, cfg.RecoverBatchBytes); err != nil {
		return fmt.Errorf("%w: shard %d replica %d from %s: %w", ErrRestoreFailed, shardID, replicaID, snapshotID, err)
	}

	// Point of no return: from here on, the replica's old state is being
	// dismantled. The intent makes StartReplica refuse it until done.
	if err := h.setRestoreIntent(shardID, replicaID, snapshotID); err != nil {
		_ = h.clearRestoreIntent(shardID, replicaID)
		_ = h.cfg.Storage.RemoveApp(tmp)
		return fmt.Errorf("%w: shard %d replica %d: record intent: %w", ErrRestoreFailed, shardID, replicaID, err)
	}
	pending := func(what string, err error) error {
		return fmt.Errorf("%w: shard %d replica %d from %s: %s: %w", ErrRestorePending, shardID, replicaID, snapshotID, what, err)
	}
	if err := h.removeRaftData(ctx, shardID, replicaID); err != nil {
		return pending("remove Raft data", err)
	}
	if err := h.replaceApp(ctx, live, tmp); err != nil {
		return pending("replace app store", err)
	}
	if err := h.clearRestoreIntent(shardID, replicaID); err != nil {
		return pending("clear intent", err)
	}
	h.cfg.Logger.Info("replica restored from snapshot", "shard", shardID, "replica", replicaID, "snapshot", snapshotID)
	return nil
}

// RestoredFrom returns the ID of the snapshot the shard's running replica
// on this host was restored from ("" if it never was; see RestoreReplica),
// or ErrNotStarted.
func (h *Host) RestoredFrom(shardID uint64) (string, error) {
	m, ok := h.StateMachine(shardID)
	if !ok {
		return "", fmt.Errorf("%w: %d", ErrNotStarted, shardID)
	}
	st := m.opened.Load()
	if st == nil {
		return "", fmt.Errorf("%w: %d (state machine not open yet)", ErrNotStarted, shardID)
	}
	v, err := (*st).Get([]byte(keyRestored))
	if errors.Is(err, appdata.ErrNotFound) {
		return "", nil
	}
	return string(v), err
}

// loadRestore loads snapshot id into the app store called name, which it
// creates afresh, and verifies the whole stream; on any error it removes
// the store again. The loaded store has applied index 0 and remembers id.
func (h *Host) loadRestore(ctx context.Context, shardID uint64, name, id string, batchBytes int) (err error) {
	comp := h.cfg.Storage
	// A leftover of an interrupted restore.
	if err := comp.RemoveApp(name); err != nil {
		return err
	}
	sr, err := comp.Snapshots().Open(ctx, id)
	if err != nil {
		return err
	}
	defer sr.Close()
	if got := sr.Header().ShardID; got != shardID {
		return fmt.Errorf("snapshot %s is of shard %d", id, got)
	}
	// Loading needs no fsync per transaction: one Sync at the end.
	st, err := comp.OpenApp(name, storage.WithSyncPolicy(appdata.SyncNever))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); err == nil && !errors.Is(cerr, appdata.ErrClosed) {
			err = cerr
		}
		if err != nil {
			_ = comp.RemoveApp(name) // else the next restore removes it
		}
	}()
	if err := loadRecords(ctx, st, sr, batchBytes); err != nil {
		return err
	}
	// The new Raft group's entries start at index 1: they must all apply.
	err = st.Update(func(tx appdata.WriteTx) error {
		if err := tx.Put([]byte(keyApplied), make([]byte, 8)); err != nil {
			return err
		}
		return tx.Put([]byte(keyRestored), []byte(id))
	})
	if err != nil {
		return err
	}
	return st.Sync()
}

// loadRecords writes the records of sr into st (see loadSnapshot), leaving
// out the state machine's own keys for the applied index, recovery and
// restore (loadRestore sets them).
func loadRecords(ctx context.Context, st appdata.Store, sr *snapshot.Reader, batchBytes int) error {
	return loadSnapshot(st, sr, batchBytes, ctx.Err, func(k []byte) bool {
		switch string(k) {
		case keyApplied, keyRecovering, keyRestored:
			return true
		}
		return false
	})
}

// removeRaftData removes the replica's Raft state from the NodeHost: its
// LogDB records (bootstrap, hard state, entries, snapshot metadata) and its
// snapshot directory.
func (h *Host) removeRaftData(ctx context.Context, shardID, replicaID uint64) error {
	// A replica stopped a moment ago may still be unloading. (Not
	// SyncRemoveData: it panics if the replica is still loaded after its
	// state machine was destroyed.)
	for {
		err := h.nh.RemoveData(shardID, replicaID)
		if !errors.Is(err, dragonboat.ErrShardNotStopped) {
			if err != nil {
				return err
			}
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// RemoveData marks the replica's snapshot directory deleted, and
	// dragonboat then refuses to start that replica id ever again
	// (ErrReplicaRemoved). The new incarnation needs no old snapshot: the
	// directory goes, and StartReplica creates it again. Its place is
	// <dir>/<hostname>/<deployment id>/snapshot-part-<n>/snapshot-<shard>-<replica>.
	pattern := filepath.Join(globEscape(h.cfg.Dir), "*", "*", "snapshot-part-*", fmt.Sprintf("snapshot-%d-%d", shardID, replicaID))
	found, err := filepath.Glob(pattern)
	if err != nil {
		return err
	}
	for _, d := range found {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// replaceApp replaces the app store live by the (closed) store tmp.
func (h *Host) replaceApp(ctx context.Context, live, tmp string) error {
	comp := h.cfg.Storage
	// The state machine closes its store when dragonboat unloads the
	// replica, which RemoveData has waited for; allow it a moment anyway.
	for {
		err := comp.RemoveApp(live)
		if !errors.Is(err, storage.ErrInUse) {
			if err != nil {
				return err
			}
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// storage.Composite has no rename: the stores are buntdb files named
	// as Composite documents (<app path>/<name>.db), closed here.
	to := h.appFile(live)
	if err := os.Rename(h.appFile(tmp), to); err != nil {
		return err
	}
	return syncDir(filepath.Dir(to))
}

// appFile is the file of the app store called name, "" for in-memory
// stores.
func (h *Host) appFile(name string) string {
	app := h.cfg.Storage.Config().App
	if app.Type == appdata.BackendMemory || app.Path == "" {
		return ""
	}
	return filepath.Join(app.Path, name+".db")
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// The restore intent of a replica is a key in the node's own app store
// (storage.Composite.App), present from RestoreReplica's point of no
// return until it has finished; its value is the snapshot ID.
func restoreIntentKey(shardID, replicaID uint64) []byte {
	return fmt.Appendf(nil, "shards/restoring/%d/%d", shardID, replicaID)
}

func (h *Host) setRestoreIntent(shardID, replicaID uint64, snapshotID string) error {
	app := h.cfg.Storage.App()
	if err := app.Put(restoreIntentKey(shardID, replicaID), []byte(snapshotID)); err != nil {
		return err
	}
	return app.Sync()
}

func (h *Host) clearRestoreIntent(shardID, replicaID uint64) error {
	app := h.cfg.Storage.App()
	if _, err := app.Delete(restoreIntentKey(shardID, replicaID)); err != nil {
		return err
	}
	return app.Sync()
}

// checkRestoreIntent returns ErrRestorePending if a restore of the replica
// did not finish (StartReplica calls it).
func (h *Host) checkRestoreIntent(shardID, replicaID uint64) error {
	app := h.cfg.Storage.App()
	if app == nil {
		return nil
	}
	v, err := app.Get(restoreIntentKey(shardID, replicaID))
	switch {
	case errors.Is(err, appdata.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("shards: shard %d replica %d: read restore intent: %w", shardID, replicaID, err)
	}
	return fmt.Errorf("%w: shard %d replica %d from snapshot %s: run RestoreReplica again", ErrRestorePending, shardID, replicaID, v)
}
