package memstat

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrUnsupported is returned where /proc/self is not available.
var ErrUnsupported = errors.New("memstat: /proc/self/status is not available")

// RSS returns the current resident set size in bytes.
func RSS() (int64, error) { return field("VmRSS:") }

// PeakRSS returns the peak resident set size (VmHWM) in bytes since the
// process started or since the last ResetPeak.
func PeakRSS() (int64, error) { return field("VmHWM:") }

// ResetPeak restarts the peak RSS from the current RSS.
func ResetPeak() error {
	err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	if errors.Is(err, os.ErrNotExist) {
		return ErrUnsupported
	}
	return err
}

func field(name string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, ErrUnsupported
		}
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		fields := strings.Fields(line[len(name):])
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("memstat: unexpected line %q", line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("memstat: %q: %w", line, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, ErrUnsupported
}
