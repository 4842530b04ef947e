package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/lni/dragonboat/v4/config"

	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/raftlog"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// ErrClosed is returned by Composite methods after Close.
var ErrClosed = errors.New("storage: closed")

// Composite holds a node's storage: one of each layer, built from one
// Config.
//
//   - Snapshots is the node's snapshot store, shared by its shards (each
//     snapshot names its shard).
//   - App is the node's own app store (default.db under the app path); each
//     shard's replicated state machine opens a store of its own with OpenApp
//     (shard-<shard>-<replica>.db), so that shards write, fsync and recover
//     independently of each other.
//   - The log layer belongs to the Raft engine: LogDBFactory hands the
//     configured backend to dragonboat, which opens and closes it.
//
// Everything Open and OpenApp opened stays open until Close.
type Composite struct {
	cfg       Config
	log       *slog.Logger
	snapshots snapshot.Store
	app       appdata.Store

	mu struct {
		sync.Mutex
		closed bool
		apps   map[string]appdata.Store // by name; the node's own is "default"
	}
}

// DefaultApp is the name of the node's own app store.
const DefaultApp = "default"

// ErrInvalidName is returned by OpenApp and RemoveApp for a name outside
// [a-z0-9._-]{1,100} or starting with a dot.
var ErrInvalidName = errors.New("storage: invalid app store name")

// ErrInUse is returned by OpenApp for a name already open (or whose
// previous store is still releasing its file: try again shortly) and by
// RemoveApp for a store still open.
var ErrInUse = errors.New("storage: app store in use")

// Option adjusts Open.
type Option func(*openEnv)

type openEnv struct {
	log *slog.Logger
}

// WithLogger sets where the layers report what they skip or repair.
// Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(e *openEnv) { e.log = l } }

// Open validates cfg (after EnsureDefaults on a copy of it) and opens the
// snapshot and app layers, creating their directories. A config with problems
// returns the *ValidationError and touches no file. If a layer fails to open,
// the ones already open are closed again.
func Open(ctx context.Context, cfg Config, opts ...Option) (_ *Composite, err error) {
	env := openEnv{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&env)
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Composite{cfg: cfg, log: env.log}
	c.mu.apps = map[string]appdata.Store{}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p := cfg.App.Path; p != "" {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("storage: app_storage: %w", err)
		}
	}
	if c.app, err = c.OpenApp(DefaultApp); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.snapshots, err = snapshot.Open(cfg.Snapshot.Type, cfg.Snapshot.Path, cfg.Snapshot.Config,
		snapshot.WithLogger(env.log.With("layer", "snapshot")))
	if err != nil {
		return nil, fmt.Errorf("storage: snapshot_storage: %w", err)
	}
	return c, nil
}

// LogDBFactory returns the configured log layer as dragonboat's LogDB
// factory: set it as NodeHostConfig.Expert.LogDBFactory. The store it
// creates lives at the log path (for memory_log, in memory) and is opened and
// closed by the NodeHost.
func (c *Composite) LogDBFactory() (config.LogDBFactory, error) {
	f, err := raftlog.NewFactory(c.cfg.Log.Type, c.cfg.Log.Path, c.cfg.Log.Config)
	if err != nil {
		return nil, fmt.Errorf("storage: log_storage: %w", err)
	}
	return f, nil
}

// Config returns the config the composite was opened with, defaults filled.
func (c *Composite) Config() Config { return c.cfg }

// App is the node's own app store (named DefaultApp).
func (c *Composite) App() appdata.Store { return c.app }

// AppOption adjusts the options of one app store opened by OpenApp.
type AppOption func(*appdata.Options)

// WithSyncPolicy overrides the configured sync policy for one store: the
// replicated state machine fsyncs its store itself (Sync, before the Raft
// log behind it may be compacted) and opens it with SyncNever.
func WithSyncPolicy(p appdata.SyncPolicy) AppOption {
	return func(o *appdata.Options) { o.SyncPolicy = p }
}

// OpenApp opens (creating it if needed) the app store called name: a
// buntdb file name+".db" under the app path, or a fresh in-memory store for
// the memory type, with the configured app options adjusted by opts. The
// composite closes it on Close; closing it earlier is allowed, and then the
// name may be opened again.
func (c *Composite) OpenApp(name string, opts ...AppOption) (appdata.Store, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	o := c.cfg.App.Config
	o.Indexes = slices.Clone(o.Indexes)
	for _, f := range opts {
		f(&o)
	}
	if err := c.reserveApp(name); err != nil {
		return nil, err
	}
	// Opening reads the whole file: done outside the lock, under the
	// reservation.
	s, err := appdata.Open(c.cfg.App.Type, c.appPath(name), o)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.mu.apps, name)
		if errors.Is(err, appdata.ErrInUse) {
			// A store of this name closed here a moment ago may still be
			// releasing its file.
			return nil, fmt.Errorf("%w: %q: %w", ErrInUse, name, err)
		}
		return nil, fmt.Errorf("storage: app_storage %q: %w", name, err)
	}
	if c.mu.closed {
		s.Close()
		return nil, ErrClosed
	}
	c.mu.apps[name] = s
	return s, nil
}

// reserveApp claims name for an OpenApp in progress (a nil entry).
func (c *Composite) reserveApp(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	if c.openLocked(name) {
		return fmt.Errorf("%w: %q", ErrInUse, name)
	}
	c.mu.apps[name] = nil
	return nil
}

// openLocked reports whether the store called name is open or opening.
func (c *Composite) openLocked(name string) bool {
	s, ok := c.mu.apps[name]
	if !ok {
		return false
	}
	if s == nil {
		return true
	}
	_, err := s.Stats()
	return !errors.Is(err, appdata.ErrClosed)
}

// RemoveApp deletes the app store called name, which must be closed (or
// never opened). Removing a store that does not exist is not an error.
func (c *Composite) RemoveApp(name string) error {
	if !validName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	if c.openLocked(name) {
		return fmt.Errorf("%w: %q", ErrInUse, name)
	}
	delete(c.mu.apps, name)
	p := c.appPath(name)
	if p == "" {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("storage: remove app store %q: %w", name, err)
	}
	return syncDir(filepath.Dir(p))
}

func (c *Composite) appPath(name string) string {
	if c.cfg.App.Path == "" {
		return ""
	}
	return filepath.Join(c.cfg.App.Path, name+".db")
}

func validName(name string) bool {
	if name == "" || len(name) > 100 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Snapshots is the snapshot layer.
func (c *Composite) Snapshots() snapshot.Store { return c.snapshots }

// Durability reports what survives a restart (see Config.Durability).
func (c *Composite) Durability() Durability { return c.cfg.Durability() }

// Close closes the layers Open opened and returns their errors joined. A
// second Close returns ErrClosed.
func (c *Composite) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	c.mu.closed = true
	var errs []error
	if c.snapshots != nil {
		errs = append(errs, c.snapshots.Close())
	}
	for _, s := range c.mu.apps {
		if s == nil {
			continue // still opening: OpenApp closes it when it sees closed
		}
		if err := s.Close(); err != nil && !errors.Is(err, appdata.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
