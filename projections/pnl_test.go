package projections_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/projections"
)

var (
	manualCall = leg{"paper-1", domain.Paper, "", "NIFTY26NOV24000CE"}
	nifty2     = leg{"paper-2", domain.Paper, "orb", "NIFTY26NOVFUT"}
)

// ist returns the UTC instant of an IST wall time on a day of Nov 2026.
func ist(day, h, m, s int) time.Time { return time.Date(2026, 11, day, h, m, s, 0, domain.IST()).UTC() }

// pnlDay scripts two trading days. Fills carry broker charges of ₹20 (the
// schedule is tested with positions). The builder records each event a
// second after the clock; a tick's exchange time is the clock.
//
// Day 1 (Fri 2026-11-20):
//
//	09:15  paper-1/orb buys 10 FUT @ 100; tick FUT 101            orb U +10
//	09:16  tick FUT 99; paper-1/orb sells 4 @ 103 (realizes +12);
//	       paper-1 manual sells 2 CE @ 200; paper-2/orb buys 1 FUT @ 100
//	09:17  nothing
//	09:18  tick FUT 105, tick CE 190, tick NIFTY 50 (held by nobody)
//
// Day 2 (Mon 2026-11-23):
//
//	09:15  tick FUT 107
//	09:16  paper-1/orb sells 6 @ 108 (realizes +48)
func pnlDay(t *testing.T) *logBuilder {
	rs := domain.Rupees
	b := newLog(t)
	b.clock = ist(20, 9, 15, 0)
	b.order(nifty, domain.Buy, rs(100), rs(20), 10)
	b.tick(domain.ExchangeNFO, nifty.symbol, rs(101))
	b.clock = ist(20, 9, 16, 10)
	b.tick(domain.ExchangeNFO, nifty.symbol, rs(99))
	b.order(nifty, domain.Sell, rs(103), rs(20), 4)
	b.order(manualCall, domain.Sell, rs(200), rs(20), 2)
	b.order(nifty2, domain.Buy, rs(100), rs(20), 1)
	b.clock = ist(20, 9, 18, 30)
	b.tick(domain.ExchangeNFO, nifty.symbol, rs(105))
	b.tick(domain.ExchangeNFO, manualCall.symbol, rs(190))
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26000))
	b.clock = ist(23, 9, 15, 0)
	b.tick(domain.ExchangeNFO, nifty.symbol, rs(107))
	b.clock = ist(23, 9, 16, 0)
	b.order(nifty, domain.Sell, rs(108), rs(20), 6)
	return b
}

type pt struct {
	hm      string
	r, u, c domain.Price
	net     domain.Price
}

func points(ps []projections.PnLPoint) []pt {
	out := []pt{}
	for _, p := range ps {
		out = append(out, pt{p.Time.In(domain.IST()).Format("01-02 15:04"), p.Realized, p.Unrealized, p.Charges, p.Net})
	}
	return out
}

func TestPnLSeries(t *testing.T) {
	b := pnlDay(t)
	p := projections.NewPnL(reg, projections.PnLConfig{})
	p.Apply(b.evs, b.evs[len(b.evs)-1].Position)
	p1 := []string{"paper-1"}
	for _, c := range []struct {
		name string
		q    projections.PnLQuery
		want []pt
	}{
		// orb: 09:15 long 10 @ 100 marked at 101. 09:16 marked at 99 (-10),
		// then 4 sold at 103 release 400 of basis: realized 12, 6 open at 99
		// = -6. 09:18 6 at 105 = +30.
		{"paper-1 orb day 1", projections.PnLQuery{Accounts: p1, Strategy: "orb", Day: "2026-11-20"}, []pt{
			{"11-20 09:15", 0, 1000, 2000, -1000},
			{"11-20 09:16", 1200, -600, 4000, -3400},
			{"11-20 09:18", 1200, 3000, 4000, 200},
		}},
		{"carried forward through 09:17", projections.PnLQuery{Accounts: p1, Strategy: "orb", Day: "2026-11-20", Fill: true}, []pt{
			{"11-20 09:15", 0, 1000, 2000, -1000},
			{"11-20 09:16", 1200, -600, 4000, -3400},
			{"11-20 09:17", 1200, -600, 4000, -3400},
			{"11-20 09:18", 1200, 3000, 4000, 200},
		}},
		// Manual short 2 CE @ 200: no CE price until 09:18 (190: +20).
		{"paper-1 manual", projections.PnLQuery{Accounts: p1, Strategy: projections.ManualStrategy, Day: "2026-11-20"}, []pt{
			{"11-20 09:16", 0, 0, 2000, -2000},
			{"11-20 09:18", 0, 2000, 2000, 0},
		}},
		{"paper-1 total = orb + manual", projections.PnLQuery{Accounts: p1, Day: "2026-11-20"}, []pt{
			{"11-20 09:15", 0, 1000, 2000, -1000},
			{"11-20 09:16", 1200, -600, 6000, -5400},
			{"11-20 09:18", 1200, 5000, 6000, 200},
		}},
		// paper-2 bought 1 @ 100 after the 99 tick (-1); 105 at 09:18 (+5).
		// Summed with paper-1's orb: paper-2 counts nothing before 09:16.
		{"orb over both accounts", projections.PnLQuery{Strategy: "orb", Day: "2026-11-20"}, []pt{
			{"11-20 09:15", 0, 1000, 2000, -1000},
			{"11-20 09:16", 1200, -700, 6000, -5500},
			{"11-20 09:18", 1200, 3500, 6000, -1300},
		}},
		// Day 2 (the latest, by default): orb carried +30 in; 107 makes it
		// +42 (net +12); 6 sold at 108 realize 48, charges 20: net -2.
		{"paper-1 orb day 2", projections.PnLQuery{Accounts: p1, Strategy: "orb"}, []pt{
			{"11-23 09:15", 0, 4200, 0, 1200},
			{"11-23 09:16", 4800, 0, 2000, -200},
		}},
		// The total carried 30 + 20 in; the CE did not tick on day 2.
		{"paper-1 total day 2", projections.PnLQuery{Accounts: p1, Mode: domain.Paper}, []pt{
			{"11-23 09:15", 0, 6200, 0, 1200},
			{"11-23 09:16", 4800, 2000, 2000, -200},
		}},
		{"live: nothing", projections.PnLQuery{Accounts: p1, Mode: domain.Live, Day: "2026-11-20"}, []pt{}},
		{"no such day", projections.PnLQuery{Day: "2026-11-19"}, []pt{}},
	} {
		got, pos := p.Series(c.q)
		if pos != b.evs[len(b.evs)-1].Position {
			t.Fatalf("%s: position %d", c.name, pos)
		}
		if g := points(got); !slices.Equal(g, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, g, c.want)
		}
	}
	if got, _ := p.Series(projections.PnLQuery{Day: "20-11-2026"}); len(got) != 0 {
		t.Errorf("a bad day has points: %+v", got)
	}
	if _, err := projections.ParseDay("20-11-2026"); err == nil {
		t.Error("ParseDay accepts 20-11-2026")
	}
	if d := p.LatestDay(); d != "2026-11-23" {
		t.Errorf("LatestDay = %s", d)
	}
}

func TestPnLStatistics(t *testing.T) {
	b := pnlDay(t)
	p := projections.NewPnL(reg, projections.PnLConfig{})
	p.Apply(b.evs, b.evs[len(b.evs)-1].Position)

	perf, _ := p.Performance(projections.PnLQuery{Accounts: []string{"paper-1"}})
	if len(perf) != 1 || len(perf[0].Strategies) != 2 || perf[0].Strategies[0].Strategy != "" || perf[0].Strategies[1].Strategy != "orb" {
		t.Fatalf("performance: %+v", perf)
	}
	orb := perf[0].Strategies[1].Stats
	// Two closed trades (the sells of 4 and 6), both won: 12 + 48.
	// Equity points (cumulative net, rupees): -10, -34, 2 | 14, 0: the
	// largest fall is 34 from the start (capital ₹10,00,000): 0.0034%.
	// Daily nets +2 and -2: mean 0, so Sharpe and Sortino are 0.
	if orb.ClosedTrades != 2 || orb.Wins != 2 || orb.Losses != 0 || orb.GrossProfit != 6000 || orb.Days != 2 ||
		orb.Realized != 6000 || orb.Charges != 6000 || orb.NetPnL != 0 || orb.MaxDrawdown != 3400 ||
		orb.WinRatePct == nil || *orb.WinRatePct != 100 || orb.ProfitFactor != nil || orb.Unavailable["profit_factor"] != "no losing trades" ||
		orb.MaxDrawdownPct == nil || !near(*orb.MaxDrawdownPct, 0.0034) || orb.Sharpe == nil || *orb.Sharpe != 0 || orb.Sortino == nil || *orb.Sortino != 0 {
		js, _ := json.Marshal(orb)
		t.Fatalf("orb statistics: %s", js)
	}
	if d := perf[0].Daily; len(d) != 2 || d[0].Date != "2026-11-20" || d[0].Net != 200 || d[0].Fills != 3 || d[1].Net != -200 || d[1].Fills != 1 {
		t.Fatalf("daily: %+v", d)
	}
	manual := perf[0].Strategies[0].Stats
	if manual.ClosedTrades != 0 || manual.WinRatePct != nil || manual.Unavailable["win_rate_pct"] != "no closed trades" ||
		manual.Unavailable["sharpe"] != "fewer than 2 trading days" {
		t.Fatalf("manual statistics: %+v", manual)
	}

	sums, day, _, err := p.Summaries(projections.PnLQuery{Accounts: []string{"paper-1"}})
	if err != nil || day != "2026-11-23" || len(sums) != 1 {
		t.Fatalf("summaries: %v %s %+v", err, day, sums)
	}
	s := sums[0]
	// Day 2: realized 48, the CE short still open (+20), carried-in 50:
	// day P&L 48 + 20 - 50 = 18, charges 20, net -2; one fill; one open
	// position (the CE).
	if s.Capital != projections.DefaultPaperCapital || s.Realized != 4800 || s.Unrealized != 2000 || s.Charges != 2000 ||
		s.DayPnL != 1800 || s.Net != -200 || s.TradeCount != 1 || s.OpenPositions != 1 || s.Strategy != nil {
		t.Fatalf("summary: %+v", s)
	}
	sums, _, _, _ = p.Summaries(projections.PnLQuery{Accounts: []string{"paper-1"}, Day: "2026-11-20"})
	if s := sums[0]; s.DayPnL != 6200 || s.Net != 200 || s.TradeCount != 3 {
		t.Fatalf("day 1 summary: %+v", s)
	}
	// Live capital is unknown by default: no ratios.
	lp := projections.NewPnL(reg, projections.PnLConfig{})
	lb := newLog(t)
	lb.order(leg{"live-1", domain.Live, "orb", "NIFTY26NOVFUT"}, domain.Buy, domain.Rupees(100), domain.Rupees(20), 1)
	lp.Apply(lb.evs, lb.evs[len(lb.evs)-1].Position)
	lperf, _ := lp.Performance(projections.PnLQuery{})
	if len(lperf) != 1 || lperf[0].Capital != 0 || lperf[0].Unavailable["sharpe"] != "capital unknown" || lperf[0].MaxDrawdownPct != nil {
		t.Fatalf("live performance: %+v", lperf)
	}
}

func TestPnLKeepsDays(t *testing.T) {
	b := newLog(t)
	b.order(nifty, domain.Buy, domain.Rupees(100), domain.Rupees(20), 1)
	for _, d := range []int{23, 24, 25} {
		b.clock = ist(d, 10, 0, 0)
		b.tick(domain.ExchangeNFO, nifty.symbol, domain.Rupees(100+int64(d)))
	}
	p := projections.NewPnL(reg, projections.PnLConfig{KeepDays: 2})
	p.Apply(b.evs, b.evs[len(b.evs)-1].Position)
	for day, n := range map[string]int{"2026-11-20": 0, "2026-11-23": 1, "2026-11-24": 1, "2026-11-25": 1} {
		if got, _ := p.Series(projections.PnLQuery{Day: day}); len(got) != n {
			t.Errorf("%s: %d points, want %d", day, len(got), n)
		}
	}
	perf, _ := p.Performance(projections.PnLQuery{})
	if len(perf[0].Daily) != 4 {
		t.Errorf("day totals: %d, want all 4", len(perf[0].Daily))
	}
}

// TestPnLDeterminismAndSnapshot: two folds give the same hash; a snapshot
// taken midway and continued equals the straight fold; a snapshot folded
// with another capital is refused.
func TestPnLDeterminismAndSnapshot(t *testing.T) {
	b := pnlDay(t)
	last := b.evs[len(b.evs)-1].Position
	fold := func() *projections.PnL {
		p := projections.NewPnL(reg, projections.PnLConfig{})
		for i := range b.evs { // one event per batch
			p.Apply(b.evs[i:i+1], b.evs[i].Position)
		}
		return p
	}
	h1, _ := projections.Hash(fold())
	h2, _ := projections.Hash(fold())
	whole := projections.NewPnL(reg, projections.PnLConfig{})
	whole.Apply(b.evs, last)
	h3, _ := projections.Hash(whole)
	if h1 != h2 || h1 != h3 {
		t.Fatalf("hashes differ: %s %s %s", h1, h2, h3)
	}
	for cut := 1; cut < len(b.evs); cut++ {
		restored := pnlRestoredAt(t, b.evs, cut, last)
		if h, _ := projections.Hash(restored); h != h1 {
			t.Fatalf("restored at %d then continued: hash %s, straight fold %s", cut, h, h1)
		}
		if cut == len(b.evs)/2 {
			st, _, err := restored.MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			other := projections.NewPnL(reg, projections.PnLConfig{PaperCapital: domain.Rupees(5_00_000)})
			if err := other.UnmarshalState(st); err == nil {
				t.Fatal("a state folded with another capital is accepted")
			}
		}
	}
}

// TestPnLAdopted: an adopted broker position is in the account's manual
// book and total from its minute: ticks move its unrealized P&L from the
// broker's average, and the fill closing it realises (exit - adopted
// average) * quantity, one closed trade. The adoption itself realises
// nothing, charges nothing and is no fill. Adopting over a position the log
// has moves it to the broker's quantity.
func TestPnLAdopted(t *testing.T) {
	rs := domain.Rupees
	fut := "NIFTY26NOVFUT"
	m1 := leg{"paper-1", domain.Paper, "", fut}
	m2 := leg{"paper-2", domain.Paper, "", fut}
	b := newLog(t)
	b.clock = ist(20, 9, 14, 0)
	b.order(m2, domain.Buy, rs(23900), rs(20), 10) // paper-2's log holds 10 @ 23,900
	b.clock = ist(20, 9, 15, 0)
	b.adopt("paper-1", domain.Paper, fut, 65, 0, rs(24000))  // paper-1: the broker's 65 @ 24,000
	b.adopt("paper-2", domain.Paper, fut, 65, 10, rs(24000)) // paper-2: 55 more, not 65
	b.clock = ist(20, 9, 16, 0)
	b.tick(domain.ExchangeNFO, fut, rs(24050))
	b.clock = ist(20, 9, 17, 0)
	b.order(m1, domain.Sell, rs(24100), rs(20), 65)
	b.order(m2, domain.Sell, rs(24100), rs(20), 65)
	last := b.evs[len(b.evs)-1].Position
	p := projections.NewPnL(reg, projections.PnLConfig{})
	p.Apply(b.evs, last)

	got, _ := p.Series(projections.PnLQuery{Accounts: []string{"paper-1"}, Strategy: projections.ManualStrategy})
	want := []pt{
		{"11-20 09:15", 0, 0, 0, 0}, // adopted; no price yet
		{"11-20 09:16", 0, 65 * rs(50), 0, 65 * rs(50)},
		{"11-20 09:17", 65 * rs(100), 0, rs(20), 65*rs(100) - rs(20)}, // (24,100 - 24,000) * 65
	}
	if g := points(got); !slices.Equal(g, want) {
		t.Fatalf("paper-1 manual:\n got %+v\nwant %+v", g, want)
	}
	if got, _ := p.Series(projections.PnLQuery{Accounts: []string{"paper-1"}}); !slices.Equal(points(got), want) {
		t.Fatalf("paper-1 total: %+v", points(got))
	}
	perf, _ := p.Performance(projections.PnLQuery{Accounts: []string{"paper-1"}})
	if len(perf) != 1 || len(perf[0].Strategies) != 1 || perf[0].Strategies[0].Strategy != "" {
		t.Fatalf("performance: %+v", perf)
	}
	if s := perf[0].Stats; s.ClosedTrades != 1 || s.Wins != 1 || s.GrossProfit != 65*rs(100) || s.Realized != 65*rs(100) ||
		s.Charges != rs(20) || s.Unrealized != 0 || perf[0].Daily[0].Fills != 1 {
		t.Fatalf("paper-1 statistics: %+v, daily %+v", s, perf[0].Daily)
	}
	// paper-2: 10 @ 23,900 and 55 adopted @ 24,000, all sold @ 24,100:
	// 10 * 200 + 55 * 100 realised; the adoption realised nothing.
	perf, _ = p.Performance(projections.PnLQuery{Accounts: []string{"paper-2"}})
	if s := perf[0].Stats; s.Realized != 10*rs(200)+55*rs(100) || s.ClosedTrades != 1 || s.Unrealized != 0 || perf[0].Daily[0].Fills != 2 {
		t.Fatalf("paper-2 statistics: %+v", s)
	}
	sums, _, _, err := p.Summaries(projections.PnLQuery{Accounts: []string{"paper-2"}, Day: "2026-11-20"})
	if err != nil || len(sums) != 1 || sums[0].OpenPositions != 0 || sums[0].Realized != 10*rs(200)+55*rs(100) {
		t.Fatalf("paper-2 summary: %+v %v", sums, err)
	}

	// The same from a snapshot taken after the adoptions.
	cut := 4
	restored := pnlRestoredAt(t, b.evs, cut, last)
	h1, _ := projections.Hash(p)
	if h2, _ := projections.Hash(restored); h1 != h2 {
		t.Fatalf("restored after the adoptions: hash %s, straight fold %s", h2, h1)
	}
}

// pnlRestoredAt folds evs[:cut], snapshots the state, restores it into a
// fresh projection and folds the rest up to last there: a restart from a
// snapshot taken at cut.
func pnlRestoredAt(t *testing.T, evs []eventstore.RecordedEvent, cut int, last eventstore.Position) *projections.PnL {
	t.Helper()
	first := projections.NewPnL(reg, projections.PnLConfig{})
	first.Apply(evs[:cut], evs[cut-1].Position)
	st, _, err := first.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	restored := projections.NewPnL(reg, projections.PnLConfig{})
	if err := restored.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	restored.Apply(evs[cut:], last)
	return restored
}
