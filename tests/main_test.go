// Package tests holds cross-package tests: several runtime nodes in one
// process, failures, and the typed errors seen from outside.
package tests

import (
	"testing"

	"github.com/odgm-go/odgm/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
