// Package memstat reads the process's resident set size from Linux's
// /proc/self/status, for tests and benchmarks that bound memory growth (for
// example "streaming a 1 GiB snapshot grows peak RSS by less than 64 MiB").
//
// ResetPeak writes to /proc/self/clear_refs so that the peak (VmHWM) restarts
// from the current RSS; on systems without /proc every call returns
// ErrUnsupported and callers skip their measurement.
package memstat
