//go:build race

package tests

// raceEnabled: protoactor remote has data races of its own when several
// remotes run in one process (see DEPENDENCIES.md), so tests that start
// several in-process cluster nodes run only without the race detector
// (make test runs them in a separate pass).
const raceEnabled = true
