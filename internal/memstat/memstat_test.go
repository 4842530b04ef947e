package memstat

import (
	"errors"
	"testing"
)

func TestPeakFollowsAllocation(t *testing.T) {
	if err := ResetPeak(); errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	before, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		if i%4096 == 0 {
			buf[i] = 1 // touch every page so it becomes resident
		}
	}
	after, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if grew := after - before; grew < 48<<20 {
		t.Fatalf("peak RSS grew by %d bytes after touching 64 MiB", grew)
	}
	rss, err := RSS()
	if err != nil || rss < 48<<20 {
		t.Fatalf("RSS = %d, %v; peak %d", rss, err, after)
	}
	buf[len(buf)-1] = 2
}
