//go:build race

package snapshot_test

// raceEnabled: the race detector slows codecs about tenfold, so the
// memory-flatness test streams less.
const raceEnabled = true
