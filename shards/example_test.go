package shards_test

import (
	"fmt"
	"time"

	"github.com/odgm-go/odgm/shards"
)

// Decide is the whole supervision policy: a pure function of the failure
// history and the time.
func ExampleDecide() {
	p := shards.SupervisionPolicy{MaxRestarts: 2, Within: time.Minute, Backoff: 100 * time.Millisecond, GiveUp: shards.Stop}
	var history []time.Time
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		var d shards.Decision
		d, history = shards.Decide(p, history, now.Add(time.Duration(i)*time.Second))
		fmt.Println(d.Directive, d.Delay)
	}
	// Output:
	// restart 100ms
	// restart 200ms
	// stop 0s
}
