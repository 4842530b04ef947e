package shards

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/storage/appdata"
	"github.com/odgm-go/odgm/storage/snapshot"
)

// Queries accepted by StateMachine.Lookup (and so by Host.Read). Each
// returns the result type named in its comment; an unknown query type or a
// malformed query is an error wrapping ErrInvalidQuery.

// GetObject reads an object's metadata and entries, from one read
// transaction. Result: *ObjectState.
type GetObject struct {
	ID string // normalised by the lookup
	// Names selects entries; empty means all of them.
	Names []string
}

// GetMeta reads an object's metadata only (no entries): the cheap check
// that a cached copy is still current. Result: *ObjectState without
// Entries.
type GetMeta struct {
	ID string // normalised by the lookup
}

// ObjectState is the result of GetObject.
type ObjectState struct {
	ID string
	// Meta is nil when the object does not exist (version 0).
	Meta *odgmv1.ObjectMeta
	// Entries are in name order; a selected name that is absent is left
	// out.
	Entries []*odgmv1.Entry
}

// ListObjects lists the ids of existing objects whose id starts with
// Prefix, in the bytewise order of id+"/", at most Limit (<= 0: 1000)
// starting after Cursor (empty: from the first). Result: *ObjectList.
type ListObjects struct {
	Prefix string
	Limit  int
	Cursor string
}

// ObjectList is the result of ListObjects. Next is the cursor of the next
// page, empty when there is none.
type ObjectList struct {
	IDs  []string
	Next string
}

// QueryIndex queries a secondary index of the shard (Config.Indexes).
// Result: *IndexResult.
type QueryIndex struct {
	Index  string
	Query  appdata.Query
	Limit  int // <= 0: 1000
	Resume []byte
}

// IndexItem is one entry found by an index query.
type IndexItem struct {
	ID, Entry string
	Value     []byte
}

// IndexResult is the result of QueryIndex; Next resumes, nil at the end.
type IndexResult struct {
	Items []IndexItem
	Next  []byte
}

// GetStats asks for the replica's figures. Result: *Stats.
type GetStats struct{}

// Stats are a replica's state-machine figures.
type Stats struct {
	AppliedIndex uint64
	// Keys and Bytes are the app store's (every key, the state machine's
	// own included).
	Keys, Bytes int64
	// RememberedRequests is the size of the exactly-once table.
	RememberedRequests uint64
	// LastSnapshotIndex and LastSnapshotSize describe the last snapshot
	// this replica streamed (to a follower, or exported); 0 if none.
	LastSnapshotIndex, LastSnapshotSize uint64
	Recovering                          bool
}

// exportQuery streams the replica's data into a snapshot store (see
// Host.Export). Result: snapshot.Meta.
type exportQuery struct {
	ctx   context.Context
	store snapshot.Store
}

// ErrInvalidQuery is wrapped by Lookup for an unknown or malformed query.
var ErrInvalidQuery = errors.New("shards: invalid query")

const defaultLimit = 1000

// Lookup serves a query from the replica's data. It may run concurrently
// with Update (dragonboat calls it from read goroutines).
func (s *StateMachine) Lookup(q any) (any, error) {
	switch q := q.(type) {
	case GetObject:
		return s.getObject(q)
	case GetMeta:
		return s.getMeta(q)
	case *GetObject:
		return s.getObject(*q)
	case ListObjects:
		return s.listObjects(q)
	case *ListObjects:
		return s.listObjects(*q)
	case QueryIndex:
		return s.queryIndex(q)
	case *QueryIndex:
		return s.queryIndex(*q)
	case GetStats, *GetStats:
		return s.stats()
	case *exportQuery:
		return s.export(q)
	}
	return nil, fmt.Errorf("%w: %T", ErrInvalidQuery, q)
}

func (s *StateMachine) getMeta(q GetMeta) (*ObjectState, error) {
	id, err := object.NormalizeID(q.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	out := &ObjectState{ID: id}
	err = s.store.View(func(tx appdata.ReadTx) (err error) {
		out.Meta, err = readMeta(tx, s.cfg.Class, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *StateMachine) getObject(q GetObject) (*ObjectState, error) {
	id, err := object.NormalizeID(q.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	for _, n := range q.Names {
		if err := object.ValidateEntryName(n); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
		}
	}
	class := s.cfg.Class
	out := &ObjectState{ID: id}
	err = s.store.View(func(tx appdata.ReadTx) error {
		m, err := readMeta(tx, class, id)
		if err != nil || m == nil {
			return err
		}
		out.Meta = m
		if len(q.Names) == 0 {
			pfx := entryPrefix(class, id)
			return tx.Ascend([]byte(pfx), prefixEnd(pfx), func(k, v []byte) (bool, error) {
				out.Entries = append(out.Entries, &odgmv1.Entry{Name: string(k[len(pfx):]), Value: v})
				return true, nil
			})
		}
		names := append([]string(nil), q.Names...)
		sortUnique(&names)
		for _, n := range names {
			v, err := tx.Get([]byte(entryKey(class, id, n)))
			if errors.Is(err, appdata.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out.Entries = append(out.Entries, &odgmv1.Entry{Name: n, Value: v})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *StateMachine) listObjects(q ListObjects) (*ObjectList, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	cp := classPrefix(s.cfg.Class)
	start := cp + strings.ToLower(q.Prefix)
	if q.Cursor != "" {
		// After every key of the cursor's object ("<cursor>/..." < "<cursor>/\xff").
		start = max(start, cp+q.Cursor+"/\xff")
	}
	end := prefixEnd(cp + strings.ToLower(q.Prefix))
	out := &ObjectList{}
	err := s.store.View(func(tx appdata.ReadTx) error {
		return tx.Ascend([]byte(start), end, func(k, _ []byte) (bool, error) {
			_, id, _, meta, ok := parseObjectKey(string(k))
			if !ok || !meta {
				return true, nil
			}
			if len(out.IDs) == limit {
				out.Next = out.IDs[len(out.IDs)-1]
				return false, nil
			}
			out.IDs = append(out.IDs, id)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *StateMachine) queryIndex(q QueryIndex) (*IndexResult, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	items, next, err := s.store.QueryIndex(q.Index, q.Query, limit, q.Resume)
	if err != nil {
		return nil, err
	}
	out := &IndexResult{Next: next}
	for _, it := range items {
		_, id, name, meta, ok := parseObjectKey(string(it.Key))
		if !ok || meta {
			continue // an index pattern that covers more than entries
		}
		out.Items = append(out.Items, IndexItem{ID: id, Entry: name, Value: it.Value})
	}
	return out, nil
}

func (s *StateMachine) stats() (*Stats, error) {
	st, err := s.store.Stats()
	if err != nil {
		return nil, err
	}
	var remembered uint64
	err = s.store.View(func(tx appdata.ReadTx) error {
		var err error
		_, remembered, err = loadRequestHeader(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Stats{
		AppliedIndex: s.applied.Load(), Keys: st.Keys, Bytes: st.Bytes,
		RememberedRequests: remembered,
		LastSnapshotIndex:  s.lastSnapshotIndex.Load(), LastSnapshotSize: s.lastSnapshotSize.Load(),
		Recovering: s.recovering.Load(),
	}, nil
}

// export streams a consistent view of the data into q.store.
func (s *StateMachine) export(q *exportQuery) (snapshot.Meta, error) {
	var meta snapshot.Meta
	err := s.store.View(func(tx appdata.ReadTx) error {
		v, err := tx.Get([]byte(keyApplied))
		var idx uint64
		if err == nil && len(v) == 8 {
			idx = binary.BigEndian.Uint64(v)
		}
		c, err := q.store.Create(q.ctx, snapshot.Header{ShardID: s.shardID, ReplicaID: s.replicaID, Index: idx})
		if err != nil {
			return err
		}
		err = tx.Ascend(nil, nil, func(k, v []byte) (bool, error) {
			return true, c.Write(k, v)
		})
		if err != nil {
			c.Abort()
			return err
		}
		meta, err = c.Commit()
		return err
	})
	if err != nil {
		return snapshot.Meta{}, err
	}
	s.lastSnapshotIndex.Store(meta.Index)
	s.lastSnapshotSize.Store(uint64(meta.Size))
	return meta, nil
}

// prefixEnd is the smallest key after every key starting with p (nil: none).
func prefixEnd(p string) []byte {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return b[:i+1]
		}
	}
	return nil
}

func sortUnique(s *[]string) {
	m := map[string]bool{}
	out := (*s)[:0]
	for _, x := range *s {
		if !m[x] {
			m[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	*s = out
}
