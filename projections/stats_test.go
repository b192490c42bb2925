package projections_test

import (
	"math"
	"slices"
	"testing"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

func TestWinRateAndProfitFactor(t *testing.T) {
	for _, c := range []struct {
		wins, closed int64
		want         float64
		reason       bool
	}{{3, 4, 75, false}, {0, 5, 0, false}, {2, 3, 200.0 / 3, false}, {0, 0, 0, true}} {
		got, why := projections.WinRatePct(c.wins, c.closed)
		if !near(got, c.want) || (why != "") != c.reason {
			t.Errorf("WinRatePct(%d, %d) = %v %q, want %v (reason %v)", c.wins, c.closed, got, why, c.want, c.reason)
		}
	}
	for _, c := range []struct {
		profit, loss domain.Price
		want         float64
		reason       string
	}{{30000, 10000, 3, ""}, {0, 5000, 0, ""}, {12345, 12345, 1, ""}, {10000, 0, 0, "no losing trades"}, {0, 0, 0, "no winning or losing trades"}} {
		got, why := projections.ProfitFactor(c.profit, c.loss)
		if !near(got, c.want) || why != c.reason {
			t.Errorf("ProfitFactor(%d, %d) = %v %q, want %v %q", c.profit, c.loss, got, why, c.want, c.reason)
		}
	}
}

func TestMaxDrawdown(t *testing.T) {
	for _, c := range []struct {
		name    string
		capital domain.Price
		curve   []domain.Price
		dd      domain.Price
		pct     float64
		reason  string
	}{
		{"empty: no fall", 1000, nil, 0, 0, ""},
		// peak 100 (equity 1100), trough -50: 150 = 150/1100 = 13.6363..%;
		// then peak 200 (1200) to 150: 50 = 4.17%.
		{"up, down, up, down", 1000, []domain.Price{100, -50, 200, 150}, 150, 1500.0 / 110, ""},
		// The start is the first peak: a fall from 0 to -30 on 1000 is 3%.
		{"falls from the start", 1000, []domain.Price{-10, -30, -20}, 30, 3, ""},
		// A larger paise fall from a higher peak can be a smaller share:
		// 20 of 100 (20%), then 30 of 1100 (2.7%): 30 paise, 20%.
		{"largest % and largest paise at different falls", 100, []domain.Price{-20, 1000, 970}, 30, 20, ""},
		{"rising only", 1000, []domain.Price{10, 20, 30}, 0, 0, ""},
		{"capital unknown", 0, []domain.Price{-10}, 10, 0, "capital unknown"},
	} {
		dd, pct, why := projections.MaxDrawdown(c.capital, c.curve)
		if dd != c.dd || !near(pct, c.pct) || why != c.reason {
			t.Errorf("%s: MaxDrawdown = %d, %v, %q; want %d, %v, %q", c.name, dd, pct, why, c.dd, c.pct, c.reason)
		}
	}
}

func TestSharpeAndSortino(t *testing.T) {
	if got := projections.DailyReturns([]domain.Price{100, -50}, 1000); !slices.Equal(got, []float64{0.1, -0.05}) {
		t.Errorf("DailyReturns = %v", got)
	}
	if got := projections.DailyReturns([]domain.Price{100}, 0); got != nil {
		t.Errorf("DailyReturns with no capital = %v, want nil", got)
	}
	for _, c := range []struct {
		name            string
		returns         []float64
		sharpe, sortino float64
		whyS, whySo     string
	}{
		// mean 0.02, sample sd √((0.01²+0.01²)/1) = 0.01√2: Sharpe √2·√252
		// = √504; no losing day: no Sortino.
		{"two up days", []float64{0.01, 0.03}, math.Sqrt(504), 0, "", "no losing days"},
		// mean 0.01, sample sd √(0.0006/2) = 0.01√3: Sharpe √252/√3 = √84;
		// downside √(0.01²/3) = 0.01/√3: Sortino √3·√252 = √756.
		{"up, down, up", []float64{0.02, -0.01, 0.02}, math.Sqrt(84), math.Sqrt(756), "", ""},
		// mean 0: both 0.
		{"even", []float64{0.02, -0.02}, 0, 0, "", ""},
		{"one day", []float64{0.01}, 0, 0, "fewer than 2 trading days", "fewer than 2 trading days"},
		{"flat", []float64{0.01, 0.01}, 0, 0, "daily returns do not vary", "no losing days"},
	} {
		s, why := projections.Sharpe(c.returns)
		if !near(s, c.sharpe) || why != c.whyS {
			t.Errorf("%s: Sharpe = %v %q, want %v %q", c.name, s, why, c.sharpe, c.whyS)
		}
		so, why := projections.Sortino(c.returns)
		if !near(so, c.sortino) || why != c.whySo {
			t.Errorf("%s: Sortino = %v %q, want %v %q", c.name, so, why, c.sortino, c.whySo)
		}
	}
}
