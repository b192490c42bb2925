package sim_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/instruments"
)

func isOption(tk domain.Tick) bool {
	return tk.Exchange == domain.ExchangeNFO && (strings.HasSuffix(tk.Symbol, "CE") || strings.HasSuffix(tk.Symbol, "PE"))
}

// sameTickDeep is sameTick, comparing Greeks by value.
func sameTickDeep(a, b domain.Tick) bool {
	ga, gb := a.Greeks, b.Greeks
	a.Greeks, b.Greeks = nil, nil
	if (ga == nil) != (gb == nil) || ga != nil && *ga != *gb {
		return false
	}
	return sameTick(a, b)
}

func TestOptionsConfigValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  sim.Config
		want string
	}{
		{sim.Config{Options: true, OptionStrikes: -1}, "option strikes must be between 0"},
		{sim.Config{Options: true, OptionStrikes: sim.MaxOptionStrikes + 1}, "option strikes"},
		{sim.Config{Options: true, OptionExpiries: -1}, "option expiries must be between 0"},
		{sim.Config{Options: true, OptionExpiries: sim.MaxOptionExpiries + 1}, "option expiries"},
	} {
		if _, err := sim.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := sim.New(sim.Config{Options: true, OptionStrikes: sim.MaxOptionStrikes, OptionExpiries: sim.MaxOptionExpiries}); err != nil {
		t.Errorf("the largest chains: %v", err)
	}
}

// TestOptionsTicks runs with options every 5 minutes from Friday 20 Nov
// 2026 through Monday 23rd (the November expiry, Tuesday 24th being a
// holiday) into Wednesday 25th, and checks every option tick against the
// master, the model and the previous ticks.
func TestOptionsTicks(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	const interval = 5 * time.Minute
	cfg := sim.Config{Seed: 11, Start: at(t, "2026-11-20T09:15:00+05:30"), Interval: interval, Limit: 22_000,
		Options: true, OptionExpiries: 2, OptionGreeks: true, Sleep: noSleep(t)}
	f := mustNew(t, cfg)
	ticks := collect(t, f)
	if len(ticks) != 22_000 {
		t.Fatalf("%d ticks", len(ticks))
	}
	// The index and futures ticks are those of a feed without options.
	plainCfg := cfg
	plainCfg.Options, plainCfg.Limit = false, 0
	var under []domain.Tick
	for _, tk := range ticks {
		if !isOption(tk) {
			under = append(under, tk)
		}
	}
	plainCfg.Limit = int64(len(under))
	plain := collect(t, mustNew(t, plainCfg))
	for i := range plain {
		if !sameTick(plain[i], under[i]) {
			t.Fatalf("underlying tick %d differs with options:\n%+v\n%+v", i, plain[i], under[i])
		}
	}

	type optState struct {
		volume, oi int64
		session    time.Time
	}
	seen := map[string]*optState{}
	var master *instruments.Master
	var session time.Time // the current session's open
	spots := map[string]domain.Price{}
	roundOpts := map[string]int{} // options ticked in the session's first round, by underlying
	atmTicks := map[string]int{}  // rounds in which the ATM NIFTY call of the day ticked
	rounds, sessions, carried := 0, 0, 0
	var roundAt time.Time
	var firstRound bool
	var lastOIOf = map[string]int64{}
	for i, tk := range ticks {
		if err := tk.Validate(); err != nil {
			t.Fatalf("tick %d invalid: %v (%+v)", i, err, tk)
		}
		if !cal.InSession(tk.ExchangeTime) {
			t.Fatalf("tick %d at %v is outside a session", i, tk.ExchangeTime)
		}
		if !tk.ExchangeTime.Equal(roundAt) {
			if !isOption(tk) && tk.Symbol != "NIFTY 50" {
				t.Fatalf("tick %d: round at %v starts with %s", i, tk.ExchangeTime, tk.Symbol)
			}
			rounds++
			firstRound = session.IsZero() || !tk.ExchangeTime.Equal(roundAt.Add(interval))
			if firstRound {
				sessions++
				session = tk.ExchangeTime
				var err error
				if master, err = f.Master(session); err != nil {
					t.Fatal(err)
				}
				clear(roundOpts)
			}
			roundAt = tk.ExchangeTime
		}
		if !isOption(tk) {
			if tk.Exchange == domain.ExchangeNSE {
				spots[tk.Symbol] = tk.LTP
			}
			continue
		}
		in, ok := master.Lookup(tk.Exchange + ":" + tk.Symbol)
		if !ok || in.Token != tk.Token || !in.Type.IsOption() || tk.ExchangeTime.Compare(in.ExpiresAt()) >= 0 {
			t.Fatalf("tick %d: %s/%d not a live option of the session's master (%+v)", i, tk.Symbol, tk.Token, in)
		}
		if firstRound {
			roundOpts[in.Name]++
		}
		for _, p := range []domain.Price{tk.LTP, tk.Bid, tk.Ask} {
			if p%5 != 0 || p <= 0 {
				t.Fatalf("tick %d price %s not a positive multiple of 0.05", i, p)
			}
		}
		if !(tk.Bid < tk.Ask && tk.Bid <= tk.LTP && tk.LTP <= tk.Ask) {
			t.Fatalf("tick %d quote bid %s ltp %s ask %s", i, tk.Bid, tk.LTP, tk.Ask)
		}
		for _, q := range []int64{tk.LastQty, tk.BidQty, tk.AskQty, tk.OI, tk.Volume} {
			if q <= 0 || q%in.LotSize != 0 {
				t.Fatalf("tick %d quantity %d not a positive multiple of lot %d", i, q, in.LotSize)
			}
		}
		// The premium is Black-Scholes at the smile off the round's index.
		idx := "NIFTY 50"
		atm := 0.13
		if in.Name == "BANKNIFTY" {
			idx, atm = "NIFTY BANK", 0.16
		}
		spot := float64(spots[idx]) / 100
		days := float64(in.ExpiresAt().Sub(tk.ExchangeTime)) / float64(24*time.Hour)
		strike := float64(in.Strike) / 100
		vol := sim.SmileVol(atm, spot, strike, days)
		v, err := domain.OptionInputs{Type: in.Type, Spot: spot, Strike: strike, Days: days, Rate: sim.RiskFreeRate, Vol: vol}.Value()
		if err != nil {
			t.Fatal(err)
		}
		mid := float64(tk.Bid+tk.Ask) / 200
		if math.Abs(mid-v.Price) > 0.0251 && tk.Bid > 5 {
			t.Fatalf("tick %d %s: mid %.3f, model %.4f (spot %.2f, %.3f days, vol %.4f)", i, tk.Symbol, mid, v.Price, spot, days, vol)
		}
		if tk.Greeks == nil || tk.Greeks.IV != vol || math.Abs(tk.Greeks.Delta-v.Delta) > 1e-12 {
			t.Fatalf("tick %d %s: greeks %+v, want IV %v delta %v", i, tk.Symbol, tk.Greeks, vol, v.Delta)
		}
		if in.Name == "NIFTY" && in.Type == domain.InstrumentCall {
			if a, err := master.ATMStrike("NIFTY", in.Expiry, spots[idx]); err == nil && a == in.Strike {
				atmTicks[tk.ExchangeTime.Format(time.DateOnly)]++
			}
		}
		// Volume accumulates through the session; OI carries over.
		st := seen[tk.Symbol]
		switch {
		case st == nil || !st.session.Equal(session):
			if tk.Volume != tk.LastQty {
				t.Fatalf("tick %d %s: first volume of the session %d, want %d", i, tk.Symbol, tk.Volume, tk.LastQty)
			}
			if st != nil {
				carried++
				if d := tk.OI - st.oi; d < -10*in.LotSize || d > 10*in.LotSize {
					t.Errorf("tick %d %s: OI %d after %d at the last session", i, tk.Symbol, tk.OI, st.oi)
				}
			}
			st = &optState{session: session}
			seen[tk.Symbol] = st
		case tk.Volume != st.volume+tk.LastQty:
			t.Fatalf("tick %d %s: volume %d, want %d + %d", i, tk.Symbol, tk.Volume, st.volume, tk.LastQty)
		}
		st.volume, st.oi = tk.Volume, tk.OI
		lastOIOf[tk.Symbol] = tk.OI
		// The first round ticks the whole chain: 2 expiries x 21 strikes x 2.
		if i+1 < len(ticks) && !ticks[i+1].ExchangeTime.Equal(roundAt) && firstRound {
			for _, u := range []string{"NIFTY", "BANKNIFTY"} {
				if roundOpts[u] != 2*(2*sim.DefaultOptionStrikes+1)*2 {
					t.Errorf("session %v: %d %s options in the first round", session, roundOpts[u], u)
				}
			}
		}
	}
	if sessions != 3 || rounds < 2*75+10 {
		t.Errorf("%d sessions, %d rounds", sessions, rounds)
	}
	if carried == 0 {
		t.Error("no contract ticked in two sessions")
	}
	for _, d := range []string{"2026-11-20", "2026-11-23"} {
		if atmTicks[d] < 70 {
			t.Errorf("%s: the ATM NIFTY calls ticked in %d rounds, want every one", d, atmTicks[d])
		}
	}
	// Wednesday: the November contracts are gone; NIFTY ticks Dec 1 and 8,
	// BANKNIFTY Dec 29 and the January monthly.
	exp := map[string]bool{}
	for _, tk := range ticks {
		if isOption(tk) && tk.ExchangeTime.Day() == 25 {
			in, _ := master.Lookup("NFO:" + tk.Symbol)
			exp[in.Name+" "+in.Expiry.Format(time.DateOnly)] = true
		}
	}
	jan := "BANKNIFTY " + cal.MonthlyExpiry(2027, time.January).Format(time.DateOnly)
	for _, want := range []string{"NIFTY 2026-12-01", "NIFTY 2026-12-08", "BANKNIFTY 2026-12-29", jan} {
		if !exp[want] {
			t.Errorf("Wednesday's options lack %s: %v", want, exp)
		}
	}
	if len(exp) != 4 {
		t.Errorf("Wednesday's expiries: %v", exp)
	}
}

func TestOptionsDeterminism(t *testing.T) {
	t.Parallel()
	run := func(seed int64, batch int, speed float64) []domain.Tick {
		clock := &fakeClock{now: at(t, "2030-01-01T00:00:00Z")}
		return collect(t, mustNew(t, sim.Config{Seed: seed, Start: at(t, "2026-11-20T15:29:00+05:30"), Interval: time.Second,
			BatchSize: batch, Speed: speed, Now: clock.Now, Sleep: clock.Sleep, Limit: 12_000, Options: true, OptionGreeks: true, OptionStrikes: 5}))
	}
	a, b, c := run(5, 0, 0), run(5, 13, 0), run(5, 0, 100)
	for i := range a {
		if !sameTickDeep(a[i], b[i]) || !sameTickDeep(a[i], c[i]) {
			t.Fatalf("same seed, tick %d differs:\n%+v\n%+v\n%+v", i, a[i], b[i], c[i])
		}
	}
	d := run(6, 0, 0)
	differ := 0
	for i := range a {
		if !sameTickDeep(a[i], d[i]) {
			differ++
		}
	}
	if differ < len(a)/2 {
		t.Errorf("seeds 5 and 6: only %d of %d ticks differ", differ, len(a))
	}
}

// TestOptionsPacedRounds checks that at Speed > 0 a round with its options
// is still emitted whole.
func TestOptionsPacedRounds(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: at(t, "2030-01-01T00:00:00Z")}
	f := mustNew(t, sim.Config{Start: at(t, "2026-11-20T10:00:00+05:30"), Speed: 10, Now: clock.Now, Sleep: clock.Sleep,
		Limit: 2000, Options: true, OptionExpiries: sim.MaxOptionExpiries, OptionStrikes: sim.MaxOptionStrikes})
	err := f.Run(context.Background(), func(_ context.Context, ticks []domain.Tick) error {
		if !ticks[0].ExchangeTime.Equal(ticks[len(ticks)-1].ExchangeTime) || ticks[0].Symbol != "NIFTY 50" && len(ticks) > 4 {
			t.Fatalf("a paced batch of %d ticks from %v (%s) to %v", len(ticks), ticks[0].ExchangeTime, ticks[0].Symbol, ticks[len(ticks)-1].ExchangeTime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSmileVol(t *testing.T) {
	t.Parallel()
	const atm = 0.13
	if v := sim.SmileVol(atm, 26000, 26000, 7); math.Abs(v-atm) > 1e-12 {
		t.Errorf("ATM %v", v)
	}
	prevPut, prevCall := atm, atm
	for k := 1; k <= 20; k++ {
		put := sim.SmileVol(atm, 26000, 26000-float64(50*k), 7)
		call := sim.SmileVol(atm, 26000, 26000+float64(50*k), 7)
		if put <= prevPut || call <= prevCall || put <= call {
			t.Errorf("%d strikes out: put %v (was %v), call %v (was %v)", k, put, prevPut, call, prevCall)
		}
		prevPut, prevCall = put, call
	}
	if v := sim.SmileVol(atm, 26000, 20000, 0.01); v != 3*atm {
		t.Errorf("far wing near expiry %v, want the cap %v", v, 3*atm)
	}
}

func BenchmarkFeedSpeed0Options(b *testing.B) {
	f := mustNew(b, sim.Config{
		Seed:     1,
		Start:    at(b, "2026-11-20T09:15:00+05:30"),
		Interval: time.Second,
		Limit:    int64(b.N),
		Options:  true,
	})
	var n int64
	b.ReportAllocs()
	b.ResetTimer()
	err := f.Run(context.Background(), func(_ context.Context, ticks []domain.Tick) error {
		n += int64(len(ticks))
		return nil
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if n != int64(b.N) {
		b.Fatalf("emitted %d ticks, want %d", n, b.N)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ticks/s")
}

// optionCounts runs f for d of simulated time from its start and counts,
// after the first round, the rounds, the index and futures ticks, and the
// option ticks by symbol.
func optionCounts(t *testing.T, f *sim.Feed, d time.Duration) (rounds, under int, opts map[string]int) {
	t.Helper()
	opts = map[string]int{}
	end := f.Start().Add(d)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last time.Time
	err := f.Run(ctx, func(_ context.Context, ticks []domain.Tick) error {
		for _, tk := range ticks {
			if !tk.ExchangeTime.Before(end) {
				cancel()
				return ctx.Err()
			}
			if tk.ExchangeTime.Equal(f.Start()) {
				continue // the first round ticks every option
			}
			if !tk.ExchangeTime.Equal(last) {
				rounds++
				last = tk.ExchangeTime
			}
			if isOption(tk) {
				opts[tk.Symbol]++
			} else {
				under++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rounds, under, opts
}

// TestOptionTickRate checks that options tick at a rate in simulated time
// that does not depend on the Interval: rounds shorter than
// OptionTickPeriod scale each option's chance down, so that the busiest
// (at the money) ticks about once a simulated second and the 84 options of
// the default chains about 51 times a second in all, while the index and
// futures still tick every round.
func TestOptionTickRate(t *testing.T) {
	t.Parallel()
	const span = time.Hour
	secs := span.Seconds()
	for _, iv := range []time.Duration{100 * time.Millisecond, sim.DefaultInterval, 500 * time.Millisecond, time.Second} {
		f := mustNew(t, sim.Config{Seed: 4, Start: at(t, "2026-11-20T09:15:00+05:30"), Interval: iv, Options: true})
		rounds, under, opts := optionCounts(t, f, span)
		if want := int(span/iv) - 1; rounds != want || under != 4*rounds {
			t.Errorf("interval %v: %d rounds with %d index and futures ticks, want %d rounds of 4", iv, rounds, under, want)
		}
		total, busiest := 0, 0
		for _, n := range opts {
			total += n
			busiest = max(busiest, n)
		}
		if len(opts) != 84 {
			t.Errorf("interval %v: %d options ticked, want 84", iv, len(opts))
		}
		if r := float64(total) / secs; r < 48 || r > 54 {
			t.Errorf("interval %v: options tick %.1f times a second in all, want about 51", iv, r)
		}
		if r := float64(busiest) / secs; r < 0.9 || r > 1.1 {
			t.Errorf("interval %v: the busiest option ticks %.2f times a second, want about 1", iv, r)
		}
		t.Logf("interval %v: %.1f option ticks/s, busiest %.2f/s, %.1f ticks a round", iv, float64(total)/secs, float64(busiest)/secs,
			float64(total+under)/float64(rounds))
	}
}

// TestOptionsDeterminismDefaultInterval is TestOptionsDeterminism at the
// default Interval, where options draw a second time to scale their chance
// down: the same seed gives the same ticks whatever the batch size or speed,
// and the index and futures ticks are those of a feed without options.
func TestOptionsDeterminismDefaultInterval(t *testing.T) {
	t.Parallel()
	const limit = 20_000
	run := func(seed int64, batch int, speed float64, options bool) []domain.Tick {
		clock := &fakeClock{now: at(t, "2030-01-01T00:00:00Z")}
		return collect(t, mustNew(t, sim.Config{Seed: seed, Start: at(t, "2026-11-20T15:26:00+05:30"), BatchSize: batch, Speed: speed,
			Now: clock.Now, Sleep: clock.Sleep, Limit: limit, Options: options, OptionGreeks: true}))
	}
	a, b, c := run(7, 0, 0, true), run(7, 29, 0, true), run(7, 0, 1000, true)
	for i := range a {
		if !sameTickDeep(a[i], b[i]) || !sameTickDeep(a[i], c[i]) {
			t.Fatalf("same seed, tick %d differs:\n%+v\n%+v\n%+v", i, a[i], b[i], c[i])
		}
	}
	var under []domain.Tick
	for _, tk := range a {
		if !isOption(tk) {
			under = append(under, tk)
		}
	}
	plain := run(7, 0, 0, false)
	for i := range under {
		if !sameTick(plain[i], under[i]) {
			t.Fatalf("underlying tick %d differs with options:\n%+v\n%+v", i, plain[i], under[i])
		}
	}
	// The run crosses the close into Monday's open: its first round ticks
	// every option again.
	if !a[len(a)-1].ExchangeTime.After(at(t, "2026-11-23T09:15:00+05:30")) {
		t.Fatalf("the run ends at %v, before Monday's open", a[len(a)-1].ExchangeTime)
	}
	monday := 0
	for _, tk := range a {
		if isOption(tk) && tk.ExchangeTime.Equal(at(t, "2026-11-23T09:15:00+05:30")) {
			monday++
		}
	}
	if monday != 84 {
		t.Errorf("Monday's first round ticked %d options, want 84", monday)
	}
	d := run(8, 0, 0, true)
	differ := 0
	for i := range a {
		if !sameTickDeep(a[i], d[i]) {
			differ++
		}
	}
	if differ < len(a)/2 {
		t.Errorf("seeds 7 and 8: only %d of %d ticks differ", differ, len(a))
	}
}
