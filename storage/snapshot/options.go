package snapshot

import (
	"errors"
	"fmt"
	"time"
)

// Backend names accepted by Open (the snapshot_storage.type of the storage
// config).
const (
	BackendCompressedFile = "compressed_file" // files in a directory: durable
	BackendMemory         = "memory_snapshot" // in memory, at most MaxSnapshots
)

// Codec is the compression of a snapshot's record stream.
type Codec string

// Codecs.
const (
	CodecZstd Codec = "zstd" // the default: best ratio at good speed
	CodecS2   Codec = "s2"   // faster, larger
	CodecNone Codec = "none"
)

// Strategy is how Cleanup chooses which snapshots to remove.
type Strategy string

// Retention strategies.
const (
	// KeepLatest keeps the newest KeepCount snapshots of each shard.
	KeepLatest Strategy = "keep_latest"
	// KeepByAge keeps snapshots younger than MaxAge.
	KeepByAge Strategy = "keep_by_age"
	// Combined keeps a snapshot only if both rules keep it, except that the
	// newest snapshot of each shard is always kept. The default.
	Combined Strategy = "combined"
)

// Retention is the clean-up policy. Whatever the strategy, MaxTotalSize (if
// set) then removes the oldest snapshots until the rest fit, never the newest
// of a shard.
type Retention struct {
	// Strategy is the rule applied. Zero means Combined.
	Strategy Strategy `yaml:"strategy"`
	// KeepCount is how many snapshots per shard KeepLatest keeps. Zero
	// means 5.
	KeepCount int `yaml:"keep_count"`
	// MaxAge is the age past which KeepByAge removes a snapshot, as a Go
	// duration ("168h"). Zero means 168h (a week).
	MaxAge time.Duration `yaml:"max_age"`
	// MaxAgeHours is MaxAge in hours, as the seed's configuration spells it;
	// set one of the two. Folded into MaxAge by EnsureDefaults.
	MaxAgeHours int `yaml:"max_age_hours"`
	// MaxTotalSizeMB bounds the bytes of all snapshots kept, in MiB. Zero
	// means unbounded.
	MaxTotalSizeMB int64 `yaml:"max_total_size_mb"`
}

// Options configures a snapshot store: the snapshot_storage.config section of
// the storage config. The zero value is completed by EnsureDefaults.
type Options struct {
	// Compression is the codec of new snapshots. Zero means zstd.
	Compression Codec `yaml:"compression"`
	// CompressionLevel is the zstd level, 1..22 as the zstd command counts;
	// ignored by s2 and none. Zero means 3.
	CompressionLevel int `yaml:"compression_level"`
	// Concurrency is the number of goroutines a codec may use to compress
	// one stream. Zero means 1 (flat memory use, no background goroutines).
	Concurrency int `yaml:"concurrency"`
	// Retention is the clean-up policy.
	Retention Retention `yaml:"retention"`
	// MaxSnapshots bounds the memory_snapshot backend: creating one more
	// removes the oldest. Zero means 3. Ignored by compressed_file.
	MaxSnapshots int `yaml:"max_snapshots"`
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Compression == "" {
		o.Compression = CodecZstd
	}
	if o.CompressionLevel == 0 {
		o.CompressionLevel = 3
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.MaxSnapshots == 0 {
		o.MaxSnapshots = 3
	}
	r := &o.Retention
	if r.Strategy == "" {
		r.Strategy = Combined
	}
	if r.KeepCount == 0 {
		r.KeepCount = 5
	}
	if r.MaxAge == 0 && r.MaxAgeHours > 0 {
		r.MaxAge = time.Duration(r.MaxAgeHours) * time.Hour
		r.MaxAgeHours = 0
	}
	if r.MaxAge == 0 {
		r.MaxAge = 168 * time.Hour
	}
}

// Validate checks the options for the named backend and returns every
// problem found, joined; each names its field. It changes nothing.
func (o *Options) Validate(backend string) error {
	var errs []error
	switch o.Compression {
	case "", CodecZstd, CodecS2, CodecNone:
	default:
		errs = append(errs, fmt.Errorf("compression: %q is not one of zstd, s2, none", o.Compression))
	}
	if o.CompressionLevel != 0 && (o.CompressionLevel < 1 || o.CompressionLevel > 22) {
		errs = append(errs, fmt.Errorf("compression_level: %d is out of range 1..22", o.CompressionLevel))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency: %d is negative", o.Concurrency))
	}
	if o.MaxSnapshots < 0 {
		errs = append(errs, fmt.Errorf("max_snapshots: %d is negative", o.MaxSnapshots))
	}
	r := o.Retention
	switch r.Strategy {
	case "", KeepLatest, KeepByAge, Combined:
	default:
		errs = append(errs, fmt.Errorf("retention.strategy: %q is not one of keep_latest, keep_by_age, combined", r.Strategy))
	}
	if r.KeepCount < 0 {
		errs = append(errs, fmt.Errorf("retention.keep_count: %d is negative", r.KeepCount))
	}
	if r.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("retention.max_age: %s is negative", r.MaxAge))
	}
	if r.MaxAgeHours < 0 {
		errs = append(errs, fmt.Errorf("retention.max_age_hours: %d is negative", r.MaxAgeHours))
	}
	if r.MaxAge != 0 && r.MaxAgeHours != 0 {
		errs = append(errs, errors.New("retention.max_age_hours: set max_age or max_age_hours, not both"))
	}
	if r.MaxTotalSizeMB < 0 {
		errs = append(errs, fmt.Errorf("retention.max_total_size_mb: %d is negative", r.MaxTotalSizeMB))
	}
	return errors.Join(errs...)
}
