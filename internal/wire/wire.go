package wire

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/odgm-go/odgm"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// EntriesToProto lists m's entries sorted by name. The values are shared,
// not copied.
func EntriesToProto(m map[string][]byte) []*odgmv1.Entry {
	if len(m) == 0 {
		return nil
	}
	out := make([]*odgmv1.Entry, 0, len(m))
	for name, v := range m {
		out = append(out, &odgmv1.Entry{Name: name, Value: v})
	}
	slices.SortFunc(out, func(a, b *odgmv1.Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// EntriesFromProto collects entries into a map (never nil). A nil entry or
// a name given twice is an error wrapping odgm.ErrInvalidArgument. The
// values are shared, not copied.
func EntriesFromProto(es []*odgmv1.Entry) (map[string][]byte, error) {
	m := make(map[string][]byte, len(es))
	for i, e := range es {
		if e == nil {
			return nil, fmt.Errorf("%w: entry %d is unset", odgm.ErrInvalidArgument, i)
		}
		if _, dup := m[e.Name]; dup {
			return nil, fmt.Errorf("%w: entry %q given twice", odgm.ErrInvalidArgument, e.Name)
		}
		m[e.Name] = e.Value
	}
	return m, nil
}

// StateToProto converts a State (nil for nil).
func StateToProto(s *odgm.State) *odgmv1.ObjectState {
	if s == nil {
		return nil
	}
	return &odgmv1.ObjectState{
		Id: s.ID, Version: s.Version,
		CreatedAt: timeToProto(s.CreatedAt), UpdatedAt: timeToProto(s.UpdatedAt),
		Entries: EntriesToProto(s.Entries),
	}
}

// StateFromProto converts an ObjectState; its Entries map is never nil.
// An unset state, nil entry or duplicate name is an error wrapping
// odgm.ErrInvalidArgument.
func StateFromProto(s *odgmv1.ObjectState) (*odgm.State, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: object state unset", odgm.ErrInvalidArgument)
	}
	entries, err := EntriesFromProto(s.Entries)
	if err != nil {
		return nil, err
	}
	return &odgm.State{
		ID: s.Id, Version: s.Version,
		CreatedAt: timeFromProto(s.CreatedAt), UpdatedAt: timeFromProto(s.UpdatedAt),
		Entries: entries,
	}, nil
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// LimitToProto clamps a page limit to the wire's uint32 (below zero: 0,
// the default).
func LimitToProto(n int) uint32 {
	switch {
	case n <= 0:
		return 0
	case uint64(n) > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}

// LimitFromProto is the page limit of a wire limit, clamped to a
// non-negative int.
func LimitFromProto(n uint32) int {
	if uint64(n) > math.MaxInt {
		return math.MaxInt
	}
	return int(n)
}

// ListRequest is the ListRequest of List(class, q).
func ListRequest(class string, q odgm.ListOptions) *odgmv1.ListRequest {
	return &odgmv1.ListRequest{Class: class, Prefix: q.Prefix, Limit: LimitToProto(q.Limit), Cursor: q.Cursor, Stale: q.Stale}
}

// ListOptionsFromProto is the class and ListOptions of a ListRequest.
func ListOptionsFromProto(r *odgmv1.ListRequest) (string, odgm.ListOptions) {
	return r.GetClass(), odgm.ListOptions{Prefix: r.GetPrefix(), Limit: LimitFromProto(r.GetLimit()), Cursor: r.GetCursor(), Stale: r.GetStale()}
}

// PageToProto converts a Page (an empty response for nil).
func PageToProto(p *odgm.Page) *odgmv1.ListResponse {
	if p == nil {
		return &odgmv1.ListResponse{}
	}
	return &odgmv1.ListResponse{Ids: p.IDs, Next: p.Next}
}

// PageFromProto converts a ListResponse (an empty page for nil).
func PageFromProto(r *odgmv1.ListResponse) *odgm.Page {
	return &odgm.Page{IDs: r.GetIds(), Next: r.GetNext()}
}

// QueryToProto converts a Query; set bounds stay set (even empty), unset
// ones unset.
func QueryToProto(q odgm.Query) *odgmv1.IndexQuery {
	return &odgmv1.IndexQuery{Equal: q.Equal, Low: q.Low, High: q.High, Prefix: q.Prefix}
}

// QueryFromProto converts an IndexQuery; nil is the zero Query (every
// value).
func QueryFromProto(q *odgmv1.IndexQuery) odgm.Query {
	if q == nil {
		return odgm.Query{}
	}
	return odgm.Query{Equal: q.Equal, Low: q.Low, High: q.High, Prefix: q.Prefix}
}

// QueryIndexRequest is the QueryIndexRequest of QueryIndex(class, q).
func QueryIndexRequest(class string, q odgm.IndexQuery) *odgmv1.QueryIndexRequest {
	return &odgmv1.QueryIndexRequest{Class: class, Index: q.Index, Query: QueryToProto(q.Query),
		Limit: LimitToProto(q.Limit), Cursor: q.Cursor, Stale: q.Stale}
}

// IndexQueryFromProto is the class and IndexQuery of a QueryIndexRequest.
func IndexQueryFromProto(r *odgmv1.QueryIndexRequest) (string, odgm.IndexQuery) {
	return r.GetClass(), odgm.IndexQuery{Index: r.GetIndex(), Query: QueryFromProto(r.GetQuery()),
		Limit: LimitFromProto(r.GetLimit()), Cursor: r.GetCursor(), Stale: r.GetStale()}
}

// IndexPageToProto converts an IndexPage (an empty response for nil).
func IndexPageToProto(p *odgm.IndexPage) *odgmv1.QueryIndexResponse {
	if p == nil {
		return &odgmv1.QueryIndexResponse{}
	}
	r := &odgmv1.QueryIndexResponse{Next: p.Next, Items: make([]*odgmv1.IndexItem, len(p.Items))}
	for i, it := range p.Items {
		r.Items[i] = &odgmv1.IndexItem{Id: it.ID, Entry: it.Entry, Value: it.Value}
	}
	return r
}

// IndexPageFromProto converts a QueryIndexResponse (an empty page for
// nil). A nil item is an error wrapping odgm.ErrInvalidArgument.
func IndexPageFromProto(r *odgmv1.QueryIndexResponse) (*odgm.IndexPage, error) {
	p := &odgm.IndexPage{Next: r.GetNext()}
	if n := len(r.GetItems()); n > 0 {
		p.Items = make([]odgm.IndexItem, n)
	}
	for i, it := range r.GetItems() {
		if it == nil {
			return nil, fmt.Errorf("%w: index item %d is unset", odgm.ErrInvalidArgument, i)
		}
		p.Items[i] = odgm.IndexItem{ID: it.Id, Entry: it.Entry, Value: it.Value}
	}
	return p, nil
}
