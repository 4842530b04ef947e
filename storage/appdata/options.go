package appdata

import (
	"errors"
	"fmt"
)

// Backend names accepted by Open (the app_storage.type of the storage config).
const (
	BackendBuntDB = "buntdb" // a buntdb file: durable
	BackendMemory = "memory" // buntdb ":memory:": gone when closed
)

// SyncPolicy says when a committed write transaction reaches the disk
// (buntdb backend only).
type SyncPolicy string

// Sync policies.
const (
	// SyncAlways fsyncs before a write transaction returns: a commit that
	// returned survives a crash. The default.
	SyncAlways SyncPolicy = "always"
	// SyncEverySecond fsyncs once a second: a crash loses up to a second of
	// commits. Safe under Raft only when the state machine's Sync fsyncs.
	SyncEverySecond SyncPolicy = "every_second"
	// SyncNever leaves flushing to the operating system.
	SyncNever SyncPolicy = "never"
)

// Options configures an application-data store: the app_storage.config
// section of the storage config. The zero value is completed by
// EnsureDefaults.
type Options struct {
	// SyncPolicy is when commits are fsynced (buntdb only). Zero means
	// SyncAlways.
	SyncPolicy SyncPolicy `yaml:"sync_policy"`
	// AutoShrinkPercentage rewrites the buntdb file once it has grown by this
	// percentage over its live data (buntdb only). Zero means 100.
	AutoShrinkPercentage int `yaml:"auto_shrink_percentage"`
	// AutoShrinkMinSizeMB is the file size in MiB below which the file is
	// never rewritten (buntdb only). Zero means 32.
	AutoShrinkMinSizeMB int `yaml:"auto_shrink_min_size_mb"`
	// MaxSizeMB bounds the live keys and values held, in MiB; a write
	// transaction that would pass it fails with ErrStoreFull and changes
	// nothing. Zero means unbounded.
	MaxSizeMB int `yaml:"max_size_mb"`
	// Indexes are secondary indexes created when the store opens.
	Indexes []IndexSpec `yaml:"indexes"`
}

// IndexType is the type of the value an index orders by.
type IndexType string

// Index value types.
const (
	IndexString IndexType = "string" // the value's bytes, ordered bytewise
	IndexInt    IndexType = "int"    // the value as a decimal integer
	IndexFloat  IndexType = "float"  // the value as a decimal float
	IndexJSON   IndexType = "json"   // a field of a JSON value, at JSONPath
)

// IndexSpec declares a secondary index: which keys it covers and how the
// indexed value is extracted from each such key's value.
type IndexSpec struct {
	// Name identifies the index in QueryIndex. Required.
	Name string `yaml:"name"`
	// Pattern selects the keys the index covers, as a glob over the key
	// ("*" any run of bytes, "?" one UTF-8 character, or one byte where the
	// key is not valid UTF-8: buntdb's matcher). Required.
	Pattern string `yaml:"pattern"`
	// Type is how the value is read. Zero means IndexString.
	Type IndexType `yaml:"type"`
	// JSONPath is the field of a JSON value to index (gjson syntax, e.g.
	// "owner.name"); required for IndexJSON, refused otherwise.
	JSONPath string `yaml:"json_path"`
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.SyncPolicy == "" {
		o.SyncPolicy = SyncAlways
	}
	if o.AutoShrinkPercentage == 0 {
		o.AutoShrinkPercentage = 100
	}
	if o.AutoShrinkMinSizeMB == 0 {
		o.AutoShrinkMinSizeMB = 32
	}
	for i := range o.Indexes {
		if o.Indexes[i].Type == "" {
			o.Indexes[i].Type = IndexString
		}
	}
}

// Validate checks the options for the named backend and returns every
// problem found, joined; each names its field. It changes nothing.
//
// The memory backend ignores the file-only fields.
func (o *Options) Validate(backend string) error {
	var errs []error
	switch o.SyncPolicy {
	case "", SyncAlways, SyncEverySecond, SyncNever:
	default:
		errs = append(errs, fmt.Errorf("sync_policy: %q is not one of always, every_second, never", o.SyncPolicy))
	}
	if o.AutoShrinkPercentage < 0 {
		errs = append(errs, fmt.Errorf("auto_shrink_percentage: %d is negative", o.AutoShrinkPercentage))
	}
	if o.AutoShrinkMinSizeMB < 0 {
		errs = append(errs, fmt.Errorf("auto_shrink_min_size_mb: %d is negative", o.AutoShrinkMinSizeMB))
	}
	if o.MaxSizeMB < 0 {
		errs = append(errs, fmt.Errorf("max_size_mb: %d is negative", o.MaxSizeMB))
	}
	seen := map[string]bool{}
	for i, ix := range o.Indexes {
		if err := ix.Validate(); err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				errs = append(errs, fmt.Errorf("indexes[%d].%w", i, e))
			}
		}
		if ix.Name != "" && seen[ix.Name] {
			errs = append(errs, fmt.Errorf("indexes[%d].name: %q is declared twice", i, ix.Name))
		}
		seen[ix.Name] = true
	}
	return errors.Join(errs...)
}

// Validate checks one index declaration; the error's text starts with the
// field at fault.
func (s IndexSpec) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("name: is required"))
	}
	if s.Pattern == "" {
		errs = append(errs, errors.New("pattern: is required"))
	}
	switch s.Type {
	case "", IndexString, IndexInt, IndexFloat:
		if s.JSONPath != "" {
			errs = append(errs, fmt.Errorf("json_path: only allowed with type json"))
		}
	case IndexJSON:
		if s.JSONPath == "" {
			errs = append(errs, errors.New("json_path: is required with type json"))
		}
	default:
		errs = append(errs, fmt.Errorf("type: %q is not one of string, int, float, json", s.Type))
	}
	return errors.Join(errs...)
}
