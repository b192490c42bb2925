package embedded_test

import (
	"context"
	"sync"
	"testing"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/eventstore/eventstoretest"
)

// MustOpen opens an embedded store in dir and closes it when the test ends.
// Tests use a 4 MiB memtable so that data reaches Pebble's tables (and its
// flush and compaction paths) quickly.
func MustOpen(tb testing.TB, dir string) *embedded.Store {
	tb.Helper()
	s, err := embedded.Open(context.Background(), embedded.Config{Dir: dir, MemTableSize: 4 << 20})
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	var dirs sync.Map // store -> its directory
	eventstoretest.Run(t, eventstoretest.Features{
		DensePositions:     true,
		IsolatedLog:        true,
		DurableIdempotency: true,
		ProgressMarks:      true,
		SubscriptionCycles: subscriptionCycles,
		Reopen: func(tb testing.TB, s eventstore.Store) eventstore.Store {
			dir, _ := dirs.Load(s)
			if err := s.Close(); err != nil {
				tb.Fatal(err)
			}
			return MustOpen(tb, dir.(string))
		},
	}, func(tb testing.TB) eventstore.Store {
		dir := tb.TempDir()
		s := MustOpen(tb, dir)
		dirs.Store(s, dir)
		return s
	})
}
