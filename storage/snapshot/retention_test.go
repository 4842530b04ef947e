package snapshot_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/odgm-go/odgm/storage/snapshot"
)

func TestPlan(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	// meta makes snapshot "shard/index", aged in hours, of size MiB.
	meta := func(shard, index uint64, ageH int, sizeMiB int64) snapshot.Meta {
		h := snapshot.Header{ShardID: shard, Index: index, Created: now.Add(-time.Duration(ageH) * time.Hour)}
		return snapshot.Meta{ID: fmt.Sprintf("%d/%d", shard, index), Header: h, Size: sizeMiB << 20}
	}
	metas := []snapshot.Meta{meta(1, 1, 300, 1), meta(1, 2, 200, 1), meta(1, 3, 100, 1), meta(2, 7, 500, 4)}
	for _, tc := range []struct {
		name   string
		r      snapshot.Retention
		remove []string // oldest first
	}{
		{"keep_latest 1", snapshot.Retention{Strategy: snapshot.KeepLatest, KeepCount: 1}, []string{"1/1", "1/2"}},
		{"keep_latest default 5", snapshot.Retention{Strategy: snapshot.KeepLatest}, nil},
		{"keep_by_age may empty a shard", snapshot.Retention{Strategy: snapshot.KeepByAge, MaxAge: 150 * time.Hour}, []string{"2/7", "1/1", "1/2"}},
		{"keep_by_age default a week", snapshot.Retention{Strategy: snapshot.KeepByAge}, []string{"2/7", "1/1", "1/2"}},
		{"combined keeps each shard's newest", snapshot.Retention{KeepCount: 2, MaxAge: 250 * time.Hour}, []string{"1/1"}},
		{"combined by age only", snapshot.Retention{KeepCount: 10, MaxAge: time.Hour}, []string{"1/1", "1/2"}},
		{"max total size, oldest first, never a newest", snapshot.Retention{Strategy: snapshot.KeepLatest, MaxTotalSizeMB: 5}, []string{"1/1", "1/2"}},
		{"max total size below the newest alone", snapshot.Retention{Strategy: snapshot.KeepLatest, MaxTotalSizeMB: 1}, []string{"1/1", "1/2"}},
		{"max total size already met", snapshot.Retention{Strategy: snapshot.KeepLatest, MaxTotalSizeMB: 7}, nil},
	} {
		got := snapshot.Plan(slices.Clone(metas), tc.r, now)
		if !slices.Equal(got, tc.remove) {
			t.Errorf("%s: removes %v, want %v", tc.name, got, tc.remove)
		}
	}
	if got := snapshot.Plan(nil, snapshot.Retention{}, now); len(got) != 0 {
		t.Errorf("Plan(nil) = %v", got)
	}
}
