package shards

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s ...int) []time.Time {
		var out []time.Time
		for _, x := range s {
			out = append(out, base.Add(time.Duration(x)*time.Second))
		}
		return out
	}
	p := SupervisionPolicy{MaxRestarts: 3, Within: 10 * time.Second, Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	for _, tc := range []struct {
		name    string
		p       SupervisionPolicy
		history []time.Time
		now     int
		want    Decision
		kept    int
	}{
		{"first failure restarts after the base backoff", p, nil, 0, Decision{Restart, 100 * time.Millisecond}, 1},
		{"second failure doubles", p, at(0), 1, Decision{Restart, 200 * time.Millisecond}, 2},
		{"third failure is capped", p, at(0, 1), 2, Decision{Restart, 300 * time.Millisecond}, 3},
		{"fourth failure within the period gives up (escalate by default)", p, at(0, 1, 2), 3, Decision{Directive: Escalate}, 4},
		{"old failures leave the window", p, at(0, 1, 2), 15, Decision{Restart, 100 * time.Millisecond}, 1},
		{"give up by stopping", SupervisionPolicy{MaxRestarts: 1, GiveUp: Stop}, at(0), 1, Decision{Directive: Stop}, 2},
		{"never restart", SupervisionPolicy{MaxRestarts: -1, GiveUp: Stop}, nil, 0, Decision{Directive: Stop}, 1},
		{"defaults: immediate restart", SupervisionPolicy{}, nil, 0, Decision{Restart, 0}, 1},
		{"defaults: five restarts in 10s then escalate", SupervisionPolicy{}, at(0, 1, 2, 3, 4), 5, Decision{Directive: Escalate}, 6},
	} {
		got, kept := Decide(tc.p, tc.history, base.Add(time.Duration(tc.now)*time.Second))
		if got != tc.want || len(kept) != tc.kept {
			t.Errorf("%s: got %+v (kept %d), want %+v (kept %d)", tc.name, got, len(kept), tc.want, tc.kept)
		}
	}
}
