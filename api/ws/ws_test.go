package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/api/ws"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/projections"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var identities = map[string]ws.Identity{
	"admin": {UserID: "u-admin", Username: "admin", Role: "admin", Admin: true},
	"alice": {UserID: "u-alice", Username: "alice", Role: "trader", Accounts: []string{"paper-alice"}},
	"bob":   {UserID: "u-bob", Username: "bob", Role: "trader", Accounts: []string{"paper-bob"}},
}

type fixture struct {
	t      *testing.T
	st     *embedded.Store
	reg    *codec.Registry
	runner *projections.Runner
	hub    *ws.Hub
	ts     *httptest.Server
	orders int
	mu     sync.Mutex
}

func newFixture(t *testing.T, cfg ws.Config, opts ...func(*ws.Deps)) *fixture {
	t.Helper()
	f := &fixture{t: t, reg: codec.NewRegistry()}
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	snaps, err := projections.NewFileSnapshots(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.runner, err = projections.NewRunner(st, snaps, projections.RunnerConfig{},
		func() projections.Projection { return projections.NewQuotes() },
		func() projections.Projection { return projections.NewPositions(f.reg) },
		func() projections.Projection { return projections.NewOrders(f.reg) },
		func() projections.Projection { return projections.NewSignals(f.reg) })
	if err != nil {
		t.Fatal(err)
	}
	d := ws.NewDeriver(f.reg, st)
	deps := ws.Deps{
		Authenticate: func(r *http.Request) (ws.Identity, error) {
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if tok == "" {
				tok = r.URL.Query().Get("access_token")
			}
			id, ok := identities[tok]
			if !ok {
				return ws.Identity{}, errors.New("invalid or missing access token")
			}
			return id, nil
		},
		Log: st, Deriver: d, Snapshot: ws.NewSnapshots(f.runner).Snapshot,
	}
	for _, o := range opts {
		o(&deps)
	}
	f.hub = ws.NewHub(cfg, deps)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = f.runner.Run(ctx) }()
	go func() {
		defer wg.Done()
		_ = ws.Feed(ctx, st, 0, d, slog.New(slog.DiscardHandler), func(_ context.Context, ups []bus.Update) error {
			for _, u := range ups {
				f.hub.Dispatch(u)
			}
			return nil
		})
	}()
	mux := http.NewServeMux()
	mux.Handle("GET /ws", f.hub)
	mux.HandleFunc("GET /api/v1/truedata/options/stream", f.hub.ServeOptionsStream)
	f.ts = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.hub.Close()
		f.ts.Close()
		cancel()
		wg.Wait()
		st.Close()
	})
	return f
}

func (f *fixture) append(stream string, e domain.Event) eventstore.Position {
	f.t.Helper()
	d, err := f.reg.Encode(uuid.New(), e, eventstore.Metadata{})
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.st.Append(context.Background(), stream, eventstore.Any(), d)
	if err != nil {
		f.t.Error(err)
	}
	return res.Position
}

func (f *fixture) tick(symbol string, ltp domain.Price) eventstore.Position {
	return f.append(domain.TickStream(domain.ExchangeNFO, symbol), domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: symbol,
		ExchangeTime: time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST()), LTP: ltp})
}

func (f *fixture) trade(account string, qty int64, price domain.Price) (string, eventstore.Position) {
	f.mu.Lock()
	f.orders++
	id := fmt.Sprintf("o%d", f.orders)
	f.mu.Unlock()
	f.append(domain.OrderStream(id), domain.OrderIntentRecorded{OrderID: id, ClientOrderID: "c" + id, Account: account, Mode: domain.Paper,
		Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: qty, Type: domain.Market, Product: domain.NRML, LotSize: 65})
	return id, f.append(domain.OrderStream(id), domain.OrderFilled{OrderID: id, TradeID: id + "-1", Quantity: qty, Price: price, FilledQty: qty})
}

func (f *fixture) url(path string) string { return "ws" + strings.TrimPrefix(f.ts.URL, "http") + path }

type client struct {
	t  testing.TB
	c  *websocket.Conn
	ct context.Context
}

func (f *fixture) dial(token string) *client {
	f.t.Helper()
	return dialURL(f.t, f.url("/ws"), token)
}

func dialURL(t testing.TB, u, token string) *client {
	t.Helper()
	ctx := context.Background()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s as %q: %v (status %d)", u, token, err, status)
	}
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &client{t: t, c: c, ct: ctx}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	if err := c.c.Write(c.ct, websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

type msg struct {
	ID       string          `json:"id"`
	Rule     string          `json:"rule"`
	Type     string          `json:"type"`
	Room     string          `json:"room"`
	Position uint64          `json:"position"`
	Provider string          `json:"provider"`
	Symbol   string          `json:"symbol"`
	Code     string          `json:"code"`
	Message  string          `json:"message"`
	Data     json.RawMessage `json:"data"`
}

func (m msg) items(t testing.TB) []ws.Item {
	t.Helper()
	var it []ws.Item
	if err := json.Unmarshal(m.Data, &it); err != nil {
		t.Fatalf("%s data: %v: %s", m.Type, err, m.Data)
	}
	return it
}

// next reads one message within 10 s.
func (c *client) next() (msg, error) {
	ctx, cancel := context.WithTimeout(c.ct, 10*time.Second)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	if err != nil {
		return msg{}, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		return msg{}, fmt.Errorf("%v: %s", err, b)
	}
	return m, nil
}

// until reads until keep returns true for a message, failing after 10 s.
func (c *client) until(what string, keep func(msg) bool) msg {
	c.t.Helper()
	for {
		m, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if keep(m) {
			return m
		}
	}
}

func isType(typ, room string) func(msg) bool {
	return func(m msg) bool { return m.Type == typ && (room == "" || m.Room == room) }
}

func TestAuthAndOriginBeforeUpgrade(t *testing.T) {
	f := newFixture(t, ws.Config{AllowedOrigins: []string{"https://dash.example.com"}, MaxConnsPerUser: 2})
	cases := []struct {
		name   string
		header http.Header
		query  string
		want   int
	}{
		{"no token", http.Header{}, "", http.StatusUnauthorized},
		{"bad token", http.Header{"Authorization": {"Bearer nope"}}, "", http.StatusUnauthorized},
		{"foreign origin", http.Header{"Authorization": {"Bearer alice"}, "Origin": {"https://evil.example.com"}}, "", http.StatusForbidden},
		{"origin prefix is not enough", http.Header{"Authorization": {"Bearer alice"}, "Origin": {"https://dash.example.com.evil.io"}}, "", http.StatusForbidden},
		{"allowed origin", http.Header{"Authorization": {"Bearer admin"}, "Origin": {"https://dash.example.com"}}, "", http.StatusSwitchingProtocols},
		{"query token", http.Header{}, "?access_token=bob", http.StatusSwitchingProtocols},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := websocket.Dial(context.Background(), f.url("/ws"+tc.query), &websocket.DialOptions{HTTPHeader: tc.header})
			if c != nil {
				defer c.CloseNow()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (err %v)", resp.StatusCode, tc.want, err)
			}
		})
	}
	// The per-user limit: alice holds 2, the third is refused before the upgrade.
	a1, a2 := f.dial("alice"), f.dial("alice")
	_, resp, err := websocket.Dial(context.Background(), f.url("/ws"), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer alice"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: err %v, resp %v; want 429", err, resp)
	}
	a1.c.Close(websocket.StatusNormalClosure, "")
	a2.send(map[string]string{"type": "PING"})
	a2.until("PONG", isType("PONG", ""))
	waitFor(t, "a slot to free", func() bool {
		c, resp, err := websocket.Dial(context.Background(), f.url("/ws"), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer alice"}}})
		if err == nil {
			c.CloseNow()
			return true
		}
		return resp != nil && resp.StatusCode != http.StatusTooManyRequests
	})
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMarketRoomSnapshotUpdatesAndSeedsForm runs with the default batch
// window and with none; the two clients share a room but not a view (the
// seeds' form gets MARKET_DATA), so each gets its own encoding.
func TestMarketRoomSnapshotUpdatesAndSeedsForm(t *testing.T) {
	for _, w := range []time.Duration{0, -1} {
		t.Run(fmt.Sprintf("window=%v", w), func(t *testing.T) { testMarketRoom(t, ws.Config{BatchWindow: w}) })
	}
}

func testMarketRoom(t *testing.T, cfg ws.Config) {
	f := newFixture(t, cfg)
	f.tick("NIFTY26NOVFUT", domain.Rupees(24000))
	p := f.tick("BANKNIFTY26NOVFUT", domain.Rupees(52000))
	c := f.dial("alice")
	c.send(map[string]any{"type": "SUBSCRIBE", "room": "market:NIFTY26NOVFUT"})
	snap := c.until("SNAPSHOT", isType("SNAPSHOT", "market:NIFTY26NOVFUT"))
	var quotes []projections.Quote
	if err := json.Unmarshal(snap.Data, &quotes); err != nil || len(quotes) != 1 || quotes[0].LTP != domain.Rupees(24000) {
		t.Fatalf("snapshot %s (err %v)", snap.Data, err)
	}
	if snap.Position < uint64(p)-1 {
		t.Fatalf("snapshot position %d, want at least %d", snap.Position, uint64(p)-1)
	}
	legacy := f.dial("bob")
	legacy.send(map[string]any{"type": "SUBSCRIBE", "symbol": "NIFTY26NOVFUT", "provider": "ALL"})
	legacy.until("SNAPSHOT", isType("SNAPSHOT", "market:NIFTY26NOVFUT"))

	f.tick("BANKNIFTY26NOVFUT", domain.Rupees(52001)) // another room: not delivered
	want := f.tick("NIFTY26NOVFUT", domain.Rupees(24010))
	up := c.until("UPDATE", isType("UPDATE", "market:NIFTY26NOVFUT"))
	it := up.items(t)
	if up.Position != uint64(want) || len(it) != 1 || !strings.Contains(string(it[0].Data), `"ltp":24010.00`) {
		t.Fatalf("update %+v items %+v, want position %d with ltp 24010.00", up, it, want)
	}
	md := legacy.until("MARKET_DATA", isType("MARKET_DATA", ""))
	if md.Symbol != "NIFTY26NOVFUT" || md.Provider != "sim" || md.Position != uint64(want) {
		t.Fatalf("MARKET_DATA %+v", md)
	}
}

func TestAccountScopingOverWebSocket(t *testing.T) {
	f := newFixture(t, ws.Config{})
	f.trade("paper-bob", 65, domain.Rupees(100))
	alice, bob := f.dial("alice"), f.dial("bob")
	for _, c := range []*client{alice, bob} {
		c.send(map[string]any{"type": "SUBSCRIBE", "room": "orders"})
		c.send(map[string]any{"type": "SUBSCRIBE", "room": "positions"})
	}
	// Snapshots (rooms answer concurrently, in any order): alice sees no
	// order and no position; bob sees his.
	snapshots := func(c *client) map[string]string {
		got := map[string]string{}
		for len(got) < 2 {
			m := c.until("snapshots", isType("SNAPSHOT", ""))
			got[m.Room] = string(m.Data)
		}
		return got
	}
	for room, data := range snapshots(alice) {
		if strings.Contains(data, "paper-bob") {
			t.Fatalf("alice's %s snapshot shows bob's account: %s", room, data)
		}
	}
	if b := snapshots(bob); !strings.Contains(b["orders"], "paper-bob") || !strings.Contains(b["positions"], "paper-bob") {
		t.Fatalf("bob's snapshots lack his order or position: %v", b)
	}
	// Live: bob's next order reaches bob only; alice's reaches alice only.
	bobID, _ := f.trade("paper-bob", 65, domain.Rupees(101))
	aliceID, last := f.trade("paper-alice", 130, domain.Rupees(102))
	got := bob.until("bob's ORDER_UPDATE", func(m msg) bool { return m.Type == "ORDER_UPDATE" && strings.Contains(string(m.Data), bobID) })
	if strings.Contains(string(got.Data), aliceID+`"`) {
		t.Fatalf("bob got alice's order: %s", got.Data)
	}
	for {
		m := alice.until("alice's updates", func(m msg) bool { return m.Type == "ORDER_UPDATE" || m.Type == "UPDATE" })
		if strings.Contains(string(m.Data), "paper-bob") || strings.Contains(string(m.Data), `"`+bobID+`"`) {
			t.Fatalf("alice received bob's data: %s", m.Data)
		}
		if m.Type == "ORDER_UPDATE" && m.Position == uint64(last) {
			break
		}
	}
	// alice's positions room refreshes with her own position only.
	pos := alice.until("alice's positions update", func(m msg) bool {
		return m.Type == "UPDATE" && m.Room == "positions" && strings.Contains(string(m.Data), "paper-alice")
	})
	if strings.Contains(string(pos.Data), "paper-bob") {
		t.Fatalf("alice's positions update shows bob: %s", pos.Data)
	}
	// The events room (raw log, every account) is for admins only.
	alice.send(map[string]any{"type": "SUBSCRIBE", "room": "events"})
	if e := alice.until("ERROR", isType("ERROR", "")); e.Code != "forbidden" {
		t.Fatalf("events room for a trader: %+v", e)
	}
}

// TestResumeReconnectStorm: 100 reconnects with since while events keep
// coming; the union of the events-room positions received is contiguous and
// has no duplicate.
func TestResumeReconnectStorm(t *testing.T) {
	f := newFixture(t, ws.Config{BatchWindow: 5 * time.Millisecond})
	first := f.tick("NIFTY26NOVFUT", domain.Rupees(24000))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a writer that never stops during the storm
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			if i%7 == 0 {
				f.trade("paper-alice", 65, domain.Rupees(100))
			} else {
				f.tick("NIFTY26NOVFUT", domain.Rupees(24000)+domain.Price(i))
			}
		}
	}()
	seen := map[uint64]int{}
	since := uint64(first) - 1
	for round := range 100 {
		c := f.dial("admin")
		c.send(map[string]any{"type": "SUBSCRIBE", "room": "events", "since": since})
		want := 5 + round%20 // items to read before dropping the connection
		for got := 0; got < want; {
			m, err := c.next()
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if m.Type != "UPDATE" || m.Room != "events" {
				continue
			}
			for _, it := range m.items(t) {
				seen[it.Position]++
				since = it.Position
				got++
			}
		}
		c.c.CloseNow()
	}
	cancel()
	wg.Wait()
	var ps []uint64
	for p, n := range seen {
		if n != 1 {
			t.Errorf("position %d received %d times", p, n)
		}
		ps = append(ps, p)
	}
	slices.Sort(ps)
	if ps[0] != uint64(first) {
		t.Fatalf("first position %d, want %d", ps[0], first)
	}
	for i := 1; i < len(ps); i++ {
		if ps[i] != ps[i-1]+1 {
			t.Fatalf("gap: %d then %d", ps[i-1], ps[i])
		}
	}
	t.Logf("%d positions over 100 reconnects", len(ps))
}

// TestResumeOrdersAfterDisconnect: ORDER_UPDATEs missed while away arrive
// on resume, in order, once each; a resume further back than MaxReplay gets
// a fresh snapshot instead.
func TestResumeOrdersAfterDisconnect(t *testing.T) {
	f := newFixture(t, ws.Config{MaxReplay: 10})
	c := f.dial("alice")
	c.send(map[string]any{"type": "SUBSCRIBE", "room": "orders"})
	snap := c.until("snapshot", isType("SNAPSHOT", "orders"))
	c.c.CloseNow()
	var want []uint64
	for range 2 {
		_, p := f.trade("paper-alice", 65, domain.Rupees(100))
		want = append(want, uint64(p)-1, uint64(p)) // intent and fill
	}
	f.trade("paper-bob", 65, domain.Rupees(100)) // not alice's
	c = f.dial("alice")
	c.send(map[string]any{"type": "SUBSCRIBE", "room": "orders", "since": snap.Position})
	var got []uint64
	for len(got) < len(want) {
		m := c.until("ORDER_UPDATE", isType("ORDER_UPDATE", "orders"))
		got = append(got, m.Position)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("resumed positions %v, want %v", got, want)
	}
	for range 6 {
		f.trade("paper-alice", 65, domain.Rupees(100))
	}
	c2 := f.dial("alice")
	c2.send(map[string]any{"type": "SUBSCRIBE", "room": "orders", "since": snap.Position})
	m := c2.until("snapshot or update", func(m msg) bool { return m.Type == "SNAPSHOT" || m.Type == "ORDER_UPDATE" })
	if m.Type != "SNAPSHOT" {
		t.Fatalf("a resume 16 changes back with MaxReplay 10 answered %s, want SNAPSHOT", m.Type)
	}
}

// TestSlowClientIsClosedOthersServed: a client that never reads is closed
// with 1008 once its queue is full; a reading client gets every update.
func TestSlowClientIsClosedOthersServed(t *testing.T) {
	f := newFixture(t, ws.Config{MaxPending: 64, BatchWindow: time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	stalled := f.dial("admin")
	stalled.send(map[string]any{"type": "SUBSCRIBE", "room": "events"})
	reader := f.dial("alice")
	reader.send(map[string]any{"type": "SUBSCRIBE", "room": "market:NIFTY26NOVFUT"})
	reader.until("snapshot", isType("SNAPSHOT", ""))
	stalled.until("snapshot", isType("SNAPSHOT", "")) // then it stops reading
	var last eventstore.Position
	big := strings.Repeat("x", 4000)
	gaps := make([]eventstore.EventData, 100)
	for i := range 300 {
		last = f.tick("NIFTY26NOVFUT", domain.Rupees(24000)+domain.Price(i))
		for j := range gaps {
			gaps[j], _ = f.reg.Encode(uuid.New(), domain.FeedGap{Provider: "sim", Dropped: 1, Reason: big, From: time.Unix(0, 0).UTC(), To: time.Unix(1, 0).UTC()}, eventstore.Metadata{})
		}
		if _, err := f.st.Append(context.Background(), domain.ProviderStream("sim"), eventstore.Any(), gaps...); err != nil {
			t.Fatal(err)
		}
		if f.hub.Stats().SlowClosed > 0 {
			break
		}
	}
	reader.until("the last tick", func(m msg) bool { return m.Type == "UPDATE" && m.Position == uint64(last) })
	waitFor(t, fmt.Sprintf("the stalled client to be closed (%+v)", f.hub.Stats()), func() bool { return f.hub.Stats().SlowClosed == 1 })
}

// TestMalformedFramesLeaveOthersServed: 1,000 malformed frames from one
// client; another client keeps getting updates and goroutines return to the
// baseline once the noisy client is gone.
func TestMalformedFramesLeaveOthersServed(t *testing.T) {
	f := newFixture(t, ws.Config{InboundRate: 1e6, InboundBurst: 2000})
	good := f.dial("bob")
	good.send(map[string]any{"type": "SUBSCRIBE", "room": "market:NIFTY26NOVFUT"})
	good.until("snapshot", isType("SNAPSHOT", ""))
	p0 := f.tick("NIFTY26NOVFUT", domain.Rupees(24000))
	good.until("a first update", func(m msg) bool { return m.Type == "UPDATE" && m.Position == uint64(p0) })
	base := runtime.NumGoroutine()
	noisy := f.dial("alice")
	var errs sync.WaitGroup
	errs.Add(1)
	go func() { // drain the noisy client's ERROR replies
		defer errs.Done()
		for {
			if _, _, err := noisy.c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	frames := []string{"", "{", "[1,2]", `{"type":42}`, `{"type":"SUBSCRIBE","room":"nope"}`, "\x00\xff", `{"type":"SUBSCRIBE","room":"market:` + strings.Repeat("A", 100) + `"}`}
	for i := range 1000 {
		if err := noisy.c.Write(context.Background(), websocket.MessageText, []byte(frames[i%len(frames)])); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	p := f.tick("NIFTY26NOVFUT", domain.Rupees(24001))
	good.until("an update after the noise", func(m msg) bool { return m.Type == "UPDATE" && m.Position == uint64(p) })
	noisy.c.Close(websocket.StatusNormalClosure, "")
	errs.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d, baseline %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOversizedMessageClosesWith1009(t *testing.T) {
	f := newFixture(t, ws.Config{})
	c := f.dial("alice")
	_ = c.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"PING","room":"`+strings.Repeat("x", 70<<10)+`"}`))
	_, err := c.next()
	for err == nil {
		_, err = c.next()
	}
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v (%v), want 1009", websocket.CloseStatus(err), err)
	}
}

func TestCloseUserClosesSockets(t *testing.T) {
	f := newFixture(t, ws.Config{})
	a, b := f.dial("alice"), f.dial("bob")
	a.send(map[string]string{"type": "PING"})
	a.until("PONG", isType("PONG", ""))
	f.hub.CloseUser("u-alice")
	var err error
	for err == nil {
		_, err = a.next()
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("alice closed with %v, want 1008", err)
	}
	b.send(map[string]string{"type": "PING"})
	b.until("bob's PONG", isType("PONG", ""))
}

func TestOptionsStream(t *testing.T) {
	f := newFixture(t, ws.Config{})
	f.tick("NIFTY26N2424000CE", domain.Rupees(120))
	f.tick("BANKNIFTY26NOV52000PE", domain.Rupees(300))
	c := dialURL(t, f.url("/api/v1/truedata/options/stream?symbol=NIFTY"), "alice")
	snap := c.until("snapshot", isType("SNAPSHOT", "options:NIFTY"))
	if !strings.Contains(string(snap.Data), "NIFTY26N2424000CE") || strings.Contains(string(snap.Data), "BANKNIFTY") {
		t.Fatalf("options snapshot %s", snap.Data)
	}
	p := f.tick("NIFTY26N2424000CE", domain.Rupees(121))
	up := c.until("update", isType("UPDATE", "options:NIFTY"))
	if up.Position != uint64(p) {
		t.Fatalf("update at %d, want %d", up.Position, p)
	}
	resp, err := http.Get(f.ts.URL + "/api/v1/truedata/options/stream?symbol=")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no symbol: status %d, want 400", resp.StatusCode)
	}
}

// TestServerTimeoutsDoNotEndSockets: the HTTP server's read and write
// timeouts apply to requests, not to upgraded sockets.
func TestServerTimeoutsDoNotEndSockets(t *testing.T) {
	f := newFixture(t, ws.Config{})
	srv := httptest.NewUnstartedServer(f.hub)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	srv.Start()
	defer srv.Close()
	c := dialURL(t, "ws"+strings.TrimPrefix(srv.URL, "http"), "alice")
	time.Sleep(400 * time.Millisecond) // the condition under test is time passing
	c.send(map[string]string{"type": "PING"})
	c.until("PONG after the server timeouts", isType("PONG", ""))
}

// TestHeartbeatAndPongDeadline: an idle socket gets HEARTBEAT messages
// (its writer goroutine starts for each and ends after), and a client that
// stops answering protocol pings is closed with 1008 while one that
// answers stays.
func TestHeartbeatAndPongDeadline(t *testing.T) {
	f := newFixture(t, ws.Config{Heartbeat: 50 * time.Millisecond, PongTimeout: 300 * time.Millisecond})
	a := f.dial("alice")
	got := make(chan msg, 256)
	go func() { // alice reads all along, so her client answers pings
		defer close(got)
		hb := 0
		for {
			m, err := a.next()
			if err != nil {
				return
			}
			// Forward only what the test waits for, so that this reader
			// never blocks on a full channel (then alice would stop
			// answering pings and be the one closed).
			switch {
			case m.Type == "HEARTBEAT" && hb < 3:
				hb++
				got <- m
			case m.Type == "PONG":
				got <- m
			}
		}
	}()
	for hb := 0; hb < 3; {
		select {
		case m, ok := <-got:
			if !ok {
				t.Fatal("alice's socket ended")
			}
			if m.Type == "HEARTBEAT" {
				hb++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no HEARTBEAT within 10 s")
		}
	}
	b := f.dial("bob")
	// The hub registers a socket after the handshake: bob's PONG shows he
	// is counted (else alice alone already counts 1). From then on he
	// never reads, so never answers a ping.
	b.send(map[string]string{"type": "PING"})
	b.until("bob's PONG", isType("PONG", ""))
	waitFor(t, "bob's socket to be closed for not answering pings", func() bool { return f.hub.Stats().Clients == 1 })
	// (bob cannot see the 1008 now: reading, his client first answers the
	// queued pings on the closed socket and fails there.)
	var err error
	for n := 0; err == nil; n++ {
		if n == 10_000 {
			t.Fatal("bob's socket still delivers messages after the hub dropped him")
		}
		_, err = b.next()
	}
	a.send(map[string]string{"type": "PING"})
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-got:
			if !ok {
				t.Fatal("alice's socket ended, though she answers pings")
			}
			if m.Type == "PONG" {
				return
			}
		case <-deadline:
			t.Fatal("no PONG for alice within 10 s")
		}
	}
}

// TestCommands: COMMAND messages run as the socket's user and are answered
// RESULT or ERROR (with the command's id, the code and the rule).
func TestCommands(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	f := newFixture(t, ws.Config{}, func(d *ws.Deps) {
		d.Command = func(_ context.Context, id ws.Identity, c ws.Command) (any, error) {
			mu.Lock()
			seen = append(seen, id.Username+":"+c.Name+":"+c.Account)
			mu.Unlock()
			switch {
			case c.Account != "" && !id.CanSee(c.Account):
				return nil, &domain.CommandError{Code: domain.CodeForbidden, Message: "no access to account " + c.Account}
			case c.Name == "start":
				return map[string]any{"state": "running", "flatten": c.Flatten}, nil
			case c.Name == "kill":
				return nil, &domain.CommandError{Code: domain.CodeRefused, Rule: "kill_switch", Message: "already"}
			}
			return nil, errors.New("store down")
		}
	})
	a := f.dial("alice")
	a.send(map[string]any{"type": "COMMAND", "id": "c1", "command": "START", "account": "paper-alice"})
	r := a.until("RESULT", isType("RESULT", ""))
	if r.ID != "c1" || !strings.Contains(string(r.Data), `"state":"running"`) {
		t.Fatalf("start: %+v %s", r, r.Data)
	}
	a.send(map[string]any{"type": "COMMAND", "id": "c2", "command": "stop", "account": "paper-bob"})
	if e := a.until("ERROR", isType("ERROR", "")); e.ID != "c2" || e.Code != "forbidden" {
		t.Fatalf("stop on bob's account: %+v", e)
	}
	a.send(map[string]any{"type": "COMMAND", "id": "c3", "command": "kill", "reason": "x"})
	if e := a.until("ERROR", isType("ERROR", "")); e.ID != "c3" || e.Code != "refused" || e.Rule != "kill_switch" {
		t.Fatalf("kill: %+v", e)
	}
	a.send(map[string]any{"type": "COMMAND", "id": "c4", "command": "pause"})
	if e := a.until("ERROR", isType("ERROR", "")); e.ID != "c4" || e.Code != "unavailable" {
		t.Fatalf("failing command: %+v", e)
	}
	a.send(map[string]any{"type": "COMMAND", "id": "c5"})
	if e := a.until("ERROR", isType("ERROR", "")); e.ID != "c5" || e.Code != "bad_message" {
		t.Fatalf("no command: %+v", e)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != "alice:start:paper-alice,alice:stop:paper-bob,alice:kill:,alice:pause:" {
		t.Fatalf("commands run: %v", seen)
	}
}
