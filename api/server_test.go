package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
)

// MustOpenStore opens an embedded store in a fresh temporary directory and
// closes it when the test ends.
func MustOpenStore(tb testing.TB) *embedded.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := embedded.Open(ctx, embedded.Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("open embedded store: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return st
}

// MustServe serves an api.Server over events with httptest.
func MustServe(tb testing.TB, cfg api.Config, events api.EventReader) *httptest.Server {
	tb.Helper()
	srv := api.NewServer(cfg, api.Deps{Events: events, Registry: codec.NewRegistry()})
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return ts
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func get(tb testing.TB, rawURL string) response {
	tb.Helper()
	return do(tb, http.MethodGet, rawURL)
}

func do(tb testing.TB, method, rawURL string) response {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (r response) decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decode %q: %v", r.body, err)
	}
}

// apiError is the API's one error shape.
type apiError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantError checks status, the {"error":{"code","message"}} shape, and that
// the message contains each of contains.
func wantError(tb testing.TB, r response, status int, code string, contains ...string) string {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type %q, want application/json", ct)
	}
	var e apiError
	r.decode(tb, &e)
	if e.Error == nil {
		tb.Fatalf("body %s has no error object", r.body)
	}
	if e.Error.Code != code {
		tb.Errorf("error code %q, want %q (body %s)", e.Error.Code, code, r.body)
	}
	if e.Error.Message == "" {
		tb.Errorf("empty error message (body %s)", r.body)
	}
	for _, c := range contains {
		if !strings.Contains(e.Error.Message, c) {
			tb.Errorf("error message %q does not contain %q", e.Error.Message, c)
		}
	}
	return e.Error.Message
}

// envelope mirrors codec.Envelope with every field required.
type envelope struct {
	ID         string          `json:"id"`
	Stream     string          `json:"stream"`
	Type       string          `json:"type"`
	Version    uint64          `json:"version"`
	Position   uint64          `json:"position"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata"`
}

func getEvents(tb testing.TB, base string, query string) ([]envelope, response) {
	tb.Helper()
	r := get(tb, base+"/api/v1/events?"+query)
	if r.status != http.StatusOK {
		tb.Fatalf("GET /api/v1/events?%s: status %d: %s", query, r.status, r.body)
	}
	var evs []envelope
	r.decode(tb, &evs)
	return evs, r
}

func positions(evs []envelope) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Position
	}
	return out
}

func streams(evs []envelope) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Stream
	}
	return out
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for p := from; p <= to; p++ {
		out = append(out, p)
	}
	return out
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var ist = time.FixedZone("IST", 5*3600+1800)

func tick(exchange, symbol string, ltp domain.Price, i int) domain.Tick {
	return domain.Tick{Provider: "sim", Exchange: exchange, Symbol: symbol,
		ExchangeTime: time.Date(2026, 11, 20, 9, 15, i, 0, ist), LTP: ltp, LastQty: 75, Volume: int64(1000 + i)}
}

// appendEvents encodes evs with the codec and appends them to stream.
func appendEvents(tb testing.TB, st eventstore.Store, stream string, evs ...domain.Event) eventstore.AppendResult {
	tb.Helper()
	reg := codec.NewRegistry()
	data := make([]eventstore.EventData, len(evs))
	for i, e := range evs {
		d, err := reg.Encode(uuid.Must(uuid.NewV7()), e, eventstore.Metadata{Source: "api-test"})
		if err != nil {
			tb.Fatalf("encode %T: %v", e, err)
		}
		data[i] = d
	}
	res, err := st.Append(context.Background(), stream, eventstore.Any(), data...)
	if err != nil {
		tb.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

// seed writes the fixture log:
//
//	1  order-1              OrderSubmitted
//	2  order-10             OrderSubmitted
//	3  order-1              OrderAccepted
//	4  tick-NSE:NIFTY 50    TickReceived
//	5  tick-NFO:NIFTY26NOVFUT TickReceived
//	6  tick-NSE:NIFTY 50    TickReceived
//	7  provider-sim         FeedGap
//	8  order-2              OrderSubmitted
func seed(tb testing.TB, st eventstore.Store) {
	tb.Helper()
	appendEvents(tb, st, "order-1", domain.OrderSubmitted{OrderID: "1", ClientOrderID: "c1", Broker: "paper"})
	appendEvents(tb, st, "order-10", domain.OrderSubmitted{OrderID: "10", ClientOrderID: "c10", Broker: "paper"})
	appendEvents(tb, st, "order-1", domain.OrderAccepted{OrderID: "1", BrokerOrderID: "b1"})
	appendEvents(tb, st, "tick-NSE:NIFTY 50", tick("NSE", "NIFTY 50", 2450005, 0))
	appendEvents(tb, st, "tick-NFO:NIFTY26NOVFUT", tick("NFO", "NIFTY26NOVFUT", 2461000, 1))
	appendEvents(tb, st, "tick-NSE:NIFTY 50", tick("NSE", "NIFTY 50", 2450105, 2))
	appendEvents(tb, st, "provider-sim", domain.FeedGap{Provider: "sim", Dropped: 3,
		From: time.Date(2026, 11, 20, 9, 15, 0, 0, ist), To: time.Date(2026, 11, 20, 9, 15, 1, 0, ist), Reason: "test"})
	appendEvents(tb, st, "order-2", domain.OrderSubmitted{OrderID: "2", ClientOrderID: "c2", Broker: "paper"})
}

func TestHealthLive(t *testing.T) {
	t.Parallel()
	ts := MustServe(t, api.Config{Ready: []api.Check{{Name: "store", Check: func(context.Context) error {
		return errors.New("down") // liveness must not depend on readiness
	}}}}, MustOpenStore(t))
	r := get(t, ts.URL+"/health/live")
	if r.status != http.StatusOK {
		t.Fatalf("/health/live: status %d: %s", r.status, r.body)
	}
	var body map[string]any
	r.decode(t, &body)
	if body["status"] != "alive" {
		t.Errorf("/health/live: %s", r.body)
	}
}

func TestHealthReportsChecks(t *testing.T) {
	t.Parallel()
	var failing error
	cfg := api.Config{Version: "v1.2.3-test", Ready: []api.Check{
		{Name: "store", Check: func(context.Context) error { return nil }},
		{Name: "ingest", Check: func(context.Context) error { return failing }},
	}}
	ts := MustServe(t, cfg, MustOpenStore(t))

	type health struct {
		Status  string  `json:"status"`
		Version string  `json:"version"`
		Uptime  *int64  `json:"uptime_seconds"`
		Checks  []check `json:"checks"`
	}
	r := get(t, ts.URL+"/health")
	if r.status != http.StatusOK {
		t.Fatalf("/health: status %d: %s", r.status, r.body)
	}
	var h health
	r.decode(t, &h)
	if h.Status != "ok" || h.Version != "v1.2.3-test" || h.Uptime == nil || len(h.Checks) != 2 {
		t.Fatalf("/health = %s", r.body)
	}
	for i, name := range []string{"store", "ingest"} {
		if h.Checks[i].Name != name || !h.Checks[i].OK || h.Checks[i].Detail != "" {
			t.Errorf("check %d = %+v, want %s ok", i, h.Checks[i], name)
		}
	}

	// /health stays 200 when a check fails (it reports; /health/ready gates).
	failing = errors.New("recorder is not running")
	r = get(t, ts.URL+"/health")
	if r.status != http.StatusOK {
		t.Fatalf("/health with a failing check: status %d: %s", r.status, r.body)
	}
	r.decode(t, &h)
	if h.Status != "degraded" || h.Checks[1].OK || h.Checks[1].Detail != "recorder is not running" {
		t.Errorf("/health with a failing check = %s", r.body)
	}
}

type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func TestReady(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	var ingestErr error
	cfg := api.Config{Ready: []api.Check{
		{Name: "store", Check: func(ctx context.Context) error { _, err := st.Head(ctx); return err }},
		{Name: "ingest", Check: func(context.Context) error { return ingestErr }},
	}}
	ts := MustServe(t, cfg, st)

	type ready struct {
		Status string  `json:"status"`
		Checks []check `json:"checks"`
	}
	r := get(t, ts.URL+"/health/ready")
	if r.status != http.StatusOK {
		t.Fatalf("/health/ready with passing checks: status %d: %s", r.status, r.body)
	}
	var body ready
	r.decode(t, &body)
	if body.Status != "ready" || len(body.Checks) != 2 || !body.Checks[0].OK || !body.Checks[1].OK {
		t.Errorf("/health/ready = %s", r.body)
	}

	ingestErr = errors.New("feed is not running")
	r = get(t, ts.URL+"/health/ready")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("/health/ready with a failing check: status %d, want 503: %s", r.status, r.body)
	}
	// 503 is the error shape, with the status and checks beside "error".
	wantError(t, r, http.StatusServiceUnavailable, "unavailable", "not ready", "ingest")
	body = ready{}
	r.decode(t, &body)
	if body.Status != "not_ready" {
		t.Errorf("status %q, want not_ready", body.Status)
	}
	var failed []check
	for _, c := range body.Checks {
		if !c.OK {
			failed = append(failed, c)
		}
	}
	if len(failed) != 1 || failed[0].Name != "ingest" || failed[0].Detail != "feed is not running" {
		t.Errorf("failing checks = %+v, want ingest with its detail (body %s)", failed, r.body)
	}
}

func TestReadyCheckIsBounded(t *testing.T) {
	t.Parallel()
	// A check that hangs must not hang the probe: it gets a deadline.
	cfg := api.Config{Ready: []api.Check{{Name: "slow", Check: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}}}
	ts := MustServe(t, cfg, MustOpenStore(t))
	start := time.Now()
	r := get(t, ts.URL+"/health/ready")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "slow") {
		t.Errorf("/health/ready with a hanging check: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("/health/ready took %v with a hanging check", d)
	}
}

func TestEventsEnvelope(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	seed(t, st)
	ts := MustServe(t, api.Config{}, st)

	// The raw JSON has exactly the envelope's eight fields.
	r := get(t, ts.URL+"/api/v1/events?from=0")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var raw []map[string]json.RawMessage
	r.decode(t, &raw)
	if len(raw) != 8 {
		t.Fatalf("got %d events, want 8: %s", len(raw), r.body)
	}
	want := []string{"id", "stream", "type", "version", "position", "recorded_at", "data", "metadata"}
	for i, e := range raw {
		if len(e) != len(want) {
			t.Errorf("event %d has fields %v, want %v", i, keys(e), want)
		}
		for _, k := range want {
			if _, ok := e[k]; !ok {
				t.Errorf("event %d lacks %q", i, k)
			}
		}
	}

	var evs []envelope
	r.decode(t, &evs)
	stored, err := st.ReadAll(context.Background(), eventstore.ReadAllOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		s := stored[i]
		if e.ID != s.ID.String() || e.Stream != s.Stream || e.Type != s.Type || e.Version != s.Version ||
			e.Position != uint64(s.Position) || !e.RecordedAt.Equal(s.RecordedAt) {
			t.Errorf("event %d = %+v, stored %+v", i, e, s)
		}
		if _, err := uuid.Parse(e.ID); err != nil {
			t.Errorf("event %d id %q: %v", i, e.ID, err)
		}
		if e.RecordedAt.IsZero() || e.RecordedAt.Location() != time.UTC {
			t.Errorf("event %d recorded_at %v: want a UTC time", i, e.RecordedAt)
		}
		var md map[string]any
		if err := json.Unmarshal(e.Metadata, &md); err != nil || md == nil {
			t.Errorf("event %d metadata %s is not a JSON object", i, e.Metadata)
		}
		var data map[string]any
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Errorf("event %d data %s is not a JSON object (decoded): %v", i, e.Data, err)
		}
	}
	// Positions 1..8, versions per stream.
	if got := positions(evs); !equal(got, seq(1, 8)) {
		t.Errorf("positions %v", got)
	}
	if evs[2].Stream != "order-1" || evs[2].Version != 1 || evs[5].Version != 1 || evs[1].Version != 0 {
		t.Errorf("versions: %+v", evs)
	}

	// A JSON payload decodes to its fields; a binary tick to JSON with the
	// price in rupees.
	var sub domain.OrderSubmitted
	if err := json.Unmarshal(evs[0].Data, &sub); err != nil || sub != (domain.OrderSubmitted{OrderID: "1", ClientOrderID: "c1", Broker: "paper"}) {
		t.Errorf("OrderSubmitted data %s (%v)", evs[0].Data, err)
	}
	var md struct {
		Source string `json:"source"`
		Schema int    `json:"schema"`
	}
	if err := json.Unmarshal(evs[0].Metadata, &md); err != nil || md.Source != "api-test" || md.Schema != 1 {
		t.Errorf("OrderSubmitted metadata %s", evs[0].Metadata)
	}
	var tk map[string]any
	if err := json.Unmarshal(evs[3].Data, &tk); err != nil {
		t.Fatal(err)
	}
	if evs[3].Type != domain.TypeTickReceived || tk["symbol"] != "NIFTY 50" || tk["exchange"] != "NSE" || tk["ltp"] != 24500.05 {
		t.Errorf("tick data %s", evs[3].Data)
	}
	var got domain.Tick
	if err := json.Unmarshal(evs[3].Data, &got); err != nil || got.LTP != 2450005 || !got.ExchangeTime.Equal(tick("NSE", "NIFTY 50", 1, 0).ExchangeTime) {
		t.Errorf("tick data %s decodes to %+v (%v)", evs[3].Data, got, err)
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestEventsFromIsExclusive(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	seed(t, st)
	ts := MustServe(t, api.Config{}, st)

	for _, tc := range []struct {
		query string
		want  []uint64
	}{
		{"", seq(1, 8)},
		{"from=0", seq(1, 8)},
		{"from=1", seq(2, 8)},
		{"from=3", seq(4, 8)},
		{"from=7", []uint64{8}},
		{"from=8", nil},
		{"from=1000", nil},
	} {
		evs, r := getEvents(t, ts.URL, tc.query)
		if got := positions(evs); !equal(got, tc.want) {
			t.Errorf("?%s: positions %v, want %v", tc.query, got, tc.want)
		}
		if string(r.body) == "null\n" {
			t.Errorf("?%s: body is null, want []", tc.query)
		}
	}
}

func TestEventsNextFromPages(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	seed(t, st)
	ts := MustServe(t, api.Config{}, st)

	var all []uint64
	from := "0"
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging did not end")
		}
		evs, r := getEvents(t, ts.URL, "limit=3&from="+from)
		next := r.header.Get("X-Next-From")
		if len(evs) == 0 {
			if next != "" {
				t.Errorf("empty page has X-Next-From %q", next)
			}
			break
		}
		if next != strconv.FormatUint(evs[len(evs)-1].Position, 10) {
			t.Errorf("X-Next-From %q, last position %d", next, evs[len(evs)-1].Position)
		}
		all = append(all, positions(evs)...)
		from = next
	}
	if !equal(all, seq(1, 8)) {
		t.Errorf("paged positions %v", all)
	}

	// With a filter, X-Next-From is the last matching event's position.
	evs, r := getEvents(t, ts.URL, "type=FeedGap")
	if len(evs) != 1 || r.header.Get("X-Next-From") != "7" {
		t.Errorf("type=FeedGap: %v, X-Next-From %q", positions(evs), r.header.Get("X-Next-From"))
	}
}

// X-Next-Cursor, the cursor every list answers, is on full pages only;
// cursor= reads on like from=.
func TestEventsNextCursorPages(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	seed(t, st)
	ts := MustServe(t, api.Config{}, st)

	var all []uint64
	cursor := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging did not end")
		}
		evs, r := getEvents(t, ts.URL, "limit=3&cursor="+cursor)
		all = append(all, positions(evs)...)
		next := r.header.Get("X-Next-Cursor")
		if len(evs) == 3 && next != r.header.Get("X-Next-From") || len(evs) < 3 && next != "" {
			t.Errorf("page of %d: X-Next-Cursor %q, X-Next-From %q", len(evs), next, r.header.Get("X-Next-From"))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !equal(all, seq(1, 8)) {
		t.Errorf("paged positions %v", all)
	}
	if evs, _ := getEvents(t, ts.URL, "cursor=5"); !equal(positions(evs), seq(6, 8)) {
		t.Errorf("cursor=5: %v", positions(evs))
	}
	for _, q := range []string{"cursor=x", "cursor=-1", "cursor=1&from=1"} {
		wantError(t, get(t, ts.URL+"/api/v1/events?"+q), http.StatusBadRequest, "invalid", "cursor")
	}
}

func TestEventsLimit(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	reg := codec.NewRegistry()
	const n = 1100
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		d, err := reg.Encode(uuid.Must(uuid.NewV7()), tick("NSE", "NIFTY 50", domain.Price(2450000+i), i%3600), eventstore.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = d
	}
	if _, err := st.Append(context.Background(), "tick-NSE:NIFTY 50", eventstore.NoStream(), evs...); err != nil {
		t.Fatal(err)
	}

	t.Run("default", func(t *testing.T) {
		ts := MustServe(t, api.Config{}, st)
		got, r := getEvents(t, ts.URL, "")
		if len(got) != 100 || r.header.Get("X-Next-From") != "100" {
			t.Errorf("default page: %d events, X-Next-From %q; want 100, 100", len(got), r.header.Get("X-Next-From"))
		}
		if got, _ := getEvents(t, ts.URL, "limit=7"); !equal(positions(got), seq(1, 7)) {
			t.Errorf("limit=7: %v", positions(got))
		}
		// The default cap is 1000.
		if got, _ := getEvents(t, ts.URL, "limit=5000"); len(got) != 1000 {
			t.Errorf("limit=5000 with the default cap: %d events, want 1000", len(got))
		}
	})
	t.Run("capped", func(t *testing.T) {
		ts := MustServe(t, api.Config{MaxEventsPerPage: 10}, st)
		for _, q := range []string{"limit=11", "limit=1000000", "limit=10"} {
			if got, _ := getEvents(t, ts.URL, q); !equal(positions(got), seq(1, 10)) {
				t.Errorf("%s with MaxEventsPerPage 10: %v", q, positions(got))
			}
		}
		if got, _ := getEvents(t, ts.URL, "limit=9&from=1095"); !equal(positions(got), seq(1096, 1100)) {
			t.Errorf("limit=9&from=1095: %v", positions(got))
		}
		// The default of 100 is capped too.
		if got, _ := getEvents(t, ts.URL, ""); len(got) != 10 {
			t.Errorf("no limit with MaxEventsPerPage 10: %d events", len(got))
		}
	})
}

func TestEventsStreamFilter(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	seed(t, st)
	ts := MustServe(t, api.Config{}, st)

	for _, tc := range []struct {
		stream string
		want   []uint64
	}{
		{"order-1", []uint64{1, 3}}, // exact: order-10 does not match
		{"order-10", []uint64{2}},
		{"order-1*", []uint64{1, 2, 3}}, // prefix
		{"order-*", []uint64{1, 2, 3, 8}},
		{"tick-NFO:*", []uint64{5}},
		{"tick-*", []uint64{4, 5, 6}},
		{"tick-NSE:NIFTY 50", []uint64{4, 6}},
		{"*", seq(1, 8)},
		{"order-3", nil},
		{"order", nil},
	} {
		evs, _ := getEvents(t, ts.URL, "stream="+url.QueryEscape(tc.stream))
		if got := positions(evs); !equal(got, tc.want) {
			t.Errorf("stream=%s: positions %v (streams %v), want %v", tc.stream, got, streams(evs), tc.want)
		}
	}
}

func TestEventsTypeFilter(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	seed(t, st)
	ts := MustServe(t, api.Config{}, st)

	for _, tc := range []struct {
		query string
		want  []uint64
	}{
		{"type=OrderSubmitted", []uint64{1, 2, 8}},
		{"type=OrderSubmitted,FeedGap", []uint64{1, 2, 7, 8}},
		{"type=OrderSubmitted&type=FeedGap", []uint64{1, 2, 7, 8}},
		{"type=" + url.QueryEscape("OrderAccepted, TickReceived") + "&type=FeedGap", []uint64{3, 4, 5, 6, 7}},
		{"type=Nope", nil},
		{"type=,", seq(1, 8)},
		{"type=TickReceived&stream=" + url.QueryEscape("tick-NSE:*"), []uint64{4, 6}},
		{"type=TickReceived&stream=" + url.QueryEscape("tick-NSE:*") + "&from=4", []uint64{6}},
		{"type=TickReceived&stream=" + url.QueryEscape("tick-NSE:*") + "&limit=1", []uint64{4}},
	} {
		evs, _ := getEvents(t, ts.URL, tc.query)
		if got := positions(evs); !equal(got, tc.want) {
			t.Errorf("?%s: positions %v, want %v", tc.query, got, tc.want)
		}
	}
}

func TestEventsBadParameters(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	seed(t, st)
	ts := MustServe(t, api.Config{}, st)

	for _, tc := range []struct {
		query, field string
	}{
		{"from=-1", "from"},
		{"from=abc", "from"},
		{"from=1.5", "from"},
		{"from=18446744073709551616", "from"},
		{"limit=0", "limit"},
		{"limit=-3", "limit"},
		{"limit=ten", "limit"},
		{"stream=" + url.QueryEscape("$all"), "stream"},
		{"stream=" + url.QueryEscape("bad\nstream"), "stream"},
		{"stream=" + strings.Repeat("x", eventstore.MaxStreamLen+1), "stream"},
	} {
		r := get(t, ts.URL+"/api/v1/events?"+tc.query)
		msg := wantError(t, r, http.StatusBadRequest, "invalid", tc.field)
		if !strings.HasPrefix(msg, tc.field+":") {
			t.Errorf("?%s: message %q does not start with the field name %q", tc.query, msg, tc.field)
		}
	}
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	ts := MustServe(t, api.Config{}, MustOpenStore(t))
	for _, path := range []string{"/nope", "/api/v1/event", "/api/v2/events", "/api/v1/events/head/x", "/health/dead"} {
		wantError(t, get(t, ts.URL+path), http.StatusNotFound, "not_found", path)
	}
	// Other methods get the same shape, whatever the status.
	r := do(t, http.MethodPost, ts.URL+"/api/v1/events")
	if r.status < 400 {
		t.Fatalf("POST /api/v1/events: status %d", r.status)
	}
	var e apiError
	r.decode(t, &e)
	if e.Error == nil || e.Error.Code == "" {
		t.Errorf("POST /api/v1/events: body %s lacks the error shape", r.body)
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	ts := MustServe(t, api.Config{}, st)

	var h map[string]json.RawMessage
	r := get(t, ts.URL+"/api/v1/events/head")
	r.decode(t, &h)
	if r.status != http.StatusOK || string(h["position"]) != "0" || len(h) != 1 {
		t.Errorf("empty log head: %d %s", r.status, r.body)
	}
	seed(t, st)
	r = get(t, ts.URL+"/api/v1/events/head")
	r.decode(t, &h)
	if r.status != http.StatusOK || string(h["position"]) != "8" {
		t.Errorf("head after 8 events: %d %s", r.status, r.body)
	}
}

// fakeReader is an EventReader whose calls fail with err.
type fakeReader struct{ err error }

func (f fakeReader) ReadAll(context.Context, eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	return nil, f.err
}

func (f fakeReader) Head(context.Context) (eventstore.Position, error) { return 0, f.err }

func (f fakeReader) PositionAt(context.Context, time.Time) (eventstore.Position, bool, error) {
	return 0, false, f.err
}

func TestStoreErrors(t *testing.T) {
	t.Parallel()
	const secret = "dial tcp 10.1.2.3:5432: password=hunter2"
	for _, tc := range []struct {
		name    string
		err     error
		status  int
		code    string
		message string
	}{
		{"unavailable", fmt.Errorf("postgres: %s: %w", secret, eventstore.ErrUnavailable), http.StatusServiceUnavailable, "unavailable", ""},
		{"closed", fmt.Errorf("read: %w", eventstore.ErrClosed), http.StatusServiceUnavailable, "unavailable", ""},
		{"unknown", errors.New(secret), http.StatusInternalServerError, "internal", "internal error"},
		{"corrupt", fmt.Errorf("chunk at 12: %s: %w", secret, eventstore.ErrCorrupt), http.StatusInternalServerError, "internal", "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := MustServe(t, api.Config{}, fakeReader{err: tc.err})
			for _, path := range []string{"/api/v1/events?from=3", "/api/v1/events/head"} {
				r := get(t, ts.URL+path)
				msg := wantError(t, r, tc.status, tc.code)
				if tc.message != "" && msg != tc.message {
					t.Errorf("%s: message %q, want %q", path, msg, tc.message)
				}
				if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "10.1.2.3") {
					t.Errorf("%s: the store's error leaked to the client: %s", path, r.body)
				}
			}
		})
	}
}

// A stored event the codec cannot render is an internal error, not a
// half-written page.
func TestEventsUndecodable(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	if _, err := st.Append(context.Background(), "order-1", eventstore.Any(), eventstore.EventData{
		ID: uuid.Must(uuid.NewV7()), Type: domain.TypeOrderSubmitted, Data: []byte(`{"order_id":`), // truncated JSON
	}); err != nil {
		t.Fatal(err)
	}
	ts := MustServe(t, api.Config{}, st)
	r := get(t, ts.URL+"/api/v1/events")
	wantError(t, r, http.StatusInternalServerError, "internal")
}

// Unknown event types are served as stored; binary payloads of unknown
// types as base64 strings.
func TestEventsUnknownType(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	if _, err := st.Append(context.Background(), "x-1", eventstore.Any(),
		eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "Custom", Data: []byte(`{"a":1}`), Metadata: []byte(`{"k":"v"}`)},
		eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "Blob", Data: []byte{0xff, 0x00, 0x01}},
	); err != nil {
		t.Fatal(err)
	}
	ts := MustServe(t, api.Config{}, st)
	evs, _ := getEvents(t, ts.URL, "")
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if string(evs[0].Data) != `{"a":1}` || string(evs[0].Metadata) != `{"k":"v"}` {
		t.Errorf("unknown JSON event: data %s metadata %s", evs[0].Data, evs[0].Metadata)
	}
	if string(evs[1].Data) != `"/wAB"` || string(evs[1].Metadata) != `{}` {
		t.Errorf("unknown binary event: data %s metadata %s", evs[1].Data, evs[1].Metadata)
	}
}

func TestListenBadAddress(t *testing.T) {
	t.Parallel()
	srv := api.NewServer(api.Config{Addr: "256.0.0.1:99999"}, api.Deps{Events: MustOpenStore(t), Registry: codec.NewRegistry()})
	if ln, err := srv.Listen(); err == nil {
		ln.Close()
		t.Fatal("Listen on 256.0.0.1:99999 succeeded")
	}
}

func TestServeStopsOnContext(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	seed(t, st)
	srv := api.NewServer(api.Config{Addr: "127.0.0.1:0"}, api.Deps{Events: st, Registry: codec.NewRegistry()})
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	var h struct{ Position uint64 }
	get(t, base+"/api/v1/events/head").decode(t, &h)
	if h.Position != 8 {
		t.Errorf("head %d", h.Position)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after the context ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of the context ending")
	}
}

func TestWrongMethodIs405(t *testing.T) {
	srv := api.NewServer(api.Config{}, api.Deps{Registry: codec.NewRegistry()})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/api/v1/events", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("POST /api/v1/events: %d, body not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusMethodNotAllowed || body.Error.Code != "method_not_allowed" || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Fatalf("POST /api/v1/events: %d %+v Allow=%q, want 405 method_not_allowed", resp.StatusCode, body, resp.Header.Get("Allow"))
	}
}
