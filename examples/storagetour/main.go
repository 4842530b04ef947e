// Command storagetour is the storage foundation's demo (`make run`): on safe
// defaults, in a temporary directory, it writes objects' entries to the
// durable app layer, queries a secondary index, takes a zstd snapshot of the
// data, restores it into a fresh store, checks the copy, appends and compacts
// Raft entries in the log layer, and prints what it did and where the files
// are.
//
//	go run ./examples/storagetour          # in a new temporary directory
//	go run ./examples/storagetour -dir d   # in d (kept afterwards)
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/raftlog"
	"github.com/odgm-go/odgm/storage/snapshot"
)

const accounts = 1000

func main() {
	dir := flag.String("dir", "", "data directory (default: a new temporary directory, removed at the end)")
	flag.Parse()
	if err := run(context.Background(), *dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "storagetour:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, out io.Writer) (err error) {
	keep := dir != ""
	if !keep {
		if dir, err = os.MkdirTemp("", "odgm-storagetour-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg := storage.Default(dir)
	// Account balances are indexed as integers: the seed plan's "indexed
	// access instead of a full scan".
	cfg.App.Config.Indexes = []appdata.IndexSpec{{Name: "balance", Pattern: "o/account/*/e/balance", Type: appdata.IndexInt}}
	fmt.Fprintf(out, "data directory %s\n", dir)
	fmt.Fprintf(out, "  log       %-15s %s (sync_policy %s)\n", cfg.Log.Type, cfg.Log.Path, cfg.Log.Config.SyncPolicy)
	fmt.Fprintf(out, "  snapshots %-15s %s (%s level %d)\n", cfg.Snapshot.Type, cfg.Snapshot.Path, cfg.Snapshot.Config.Compression, cfg.Snapshot.Config.CompressionLevel)
	fmt.Fprintf(out, "  app data  %-15s %s (sync_policy %s)\n", cfg.App.Type, cfg.App.Path, cfg.App.Config.SyncPolicy)

	comp, err := storage.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, comp.Close()) }()
	app := comp.App()

	// 1. Write objects: each account has an owner and a balance entry, all of
	// an account's entries in one transaction.
	for i := range accounts {
		id := fmt.Sprintf("acct-%04d", i)
		err := app.Update(func(tx appdata.WriteTx) error {
			if err := tx.Put(entryKey(id, "owner"), fmt.Appendf(nil, `{"name":"owner %d"}`, i)); err != nil {
				return err
			}
			return tx.Put(entryKey(id, "balance"), []byte(strconv.Itoa((i*7919)%10000)))
		})
		if err != nil {
			return err
		}
	}
	st, err := app.Stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %d accounts: %d entries, %d bytes, file %d bytes\n", accounts, st.Keys, st.Bytes, st.FileSize)

	// 2. Compare-and-swap: move 100 from one balance to another only if
	// nobody changed it meanwhile.
	old, err := app.Get(entryKey("acct-0001", "balance"))
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(string(old))
	swapped, err := app.CompareAndSwap(entryKey("acct-0001", "balance"), old, []byte(strconv.Itoa(n-100)))
	if err != nil {
		return err
	}
	stale, err := app.CompareAndSwap(entryKey("acct-0001", "balance"), old, []byte("0"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "compare-and-swap acct-0001 balance %d -> %d: swapped=%v; again with the stale value: swapped=%v\n", n, n-100, swapped, stale)

	// 3. Query the index: balances in [9950, 10000), a page at a time.
	var rich []string
	var resume []byte
	for {
		items, next, err := app.QueryIndex("balance", appdata.QueryRange([]byte("9950"), []byte("10000")), 4, resume)
		if err != nil {
			return err
		}
		for _, it := range items {
			rich = append(rich, fmt.Sprintf("%s=%s", objectID(it.Key), it.Value))
		}
		if next == nil {
			break
		}
		resume = next
	}
	fmt.Fprintf(out, "index query balance in [9950, 10000): %d accounts %v\n", len(rich), rich)

	// 4. Snapshot the app data, streaming, into the snapshot layer.
	cr, err := comp.Snapshots().Create(ctx, snapshot.Header{ShardID: 1, ReplicaID: 1, Index: accounts, Term: 1})
	if err != nil {
		return err
	}
	err = app.View(func(tx appdata.ReadTx) error {
		return tx.Ascend(nil, nil, func(k, v []byte) (bool, error) { return true, cr.Write(k, v) })
	})
	if err != nil {
		cr.Abort()
		return err
	}
	meta, err := cr.Commit()
	if err != nil {
		return err
	}
	if _, err := comp.Snapshots().Verify(ctx, meta.ID); err != nil {
		return err
	}
	fmt.Fprintf(out, "snapshot %s: %d records, %d bytes on disk (%s), verified\n  file %s\n",
		meta.ID, meta.Records, meta.Size, meta.Codec, filepath.Join(cfg.Snapshot.Path, meta.ID))

	// 5. Restore it into a fresh store and compare every key.
	restoreDir := filepath.Join(dir, "restored")
	rcfg := storage.Default(restoreDir)
	rcfg.App.Config.Indexes = cfg.App.Config.Indexes
	restored, err := storage.Open(ctx, rcfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, restored.Close()) }()
	r, err := comp.Snapshots().Open(ctx, meta.ID)
	if err != nil {
		return err
	}
	defer r.Close()
	err = restored.App().Update(func(tx appdata.WriteTx) error {
		for {
			k, v, err := r.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := tx.Put(k, v); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return err
	}
	same, err := sameData(app, restored.App())
	if err != nil {
		return err
	}
	again, _, err := restored.App().QueryIndex("balance", appdata.QueryRange([]byte("9950"), []byte("10000")), 0, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored into %s: identical=%v, index query finds %d accounts\n", rcfg.App.Path, same, len(again))
	if !same || len(again) != len(rich) {
		return errors.New("the restored store differs from the original")
	}
	if err := logTour(cfg, out); err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(out, "files kept in %s\n", dir)
	} else {
		fmt.Fprintf(out, "done; the temporary directory is removed (use -dir to keep the files)\n")
	}
	return nil
}

// logTour appends Raft entries to the log layer as a replica would, compacts
// them as after a snapshot, and shows the segments going away.
func logTour(cfg storage.Config, out io.Writer) (err error) {
	opts := cfg.Log.Config
	opts.SegmentSize = 1 << 20 // small segments, so that compaction shows
	store, err := raftlog.Open(cfg.Log.Type, cfg.Log.Path, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	log := raftlog.LogOf(store, raftlog.Node{ShardID: 1, ReplicaID: 1})
	const batches, perBatch = 100, 64
	cmd := bytes.Repeat([]byte("x"), 256)
	for b := range batches {
		entries := make([]pb.Entry, perBatch)
		for i := range entries {
			entries[i] = pb.Entry{Index: uint64(b*perBatch + i + 1), Term: 1, Cmd: cmd}
		}
		if err := log.Append(entries); err != nil { // one fsync per batch
			return err
		}
	}
	before, _ := raftlog.Disk(store)
	st := log.Stats()
	fmt.Fprintf(out, "log: appended %d entries in %d fsynced batches: %d segments, %d bytes\n", st.Entries, batches, before.Segments, before.Bytes)
	if err := log.Compact(st.LastIndex - perBatch); err != nil {
		return err
	}
	if err := store.Reclaim(); err != nil {
		return err
	}
	after, _ := raftlog.Disk(store)
	st = log.Stats()
	fmt.Fprintf(out, "log: compacted to index %d: %d entries left, %d segments deleted, %d bytes on disk\n",
		st.FirstIndex-1, st.Entries, after.SegmentsDeleted, after.Bytes)
	return nil
}

func entryKey(id, entry string) []byte { return []byte("o/account/" + id + "/e/" + entry) }

func objectID(key []byte) string {
	parts := bytes.Split(key, []byte("/"))
	if len(parts) < 3 {
		return string(key)
	}
	return string(parts[2])
}

// sameData compares two stores key by key.
func sameData(a, b appdata.Store) (bool, error) {
	ia, _, err := a.ScanRange(nil, nil, 0)
	if err != nil {
		return false, err
	}
	ib, _, err := b.ScanRange(nil, nil, 0)
	if err != nil {
		return false, err
	}
	if len(ia) != len(ib) {
		return false, nil
	}
	for i := range ia {
		if !bytes.Equal(ia[i].Key, ib[i].Key) || !bytes.Equal(ia[i].Value, ib[i].Value) {
			return false, nil
		}
	}
	return true, nil
}
