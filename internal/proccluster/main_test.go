package proccluster

import (
	"testing"

	"github.com/odgm-go/odgm/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
