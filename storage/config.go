package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/raftlog"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// ErrInvalidConfig marks every error of Parse and Validate.
var ErrInvalidConfig = errors.New("storage: invalid config")

// Document is the YAML document shape of the seed plan: the storage config
// sits at raft_cluster.storage.
type Document struct {
	RaftCluster struct {
		Storage Config `yaml:"storage"`
	} `yaml:"raft_cluster"`
}

// Config chooses and configures the three storage layers. Its YAML form is
// the raft_cluster.storage section of the seed plan; unknown keys are errors.
// The zero value is completed by EnsureDefaults and placed by ResolvePaths.
type Config struct {
	Log      LogConfig      `yaml:"log_storage"`
	Snapshot SnapshotConfig `yaml:"snapshot_storage"`
	App      AppConfig      `yaml:"app_storage"`
}

// LogConfig is the log_storage section.
type LogConfig struct {
	// Type is one of raftlog.Backends. Zero means append_log.
	Type string `yaml:"type"`
	// Path is the directory of the log; required by every type but
	// memory_log. A relative path is taken from the data directory.
	Path   string          `yaml:"path"`
	Config raftlog.Options `yaml:"config"`
}

// SnapshotConfig is the snapshot_storage section.
type SnapshotConfig struct {
	// Type is compressed_file or memory_snapshot. Zero means
	// compressed_file.
	Type string `yaml:"type"`
	// Path is the directory of snapshot files; required by compressed_file.
	// A relative path is taken from the data directory.
	Path   string           `yaml:"path"`
	Config snapshot.Options `yaml:"config"`
}

// AppConfig is the app_storage section.
type AppConfig struct {
	// Type is buntdb or memory. Zero means buntdb.
	Type string `yaml:"type"`
	// Path is the directory of the buntdb files (one per shard, and
	// default.db for the node's own data); required by buntdb. A relative
	// path is taken from the data directory.
	Path   string          `yaml:"path"`
	Config appdata.Options `yaml:"config"`
}

// Parse reads a storage config from YAML in the seed's shape
// (raft_cluster.storage.{log_storage,snapshot_storage,app_storage}). Unknown
// keys, duplicate keys and values of the wrong type are errors, all reported
// together. Parse neither fills defaults nor validates: call EnsureDefaults
// and Validate.
func Parse(data []byte) (Config, error) {
	var doc Document
	if err := decodeStrict(data, &doc); err != nil {
		return Config{}, err
	}
	return doc.RaftCluster.Storage, nil
}

// ParseSection reads a storage config from YAML holding just the storage
// section (log_storage, snapshot_storage, app_storage at the top level).
func ParseSection(data []byte) (Config, error) {
	var c Config
	if err := decodeStrict(data, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

func decodeStrict(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(out)
	if errors.Is(err, io.EOF) {
		return nil // an empty document is the zero config
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: more than one YAML document", ErrInvalidConfig)
	}
	return nil
}

// Default returns the safe default config with every layer under dataDir:
// append_log fsyncing before acknowledging, zstd snapshot files, and a
// buntdb file fsynced on every commit.
func Default(dataDir string) Config {
	var c Config
	c.EnsureDefaults()
	c.ResolvePaths(dataDir)
	return c
}

// Memory returns a config with every layer in memory: fast, and gone when
// the composite is closed. For development and tests.
func Memory() Config {
	c := Config{
		Log:      LogConfig{Type: raftlog.BackendMemory},
		Snapshot: SnapshotConfig{Type: snapshot.BackendMemory},
		App:      AppConfig{Type: appdata.BackendMemory},
	}
	c.EnsureDefaults()
	return c
}

// EnsureDefaults fills zero fields with safe defaults: durable types and each
// layer's option defaults. It does not invent paths: see ResolvePaths.
func (c *Config) EnsureDefaults() {
	if c.Log.Type == "" {
		c.Log.Type = raftlog.BackendAppendLog
	}
	if c.Snapshot.Type == "" {
		c.Snapshot.Type = snapshot.BackendCompressedFile
	}
	if c.App.Type == "" {
		c.App.Type = appdata.BackendBuntDB
	}
	c.Log.Config.EnsureDefaults()
	c.Snapshot.Config.EnsureDefaults()
	c.App.Config.EnsureDefaults()
}

// Default file names under the data directory, used by ResolvePaths.
const (
	DefaultLogDir      = "raftlog"
	DefaultSnapshotDir = "snapshots"
	DefaultAppDir      = "appdata"
)

// ResolvePaths places the durable layers under dataDir: an empty path of a
// type that needs one becomes dataDir/raftlog, dataDir/snapshots or
// dataDir/appdata, and a relative path is joined to dataDir. Memory types
// keep an empty path. Call it after EnsureDefaults.
func (c *Config) ResolvePaths(dataDir string) {
	resolve := func(p *string, needed bool, name string) {
		switch {
		case *p == "" && needed:
			*p = filepath.Join(dataDir, name)
		case *p != "" && !filepath.IsAbs(*p):
			*p = filepath.Join(dataDir, *p)
		}
	}
	resolve(&c.Log.Path, c.Log.durable(), DefaultLogDir)
	resolve(&c.Snapshot.Path, c.Snapshot.durable(), DefaultSnapshotDir)
	resolve(&c.App.Path, c.App.durable(), DefaultAppDir)
}

func (l LogConfig) durable() bool      { return l.Type != raftlog.BackendMemory }
func (s SnapshotConfig) durable() bool { return s.Type != snapshot.BackendMemory }
func (a AppConfig) durable() bool      { return a.Type != appdata.BackendMemory }

// Problem is one thing wrong with a config: the field's path and what is
// wrong with it.
type Problem struct {
	Path    string // e.g. "snapshot_storage.config.compression_level"
	Message string // e.g. "40 is out of range 1..22"
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// ValidationError lists every problem Validate found.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "storage: invalid config:\n  " + strings.Join(lines, "\n  ")
}

// Is makes errors.Is(err, ErrInvalidConfig) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidConfig }

// Validate checks the config and returns a *ValidationError listing every
// problem (each with its field's path), or nil. It changes nothing; call
// EnsureDefaults (and ResolvePaths) first, or the empty types and paths are
// reported.
//
// Besides each field, Validate refuses combinations that cannot survive a
// restart: a durable log with an in-memory app store (the on-disk state
// machine's data would be gone while the log says it was applied and may be
// compacted), and an in-memory log with a durable app store (the node would
// come back with data but without the Raft state that produced it). Memory
// everywhere is allowed; Durability reports it as ephemeral.
func (c *Config) Validate() error {
	var ps []Problem
	add := func(path, msg string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(msg, args...)})
	}
	layer := func(name, typ, path string, known []string, durable bool, optErr error) {
		if !slices.Contains(known, typ) {
			add(name+".type", "%q is not one of %s", typ, strings.Join(known, ", "))
			return
		}
		switch {
		case durable && path == "":
			add(name+".path", "required by type %s", typ)
		case !durable && path != "":
			add(name+".path", "type %s keeps nothing on disk; remove the path", typ)
		}
		for _, e := range flatten(optErr) {
			field, msg, ok := strings.Cut(e.Error(), ": ")
			if !ok {
				field, msg = "", e.Error()
			}
			add(strings.TrimSuffix(name+".config."+field, "."), "%s", msg)
		}
	}
	layer("log_storage", c.Log.Type, c.Log.Path, raftlog.Backends, c.Log.durable(), c.Log.Config.Validate(c.Log.Type))
	layer("snapshot_storage", c.Snapshot.Type, c.Snapshot.Path,
		[]string{snapshot.BackendCompressedFile, snapshot.BackendMemory}, c.Snapshot.durable(), c.Snapshot.Config.Validate(c.Snapshot.Type))
	layer("app_storage", c.App.Type, c.App.Path,
		[]string{appdata.BackendBuntDB, appdata.BackendMemory}, c.App.durable(), c.App.Config.Validate(c.App.Type))

	if c.Log.Type != "" && c.App.Type != "" {
		switch {
		case c.Log.durable() && !c.App.durable():
			add("app_storage.type", "%s cannot survive a restart under the durable %s: the log would say entries were applied whose data is gone; use buntdb, or memory_log for an ephemeral node", c.App.Type, c.Log.Type)
		case !c.Log.durable() && c.App.durable():
			add("log_storage.type", "%s cannot survive a restart beside the durable %s app store: the Raft state would be lost while the data stays; use a durable log, or app_storage type memory for an ephemeral node", c.Log.Type, c.App.Type)
		}
	}
	paths := map[string]string{}
	for _, p := range [][2]string{{"log_storage.path", c.Log.Path}, {"snapshot_storage.path", c.Snapshot.Path}, {"app_storage.path", c.App.Path}} {
		if p[1] == "" {
			continue
		}
		clean := filepath.Clean(p[1])
		if other, ok := paths[clean]; ok {
			add(p[0], "%q is also %s; each layer needs its own", p[1], other)
		}
		paths[clean] = p[0]
	}
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// flatten undoes errors.Join, recursively.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Durability says what survives a restart under a valid config.
type Durability struct {
	// Ephemeral is true when nothing survives: every layer is in memory.
	Ephemeral bool
	// Notes are facts an operator should know (e.g. "exported snapshots are
	// kept in memory only").
	Notes []string
}

// Durability reports what the config keeps across a restart.
func (c *Config) Durability() Durability {
	var d Durability
	if !c.Log.durable() && !c.App.durable() {
		d.Ephemeral = true
		d.Notes = append(d.Notes, "every layer is in memory: all data is lost when the node stops")
		return d
	}
	if !c.Snapshot.durable() {
		d.Notes = append(d.Notes, "exported snapshots are kept in memory only and lost on restart")
	}
	if c.Log.durable() && c.Log.Config.SyncPolicy != raftlog.SyncAlways {
		d.Notes = append(d.Notes, fmt.Sprintf("log sync_policy %s: acknowledged entries can be lost if every replica loses power at once", c.Log.Config.SyncPolicy))
	}
	if c.App.durable() && c.App.Config.SyncPolicy == appdata.SyncNever {
		d.Notes = append(d.Notes, "app sync_policy never: the state machine relies on its Sync before log compaction")
	}
	return d
}
