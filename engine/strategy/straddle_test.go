package strategy

import (
	"errors"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// The ATM options for spot 24512.30 on Friday 20 November 2026: strike
// 24500, weekly expiry Tuesday 24 November.
const (
	ce = "NIFTY26112424500CE"
	pe = "NIFTY26112424500PE"
)

func spotTick(t time.Time, ltp float64) domain.Tick { return tick(domain.ExchangeNSE, index, t, ltp) }
func optTick(sym string, t time.Time, ltp float64) domain.Tick {
	return tick(domain.ExchangeNFO, sym, t, ltp)
}

// enterStraddle returns a straddle that sold CE at 100 and PE at 90 at 09:20.
func enterStraddle(t *testing.T, env Env, params string) (Strategy, []Signal) {
	t.Helper()
	s := mustNew(t, ShortStraddle(), params)
	if got := run(s, env, []step{onTick(spotTick(at(9, 18, 0), 24512.30)), onTimer(at(9, 19, 59))}); len(got) != 0 {
		t.Fatalf("entry before entry_at:\n%s", dump(got))
	}
	entry := s.OnTimer(env, at(9, 20, 0))
	checkSignals(t, entry,
		want{"20261120-01-entry-ce", ce, domain.Sell, niftyLot, "short straddle entry: sell CE 24500.00 (spot 24512.30, expiry 2026-11-24)"},
		want{"20261120-02-entry-pe", pe, domain.Sell, niftyLot, "short straddle entry: sell PE 24500.00"},
	)
	for _, f := range []Fill{fillOf(entry[0], 100, at(9, 20, 1)), fillOf(entry[1], 90, at(9, 20, 1))} {
		if got := s.OnFill(env, f); len(got) != 0 {
			t.Fatalf("fill made signals:\n%s", dump(got))
		}
	}
	return s, entry
}

func TestShortStraddle(t *testing.T) {
	env := newFakeEnv()
	t.Run("entry, one leg stopped, time exit closes the rest", func(t *testing.T) {
		s, _ := enterStraddle(t, env, `{}`)
		got := run(s, env, ticks(
			optTick(ce, at(10, 0, 0), 129.95), // CE stop is 130.00 (100 + 30 %)
			optTick(pe, at(10, 0, 1), 116.95), // PE stop is 117.00
			optTick(ce, at(10, 0, 2), 130.00),
		))
		checkSignals(t, got, want{"20261120-03-stop-ce", ce, domain.Buy, niftyLot, "stop: CE 130.00 at or above 130.00 (sold at 100.00 + 30%)"})
		s.OnFill(env, fillOf(got[0], 130.5, at(10, 0, 3)))
		if got := run(s, env, []step{onTick(optTick(ce, at(11, 0, 0), 200)), onTick(optTick(pe, at(11, 0, 0), 50)), onTimer(at(15, 14, 59))}); len(got) != 0 {
			t.Fatalf("signals before exit time:\n%s", dump(got))
		}
		got = s.OnTimer(env, at(15, 15, 0))
		checkSignals(t, got, want{"20261120-04-exit-pe", pe, domain.Buy, niftyLot, "time exit at 15:15"})
		s.OnFill(env, fillOf(got[0], 50, at(15, 15, 1)))
		if got := run(s, env, []step{onTimer(at(15, 20, 0)), onTick(optTick(pe, at(15, 20, 1), 500))}); len(got) != 0 {
			t.Fatalf("signals after exit:\n%s", dump(got))
		}
		st := s.State().(ShortStraddleState)
		if st.Phase != "done" || st.Strike != rs(24500) || st.Expiry != "2026-11-24" || len(st.Legs) != 2 ||
			!st.Legs[0].Stopped || st.Legs[0].Sold != rs(100) || st.Legs[0].Stop != rs(130) || st.Legs[1].Stopped {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("both legs exit at time", func(t *testing.T) {
		s, _ := enterStraddle(t, env, `{"stop_pct": 0}`)
		if got := s.OnTick(env, optTick(ce, at(10, 0, 0), 1000)); len(got) != 0 {
			t.Fatalf("stop_pct 0 stopped out:\n%s", dump(got))
		}
		got := s.OnTick(env, spotTick(at(15, 15, 0), 24600)) // a tick at exit time is enough
		checkSignals(t, got,
			want{"20261120-03-exit-ce", ce, domain.Buy, niftyLot, "time exit"},
			want{"20261120-04-exit-pe", pe, domain.Buy, niftyLot, "time exit"},
		)
	})
	t.Run("a spot tick at entry time enters", func(t *testing.T) {
		s := mustNew(t, ShortStraddle(), `{"lots":2,"entry_at":"09:30"}`)
		got := run(s, env, ticks(spotTick(at(9, 29, 0), 24480), spotTick(at(9, 30, 0), 24474.99)))
		checkSignals(t, got,
			want{"20261120-01-entry-ce", "NIFTY26112424450CE", domain.Sell, 2 * niftyLot, "spot 24474.99"},
			want{"20261120-02-entry-pe", "NIFTY26112424450PE", domain.Sell, 2 * niftyLot, "spot 24474.99"},
		)
	})
	t.Run("no spot tick today, no entry", func(t *testing.T) {
		s := mustNew(t, ShortStraddle(), `{}`)
		thu := time.Date(2026, 11, 19, 15, 20, 0, 0, domain.IST())
		got := run(s, env, []step{onTick(spotTick(thu, 24500)), onTimer(at(9, 20, 0)), onTimer(at(9, 24, 59))})
		if len(got) != 0 {
			t.Fatalf("entered on yesterday's spot:\n%s", dump(got))
		}
		if st := s.State().(ShortStraddleState); st.Phase != "waiting" || st.Why != "waiting for a spot tick of NIFTY 50" {
			t.Fatalf("state %+v", st)
		}
		// The entry window (5 minutes) ends: a spot tick at 09:25 is too late.
		if got := s.OnTick(env, spotTick(at(9, 25, 0), 24500)); len(got) != 0 {
			t.Fatalf("entered after the window:\n%s", dump(got))
		}
		if st := s.State().(ShortStraddleState); st.Phase != "done" || st.Why != "no entry by 09:25: waiting for a spot tick of NIFTY 50" {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("spot from the future", func(t *testing.T) {
		s := mustNew(t, ShortStraddle(), `{"spot_symbol":""}`)
		got := run(s, env, []step{onTick(spotTick(at(9, 18, 0), 30000)), onTick(futTick(at(9, 19, 0), 24560)), onTimer(at(9, 20, 0))})
		checkSignals(t, got,
			want{"20261120-01-entry-ce", "NIFTY26112424550CE", domain.Sell, niftyLot, "spot 24560.00"},
			want{"20261120-02-entry-pe", "NIFTY26112424550PE", domain.Sell, niftyLot, "spot 24560.00"},
		)
	})
	t.Run("lookup failure retries each second", func(t *testing.T) {
		env := newFakeEnv()
		env.fail = errors.New("no option chain")
		s := mustNew(t, ShortStraddle(), `{}`)
		got := run(s, env, []step{onTick(spotTick(at(9, 18, 0), 24512.30)), onTimer(at(9, 20, 0)), onTick(spotTick(at(9, 20, 0).Add(500*time.Millisecond), 24512.30))})
		if len(got) != 0 || env.calls != 1 {
			t.Fatalf("got %d signals, %d calls", len(got), env.calls)
		}
		if st := s.State().(ShortStraddleState); st.Error != "nearest weekly expiry: no option chain" {
			t.Fatalf("state error %q", st.Error)
		}
		env.fail = nil
		got = s.OnTimer(env, at(9, 20, 1))
		checkSignals(t, got,
			want{"20261120-01-entry-ce", ce, domain.Sell, niftyLot, "entry"},
			want{"20261120-02-entry-pe", pe, domain.Sell, niftyLot, "entry"},
		)
	})
	t.Run("leg filled after the exit is bought back on arrival", func(t *testing.T) {
		s := mustNew(t, ShortStraddle(), `{}`)
		entry := run(s, env, []step{onTick(spotTick(at(9, 18, 0), 24512.30)), onTimer(at(9, 20, 0))})
		s.OnFill(env, fillOf(entry[0], 100, at(9, 20, 1)))
		got := s.OnTimer(env, at(15, 15, 0))
		checkSignals(t, got, want{"20261120-03-exit-ce", ce, domain.Buy, niftyLot, "time exit"})
		got = s.OnFill(env, fillOf(entry[1], 90, at(15, 15, 1)))
		checkSignals(t, got, want{"20261120-04-exit-pe", pe, domain.Buy, niftyLot, "time exit"})
	})
}
