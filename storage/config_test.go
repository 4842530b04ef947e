package storage

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/raftlog"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// The seed plan's development configuration, verbatim.
const seedDevelopment = `
raft_cluster:
  storage:
    log_storage:
      type: "memory_log"
      config:
        max_entries: 50000
    snapshot_storage:
      type: "memory_snapshot"
      config:
        max_snapshots: 3
    app_storage:
      type: "memory"
      config:
        max_size_mb: 256
`

// The seed plan's production configuration with the app store we ship
// (buntdb) in place of rocksdb and its rocksdb-only keys.
const seedProduction = `
raft_cluster:
  storage:
    log_storage:
      type: "append_log"
      path: "/var/lib/oprc/raftlog"
      config:
        buffer_size: 10000
        flush_interval_ms: 50
        sync_policy: "batch"
    snapshot_storage:
      type: "compressed_file"
      path: "/var/lib/oprc/snapshots"
      config:
        compression: "zstd"
        compression_level: 3
        retention:
          keep_count: 5
          max_age_hours: 168
    app_storage:
      type: "buntdb"
      path: "/var/lib/oprc/data"
      config:
        sync_policy: every_second
`

func TestParseSeedDevelopment(t *testing.T) {
	c, err := Parse([]byte(seedDevelopment))
	if err != nil {
		t.Fatal(err)
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Log.Config.MaxEntries != 50000 || c.Snapshot.Config.MaxSnapshots != 3 || c.App.Config.MaxSizeMB != 256 {
		t.Fatalf("values not read: %+v", c)
	}
	if d := c.Durability(); !d.Ephemeral {
		t.Fatalf("memory everywhere must be reported ephemeral: %+v", d)
	}
}

func TestParseSeedProduction(t *testing.T) {
	c, err := Parse([]byte(seedProduction))
	if err != nil {
		t.Fatal(err)
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Snapshot.Config.Retention.MaxAge; got != 168*time.Hour {
		t.Fatalf("max_age_hours not folded into max_age: %v", got)
	}
	if c.Log.Config.SyncPolicy != raftlog.SyncBatch || c.Log.Config.BufferSize != 10000 {
		t.Fatalf("log options not read: %+v", c.Log.Config)
	}
	d := c.Durability()
	if d.Ephemeral || len(d.Notes) == 0 || !strings.Contains(strings.Join(d.Notes, "\n"), "sync_policy batch") {
		t.Fatalf("batch sync must be called out: %+v", d)
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	_, err := Parse([]byte(`
raft_cluster:
  storage:
    app_storage:
      type: rocksdb
      config:
        cache_size_mb: 2048
        write_buffer_size_mb: 128
`))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	for _, key := range []string{"cache_size_mb", "write_buffer_size_mb"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name unknown key %s: %v", key, err)
		}
	}
}

func TestParseRejectsWrongTypesAndExtraDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"string for int": "raft_cluster:\n  storage:\n    log_storage:\n      config:\n        max_entries: lots\n",
		"list for map":   "raft_cluster:\n  storage:\n    - 1\n",
		"two documents":  "raft_cluster: {}\n---\nraft_cluster: {}\n",
		"bad duration":   "raft_cluster:\n  storage:\n    snapshot_storage:\n      config:\n        retention:\n          max_age: soon\n",
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestParseEmptyIsZero(t *testing.T) {
	c, err := Parse(nil)
	if err != nil || !reflect.DeepEqual(c, Config{}) {
		t.Fatalf("Parse(nil) = %+v, %v", c, err)
	}
}

func TestDefaultIsDurableAndValid(t *testing.T) {
	dir := t.TempDir()
	c := Default(dir)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Log.Type != raftlog.BackendAppendLog || c.Snapshot.Type != snapshot.BackendCompressedFile || c.App.Type != appdata.BackendBuntDB {
		t.Fatalf("default types: %s %s %s", c.Log.Type, c.Snapshot.Type, c.App.Type)
	}
	if c.Log.Config.SyncPolicy != raftlog.SyncAlways || c.App.Config.SyncPolicy != appdata.SyncAlways {
		t.Fatal("defaults must fsync before acknowledging")
	}
	if c.Snapshot.Config.Compression != snapshot.CodecZstd {
		t.Fatal("default snapshot codec must be zstd")
	}
	if want := filepath.Join(dir, DefaultAppDir); c.App.Path != want {
		t.Fatalf("app path %q, want %q", c.App.Path, want)
	}
	if d := c.Durability(); d.Ephemeral || len(d.Notes) != 0 {
		t.Fatalf("default durability: %+v", d)
	}
}

func TestResolvePathsJoinsRelative(t *testing.T) {
	c := Config{Log: LogConfig{Path: "wal"}, App: AppConfig{Path: "/abs/app"}}
	c.EnsureDefaults()
	c.ResolvePaths("/data")
	if c.Log.Path != "/data/wal" || c.App.Path != "/abs/app" || c.Snapshot.Path != "/data/snapshots" {
		t.Fatalf("paths: %q %q %q", c.Log.Path, c.Snapshot.Path, c.App.Path)
	}
	m := Memory()
	m.ResolvePaths("/data")
	if m.Log.Path != "" || m.Snapshot.Path != "" || m.App.Path != "" {
		t.Fatal("memory layers must not get paths")
	}
}

// Validate reports every problem at once, each with its field's path, and
// changes nothing.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := Config{
		Log:      LogConfig{Type: "append_log", Path: "/d/log", Config: raftlog.Options{SyncPolicy: "sometimes", FlushIntervalMS: -1}},
		Snapshot: SnapshotConfig{Type: "compressed_file", Path: "/d/log", Config: snapshot.Options{CompressionLevel: 40, Compression: "lz4", Retention: snapshot.Retention{KeepCount: -1}}},
		App: AppConfig{Type: "buntdb", Path: "/d/app", Config: appdata.Options{SyncPolicy: "often",
			Indexes: []appdata.IndexSpec{{Name: "a", Pattern: "x:*", Type: "json"}, {Name: "a", Type: "date"}}}},
	}
	before := c
	before.App.Config.Indexes = append([]appdata.IndexSpec(nil), c.App.Config.Indexes...)
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"log_storage.config.sync_policy",
		"log_storage.config.flush_interval_ms",
		"snapshot_storage.config.compression",
		"snapshot_storage.config.compression_level: 40 is out of range 1..22",
		"snapshot_storage.config.retention.keep_count",
		"snapshot_storage.path",
		"app_storage.config.sync_policy",
		"app_storage.config.indexes[0].json_path",
		"app_storage.config.indexes[1].name",
		"app_storage.config.indexes[1].pattern",
		"app_storage.config.indexes[1].type",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ve.Problems), len(want), msg)
	}
	if !reflect.DeepEqual(c, before) {
		t.Fatal("Validate changed the config")
	}
}

func TestValidateRefusesUnsafeCombinations(t *testing.T) {
	cases := []struct {
		name    string
		log     string
		app     string
		problem string // "" = valid
	}{
		{"all memory", raftlog.BackendMemory, appdata.BackendMemory, ""},
		{"all durable", raftlog.BackendAppendLog, appdata.BackendBuntDB, ""},
		{"kv_log durable", raftlog.BackendKV, appdata.BackendBuntDB, ""},
		{"durable log, memory app", raftlog.BackendAppendLog, appdata.BackendMemory, "app_storage.type"},
		{"pebble log, memory app", raftlog.BackendPebble, appdata.BackendMemory, "app_storage.type"},
		{"memory log, durable app", raftlog.BackendMemory, appdata.BackendBuntDB, "log_storage.type"},
		{"unknown log", "rocksdb_log", appdata.BackendBuntDB, "log_storage.type: \"rocksdb_log\" is not one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Log: LogConfig{Type: tc.log}, Snapshot: SnapshotConfig{Type: snapshot.BackendMemory}, App: AppConfig{Type: tc.app}}
			c.EnsureDefaults()
			c.ResolvePaths(t.TempDir())
			err := c.Validate()
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("err = %v, want a problem at %s", err, tc.problem)
			}
		})
	}
}

func TestValidatePathRules(t *testing.T) {
	c := Config{Log: LogConfig{Type: raftlog.BackendMemory, Path: "/x"}, Snapshot: SnapshotConfig{Type: snapshot.BackendCompressedFile},
		App: AppConfig{Type: appdata.BackendMemory}}
	c.EnsureDefaults()
	err := c.Validate()
	for _, w := range []string{"log_storage.path: type memory_log keeps nothing on disk", "snapshot_storage.path: required by type compressed_file"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}

// FuzzParse: no input makes parsing, defaulting or validation panic, and
// every parse failure is an ErrInvalidConfig.
func FuzzParse(f *testing.F) {
	f.Add([]byte(seedDevelopment))
	f.Add([]byte(seedProduction))
	f.Add([]byte("raft_cluster: {storage: {log_storage: {type: 7}}}"))
	f.Add([]byte("raft_cluster:\n  storage:\n    snapshot_storage:\n      config:\n        retention: [1, 2]\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		c.EnsureDefaults()
		c.ResolvePaths("/data")
		if err := c.Validate(); err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("untyped error %v", err)
		}
		_ = c.Durability()
	})
}
