package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/odgm-go/odgm/internal/leakcheck"
	"github.com/odgm-go/odgm/storage"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/snapshot"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestOpenDefaultPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := storage.Open(ctx, storage.Default(dir))
	if err != nil {
		t.Fatal(err)
	}
	kv := storage.NewKV(c)
	for i := range 10 {
		if err := kv.Put(ctx, fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, []byte("k03")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, []byte("missing")); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	for _, p := range []string{storage.DefaultAppDir, storage.DefaultSnapshotDir} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatalf("%s not created: %v", p, err)
		}
	}

	c, err = storage.Open(ctx, storage.Default(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kv = storage.NewKV(c)
	if v, err := kv.Get(ctx, []byte("k07")); err != nil || string(v) != "v7" {
		t.Fatalf("Get k07 = %q, %v", v, err)
	}
	if _, err := kv.Get(ctx, []byte("k03")); !storage.IsNotFound(err) {
		t.Fatalf("deleted key: %v", err)
	}
	var keys []string
	var resume []byte
	for {
		items, next, err := kv.Scan(ctx, []byte("k"), 4, resume)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			keys = append(keys, string(it.Key))
		}
		if next == nil {
			break
		}
		resume = next
	}
	if len(keys) != 9 || keys[0] != "k00" || keys[8] != "k09" {
		t.Fatalf("scan pages gave %v", keys)
	}
}

func TestOpenRefusesInvalidConfigAndTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := storage.Default(dir)
	cfg.Snapshot.Config.CompressionLevel = 40
	cfg.App.Type = appdata.BackendMemory // durable log with a memory app store
	cfg.App.Path = ""
	_, err := storage.Open(context.Background(), cfg)
	var ve *storage.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused config created files: %v", entries)
	}
}

func TestOpenMemoryIsEphemeral(t *testing.T) {
	ctx := context.Background()
	c, err := storage.Open(ctx, storage.Memory())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Durability().Ephemeral {
		t.Fatal("memory composite not reported ephemeral")
	}
	kv := storage.NewKV(c)
	if err := kv.Put(ctx, []byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get(ctx, []byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

func TestKVHonoursContext(t *testing.T) {
	c, err := storage.Open(context.Background(), storage.Memory())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	kv := storage.NewKV(c)
	if err := kv.Put(ctx, []byte("a"), []byte("1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put on a cancelled context = %v", err)
	}
	if _, err := c.App().Get([]byte("a")); !errors.Is(err, appdata.ErrNotFound) {
		t.Fatalf("a cancelled Put wrote: %v", err)
	}
}

// The snapshot layer of a composite streams the app layer's data out and a
// fresh composite restores it: the path the state machine will take.
func TestSnapshotRoundTripThroughComposite(t *testing.T) {
	ctx := context.Background()
	src, err := storage.Open(ctx, storage.Default(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := range 500 {
		if err := src.App().Put(fmt.Appendf(nil, "o/c/%04d", i), bytes.Repeat([]byte{byte(i)}, i%50)); err != nil {
			t.Fatal(err)
		}
	}
	cr, err := src.Snapshots().Create(ctx, snapshot.Header{ShardID: 7, ReplicaID: 1, Index: 500, Term: 2})
	if err != nil {
		t.Fatal(err)
	}
	err = src.App().View(func(tx appdata.ReadTx) error {
		return tx.Ascend(nil, nil, func(k, v []byte) (bool, error) { return true, cr.Write(k, v) })
	})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := cr.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Records != 500 {
		t.Fatalf("meta records = %d", meta.Records)
	}

	dst, err := storage.Open(ctx, storage.Default(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	r, err := src.Snapshots().Open(ctx, meta.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = dst.App().Update(func(tx appdata.WriteTx) error {
		for {
			k, v, err := r.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if err := tx.Put(k, v); err != nil {
				return err
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := src.App().Stats()
	b, _ := dst.App().Stats()
	if a.Keys != b.Keys || a.Bytes != b.Bytes || b.Keys != 500 {
		t.Fatalf("restored %+v from %+v", b, a)
	}
	if v, err := dst.App().Get([]byte("o/c/0049")); err != nil || !bytes.Equal(v, bytes.Repeat([]byte{49}, 49)) {
		t.Fatalf("restored value = %v, %v", v, err)
	}
}

func TestOpenAppPerShard(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := storage.Open(ctx, storage.Default(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, bad := range []string{"", ".hidden", "../escape", "Upper", "a/b", string(make([]byte, 101))} {
		if _, err := c.OpenApp(bad); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("OpenApp(%q) = %v", bad, err)
		}
	}
	s1, err := c.OpenApp("shard-1-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenApp("shard-1-1"); !errors.Is(err, storage.ErrInUse) {
		t.Fatalf("second OpenApp = %v", err)
	}
	if err := c.RemoveApp("shard-1-1"); !errors.Is(err, storage.ErrInUse) {
		t.Fatalf("RemoveApp of an open store = %v", err)
	}
	if err := s1.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.App().Get([]byte("k")); !errors.Is(err, appdata.ErrNotFound) {
		t.Fatal("shard stores must be separate from the node's own store")
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s1, err = c.OpenApp("shard-1-1")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s1.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("reopened shard store: %q, %v", v, err)
	}
	s1.Close()
	if err := c.RemoveApp("shard-1-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, storage.DefaultAppDir, "shard-1-1.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("RemoveApp left the file: %v", err)
	}
	if _, err := c.OpenApp("shard-2-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenApp("shard-3-1"); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("OpenApp after Close = %v", err)
	}
}

func TestLogDBFactoryFollowsConfig(t *testing.T) {
	for _, cfg := range []storage.Config{storage.Memory(), storage.Default(t.TempDir())} {
		c, err := storage.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.LogDBFactory()
		if err != nil {
			t.Fatal(err)
		}
		if want := "odgm-" + cfg.Log.Type; f.Name() != want {
			t.Errorf("factory name %q, want %q", f.Name(), want)
		}
		c.Close()
	}
}
