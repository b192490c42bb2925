package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/eventstoretest"
	"github.com/algoauto/algoauto/eventstore/postgres"
)

// testURL returns ALGOAUTO_TEST_POSTGRES or skips the test, naming it.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("ALGOAUTO_TEST_POSTGRES")
	if u == "" {
		tb.Skip("set ALGOAUTO_TEST_POSTGRES=postgres://... to run the PostgreSQL suite")
	}
	return u
}

// newSchema returns a fresh schema name and drops it when the test ends.
func newSchema(tb testing.TB, url string) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// MustOpen opens a store on a fresh schema.
func MustOpen(tb testing.TB, cfg postgres.Config) *postgres.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, cfg)
	if err != nil {
		tb.Fatalf("open postgres store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	url := testURL(t)
	var cfgs sync.Map
	eventstoretest.Run(t, eventstoretest.Features{
		DensePositions:     true,
		IsolatedLog:        true,
		DurableIdempotency: true,
		ProgressMarks:      true,
		Reopen: func(tb testing.TB, s eventstore.Store) eventstore.Store {
			cfg, _ := cfgs.Load(s)
			if err := s.Close(); err != nil {
				tb.Fatal(err)
			}
			return MustOpen(tb, cfg.(postgres.Config))
		},
	}, func(tb testing.TB) eventstore.Store {
		cfg := postgres.Config{URL: url, Schema: newSchema(tb, url)}
		s := MustOpen(tb, cfg)
		cfgs.Store(s, cfg)
		return s
	})
}
