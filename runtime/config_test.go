package runtime_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/runtime"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/raftlog"
)

func TestParseConfig(t *testing.T) {
	cfg, err := runtime.ParseConfig([]byte(`
data_dir: /var/lib/odgm
node_id: 2
raft_address: 127.0.0.1:7002
cluster: {1: "127.0.0.1:7001", 2: "127.0.0.1:7002", 3: "127.0.0.1:7003"}
storage:
  log_storage: {type: kv_log}
class_defaults: {partitions: 8, replicas: 3, shard: {snapshot_entries: 500}}
limits: {max_value_size: 4096}
idle_timeout: 30s
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != 2 || len(cfg.Cluster) != 3 || cfg.Classes.Partitions != 8 || cfg.Classes.Shard.SnapshotEntries != 500 ||
		cfg.Limits.MaxValueSize != 4096 || cfg.IdleTimeout != 30*time.Second || cfg.Storage.Log.Type != raftlog.BackendKV {
		t.Fatalf("parsed %+v", cfg)
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.App.Path != "/var/lib/odgm/appdata" || cfg.Storage.App.Type != appdata.BackendBuntDB {
		t.Fatalf("storage defaults %+v", cfg.Storage.App)
	}
	if _, err := runtime.ParseConfig([]byte("data_dri: x\n")); !errors.Is(err, runtime.ErrInvalidConfig) {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestValidateReportsEverything: Validate lists every problem, and Start
// refuses the config.
func TestValidateReportsEverything(t *testing.T) {
	cfg := runtime.Config{
		Cluster: map[uint64]string{2: "nowhere"},
		Limits:  runtime.Limits{MaxIDLen: 500, MaxValueSize: -1},
		Classes: runtime.ClassDefaults{Partitions: 100000},
	}
	cfg.EnsureDefaults()
	err := cfg.Validate()
	if !errors.Is(err, runtime.ErrInvalidConfig) {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{"data_dir", "cluster: does not hold node_id 1", `"nowhere"`, "max_id_len", "max_value_size", "partitions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := runtime.Start(context.Background(), runtime.Config{}); !errors.Is(err, runtime.ErrInvalidConfig) {
		t.Fatalf("start without a data dir: %v", err)
	}
}

func TestShardIDs(t *testing.T) {
	a0, a1 := runtime.ShardID("account", 0), runtime.ShardID("account", 1)
	if a1 != a0+1 || a0&0xffff != 0 || a0 < 1<<16 {
		t.Fatalf("account: %x %x", a0, a1)
	}
	if runtime.ShardID("account", 0) != a0 {
		t.Fatal("not deterministic")
	}
	if runtime.ShardID("counter", 0) == a0 {
		t.Fatal("classes share shard ids")
	}
}

func TestReplicasPlacement(t *testing.T) {
	nodes := []uint64{3, 1, 2}
	cases := []struct {
		shard uint64
		n     int
		want  []uint64
	}{
		{0, 1, []uint64{1}},
		{1, 1, []uint64{2}},
		{2, 2, []uint64{3, 1}},
		{4, 3, []uint64{2, 3, 1}},
		{5, 5, []uint64{3, 1, 2}},
	}
	for _, c := range cases {
		got := runtime.Replicas(nodes, c.shard, c.n)
		if len(got) != len(c.want) {
			t.Fatalf("shard %d: %v, want %v", c.shard, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("shard %d: %v, want %v", c.shard, got, c.want)
			}
		}
	}
}

// TestDurableRestart: a node on a data directory keeps its objects and
// versions across Stop and Start, with the default (durable) storage.
func TestDurableRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := ctxT(t)
	for round := 1; round <= 2; round++ {
		n, err := runtime.Start(ctx, runtime.Config{DataDir: dir, RTTMillisecond: 5})
		if err != nil {
			t.Fatal(err)
		}
		if n.Durability().Ephemeral {
			t.Fatal("default storage is ephemeral")
		}
		if err := n.RegisterClass(ctx, counterClass("counter", 2)); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if _, err := n.Invoke(ctx, "counter", "c", "incr", nil); err != nil {
				t.Fatal(err)
			}
		}
		st, err := n.Get(ctx, "counter", "c")
		if err != nil || st.Version != uint64(5*round) || getU64(st.Entries["n"]) != uint64(5*round) {
			t.Fatalf("round %d: %+v %v", round, st, err)
		}
		if round == 2 {
			if err := n.RegisterClass(ctx, counterClass("other", 1)); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A class cannot change its partitions over existing data.
	n, err := runtime.Start(ctx, runtime.Config{DataDir: dir, RTTMillisecond: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	if err := n.RegisterClass(ctx, counterClass("counter", 3)); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("re-partitioned: %v", err)
	}
	if err := n.RegisterClass(ctx, counterClass("counter", 2)); err != nil {
		t.Fatal(err)
	}
}
