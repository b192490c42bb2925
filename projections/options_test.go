package projections_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/instruments"
	"github.com/algoauto/algoauto/projections"
)

func TestParseKiteOption(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	ist := domain.IST()
	for _, c := range []struct {
		sym        string
		underlying string
		expiry     time.Time
		strike     domain.Price
		typ        domain.InstrumentType
	}{
		{"NIFTY2632423750CE", "NIFTY", time.Date(2026, 3, 24, 0, 0, 0, 0, ist), domain.Rupees(23750), domain.InstrumentCall},
		{"NIFTY26D0126000PE", "NIFTY", time.Date(2026, 12, 1, 0, 0, 0, 0, ist), domain.Rupees(26000), domain.InstrumentPut},
		{"NIFTY26O0625500CE", "NIFTY", time.Date(2026, 10, 6, 0, 0, 0, 0, ist), domain.Rupees(25500), domain.InstrumentCall},
		// Monthly: 24 Nov 2026 is a holiday, so the expiry is Monday 23rd.
		{"NIFTY26NOV26000CE", "NIFTY", time.Date(2026, 11, 23, 0, 0, 0, 0, ist), domain.Rupees(26000), domain.InstrumentCall},
		{"BANKNIFTY26DEC59000PE", "BANKNIFTY", time.Date(2026, 12, 29, 0, 0, 0, 0, ist), domain.Rupees(59000), domain.InstrumentPut},
		{"NIFTYNXT5026NOV70000CE", "NIFTYNXT50", time.Date(2026, 11, 23, 0, 0, 0, 0, ist), domain.Rupees(70000), domain.InstrumentCall},
		{"RELIANCE26NOV1312.5PE", "RELIANCE", time.Date(2026, 11, 23, 0, 0, 0, 0, ist), 131250, domain.InstrumentPut},
	} {
		got, ok := projections.ParseKiteOption(c.sym, cal)
		if !ok || got.Underlying != c.underlying || !got.Expiry.Equal(c.expiry) || got.Strike != c.strike || got.Type != c.typ {
			t.Errorf("%s: %+v %v, want %s %s %s %s", c.sym, got, ok, c.underlying, c.expiry.Format(time.DateOnly), c.strike, c.typ)
		}
	}
	for _, bad := range []string{"", "CE", "NIFTY26NOVFUT", "NIFTY 50", "NIFTY26N3226000CE", "NIFTY26X2426000CE",
		"NIFTY26NOVCE", "26NOV26000CE", "NIFTY26N24CE", "NIFTY26NOV0CE", "NIFTY26NOV26000XE"} {
		if got, ok := projections.ParseKiteOption(bad, cal); ok {
			t.Errorf("%q parsed as %+v", bad, got)
		}
	}
	// Every option of the simulated master, weekly and monthly, across a
	// holiday-shifted expiry and the Oct-Dec month letters.
	for _, day := range []string{"2026-03-02T09:15:00+05:30", "2026-09-28T09:15:00+05:30", "2026-11-20T09:15:00+05:30"} {
		at, _ := time.Parse(time.RFC3339, day)
		m, err := instruments.Simulated(instruments.SimConfig{At: at, StrikesEachSide: 3})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, in := range m.Instruments() {
			if !in.Type.IsOption() {
				continue
			}
			n++
			got, ok := projections.ParseKiteOption(in.Symbol, cal)
			if !ok || got.Underlying != in.Name || !got.Expiry.Equal(in.Expiry) || got.Strike != in.Strike || got.Type != in.Type ||
				!got.ExpiresAt().Equal(in.ExpiresAt()) {
				t.Errorf("%s: %+v %v, want %+v", in.Symbol, got, ok, in)
			}
		}
		if n < 40 {
			t.Errorf("%s: only %d options in the master", day, n)
		}
	}
}

// simTicks runs the simulator with options (and its Greeks) from start
// for n ticks, a round every interval.
func simTicks(t *testing.T, start string, interval time.Duration, n int64) []domain.Tick {
	t.Helper()
	at, err := time.Parse(time.RFC3339, start)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sim.New(sim.Config{Seed: 3, Start: at, Interval: interval, Limit: n, Options: true, OptionGreeks: true, OptionExpiries: 2})
	if err != nil {
		t.Fatal(err)
	}
	var out []domain.Tick
	if err := f.Run(context.Background(), func(_ context.Context, ts []domain.Tick) error {
		out = append(out, ts...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// record appends ticks to the log, without their Greeks unless vendor.
func (b *logBuilder) record(ticks []domain.Tick, vendor bool) {
	for _, tk := range ticks {
		if !vendor {
			tk.Greeks = nil
		}
		b.add(tk.Stream(), tk)
	}
}

func TestOptionsChainFromSimulatedTicks(t *testing.T) {
	t.Parallel()
	ticks := simTicks(t, "2026-11-20T09:15:00+05:30", 0, 3000)
	b := newLog(t)
	b.record(ticks, false)
	o := projections.NewOptions(projections.OptionsConfig{})
	o.Apply(b.evs, b.evs[len(b.evs)-1].Position)

	// The last tick of every option, and the spots.
	last := map[string]domain.Tick{}
	var niftySpot domain.Price
	for _, tk := range ticks {
		last[tk.Exchange+":"+tk.Symbol] = tk
		if tk.Symbol == "NIFTY 50" {
			niftySpot = tk.LTP
		}
	}
	if got := o.Underlyings(); len(got) != 2 || got[0] != "BANKNIFTY" || got[1] != "NIFTY" {
		t.Fatalf("underlyings %v", got)
	}
	ch, pos, err := o.Chain("NIFTY", "")
	if err != nil {
		t.Fatal(err)
	}
	// Friday 20 Nov 2026: the nearest NIFTY expiry is the November monthly,
	// Monday 23rd (Tuesday 24th is a holiday), then Tuesday 1 Dec.
	if pos != b.evs[len(b.evs)-1].Position || ch.Expiry != "2026-11-23" || len(ch.Expiries) != 2 || ch.Expiries[1] != "2026-12-01" {
		t.Fatalf("chain at %d: expiry %s of %v", pos, ch.Expiry, ch.Expiries)
	}
	if ch.Spot != niftySpot || ch.Rate != projections.DefaultOptionRate || len(ch.Strikes) != 2*sim.DefaultOptionStrikes+1 {
		t.Fatalf("chain spot %s (want %s), rate %v, %d strikes", ch.Spot, niftySpot, ch.Rate, len(ch.Strikes))
	}
	if d := absP(ch.ATMStrike - ch.Spot); d > domain.Rupees(25) || ch.ATMStrike%domain.Rupees(50) != 0 {
		t.Errorf("ATM strike %s for spot %s", ch.ATMStrike, ch.Spot)
	}
	if ch.CallOI <= 0 || ch.PutOI <= 0 || ch.PCR <= 0 {
		t.Errorf("OI totals %d/%d, PCR %v", ch.CallOI, ch.PutOI, ch.PCR)
	}
	if other, _, err := o.Chain("NIFTY", "2026-12-01"); err != nil || other.Expiry != "2026-12-01" || len(other.Strikes) == 0 {
		t.Errorf("the December 1 chain: %v %+v", err, other.Expiry)
	}
	if bn, _, err := o.Chain("BANKNIFTY", ""); err != nil || bn.Expiry != "2026-11-23" || bn.Strikes[1].Strike-bn.Strikes[0].Strike != domain.Rupees(100) {
		t.Errorf("BANKNIFTY chain: %v %+v", err, bn.Expiry)
	}

	compared, thetaUp := 0, 0
	var worst float64
	for i, row := range ch.Strikes {
		if i > 0 && row.Strike-ch.Strikes[i-1].Strike != domain.Rupees(50) {
			t.Errorf("strike %s after %s: want steps of 50", row.Strike, ch.Strikes[i-1].Strike)
		}
		for _, v := range []*projections.OptionView{row.CE, row.PE} {
			if v == nil {
				t.Fatalf("strike %s lacks a side", row.Strike)
			}
			tk := last[v.Key()]
			if v.LTP != tk.LTP || v.Bid != tk.Bid || v.Ask != tk.Ask || v.BidQty != tk.BidQty || v.AskQty != tk.AskQty ||
				v.OI != tk.OI || v.Volume != tk.Volume || v.Strike != row.Strike || v.Underlying != "NIFTY" || !v.ExchangeTime.Equal(tk.ExchangeTime) {
				t.Errorf("%s: view %+v, last tick %+v", v.Symbol, v.OptionQuote, tk)
			}
			g := v.Greeks
			if g == nil || g.Source != "model" {
				t.Fatalf("%s: greeks %+v (%s)", v.Symbol, g, v.GreeksUnavailable)
			}
			// The simulator's premiums were priced at its smile volatility:
			// the IV solved from the mid quote recovers it.
			want := tk.Greeks
			if want.Vega > 0.5 { // the 0.05 grid moves the price by < 0.025
				compared++
				worst = max(worst, math.Abs(g.IV-want.IV))
				if math.Abs(g.IV-want.IV) > 1e-3 {
					t.Errorf("%s: IV from mid %.5f, simulator's %.5f", v.Symbol, g.IV, want.IV)
				}
				if math.Abs(g.Delta-want.Delta) > 0.01 {
					t.Errorf("%s: delta %.4f, simulator's %.4f", v.Symbol, g.Delta, want.Delta)
				}
			}
			if v.Type == domain.InstrumentCall && !(g.Delta > 0 && g.Delta < 1) || v.Type == domain.InstrumentPut && !(g.Delta > -1 && g.Delta < 0) {
				t.Errorf("%s: delta %v", v.Symbol, g.Delta)
			}
			if g.Gamma <= 0 || g.Vega <= 0 {
				t.Errorf("%s: gamma %v, vega %v", v.Symbol, g.Gamma, g.Vega)
			}
			if g.Theta >= 0 {
				thetaUp++
			}
			if v.DaysToExpiry <= 0 || v.DaysToExpiry > 4 {
				t.Errorf("%s: %v days to expiry", v.Symbol, v.DaysToExpiry)
			}
		}
	}
	if compared < len(ch.Strikes) {
		t.Errorf("IV compared on %d options only", compared)
	}
	if thetaUp > len(ch.Strikes)/10 {
		t.Errorf("theta >= 0 on %d of %d options", thetaUp, 2*len(ch.Strikes))
	}
	t.Logf("IV from mid vs simulator: worst %.2g over %d options", worst, compared)
}

func absP(p domain.Price) domain.Price { return max(p, -p) }

func TestOptionsVendorGreeksPreferred(t *testing.T) {
	t.Parallel()
	b := newLog(t)
	rs := domain.Rupees
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26000))
	vendor := &domain.Greeks{IV: 0.2, Delta: 0.51, Gamma: 0.001, Theta: -9, Vega: 12, Rho: 3}
	call := domain.Tick{Provider: "truedata", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26N2426000CE", ExchangeTime: b.clock,
		LTP: rs(150), Bid: rs(149), BidQty: 65, Ask: rs(151), AskQty: 65, Greeks: vendor}
	b.add(call.Stream(), call)
	o := projections.NewOptions(projections.OptionsConfig{})
	o.Apply(b.evs, b.evs[len(b.evs)-1].Position)
	v, _, ok := o.Option("NIFTY26N2426000CE")
	if !ok || v.Greeks == nil || v.Greeks.Source != "vendor" || v.Greeks.Greeks != *vendor {
		t.Fatalf("vendor greeks: %+v %v", v.Greeks, ok)
	}
	// The next tick carries none: the model answers, from the mid.
	call.Greeks = nil
	ev := b.add(call.Stream(), call)
	o.Apply([]eventstore.RecordedEvent{*ev}, ev.Position)
	v, _, _ = o.Option("NFO:NIFTY26N2426000CE")
	if v.Greeks == nil || v.Greeks.Source != "model" || v.Greeks.Premium != 150 || v.Greeks.IV <= 0 || v.Greeks.IV > 1 {
		t.Fatalf("model greeks: %+v (%s)", v.Greeks, v.GreeksUnavailable)
	}
	// TrueData's name of the contract, in any case.
	for _, name := range []string{"NIFTY26112426000CE", "nifty26112426000ce"} {
		if tv, _, ok := o.Option(name); !ok || tv.Symbol != "NIFTY26N2426000CE" {
			t.Errorf("%s: %+v %v", name, tv.OptionQuote, ok)
		}
	}
}

func TestOptionsLookupPruneAndErrors(t *testing.T) {
	t.Parallel()
	b := newLog(t) // 2026-11-20 09:15 IST
	rs := domain.Rupees
	opt := func(sym string, ltp domain.Price) {
		b.add(domain.TickStream(domain.ExchangeNFO, sym), domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: sym,
			ExchangeTime: b.clock, LTP: ltp, Bid: ltp - 5, BidQty: 65, Ask: ltp + 5, AskQty: 65, OI: 6500, Volume: 650})
	}
	opt("NIFTY26NOV26000CE", rs(120)) // before any spot: Greeks use the later spot
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26010))
	opt("NIFTY26NOV26000PE", rs(110))
	opt("NIFTY26D0126000CE", rs(260))
	opt("NIFTY26NOVFUT", rs(26050)) // not an option
	opt("NIFTY26Q0126000CE", rs(1)) // not Kite's format
	b.tick(domain.ExchangeNSE, "RELIANCE", rs(1300))
	o := projections.NewOptions(projections.OptionsConfig{})
	o.Apply(b.evs, b.evs[len(b.evs)-1].Position)

	if v, _, ok := o.Option("NIFTY26NOV26000CE"); !ok || v.Spot != 0 || v.Greeks == nil || v.Greeks.Source != "model" {
		t.Errorf("option ticked before its spot: %+v %v (%s)", v.Greeks, ok, v.GreeksUnavailable)
	}
	// TrueData's name of the December 1 weekly.
	if v, _, ok := o.Option("NIFTY26120126000CE"); !ok || v.Symbol != "NIFTY26D0126000CE" || v.Expiry != "2026-12-01" {
		t.Errorf("TrueData lookup: %+v %v", v.OptionQuote, ok)
	}
	found, unknown, _ := o.Lookup([]string{"NFO:NIFTY26NOV26000PE", "NIFTY26NOVFUT", "NIFTY26D0126000CE", "BANKNIFTY26NOV59000CE"})
	if len(found) != 2 || len(unknown) != 2 || unknown[0] != "NIFTY26NOVFUT" {
		t.Errorf("lookup: found %d, unknown %v", len(found), unknown)
	}
	if list, _ := o.List(""); len(list) != 3 || list[0].Symbol != "NIFTY26NOV26000CE" || list[1].Symbol != "NIFTY26NOV26000PE" {
		t.Errorf("list: %+v", list)
	}
	if _, _, err := o.Chain("BANKNIFTY", ""); !errors.Is(err, projections.ErrNoOptions) {
		t.Errorf("chain of an underlying without options: %v", err)
	}
	if _, _, err := o.Chain("NIFTY", "2026-11-24"); !errors.Is(err, projections.ErrNoOptions) {
		t.Errorf("chain of an expiry not held: %v", err)
	}
	if _, _, err := o.Chain("NIFTY", "23-11-2026"); !errors.Is(err, projections.ErrBadExpiry) {
		t.Errorf("chain of a malformed expiry: %v", err)
	}

	// Tuesday 24 Nov: the November contracts (expired on the 23rd at
	// 15:30) are dropped; the December one stays.
	b.clock = time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC)
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26100))
	o.Apply(b.evs[len(b.evs)-1:], b.evs[len(b.evs)-1].Position)
	if list, _ := o.List("NIFTY"); len(list) != 1 || list[0].Symbol != "NIFTY26D0126000CE" {
		t.Errorf("after the November expiry: %+v", list)
	}
	ch, _, err := o.Chain("NIFTY", "")
	if err != nil || ch.Expiry != "2026-12-01" || ch.Spot != rs(26100) || ch.ATMStrike != rs(26000) {
		t.Errorf("chain after the expiry: %v %+v", err, ch)
	}
	// A late tick of an expired contract is not folded back in.
	opt("NIFTY26NOV26000CE", rs(1))
	o.Apply(b.evs[len(b.evs)-1:], b.evs[len(b.evs)-1].Position)
	if _, _, ok := o.Option("NIFTY26NOV26000CE"); ok {
		t.Error("expired contract folded back in")
	}
}

func TestOptionsDeterminism(t *testing.T) {
	t.Parallel()
	ticks := simTicks(t, "2026-11-23T15:25:00+05:30", 10*time.Second, 6000) // across the November expiry
	b := newLog(t)
	b.record(ticks, true)
	b.record(ticks[len(ticks)-50:], false) // the last ticks again, without vendor Greeks
	head := b.evs[len(b.evs)-1].Position

	whole := projections.NewOptions(projections.OptionsConfig{})
	whole.Apply(b.evs, head)
	pieces := projections.NewOptions(projections.OptionsConfig{})
	for i := 0; i < len(b.evs); i += 97 {
		end := min(i+97, len(b.evs))
		pieces.Apply(b.evs[i:end], b.evs[end-1].Position)
	}
	h1, err := projections.Hash(whole)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := projections.Hash(pieces)
	if h1 != h2 {
		t.Fatalf("same ticks, different batches: %s vs %s", h1, h2)
	}
	st, _, err := whole.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	restored := projections.NewOptions(projections.OptionsConfig{})
	if err := restored.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	if h3, _ := projections.Hash(restored); h3 != h1 || restored.Position() != head {
		t.Fatalf("state round trip: %s vs %s at %d", h3, h1, restored.Position())
	}
	a, _, errA := whole.Chain("NIFTY", "")
	c, _, errC := restored.Chain("NIFTY", "")
	if errA != nil || errC != nil || a.Expiry != c.Expiry || len(a.Strikes) != len(c.Strikes) {
		t.Fatalf("chains: %v %v", errA, errC)
	}
	for i := range a.Strikes {
		if *a.Strikes[i].CE.Greeks != *c.Strikes[i].CE.Greeks || a.Strikes[i].PE.OI != c.Strikes[i].PE.OI {
			t.Fatalf("strike %s differs after the round trip", a.Strikes[i].Strike)
		}
	}
	// The November contracts expired at 15:30 on the 23rd: the next
	// session's chain is December's.
	if a.Expiry != "2026-12-01" {
		t.Errorf("chain after the expiry: %s of %v", a.Expiry, a.Expiries)
	}
	if err := restored.UnmarshalState([]byte(`{"position":1,"options":{"NFO:X":{"exchange":"NFO","symbol":"Y","type":"CE"}}}`)); err == nil {
		t.Error("a malformed state was accepted")
	}
}

// optionChains reads every chain the model holds: each underlying, each
// expiry.
func optionChains(t *testing.T, o *projections.Options) []projections.OptionChain {
	t.Helper()
	var out []projections.OptionChain
	for _, u := range o.Underlyings() {
		first, _, err := o.Chain(u, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range first.Expiries {
			ch, _, err := o.Chain(u, e)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ch)
		}
	}
	return out
}

// TestOptionsGreeksMemo checks that the Greeks the model remembers between
// reads are those a fresh solve gives: chains read twice, as the log grows,
// equal the chains of a projection folded to the same position that never
// answered before. Readers run beside the fold, for the race detector.
func TestOptionsGreeksMemo(t *testing.T) {
	t.Parallel()
	ticks := simTicks(t, "2026-11-20T15:00:00+05:30", time.Second, 12_000) // into Monday's session
	b := newLog(t)
	b.record(ticks, false)
	evs := b.evs
	o := projections.NewOptions(projections.OptionsConfig{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _, _ = o.Chain("NIFTY", "")
				_, _, _ = o.Option("NIFTY26NOV26000CE")
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	done := 0
	for _, n := range []int{200, 201, 3000, 3050, 9000, len(evs)} {
		o.Apply(evs[done:n], evs[n-1].Position)
		done = n
		got := optionChains(t, o)
		again := optionChains(t, o) // every option's Greeks remembered
		fresh := projections.NewOptions(projections.OptionsConfig{})
		fresh.Apply(evs[:n], evs[n-1].Position)
		want := optionChains(t, fresh)
		if len(want) == 0 || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(again, want) {
			t.Fatalf("after %d events: chains read from the memo differ from a fresh solve", n)
		}
		for _, ch := range want {
			for _, r := range ch.Strikes {
				for _, v := range []*projections.OptionView{r.CE, r.PE} {
					if v == nil {
						continue
					}
					if v.Greeks == nil || v.Greeks.Source != "model" {
						t.Fatalf("after %d events: %s has no model Greeks (%s)", n, v.Symbol, v.GreeksUnavailable)
					}
					if mv, _, ok := o.Option(v.Key()); !ok || !reflect.DeepEqual(mv, *v) {
						t.Fatalf("after %d events: Option(%s) differs from its chain row", n, v.Symbol)
					}
				}
			}
		}
	}
}

// TestOptionsGreeksMemoSpot: an option that ticked before any level of its
// underlying takes the latest level; its remembered Greeks follow that
// level as it moves.
func TestOptionsGreeksMemoSpot(t *testing.T) {
	t.Parallel()
	b := newLog(t)
	rs := domain.Rupees
	call := domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26D0126000CE", ExchangeTime: b.clock,
		LTP: rs(260), Bid: rs(259), BidQty: 65, Ask: rs(261), AskQty: 65}
	b.add(call.Stream(), call)
	o := projections.NewOptions(projections.OptionsConfig{})
	check := func(what string) *projections.OptionGreeks {
		t.Helper()
		o.Apply(b.evs[o.Position():], b.evs[len(b.evs)-1].Position)
		fresh := projections.NewOptions(projections.OptionsConfig{})
		fresh.Apply(b.evs, b.evs[len(b.evs)-1].Position)
		for range 2 {
			got, _, _ := o.Option(call.Symbol)
			want, _, _ := fresh.Option(call.Symbol)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %+v (%s), fresh %+v (%s)", what, got.Greeks, got.GreeksUnavailable, want.Greeks, want.GreeksUnavailable)
			}
		}
		v, _, _ := o.Option(call.Symbol)
		return v.Greeks
	}
	if g := check("no spot yet"); g != nil {
		t.Fatalf("Greeks without a spot: %+v", g)
	}
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26000))
	g1 := check("spot 26000")
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26100))
	g2 := check("spot 26100")
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26100))
	g3 := check("spot 26100 again")
	if g1 == nil || g2 == nil || *g1 == *g2 || *g2 != *g3 {
		t.Errorf("Greeks at 26000 %+v, 26100 %+v, 26100 again %+v", g1, g2, g3)
	}
}
