package snapshot

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

const (
	fileExt = ".snap"
	tmpExt  = ".tmp"
)

// fileStore is the compressed_file backend: one file <ID>.snap per snapshot
// in dir. New snapshots are written to a uniquely named .tmp file, fsynced,
// renamed into place and the directory fsynced. A directory belongs to one
// open store at a time: Open removes the .tmp files it finds, left by a
// crash.
type fileStore struct {
	dir  string
	opts Options
	env  env
	mu   struct {
		sync.Mutex
		closed bool
	}
}

func openFileStore(dir string, opts Options, e env) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot: open %s: %w", dir, err)
	}
	s := &fileStore{dir: dir, opts: opts, env: e}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: open %s: %w", dir, err)
	}
	removed := false
	for _, de := range ents {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), tmpExt) {
			p := filepath.Join(dir, de.Name())
			if err := os.Remove(p); err != nil {
				return nil, fmt.Errorf("snapshot: remove stale %s: %w", p, err)
			}
			e.log.Warn("snapshot: removed stale temporary file", "path", p)
			removed = true
		}
	}
	if removed {
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *fileStore) path(id string) string { return filepath.Join(s.dir, id+fileExt) }

func (s *fileStore) Create(ctx context.Context, h Header) (*Creation, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if h.Created.IsZero() {
		h.Created = s.env.now()
	}
	f, err := os.CreateTemp(s.dir, "create-*"+tmpExt)
	if err != nil {
		return nil, fmt.Errorf("snapshot: create: %w", err)
	}
	w, err := NewWriter(f, h, s.opts)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &Creation{
		ctx:    ctx,
		w:      w,
		commit: func(m Meta) (Meta, error) { return m, s.install(f, m.ID) },
		abort:  func() { s.discard(f) },
	}, nil
}

// install makes the complete temporary file f durable and visible as id.
// f is closed whatever happens; on error the caller discards it.
func (s *fileStore) install(f *os.File, id string) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("snapshot: sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot: close %s: %w", f.Name(), err)
	}
	if err := s.check(context.Background()); err != nil {
		return err
	}
	// A hard link never replaces an existing file, so two commits of the
	// same ID cannot overwrite each other; no lock is held over the I/O.
	dst := s.path(id)
	err := os.Link(f.Name(), dst)
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %s", ErrExists, id)
	case err != nil:
		// No hard links here: check, then rename (not atomic against a
		// concurrent commit of the same ID, which Raft never makes).
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, id)
		}
		if err := os.Rename(f.Name(), dst); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	default:
		if err := os.Remove(f.Name()); err != nil { // visible already: only log
			s.env.log.Warn("snapshot: remove temporary file", "path", f.Name(), "err", err)
		}
	}
	return syncDir(s.dir)
}

func (s *fileStore) discard(f *os.File) {
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.env.log.Warn("snapshot: remove temporary file", "path", f.Name(), "err", err)
	}
}

func (s *fileStore) Import(ctx context.Context, r io.Reader) (Meta, error) {
	if err := s.check(ctx); err != nil {
		return Meta{}, err
	}
	f, err := os.CreateTemp(s.dir, "import-*"+tmpExt)
	if err != nil {
		return Meta{}, fmt.Errorf("snapshot: import: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	m, err := verifyStream(ctx, io.TeeReader(r, bw))
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = s.install(f, m.ID)
	}
	if err != nil {
		s.discard(f)
		return Meta{}, fmt.Errorf("snapshot: import: %w", err)
	}
	return m, nil
}

func (s *fileStore) List(ctx context.Context) ([]Meta, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: list: %w", err)
	}
	var out []Meta
	for _, de := range ents {
		id, ok := strings.CutSuffix(de.Name(), fileExt)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := s.stat(id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			s.env.log.Error("snapshot: unreadable snapshot left out of List", "file", de.Name(), "err", err)
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, compareMeta)
	return out, nil
}

// stat reads the header and trailer of snapshot id, not its body.
func (s *fileStore) stat(id string) (Meta, error) {
	if !validID(id) {
		return Meta{}, corruptf("file name %q is not a snapshot ID", id+fileExt)
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Meta{}, err
	}
	h, hn, err := readHeader(bufio.NewReaderSize(f, 512))
	if err != nil {
		return Meta{}, err
	}
	if h.ID() != id {
		return Meta{}, corruptf("file %s holds snapshot %s", id+fileExt, h.ID())
	}
	size := fi.Size()
	var tail [tailSize]byte
	if size < hn+8+tailSize {
		return Meta{}, corruptf("file of %d bytes is too short", size)
	}
	if _, err := f.ReadAt(tail[:], size-tailSize); err != nil {
		return Meta{}, readErr("tail", size-tailSize, err)
	}
	tlen := int64(binary.LittleEndian.Uint32(tail[4:8]))
	start := size - tailSize - tlen - 8 // end-of-body frame, trailer length
	if tlen > maxTrailerSize || start < hn {
		return Meta{}, corruptf("trailer length %d at offset %d", tlen, size-12)
	}
	buf := make([]byte, 8+tlen)
	if _, err := f.ReadAt(buf, start); err != nil {
		return Meta{}, readErr("trailer", start, err)
	}
	if binary.LittleEndian.Uint32(buf[:4]) != 0 {
		return Meta{}, corruptf("no end-of-body frame at offset %d", start)
	}
	t, err := decodeTrailer(buf[4:8], buf[8:], tail[:])
	if err != nil {
		return Meta{}, err
	}
	return Meta{ID: id, Header: h, Records: t.records, RawBytes: t.raw, Checksum: t.sum, Size: size}, nil
}

func (s *fileStore) Latest(ctx context.Context, shardID uint64) (Meta, error) {
	ms, err := s.List(ctx)
	if err != nil {
		return Meta{}, err
	}
	if m, ok := latest(ms, shardID); ok {
		return m, nil
	}
	return Meta{}, fmt.Errorf("%w: no snapshot of shard %d", ErrNotFound, shardID)
}

// open opens the file of snapshot id; ErrNotFound if there is none.
func (s *fileStore) open(ctx context.Context, id string) (*os.File, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q is not a snapshot ID", ErrNotFound, id)
	}
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return f, nil
}

func (s *fileStore) Open(ctx context.Context, id string) (*Reader, error) {
	f, err := s.open(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, s.opts)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	if r.h.ID() != id {
		r.Close()
		f.Close()
		return nil, corruptf("file %s holds snapshot %s", id+fileExt, r.h.ID())
	}
	r.closer = f
	return r, nil
}

func (s *fileStore) Export(ctx context.Context, id string, w io.Writer) (int64, error) {
	f, err := s.open(ctx, id)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

func (s *fileStore) Verify(ctx context.Context, id string) (Meta, error) {
	f, err := s.open(ctx, id)
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	m, err := verifyStream(ctx, f)
	if err != nil {
		return Meta{}, fmt.Errorf("%s: %w", id, err)
	}
	if m.ID != id {
		return Meta{}, corruptf("file %s holds snapshot %s", id+fileExt, m.ID)
	}
	return m, nil
}

func (s *fileStore) Delete(ctx context.Context, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !validID(id) {
		return fmt.Errorf("%w: %q is not a snapshot ID", ErrNotFound, id)
	}
	err := os.Remove(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("snapshot: delete: %w", err)
	}
	return syncDir(s.dir)
}

func (s *fileStore) Cleanup(ctx context.Context, r Retention) (int, error) {
	return cleanup(ctx, s, r, s.env)
}

func (s *fileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	s.mu.closed = true
	return nil
}

func (s *fileStore) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	return nil
}

// syncDir fsyncs a directory so that renames and removals in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot: sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot: sync dir %s: %w", dir, err)
	}
	return nil
}
