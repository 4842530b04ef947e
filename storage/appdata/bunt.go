package appdata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tidwall/buntdb"
)

// ReservedPrefix starts the keys the store keeps for itself (index specs).
// User scans never see them, and user writes to them are ErrInvalidKey.
const ReservedPrefix = "\x00\xffappdata\x00"

var reservedPrefix = []byte(ReservedPrefix)

// store implements Store over one buntdb database, file or ":memory:".
type store struct {
	db       *buntdb.DB
	path     string // "" for memory
	maxBytes int64  // 0: unbounded

	// wmu serialises writers (besides buntdb's own lock) so that the live
	// counters are updated together with the commit that changes them, and
	// guards synced.
	wmu      sync.Mutex
	syncEach bool        // sync_policy always: fsync after each commit
	synced   os.FileInfo // the file last fsynced
	closed   atomic.Bool
	keys     atomic.Int64 // live user keys
	bytes    atomic.Int64 // live user key+value bytes

	ixmu    sync.RWMutex
	indexes map[string]*index // changed only under wmu, after buntdb commits
}

// openFiles holds the absolute paths of the data files open in this
// process: buntdb does not lock its file, and two databases appending to one
// file would interleave their records.
var openFiles sync.Map

func openBunt(path string, opts Options) (_ *store, err error) {
	name := ":memory:"
	if path != "" {
		abs, aerr := filepath.Abs(path)
		if aerr != nil {
			return nil, fmt.Errorf("appdata: open %s: %w", path, aerr)
		}
		if _, busy := openFiles.LoadOrStore(abs, true); busy {
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		defer func() {
			if err != nil {
				openFiles.Delete(abs)
			}
		}()
		path, name = abs, abs
		if err = checkAOF(path); err != nil {
			return nil, err
		}
	}
	db, err := openRecover(name)
	if err != nil {
		if errors.Is(err, buntdb.ErrInvalid) {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
		}
		return nil, fmt.Errorf("appdata: open %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()
	var cfg buntdb.Config
	if err := db.ReadConfig(&cfg); err != nil {
		return nil, fmt.Errorf("appdata: open %s: %w", name, err)
	}
	switch opts.SyncPolicy {
	case SyncAlways: // we fsync ourselves, to see errors (see syncLocked)
		cfg.SyncPolicy = buntdb.Never
	case SyncEverySecond:
		cfg.SyncPolicy = buntdb.EverySecond
	case SyncNever:
		cfg.SyncPolicy = buntdb.Never
	}
	cfg.AutoShrinkPercentage = opts.AutoShrinkPercentage
	cfg.AutoShrinkMinSize = opts.AutoShrinkMinSizeMB << 20
	if err := db.SetConfig(cfg); err != nil {
		return nil, fmt.Errorf("appdata: open %s: %w", name, err)
	}
	s := &store{
		db:       db,
		path:     path,
		maxBytes: int64(opts.MaxSizeMB) << 20,
		syncEach: path != "" && opts.SyncPolicy == SyncAlways,
		indexes:  map[string]*index{},
	}
	// Count the live data, and bring back the persisted indexes.
	var specs []IndexSpec
	err = db.View(func(btx *buntdb.Tx) error {
		var keys, nbytes int64
		var bad error
		err := btx.Ascend("", func(k, v string) bool {
			if !strings.HasPrefix(k, ReservedPrefix) {
				keys++
				nbytes += int64(len(k) + len(v))
				return true
			}
			if strings.HasPrefix(k, specKey("")) {
				var spec IndexSpec
				if err := json.Unmarshal([]byte(v), &spec); err != nil {
					bad = fmt.Errorf("%w: index spec %q: %w", ErrCorrupt, k, err)
					return false
				}
				specs = append(specs, spec)
			}
			return true
		})
		s.keys.Store(keys)
		s.bytes.Store(nbytes)
		return errors.Join(err, bad)
	})
	if err != nil {
		return nil, fmt.Errorf("appdata: open %s: %w", name, err)
	}
	for _, spec := range specs {
		if err := s.createIndex(spec, false); err != nil {
			return nil, fmt.Errorf("appdata: open %s: persisted index: %w", name, err)
		}
	}
	for _, spec := range opts.Indexes {
		if err := s.createIndex(spec, true); err != nil {
			return nil, fmt.Errorf("appdata: open %s: %w", name, err)
		}
	}
	return s, nil
}

// openRecover opens a buntdb database, turning a panic while it loads into
// ErrCorrupt (checkAOF should have caught the file first).
func openRecover(name string) (db *buntdb.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %s: buntdb panicked loading it: %v", ErrCorrupt, name, r)
		}
	}()
	return buntdb.Open(name)
}

// mapErr turns buntdb's errors into ours.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, buntdb.ErrDatabaseClosed):
		return ErrClosed
	case errors.Is(err, buntdb.ErrTxClosed):
		return ErrTxDone
	}
	return err
}

func checkKey(k []byte) error {
	if len(k) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if bytes.HasPrefix(k, reservedPrefix) {
		return fmt.Errorf("%w: %q is in the reserved namespace", ErrInvalidKey, k)
	}
	return nil
}

// write runs fn in a buntdb write transaction under wmu; committed runs
// after a successful commit, still under wmu.
func (s *store) write(fn func(btx *buntdb.Tx) error, committed func()) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	btx, err := s.db.Begin(true)
	if err != nil {
		return mapErr(err)
	}
	done := false
	defer func() {
		if !done { // fn failed or panicked: nothing it wrote stays
			_ = btx.Rollback()
		}
	}()
	if err := fn(btx); err != nil {
		return err
	}
	done = true
	if err := btx.Commit(); err != nil { // buntdb has rolled back
		return fmt.Errorf("appdata: commit: %w", mapErr(err))
	}
	if committed != nil {
		committed()
	}
	if s.syncEach {
		if err := s.syncLocked(); err != nil {
			return fmt.Errorf("appdata: committed but not on disk: %w", err)
		}
	}
	return nil
}

// View implements Store.
func (s *store) View(fn func(ReadTx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	btx, err := s.db.Begin(false)
	if err != nil {
		return mapErr(err)
	}
	t := &tx{s: s, btx: btx}
	defer func() {
		t.done.Store(true)
		_ = btx.Rollback()
	}()
	return fn(t)
}

// Update implements Store.
func (s *store) Update(fn func(WriteTx) error) error {
	var t *tx
	return s.write(func(btx *buntdb.Tx) error {
		t = &tx{s: s, btx: btx, writable: true}
		defer t.done.Store(true)
		if err := fn(t); err != nil {
			return err
		}
		if s.maxBytes > 0 && t.dBytes > 0 && s.bytes.Load()+t.dBytes > s.maxBytes {
			return fmt.Errorf("%w: %d bytes live + %d > %d", ErrStoreFull, s.bytes.Load(), t.dBytes, s.maxBytes)
		}
		return nil
	}, func() {
		s.keys.Add(t.dKeys)
		s.bytes.Add(t.dBytes)
	})
}

// Get implements Store.
func (s *store) Get(key []byte) (v []byte, err error) {
	err = s.View(func(t ReadTx) error {
		v, err = t.Get(key)
		return err
	})
	return v, err
}

// MultiGet implements Store.
func (s *store) MultiGet(keys [][]byte) (vs [][]byte, err error) {
	err = s.View(func(t ReadTx) error {
		vs = make([][]byte, len(keys))
		for i, k := range keys {
			v, err := t.Get(k)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			vs[i] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return vs, nil
}

// ScanRange implements Store.
func (s *store) ScanRange(start, end []byte, limit int) (items []Item, resume []byte, err error) {
	err = s.View(func(t ReadTx) error {
		items, resume, err = t.ScanRange(start, end, limit)
		return err
	})
	return items, resume, err
}

// ScanPrefix implements Store.
func (s *store) ScanPrefix(prefix []byte, limit int, resume []byte) (items []Item, next []byte, err error) {
	err = s.View(func(t ReadTx) error {
		items, next, err = t.ScanPrefix(prefix, limit, resume)
		return err
	})
	return items, next, err
}

// QueryIndex implements Store.
func (s *store) QueryIndex(name string, q Query, limit int, resume []byte) (items []Item, next []byte, err error) {
	err = s.View(func(t ReadTx) error {
		items, next, err = t.QueryIndex(name, q, limit, resume)
		return err
	})
	return items, next, err
}

// Put implements Store.
func (s *store) Put(key, value []byte) error {
	return s.Update(func(t WriteTx) error { return t.Put(key, value) })
}

// Delete implements Store.
func (s *store) Delete(key []byte) (existed bool, err error) {
	err = s.Update(func(t WriteTx) error {
		existed, err = t.Delete(key)
		return err
	})
	return existed, err
}

// CompareAndSwap implements Store.
func (s *store) CompareAndSwap(key, expected, new []byte) (swapped bool, err error) {
	err = s.Update(func(t WriteTx) error {
		swapped, err = t.CompareAndSwap(key, expected, new)
		return err
	})
	return swapped, err
}

// CreateIndex implements Store.
func (s *store) CreateIndex(spec IndexSpec) error {
	return s.createIndex(spec, true)
}

// createIndex creates the index in buntdb and, if persist, records its spec.
func (s *store) createIndex(spec IndexSpec, persist bool) error {
	if spec.Type == "" {
		spec.Type = IndexString
	}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidIndex, err)
	}
	ix := newIndex(spec)
	created := false
	return s.write(func(btx *buntdb.Tx) error {
		if v, err := btx.Get(specKey(spec.Name)); err == nil {
			var old IndexSpec
			if err := json.Unmarshal([]byte(v), &old); err != nil {
				return fmt.Errorf("%w: index spec %q: %w", ErrCorrupt, spec.Name, err)
			}
			if !sameSpec(old, spec) {
				return fmt.Errorf("%w: %q is %+v, not %+v", ErrIndexConflict, spec.Name, old, spec)
			}
			if persist { // already there: nothing to do
				return nil
			}
		} else if err != buntdb.ErrNotFound {
			return mapErr(err)
		}
		if err := btx.CreateIndex(spec.Name, spec.Pattern, ix.less); err != nil {
			return fmt.Errorf("appdata: create index %q: %w", spec.Name, err)
		}
		created = true
		if persist {
			b, err := json.Marshal(spec)
			if err != nil {
				return err
			}
			if _, _, err := btx.Set(specKey(spec.Name), string(b), nil); err != nil {
				return mapErr(err)
			}
		}
		return nil
	}, func() {
		if created {
			s.ixmu.Lock()
			s.indexes[spec.Name] = ix
			s.ixmu.Unlock()
		}
	})
}

// DropIndex implements Store.
func (s *store) DropIndex(name string) error {
	return s.write(func(btx *buntdb.Tx) error {
		if err := btx.DropIndex(name); err == buntdb.ErrNotFound || err == buntdb.ErrInvalidOperation {
			return fmt.Errorf("%w: %q", ErrUnknownIndex, name)
		} else if err != nil {
			return mapErr(err)
		}
		_, err := btx.Delete(specKey(name))
		if err != nil && err != buntdb.ErrNotFound {
			return mapErr(err)
		}
		return nil
	}, func() {
		s.ixmu.Lock()
		delete(s.indexes, name)
		s.ixmu.Unlock()
	})
}

// Indexes implements Store.
func (s *store) Indexes() ([]IndexSpec, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.ixmu.RLock()
	defer s.ixmu.RUnlock()
	specs := make([]IndexSpec, 0, len(s.indexes))
	for _, ix := range s.indexes {
		specs = append(specs, ix.spec)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs, nil
}

func (s *store) index(name string) (*index, error) {
	s.ixmu.RLock()
	defer s.ixmu.RUnlock()
	ix := s.indexes[name]
	if ix == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownIndex, name)
	}
	return ix, nil
}

// Stats implements Store.
func (s *store) Stats() (Stats, error) {
	if s.closed.Load() {
		return Stats{}, ErrClosed
	}
	st := Stats{Keys: s.keys.Load(), Bytes: s.bytes.Load()}
	s.ixmu.RLock()
	st.Indexes = len(s.indexes)
	s.ixmu.RUnlock()
	if s.path != "" {
		fi, err := os.Stat(s.path)
		if err != nil {
			return Stats{}, fmt.Errorf("appdata: stats: %w", err)
		}
		st.FileSize = fi.Size()
	}
	return st, nil
}

// Sync implements Store.
func (s *store) Sync() error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.syncLocked()
}

// syncLocked fsyncs the data file. The caller holds wmu, so no commit is in
// flight; the read transaction keeps a shrink from swapping the file
// meanwhile, and readers keep going.
//
// buntdb has no Sync of its own, and its "always" policy ignores fsync
// errors: the file is fsynced through a descriptor of ours, opened afresh
// because a shrink replaces the file.
func (s *store) syncLocked() error {
	btx, err := s.db.Begin(false)
	if err != nil {
		return mapErr(err)
	}
	defer func() { _ = btx.Rollback() }()
	if s.path == "" {
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("appdata: sync: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("appdata: sync: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("appdata: sync: %w", err)
	}
	if s.synced == nil || !os.SameFile(s.synced, fi) {
		// A new file (first sync, or a shrink renamed one into place
		// without syncing the directory): make its name durable too. Not
		// every OS can sync a directory, hence no error.
		if d, err := os.Open(filepath.Dir(s.path)); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
		s.synced = fi
	}
	return nil
}

// Close implements Store.
func (s *store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	// buntdb's Close waits for running transactions, fsyncs and closes the
	// file; its background goroutine sees the closed database at its next
	// tick (within a second) and returns.
	err := s.db.Close()
	if s.path != "" {
		openFiles.Delete(s.path)
	}
	if err != nil && !errors.Is(err, buntdb.ErrDatabaseClosed) {
		return fmt.Errorf("appdata: close: %w", err)
	}
	return nil
}

// tx implements ReadTx and WriteTx over a buntdb transaction.
type tx struct {
	s        *store
	btx      *buntdb.Tx
	writable bool
	done     atomic.Bool
	dKeys    int64 // change in live keys, applied on commit
	dBytes   int64 // change in live bytes, applied on commit
}

func (t *tx) check() error {
	if t.done.Load() {
		return ErrTxDone
	}
	return nil
}

// checkWrite is check for the WriteTx methods: a ReadTx type-asserted to a
// WriteTx must not write.
func (t *tx) checkWrite() error {
	if err := t.check(); err != nil {
		return err
	}
	if !t.writable {
		return errReadOnly
	}
	return nil
}

var errReadOnly = errors.New("appdata: write in a read transaction (View)")

// Get implements ReadTx.
func (t *tx) Get(key []byte) ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	// buntdb only looks the key up (it keeps no reference to it), so the
	// caller's bytes serve as the string without a copy.
	v, err := t.btx.Get(unsafe.String(unsafe.SliceData(key), len(key)))
	if err == buntdb.ErrNotFound {
		return nil, &notFoundError{key: string(key)}
	} else if err != nil {
		return nil, mapErr(err)
	}
	return []byte(v), nil
}

// notFoundError is Get's ErrNotFound. It formats its message only when
// asked: a miss is a common answer (an object's first write, a new request
// id), and fmt.Errorf with %q costs more than the lookup.
type notFoundError struct{ key string }

func (e *notFoundError) Error() string { return fmt.Sprintf("%v: %q", ErrNotFound, e.key) }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

// ascend calls fn for the user keys in [start, end) ("" end with !hasEnd: to
// the end).
func (t *tx) ascend(start, end string, hasEnd bool, fn func(k, v string) bool) error {
	if hasEnd && start >= end {
		return nil
	}
	return mapErr(t.btx.AscendGreaterOrEqual("", start, func(k, v string) bool {
		if hasEnd && k >= end {
			return false
		}
		if strings.HasPrefix(k, ReservedPrefix) {
			return true
		}
		return fn(k, v)
	}))
}

func (t *tx) page(start, end string, hasEnd bool, limit int) (items []Item, resume []byte, err error) {
	err = t.ascend(start, end, hasEnd, func(k, v string) bool {
		if limit > 0 && len(items) == limit {
			resume = []byte(k)
			return false
		}
		items = append(items, Item{Key: []byte(k), Value: []byte(v)})
		return true
	})
	if err != nil {
		return nil, nil, err
	}
	return items, resume, nil
}

// ScanRange implements ReadTx.
func (t *tx) ScanRange(start, end []byte, limit int) ([]Item, []byte, error) {
	if err := t.check(); err != nil {
		return nil, nil, err
	}
	return t.page(string(start), string(end), end != nil, limit)
}

// prefixEnd returns the least key greater than every key with prefix p, and
// false when there is none.
func prefixEnd(p []byte) (string, bool) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			e := []byte(string(p[:i+1]))
			e[i]++
			return string(e), true
		}
	}
	return "", false
}

// ScanPrefix implements ReadTx.
func (t *tx) ScanPrefix(prefix []byte, limit int, resume []byte) ([]Item, []byte, error) {
	if err := t.check(); err != nil {
		return nil, nil, err
	}
	start := string(prefix)
	if resume != nil {
		if !strings.HasPrefix(string(resume), start) {
			return nil, nil, fmt.Errorf("%w: resume %q does not start with prefix %q", ErrInvalidQuery, resume, prefix)
		}
		start = string(resume)
	}
	end, hasEnd := prefixEnd(prefix)
	return t.page(start, end, hasEnd, limit)
}

// Ascend implements ReadTx.
func (t *tx) Ascend(start, end []byte, fn func(key, value []byte) (bool, error)) error {
	if err := t.check(); err != nil {
		return err
	}
	var ferr error
	err := t.ascend(string(start), string(end), end != nil, func(k, v string) bool {
		more, err := fn([]byte(k), []byte(v))
		ferr = err
		return more && err == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// QueryIndex implements ReadTx.
func (t *tx) QueryIndex(name string, q Query, limit int, resume []byte) (items []Item, next []byte, err error) {
	if err := t.check(); err != nil {
		return nil, nil, err
	}
	ix, err := t.s.index(name)
	if err != nil {
		return nil, nil, err
	}
	p, err := ix.plan(q, resume)
	if err != nil {
		return nil, nil, err
	}
	err = t.btx.AscendGreaterOrEqual(name, p.start, func(k, v string) bool {
		if strings.HasPrefix(k, ReservedPrefix) {
			return true
		}
		x := ix.value(v)
		if !x.valid || (ix.spec.Type == IndexJSON && strings.HasPrefix(v, jsonPivot)) {
			return true // never matches (see index.value)
		}
		if p.resuming {
			if ix.cmp(x, p.skipVal) == 0 && k < p.skipKey {
				return true
			}
			p.resuming = false
		}
		if p.stop(x) {
			return false
		}
		if limit > 0 && len(items) == limit {
			next = encodeResume(ix.pivot(x), k)
			return false
		}
		items = append(items, Item{Key: []byte(k), Value: []byte(v)})
		return true
	})
	if err == buntdb.ErrNotFound {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownIndex, name)
	} else if err != nil {
		return nil, nil, mapErr(err)
	}
	return items, next, nil
}

// Put implements WriteTx.
func (t *tx) Put(key, value []byte) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	prev, replaced, err := t.btx.Set(string(key), string(value), nil)
	if err != nil {
		return mapErr(err)
	}
	if replaced {
		t.dBytes += int64(len(value) - len(prev))
	} else {
		t.dKeys++
		t.dBytes += int64(len(key) + len(value))
	}
	return nil
}

// Delete implements WriteTx.
func (t *tx) Delete(key []byte) (bool, error) {
	if err := t.checkWrite(); err != nil {
		return false, err
	}
	if err := checkKey(key); err != nil {
		return false, err
	}
	return t.del(string(key))
}

func (t *tx) del(k string) (bool, error) {
	prev, err := t.btx.Delete(k)
	if err == buntdb.ErrNotFound {
		return false, nil
	} else if err != nil {
		return false, mapErr(err)
	}
	t.dKeys--
	t.dBytes -= int64(len(k) + len(prev))
	return true, nil
}

// CompareAndSwap implements WriteTx.
func (t *tx) CompareAndSwap(key, expected, new []byte) (bool, error) {
	if err := t.checkWrite(); err != nil {
		return false, err
	}
	cur, err := t.Get(key)
	present := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if expected == nil {
		if present {
			return false, nil
		}
	} else if !present || string(cur) != string(expected) {
		return false, nil
	}
	if new == nil {
		if present {
			if _, err := t.del(string(key)); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	return true, t.Put(key, new)
}

// deleteKeys removes the user keys in [start, end).
func (t *tx) deleteKeys(start, end string, hasEnd bool) (int, error) {
	if err := t.checkWrite(); err != nil {
		return 0, err
	}
	var keys []string
	if err := t.ascend(start, end, hasEnd, func(k, _ string) bool {
		keys = append(keys, k)
		return true
	}); err != nil {
		return 0, err
	}
	for _, k := range keys {
		if _, err := t.del(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// DeleteRange implements WriteTx.
func (t *tx) DeleteRange(start, end []byte) (int, error) {
	return t.deleteKeys(string(start), string(end), end != nil)
}

// DeletePrefix implements WriteTx.
func (t *tx) DeletePrefix(prefix []byte) (int, error) {
	end, hasEnd := prefixEnd(prefix)
	return t.deleteKeys(string(prefix), end, hasEnd)
}
