package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/ingest"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// fakeStore records appends; gate, when set, blocks appends until closed;
// failures makes the first N appends fail.
type fakeStore struct {
	mu       sync.Mutex
	calls    []call
	gate     chan struct{}
	failures int
	attempts map[uuid.UUID]int
}

type call struct {
	stream string
	events []eventstore.EventData
}

func (f *fakeStore) Append(ctx context.Context, stream string, _ eventstore.ExpectedVersion, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return eventstore.AppendResult{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.attempts == nil {
		f.attempts = map[uuid.UUID]int{}
	}
	for _, e := range evs {
		f.attempts[e.ID]++
	}
	if f.failures > 0 {
		f.failures--
		return eventstore.AppendResult{}, fmt.Errorf("disk hiccup: %w", eventstore.ErrUnavailable)
	}
	f.calls = append(f.calls, call{stream, slices.Clone(evs)})
	return eventstore.AppendResult{}, nil
}

func (f *fakeStore) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeStore) count(stream string) int {
	n := 0
	for _, c := range f.snapshot() {
		if stream == "" || c.stream == stream {
			n += len(c.events)
		}
	}
	return n
}

var t0 = time.Date(2026, 11, 20, 9, 15, 0, 0, domain.IST())

func ticks(n, from int, symbol string) []domain.Tick {
	out := make([]domain.Tick, n)
	for i := range out {
		out[i] = domain.Tick{Provider: "sim", Exchange: "NFO", Symbol: symbol, ExchangeTime: t0.Add(time.Duration(from+i) * time.Second),
			LTP: domain.Price(2600000 + i*5), Bid: domain.Price(2599995 + i*5), Ask: domain.Price(2600005 + i*5), BidQty: 65, AskQty: 130, Volume: int64(65 * (i + 1))}
	}
	return out
}

func startRecorder(t *testing.T, st ingest.Appender, cfg ingest.Config) (*ingest.Recorder, func() error) {
	t.Helper()
	if cfg.Provider == "" {
		cfg.Provider = "sim"
	}
	r, err := ingest.NewRecorder(st, codec.NewRegistry(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("recorder did not stop within 15s")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return r, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestBatchesBySizeAndKeepsOrder(t *testing.T) {
	st := &fakeStore{}
	r, stop := startRecorder(t, st, ingest.Config{MaxBatch: 100, MaxDelay: time.Hour})
	ctx := context.Background()
	// Each Accept reaches MaxBatch, so each leaves a flush due.
	for i := 0; i < 300; i += 100 {
		if err := r.Accept(ctx, append(ticks(50, i, "NIFTY26NOVFUT"), ticks(50, i, "BANKNIFTY26NOVFUT")...)); err != nil {
			t.Fatal(err)
		}
	}
	// MaxDelay is an hour: only the size trigger can have flushed these.
	waitFor(t, "size-triggered flushes", func() bool { return st.count("") >= 300 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[uuid.UUID]bool{}
	last := map[string]time.Time{}
	dec := codec.NewRegistry()
	for _, c := range st.snapshot() {
		for _, e := range c.events {
			if seen[e.ID] {
				t.Fatalf("event %s appended twice", e.ID)
			}
			seen[e.ID] = true
			ev, err := dec.Decode(&eventstore.RecordedEvent{Type: e.Type, Data: e.Data, Metadata: e.Metadata})
			if err != nil {
				t.Fatal(err)
			}
			tk := ev.(domain.Tick)
			if c.stream != tk.Stream() {
				t.Fatalf("tick of %s appended to %s", tk.Stream(), c.stream)
			}
			if tk.ExchangeTime.Before(last[c.stream]) {
				t.Fatalf("%s: ticks out of order", c.stream)
			}
			last[c.stream] = tk.ExchangeTime
		}
	}
	if s := r.Stats(); s.Recorded != 300 || s.Accepted != 300 || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFlushesAfterMaxDelay(t *testing.T) {
	st := &fakeStore{}
	r, stop := startRecorder(t, st, ingest.Config{MaxBatch: 1 << 20, MaxDelay: 10 * time.Millisecond})
	if err := r.Accept(context.Background(), ticks(5, 0, "NIFTY26NOVFUT")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delay-triggered flush", func() bool { return st.count("") == 5 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestDropPolicyRecordsFeedGap: the store stalls, the buffer fills, further
// ticks are dropped and counted, and the first append once the store
// recovers is a FeedGap that says how many and when.
func TestDropPolicyRecordsFeedGap(t *testing.T) {
	st := &fakeStore{gate: make(chan struct{})}
	const bound = 8 << 10
	r, stop := startRecorder(t, st, ingest.Config{MaxBatch: 10, MaxDelay: time.Millisecond, MaxPendingBytes: bound, Overflow: ingest.Drop})
	ctx := context.Background()
	sent := 0
	for i := range 100 {
		done := make(chan error, 1)
		go func() { done <- r.Accept(ctx, ticks(10, i*10, "NIFTY26NOVFUT")) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Accept blocked under the Drop policy")
		}
		sent += 10
		if p := r.Stats().PendingBytes; p > bound {
			t.Fatalf("buffer holds %d bytes, bound %d", p, bound)
		}
	}
	s := r.Stats()
	if s.Dropped == 0 {
		t.Fatal("nothing was dropped although the store was stalled and the buffer bounded")
	}
	close(st.gate)
	waitFor(t, "recovery", func() bool {
		s := r.Stats()
		return s.Recorded+s.Dropped == int64(sent) && s.Gaps >= 1 && s.PendingTicks == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Drops may straddle two flushes, so there may be more than one FeedGap;
	// together they must account for every dropped tick.
	var gapped int64
	reg := codec.NewRegistry()
	for _, c := range st.snapshot() {
		if c.stream != domain.ProviderStream("sim") {
			continue
		}
		for _, e := range c.events {
			ev, err := reg.Decode(&eventstore.RecordedEvent{Type: e.Type, Data: e.Data, Metadata: e.Metadata})
			if err != nil {
				t.Fatal(err)
			}
			g := ev.(domain.FeedGap)
			gapped += g.Dropped
			if g.From.After(g.To) || g.From.Before(t0) || g.To.After(t0.Add(time.Duration(sent)*time.Second)) {
				t.Fatalf("gap window %v..%v is wrong", g.From, g.To)
			}
			if g.Provider != "sim" || g.Reason == "" {
				t.Fatalf("gap %+v lacks provider or reason", g)
			}
		}
	}
	if gapped != r.Stats().Dropped || int64(r.Stats().Gaps) == 0 {
		t.Fatalf("FeedGap events account for %d dropped ticks, stats say %d", gapped, r.Stats().Dropped)
	}
	if got := st.count("tick-NFO:NIFTY26NOVFUT"); int64(got) != r.Stats().Recorded {
		t.Fatalf("%d ticks in the store, stats say %d", got, r.Stats().Recorded)
	}
}

// TestBlockPolicyWaits: under Block, a full buffer makes Accept wait (and
// give up with ctx), and nothing is dropped.
func TestBlockPolicyWaits(t *testing.T) {
	st := &fakeStore{gate: make(chan struct{})}
	r, stop := startRecorder(t, st, ingest.Config{MaxBatch: 10, MaxDelay: time.Millisecond, MaxPendingBytes: 4 << 10, Overflow: ingest.Block})
	ctx := context.Background()
	accepted := 0
	for i := 0; ; i++ {
		actx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := r.Accept(actx, ticks(10, i*10, "NIFTY26NOVFUT"))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break // blocked: the buffer is full and the store stalled
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted += 10
		if i > 1000 {
			t.Fatal("Accept never blocked although the store stalled")
		}
	}
	done := make(chan error, 1)
	go func() { done <- r.Accept(ctx, ticks(10, 100000, "NIFTY26NOVFUT")) }()
	close(st.gate)
	if err := <-done; err != nil {
		t.Fatalf("blocked Accept after the store recovered: %v", err)
	}
	accepted += 10
	waitFor(t, "all recorded", func() bool { return r.Stats().Recorded == int64(accepted) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Dropped != 0 || s.Gaps != 0 {
		t.Fatalf("Block policy dropped ticks: %+v", s)
	}
}

// TestRetriesWithSameIDs: a failed append is retried with the same event
// ids, so an append that failed ambiguously cannot be duplicated.
func TestRetriesWithSameIDs(t *testing.T) {
	st := &fakeStore{failures: 2}
	r, stop := startRecorder(t, st, ingest.Config{MaxBatch: 5, MaxDelay: time.Millisecond, RetryInterval: time.Millisecond})
	if err := r.Accept(context.Background(), ticks(5, 0, "NIFTY26NOVFUT")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recorded after retries", func() bool { return st.count("") == 5 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, n := range st.attempts {
		if n != 3 {
			t.Fatalf("event %s attempted %d times, want 3 (2 failures + 1 success) with the same id", id, n)
		}
	}
	if r.Stats().AppendRetries != 2 {
		t.Fatalf("retries %d, want 2", r.Stats().AppendRetries)
	}
}

// TestStopFlushesAndRefuses: stopping appends what is buffered, then
// Accept fails with ErrStopped.
func TestStopFlushesAndRefuses(t *testing.T) {
	st := &fakeStore{}
	r, stop := startRecorder(t, st, ingest.Config{MaxBatch: 1 << 20, MaxDelay: time.Hour})
	if err := r.Accept(context.Background(), ticks(42, 0, "NIFTY26NOVFUT")); err != nil {
		t.Fatal(err)
	}
	if st.count("") != 0 {
		t.Fatal("flushed before the delay or the size trigger")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st.count("") != 42 {
		t.Fatalf("stop appended %d of 42 buffered ticks", st.count(""))
	}
	if err := r.Accept(context.Background(), ticks(1, 0, "NIFTY26NOVFUT")); !errors.Is(err, ingest.ErrStopped) {
		t.Fatalf("Accept after stop: %v, want ErrStopped", err)
	}
}

func TestRejectsInvalidTicks(t *testing.T) {
	st := &fakeStore{}
	r, stop := startRecorder(t, st, ingest.Config{MaxBatch: 1, MaxDelay: time.Millisecond})
	bad := ticks(3, 0, "NIFTY26NOVFUT")
	bad[0].LTP = 0
	bad[1].Bid = bad[1].Ask + 5 // crossed quote
	if err := r.Accept(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the valid tick", func() bool { return st.count("") == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Invalid != 2 || s.Recorded != 1 {
		t.Fatalf("stats %+v, want 2 invalid and 1 recorded", s)
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := ingest.NewRecorder(&fakeStore{}, codec.NewRegistry(), ingest.Config{}); err == nil {
		t.Fatal("a recorder without a provider was accepted")
	}
	if _, err := ingest.NewRecorder(&fakeStore{}, codec.NewRegistry(), ingest.Config{Provider: "x", Overflow: 7}); err == nil {
		t.Fatal("an unknown overflow policy was accepted")
	}
}
