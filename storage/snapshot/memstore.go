package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
)

// memStore is the memory_snapshot backend: encoded snapshots held as byte
// slices, at most opts.MaxSnapshots of them (committing one more evicts the
// one committed first).
type memStore struct {
	opts Options
	env  env
	mu   struct {
		sync.Mutex
		closed bool
		seq    uint64
		snaps  map[string]*memSnap
	}
}

type memSnap struct {
	meta Meta
	data []byte // immutable once stored: readers share it
	seq  uint64 // commit order, for eviction
}

func newMemStore(opts Options, e env) *memStore {
	s := &memStore{opts: opts, env: e}
	s.mu.snaps = map[string]*memSnap{}
	return s
}

func (s *memStore) Create(ctx context.Context, h Header) (*Creation, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if h.Created.IsZero() {
		h.Created = s.env.now()
	}
	buf := &bytes.Buffer{}
	w, err := NewWriter(buf, h, s.opts)
	if err != nil {
		return nil, err
	}
	return &Creation{
		ctx:    ctx,
		w:      w,
		commit: func(m Meta) (Meta, error) { return m, s.put(m, buf.Bytes()) },
		abort:  func() { buf.Reset() },
	}, nil
}

func (s *memStore) put(m Meta, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	if _, ok := s.mu.snaps[m.ID]; ok {
		return fmt.Errorf("%w: %s", ErrExists, m.ID)
	}
	s.mu.seq++
	s.mu.snaps[m.ID] = &memSnap{meta: m, data: slices.Clip(data), seq: s.mu.seq}
	for len(s.mu.snaps) > s.opts.MaxSnapshots {
		var oldest *memSnap
		for _, sn := range s.mu.snaps {
			if oldest == nil || sn.seq < oldest.seq {
				oldest = sn
			}
		}
		delete(s.mu.snaps, oldest.meta.ID)
		s.env.log.Info("snapshot: evicted (max_snapshots)", "id", oldest.meta.ID)
	}
	return nil
}

func (s *memStore) Import(ctx context.Context, r io.Reader) (Meta, error) {
	if err := s.check(ctx); err != nil {
		return Meta{}, err
	}
	var buf bytes.Buffer
	m, err := verifyStream(ctx, io.TeeReader(r, &buf))
	if err != nil {
		return Meta{}, err
	}
	return m, s.put(m, buf.Bytes())
}

func (s *memStore) List(ctx context.Context) ([]Meta, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := make([]Meta, 0, len(s.mu.snaps))
	for _, sn := range s.mu.snaps {
		out = append(out, sn.meta)
	}
	s.mu.Unlock()
	slices.SortFunc(out, compareMeta)
	return out, nil
}

func (s *memStore) Latest(ctx context.Context, shardID uint64) (Meta, error) {
	ms, err := s.List(ctx)
	if err != nil {
		return Meta{}, err
	}
	if m, ok := latest(ms, shardID); ok {
		return m, nil
	}
	return Meta{}, fmt.Errorf("%w: no snapshot of shard %d", ErrNotFound, shardID)
}

func (s *memStore) get(ctx context.Context, id string) (*memSnap, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.mu.snaps[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return sn, nil
}

func (s *memStore) Open(ctx context.Context, id string) (*Reader, error) {
	sn, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(bytes.NewReader(sn.data), s.opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	return r, nil
}

func (s *memStore) Export(ctx context.Context, id string, w io.Writer) (int64, error) {
	sn, err := s.get(ctx, id)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(sn.data)
	return int64(n), err
}

func (s *memStore) Verify(ctx context.Context, id string) (Meta, error) {
	sn, err := s.get(ctx, id)
	if err != nil {
		return Meta{}, err
	}
	m, err := verifyStream(ctx, bytes.NewReader(sn.data))
	if err != nil {
		return Meta{}, fmt.Errorf("%s: %w", id, err)
	}
	if m.ID != id {
		return Meta{}, corruptf("%s: header names snapshot %s", id, m.ID)
	}
	return m, nil
}

func (s *memStore) Delete(ctx context.Context, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.snaps[id]; !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	delete(s.mu.snaps, id)
	return nil
}

func (s *memStore) Cleanup(ctx context.Context, r Retention) (int, error) {
	return cleanup(ctx, s, r, s.env)
}

func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	s.mu.closed = true
	s.mu.snaps = nil
	return nil
}

func (s *memStore) check(ctx context.Context) error {
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

// verifyStream reads a whole encoded snapshot, checking everything, and
// returns its Meta.
func verifyStream(ctx context.Context, r io.Reader) (Meta, error) {
	sr, err := NewReader(r, Options{})
	if err != nil {
		return Meta{}, err
	}
	defer sr.Close()
	for i := 0; ; i++ {
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return Meta{}, err
			}
		}
		if _, _, err := sr.Next(); err == io.EOF {
			return sr.Meta(), nil
		} else if err != nil {
			return Meta{}, err
		}
	}
}
