package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

// dashboardModels are the read models of the dashboard routes, and
// positions.
var dashboardModels = []string{"positions", "pnl", "control", "providers"}

var dashboardRoutes = []string{
	"/api/v1/dashboard/summary",
	"/api/v1/dashboard/pnl?fill=true",
	"/api/v1/dashboard/performance",
	"/api/v1/control/status",
	"/api/v1/providers",
}

// withoutAsOf decodes an answer and drops its as_of flag.
func withoutAsOf(t *testing.T, r response) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var m map[string]any
	r.decode(t, &m)
	delete(m, "as_of")
	return m
}

func TestDashboardRoutes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 10, 0, 30, 0, domain.IST())
	f := newTestEnv(t, envConfig{now: now, readModels: dashboardModels})
	rs := domain.Rupees
	// The store records an event a second from 09:30:01 IST; ticks are
	// stamped 10:00 IST. paper-1 buys 130 FUT @ 26050 (₹20 charges).
	f.tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26000))
	f.trade("paper-1", domain.Paper, domain.Buy, 130, rs(26050))
	f.append(domain.ControlStream("paper-1"), domain.TradingStarted{ControlChange: domain.ControlChange{Account: "paper-1", By: "alice", Reason: "open"}})
	f.append(domain.ControlStream("paper-1"), domain.StrategyEnabled{Account: "paper-1", Strategy: "orb", Params: json.RawMessage(`{"minutes":15}`), By: "alice"})
	f.append(domain.ProviderStream("sim"), domain.FeedGap{Provider: "sim", Dropped: 7, From: now.Add(-time.Minute), To: now, Reason: "store behind"})
	mid := f.tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26060))
	f.wait(mid)
	atMid := map[string]map[string]any{}
	for _, route := range dashboardRoutes {
		atMid[route] = withoutAsOf(t, get(t, f.ts.URL+route))
	}

	// Sell 65 @ 26100 (realizes 65 × 50), the kill switch trips, a tick.
	f.trade("paper-1", domain.Paper, domain.Sell, 65, rs(26100))
	f.append(domain.ControlStream("paper-1"), domain.KillSwitchTriggered{Account: "paper-1", Reason: "daily loss", By: "risk", Auto: true})
	head := f.tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26080))
	f.wait(head)

	// Summary: realized 3250, 65 open at 26080 vs 26050 = +1950, charges 40.
	var sum struct {
		Position uint64 `json:"position"`
		AsOf     bool   `json:"as_of"`
		Day      string `json:"day"`
		Accounts []struct {
			Account       string       `json:"account"`
			Mode          domain.Mode  `json:"mode"`
			Capital       domain.Price `json:"capital"`
			DayPnL        domain.Price `json:"day_pnl"`
			Realized      domain.Price `json:"realized"`
			Unrealized    domain.Price `json:"unrealized"`
			Charges       domain.Price `json:"charges"`
			Net           domain.Price `json:"net"`
			OpenPositions int          `json:"open_positions"`
			TradeCount    int64        `json:"trade_count"`
			WinRatePct    *float64     `json:"win_rate_pct"`
			Sharpe        *float64     `json:"sharpe"`
			Unavailable   map[string]string
		} `json:"accounts"`
		Totals api.SummaryTotals `json:"totals"`
	}
	get(t, f.ts.URL+"/api/v1/dashboard/summary?account=paper-1&mode=paper").decode(t, &sum)
	if sum.Position != uint64(head) || sum.AsOf || sum.Day != "2026-11-20" || len(sum.Accounts) != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	a := sum.Accounts[0]
	if a.Account != "paper-1" || a.Capital != rs(10_00_000) || a.Realized != rs(3250) || a.Unrealized != rs(1950) || a.Charges != rs(40) ||
		a.DayPnL != rs(5200) || a.Net != rs(5160) || a.OpenPositions != 1 || a.TradeCount != 2 || a.WinRatePct == nil || *a.WinRatePct != 100 ||
		a.Sharpe != nil || a.Unavailable["sharpe"] != "fewer than 2 trading days" || sum.Totals.Net != rs(5160) {
		t.Fatalf("summary row: %+v", a)
	}

	// The series: the fills at 09:30 IST (recording time), the ticks at 10:00.
	var series struct {
		Position uint64 `json:"position"`
		Day      string `json:"day"`
		Points   []struct {
			Time time.Time    `json:"time"`
			Net  domain.Price `json:"net"`
		} `json:"points"`
	}
	get(t, f.ts.URL+"/api/v1/dashboard/pnl?account=paper-1&strategy=-").decode(t, &series)
	if series.Day != "2026-11-20" || len(series.Points) != 2 || series.Points[1].Net != rs(5160) ||
		!series.Points[1].Time.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST())) {
		t.Fatalf("series: %+v", series)
	}
	get(t, f.ts.URL+"/api/v1/dashboard/pnl?account=paper-1&fill=true").decode(t, &series)
	if len(series.Points) != 31 { // 09:30 through 10:00
		t.Fatalf("filled series: %d points", len(series.Points))
	}
	get(t, f.ts.URL+"/api/v1/dashboard/pnl?account=paper-2").decode(t, &series)
	if len(series.Points) != 0 {
		t.Fatalf("paper-2 series: %+v", series)
	}

	var perf struct {
		Accounts []struct {
			Account      string   `json:"account"`
			ClosedTrades int64    `json:"closed_trades"`
			ProfitFactor *float64 `json:"profit_factor"`
			Strategies   []struct {
				Strategy string `json:"strategy"`
			} `json:"strategies"`
		} `json:"accounts"`
	}
	get(t, f.ts.URL+"/api/v1/dashboard/performance").decode(t, &perf)
	if len(perf.Accounts) != 1 || perf.Accounts[0].ClosedTrades != 1 || len(perf.Accounts[0].Strategies) != 1 {
		t.Fatalf("performance: %+v", perf)
	}

	var ctl struct {
		Accounts []struct {
			Account    string `json:"account"`
			State      string `json:"state"`
			Mode       string `json:"mode"`
			Strategies []struct {
				Strategy string          `json:"strategy"`
				Params   json.RawMessage `json:"params"`
			} `json:"strategies"`
			KillSwitch struct {
				Active bool      `json:"active"`
				Reason string    `json:"reason"`
				Since  time.Time `json:"since"`
			} `json:"kill_switch"`
		} `json:"accounts"`
	}
	get(t, f.ts.URL+"/api/v1/control/status?account=paper-1").decode(t, &ctl)
	if len(ctl.Accounts) != 1 || ctl.Accounts[0].State != "running" || ctl.Accounts[0].Mode != "paper" || len(ctl.Accounts[0].Strategies) != 1 ||
		string(ctl.Accounts[0].Strategies[0].Params) != `{"minutes":15}` || !ctl.Accounts[0].KillSwitch.Active || ctl.Accounts[0].KillSwitch.Since.IsZero() {
		t.Fatalf("control status: %+v", ctl)
	}
	get(t, f.ts.URL+"/api/v1/control/status?account=paper-2").decode(t, &ctl)
	if len(ctl.Accounts) != 0 {
		t.Fatalf("paper-2 sees paper-1's control status: %+v", ctl)
	}

	var prov struct {
		Providers []struct {
			Provider  string  `json:"provider"`
			Connected bool    `json:"connected"`
			Gaps      int64   `json:"gaps"`
			Dropped   int64   `json:"dropped"`
			Ticks     int64   `json:"ticks"`
			Rate      float64 `json:"msgs_per_sec"`
			TickAge   float64 `json:"tick_age_seconds"`
		} `json:"providers"`
	}
	get(t, f.ts.URL+"/api/v1/providers").decode(t, &prov)
	if len(prov.Providers) != 1 || !prov.Providers[0].Connected || prov.Providers[0].Gaps != 1 || prov.Providers[0].Dropped != 7 ||
		prov.Providers[0].Ticks != 3 || prov.Providers[0].Rate != 0.05 || prov.Providers[0].TickAge != 30 {
		t.Fatalf("providers: %+v", prov)
	}

	// As of mid: exactly what the live routes answered at mid.
	for _, route := range dashboardRoutes {
		sep := "?"
		if strings.Contains(route, "?") {
			sep = "&"
		}
		r := get(t, fmt.Sprintf("%s%s%sposition=%d", f.ts.URL, route, sep, mid))
		var flag struct {
			AsOf bool `json:"as_of"`
		}
		r.decode(t, &flag)
		if got := withoutAsOf(t, r); !flag.AsOf || !reflect.DeepEqual(got, atMid[route]) {
			t.Errorf("%s as of %d:\n got %v\nwant %v", route, mid, got, atMid[route])
		}
	}
	// ... and what a replay of the log to mid holds.
	ctx := context.Background()
	replayed, err := projections.Replay(ctx, f.st, projections.NewPnL(f.reg, projections.PnLConfig{}), mid, 0)
	if err != nil {
		t.Fatal(err)
	}
	points, pos := replayed.(*projections.PnL).Series(projections.PnLQuery{Fill: true})
	want, _ := json.Marshal(map[string]any{"position": uint64(pos), "day": "2026-11-20", "points": points})
	var wantMap map[string]any
	if err := json.Unmarshal(want, &wantMap); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(wantMap, atMid["/api/v1/dashboard/pnl?fill=true"]) {
		t.Errorf("replayed series %s, REST as of mid %v", want, atMid["/api/v1/dashboard/pnl?fill=true"])
	}

	for _, c := range []struct{ route, field string }{
		{"/api/v1/dashboard/summary?mode=demo", "mode"},
		{"/api/v1/dashboard/pnl?day=20-11-2026", "day"},
		{"/api/v1/dashboard/pnl?fill=maybe", "fill"},
		// What a route cannot apply is refused, not ignored.
		{"/api/v1/dashboard/summary?fill=true", "fill"},
		{"/api/v1/dashboard/performance?fill=false", "fill"},
		{"/api/v1/dashboard/performance?day=2026-11-20", "day"},
		{"/api/v1/dashboard/performance?position=x", "position"},
		{"/api/v1/control/status?asOf=yesterday", "asOf"},
		{"/api/v1/providers?position=1&asOf=2026-11-20T10:00:00Z", "asOf"},
	} {
		wantError(t, get(t, f.ts.URL+c.route), http.StatusBadRequest, "invalid", c.field)
	}
}
