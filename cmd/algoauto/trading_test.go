package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/algoauto/algoauto/domain"
)

// TestServePaperTrading: serve with the simulated feed; an admin starts
// paper trading on their paper account, places a market order, sees it
// filled by the paper broker from the feed's quotes and the position in
// the read model, then stops with flatten and sees the position closed.
func TestServePaperTrading(t *testing.T) {
	t.Parallel()
	base, _, _ := serveInProcess(t, "--store", t.TempDir(), "serve", "--addr", "127.0.0.1:0", "--speed", "60", "--sim-options=false",
		"--sim-start", "2026-11-20T09:15:00+05:30")
	waitReady(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	call := adminCaller(t, ctx, base)
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				_, o := call("GET", "/api/v1/orders?account=paper-admin", nil)
				_, q := call("GET", "/api/v1/market-data/quote/NFO:NIFTY26NOVFUT", nil)
				_, r := call("GET", "/api/v1/events?stream=risk-paper-admin", nil)
				_, c := call("GET", "/api/v1/events?stream=control-paper-admin", nil)
				t.Fatalf("timed out waiting for %s\norders %s\nquote %s\nrisk %s\ncontrol %s", what, o, q, r, c)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	acct := map[string]any{"account": "paper-admin"}
	if code, b := call("POST", "/api/v1/control/start", acct); code != http.StatusOK || !strings.Contains(string(b), `"state":"running"`) {
		t.Fatalf("start: %d %s", code, b)
	}
	// The engine refuses orders until it has a fresh quote (stale_data);
	// the first accepted one is recorded once, whatever the retries.
	var order struct {
		OrderID string `json:"order_id"`
		Status  string `json:"status"`
	}
	poll("an order the risk gate lets through", func() bool {
		code, b := call("POST", "/api/v1/orders", map[string]any{"account": "paper-admin", "symbol": "NFO:NIFTY26NOVFUT", "side": "BUY", "quantity": 65},
			"Idempotency-Key", "e2e-1")
		switch code {
		case http.StatusCreated, http.StatusOK:
			if err := json.Unmarshal(b, &order); err != nil {
				t.Fatal(err)
			}
			return true
		case http.StatusUnprocessableEntity:
			if !strings.Contains(string(b), `"rule":"stale_data"`) {
				t.Fatalf("refused for another reason than waiting for a quote: %s", b)
			}
			return false
		}
		t.Fatalf("place: %d %s", code, b)
		return false
	})
	if order.Status != "open" {
		t.Fatalf("order %+v, want open at the paper broker", order)
	}
	type pos struct {
		Account  string `json:"account"`
		Symbol   string `json:"symbol"`
		Quantity int64  `json:"net_qty"`
	}
	position := func() int64 {
		code, b := call("GET", "/api/v1/positions?account=paper-admin", nil)
		if code != http.StatusOK {
			t.Fatalf("positions: %d %s", code, b)
		}
		var body struct {
			Positions []pos `json:"positions"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		var q int64
		for _, p := range body.Positions {
			if p.Symbol == "NIFTY26NOVFUT" {
				q += p.Quantity
			}
		}
		return q
	}
	poll("the fill to show in positions", func() bool { return position() == 65 })
	if code, b := call("GET", "/api/v1/orders/"+order.OrderID, nil); code != http.StatusOK || !strings.Contains(string(b), `"status":"FILLED"`) {
		t.Fatalf("order after the fill: %d %s", code, b)
	}
	if code, b := call("POST", "/api/v1/control/stop?flatten=true", acct); code != http.StatusOK {
		t.Fatalf("stop: %d %s", code, b)
	}
	poll("the flattening sell to close the position", func() bool { return position() == 0 })
}

// TestServeStrategy is the end-to-end test: serve with the
// simulated feed and ma-crossover enabled in paper mode produces signals,
// orders, fills, positions and P&L visible on REST, and the realised P&L of
// the positions read model equals the P&L recomputed from the fills.
func TestServeStrategy(t *testing.T) {
	t.Parallel()
	base, serveLog, _ := serveInProcess(t, "--store", t.TempDir(), "serve", "--addr", "127.0.0.1:0", "--speed", "60", "--sim-options=false",
		"--sim-start", "2026-11-20T09:15:00+05:30")
	waitReady(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	call := adminCaller(t, ctx, base)
	live := watchRooms(t, ctx, base, "signals", "orders", "trades", "positions", "pnl")
	// Fast averages on every tick, so crossings come within seconds.
	if code, b := call("POST", "/api/v1/autonomous/enable", map[string]any{"account": "paper-admin", "strategy": "ma-crossover",
		"params": map[string]any{"fast": 2, "slow": 4, "bar_seconds": 0, "death_cross": "short"}}); code != http.StatusOK {
		t.Fatalf("enable: %d %s", code, b)
	}
	if code, b := call("POST", "/api/v1/control/start", map[string]any{"account": "paper-admin"}); code != http.StatusOK {
		t.Fatalf("start: %d %s", code, b)
	}
	type trade struct {
		OrderID  string    `json:"order_id"`
		Side     string    `json:"side"`
		Quantity int64     `json:"quantity"`
		Price    float64   `json:"price"`
		Symbol   string    `json:"symbol"`
		FilledAt time.Time `json:"filled_at"`
	}
	var trades []trade
	deadline := time.Now().Add(3 * time.Minute)
	for len(trades) < 2 { // an entry and a reversal: the reversal realises P&L
		if time.Now().After(deadline) {
			_, b := call("GET", "/api/v1/autonomous/status", nil)
			_, sig := call("GET", "/api/v1/signals?account=paper-admin", nil)
			_, q := call("GET", "/api/v1/quotes", nil)
			var warned []string
			for _, l := range lines(serveLog.String()) {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					warned = append(warned, l)
				}
			}
			t.Fatalf("fewer than 2 fills within 3 minutes: %v\nstatus %s\nsignals %s\nquotes %.2000s\nwarnings and errors:\n%s",
				trades, b, sig, q, strings.Join(warned, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
		code, b := call("GET", "/api/v1/dashboard/trades?account=paper-admin&limit=1000", nil)
		if code != http.StatusOK {
			t.Fatalf("trades: %d %s", code, b)
		}
		var body struct {
			Trades []trade `json:"trades"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		trades = body.Trades
	}
	// Stop trading, so that the fills stop moving, then compare.
	if code, b := call("POST", "/api/v1/control/stop", map[string]any{"account": "paper-admin"}); code != http.StatusOK {
		t.Fatalf("stop: %d %s", code, b)
	}
	var positions struct {
		Position  uint64 `json:"position"`
		Positions []struct {
			Symbol   string  `json:"symbol"`
			NetQty   int64   `json:"net_qty"`
			Realized float64 `json:"realized"`
			Strategy string  `json:"strategy"`
		} `json:"positions"`
	}
	var fills struct {
		Position uint64  `json:"position"`
		Trades   []trade `json:"trades"`
	}
	// Read both at one log position (the read models answer as of it).
	for {
		code, b := call("GET", "/api/v1/dashboard/trades?account=paper-admin&limit=1000", nil)
		if code != http.StatusOK || json.Unmarshal(b, &fills) != nil {
			t.Fatalf("trades: %d %s", code, b)
		}
		code, b = call("GET", fmt.Sprintf("/api/v1/positions?account=paper-admin&position=%d", fills.Position), nil)
		if code != http.StatusOK || json.Unmarshal(b, &positions) != nil {
			t.Fatalf("positions: %d %s", code, b)
		}
		if positions.Position == fills.Position {
			break
		}
	}
	// Recompute realised P&L from the fills: weighted-average cost, in paise.
	type book struct{ qty, avg, realized int64 }
	books := map[string]*book{}
	for _, f := range fills.Trades {
		bk := books[f.Symbol]
		if bk == nil {
			bk = &book{}
			books[f.Symbol] = bk
		}
		q, px := f.Quantity, int64(f.Price*100+0.5)
		if f.Side == "SELL" {
			q = -q
		}
		switch {
		case bk.qty == 0 || (bk.qty > 0) == (q > 0):
			bk.avg = (bk.qty*bk.avg + q*px) / (bk.qty + q)
			bk.qty += q
		default:
			closing := min(abs64(q), abs64(bk.qty))
			sign := int64(1)
			if bk.qty < 0 {
				sign = -1
			}
			bk.realized += sign * closing * (px - bk.avg)
			bk.qty += q
			if bk.qty == 0 {
				bk.avg = 0
			} else if (bk.qty > 0) == (q > 0) {
				bk.avg = px
			}
		}
	}
	var fromFills, fromModel int64
	var netFills, netModel int64
	for _, bk := range books {
		fromFills += bk.realized
		netFills += bk.qty
	}
	for _, p := range positions.Positions {
		fromModel += int64(p.Realized*100 + sign(p.Realized)*0.5)
		netModel += p.NetQty
		if p.Strategy != "ma-crossover" {
			t.Errorf("position %+v is not attributed to ma-crossover", p)
		}
	}
	if fromFills != fromModel || netFills != netModel {
		t.Fatalf("realised P&L from %d fills: %d paise, net %d; positions read model: %d paise, net %d", len(fills.Trades), fromFills, netFills, fromModel, netModel)
	}
	// The strategy's own P&L (the engine's, from its orders' fills) is the
	// same realised P&L.
	var running []struct {
		Account  string `json:"account"`
		Strategy string `json:"strategy"`
		PnL      struct {
			Realized float64 `json:"realized"`
		} `json:"pnl"`
		State struct {
			Symbol string `json:"symbol"`
		} `json:"state"`
	}
	waitFor(t, time.Minute, "the strategy's realised P&L to match the fills", func() bool {
		code, b := call("GET", "/api/v1/autonomous/strategies", nil)
		var body struct {
			Running json.RawMessage `json:"running"`
		}
		if code != http.StatusOK || json.Unmarshal(b, &body) != nil || json.Unmarshal(body.Running, &running) != nil {
			t.Fatalf("strategies: %d %s", code, b)
		}
		return len(running) == 1 && int64(running[0].PnL.Realized*100+sign(running[0].PnL.Realized)*0.5) == fromFills
	})
	// The strategy still trades the simulated day's contract: its clock is
	// the ticks', not the wall clock the store stamps its fills with.
	if got, want := running[0].State.Symbol, fills.Trades[0].Symbol; got != want {
		t.Fatalf("the strategy trades %s after its fills in %s: its clock left the simulated day", got, want)
	}
	for _, f := range fills.Trades { // filled at the simulated time, not when recorded
		if d := f.FilledAt.In(domain.IST()).Format(time.DateOnly); d != "2026-11-20" {
			t.Fatalf("fill %+v: filled_at on %s, want the simulated day 2026-11-20", f, d)
		}
	}
	// The signals read model shows the strategy's signals, accepted.
	code, b := call("GET", "/api/v1/signals?account=paper-admin&status=ACCEPTED", nil)
	if code != http.StatusOK || !strings.Contains(string(b), `"strategy":"ma-crossover"`) {
		t.Fatalf("signals: %d %s", code, b)
	}
	// The same happened live on the WebSocket: every fill in the trades
	// room, and updates of the strategy's account in the other rooms.
	waitFor(t, time.Minute, "every fill on /ws", func() bool {
		seen := live.text("trades")
		for _, f := range fills.Trades {
			if !strings.Contains(seen, `"order_id":"`+f.OrderID+`"`) {
				return false
			}
		}
		return true
	})
	for _, room := range []string{"signals", "orders", "positions", "pnl"} {
		waitFor(t, time.Minute, "updates of paper-admin in the "+room+" room", func() bool {
			return strings.Contains(live.text(room), `"paper-admin"`)
		})
	}
	waitFor(t, time.Minute, "the positions room to show the strategy's position", func() bool {
		return strings.Contains(live.text("positions"), `"strategy":"ma-crossover"`)
	})
	t.Logf("%d fills, realised %d paise, net %d", len(fills.Trades), fromFills, netFills)
}

// roomWatch is what an admin's WebSocket received per room: the data of
// every message but heartbeats, in order (an ERROR whole).
type roomWatch struct {
	mu    sync.Mutex
	rooms map[string]*strings.Builder
	err   error
}

func (w *roomWatch) text(room string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rooms[room] == nil {
		return ""
	}
	return w.rooms[room].String()
}

// watchRooms opens /ws as the admin and subscribes to rooms; what arrives
// is kept until the test ends.
func watchRooms(t *testing.T, ctx context.Context, base string, rooms ...string) *roomWatch {
	t.Helper()
	tok, _, err := adminToken(ctx, base, false)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(64 << 20)
	w := &roomWatch{rooms: map[string]*strings.Builder{}}
	for _, r := range rooms {
		b, _ := json.Marshal(map[string]any{"type": "SUBSCRIBE", "room": r})
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		w.rooms[r] = &strings.Builder{}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			var m struct {
				Type string          `json:"type"`
				Room string          `json:"room"`
				Data json.RawMessage `json:"data"`
			}
			if json.Unmarshal(b, &m) != nil || m.Type == "HEARTBEAT" {
				continue
			}
			if m.Type == "ERROR" {
				m.Data = b
			}
			w.mu.Lock()
			if sb := w.rooms[m.Room]; sb != nil {
				sb.Write(m.Data)
				sb.WriteByte('\n')
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.CloseNow(); <-done })
	return w
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

// adminCaller returns a function that sends a JSON request to the server
// at base as the admin and answers its status and body; header holds
// name, value pairs.
func adminCaller(t *testing.T, ctx context.Context, base string) func(method, path string, body any, header ...string) (int, []byte) {
	return func(method, path string, body any, header ...string) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := doAuthorized(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
}

// TestServeOptionChains: serve with its defaults ticks the NIFTY weekly
// chain; the option-chain route shows strikes around the spot with IV and
// Greeks, and the chain changes as the feed goes on (the options room of
// the WebSocket carries it too).
func TestServeOptionChains(t *testing.T) {
	t.Parallel()
	base, _, _ := serveInProcess(t, "--store", t.TempDir(), "serve", "--addr", "127.0.0.1:0", "--speed", "60",
		"--sim-start", "2026-11-20T09:15:00+05:30")
	waitReady(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	call := adminCaller(t, ctx, base)
	live := watchRooms(t, ctx, base, "options:NIFTY")
	type chain struct {
		Spot    float64 `json:"spot"`
		ATM     float64 `json:"atm_strike"`
		Strikes []struct {
			Strike float64 `json:"strike"`
			CE     *struct {
				LTP    float64 `json:"ltp"`
				Greeks *struct {
					IV    float64 `json:"iv"`
					Delta float64 `json:"delta"`
				} `json:"greeks"`
			} `json:"ce"`
		} `json:"strikes"`
	}
	read := func() (chain, string) {
		code, b := call("GET", "/api/v1/truedata/options/option-chain/NIFTY", nil)
		var c chain
		if code != http.StatusOK || json.Unmarshal(b, &c) != nil {
			return chain{}, ""
		}
		return c, string(b)
	}
	var first string
	waitFor(t, 2*time.Minute, "a NIFTY chain with the ATM call's Greeks", func() bool {
		c, raw := read()
		for _, s := range c.Strikes {
			if s.Strike == c.ATM && c.Spot > 0 && s.CE != nil && s.CE.Greeks != nil && s.CE.Greeks.IV > 0 &&
				s.CE.Greeks.Delta > 0.3 && s.CE.Greeks.Delta < 0.7 {
				first = raw
				return true
			}
		}
		return false
	})
	waitFor(t, time.Minute, "the chain to change", func() bool {
		_, raw := read()
		return raw != "" && raw != first
	})
	// The engine keeps up with the chains' ticks (its lag is a metric).
	waitFor(t, time.Minute, "algoauto_engine_lag_events on /metrics", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\nalgoauto_engine_lag_events ")
	})
	waitFor(t, time.Minute, "NIFTY option quotes in the options room on /ws", func() bool {
		txt := live.text("options:NIFTY")
		return strings.Contains(txt, `"symbol":"NIFTY`) && strings.Contains(txt, `CE","token"`) && strings.Contains(txt, `"ltp":`)
	})
}
