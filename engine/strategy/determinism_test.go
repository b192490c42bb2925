package strategy

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// market generates two trading days of NIFTY: the future every 250 ms, the
// index every second, options of 7 strikes around 24500 every 500 ms, a
// timer beat every second, all from a fixed seed.
func market() []step {
	rng := rand.New(rand.NewPCG(1, 2))
	var steps []step
	for _, day := range []time.Time{istDay(2026, 11, 19), istDay(2026, 11, 20)} {
		price := int64(2450000)
		for ms := int64(9*3600+10*60) * 1000; ms < (15*3600+35*60)*1000; ms += 250 {
			t := day.Add(time.Duration(ms) * time.Millisecond)
			price += rng.Int64N(801) - 400 // a random walk in paise
			steps = append(steps, onTick(domain.Tick{Provider: "test", Exchange: domain.ExchangeNFO, Symbol: fut, ExchangeTime: t, LTP: domain.Price(price + 2000)}))
			if ms%1000 == 0 {
				steps = append(steps, onTick(domain.Tick{Provider: "test", Exchange: domain.ExchangeNSE, Symbol: index, ExchangeTime: t, LTP: domain.Price(price)}))
				steps = append(steps, onTimer(t))
			}
			if ms%500 == 0 {
				for k := int64(-3); k <= 3; k++ {
					strike := domain.Price(2450000 + k*5000)
					for _, typ := range []domain.InstrumentType{domain.InstrumentCall, domain.InstrumentPut} {
						intrinsic := int64(price) - int64(strike)
						if typ == domain.InstrumentPut {
							intrinsic = -intrinsic
						}
						ltp := max(intrinsic, 0) + 8000 + rng.Int64N(200)
						steps = append(steps, onTick(domain.Tick{Provider: "test", Exchange: domain.ExchangeNFO, Symbol: optionSymbol(istDay(2026, 11, 24), strike, typ), ExchangeTime: t, LTP: domain.Price(ltp)}))
					}
				}
			}
		}
	}
	return steps
}

// simulate runs steps through s, filling every signal at once at the last
// price of its instrument, except that every 7th signal is refused.
func simulate(s Strategy, env Env, steps []step) []Signal {
	last := map[string]domain.Price{}
	var out []Signal
	n := 0
	var handle func(sigs []Signal, now time.Time)
	handle = func(sigs []Signal, now time.Time) {
		for _, sig := range sigs {
			out = append(out, sig)
			n++
			f := Fill{Leg: sig.Leg, Exchange: sig.Exchange, Symbol: sig.Symbol, Side: sig.Side, Quantity: sig.Quantity, Price: last[sig.Symbol], At: now, Done: true}
			if n%7 == 0 {
				f.Quantity, f.Price, f.Reason = 0, 0, "refused by the test"
			}
			handle(s.OnFill(env, f), now)
		}
	}
	for _, st := range steps {
		switch {
		case st.tick != nil:
			last[st.tick.Symbol] = st.tick.LTP
			handle(s.OnTick(env, *st.tick), st.tick.ExchangeTime)
		default:
			handle(s.OnTimer(env, st.timer), st.timer)
		}
	}
	return out
}

func TestDeterminism(t *testing.T) {
	steps := market()
	for _, c := range []struct {
		def    Definition
		params string
	}{
		{MACrossover(), `{}`},
		{MACrossover(), `{"bar_seconds":0,"fast":20,"slow":50,"ma":"ema","death_cross":"short"}`},
		{ORB(), `{}`},
		{ORB(), `{"range_minutes":5,"target_r":0.5}`},
		{ShortStraddle(), `{}`},
		{ShortStraddle(), `{"stop_pct":1}`},
	} {
		t.Run(c.def.Name+" "+c.params, func(t *testing.T) {
			a, b := mustNew(t, c.def, c.params), mustNew(t, c.def, c.params)
			sa, sb := simulate(a, newFakeEnv(), steps), simulate(b, newFakeEnv(), steps)
			if len(sa) == 0 {
				t.Fatal("the scenario made no signals")
			}
			if !reflect.DeepEqual(sa, sb) {
				t.Fatalf("two runs differ:\n%s\nvs\n%s", dump(sa), dump(sb))
			}
			if ja, jb := stateJSON(t, a), stateJSON(t, b); ja != jb {
				t.Fatalf("states differ:\n%s\n%s", ja, jb)
			}
			legs := map[string]bool{}
			for _, s := range sa {
				if legs[s.Leg] {
					t.Fatalf("leg id %s used twice", s.Leg)
				}
				legs[s.Leg] = true
				if s.Quantity <= 0 || s.Quantity%niftyLot != 0 {
					t.Fatalf("quantity %d", s.Quantity)
				}
			}
			t.Logf("%d signals", len(sa))
			if len(sa) < 40 {
				t.Log("\n" + dump(sa))
			}
		})
	}
}
