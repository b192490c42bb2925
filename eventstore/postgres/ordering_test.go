package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/postgres"
)

var errInjectedRollback = errors.New("injected rollback")

// TestNoSkipUnderOutOfOrderCommits is ES-13: 32 writers whose appends sleep
// 0-50 ms before COMMIT, 5 % of which roll back, while an unrelated
// transaction holds an xid open for seconds. A subscriber that starts
// before them must see exactly the committed events, in position order,
// with dense positions and contiguous stream versions.
func TestNoSkipUnderOutOfOrderCommits(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var rngMu sync.Mutex
	rng := rand.New(rand.NewPCG(13, 13))
	hook := func(ctx context.Context, tx pgx.Tx) error {
		rngMu.Lock()
		delay, rollback := rng.IntN(50), rng.IntN(100) < 5
		rngMu.Unlock()
		if _, err := tx.Exec(ctx, "SELECT pg_sleep($1)", float64(delay)/1000); err != nil {
			return err
		}
		if rollback {
			return errInjectedRollback
		}
		return nil
	}
	st := MustOpen(t, postgres.WithBeforeCommit(postgres.Config{URL: url, Schema: schema, MaxConns: 40}, hook))

	// An unrelated long transaction with an xid, open for the whole run.
	long, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close(ctx)
	ltx, err := long.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ltx.Exec(ctx, "CREATE TABLE "+schema+".scratch (x int); INSERT INTO "+schema+".scratch VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	sub, err := st.Subscribe(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const writers, appends = 32, 6
	var mu sync.Mutex
	committed := map[uuid.UUID]bool{}
	rolledBack := 0
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				n := 1 + (w+i)%3
				evs := make([]eventstore.EventData, n)
				for j := range evs {
					evs[j] = eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "W", Data: fmt.Appendf(nil, `{"w":%d,"i":%d,"j":%d}`, w, i, j)}
				}
				_, err := st.Append(ctx, fmt.Sprintf("w-%d", w%8), eventstore.Any(), evs...)
				mu.Lock()
				switch {
				case err == nil:
					for _, e := range evs {
						committed[e.ID] = true
					}
				case errors.Is(err, errInjectedRollback) || strings.Contains(err.Error(), errInjectedRollback.Error()):
					rolledBack++
				default:
					t.Errorf("writer %d append %d: %v", w, i, err)
				}
				mu.Unlock()
			}
		})
	}

	// Read while the writers run.
	var got []eventstore.RecordedEvent
	readDone := make(chan error, 1)
	allWritten := make(chan struct{})
	go func() {
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				readDone <- err
				return
			}
			got = append(got, m.Events...)
			if m.CaughtUp {
				select {
				case <-allWritten:
					h, err := st.Head(ctx)
					if err != nil {
						readDone <- err
						return
					}
					if m.Position >= h {
						readDone <- nil
						return
					}
				default:
				}
			}
		}
	}()
	wg.Wait()
	close(allWritten)
	// Wake the reader in case it is waiting for a notification.
	if _, err := st.Append(ctx, "marker", eventstore.Any(), eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "Marker", Data: []byte(`{}`)}); err != nil && !errors.Is(err, errInjectedRollback) && !strings.Contains(err.Error(), "injected") {
		t.Fatal(err)
	}
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	if err := ltx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	t.Logf("%d events committed, %d appends rolled back, %d delivered", len(committed), rolledBack, len(got))
	if rolledBack == 0 {
		t.Fatal("no append rolled back: the test did not exercise rollbacks")
	}
	delivered := map[uuid.UUID]bool{}
	streams := map[string]uint64{}
	for i, e := range got {
		if e.Position != eventstore.Position(i+1) {
			t.Fatalf("delivery %d has position %d: positions must be dense and in order", i, e.Position)
		}
		if delivered[e.ID] {
			t.Fatalf("event %s delivered twice", e.ID)
		}
		delivered[e.ID] = true
		if v, ok := streams[e.Stream]; ok && e.Version != v+1 || !ok && e.Version != 0 {
			t.Fatalf("stream %s: version %d follows %d", e.Stream, e.Version, v)
		}
		streams[e.Stream] = e.Version
		if e.Type == "W" && !committed[e.ID] {
			t.Fatalf("delivered %s, which was not acknowledged as committed", e.ID)
		}
	}
	for id := range committed {
		if !delivered[id] {
			t.Fatalf("committed event %s was never delivered (skipped)", id)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, postgres.Config{URL: "postgres://user:secret@host:notaport/db"})
	if err == nil || !strings.HasPrefix(err.Error(), "postgres: invalid URL") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("malformed URL: %v", err)
	}
	_, err = postgres.Open(ctx, postgres.Config{URL: "postgres://user:secret@127.0.0.1:1/db?connect_timeout=2"})
	if !errors.Is(err, eventstore.ErrUnavailable) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("unreachable server: %v, want ErrUnavailable without the password", err)
	}
	_, err = postgres.Open(ctx, postgres.Config{URL: "postgres://127.0.0.1/db", Schema: "Bad-Name"})
	if err == nil || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("bad schema: %v", err)
	}
}
