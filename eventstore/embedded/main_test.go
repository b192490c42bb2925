package embedded_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain removes the R1 benchmark's store and fails the package if a test
// leaves goroutines behind (stores and subscriptions must stop theirs on
// Close or context end).
func TestMain(m *testing.M) {
	code := m.Run()
	if r1Once.root != "" {
		_ = os.RemoveAll(r1Once.root)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
