package shards

import (
	"strings"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/raftio"

	"github.com/odgm-go/odgm/storage/appdata"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := Config{Class: "account"}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SnapshotEntries == 0 || c.ReadConsistency != Linearizable || c.SnapshotCodec != "zstd" || c.MaxRememberedRequests <= 0 {
		t.Fatalf("defaults: %+v", c)
	}
	rc := c.RaftConfig(3, 2)
	if rc.ShardID != 3 || rc.ReplicaID != 2 || rc.SnapshotEntries != c.SnapshotEntries || rc.ElectionRTT != 10 {
		t.Fatalf("raft config %+v", rc)
	}
	bad := Config{Class: "Bad/Class", ElectionRTT: 2, HeartbeatRTT: 1, SnapshotEntries: 1, MaxRememberedRequests: -1,
		SnapshotCodec: "lz4", SnapshotCompressionLevel: 30, RecoverBatchBytes: -1, ReadConsistency: "eventual",
		ExportInterval: -time.Second, Indexes: []appdata.IndexSpec{{Name: "x"}}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, field := range []string{"class", "election_rtt", "max_remembered_requests", "snapshot_codec",
		"snapshot_compression_level", "recover_batch_bytes", "read_consistency", "export_interval", "indexes[0]"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("problem with %s not reported in %v", field, err)
		}
	}
}

func TestDispatcherNeverBlocks(t *testing.T) {
	d := NewDispatcher()
	defer d.Close()
	release := make(chan struct{})
	got := make(chan Event, 100)
	cancel := d.Subscribe(5, func(e Event) {
		<-release // a stuck subscriber
		got <- e
	})
	defer cancel()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			d.SnapshotCreated(snapInfo(5, uint64(i)))
		}
		d.ConnectionFailed(connInfo("127.0.0.1:1"))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("listener calls blocked on a stuck subscriber")
	}
	close(release)
	for i := 0; i < 50; i++ {
		if e := <-got; e.Kind != EventSnapshotCreated || e.Index != uint64(i) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if e := <-got; e.Kind != EventConnectionFailed {
		t.Fatalf("shard-less event not delivered: %+v", e)
	}
}

func snapInfo(shard, index uint64) raftio.SnapshotInfo {
	return raftio.SnapshotInfo{ShardID: shard, Index: index}
}

func connInfo(addr string) raftio.ConnectionInfo { return raftio.ConnectionInfo{Address: addr} }
