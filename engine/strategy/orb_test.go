package strategy

import (
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// openingRange: high 24550, low 24450 between 09:15 and 09:30; the pre-open
// tick and the tick at 09:30:05 (inside the range) change nothing.
func openingRange() []step {
	return ticks(
		futTick(at(9, 14, 50), 24000),
		futTick(at(9, 15, 0), 24500),
		futTick(at(9, 20, 0), 24550),
		futTick(at(9, 25, 0), 24450),
		futTick(at(9, 29, 59), 24500),
		futTick(at(9, 30, 5), 24520),
	)
}

// breakout returns an orb that has bought the breakout at 09:31 (filled at
// 24562: risk 112, 2R target 24786), and the entry signal.
func breakout(t *testing.T, env Env) (Strategy, Signal) {
	t.Helper()
	s := mustNew(t, ORB(), `{}`)
	got := run(s, env, append(openingRange(), onTick(futTick(at(9, 31, 0), 24560))))
	checkSignals(t, got, want{"20261120-01-entry", fut, domain.Buy, niftyLot, "breakout: 24560.00 above the opening range high 24550.00 (range 24450.00-24550.00, stop 24450.00)"})
	if got := s.OnFill(env, fillOf(got[0], 24562, at(9, 31, 1))); len(got) != 0 {
		t.Fatalf("fill made signals:\n%s", dump(got))
	}
	st := s.State().(ORBState)
	if st.Phase != "long" || st.Entry != rs(24562) || st.Stop != rs(24450) || st.Target != rs(24786) || st.RangeTicks != 4 {
		t.Fatalf("state %+v", st)
	}
	return s, got[0]
}

func TestORB(t *testing.T) {
	env := newFakeEnv()
	t.Run("breakout then stop, once a day", func(t *testing.T) {
		s, _ := breakout(t, env)
		got := run(s, env, ticks(futTick(at(9, 40, 0), 24700), futTick(at(9, 45, 0), 24450)))
		checkSignals(t, got, want{"20261120-02-stop", fut, domain.Sell, niftyLot, "stop: 24450.00 at or below the range low 24450.00"})
		s.OnFill(env, fillOf(got[0], 24448, at(9, 45, 1)))
		// Another breakout the same day, and the exit time, do nothing.
		if got := run(s, env, []step{onTick(futTick(at(10, 0, 0), 24600)), onTimer(at(15, 15, 0))}); len(got) != 0 {
			t.Fatalf("traded twice:\n%s", dump(got))
		}
		if st := s.State().(ORBState); st.Phase != "done" || st.Positions[0].Filled != 0 {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("target", func(t *testing.T) {
		s, _ := breakout(t, env)
		got := run(s, env, ticks(futTick(at(10, 0, 0), 24785), futTick(at(10, 0, 1), 24786)))
		checkSignals(t, got, want{"20261120-02-target", fut, domain.Sell, niftyLot, "target: 24786.00 at or above 24786.00 (2.00R)"})
	})
	t.Run("time exit on the timer", func(t *testing.T) {
		s, _ := breakout(t, env)
		if got := run(s, env, []step{onTick(futTick(at(15, 0, 0), 24600)), onTimer(at(15, 14, 59))}); len(got) != 0 {
			t.Fatalf("early exit:\n%s", dump(got))
		}
		got := s.OnTimer(env, at(15, 15, 0))
		checkSignals(t, got, want{"20261120-02-exit", fut, domain.Sell, niftyLot, "time exit at 15:15"})
		if got[0].RefPrice != rs(24600) {
			t.Fatalf("ref price %s", got[0].RefPrice)
		}
	})
	t.Run("breakdown sells, stop above the high", func(t *testing.T) {
		s := mustNew(t, ORB(), `{"lots":2,"target_r":0}`)
		got := run(s, env, append(openingRange(), onTick(futTick(at(9, 35, 0), 24449))))
		checkSignals(t, got, want{"20261120-01-entry", fut, domain.Sell, 2 * niftyLot, "breakdown: 24449.00 below the opening range low 24450.00"})
		s.OnFill(env, fillOf(got[0], 24449, at(9, 35, 1)))
		// No target (target_r 0): far below is no exit.
		got = run(s, env, ticks(futTick(at(10, 0, 0), 20000), futTick(at(10, 1, 0), 24550)))
		checkSignals(t, got, want{"20261120-02-stop", fut, domain.Buy, 2 * niftyLot, "stop: 24550.00 at or above the range high 24550.00"})
	})
	t.Run("no breakout", func(t *testing.T) {
		s := mustNew(t, ORB(), `{}`)
		got := run(s, env, append(openingRange(), onTick(futTick(at(12, 0, 0), 24550)), onTimer(at(15, 15, 0)), onTick(futTick(at(15, 16, 0), 25000))))
		if len(got) != 0 {
			t.Fatalf("signals:\n%s", dump(got))
		}
		if st := s.State().(ORBState); st.Phase != "done" || st.Why != "no breakout before 15:15" {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("no ticks in the range", func(t *testing.T) {
		s := mustNew(t, ORB(), `{}`)
		if got := run(s, env, ticks(futTick(at(9, 31, 0), 24500), futTick(at(9, 32, 0), 26000))); len(got) != 0 {
			t.Fatalf("signals:\n%s", dump(got))
		}
		if st := s.State().(ORBState); st.Phase != "done" || st.Why != "no ticks of the future in the opening range" {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("entry filled after the exit time is closed on arrival", func(t *testing.T) {
		s := mustNew(t, ORB(), `{}`)
		entry := run(s, env, append(openingRange(), onTick(futTick(at(15, 14, 0), 24560))))
		checkSignals(t, entry, want{"20261120-01-entry", fut, domain.Buy, niftyLot, "breakout"})
		if got := s.OnTimer(env, at(15, 15, 0)); len(got) != 0 {
			t.Fatalf("sold what was not bought:\n%s", dump(got))
		}
		got := s.OnFill(env, fillOf(entry[0], 24561, at(15, 15, 2)))
		checkSignals(t, got, want{"20261120-02-exit", fut, domain.Sell, niftyLot, "time exit"})
	})
	t.Run("next day trades again", func(t *testing.T) {
		s, _ := breakout(t, env)
		mon := func(h, m, sec int) time.Time { return time.Date(2026, 11, 23, h, m, sec, 0, domain.IST()) }
		exit := s.OnTimer(env, at(15, 15, 0))
		checkSignals(t, exit, want{"20261120-02-exit", fut, domain.Sell, niftyLot, "time exit"})
		s.OnFill(env, fillOf(exit[0], 24600, at(15, 15, 1)))
		got := run(s, env, []step{
			onTimer(mon(9, 0, 0)),
			onTick(futTick(mon(9, 15, 0), 24000)), onTick(futTick(mon(9, 20, 0), 24100)),
			onTick(futTick(mon(9, 31, 0), 24101)),
		})
		checkSignals(t, got, want{"20261123-01-entry", fut, domain.Buy, niftyLot, "breakout: 24101.00 above the opening range high 24100.00"})
	})
	t.Run("a position left open is closed at the next day's open", func(t *testing.T) {
		s, _ := breakout(t, env)
		mon := time.Date(2026, 11, 23, 9, 15, 0, 0, domain.IST())
		if got := s.OnTimer(env, mon.Add(-time.Hour)); len(got) != 0 {
			t.Fatalf("order before the open:\n%s", dump(got))
		}
		got := s.OnTick(env, futTick(mon, 24000))
		checkSignals(t, got, want{"20261123-01-carry-exit", fut, domain.Sell, niftyLot, "carried from an earlier day"})
	})
	t.Run("refused entry ends the day", func(t *testing.T) {
		s := mustNew(t, ORB(), `{}`)
		entry := run(s, env, append(openingRange(), onTick(futTick(at(9, 31, 0), 24560))))
		got := s.OnFill(env, Fill{Leg: entry[0].Leg, Exchange: entry[0].Exchange, Symbol: fut, Side: domain.Buy, At: at(9, 31, 1), Done: true, Reason: "RMS: margin"})
		got = append(got, run(s, env, []step{onTick(futTick(at(9, 40, 0), 24000)), onTimer(at(15, 15, 0))})...)
		if len(got) != 0 {
			t.Fatalf("signals after a refused entry:\n%s", dump(got))
		}
		if st := s.State().(ORBState); st.Phase != "done" || st.Why != "entry refused: RMS: margin" {
			t.Fatalf("state %+v", st)
		}
	})
}
