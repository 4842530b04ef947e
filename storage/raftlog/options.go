package raftlog

import (
	"errors"
	"fmt"
	"time"
)

// Backend names accepted by the log_storage.type of the storage config.
const (
	BackendAppendLog = "append_log" // the project's segmented log files: the default
	BackendMemory    = "memory_log" // in memory, bounded by MaxEntries
	BackendKV        = "kv_log"     // legacy: entries as keys in a buntdb file
	BackendPebble    = "pebble"     // dragonboat's pebble LogDB
	BackendTan       = "tan"        // dragonboat's tan LogDB (experimental upstream)
)

// Backends lists every backend name, default first.
var Backends = []string{BackendAppendLog, BackendMemory, BackendKV, BackendPebble, BackendTan}

// SyncPolicy says when appended entries reach the disk (append_log).
type SyncPolicy string

// Sync policies.
const (
	// SyncAlways fsyncs before SaveRaftState returns: what Raft needs. The
	// default.
	SyncAlways SyncPolicy = "always"
	// SyncBatch fsyncs at most every FlushInterval. Unsafe if every replica
	// loses power at once: acknowledged entries may be lost.
	SyncBatch SyncPolicy = "batch"
	// SyncNone never fsyncs; for tests and benchmarks only.
	SyncNone SyncPolicy = "none"
)

// MemoryProfile picks one of dragonboat's LogDB memory configurations for the
// pebble and tan backends.
type MemoryProfile string

// Memory profiles, smallest first.
const (
	ProfileTiny    MemoryProfile = "tiny"
	ProfileSmall   MemoryProfile = "small"
	ProfileMedium  MemoryProfile = "medium"
	ProfileLarge   MemoryProfile = "large"
	ProfileDefault MemoryProfile = "default" // dragonboat's default: hundreds of MB
)

// Options configures the log layer: the log_storage.config section of the
// storage config. The zero value is completed by EnsureDefaults.
type Options struct {
	// SyncPolicy is when appends are fsynced (append_log). Zero means
	// SyncAlways.
	SyncPolicy SyncPolicy `yaml:"sync_policy"`
	// FlushIntervalMS is the longest time in milliseconds an append waits
	// for its fsync under SyncBatch. Zero means 50.
	FlushIntervalMS int `yaml:"flush_interval_ms"`
	// SegmentSize is the size in bytes past which append_log starts a new
	// segment file. Zero means 64 MiB.
	SegmentSize int64 `yaml:"segment_size"`
	// BufferSize is the size in bytes of the write buffer append_log keeps
	// between Commits to encode a record into (each record is written with
	// one pwrite; a larger record gets a buffer of its own, not kept). Zero
	// means 1 MiB.
	BufferSize int `yaml:"buffer_size"`
	// CacheSize bounds, in bytes of memory, the cache of entries append_log
	// has read back from disk (for lagging followers). Zero means 16 MiB;
	// negative is refused.
	CacheSize int64 `yaml:"cache_size"`
	// DisablePreallocation makes append_log grow segments by appending.
	// By default, once the active segment is half full, it prepares the
	// next one in the background (SegmentSize zero bytes, fsynced), so that appends overwrite
	// allocated blocks and each fdatasync has no file-size change to
	// journal (1.2 to 1.8 times the fsyncs a second measured here), at the
	// cost of writing every segment twice. No effect with SyncNone.
	DisablePreallocation bool `yaml:"disable_preallocation"`
	// MaxEntries bounds the entries memory_log holds per shard. Zero means
	// 1,000,000.
	MaxEntries int `yaml:"max_entries"`
	// MemoryProfile sizes pebble and tan. Zero means tiny.
	MemoryProfile MemoryProfile `yaml:"memory_profile"`
}

// FlushInterval is FlushIntervalMS as a duration.
func (o *Options) FlushInterval() time.Duration {
	return time.Duration(o.FlushIntervalMS) * time.Millisecond
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.SyncPolicy == "" {
		o.SyncPolicy = SyncAlways
	}
	if o.FlushIntervalMS == 0 {
		o.FlushIntervalMS = 50
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = 64 << 20
	}
	if o.BufferSize == 0 {
		o.BufferSize = 1 << 20
	}
	if o.CacheSize == 0 {
		o.CacheSize = 16 << 20
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = 1_000_000
	}
	if o.MemoryProfile == "" {
		o.MemoryProfile = ProfileTiny
	}
}

// Validate checks the options for the named backend and returns every
// problem found, joined; each names its field. It changes nothing.
func (o *Options) Validate(backend string) error {
	var errs []error
	switch o.SyncPolicy {
	case "", SyncAlways, SyncBatch, SyncNone:
	default:
		errs = append(errs, fmt.Errorf("sync_policy: %q is not one of always, batch, none", o.SyncPolicy))
	}
	if o.FlushIntervalMS < 0 || o.FlushIntervalMS > 10_000 {
		errs = append(errs, fmt.Errorf("flush_interval_ms: %d is out of range 0..10000", o.FlushIntervalMS))
	}
	if o.SegmentSize != 0 && (o.SegmentSize < 64<<10 || o.SegmentSize > 4<<30) {
		errs = append(errs, fmt.Errorf("segment_size: %d is out of range 64 KiB..4 GiB", o.SegmentSize))
	}
	if o.BufferSize < 0 {
		errs = append(errs, fmt.Errorf("buffer_size: %d is negative", o.BufferSize))
	}
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("cache_size: %d is negative", o.CacheSize))
	}
	if o.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("max_entries: %d is negative", o.MaxEntries))
	}
	switch o.MemoryProfile {
	case "", ProfileTiny, ProfileSmall, ProfileMedium, ProfileLarge, ProfileDefault:
	default:
		errs = append(errs, fmt.Errorf("memory_profile: %q is not one of tiny, small, medium, large, default", o.MemoryProfile))
	}
	return errors.Join(errs...)
}
