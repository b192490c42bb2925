package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/projections"
)

// marketAndTrading are the read models of the routes tested here.
var marketAndTrading = []string{"quotes", "positions", "orders", "signals"}

type positionsAnswer struct {
	Position  uint64            `json:"position"`
	AsOf      bool              `json:"as_of"`
	Positions []json.RawMessage `json:"positions"`
	Totals    struct {
		Realized    domain.Price `json:"realized"`
		Unrealized  domain.Price `json:"unrealized"`
		Charges     domain.Price `json:"charges"`
		TotalPnLNet domain.Price `json:"total_pnl_net"`
		Open        int          `json:"open_positions"`
	} `json:"totals"`
}

func TestReadModelRoutes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 11, 0, 0, 0, domain.IST())
	f := newTestEnv(t, envConfig{now: now, readModels: marketAndTrading})
	rs := domain.Rupees
	f.tick(domain.ExchangeNSE, "NIFTY 50", rs(26000))
	f.trade("paper-1", domain.Paper, domain.Buy, 130, rs(26050))
	f.trade("paper-2", domain.Paper, domain.Sell, 65, rs(26040))
	mid := f.tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26060))
	f.wait(mid)
	var before positionsAnswer
	get(t, f.ts.URL+"/api/v1/positions").decode(t, &before)

	f.trade("paper-1", domain.Paper, domain.Sell, 65, rs(26100))
	f.trade("paper-1", domain.Live, domain.Buy, 65, rs(26100))
	head := f.tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26080))
	f.wait(head)

	// Live answer.
	var live positionsAnswer
	get(t, f.ts.URL+"/api/v1/positions").decode(t, &live)
	if live.Position != uint64(head) || live.AsOf || len(live.Positions) != 3 || live.Totals.Open != 3 {
		t.Fatalf("live positions: %+v", live)
	}
	// paper-1 paper: long 130 @ 26050, sold 65 @ 26100 -> realized 65*50 = 3250; 65 open at 26080 -> +1950.
	var p1 positionsAnswer
	get(t, f.ts.URL+"/api/v1/positions?account=paper-1&mode=paper").decode(t, &p1)
	if len(p1.Positions) != 1 || p1.Totals.Realized != rs(3250) || p1.Totals.Unrealized != rs(1950) || p1.Totals.Charges != rs(40) ||
		p1.Totals.TotalPnLNet != rs(3250+1950-40) {
		t.Fatalf("paper-1 paper: %+v", p1)
	}
	var view struct {
		NetQty   int64        `json:"net_qty"`
		Lots     float64      `json:"lots"`
		AvgPrice domain.Price `json:"avg_price"`
	}
	if err := json.Unmarshal(p1.Positions[0], &view); err != nil || view.NetQty != 65 || view.Lots != 1 || view.AvgPrice != rs(26050) {
		t.Fatalf("paper-1 view %s: %+v %v", p1.Positions[0], view, err)
	}

	// As of a position: exactly what the live model answered there.
	var asOf positionsAnswer
	get(t, fmt.Sprintf("%s/api/v1/positions?position=%d", f.ts.URL, mid)).decode(t, &asOf)
	if !asOf.AsOf || asOf.Position != before.Position || fmt.Sprint(asOf.Positions) != fmt.Sprint(before.Positions) || asOf.Totals != before.Totals {
		t.Fatalf("as of %d:\n got %+v\nwant %+v", mid, asOf, before)
	}
	// As of a time: the recording time of event mid (the store clock ticks
	// a second per append, starting 04:00:01 UTC).
	at := time.Date(2026, 11, 20, 4, 0, int(mid), 0, time.UTC).Format(time.RFC3339)
	var asOfT positionsAnswer
	get(t, f.ts.URL+"/api/v1/positions?asOf="+url.QueryEscape(at)).decode(t, &asOfT)
	if asOfT.Position != uint64(mid) || fmt.Sprint(asOfT.Positions) != fmt.Sprint(before.Positions) {
		t.Fatalf("asOf %s: position %d, want %d", at, asOfT.Position, mid)
	}

	// An unencoded '+' in the offset arrives as a space and is still read.
	atIST := time.Date(2026, 11, 20, 4, 0, int(mid), 0, time.UTC).In(domain.IST()).Format(time.RFC3339)
	var asOfIST positionsAnswer
	get(t, f.ts.URL+"/api/v1/positions?asOf="+strings.Replace(atIST, "+", "%20", 1)).decode(t, &asOfIST)
	if asOfIST.Position != uint64(mid) {
		t.Fatalf("asOf %s sent with a space: position %d, want %d", atIST, asOfIST.Position, mid)
	}

	for _, c := range []struct{ query, field string }{
		{"mode=demo", "mode"}, {"open=maybe", "open"}, {"position=-1", "position"}, {"asOf=yesterday", "asOf"},
		{"position=1&asOf=2026-11-20T10:00:00Z", "asOf"},
	} {
		wantError(t, get(t, f.ts.URL+"/api/v1/positions?"+c.query), http.StatusBadRequest, "invalid", c.field)
	}
	wantError(t, get(t, fmt.Sprintf("%s/api/v1/positions?position=%d", f.ts.URL, head+10)), http.StatusBadRequest, "invalid", "head")

	// Quotes.
	var idx struct {
		Position uint64 `json:"position"`
		Indices  []struct {
			Symbol string       `json:"symbol"`
			LTP    domain.Price `json:"ltp"`
		} `json:"indices"`
	}
	get(t, f.ts.URL+"/api/market/indices").decode(t, &idx)
	if idx.Position != uint64(head) || len(idx.Indices) != 1 || idx.Indices[0].Symbol != "NIFTY 50" || idx.Indices[0].LTP != rs(26000) {
		t.Fatalf("indices: %+v", idx)
	}
	var q struct {
		Symbol  string       `json:"symbol"`
		LTP     domain.Price `json:"ltp"`
		Change  domain.Price `json:"change"`
		TickAge float64      `json:"tick_age_seconds"`
	}
	get(t, f.ts.URL+"/api/v1/market-data/quote/"+url.PathEscape("NFO:NIFTY26NOVFUT")).decode(t, &q)
	if q.LTP != rs(26080) || q.Change != rs(20) || q.TickAge != 3600 {
		t.Fatalf("quote: %+v", q)
	}
	get(t, f.ts.URL+"/api/v1/market-data/quote/NIFTY26NOVFUT").decode(t, &q)
	if q.Symbol != "NIFTY26NOVFUT" {
		t.Fatalf("quote by bare symbol: %+v", q)
	}
	wantError(t, get(t, f.ts.URL+"/api/v1/market-data/quote/NOPE"), http.StatusNotFound, "not_found", "NOPE")
	var syms struct {
		Symbols []struct {
			Symbol string `json:"symbol"`
			Index  bool   `json:"index"`
		} `json:"symbols"`
	}
	get(t, f.ts.URL+"/api/v1/market-data/symbols").decode(t, &syms)
	if len(syms.Symbols) != 2 || syms.Symbols[0].Symbol != "NIFTY26NOVFUT" || !syms.Symbols[1].Index {
		t.Fatalf("symbols: %+v", syms)
	}
	var ms struct {
		Phase    string    `json:"phase"`
		IsOpen   bool      `json:"is_open"`
		Closes   time.Time `json:"closes"`
		NextOpen time.Time `json:"next_open"`
	}
	get(t, f.ts.URL+"/api/market/market-status").decode(t, &ms)
	if ms.Phase != "open" || !ms.IsOpen || !ms.Closes.Equal(time.Date(2026, 11, 20, 15, 30, 0, 0, domain.IST())) {
		t.Fatalf("market status at %s: %+v", now, ms)
	}

	// Projections: status, rebuild (same hash), errors.
	var ps struct {
		Projections []projections.Status `json:"projections"`
	}
	get(t, f.ts.URL+"/api/v1/projections").decode(t, &ps)
	if len(ps.Projections) != 4 || ps.Projections[1].Name != "positions" || ps.Projections[1].Lag != 0 || ps.Projections[1].Hash == "" {
		t.Fatalf("projections: %+v", ps)
	}
	var rb projections.Status
	r := do(t, http.MethodPost, f.ts.URL+"/api/v1/projections/positions/rebuild")
	r.decode(t, &rb)
	if r.status != http.StatusOK || rb.Hash != ps.Projections[1].Hash || rb.LastRebuild.IsZero() {
		t.Fatalf("rebuild: %d %s", r.status, r.body)
	}
	wantError(t, do(t, http.MethodPost, f.ts.URL+"/api/v1/projections/nope/rebuild"), http.StatusNotFound, "not_found", "nope")
	r = get(t, f.ts.URL+"/api/v1/projections/positions/rebuild")
	wantError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q, want POST", r.header.Get("Allow"))
	}
}

func TestOrderAndTradeRoutes(t *testing.T) {
	t.Parallel()
	f := newTestEnv(t, envConfig{now: time.Date(2026, 11, 20, 11, 0, 0, 0, domain.IST()), readModels: marketAndTrading})
	rs := domain.Rupees
	var last eventstore.Position
	for i := range 5 {
		acct := "paper-1"
		if i%2 == 1 {
			acct = "paper-2"
		}
		last = f.trade(acct, domain.Paper, domain.Buy, 65, rs(26000+int64(i)))
	}
	f.wait(last)

	type orders struct {
		Position  uint64 `json:"position"`
		NextAfter uint64 `json:"next_after"`
		Orders    []struct {
			OrderID   string `json:"order_id"`
			Account   string `json:"account"`
			Status    string `json:"status"`
			FilledQty int64  `json:"filled_qty"`
			Created   uint64 `json:"created_position"`
		} `json:"orders"`
	}
	var page1, page2, p2 orders
	get(t, f.ts.URL+"/api/v1/orders?limit=2").decode(t, &page1)
	if page1.Position != uint64(last) || len(page1.Orders) != 2 || page1.Orders[0].OrderID != "o1" || page1.Orders[0].Status != "FILLED" ||
		page1.Orders[0].FilledQty != 65 || page1.NextAfter != page1.Orders[1].Created {
		t.Fatalf("orders page 1: %+v", page1)
	}
	get(t, fmt.Sprintf("%s/api/v1/orders?limit=2&after=%d", f.ts.URL, page1.NextAfter)).decode(t, &page2)
	if len(page2.Orders) != 2 || page2.Orders[0].OrderID != "o3" {
		t.Fatalf("orders page 2: %+v", page2)
	}
	get(t, f.ts.URL+"/api/v1/orders?account=paper-2").decode(t, &p2)
	if len(p2.Orders) != 2 || p2.Orders[0].OrderID != "o2" || p2.Orders[1].OrderID != "o4" || p2.NextAfter != 0 {
		t.Fatalf("paper-2 orders: %+v", p2)
	}

	var one struct {
		Order struct {
			OrderID string `json:"order_id"`
			History []struct {
				Type string `json:"type"`
			} `json:"history"`
		} `json:"order"`
	}
	get(t, f.ts.URL+"/api/v1/orders/o3").decode(t, &one)
	if one.Order.OrderID != "o3" || len(one.Order.History) != 2 || one.Order.History[1].Type != domain.TypeOrderFilled {
		t.Fatalf("order o3: %+v", one)
	}
	wantError(t, get(t, f.ts.URL+"/api/v1/orders/nope"), http.StatusNotFound, "not_found", "nope")

	var trades struct {
		AsOf   bool `json:"as_of"`
		Trades []struct {
			TradeID string       `json:"trade_id"`
			Price   domain.Price `json:"price"`
		} `json:"trades"`
	}
	get(t, f.ts.URL+"/api/v1/dashboard/trades?account=paper-1").decode(t, &trades)
	if len(trades.Trades) != 3 || trades.Trades[0].TradeID != "o1-1" || trades.Trades[2].Price != rs(26004) {
		t.Fatalf("paper-1 trades: %+v", trades)
	}
	// As of the first fill: one trade.
	get(t, f.ts.URL+"/api/v1/dashboard/trades?position=2").decode(t, &trades)
	if !trades.AsOf || len(trades.Trades) != 1 {
		t.Fatalf("trades as of 2: %+v", trades)
	}
	for _, c := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"after=x", "after"}, {"mode=x", "mode"}, {"cursor=x", "cursor"}, {"cursor=1&after=1", "cursor"},
	} {
		wantError(t, get(t, f.ts.URL+"/api/v1/dashboard/trades?"+c.query), http.StatusBadRequest, "invalid", c.field)
		wantError(t, get(t, f.ts.URL+"/api/v1/orders?"+c.query), http.StatusBadRequest, "invalid", c.field)
	}
	// Fills have no status: refused, not ignored.
	wantError(t, get(t, f.ts.URL+"/api/v1/dashboard/trades?status=FILLED"), http.StatusBadRequest, "invalid", "status", "/api/v1/orders")

	// The cursor: X-Next-Cursor, next_cursor and next_after are one value,
	// present on full pages only; cursor= reads on like after=.
	r := get(t, f.ts.URL+"/api/v1/orders?limit=2")
	var c1 struct {
		NextCursor uint64 `json:"next_cursor"`
		NextAfter  uint64 `json:"next_after"`
	}
	r.decode(t, &c1)
	if c1.NextCursor == 0 || c1.NextCursor != c1.NextAfter || r.header.Get("X-Next-Cursor") != fmt.Sprint(c1.NextCursor) {
		t.Fatalf("orders page 1: X-Next-Cursor %q, body %s", r.header.Get("X-Next-Cursor"), r.body)
	}
	var byCursor orders
	get(t, fmt.Sprintf("%s/api/v1/orders?limit=2&cursor=%d", f.ts.URL, c1.NextCursor)).decode(t, &byCursor)
	if fmt.Sprint(byCursor.Orders) != fmt.Sprint(page2.Orders) {
		t.Fatalf("orders by cursor %+v, by after %+v", byCursor, page2)
	}
	r = get(t, f.ts.URL+"/api/v1/dashboard/trades?limit=2&cursor=4")
	if r.status != http.StatusOK || r.header.Get("X-Next-Cursor") != "8" {
		t.Fatalf("trades after 4: X-Next-Cursor %q, %d %s", r.header.Get("X-Next-Cursor"), r.status, r.body)
	}
	r = get(t, f.ts.URL+"/api/v1/dashboard/trades?limit=2&cursor=8")
	if r.status != http.StatusOK || r.header.Get("X-Next-Cursor") != "" || strings.Contains(string(r.body), "next_") {
		t.Fatalf("the last trades page has a cursor: %q %s", r.header.Get("X-Next-Cursor"), r.body)
	}
}

func TestSignalRoutes(t *testing.T) {
	t.Parallel()
	f := newTestEnv(t, envConfig{now: time.Date(2026, 11, 20, 11, 0, 0, 0, domain.IST()), readModels: marketAndTrading})
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST())
	for i := range 3 {
		f.append(domain.SignalStream("n8n"), domain.SignalRaised{SignalID: fmt.Sprint("s", i), Source: "n8n", Account: "paper-1",
			Exchange: "NFO", Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: 65, RaisedAt: at})
	}
	last := f.append(domain.SignalStream("n8n"), domain.SignalRejected{SignalID: "s1", Rule: "stale_data", Reason: "last tick 12 s old"})
	f.wait(last)
	var ans struct {
		Position   uint64 `json:"position"`
		NextBefore uint64 `json:"next_before"`
		Signals    []struct {
			SignalID string `json:"signal_id"`
			Status   string `json:"status"`
			Rule     string `json:"rule"`
			Position uint64 `json:"position"`
		} `json:"signals"`
	}
	get(t, f.ts.URL+"/api/v1/signals?status=REJECTED").decode(t, &ans)
	if ans.Position != uint64(last) || len(ans.Signals) != 1 || ans.Signals[0].SignalID != "s1" || ans.Signals[0].Rule != "stale_data" {
		t.Fatalf("rejected signals: %+v", ans)
	}
	get(t, f.ts.URL+"/api/v1/signals?limit=2").decode(t, &ans)
	if len(ans.Signals) != 2 || ans.Signals[0].SignalID != "s2" || ans.NextBefore != ans.Signals[1].Position {
		t.Fatalf("first page: %+v", ans)
	}
	get(t, fmt.Sprintf("%s/api/v1/signals?limit=2&before=%d", f.ts.URL, ans.NextBefore)).decode(t, &ans)
	if len(ans.Signals) != 1 || ans.Signals[0].SignalID != "s0" {
		t.Fatalf("second page: %+v", ans)
	}
	get(t, f.ts.URL+"/api/v1/signals?account=paper-2").decode(t, &ans)
	if len(ans.Signals) != 0 {
		t.Fatalf("paper-2 sees paper-1's signals: %+v", ans)
	}
	wantError(t, get(t, f.ts.URL+"/api/v1/signals?before=x"), http.StatusBadRequest, "invalid", "before")
	wantError(t, get(t, f.ts.URL+"/api/v1/signals?before=3&cursor=3"), http.StatusBadRequest, "invalid", "cursor", "before")

	// cursor= pages like before=, newest first, with the same cursor in
	// X-Next-Cursor, next_cursor and next_before.
	var page struct {
		NextCursor uint64 `json:"next_cursor"`
		NextBefore uint64 `json:"next_before"`
		Signals    []struct {
			SignalID string `json:"signal_id"`
		} `json:"signals"`
	}
	r := get(t, f.ts.URL+"/api/v1/signals?limit=2")
	r.decode(t, &page)
	if page.NextCursor == 0 || page.NextCursor != page.NextBefore || r.header.Get("X-Next-Cursor") != fmt.Sprint(page.NextCursor) {
		t.Fatalf("signals page 1: X-Next-Cursor %q, body %s", r.header.Get("X-Next-Cursor"), r.body)
	}
	r = get(t, fmt.Sprintf("%s/api/v1/signals?limit=2&cursor=%d", f.ts.URL, page.NextCursor))
	page.Signals = nil
	r.decode(t, &page)
	if len(page.Signals) != 1 || page.Signals[0].SignalID != "s0" || r.header.Get("X-Next-Cursor") != "" {
		t.Fatalf("signals by cursor: X-Next-Cursor %q, body %s", r.header.Get("X-Next-Cursor"), r.body)
	}
}
