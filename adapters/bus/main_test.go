package bus_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind (stores,
// subscriptions and routers must stop theirs on Close or context end).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
