package projections

import (
	"math"

	"github.com/algoauto/algoauto/domain"
)

// Trading statistics as small pure functions. Money stays in paise; only
// the ratios are float64. Each function that can be undefined returns a
// reason instead of a number ("" when the number is defined), so that the
// API can answer null with the reason rather than a misleading 0 or NaN.

// TradingDaysPerYear annualises daily Sharpe and Sortino ratios:
// ratio × √252.
const TradingDaysPerYear = 252

// WinRatePct is the share of closed trades that won, in percent: wins /
// closed × 100. Scratch trades (zero P&L) count as closed, not as wins.
func WinRatePct(wins, closed int64) (float64, string) {
	if closed <= 0 {
		return 0, "no closed trades"
	}
	return float64(wins) / float64(closed) * 100, ""
}

// ProfitFactor is the gross profit of winning trades over the gross loss of
// losing trades (grossLoss as a positive amount).
func ProfitFactor(grossProfit, grossLoss domain.Price) (float64, string) {
	switch {
	case grossLoss <= 0 && grossProfit <= 0:
		return 0, "no winning or losing trades"
	case grossLoss <= 0:
		return 0, "no losing trades"
	}
	return float64(grossProfit) / float64(grossLoss), ""
}

// drawdown folds an equity curve point by point: the running peak of the
// cumulative net P&L (starting at 0, the capital itself) and the largest
// fall from a peak, in paise and in percent of the peak equity
// (capital + peak).
type drawdown struct {
	Peak   domain.Price `json:"peak"`
	Max    domain.Price `json:"max"`
	MaxPct float64      `json:"max_pct"`
	PctOK  bool         `json:"pct_ok,omitempty"` // MaxPct is defined (some peak equity was > 0)
}

func (d *drawdown) add(capital, cum domain.Price) {
	d.Peak = max(d.Peak, cum)
	dd := d.Peak - cum
	d.Max = max(d.Max, dd)
	if eq := capital + d.Peak; eq > 0 {
		if pct := float64(dd) / float64(eq) * 100; !d.PctOK || pct > d.MaxPct {
			d.MaxPct, d.PctOK = pct, true
		}
	}
}

// MaxDrawdown returns the largest fall of the equity curve capital +
// curve[i] from its running peak, in paise and in percent of the peak equity
// it fell from. curve is the cumulative net P&L at each point; the start
// (0, the capital alone) is the first peak. The percentage is undefined
// (reason set) when no peak equity was positive (capital unknown).
func MaxDrawdown(capital domain.Price, curve []domain.Price) (domain.Price, float64, string) {
	var d drawdown
	d.add(capital, 0)
	for _, c := range curve {
		d.add(capital, c)
	}
	if !d.PctOK {
		return d.Max, 0, "capital unknown"
	}
	return d.Max, d.MaxPct, ""
}

// DailyReturns divides each day's net P&L by the capital.
func DailyReturns(nets []domain.Price, capital domain.Price) []float64 {
	if capital <= 0 {
		return nil
	}
	out := make([]float64, len(nets))
	for i, n := range nets {
		out[i] = float64(n) / float64(capital)
	}
	return out
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Sharpe is the annualised Sharpe ratio of daily returns with a zero
// risk-free rate: mean / sample standard deviation (n−1) × √252.
func Sharpe(returns []float64) (float64, string) {
	if len(returns) < 2 {
		return 0, "fewer than 2 trading days"
	}
	m := mean(returns)
	var ss float64
	for _, r := range returns {
		ss += (r - m) * (r - m)
	}
	sd := math.Sqrt(ss / float64(len(returns)-1))
	if sd == 0 {
		return 0, "daily returns do not vary"
	}
	return m / sd * math.Sqrt(TradingDaysPerYear), ""
}

// Sortino is the annualised Sortino ratio of daily returns with a zero
// target: mean / downside deviation × √252, where the downside deviation is
// √(Σ min(r, 0)² / n) over all n days.
func Sortino(returns []float64) (float64, string) {
	if len(returns) < 2 {
		return 0, "fewer than 2 trading days"
	}
	var ss float64
	for _, r := range returns {
		if r < 0 {
			ss += r * r
		}
	}
	dd := math.Sqrt(ss / float64(len(returns)))
	if dd == 0 {
		return 0, "no losing days"
	}
	return mean(returns) / dd * math.Sqrt(TradingDaysPerYear), ""
}
