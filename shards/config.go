package shards

import (
	"errors"
	"fmt"
	"time"

	"github.com/lni/dragonboat/v4/config"

	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// Consistency is how a read is served.
type Consistency string

// Read consistencies.
const (
	// Linearizable reads go through Raft's ReadIndex: they see every write
	// acknowledged before the read started. The default.
	Linearizable Consistency = "linearizable"
	// Stale reads are served from the local replica's applied state at
	// once: fast, possibly behind the leader.
	Stale Consistency = "stale"
)

// Config is the per-shard configuration: the dragonboat settings of its
// replicas and the shard's feature flags. The zero value is completed by
// EnsureDefaults; Validate reports every problem at once.
type Config struct {
	// Class is the class whose partition the shard holds; commands naming
	// another class are INVALID. Required.
	Class string `yaml:"class"`

	// SnapshotEntries is how many applied entries trigger a Raft snapshot
	// (for an on-disk state machine a metadata-only one, taken after Sync),
	// which lets the log be compacted. Zero means 10000; it can never be 0
	// (dragonboat would then never snapshot and the log would grow without
	// bound).
	SnapshotEntries uint64 `yaml:"snapshot_entries"`
	// CompactionOverhead is how many entries are kept in the log behind a
	// snapshot, so that slightly lagging followers catch up from the log
	// rather than by a full snapshot stream. Zero means 5000.
	CompactionOverhead uint64 `yaml:"compaction_overhead"`
	// ElectionRTT is the election timeout in units of the node's
	// RTTMillisecond. Zero means 10. Must be greater than 2*HeartbeatRTT
	// (dragonboat recommends 10 times).
	ElectionRTT uint64 `yaml:"election_rtt"`
	// HeartbeatRTT is the heartbeat interval in RTTs. Zero means 1.
	HeartbeatRTT uint64 `yaml:"heartbeat_rtt"`
	// CheckQuorum makes a leader step down when it cannot reach a quorum.
	// Default false (dragonboat's default).
	CheckQuorum bool `yaml:"check_quorum"`

	// MaxRememberedRequests bounds the exactly-once table: how many request
	// ids (with their first result) each replica remembers. Oldest by apply
	// order are forgotten first. Zero means 100000. Must be positive, and
	// the same on every replica of a shard (see "Exactly-once" in the
	// package doc).
	MaxRememberedRequests int `yaml:"max_remembered_requests"`

	// SnapshotCodec is the compression of streamed and exported snapshots.
	// Zero means zstd.
	SnapshotCodec snapshot.Codec `yaml:"snapshot_codec"`
	// SnapshotCompressionLevel is the zstd level (1..22). Zero means 3.
	SnapshotCompressionLevel int `yaml:"snapshot_compression_level"`
	// RecoverBatchBytes bounds each write transaction while a snapshot is
	// loaded (keys plus values, in bytes). Zero means 4 MiB.
	RecoverBatchBytes int `yaml:"recover_batch_bytes"`

	// ReadConsistency is the consistency of reads that do not ask for one.
	// Zero means Linearizable.
	ReadConsistency Consistency `yaml:"read_consistency"`

	// ExportInterval is how often the shard's snapshot actor exports a
	// snapshot into the node's snapshot store. Zero means never.
	ExportInterval time.Duration `yaml:"export_interval"`
	// ExportRetention is the clean-up policy applied to the shard's
	// exported snapshots after each export (see snapshot.Retention; zero
	// fields get that type's defaults).
	ExportRetention snapshot.Retention `yaml:"export_retention"`

	// AppSync is how the replica's app store reaches the disk. Zero means
	// never: commits are not fsynced one by one; Sync fsyncs the store, and
	// dragonboat calls it before every snapshot, that is before the log
	// entries behind the store's state may be compacted. A crash loses no
	// acknowledged write: the Raft log holds every entry applied since the
	// last Sync and they are applied again (exactly once: the applied index
	// is stored with the data). "always" fsyncs every Update batch instead:
	// no replay after a crash, at the cost of a second fsync per batch.
	AppSync appdata.SyncPolicy `yaml:"app_sync"`

	// Indexes are secondary indexes of the shard's app store, created when
	// a replica opens. Patterns are over the key layout (see the package
	// doc), e.g. "o/account/*/e/balance".
	Indexes []appdata.IndexSpec `yaml:"indexes"`
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.CompactionOverhead == 0 {
		c.CompactionOverhead = 5000
	}
	if c.ElectionRTT == 0 {
		c.ElectionRTT = 10
	}
	if c.HeartbeatRTT == 0 {
		c.HeartbeatRTT = 1
	}
	if c.MaxRememberedRequests == 0 {
		c.MaxRememberedRequests = 100000
	}
	if c.SnapshotCodec == "" {
		c.SnapshotCodec = snapshot.CodecZstd
	}
	if c.SnapshotCompressionLevel == 0 {
		c.SnapshotCompressionLevel = 3
	}
	if c.RecoverBatchBytes == 0 {
		c.RecoverBatchBytes = 4 << 20
	}
	if c.ReadConsistency == "" {
		c.ReadConsistency = Linearizable
	}
	if c.AppSync == "" {
		c.AppSync = appdata.SyncNever
	}
	for i := range c.Indexes {
		if c.Indexes[i].Type == "" {
			c.Indexes[i].Type = appdata.IndexString
		}
	}
}

// Validate checks the config and returns every problem, joined; each names
// its field. It changes nothing: call EnsureDefaults first.
func (c *Config) Validate() error {
	var errs []error
	add := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if err := object.ValidateClass(c.Class); err != nil {
		add("class: %w", err)
	}
	if c.SnapshotEntries == 0 {
		add("snapshot_entries: must be positive")
	}
	if c.HeartbeatRTT == 0 {
		add("heartbeat_rtt: must be positive")
	}
	if c.ElectionRTT <= 2*c.HeartbeatRTT {
		add("election_rtt: %d must be greater than 2*heartbeat_rtt (%d)", c.ElectionRTT, 2*c.HeartbeatRTT)
	}
	if c.MaxRememberedRequests <= 0 {
		add("max_remembered_requests: %d must be positive", c.MaxRememberedRequests)
	}
	switch c.SnapshotCodec {
	case snapshot.CodecZstd, snapshot.CodecS2, snapshot.CodecNone:
	default:
		add("snapshot_codec: %q is not one of zstd, s2, none", c.SnapshotCodec)
	}
	if c.SnapshotCompressionLevel < 1 || c.SnapshotCompressionLevel > 22 {
		add("snapshot_compression_level: %d is out of range 1..22", c.SnapshotCompressionLevel)
	}
	if c.RecoverBatchBytes <= 0 {
		add("recover_batch_bytes: %d must be positive", c.RecoverBatchBytes)
	}
	switch c.ReadConsistency {
	case Linearizable, Stale:
	default:
		add("read_consistency: %q is not one of linearizable, stale", c.ReadConsistency)
	}
	switch c.AppSync {
	case appdata.SyncNever, appdata.SyncEverySecond, appdata.SyncAlways:
	default:
		add("app_sync: %q is not one of never, every_second, always", c.AppSync)
	}
	if c.ExportInterval < 0 {
		add("export_interval: %v is negative", c.ExportInterval)
	}
	for i, ix := range c.Indexes {
		if err := ix.Validate(); err != nil {
			add("indexes[%d]: %w", i, err)
		}
	}
	return errors.Join(errs...)
}

// snapshotOptions are the snapshot-format options of streamed snapshots.
func (c *Config) snapshotOptions() snapshot.Options {
	o := snapshot.Options{Compression: c.SnapshotCodec, CompressionLevel: c.SnapshotCompressionLevel}
	o.EnsureDefaults()
	return o
}

// RaftConfig is the dragonboat config of one replica of the shard.
func (c *Config) RaftConfig(shardID, replicaID uint64) config.Config {
	return config.Config{
		ShardID:            shardID,
		ReplicaID:          replicaID,
		ElectionRTT:        c.ElectionRTT,
		HeartbeatRTT:       c.HeartbeatRTT,
		CheckQuorum:        c.CheckQuorum,
		SnapshotEntries:    c.SnapshotEntries,
		CompactionOverhead: c.CompactionOverhead,
	}
}
