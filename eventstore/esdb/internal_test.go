package esdb

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
)

func TestToExpectedRevision(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   eventstore.ExpectedVersion
		want esdb.ExpectedRevision
	}{
		{eventstore.Any(), esdb.Any{}},
		{eventstore.ExpectedVersion{}, esdb.Any{}}, // the zero value is Any
		{eventstore.NoStream(), esdb.NoStream{}},
		{eventstore.StreamExists(), esdb.StreamExists{}},
		{eventstore.Exact(0), esdb.Revision(0)},
		{eventstore.Exact(41), esdb.Revision(41)},
		{eventstore.Exact(1 << 40), esdb.Revision(1 << 40)},
		{eventstore.Exact(eventstore.NoVersion), esdb.NoStream{}},
	}
	for _, c := range cases {
		if got := toExpectedRevision(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("toExpectedRevision(%s) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestActualFromError(t *testing.T) {
	t.Parallel()
	wrong := func(expected, current string) error {
		return fmt.Errorf("append: %w", fmt.Errorf("[ErrorCodeWrongExpectedVersion] an append request failed the optimistic concurrency on the server: wrong expected version: expecting '%s' but got '%s'", expected, current))
	}
	cases := []struct {
		err    error
		want   uint64
		wantOK bool
	}{
		{wrong("0", "no_stream"), eventstore.NoVersion, true},
		{wrong("stream_exists", "no_stream"), eventstore.NoVersion, true},
		{wrong("no_stream", "1"), 1, true},
		{wrong("7", "123456789"), 123456789, true},
		{wrong("3", "-1"), eventstore.NoVersion, true},
		{wrong("3", "x"), 0, false},
		{errors.New("wrong expected version"), 0, false},
	}
	for _, c := range cases {
		got, ok := actualFromError(c.err)
		if got != c.want || ok != c.wantOK {
			t.Errorf("actualFromError(%q) = %d, %v; want %d, %v", c.err, got, ok, c.want, c.wantOK)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"esdb://h:2113?tls=false":                  "esdb://h:2113?tls=false",
		"  esdb://h:2113  ":                        "esdb://h:2113",
		"kurrentdb://h:2113?tls=false":             "esdb://h:2113?tls=false",
		"KurrentDB://h:2113":                       "esdb://h:2113",
		"kurrentdb+discover://a:2113,b:2113":       "esdb+discover://a:2113,b:2113",
		"kdb://u:p@h:2113":                         "esdb://u:p@h:2113",
		"esdb+discover://cluster.example.com:2113": "esdb+discover://cluster.example.com:2113",
	}
	for in, want := range cases {
		got, err := normalizeURL(in)
		if err != nil || got != want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := normalizeURL(" "); err == nil || !strings.HasPrefix(err.Error(), "esdb: invalid URL") {
		t.Errorf("normalizeURL of a blank string: %v", err)
	}
	if got := redactURL("esdb://admin:changeit@h:2113?tls=false"); strings.Contains(got, "changeit") {
		t.Errorf("redactURL kept the password: %s", got)
	}
	if got := redactURL("esdb://admin:changeit@h:bad port"); strings.Contains(got, "changeit") {
		t.Errorf("redactURL of an unparsable URL kept the password: %s", got)
	}
}

func TestStartCandidates(t *testing.T) {
	t.Parallel()
	if got := startCandidates(0); !reflect.DeepEqual(got, []esdb.AllPosition{esdb.Start{}}) {
		t.Errorf("startCandidates(0) = %v", got)
	}
	want := []esdb.AllPosition{esdb.Position{Commit: 99, Prepare: 99}, esdb.Position{Commit: 100, Prepare: 100}, esdb.Start{}}
	if got := startCandidates(99); !reflect.DeepEqual(got, want) {
		t.Errorf("startCandidates(99) = %v, want %v", got, want)
	}
}

func TestServerFilter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   eventstore.Filter
		want *esdb.SubscriptionFilter
	}{
		{eventstore.Filter{}, esdb.ExcludeSystemEventsFilter()},
		{eventstore.Filter{StreamPrefix: "tick-"}, &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"tick-"}}},
		{eventstore.Filter{Stream: "order-1", StreamPrefix: "order-"}, &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"order-1"}}},
		{eventstore.Filter{Types: []string{"A", "B"}}, &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"A", "B"}}},
	}
	for _, c := range cases {
		if got := serverFilter(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("serverFilter(%+v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestIsSystem(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stream, typ string
		want        bool
	}{
		{"order-1", "OrderSubmitted", false},
		{"$stats-0.0.0.0:2113", "$statsCollected", true},
		{"$$order-1", "$metadata", true},
		{"order-1", "$>", true},
	}
	for _, c := range cases {
		if got := isSystem(&esdb.RecordedEvent{StreamID: c.stream, EventType: c.typ}); got != c.want {
			t.Errorf("isSystem(%q, %q) = %v", c.stream, c.typ, got)
		}
	}
}

func TestGuard(t *testing.T) {
	t.Parallel()
	sendOnClosed := func() (err error) {
		defer guard(&err)
		ch := make(chan int)
		close(ch)
		ch <- 1
		return nil
	}
	if err := sendOnClosed(); !errors.Is(err, errClientGone) || !isUnavailable(err) {
		t.Fatalf("send on a closed channel: %v, want errClientGone", err)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("guard swallowed an unrelated panic")
		}
	}()
	func() (err error) {
		defer guard(&err)
		panic("unrelated")
	}()
}

// unreachable returns a store whose server does not exist, without the
// check Open makes.
func unreachable(t *testing.T) *Store {
	t.Helper()
	s, err := newStore(Config{URL: "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=2&discoveryInterval=10"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	s := unreachable(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ev := eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "E"}
	checks := map[string]error{}
	_, checks["append"] = s.Append(ctx, "s", eventstore.Any(), ev)
	_, checks["append nothing"] = s.Append(ctx, "s", eventstore.Any())
	_, checks["read stream"] = s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{})
	_, checks["read all"] = s.ReadAll(ctx, eventstore.ReadAllOptions{})
	_, checks["head"] = s.Head(ctx)
	_, _, checks["position at"] = s.PositionAt(ctx, time.Now())
	_, checks["subscribe"] = s.Subscribe(ctx, 0, eventstore.Filter{})
	for name, err := range checks {
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Invalid input is reported as such even when closed.
	if _, err := s.Append(ctx, "", eventstore.Any(), ev); !errors.Is(err, eventstore.ErrInvalidStream) {
		t.Errorf("append to an empty stream name: %v", err)
	}
}

// When the client's discovery fails it never reconnects: the store must
// replace it, and every call meanwhile fails with ErrUnavailable.
func TestUnreachableCallsAndClientReplacement(t *testing.T) {
	t.Parallel()
	s := unreachable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first := s.client
	ev := eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "E", Data: []byte(`{}`)}
	calls := []struct {
		name string
		fn   func() error
	}{
		{"append", func() error { _, err := s.Append(ctx, "s", eventstore.Any(), ev); return err }},
		{"read stream", func() error { _, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{}); return err }},
		{"read all", func() error { _, err := s.ReadAll(ctx, eventstore.ReadAllOptions{After: 1234}); return err }},
		{"head", func() error { _, err := s.Head(ctx); return err }},
		{"subscribe", func() error { _, err := s.Subscribe(ctx, 0, eventstore.Filter{}); return err }},
		{"subscribe after", func() error { _, err := s.Subscribe(ctx, 99, eventstore.Filter{}); return err }},
	}
	for _, c := range calls {
		err := c.fn()
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", c.name, err)
		}
	}
	s.mu.RLock()
	replaced := s.client != first
	s.mu.RUnlock()
	if !replaced {
		t.Error("the client that gave up was not replaced")
	}
}

func TestOpenHonoursContext(t *testing.T) {
	t.Parallel()
	s := unreachable(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.ping(ctx)
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("ping with a cancelled context: %v, want ErrUnavailable", err)
	}
}

// feed returns a subscription whose buffer the test fills by hand.
func feed(pageSize int) *subscription {
	ctx, cancel := context.WithCancel(context.Background())
	return &subscription{
		ctx:      ctx,
		cancel:   cancel,
		pageSize: pageSize,
		items:    make(chan subItem, 4*pageSize),
		freed:    make(chan struct{}, 1),
		closed:   make(chan struct{}),
		exited:   make(chan struct{}),
	}
}

func evItem(pos eventstore.Position, caught bool, size int) subItem {
	return subItem{ev: eventstore.RecordedEvent{Position: pos, Data: make([]byte, size)}, hasEvent: true, caughtUp: caught, pos: pos}
}

func TestNextBatchesPagesAndMarks(t *testing.T) {
	t.Parallel()
	sub := feed(3)
	defer sub.cancel()
	ctx := context.Background()
	for _, it := range []subItem{evItem(10, false, 1), evItem(20, false, 1), {caughtUp: true, pos: 25}, evItem(30, true, 1), evItem(40, true, 1), evItem(50, true, 1), evItem(60, true, 1)} {
		if err := sub.emit(it); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		n      int
		caught bool
		pos    eventstore.Position
	}{
		{2, true, 25}, // two events, then the mark ends the message
		{3, true, 50}, // a full page
		{1, true, 60},
	}
	for i, w := range want {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Events) != w.n || m.CaughtUp != w.caught || m.Position != w.pos {
			t.Fatalf("message %d: %d events, caught up %v at %d; want %d, %v, %d", i, len(m.Events), m.CaughtUp, m.Position, w.n, w.caught, w.pos)
		}
	}
	if got := sub.buffered.Load(); got != 0 {
		t.Fatalf("%d bytes still counted as buffered", got)
	}
	// The goroutine's end: its error comes after what it buffered.
	sub.err = errors.New("boom")
	if err := sub.emit(evItem(70, true, 1)); err != nil {
		t.Fatal(err)
	}
	close(sub.items)
	if m, err := sub.Next(ctx); err != nil || len(m.Events) != 1 {
		t.Fatalf("last buffered message: %+v %v", m, err)
	}
	if _, err := sub.Next(ctx); err == nil || err.Error() != "boom" {
		t.Fatalf("after the end: %v, want boom", err)
	}
	// Next honours its context.
	sub2 := feed(3)
	defer sub2.cancel()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sub2.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
}

func TestEmitBoundsBufferedBytes(t *testing.T) {
	t.Parallel()
	sub := feed(512)
	defer sub.cancel()
	big := maxBufferBytes/2 + 1
	if err := sub.emit(evItem(1, false, big)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sub.emit(evItem(2, false, big)) }()
	select {
	case err := <-done:
		t.Fatalf("second emit did not wait for room (err %v)", err)
	default:
	}
	m, err := sub.Next(context.Background())
	if err != nil || len(m.Events) != 1 || m.Position != 1 {
		t.Fatalf("first message: %+v %v", m, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emit still blocked after Next made room")
	}
	m, err = sub.Next(context.Background())
	if err != nil || m.Position != 2 {
		t.Fatalf("second message: %+v %v", m, err)
	}
	// A blocked emit gives up when the subscription ends.
	if err := sub.emit(evItem(3, false, big)); err != nil {
		t.Fatal(err)
	}
	go func() { done <- sub.emit(evItem(4, false, big)) }()
	sub.cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("blocked emit after cancel: %v", err)
	}
}
