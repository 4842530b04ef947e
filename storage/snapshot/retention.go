package snapshot

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"
)

// Plan decides which of the snapshots in metas the retention policy r
// removes at time now, and returns their IDs, oldest first. It does nothing
// else: Store.Cleanup calls it and then deletes. Zero fields of r take their
// defaults (see Retention).
//
// Per shard, snapshots are ranked newest first by (index, term, created).
//
//   - keep_latest keeps the KeepCount newest of each shard.
//   - keep_by_age keeps those whose Created is less than MaxAge before now
//     (it may remove every snapshot of a shard).
//   - combined keeps those both rules keep, and always the newest of each
//     shard.
//
// Then, if MaxTotalSizeMB is set and the Size of the kept snapshots exceeds
// it, the oldest kept snapshots (by Created, then ID) are removed until the
// rest fit, never the newest of a shard.
func Plan(metas []Meta, r Retention, now time.Time) []string {
	o := Options{Retention: r}
	o.EnsureDefaults()
	r = o.Retention

	byShard := map[uint64][]Meta{}
	for _, m := range metas {
		byShard[m.ShardID] = append(byShard[m.ShardID], m)
	}
	remove := map[string]bool{}
	newest := map[string]bool{}
	var kept []Meta
	for _, ms := range byShard {
		slices.SortFunc(ms, func(a, b Meta) int { return -compareMeta(a, b) })
		newest[ms[0].ID] = true
		for i, m := range ms {
			byCount := i < r.KeepCount
			byAge := now.Sub(m.Created) < r.MaxAge
			var keep bool
			switch r.Strategy {
			case KeepLatest:
				keep = byCount
			case KeepByAge:
				keep = byAge
			default: // Combined
				keep = i == 0 || (byCount && byAge)
			}
			if keep {
				kept = append(kept, m)
			} else {
				remove[m.ID] = true
			}
		}
	}
	if r.MaxTotalSizeMB > 0 {
		limit := r.MaxTotalSizeMB << 20
		var total int64
		for _, m := range kept {
			total += m.Size
		}
		slices.SortFunc(kept, oldestFirst)
		for _, m := range kept {
			if total <= limit {
				break
			}
			if newest[m.ID] {
				continue
			}
			remove[m.ID] = true
			total -= m.Size
		}
	}
	var out []Meta
	for _, m := range metas {
		if remove[m.ID] {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, oldestFirst)
	ids := make([]string, len(out))
	for i, m := range out {
		ids[i] = m.ID
	}
	return ids
}

func oldestFirst(a, b Meta) int {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// compareMeta orders snapshots as List returns them: shard, index, term,
// created, ID.
func compareMeta(a, b Meta) int {
	return cmp.Or(
		cmp.Compare(a.ShardID, b.ShardID),
		cmp.Compare(a.Index, b.Index),
		cmp.Compare(a.Term, b.Term),
		a.Created.Compare(b.Created),
		cmp.Compare(a.ID, b.ID),
	)
}

// latest returns the newest snapshot of shard in metas.
func latest(metas []Meta, shard uint64) (Meta, bool) {
	var best Meta
	found := false
	for _, m := range metas {
		if m.ShardID == shard && (!found || compareMeta(m, best) > 0) {
			best, found = m, true
		}
	}
	return best, found
}

// cleanup carries out Plan on st: every backend's Cleanup. A snapshot that
// is already gone (deleted meanwhile by another caller) is not an error.
func cleanup(ctx context.Context, st Store, r Retention, e env) (int, error) {
	ms, err := st.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range Plan(ms, r, e.now()) {
		if err := st.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			return n, err
		}
		e.log.Info("snapshot: removed by retention", "id", id)
		n++
	}
	return n, nil
}
