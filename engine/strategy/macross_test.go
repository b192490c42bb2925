package strategy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// priceTicks returns ticks of the future one second apart from start.
func priceTicks(start time.Time, prices ...float64) []step {
	out := make([]step, len(prices))
	for i, p := range prices {
		out[i] = onTick(futTick(start.Add(time.Duration(i)*time.Second), p))
	}
	return out
}

// In tick mode with fast 2 and slow 3: 100 99 98 arms the strategy below,
// 97 stays below, 101 is a golden cross; 95 stays above, 90 is a death cross.
var (
	golden = []float64{100, 99, 98, 97, 101}
	death  = []float64{95, 90}
)

const tickMode = `{"fast":2,"slow":3,"bar_seconds":0}`

func TestMACrossoverGoldenCrossBuysOnce(t *testing.T) {
	env := newFakeEnv()
	s := mustNew(t, MACrossover(), tickMode)
	steps := priceTicks(at(9, 16, 0), append(golden, 102, 103, 104)...)
	// Ticks of other instruments, and of the future outside the session, change nothing.
	steps = append(steps,
		onTick(tick(domain.ExchangeNSE, index, at(9, 17, 0), 50)),
		onTick(tick(domain.ExchangeNFO, "NIFTY26DECFUT", at(9, 17, 1), 50)),
		onTick(futTick(at(15, 31, 0), 10)),
	)
	got := run(s, env, steps)
	checkSignals(t, got, want{"20261120-01-long", fut, domain.Buy, niftyLot, "golden cross: sma(2) 99.00 > sma(3) 98.67"})
	st := s.State().(MACrossoverState)
	if st.Symbol != fut || st.Relation != "above" || st.Crosses != 1 || st.Samples != 8 || st.Positions[0].Target != niftyLot || st.Positions[0].PendingBuy != niftyLot {
		t.Fatalf("state %+v", st)
	}
	if env.calls != 1 {
		t.Fatalf("%d instrument lookups, want 1 (cached for the day)", env.calls)
	}
}

// TestMACrossoverClosedForIt: a fill without a leg (the engine's
// flattening after a kill, the broker's square-off) closes the position
// and becomes the target: nothing is re-opened, and the next cross trades
// from flat (no sell of a long that is gone).
func TestMACrossoverClosedForIt(t *testing.T) {
	env := newFakeEnv()
	s := mustNew(t, MACrossover(), tickMode)
	buy := run(s, env, priceTicks(at(9, 16, 0), golden...))
	checkSignals(t, buy, want{"20261120-01-long", fut, domain.Buy, niftyLot, "golden"})
	run(s, env, []step{onFill(fillOf(buy[0], 101.5, at(9, 16, 5)))})
	closed := Fill{Exchange: domain.ExchangeNFO, Symbol: fut, Side: domain.Sell, Quantity: niftyLot, Price: rs(101), At: at(9, 16, 6), Done: true,
		Reason: "closed by flattening"}
	if got := run(s, env, []step{onFill(closed)}); len(got) != 0 {
		t.Fatalf("after its position was closed for it the strategy sent\n%s", dump(got))
	}
	p := s.State().(MACrossoverState).Positions[0]
	if p.Filled != 0 || p.Target != 0 || p.LastRefusal != "closed by flattening" {
		t.Fatalf("position after it was closed for it: %+v", p)
	}
	if got := run(s, env, priceTicks(at(9, 16, 10), death...)); len(got) != 0 {
		t.Fatalf("a death cross with a flat position and death_cross flat sent\n%s", dump(got))
	}
	// A closing fill of a position this instance does not hold (an earlier
	// instance's, say) changes nothing: no short appears.
	closed.At = at(9, 16, 20)
	if got := run(s, env, []step{onFill(closed)}); len(got) != 0 {
		t.Fatalf("a flat strategy told of a closing sell sent\n%s", dump(got))
	}
	if p := s.State().(MACrossoverState).Positions; len(p) > 0 && (p[0].Filled != 0 || p[0].Target != 0) {
		t.Fatalf("a flat strategy after a closing sell it did not hold: %+v", p[0])
	}
}

func TestMACrossoverDeathCross(t *testing.T) {
	env := newFakeEnv()
	t.Run("flat", func(t *testing.T) {
		s := mustNew(t, MACrossover(), tickMode)
		buy := run(s, env, priceTicks(at(9, 16, 0), golden...))
		checkSignals(t, buy, want{"20261120-01-long", fut, domain.Buy, niftyLot, "golden"})
		got := run(s, env, append([]step{onFill(fillOf(buy[0], 101.5, at(9, 16, 5)))}, priceTicks(at(9, 16, 10), death...)...))
		checkSignals(t, got, want{"20261120-02-flat", fut, domain.Sell, niftyLot, "death cross: sma(2) 92.50 < sma(3) 95.33"})
	})
	t.Run("short reverses in two orders", func(t *testing.T) {
		s := mustNew(t, MACrossover(), `{"fast":2,"slow":3,"bar_seconds":0,"death_cross":"short","lots":2}`)
		buy := run(s, env, priceTicks(at(9, 16, 0), golden...))
		checkSignals(t, buy, want{"20261120-01-long", fut, domain.Buy, 2 * niftyLot, "golden"})
		got := run(s, env, append([]step{onFill(fillOf(buy[0], 101.5, at(9, 16, 5)))}, priceTicks(at(9, 16, 10), death...)...))
		checkSignals(t, got,
			want{"20261120-02-short", fut, domain.Sell, 2 * niftyLot, "death cross"}, // close the long
			want{"20261120-03-short", fut, domain.Sell, 2 * niftyLot, "death cross"}, // open the short
		)
	})
}

func TestMACrossoverBars(t *testing.T) {
	// 60 s bars from 09:15; each bar's close is its last LTP. Closes 100 99 98
	// arm, 97 stays below, 101 crosses.
	s := mustNew(t, MACrossover(), `{"fast":2,"slow":3,"bar_seconds":60}`)
	env := newFakeEnv()
	var steps []step
	closes := []float64{100, 99, 98, 97, 101}
	for i, c := range closes {
		bar := at(9, 15+i, 0)
		steps = append(steps,
			onTick(futTick(bar.Add(5*time.Second), 500)), // not the close: a later tick in the bar replaces it
			onTick(futTick(bar.Add(59*time.Second), c)),
		)
	}
	got := run(s, env, steps)
	if len(got) != 0 {
		t.Fatalf("signal before the last bar closed:\n%s", dump(got))
	}
	// A late tick of an earlier bar is ignored; the bar closes on the timer at its end.
	got = run(s, env, []step{onTick(futTick(at(9, 18, 30), 1)), onTimer(at(9, 19, 59)), onTimer(at(9, 20, 0))})
	checkSignals(t, got, want{"20261120-01-long", fut, domain.Buy, niftyLot, "golden cross: sma(2) 99.00 > sma(3) 98.67"})
	if !got[0].At.Equal(at(9, 20, 0)) || got[0].RefPrice != rs(101) {
		t.Fatalf("at %s ref %s", got[0].At, got[0].RefPrice)
	}
	// A tick in the bar the timer closed is ignored too, and bars do not close twice.
	if got := run(s, env, []step{onTick(futTick(at(9, 19, 59), 300)), onTimer(at(9, 21, 0))}); len(got) != 0 {
		t.Fatalf("late tick made signals:\n%s", dump(got))
	}
	if st := s.State().(MACrossoverState); st.Samples != 5 {
		t.Fatalf("samples %d, want 5", st.Samples)
	}
}

func TestMACrossoverEMA(t *testing.T) {
	s := mustNew(t, MACrossover(), `{"fast":2,"slow":3,"bar_seconds":0,"ma":"ema"}`)
	// Seeds: fast sma(100,99)=99.5 then 98 -> 98.5; slow sma(100,99,98)=99: below, armed.
	// 104: fast 98.5+(104-98.5)*2/3 = 102.17; slow 99+(104-99)/2 = 101.5: golden.
	got := run(s, newFakeEnv(), priceTicks(at(9, 16, 0), 100, 99, 98, 104))
	checkSignals(t, got, want{"20261120-01-long", fut, domain.Buy, niftyLot, "golden cross: ema(2) 102.17 > ema(3) 101.50"})
}

func TestMACrossoverFillsOnTheWay(t *testing.T) {
	env := newFakeEnv()
	t.Run("late fill after a death cross is closed on arrival", func(t *testing.T) {
		s := mustNew(t, MACrossover(), tickMode)
		buy := run(s, env, priceTicks(at(9, 16, 0), golden...))
		// The death cross comes before the buy fills: nothing to sell yet.
		if got := run(s, env, priceTicks(at(9, 16, 10), death...)); len(got) != 0 {
			t.Fatalf("sold before the buy filled:\n%s", dump(got))
		}
		got := s.OnFill(env, fillOf(buy[0], 101, at(9, 16, 20)))
		checkSignals(t, got, want{"20261120-02-flat", fut, domain.Sell, niftyLot, "death cross"})
	})
	t.Run("partial fills", func(t *testing.T) {
		s := mustNew(t, MACrossover(), `{"fast":2,"slow":3,"bar_seconds":0,"lots":2}`)
		buy := run(s, env, priceTicks(at(9, 16, 0), golden...))
		part := fillOf(buy[0], 101, at(9, 16, 6))
		part.Quantity, part.Done = 50, false
		if got := s.OnFill(env, part); len(got) != 0 {
			t.Fatalf("partial fill made signals:\n%s", dump(got))
		}
		rest := part
		rest.Quantity, rest.Price, rest.Done = 80, rs(102), true
		if got := s.OnFill(env, rest); len(got) != 0 {
			t.Fatalf("last fill made signals:\n%s", dump(got))
		}
		st := s.State().(MACrossoverState).Positions[0]
		if st.Filled != 130 || st.AvgPrice != (50*rs(101)+80*rs(102))/130 || st.PendingBuy != 0 {
			t.Fatalf("position %+v", st)
		}
	})
	t.Run("refused entry is not retried", func(t *testing.T) {
		s := mustNew(t, MACrossover(), tickMode)
		buy := run(s, env, priceTicks(at(9, 16, 0), golden...))
		refused := Fill{Leg: buy[0].Leg, Exchange: buy[0].Exchange, Symbol: buy[0].Symbol, Side: domain.Buy, At: at(9, 16, 6), Done: true, Reason: "RMS: insufficient margin"}
		got := run(s, env, append([]step{onFill(refused)}, priceTicks(at(9, 16, 10), 102, 103)...))
		got = append(got, s.OnTimer(env, at(9, 30, 0))...)
		if len(got) != 0 {
			t.Fatalf("refused entry retried:\n%s", dump(got))
		}
		st := s.State().(MACrossoverState).Positions[0]
		if st.Target != 0 || st.LastRefusal != "RMS: insufficient margin" || st.PendingBuy != 0 {
			t.Fatalf("position %+v", st)
		}
		// The next cross trades again.
		got = run(s, env, priceTicks(at(9, 17, 0), 95, 90, 89, 120))
		checkSignals(t, got, want{"20261120-02-long", fut, domain.Buy, niftyLot, "golden"})
	})
	t.Run("refused exit is retried, then halts", func(t *testing.T) {
		s := mustNew(t, MACrossover(), tickMode)
		buy := run(s, env, priceTicks(at(9, 16, 0), golden...))
		s.OnFill(env, fillOf(buy[0], 101, at(9, 16, 5)))
		sell := run(s, env, priceTicks(at(9, 16, 10), death...))
		checkSignals(t, sell, want{"20261120-02-flat", fut, domain.Sell, niftyLot, "death"})
		refuse := func(sig Signal, tm time.Time) []Signal {
			return s.OnFill(env, Fill{Leg: sig.Leg, Exchange: sig.Exchange, Symbol: sig.Symbol, Side: sig.Side, At: tm, Done: true, Reason: "broker: rejected"})
		}
		if got := refuse(sell[0], at(9, 16, 12)); len(got) != 0 {
			t.Fatalf("retried at once:\n%s", dump(got))
		}
		if got := s.OnTimer(env, at(9, 16, 16)); len(got) != 0 {
			t.Fatalf("retried before the delay:\n%s", dump(got))
		}
		retry := s.OnTimer(env, at(9, 16, 17))
		checkSignals(t, retry, want{"20261120-03-flat", fut, domain.Sell, niftyLot, "death"})
		refuse(retry[0], at(9, 16, 18))
		retry = s.OnTimer(env, at(9, 16, 23))
		checkSignals(t, retry, want{"20261120-04-flat", fut, domain.Sell, niftyLot, "death"})
		refuse(retry[0], at(9, 16, 24))
		if got := s.OnTimer(env, at(9, 20, 0)); len(got) != 0 {
			t.Fatalf("halted instrument still trades:\n%s", dump(got))
		}
		st := s.State().(MACrossoverState).Positions[0]
		if !strings.Contains(st.Halted, "exit refused 3 times in a row (last: broker: rejected); position 65 open") {
			t.Fatalf("halted %q", st.Halted)
		}
	})
}

func TestMACrossoverRollsOnExpiryDay(t *testing.T) {
	env := newFakeEnv()
	s := mustNew(t, MACrossover(), tickMode)
	mon := func(h, m, sec int) time.Time { return time.Date(2026, 11, 23, h, m, sec, 0, domain.IST()) }
	var steps []step
	for i, p := range golden {
		steps = append(steps, onTick(futTick(mon(10, 0, i), p)))
	}
	buy := run(s, env, steps)
	checkSignals(t, buy, want{"20261123-01-long", fut, domain.Buy, niftyLot, "golden"})
	s.OnFill(env, fillOf(buy[0], 101, mon(10, 0, 6)))

	// Tuesday 24 November is the November expiry: the first tick (of the
	// December contract, now traded) closes the November position.
	tue := time.Date(2026, 11, 24, 9, 15, 1, 0, domain.IST())
	got := s.OnTick(env, tick(domain.ExchangeNFO, "NIFTY26DECFUT", tue, 24600))
	checkSignals(t, got, want{"20261124-01-roll", fut, domain.Sell, niftyLot, "roll from NIFTY26NOVFUT to NIFTY26DECFUT"})
	if st := s.State().(MACrossoverState); st.Symbol != "NIFTY26DECFUT" || st.Samples != 6 || st.FastValue != 0 {
		t.Fatalf("after roll: %+v", st)
	}
	// November ticks no longer feed the averages; the old position goes once filled.
	s.OnFill(env, fillOf(got[0], 24500, tue.Add(time.Second)))
	s.OnTick(env, tick(domain.ExchangeNFO, "NIFTY26DECFUT", tue.Add(2*time.Second), 24601))
	if st := s.State().(MACrossoverState); len(st.Positions) != 1 || st.Positions[0].Symbol != "NIFTY26DECFUT" {
		t.Fatalf("positions after roll: %+v", st.Positions)
	}
}

func TestMACrossoverLookupFailure(t *testing.T) {
	env := newFakeEnv()
	env.fail = errors.New("instruments master not loaded")
	s := mustNew(t, MACrossover(), tickMode)
	run(s, env, priceTicks(at(9, 16, 0), 100, 100, 100)) // 3 ticks within 3 seconds
	if env.calls != 3 {
		t.Fatalf("%d lookups, want one per second", env.calls)
	}
	s.OnTick(env, futTick(at(9, 16, 2).Add(500*time.Millisecond), 100))
	if env.calls != 3 {
		t.Fatalf("%d lookups, want one per second", env.calls)
	}
	if st := s.State().(MACrossoverState); st.Error != "instrument lookup: instruments master not loaded" {
		t.Fatalf("state error %q", st.Error)
	}
	env.fail = nil
	got := run(s, env, priceTicks(at(9, 17, 0), golden...))
	checkSignals(t, got, want{"20261120-01-long", fut, domain.Buy, niftyLot, "golden"})
	if st := s.State().(MACrossoverState); st.Error != "" {
		t.Fatalf("error not cleared: %q", st.Error)
	}
}
