package risk_test

import (
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/risk"
)

var breakerLimits = domain.RiskLimits{MaxDailyLoss: domain.Rupees(1000), MaxDrawdown: domain.Rupees(500)}

// obs is an observation i seconds after t0 with the given P&L and drawdown
// in rupees.
func obs(i int, pnl, dd int64) risk.Observation {
	return risk.Observation{At: t0.Add(time.Duration(i) * time.Second), DayPnL: domain.Rupees(pnl), Drawdown: domain.Rupees(dd)}
}

func TestBreakerConsecutive(t *testing.T) {
	t.Parallel()
	type step struct {
		o       risk.Observation
		breach  bool
		count   int
		trip    bool
		tripped bool
	}
	for _, c := range []struct {
		name  string
		n     int
		steps []step
	}{
		{"three in a row trip", 0, []step{
			{obs(1, -1001, 0), true, 1, false, false},
			{obs(2, -1500, 0), true, 2, false, false},
			{obs(3, -1200, 0), true, 3, true, true},
			{obs(4, -1200, 0), true, 4, false, true}, // latched, trips once
			{obs(5, 0, 0), false, 0, false, true},
		}},
		{"reset by a good observation", 0, []step{
			{obs(1, -2000, 0), true, 1, false, false},
			{obs(2, -2000, 0), true, 2, false, false},
			{obs(3, -1000, 0), false, 0, false, false}, // exactly at the limit: not a breach
			{obs(4, -2000, 0), true, 1, false, false},
			{obs(5, -2000, 0), true, 2, false, false},
			{obs(6, -2000, 0), true, 3, true, true},
		}},
		{"one bad tick", 0, []step{
			{obs(1, -100, 0), false, 0, false, false},
			{obs(2, -9000, 0), true, 1, false, false},
			{obs(3, -100, 0), false, 0, false, false},
		}},
		{"same event time counts once", 0, []step{
			{obs(1, -2000, 0), true, 1, false, false},
			{obs(1, -2000, 0), true, 1, false, false},
			{obs(1, -2100, 0), true, 1, false, false},
			{obs(0, -2100, 0), true, 1, false, false}, // earlier: not counted
			{obs(2, -2000, 0), true, 2, false, false},
			{obs(3, -2000, 0), true, 3, true, true},
		}},
		{"loss and drawdown breaches chain", 0, []step{
			{obs(1, -2000, 0), true, 1, false, false},
			{obs(2, 100, 501), true, 2, false, false},
			{obs(3, -2000, 0), true, 3, true, true},
		}},
		{"drawdown at limit", 0, []step{
			{obs(1, 0, 500), false, 0, false, false},
			{obs(2, 0, 500), false, 0, false, false},
			{obs(3, 0, 500), false, 0, false, false},
		}},
		{"n = 1 trips at once", 1, []step{
			{obs(1, -1001, 0), true, 1, true, true},
		}},
		{"n = 5", 5, []step{
			{obs(1, -1001, 0), true, 1, false, false},
			{obs(2, -1001, 0), true, 2, false, false},
			{obs(3, -1001, 0), true, 3, false, false},
			{obs(4, -1001, 0), true, 4, false, false},
			{obs(5, -1001, 0), true, 5, true, true},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := risk.NewBreaker(breakerLimits, c.n)
			for i, s := range c.steps {
				got := b.Observe(s.o)
				if got.Breach != s.breach || got.Count != s.count || got.Trip != s.trip || got.Tripped != s.tripped {
					t.Fatalf("step %d: got %+v, want breach %v count %d trip %v tripped %v", i, got, s.breach, s.count, s.trip, s.tripped)
				}
			}
		})
	}
}

func TestBreakerTripNumbersAndReset(t *testing.T) {
	t.Parallel()
	b := risk.NewBreaker(breakerLimits, 3)
	var tr risk.Trip
	for i := 1; i <= 3; i++ {
		tr = b.Observe(risk.Observation{At: t0.Add(time.Duration(i) * time.Second), DayPnL: -domain.Rupees(1000) - 1, Drawdown: domain.Rupees(600)})
	}
	r := tr.Refusal
	if !tr.Trip || r.Rule != risk.RuleMaxDailyLoss || r.Limit != 100000 || r.Actual != 100001 || r.Unit != risk.UnitPaise || r.Message == "" {
		t.Fatalf("trip %+v", tr)
	}
	if got, ok := b.Tripped(); !ok || got.Rule != risk.RuleMaxDailyLoss {
		t.Fatalf("Tripped() = %+v %v", got, ok)
	}
	b.Reset()
	if _, ok := b.Tripped(); ok {
		t.Fatal("still tripped after Reset")
	}
	for i := 4; i <= 5; i++ {
		if tr := b.Observe(obs(i, 0, 501)); tr.Trip || tr.Count != i-3 {
			t.Fatalf("after reset, step %d: %+v", i, tr)
		}
	}
	tr = b.Observe(obs(6, 0, 501))
	if !tr.Trip || tr.Refusal.Rule != risk.RuleMaxDrawdown || tr.Refusal.Limit != 50000 || tr.Refusal.Actual != 50100 {
		t.Fatalf("re-armed trip %+v", tr)
	}
}

func TestBreakerLimits(t *testing.T) {
	t.Parallel()
	b := risk.NewBreaker(domain.RiskLimits{}, 1)
	if tr := b.Observe(obs(1, -1e9, 1e9)); tr.Breach || tr.Trip {
		t.Fatalf("zero limits breached: %+v", tr)
	}
	b.SetLimits(breakerLimits)
	if tr := b.Observe(obs(2, -1001, 0)); !tr.Trip {
		t.Fatalf("after SetLimits: %+v", tr)
	}
}

func TestBreakerConcurrent(t *testing.T) {
	t.Parallel()
	b := risk.NewBreaker(breakerLimits, 3)
	var wg sync.WaitGroup
	trips := make(chan bool, 100)
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				trips <- b.Observe(obs(g*25+i+1, -5000, 0)).Trip
			}
		})
	}
	wg.Wait()
	close(trips)
	n := 0
	for tr := range trips {
		if tr {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("tripped %d times, want once", n)
	}
}
