// Package eventstoretest is the conformance suite every eventstore.Store
// implementation runs (in the style of Watermill's pubsub/tests): append and
// read round trips, the expected-version matrix, same-version races,
// idempotent retries, zero-event and failed appends, ordered, gap-free and
// resumable subscriptions, and back-pressure of slow subscribers. Test IDs
// (ES-xx) refer to RELIABILITY.md.
package eventstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
)

// Features says what an implementation promises beyond the common contract;
// tests of a promise the store does not make are skipped with a message.
type Features struct {
	// DensePositions: global positions run 1, 2, 3... with no holes.
	DensePositions bool
	// IsolatedLog: each Factory call returns a new, empty store, so tests may
	// assert on the global head and on unfiltered reads. When false (a shared
	// server), every test works under its own stream prefix.
	IsolatedLog bool
	// DurableIdempotency: event ids are unique across all streams for all
	// time and a reused id with another payload is ErrDuplicateEventID, for
	// every expected version (embedded, postgres). EventStoreDB only
	// deduplicates recent retries to the same stream.
	DurableIdempotency bool
	// Reopen, when set, closes the store and opens it again on the same data;
	// it enables the restart tests (ES-04).
	Reopen func(t testing.TB, s eventstore.Store) eventstore.Store
	// RaceIterations is how many rounds ES-01 runs (default 1000).
	RaceIterations int
	// SlowSubscriberBytes is how much ES-15 appends while its subscriber
	// stalls (default 64 MiB).
	SlowSubscriberBytes int
	// ProgressMarks: a caught-up filtered subscription reports, with a
	// caught-up message that may carry no events, when the log moves past
	// events its filter excludes (projections rely on it to know they
	// reflect the head).
	ProgressMarks bool
	// SubscriptionCycles is how many times ES-14 stops its subscriber at a
	// random point and resumes it from its checkpoint (default 60).
	SubscriptionCycles int
}

// Factory returns a store for one test; the suite closes it.
type Factory func(t testing.TB) eventstore.Store

// Run runs the whole suite.
func Run(t *testing.T, f Features, newStore Factory) {
	if f.RaceIterations == 0 {
		f.RaceIterations = 1000
	}
	if f.SlowSubscriberBytes == 0 {
		f.SlowSubscriberBytes = 64 << 20
	}
	if f.SubscriptionCycles == 0 {
		f.SubscriptionCycles = 60
	}
	s := &suite{f: f, newStore: newStore}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"AppendAndRead", s.testAppendAndRead},
		{"ExpectedVersionMatrix_ES02", s.testExpectedVersionMatrix},
		{"InvalidAppends", s.testInvalidAppends},
		{"ZeroEventAppend_ES11", s.testZeroEventAppend},
		{"SameVersionRace_ES01", s.testSameVersionRace},
		{"IdempotentRetry_ES03", s.testIdempotentRetry},
		{"ConcurrentIdenticalRetries", s.testConcurrentIdenticalRetries},
		{"IdempotencyAfterRestart_ES04", s.testIdempotencyAfterRestart},
		{"FailedBatch_ES12", s.testFailedBatch},
		{"ReadStream", s.testReadStream},
		{"ReadAllFilters", s.testReadAllFilters},
		{"ConcurrentWriters", s.testConcurrentWriters},
		{"PositionAt", s.testPositionAt},
		{"SubscribeCatchUpThenLive", s.testSubscribeCatchUpThenLive},
		{"SubscribeOneStream", s.testSubscribeOneStream},
		{"FilteredProgressMarks", s.testFilteredProgressMarks},
		{"SubscriptionContract_ES14", s.testSubscriptionContract},
		{"SlowSubscriber_ES15", s.testSlowSubscriber},
		{"Close", s.testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	f        Features
	newStore Factory
}

// store returns a fresh store and a stream prefix unique to this test.
func (s *suite) store(t testing.TB) (eventstore.Store, string) {
	t.Helper()
	st := s.newStore(t)
	t.Cleanup(func() { _ = st.Close() })
	var b [4]byte
	_, _ = rand.Read(b[:])
	return st, "t" + hex.EncodeToString(b[:]) + "-"
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Event returns an event to append with a fresh UUIDv7 id and a JSON payload.
func Event(typ string, payload string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: typ, Data: []byte(payload), Metadata: []byte(`{"source":"eventstoretest"}`)}
}

func events(n int, typ string) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = Event(typ, fmt.Sprintf(`{"n":%d}`, i))
	}
	return out
}

func mustAppend(t testing.TB, st eventstore.Store, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := st.Append(ctxT(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s (expected %s): %v", len(evs), stream, exp, err)
	}
	return res
}

func readAllPrefix(t testing.TB, st eventstore.Store, prefix string) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	var after eventstore.Position
	for {
		page, err := st.ReadAll(ctxT(t), eventstore.ReadAllOptions{After: after, Count: 1000, Filter: eventstore.Filter{StreamPrefix: prefix}})
		if err != nil {
			t.Fatalf("read all %s after %d: %v", prefix, after, err)
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out
		}
		after = page[len(page)-1].Position
	}
}

func wantConflict(t testing.TB, err error, actual uint64) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrConcurrencyConflict) {
		t.Fatalf("want ErrConcurrencyConflict, got %v", err)
	}
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConflictError, got %T %v", err, err)
	}
	if ce.Actual != actual {
		t.Fatalf("conflict reports actual %d, want %d (%v)", ce.Actual, actual, err)
	}
}

func (s *suite) testAppendAndRead(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	stream := p + "order-1"
	evs := events(3, "OrderSubmitted")
	evs[1].Data = []byte{0, 1, 2, 0xff} // binary payloads survive
	evs[2].Metadata = nil
	res := mustAppend(t, st, stream, eventstore.NoStream(), evs...)
	if res.Version != 2 || res.Duplicate {
		t.Fatalf("append result %+v, want version 2", res)
	}
	got, err := st.ReadStream(ctxT(t), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i, g := range got {
		w := evs[i]
		if g.ID != w.ID || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) || !bytes.Equal(g.Metadata, w.Metadata) || g.Stream != stream || g.Version != uint64(i) {
			t.Fatalf("event %d: got %+v, want %+v at version %d", i, g, w, i)
		}
		if g.RecordedAt.IsZero() {
			t.Fatalf("event %d has no RecordedAt", i)
		}
		if i > 0 && g.Position <= got[i-1].Position {
			t.Fatalf("positions not increasing: %d then %d", got[i-1].Position, g.Position)
		}
	}
	if got[2].Position != res.Position {
		t.Fatalf("append reported position %d, last event is at %d", res.Position, got[2].Position)
	}
	all := readAllPrefix(t, st, p)
	if len(all) != 3 || all[0].ID != evs[0].ID {
		t.Fatalf("ReadAll returned %d events", len(all))
	}
	head, err := st.Head(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if head < res.Position {
		t.Fatalf("head %d is behind the append's position %d", head, res.Position)
	}
	if s.f.IsolatedLog && s.f.DensePositions {
		if head != 3 || got[0].Position != 1 {
			t.Fatalf("dense isolated log: head %d first %d, want 3 and 1", head, got[0].Position)
		}
	}
}

func (s *suite) testExpectedVersionMatrix(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	missing := p + "missing"
	_, err := st.Append(ctx, missing, eventstore.StreamExists(), Event("E", `{}`))
	wantConflict(t, err, eventstore.NoVersion)
	_, err = st.Append(ctx, missing, eventstore.Exact(0), Event("E", `{}`))
	wantConflict(t, err, eventstore.NoVersion)

	stream := p + "s"
	mustAppend(t, st, stream, eventstore.NoStream(), Event("E", `{}`), Event("E", `{}`)) // versions 0,1
	_, err = st.Append(ctx, stream, eventstore.NoStream(), Event("E", `{}`))
	wantConflict(t, err, 1)
	for _, v := range []uint64{0, 2, 7} {
		_, err = st.Append(ctx, stream, eventstore.Exact(v), Event("E", `{}`))
		wantConflict(t, err, 1)
	}
	if r := mustAppend(t, st, stream, eventstore.Exact(1), Event("E", `{}`)); r.Version != 2 {
		t.Fatalf("Exact(1) append landed at version %d, want 2", r.Version)
	}
	if r := mustAppend(t, st, stream, eventstore.StreamExists(), Event("E", `{}`)); r.Version != 3 {
		t.Fatalf("StreamExists append landed at version %d, want 3", r.Version)
	}
	if r := mustAppend(t, st, stream, eventstore.Any(), Event("E", `{}`)); r.Version != 4 {
		t.Fatalf("Any append landed at version %d, want 4", r.Version)
	}
	if r := mustAppend(t, st, p+"fresh", eventstore.Any(), Event("E", `{}`)); r.Version != 0 {
		t.Fatalf("Any on a new stream landed at version %d, want 0", r.Version)
	}
	got, err := st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil || len(got) != 5 {
		t.Fatalf("stream holds %d events (%v), want 5: failed appends must write nothing", len(got), err)
	}
}

func (s *suite) testInvalidAppends(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	bad := []struct {
		name   string
		stream string
		evs    []eventstore.EventData
		want   error
	}{
		{"empty stream", "", []eventstore.EventData{Event("E", `{}`)}, eventstore.ErrInvalidStream},
		{"system stream", "$all", []eventstore.EventData{Event("E", `{}`)}, eventstore.ErrInvalidStream},
		{"zero id", p + "x", []eventstore.EventData{{Type: "E", Data: []byte(`{}`)}}, eventstore.ErrInvalidEvent},
		{"empty type", p + "x", []eventstore.EventData{{ID: uuid.Must(uuid.NewV7()), Data: []byte(`{}`)}}, eventstore.ErrInvalidEvent},
	}
	dup := Event("E", `{}`)
	bad = append(bad, struct {
		name   string
		stream string
		evs    []eventstore.EventData
		want   error
	}{"id twice in one call", p + "x", []eventstore.EventData{dup, dup}, eventstore.ErrInvalidEvent})
	for _, b := range bad {
		if _, err := st.Append(ctx, b.stream, eventstore.Any(), b.evs...); !errors.Is(err, b.want) {
			t.Errorf("%s: got %v, want %v", b.name, err, b.want)
		}
	}
	if evs := readAllPrefix(t, st, p); len(evs) != 0 {
		t.Fatalf("invalid appends stored %d events", len(evs))
	}
}

func (s *suite) testZeroEventAppend(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	stream := p + "z"
	r, err := st.Append(ctx, stream, eventstore.Any())
	if err != nil || r.Version != eventstore.NoVersion {
		t.Fatalf("zero-event append to a missing stream: %+v %v, want NoVersion", r, err)
	}
	if _, err := st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("a zero-event append created the stream: %v", err)
	}
	// 2,000 zero-event appends race with 200 real ones (Marten 9.43).
	const real, zeros = 200, 2000
	errc := make(chan error, 2)
	go func() {
		for i := range real {
			if _, err := st.Append(ctx, stream, eventstore.Any(), Event("E", fmt.Sprintf(`{"i":%d}`, i))); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() {
		for range zeros {
			exp := eventstore.Any()
			if _, err := st.Append(ctx, stream, exp); err != nil {
				errc <- fmt.Errorf("zero-event append: %w", err)
				return
			}
		}
		errc <- nil
	}()
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	r, err = st.Append(ctx, stream, eventstore.Exact(real-1))
	if err != nil || r.Version != real-1 {
		t.Fatalf("zero-event append with Exact(%d): %+v %v", real-1, r, err)
	}
	r = mustAppend(t, st, stream, eventstore.Exact(real-1), Event("E", `{}`))
	if r.Version != real {
		t.Fatalf("stream wedged: next append at version %d, want %d", r.Version, real)
	}
	if _, err := st.Append(ctx, stream, eventstore.Exact(3)); !errors.Is(err, eventstore.ErrConcurrencyConflict) {
		t.Fatalf("zero-event append with a wrong expected version: %v, want a conflict", err)
	}
}

func (s *suite) testSameVersionRace(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	stream := p + "race"
	const racers = 50
	type outcome struct {
		res eventstore.AppendResult
		err error
	}
	for it := 0; it < s.f.RaceIterations; it++ {
		exp := eventstore.Exact(uint64(it - 1))
		if it == 0 {
			exp = eventstore.NoStream()
		}
		start := make(chan struct{})
		out := make(chan outcome, racers)
		for g := range racers {
			go func() {
				ev := Event("Race", fmt.Sprintf(`{"it":%d,"g":%d}`, it, g))
				<-start
				r, err := st.Append(ctx, stream, exp, ev)
				out <- outcome{r, err}
			}()
		}
		close(start)
		wins := 0
		for range racers {
			o := <-out
			switch {
			case o.err == nil:
				wins++
				if o.res.Version != uint64(it) {
					t.Fatalf("iteration %d: winner at version %d", it, o.res.Version)
				}
			case errors.Is(o.err, eventstore.ErrConcurrencyConflict):
				var ce *eventstore.ConflictError
				if !errors.As(o.err, &ce) || ce.Actual != uint64(it) {
					t.Fatalf("iteration %d: conflict %v should report actual version %d", it, o.err, it)
				}
			default:
				t.Fatalf("iteration %d: unexpected error %v", it, o.err)
			}
		}
		if wins != 1 {
			t.Fatalf("iteration %d: %d winners, want exactly 1", it, wins)
		}
	}
	got, err := st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Count: s.f.RaceIterations + 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != s.f.RaceIterations {
		t.Fatalf("stream has %d events after %d iterations", len(got), s.f.RaceIterations)
	}
	for i, e := range got {
		if e.Version != uint64(i) {
			t.Fatalf("version hole: event %d has version %d", i, e.Version)
		}
	}
}

func (s *suite) testIdempotentRetry(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	stream := p + "order-7"
	evs := events(3, "OrderFilled")
	first := mustAppend(t, st, stream, eventstore.NoStream(), evs...)
	// The ack was lost: the client retries the same ids and expectation.
	for _, exp := range []eventstore.ExpectedVersion{eventstore.NoStream(), eventstore.Any()} {
		r, err := st.Append(ctx, stream, exp, evs...)
		if err != nil {
			t.Fatalf("retry with %s: %v", exp, err)
		}
		if r.Version != first.Version {
			t.Fatalf("retry reports version %d, first append %d", r.Version, first.Version)
		}
		if s.f.DurableIdempotency && (!r.Duplicate || r.Position != first.Position) {
			t.Fatalf("retry result %+v, want the original %+v marked Duplicate", r, first)
		}
	}
	assertCount := func(want int) {
		t.Helper()
		got := readAllPrefix(t, st, p)
		if len(got) != want {
			t.Fatalf("%d events stored, want %d", len(got), want)
		}
		seen := map[uuid.UUID]bool{}
		for _, e := range got {
			if seen[e.ID] {
				t.Fatalf("event id %s stored twice", e.ID)
			}
			seen[e.ID] = true
		}
	}
	assertCount(3)
	if !s.f.DurableIdempotency {
		t.Log("store does not promise durable idempotency: skipping payload-mismatch and partial-overlap checks")
		return
	}
	// More events land; a stale retry is still recognised, not a conflict.
	mustAppend(t, st, stream, eventstore.Exact(2), Event("OrderFilled", `{"more":1}`))
	if r, err := st.Append(ctx, stream, eventstore.NoStream(), evs...); err != nil || !r.Duplicate {
		t.Fatalf("stale retry: %+v %v, want a duplicate", r, err)
	}
	// Same id, different payload.
	changed := evs[0]
	changed.Data = []byte(`{"n":"changed"}`)
	if _, err := st.Append(ctx, stream, eventstore.Any(), changed); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("same id, other payload: %v, want ErrDuplicateEventID", err)
	}
	// Same id and payload, another stream.
	if _, err := st.Append(ctx, p+"other", eventstore.Any(), evs[0]); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("same id, other stream: %v, want ErrDuplicateEventID", err)
	}
	// Partial overlap: E1-E3 stored, retry E1-E5.
	more := append(append([]eventstore.EventData{}, evs...), events(2, "OrderFilled")...)
	if _, err := st.Append(ctx, stream, eventstore.Any(), more...); !errors.Is(err, eventstore.ErrPartialDuplicate) {
		t.Fatalf("partial overlap: %v, want ErrPartialDuplicate", err)
	}
	assertCount(4)
	// The documented recovery: drop the stored ones, append the rest.
	mustAppend(t, st, stream, eventstore.Exact(3), more[3:]...)
	assertCount(6)
}

// testConcurrentIdenticalRetries: two clients send the same event (same id,
// same payload) at the same moment, while other writers keep the store
// busy: both succeed and it is stored once.
func (s *suite) testConcurrentIdenticalRetries(t *testing.T) {
	if !s.f.DurableIdempotency {
		t.Skip("store does not promise durable idempotency (Features.DurableIdempotency)")
	}
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		for bg.Err() == nil {
			_, _ = st.Append(bg, p+"busy", eventstore.Any(), Event("B", `{}`))
		}
	}()
	const rounds = 300
	for i := range rounds {
		ev := Event("R", fmt.Sprintf(`{"i":%d}`, i))
		start := make(chan struct{})
		res := make(chan error, 2)
		for range 2 {
			go func() {
				<-start
				_, err := st.Append(ctx, p+"retried", eventstore.Any(), ev)
				res <- err
			}()
		}
		close(start)
		for range 2 {
			select {
			case err := <-res:
				if err != nil {
					t.Fatalf("round %d: concurrent identical append failed: %v", i, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: concurrent identical appends did not finish (deadlock?)", i)
			}
		}
	}
	stopBG()
	<-bgDone
	got, err := st.ReadStream(ctx, p+"retried", eventstore.ReadStreamOptions{Count: 2 * rounds})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != rounds {
		t.Fatalf("%d events stored for %d rounds of identical pairs", len(got), rounds)
	}
}

func (s *suite) testIdempotencyAfterRestart(t *testing.T) {
	if s.f.Reopen == nil {
		t.Skip("store cannot be reopened on the same data (Features.Reopen is nil)")
	}
	st, p := s.store(t)
	stream := p + "restart"
	evs := events(4, "OrderAccepted")
	first := mustAppend(t, st, stream, eventstore.NoStream(), evs...)
	head, _ := st.Head(ctxT(t))
	st = s.f.Reopen(t, st)
	t.Cleanup(func() { _ = st.Close() })
	h2, err := st.Head(ctxT(t))
	if err != nil || h2 != head {
		t.Fatalf("head after reopen %d (%v), before %d", h2, err, head)
	}
	r, err := st.Append(ctxT(t), stream, eventstore.NoStream(), evs...)
	if err != nil || !r.Duplicate || r.Position != first.Position {
		t.Fatalf("retry after restart: %+v %v, want duplicate of %+v", r, err, first)
	}
	if r := mustAppend(t, st, stream, eventstore.Exact(3), Event("OrderAccepted", `{}`)); r.Version != 4 {
		t.Fatalf("append after restart at version %d, want 4", r.Version)
	}
	if got := readAllPrefix(t, st, p); len(got) != 5 {
		t.Fatalf("%d events after restart, want 5", len(got))
	}
}

func (s *suite) testFailedBatch(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	sub, err := st.Subscribe(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	stream := p + "batch"
	taken := Event("E", `{"taken":true}`)
	mustAppend(t, st, p+"elsewhere", eventstore.Any(), taken)

	batch := events(5, "E")
	batch[2].Type = "" // fails validation
	if _, err := st.Append(ctx, stream, eventstore.Any(), batch...); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("batch with a bad 3rd event: %v", err)
	}
	if s.f.DurableIdempotency {
		batch = events(5, "E")
		batch[2] = taken // violates the id constraint
		if _, err := st.Append(ctx, stream, eventstore.Any(), batch...); err == nil {
			t.Fatal("batch whose 3rd event reuses a stored id was accepted")
		}
	}
	if _, err := st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("failed batches left events behind: %v", err)
	}
	good := mustAppend(t, st, stream, eventstore.NoStream(), events(5, "E")...)
	// The subscription sees the 6 good events and catches up: no gap stalls it.
	var got []eventstore.RecordedEvent
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Events...)
		if m.CaughtUp && m.Position >= good.Position {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription did not catch up to %d within 10s", good.Position)
		}
	}
	if len(got) != 6 {
		t.Fatalf("subscriber saw %d events, want 6", len(got))
	}
	if s.f.DensePositions {
		for i := 1; i < len(got); i++ {
			if got[i].Position != got[i-1].Position+1 {
				t.Fatalf("hole after failed batches: %d then %d", got[i-1].Position, got[i].Position)
			}
		}
	}
}

func (s *suite) testReadStream(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	stream := p + "rs"
	// Three appends of 4, 1 and 5 events: reads cross chunk boundaries.
	mustAppend(t, st, stream, eventstore.NoStream(), events(4, "E")...)
	mustAppend(t, st, p+"noise", eventstore.Any(), events(3, "N")...)
	mustAppend(t, st, stream, eventstore.Exact(3), events(1, "E")...)
	mustAppend(t, st, stream, eventstore.Exact(4), events(5, "E")...)
	versions := func(evs []eventstore.RecordedEvent) []uint64 {
		v := make([]uint64, len(evs))
		for i, e := range evs {
			v[i] = e.Version
			if e.Stream != stream {
				t.Fatalf("ReadStream returned an event of %s", e.Stream)
			}
		}
		return v
	}
	cases := []struct {
		name string
		opts eventstore.ReadStreamOptions
		want []uint64
	}{
		{"all forwards", eventstore.ReadStreamOptions{}, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"forwards from 3, 4 events", eventstore.ReadStreamOptions{From: 3, Count: 4}, []uint64{3, 4, 5, 6}},
		{"forwards past the end", eventstore.ReadStreamOptions{From: 10}, []uint64{}},
		{"backwards from end, 3", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Count: 3}, []uint64{9, 8, 7}},
		{"backwards from 4", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: 4}, []uint64{4, 3, 2, 1, 0}},
		{"backwards from past the end", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: 50, Count: 2}, []uint64{9, 8}},
	}
	for _, c := range cases {
		got, err := st.ReadStream(ctx, stream, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if fmt.Sprint(versions(got)) != fmt.Sprint(c.want) {
			t.Errorf("%s: versions %v, want %v", c.name, versions(got), c.want)
		}
	}
	if _, err := st.ReadStream(ctx, p+"nope", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("missing stream: %v, want ErrStreamNotFound", err)
	}
}

func (s *suite) testReadAllFilters(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	mustAppend(t, st, p+"tick-NSE:NIFTY 50", eventstore.Any(), events(3, "TickReceived")...)
	mustAppend(t, st, p+"order-1", eventstore.Any(), Event("OrderSubmitted", `{}`), Event("OrderFilled", `{}`))
	mustAppend(t, st, p+"order-10", eventstore.Any(), Event("OrderSubmitted", `{}`))
	mustAppend(t, st, p+"tick-NFO:NIFTY26NOVFUT", eventstore.Any(), events(2, "TickReceived")...)
	all := readAllPrefix(t, st, p)
	if len(all) != 8 {
		t.Fatalf("%d events, want 8", len(all))
	}
	read := func(f eventstore.Filter, after eventstore.Position, count int) []eventstore.RecordedEvent {
		if f.StreamPrefix == "" && f.Stream == "" {
			f.StreamPrefix = p
		}
		got, err := st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: count, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := read(eventstore.Filter{StreamPrefix: p + "tick-"}, 0, 0); len(got) != 5 {
		t.Errorf("prefix tick-: %d events, want 5", len(got))
	}
	if got := read(eventstore.Filter{Stream: p + "order-1"}, 0, 0); len(got) != 2 {
		t.Errorf("exact stream order-1: %d events, want 2 (order-10 must not match)", len(got))
	}
	if got := read(eventstore.Filter{Types: []string{"OrderSubmitted"}}, 0, 0); len(got) != 2 {
		t.Errorf("type OrderSubmitted: %d events, want 2", len(got))
	}
	if got := read(eventstore.Filter{Types: []string{"OrderFilled", "OrderSubmitted"}}, 0, 2); len(got) != 2 || got[1].Type != "OrderFilled" {
		t.Errorf("two types, count 2: %v", got)
	}
	// After is exclusive, from the middle of an append's events.
	mid := all[1].Position
	got := read(eventstore.Filter{}, mid, 3)
	if len(got) != 3 || got[0].ID != all[2].ID {
		t.Fatalf("after %d: got %d events starting %v, want from %s", mid, len(got), got, all[2].ID)
	}
	if got := read(eventstore.Filter{}, all[7].Position, 0); len(got) != 0 {
		t.Fatalf("after the last event: %d events", len(got))
	}
}

func (s *suite) testConcurrentWriters(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	const writers, perWriter = 8, 100
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			stream := fmt.Sprintf("%sw-%d", p, w)
			for i := range perWriter {
				n := 1 + i%3
				exp := eventstore.Exact(uint64(0))
				if i == 0 {
					exp = eventstore.NoStream()
				}
				// Writers track their own version: each append must succeed.
				_ = exp
				if _, err := st.Append(ctx, stream, eventstore.Any(), events(n, "W")...); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	all := readAllPrefix(t, st, p)
	perStream := map[string]uint64{}
	total := 0
	for w := range writers {
		for i := range perWriter {
			total += 1 + i%3
		}
		_ = w
	}
	if len(all) != total {
		t.Fatalf("%d events, want %d", len(all), total)
	}
	for i, e := range all {
		if i > 0 && e.Position <= all[i-1].Position {
			t.Fatalf("positions not increasing at %d", i)
		}
		if s.f.DensePositions && i > 0 && e.Position != all[i-1].Position+1 {
			t.Fatalf("position hole between %d and %d", all[i-1].Position, e.Position)
		}
		want, seen := perStream[e.Stream]
		if !seen && e.Version != 0 || seen && e.Version != want+1 {
			t.Fatalf("stream %s: version %d after %d", e.Stream, e.Version, want)
		}
		perStream[e.Stream] = e.Version
	}
}

func (s *suite) testPositionAt(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	mustAppend(t, st, p+"a", eventstore.Any(), events(3, "E")...)
	all := readAllPrefix(t, st, p)
	// Wait (polling) until the clock has moved past the first batch.
	for !time.Now().After(all[2].RecordedAt.Add(2 * time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
	mustAppend(t, st, p+"b", eventstore.Any(), events(2, "E")...)
	all = readAllPrefix(t, st, p)
	second := all[3]
	if !second.RecordedAt.After(all[2].RecordedAt) {
		t.Skipf("store clock did not advance between appends (%v, %v)", all[2].RecordedAt, second.RecordedAt)
	}
	pos, ok, err := st.PositionAt(ctx, second.RecordedAt)
	if err != nil || !ok {
		t.Fatalf("PositionAt(%v): %d %v %v", second.RecordedAt, pos, ok, err)
	}
	if pos > second.Position || pos <= all[2].Position {
		t.Fatalf("PositionAt(%v) = %d, want in (%d, %d]", second.RecordedAt, pos, all[2].Position, second.Position)
	}
	if s.f.IsolatedLog && pos != second.Position {
		t.Fatalf("PositionAt = %d, want %d", pos, second.Position)
	}
	pos, ok, err = st.PositionAt(ctx, all[0].RecordedAt)
	if err != nil || !ok || pos > all[0].Position {
		t.Fatalf("PositionAt(first) = %d %v %v, want <= %d", pos, ok, err, all[0].Position)
	}
	if _, ok, err := st.PositionAt(ctx, time.Now().Add(24*time.Hour)); err != nil || ok {
		t.Fatalf("PositionAt(tomorrow) = %v %v, want none", ok, err)
	}
}

// collector reads a subscription and checks the contract as it goes.
type collector struct {
	t        testing.TB
	sub      eventstore.Subscription
	got      []eventstore.RecordedEvent
	seen     map[uuid.UUID]bool
	lastPos  eventstore.Position
	caughtAt eventstore.Position
	caught   bool
}

func newCollector(t testing.TB, sub eventstore.Subscription, from eventstore.Position) *collector {
	return &collector{t: t, sub: sub, seen: map[uuid.UUID]bool{}, lastPos: from}
}

func (c *collector) next(ctx context.Context) error {
	m, err := c.sub.Next(ctx)
	if err != nil {
		return err
	}
	for _, e := range m.Events {
		if e.Position <= c.lastPos {
			c.t.Fatalf("ordered/unique broken: position %d after %d", e.Position, c.lastPos)
		}
		if c.seen[e.ID] {
			c.t.Fatalf("unique broken: event %s delivered twice", e.ID)
		}
		c.seen[e.ID] = true
		c.lastPos = e.Position
		c.got = append(c.got, e)
	}
	if m.CaughtUp {
		c.caught, c.caughtAt = true, m.Position
	} else {
		c.caught = false
	}
	return nil
}

// until reads until cond holds, failing after 20 s.
func (c *collector) until(ctx context.Context, what string, cond func() bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for !cond() {
		if err := c.next(ctx); err != nil {
			c.t.Fatalf("waiting for %s: %v (have %d events)", what, err, len(c.got))
		}
	}
}

func (s *suite) testSubscribeCatchUpThenLive(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	for i := range 10 {
		mustAppend(t, st, fmt.Sprintf("%ss-%d", p, i%3), eventstore.Any(), events(10, "E")...)
	}
	sub, err := st.Subscribe(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	c := newCollector(t, sub, eventstore.Start)
	c.until(ctx, "catch-up of 100 events", func() bool { return c.caught && len(c.got) >= 100 })
	if len(c.got) != 100 {
		t.Fatalf("caught up with %d events, want 100", len(c.got))
	}
	// Bookmarkable: everything at or before the caught-up position is out.
	if hist := readAllPrefix(t, st, p); hist[len(hist)-1].Position > c.caughtAt {
		t.Fatalf("caught up at %d but the last event is at %d", c.caughtAt, hist[len(hist)-1].Position)
	}
	// Live: appends after catch-up arrive, in order.
	done := make(chan error, 1)
	go func() {
		for i := range 20 {
			if _, err := st.Append(ctx, p+"live", eventstore.Any(), events(5, "L")...); err != nil {
				done <- err
				return
			}
			_ = i
		}
		done <- nil
	}()
	c.until(ctx, "200 events", func() bool { return len(c.got) >= 200 })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	hist := readAllPrefix(t, st, p)
	if len(hist) != len(c.got) {
		t.Fatalf("delivered %d, stored %d", len(c.got), len(hist))
	}
	for i := range hist {
		if hist[i].ID != c.got[i].ID {
			t.Fatalf("event %d: delivered %s, stored %s", i, c.got[i].ID, hist[i].ID)
		}
	}
	// Resume from the middle: exactly the events after it.
	mid := hist[137].Position
	sub2, err := st.Subscribe(ctx, mid, eventstore.Filter{StreamPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	c2 := newCollector(t, sub2, mid)
	c2.until(ctx, "resume", func() bool { return c2.caught })
	if len(c2.got) != len(hist)-138 || c2.got[0].ID != hist[138].ID {
		t.Fatalf("resume from %d delivered %d events, want %d starting at %s", mid, len(c2.got), len(hist)-138, hist[138].ID)
	}
	// A type filter skips the rest but still reports caught up.
	sub3, err := st.Subscribe(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: p, Types: []string{"L"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub3.Close()
	c3 := newCollector(t, sub3, eventstore.Start)
	c3.until(ctx, "type-filtered catch-up", func() bool { return c3.caught && len(c3.got) >= 100 })
	for _, e := range c3.got {
		if e.Type != "L" {
			t.Fatalf("type filter let %s through", e.Type)
		}
	}
}

// testFilteredProgressMarks: a type-filtered subscription that is caught up
// learns that the log moved past events it does not want.
func (s *suite) testFilteredProgressMarks(t *testing.T) {
	if !s.f.ProgressMarks {
		t.Skip("this store does not promise progress marks (Features.ProgressMarks)")
	}
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	mustAppend(t, st, p+"a", eventstore.Any(), events(3, "Wanted")...)
	sub, err := st.Subscribe(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: p, Types: []string{"Wanted"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	c := newCollector(t, sub, eventstore.Start)
	c.until(ctx, "catch-up", func() bool { return c.caught && len(c.got) == 3 })
	for round := range 3 {
		res := mustAppend(t, st, p+"b", eventstore.Any(), events(2, "Other")...)
		c.until(ctx, fmt.Sprintf("progress mark %d past %d", round, res.Position), func() bool { return c.caught && c.caughtAt >= res.Position })
		if len(c.got) != 3 {
			t.Fatalf("the filter let %d events through, want 3", len(c.got))
		}
	}
	res := mustAppend(t, st, p+"a", eventstore.Any(), events(1, "Wanted")...)
	c.until(ctx, "the next wanted event", func() bool { return len(c.got) == 4 })
	if c.got[3].Position != res.Position {
		t.Fatalf("delivered position %d, appended %d", c.got[3].Position, res.Position)
	}
}

// testSubscribeOneStream: a subscription to one exact stream, from the start
// and resumed from positions of other streams' events, with a type filter.
func (s *suite) testSubscribeOneStream(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	a, b := p+"one-a", p+"one-a0" // b has a's name as a prefix: must not match
	for i := range 30 {
		mustAppend(t, st, a, eventstore.Any(), Event(fmt.Sprintf("T%d", i%2), fmt.Sprintf(`{"i":%d}`, i)))
		mustAppend(t, st, b, eventstore.Any(), Event("T0", `{}`), Event("T1", `{}`))
	}
	all := readAllPrefix(t, st, p)
	var wantA []eventstore.RecordedEvent
	for _, e := range all {
		if e.Stream == a {
			wantA = append(wantA, e)
		}
	}
	check := func(from eventstore.Position, types []string) {
		t.Helper()
		sub, err := st.Subscribe(ctx, from, eventstore.Filter{Stream: a, Types: types})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		c := newCollector(t, sub, from)
		c.until(ctx, "one-stream catch-up", func() bool { return c.caught })
		var want []eventstore.RecordedEvent
		for _, e := range wantA {
			if e.Position > from && (len(types) == 0 || e.Type == types[0]) {
				want = append(want, e)
			}
		}
		if len(c.got) != len(want) {
			t.Fatalf("from %d types %v: %d events, want %d", from, types, len(c.got), len(want))
		}
		for i := range want {
			if c.got[i].ID != want[i].ID {
				t.Fatalf("from %d: event %d is %s, want %s", from, i, c.got[i].ID, want[i].ID)
			}
		}
	}
	check(eventstore.Start, nil)
	check(all[37].Position, nil) // a position of some event in the middle
	check(all[38].Position, nil)
	check(all[len(all)-1].Position, nil)
	check(eventstore.Start, []string{"T1"})
	// Live: new events of the stream arrive after catch-up.
	sub, err := st.Subscribe(ctx, all[len(all)-1].Position, eventstore.Filter{Stream: a})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	c := newCollector(t, sub, all[len(all)-1].Position)
	c.until(ctx, "caught up", func() bool { return c.caught })
	mustAppend(t, st, b, eventstore.Any(), Event("T0", `{}`))
	mustAppend(t, st, a, eventstore.Any(), Event("T0", `{"live":1}`))
	c.until(ctx, "live event", func() bool { return len(c.got) == 1 })
	if c.got[0].Stream != a {
		t.Fatalf("live event from %s", c.got[0].Stream)
	}
}

// testSubscriptionContract is ES-14: writers run while a subscriber is
// stopped at random points and resumed from its checkpoint; the concatenated
// deliveries must be exactly the log, in order, with no gap or duplicate.
func (s *suite) testSubscriptionContract(t *testing.T) {
	t.Parallel()
	st, p := s.store(t)
	ctx := ctxT(t)
	writers, appends := 4, 150
	if s.f.SubscriptionCycles > 150 {
		appends = s.f.SubscriptionCycles // keep writers busy for every cycle
	}
	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range appends {
				if wctx.Err() != nil {
					break
				}
				if _, err := st.Append(wctx, fmt.Sprintf("%sc-%d", p, w), eventstore.Any(), events(1+i%4, "C")...); err != nil && wctx.Err() == nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	var delivered []eventstore.RecordedEvent
	var checkpoint eventstore.Position
	var mrand [1]byte
	for cycle := 0; cycle < s.f.SubscriptionCycles; cycle++ {
		sctx, cancel := context.WithCancel(ctx)
		sub, err := st.Subscribe(sctx, checkpoint, eventstore.Filter{StreamPrefix: p})
		if err != nil {
			t.Fatal(err)
		}
		c := newCollector(t, sub, checkpoint)
		_, _ = rand.Read(mrand[:])
		steps := 1 + int(mrand[0]%5)
		for range steps {
			nctx, ncancel := context.WithTimeout(sctx, 5*time.Second)
			err := c.next(nctx)
			ncancel()
			if err != nil {
				break // nothing new within the window: resume later
			}
		}
		// "Kill" the subscriber: everything it had not processed is lost;
		// it resumes from the last event it processed.
		_ = sub.Close()
		cancel()
		delivered = append(delivered, c.got...)
		checkpoint = c.lastPos
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	// Drain what is left.
	sub, err := st.Subscribe(ctx, checkpoint, eventstore.Filter{StreamPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(t, sub, checkpoint)
	hist := readAllPrefix(t, st, p)
	c.until(ctx, "final drain", func() bool { return c.caught && len(delivered)+len(c.got) >= len(hist) })
	_ = sub.Close()
	delivered = append(delivered, c.got...)
	if len(delivered) != len(hist) {
		t.Fatalf("delivered %d events across restarts, log has %d", len(delivered), len(hist))
	}
	for i := range hist {
		if delivered[i].ID != hist[i].ID || delivered[i].Position != hist[i].Position {
			t.Fatalf("event %d: delivered %s@%d, log %s@%d", i, delivered[i].ID, delivered[i].Position, hist[i].ID, hist[i].Position)
		}
	}
}

// testSlowSubscriber is ES-15: a subscriber that stops reading while
// writers append must not make the store buffer what it has not read; when
// it resumes reading, nothing is missing.
func (s *suite) testSlowSubscriber(t *testing.T) {
	st, p := s.store(t)
	ctx := ctxT(t)
	const payload = 16 << 10
	n := s.f.SlowSubscriberBytes / payload
	sub, err := st.Subscribe(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	c := newCollector(t, sub, eventstore.Start)
	mustAppend(t, st, p+"slow", eventstore.Any(), Event("S", `{}`))
	c.until(ctx, "first event", func() bool { return len(c.got) == 1 })

	before := heapInUse()
	big := bytes.Repeat([]byte("x"), payload-16)
	for i := 0; i < n; i += 16 {
		batch := make([]eventstore.EventData, 16)
		for j := range batch {
			batch[j] = eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "S", Data: fmt.Appendf(nil, `"%d%s"`, i+j, big)}
		}
		mustAppend(t, st, p+"slow", eventstore.Any(), batch...)
	}
	grown := heapInUse() - before
	limit := int64(s.f.SlowSubscriberBytes / 2)
	t.Logf("appended %d MiB while the subscriber stalled; heap grew %d MiB (limit %d MiB)", s.f.SlowSubscriberBytes>>20, grown>>20, limit>>20)
	if grown > limit {
		t.Fatalf("heap grew %d bytes while a subscriber stalled over %d appended bytes: the store is buffering for it", grown, s.f.SlowSubscriberBytes)
	}
	// Now read slowly (a page at a time) to the end: nothing lost.
	total := 1 + n
	c.got = c.got[:0] // keep memory flat; the collector still checks order
	count := 1
	for count < total {
		before := len(c.got)
		nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := c.next(nctx)
		cancel()
		if err != nil {
			t.Fatalf("slow reader stopped after %d of %d events: %v", count, total, err)
		}
		count += len(c.got) - before
		c.got = c.got[:0]
	}
	if count != total {
		t.Fatalf("slow reader got %d events, want %d", count, total)
	}
}

func (s *suite) testClose(t *testing.T) {
	t.Parallel()
	st := s.newStore(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	stream := "t" + hex.EncodeToString(b[:]) + "-close"
	mustAppend(t, st, stream, eventstore.Any(), Event("E", `{}`))
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := st.Append(ctxT(t), stream, eventstore.Any(), Event("E", `{}`)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
