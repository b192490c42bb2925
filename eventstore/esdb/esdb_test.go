package esdb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/esdb"
	"github.com/algoauto/algoauto/eventstore/eventstoretest"
)

const envURL = "ALGOAUTO_TEST_ESDB"

// serverURL returns the test server's URL or skips the test.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u == "" {
		t.Skip("set ALGOAUTO_TEST_ESDB=esdb://localhost:2113?tls=false to run the EventStoreDB suite")
	}
	return u
}

// mustOpen opens a store on the test server and closes it after the test.
func mustOpen(t testing.TB) *esdb.Store {
	t.Helper()
	url := serverURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := esdb.Open(ctx, esdb.Config{URL: url})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	serverURL(t)
	eventstoretest.Run(t, eventstoretest.Features{
		DensePositions:     false,
		IsolatedLog:        false,
		DurableIdempotency: false,
		RaceIterations:     200,
	}, func(t testing.TB) eventstore.Store { return mustOpen(t) })
}

func TestOpenInvalidURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"",
		"   ",
		"not a url",
		"http://localhost:2113",
		"esdb://",
		"esdb://localhost:notaport",
		"esdb://localhost:2113?tls=maybe",
		"esdb://localhost:2113/some/path",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		s, err := esdb.Open(ctx, esdb.Config{URL: u})
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
			continue
		}
		if !strings.HasPrefix(err.Error(), "esdb: invalid URL") {
			t.Errorf("Open(%q) = %q, want an error starting \"esdb: invalid URL\"", u, err)
		}
		if errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("Open(%q): a bad URL is not an unavailable server: %v", u, err)
		}
	}
}

func TestOpenInvalidURLHidesPassword(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"esdb://admin:s3cret@localhost:2113?tls=maybe", "esdb://admin:s3cret@localhost:bad port"} {
		_, err := esdb.Open(context.Background(), esdb.Config{URL: u})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v: want an error without the password", u, err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	const deadline = 3 * time.Second
	for _, u := range []string{"esdb://127.0.0.1:1?tls=false", "kurrentdb://127.0.0.1:1?tls=false"} {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		start := time.Now()
		s, err := esdb.Open(ctx, esdb.Config{URL: u})
		elapsed := time.Since(start)
		cancel()
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", u)
		}
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("Open(%q) = %v, want an error wrapping ErrUnavailable", u, err)
		}
		if strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("Open(%q): error spans several lines: %q", u, err)
		}
		// The deadline plus scheduling slack.
		if elapsed > deadline+time.Second {
			t.Errorf("Open(%q) took %v, deadline %v", u, elapsed, deadline)
		}
	}
}

// The tests below need a server; the conformance suite covers the contract,
// these cover what is particular to EventStoreDB.

func event(typ, data string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: typ, Data: []byte(data)}
}

func prefix() string { return "esdbtest-" + uuid.NewString()[:8] + "-" }

// A position that is not an event's (p-1, as PositionAt's documentation
// suggests) still reads from the event at p.
func TestReadAllAfterNonEventPosition(t *testing.T) {
	s := mustOpen(t)
	ctx := context.Background()
	p := prefix()
	if _, err := s.Append(ctx, p+"a", eventstore.NoStream(), event("A", `{"i":1}`), event("A", `{"i":2}`), event("A", `{"i":3}`)); err != nil {
		t.Fatal(err)
	}
	all, err := s.ReadAll(ctx, eventstore.ReadAllOptions{Filter: eventstore.Filter{StreamPrefix: p}})
	if err != nil || len(all) != 3 {
		t.Fatalf("read all: %d events, %v", len(all), err)
	}
	got, err := s.ReadAll(ctx, eventstore.ReadAllOptions{After: all[1].Position - 1, Filter: eventstore.Filter{StreamPrefix: p}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != all[1].ID {
		t.Fatalf("after %d: got %d events, want the last 2", all[1].Position-1, len(got))
	}
	sub, err := s.Subscribe(ctx, all[1].Position-1, eventstore.Filter{StreamPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var seen []eventstore.RecordedEvent
	nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		m, err := sub.Next(nctx)
		if err != nil {
			t.Fatalf("subscription: %v after %d events", err, len(seen))
		}
		seen = append(seen, m.Events...)
		if m.CaughtUp {
			break
		}
	}
	if len(seen) != 2 || seen[0].ID != all[1].ID {
		t.Fatalf("subscription from %d delivered %d events, want the last 2", all[1].Position-1, len(seen))
	}
}

// Payloads that are not JSON are stored as binary and come back intact;
// metadata too.
func TestBinaryAndJSONPayloads(t *testing.T) {
	s := mustOpen(t)
	ctx := context.Background()
	stream := prefix() + "payloads"
	evs := []eventstore.EventData{
		{ID: uuid.Must(uuid.NewV7()), Type: "Bin", Data: []byte{1, 0, 0xfe, 0xff}, Metadata: []byte(`{"source":"test"}`)},
		{ID: uuid.Must(uuid.NewV7()), Type: "Json", Data: []byte(`{"a":[1,2]}`)},
		{ID: uuid.Must(uuid.NewV7()), Type: "Empty"},
	}
	res, err := s.Append(ctx, stream, eventstore.NoStream(), evs...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil || len(got) != 3 {
		t.Fatalf("read: %d events, %v", len(got), err)
	}
	for i := range evs {
		if got[i].ID != evs[i].ID || string(got[i].Data) != string(evs[i].Data) || string(got[i].Metadata) != string(evs[i].Metadata) {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], evs[i])
		}
	}
	if got[2].Position != res.Position {
		t.Errorf("append reported position %d, the last event is at %d", res.Position, got[2].Position)
	}
}

// A retry with the same ids is deduplicated and reports the same version
// and position.
func TestRetryReportsOriginalResult(t *testing.T) {
	s := mustOpen(t)
	ctx := context.Background()
	stream := prefix() + "retry"
	evs := []eventstore.EventData{event("E", `{"i":1}`), event("E", `{"i":2}`)}
	first, err := s.Append(ctx, stream, eventstore.NoStream(), evs...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Append(ctx, stream, eventstore.NoStream(), evs...)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again.Version != first.Version || again.Position != first.Position {
		t.Fatalf("retry result %+v, first %+v", again, first)
	}
	got, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil || len(got) != 2 {
		t.Fatalf("stream holds %d events (%v), want 2", len(got), err)
	}
}

// A subscription hands out at most a page per message.
func TestSubscriptionPages(t *testing.T) {
	url := serverURL(t)
	ctx := context.Background()
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := esdb.Open(octx, esdb.Config{URL: url, PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := prefix()
	evs := make([]eventstore.EventData, 50)
	for i := range evs {
		evs[i] = event("P", fmt.Sprintf(`{"i":%d}`, i))
	}
	if _, err := s.Append(ctx, p+"pages", eventstore.NoStream(), evs...); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	n := 0
	for n < len(evs) {
		m, err := sub.Next(octx)
		if err != nil {
			t.Fatalf("after %d events: %v", n, err)
		}
		if len(m.Events) > 7 {
			t.Fatalf("message of %d events, page size 7", len(m.Events))
		}
		n += len(m.Events)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
}
