package report

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// Skip, returned by a load's call, marks it as neither a success nor a
// failure (e.g. a version mismatch between the load's own callers).
var Skip = errors.New("report: call skipped")

// Load is the outcome of RunLoad.
type Load struct {
	// Rate is successful calls per second.
	Rate float64
	// Latencies of the successful calls, sorted.
	Latencies []time.Duration
	// Failed counts the calls that returned an error (not Skip); FirstErr
	// is the first of them.
	Failed   int
	FirstErr error
}

// Percentile is the p-th percentile latency (0 without successes).
func (l Load) Percentile(p int) time.Duration {
	if len(l.Latencies) == 0 {
		return 0
	}
	return l.Latencies[(len(l.Latencies)-1)*p/100]
}

// Ms is Percentile in milliseconds.
func (l Load) Ms(p int) float64 { return float64(l.Percentile(p)) / float64(time.Millisecond) }

// RunLoad is a closed-loop load: callers goroutines call op(caller, i)
// one call after the other for d. A caller whose call failed waits a
// millisecond before its next one, so that a shard without a leader is not
// hammered.
func RunLoad(callers int, d time.Duration, op func(caller, i int) error) Load {
	var (
		mu  sync.Mutex
		out Load
		wg  sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			failed := 0
			var first error
			for i := 0; time.Now().Before(end); i++ {
				t0 := time.Now()
				err := op(c, i)
				switch {
				case err == nil:
					mine = append(mine, time.Since(t0))
				case errors.Is(err, Skip):
				default:
					failed++
					if first == nil {
						first = err
					}
					time.Sleep(time.Millisecond)
				}
			}
			mu.Lock()
			out.Latencies = append(out.Latencies, mine...)
			out.Failed += failed
			if out.FirstErr == nil {
				out.FirstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.Rate = float64(len(out.Latencies)) / time.Since(start).Seconds()
	slices.Sort(out.Latencies)
	return out
}
