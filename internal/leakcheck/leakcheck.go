// Package leakcheck fails a test binary that leaves goroutines running.
//
// It wraps go.uber.org/goleak for TestMain, retrying for a grace period
// first: some dependencies stop their goroutines asynchronously (buntdb's
// background goroutine returns at its next one-second tick after Close), and
// a goroutine that is still winding down is not a leak.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Grace is how long VerifyTestMain waits for goroutines to finish.
const Grace = 3 * time.Second

// VerifyTestMain runs the tests and then exits non-zero if goroutines other
// than the ones opts ignore are still running after Grace.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(Grace)
		for {
			err := goleak.Find(opts...)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintln(os.Stderr, "leakcheck:", err)
				code = 1
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.Exit(code)
}
