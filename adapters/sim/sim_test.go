package sim_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
)

func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

func mustNew(t testing.TB, cfg sim.Config) *sim.Feed {
	t.Helper()
	f, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// collect runs f to completion and returns a copy of every tick.
func collect(t testing.TB, f *sim.Feed) []domain.Tick {
	t.Helper()
	var out []domain.Tick
	err := f.Run(context.Background(), func(_ context.Context, ticks []domain.Tick) error {
		out = append(out, ticks...)
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out
}

// noSleep fails the test if the feed ever sleeps.
func noSleep(t testing.TB) func(context.Context, time.Duration) error {
	return func(context.Context, time.Duration) error {
		t.Error("Sleep called")
		return nil
	}
}

// fakeClock is a wall clock that only moves when told to.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  sim.Config
		want []string // substrings of the error; nil means valid
	}{
		{"zero config", sim.Config{}, nil},
		{"negative speed", sim.Config{Speed: -1}, []string{"speed must be a finite number >= 0", "got -1"}},
		{"NaN speed", sim.Config{Speed: math.NaN()}, []string{"speed"}},
		{"infinite speed", sim.Config{Speed: math.Inf(1)}, []string{"speed"}},
		{"negative interval", sim.Config{Interval: -time.Second}, []string{"interval must be > 0"}},
		{"negative batch", sim.Config{BatchSize: -1}, []string{"batch size"}},
		{"huge batch", sim.Config{BatchSize: sim.MaxBatchSize + 1}, []string{"batch size"}},
		{"negative limit", sim.Config{Limit: -5}, []string{"limit must be >= 0"}},
		{"all problems at once", sim.Config{Speed: -2, Interval: -1, BatchSize: -1, Limit: -1},
			[]string{"speed", "interval", "batch size", "limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Now = func() time.Time { return at(t, "2026-11-20T10:00:00+05:30") }
			f, err := sim.New(tt.cfg)
			if tt.want == nil {
				if err != nil || f == nil {
					t.Fatalf("New = %v, %v; want a feed", f, err)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start string // empty: default from Now
		now   string
		want  string
	}{
		{"default on sunday replays friday", "", "2026-11-22T10:00:00+05:30", "2026-11-20T09:15:00+05:30"},
		{"default in session", "", "2026-11-20T11:00:00+05:30", "2026-11-20T09:15:00+05:30"},
		{"inside a session is kept", "2026-11-20T11:00:00+05:30", "", "2026-11-20T11:00:00+05:30"},
		{"saturday moves to monday", "2026-11-21T11:00:00+05:30", "", "2026-11-23T09:15:00+05:30"},
		{"after close skips the holiday", "2026-11-23T15:30:00+05:30", "", "2026-11-25T09:15:00+05:30"},
		{"UTC input", "2026-11-20T05:30:00Z", "", "2026-11-20T11:00:00+05:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := sim.Config{Limit: 4, Sleep: noSleep(t)}
			if tt.start != "" {
				cfg.Start = at(t, tt.start)
			}
			cfg.Now = func() time.Time {
				if tt.now == "" {
					t.Error("Now called although Start is set and Speed is 0")
					return time.Time{}
				}
				return at(t, tt.now)
			}
			f := mustNew(t, cfg)
			want := at(t, tt.want)
			if got := f.Start(); !got.Equal(want) || got.Location() != domain.IST() {
				t.Errorf("Start() = %v, want %v in IST", got, want)
			}
			ticks := collect(t, f)
			if len(ticks) != 4 || !ticks[0].ExchangeTime.Equal(want) {
				t.Fatalf("first round: %d ticks at %v, want 4 at %v", len(ticks), ticks[0].ExchangeTime, want)
			}
			if f.Provider() != "sim" {
				t.Errorf("Provider() = %q", f.Provider())
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	start := at(t, "2026-11-20T15:00:00+05:30") // crosses the weekend
	run := func(seed int64, batch int) []domain.Tick {
		return collect(t, mustNew(t, sim.Config{Seed: seed, Start: start, Interval: time.Second, BatchSize: batch, Limit: 20_000, Sleep: noSleep(t)}))
	}
	a, b := run(42, 0), run(42, 7)
	if len(a) != 20_000 || len(b) != 20_000 {
		t.Fatalf("got %d and %d ticks, want 20000", len(a), len(b))
	}
	for i := range a {
		if !sameTick(a[i], b[i]) {
			t.Fatalf("same seed, tick %d differs:\n%+v\n%+v", i, a[i], b[i])
		}
	}
	c := run(43, 0)
	differ := 0
	for i := range a {
		if !sameTick(a[i], c[i]) {
			differ++
		}
	}
	if differ < len(a)/2 {
		t.Errorf("seeds 42 and 43: only %d of %d ticks differ", differ, len(a))
	}
	if a[0].LTP == c[0].LTP {
		t.Errorf("seed does not perturb the start level: both %s", a[0].LTP)
	}
}

func sameTick(a, b domain.Tick) bool {
	at, bt := a.ExchangeTime, b.ExchangeTime
	a.ExchangeTime, b.ExchangeTime = time.Time{}, time.Time{}
	return a == b && at.Equal(bt)
}

// TestSessionsWeekendHolidayAndRoll runs from Friday 2026-11-20 09:15 through
// Monday 23rd (the November expiry, moved from the Tuesday holiday) into
// Wednesday 25th, checking every tick.
func TestSessionsWeekendHolidayAndRoll(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	const roundsPerSession = 22_500 // 6h15m at 1 s
	const limit = (2*roundsPerSession + 100) * 4
	f := mustNew(t, sim.Config{
		Seed:     7,
		Start:    at(t, "2026-11-20T09:15:00+05:30"),
		Interval: time.Second,
		Limit:    limit,
		Sleep:    noSleep(t),
	})
	ticks := collect(t, f)
	if len(ticks) != limit {
		t.Fatalf("got %d ticks, want %d", len(ticks), limit)
	}

	expiryNov := at(t, "2026-11-23T15:30:00+05:30")
	lots := map[string]int64{"NIFTY": 65, "BANKNIFTY": 30}
	days := map[string]int{}
	var prev time.Time
	var prevVolume [2]int64
	newSession := true // the current round is a session's first
	for i, tk := range ticks {
		if err := tk.Validate(); err != nil {
			t.Fatalf("tick %d invalid: %v (%+v)", i, err, tk)
		}
		ts := tk.ExchangeTime
		if !cal.InSession(ts) {
			t.Fatalf("tick %d at %v is outside a session", i, ts)
		}
		if ts.Location() != domain.IST() {
			t.Fatalf("tick %d time %v not in IST", i, ts)
		}
		if ts.Before(prev) {
			t.Fatalf("tick %d at %v goes back from %v", i, ts, prev)
		}
		if i%4 == 0 && i > 0 {
			newSession = ts.Sub(prev) > time.Second
			if !newSession && ts.Sub(prev) != time.Second {
				t.Fatalf("tick %d: round step %v, want 1s", i, ts.Sub(prev))
			}
			if newSession && !ts.Equal(cal.NextSessionOpen(prev)) {
				t.Fatalf("tick %d: jump from %v to %v, want the next open", i, prev, ts)
			}
		} else if i%4 != 0 && !ts.Equal(prev) {
			t.Fatalf("tick %d: round ticks at different times %v, %v", i, prev, ts)
		}
		prev = ts
		days[ts.Format(time.DateOnly)]++
		if tk.Provider != "sim" {
			t.Fatalf("tick %d provider %q", i, tk.Provider)
		}
		for _, p := range []domain.Price{tk.LTP, tk.Bid, tk.Ask} {
			if p%5 != 0 {
				t.Fatalf("tick %d price %s not on the 0.05 grid", i, p)
			}
		}

		// Instruments in round order, matching Instruments(ts).
		inst := f.Instruments(ts)[i%4]
		if tk.Exchange != inst.Exchange || tk.Symbol != inst.Symbol || tk.Token != inst.Token || tk.Token == 0 {
			t.Fatalf("tick %d is %s:%s/%d, want %s:%s/%d", i, tk.Exchange, tk.Symbol, tk.Token, inst.Exchange, inst.Symbol, inst.Token)
		}
		if i%2 == 0 { // index
			if tk.Bid != 0 || tk.Ask != 0 || tk.Volume != 0 || tk.OI != 0 || tk.LastQty != 0 || tk.BidQty != 0 || tk.AskQty != 0 {
				t.Fatalf("index tick %d has depth/volume/OI: %+v", i, tk)
			}
			lo, hi := domain.Rupees(20000), domain.Rupees(32000)
			if tk.Symbol == "NIFTY BANK" {
				lo, hi = domain.Rupees(45000), domain.Rupees(72000)
			}
			if tk.LTP < lo || tk.LTP > hi {
				t.Fatalf("index tick %d %s LTP %s outside [%s, %s]", i, tk.Symbol, tk.LTP, lo, hi)
			}
			continue
		}

		// Futures.
		root := "NIFTY"
		if i%4 == 3 {
			root = "BANKNIFTY"
		}
		wantSym := root + "26NOVFUT"
		if !ts.Before(expiryNov) {
			wantSym = root + "26DECFUT"
		}
		if tk.Symbol != wantSym {
			t.Fatalf("tick %d at %v: symbol %s, want %s", i, ts, tk.Symbol, wantSym)
		}
		if !(tk.Bid < tk.Ask && tk.Bid <= tk.LTP && tk.LTP <= tk.Ask) {
			t.Fatalf("tick %d quote bid %s ltp %s ask %s", i, tk.Bid, tk.LTP, tk.Ask)
		}
		if spread := tk.Ask - tk.Bid; spread < 5 || spread > 15 {
			t.Fatalf("tick %d spread %s not 1-3 ticks", i, spread)
		}
		lot := lots[root]
		for _, q := range []int64{tk.LastQty, tk.BidQty, tk.AskQty, tk.OI} {
			if q <= 0 || q%lot != 0 {
				t.Fatalf("tick %d quantity %d not a positive multiple of lot %d", i, q, lot)
			}
		}
		// Premium over spot: positive carry, at most ~1 % with a month to go.
		spot := ticks[i-1].LTP
		if prem := float64(tk.LTP-spot) / float64(spot); prem < -0.001 || prem > 0.01 {
			t.Fatalf("tick %d futures premium %.4f out of range (spot %s, fut %s)", i, prem, spot, tk.LTP)
		}
		k := (i % 4) / 2
		if newSession {
			if tk.Volume != tk.LastQty {
				t.Fatalf("tick %d: first volume of the session %d, want LastQty %d", i, tk.Volume, tk.LastQty)
			}
		} else if tk.Volume != prevVolume[k]+tk.LastQty {
			t.Fatalf("tick %d: volume %d, want %d + %d", i, tk.Volume, prevVolume[k], tk.LastQty)
		}
		prevVolume[k] = tk.Volume
	}

	want := map[string]int{
		"2026-11-20": roundsPerSession * 4,
		"2026-11-23": roundsPerSession * 4,
		"2026-11-25": 400,
	}
	if len(days) != len(want) {
		t.Errorf("ticks on days %v, want %v", days, want)
	}
	for d, n := range want {
		if days[d] != n {
			t.Errorf("%s: %d ticks, want %d", d, days[d], n)
		}
	}
	if got, want := ticks[len(ticks)-1].ExchangeTime, at(t, "2026-11-25T09:16:39+05:30"); !got.Equal(want) {
		t.Errorf("last tick at %v, want %v", got, want)
	}
}

func TestInstruments(t *testing.T) {
	t.Parallel()
	f := mustNew(t, sim.Config{Start: at(t, "2026-11-20T09:15:00+05:30")})
	nov := f.Instruments(at(t, "2026-11-23T15:29:59+05:30"))
	dec := f.Instruments(at(t, "2026-11-23T15:30:00+05:30"))
	want := []struct {
		exchange, nov, dec string
		token              uint32
		lot                int64
	}{
		{"NSE", "NIFTY 50", "NIFTY 50", 256265, 0},
		{"NFO", "NIFTY26NOVFUT", "NIFTY26DECFUT", 0, 65},
		{"NSE", "NIFTY BANK", "NIFTY BANK", 260105, 0},
		{"NFO", "BANKNIFTY26NOVFUT", "BANKNIFTY26DECFUT", 0, 30},
	}
	if len(nov) != len(want) || len(dec) != len(want) {
		t.Fatalf("got %d and %d instruments, want %d", len(nov), len(dec), len(want))
	}
	for i, w := range want {
		n, d := nov[i], dec[i]
		if n.Exchange != w.exchange || n.Symbol != w.nov || d.Symbol != w.dec || n.LotSize != w.lot || n.TickSize != 5 {
			t.Errorf("instrument %d: %+v / %+v, want %+v", i, n, d, w)
		}
		if w.token != 0 && (n.Token != w.token || d.Token != w.token) {
			t.Errorf("instrument %d token %d/%d, want %d", i, n.Token, d.Token, w.token)
		}
		if w.exchange == "NFO" {
			if n.Token == 0 || d.Token == 0 || n.Token == d.Token {
				t.Errorf("futures tokens %d, %d: want distinct and nonzero", n.Token, d.Token)
			}
			if !n.Expiry.Equal(at(t, "2026-11-23T15:30:00+05:30")) || !d.Expiry.Equal(at(t, "2026-12-29T15:30:00+05:30")) {
				t.Errorf("expiries %v, %v", n.Expiry, d.Expiry)
			}
		} else if !n.Expiry.IsZero() {
			t.Errorf("index %s has expiry %v", n.Symbol, n.Expiry)
		}
	}
}

func TestSpeed0Batches(t *testing.T) {
	t.Parallel()
	f := mustNew(t, sim.Config{Start: at(t, "2026-11-20T09:15:00+05:30"), BatchSize: 10, Limit: 95, Sleep: noSleep(t)})
	var sizes []int
	err := f.Run(context.Background(), func(_ context.Context, ticks []domain.Tick) error {
		sizes = append(sizes, len(ticks))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 5}
	if len(sizes) != len(want) {
		t.Fatalf("batch sizes %v, want %v", sizes, want)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("batch sizes %v, want %v", sizes, want)
		}
	}
}

// TestPacing runs at 10× across the Friday close into Monday with a fake
// clock: every round is due 100 ms of wall time after the previous one, the
// night costs nothing, and the feed sleeps exactly until each round is due.
func TestPacing(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: at(t, "2030-01-01T00:00:00Z")}
	wallStart := clock.now
	const rounds = 30 // 10 on Friday (15:29:50 … 15:29:59), 20 on Monday
	f := mustNew(t, sim.Config{
		Start:    at(t, "2026-11-20T15:29:50+05:30"),
		Speed:    10,
		Interval: time.Second,
		Limit:    rounds * 4,
		Now:      clock.Now,
		Sleep:    clock.Sleep,
	})
	var emitted []time.Time // wall time of each emit
	var simTimes []time.Time
	err := f.Run(context.Background(), func(_ context.Context, ticks []domain.Tick) error {
		if len(ticks) != 4 {
			t.Errorf("emit of %d ticks, want one round of 4", len(ticks))
		}
		emitted = append(emitted, clock.now)
		simTimes = append(simTimes, ticks[0].ExchangeTime)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emitted) != rounds {
		t.Fatalf("%d emits, want %d", len(emitted), rounds)
	}
	for k, w := range emitted {
		if want := wallStart.Add(time.Duration(k) * 100 * time.Millisecond); !w.Equal(want) {
			t.Errorf("round %d (sim %v) emitted at wall %v, want %v", k, simTimes[k], w.Sub(wallStart), want.Sub(wallStart))
		}
	}
	if !simTimes[10].Equal(at(t, "2026-11-23T09:15:00+05:30")) {
		t.Errorf("round 10 at %v, want Monday's open", simTimes[10])
	}
	if len(clock.sleeps) != rounds-1 {
		t.Errorf("%d sleeps, want %d", len(clock.sleeps), rounds-1)
	}
	for i, d := range clock.sleeps {
		if d != 100*time.Millisecond {
			t.Errorf("sleep %d lasted %v, want 100ms (never across the night)", i, d)
		}
	}
}

// TestPacingCatchesUp checks that a late round is emitted without sleeping
// and that lateness does not accumulate.
func TestPacingCatchesUp(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: at(t, "2030-01-01T00:00:00Z")}
	f := mustNew(t, sim.Config{
		Start:    at(t, "2026-11-20T10:00:00+05:30"),
		Speed:    10,
		Interval: time.Second,
		Limit:    6 * 4,
		Now:      clock.Now,
		Sleep:    clock.Sleep,
	})
	calls := 0
	err := f.Run(context.Background(), func(context.Context, []domain.Tick) error {
		calls++
		if calls == 1 {
			clock.now = clock.now.Add(250 * time.Millisecond) // a slow consumer, once
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Rounds are due at 0, 100, …, 500 ms. After the 250 ms stall rounds 1
	// and 2 are late (no sleep), round 3 waits 50 ms, rounds 4 and 5 100 ms.
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	if len(clock.sleeps) != len(want) {
		t.Fatalf("sleeps %v, want %v", clock.sleeps, want)
	}
	for i := range want {
		if clock.sleeps[i] != want[i] {
			t.Fatalf("sleeps %v, want %v", clock.sleeps, want)
		}
	}
}

func TestRunStopsOnCancelSpeed0(t *testing.T) {
	t.Parallel()
	f := mustNew(t, sim.Config{Start: at(t, "2026-11-20T09:15:00+05:30"), BatchSize: 8, Sleep: noSleep(t)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err := f.Run(ctx, func(context.Context, []domain.Tick) error {
		calls++
		if calls == 3 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if calls != 3 {
		t.Errorf("emit called %d times, want 3 (nothing after cancel)", calls)
	}
}

// TestRunStopsOnCancelWhileSleeping uses the real timer-based Sleep with a
// round due in an hour: cancelling must end Run at once.
func TestRunStopsOnCancelWhileSleeping(t *testing.T) {
	t.Parallel()
	f := mustNew(t, sim.Config{Start: at(t, "2026-11-20T09:15:00+05:30"), Speed: 1, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan struct{})
	done := make(chan error, 1)
	calls := 0
	go func() {
		done <- f.Run(ctx, func(context.Context, []domain.Tick) error {
			calls++
			if calls == 1 {
				close(first)
			}
			return nil
		})
	}()
	<-first
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second): // a deadline, not a pause
		t.Fatal("Run did not return after cancel")
	}
	if calls != 1 {
		t.Errorf("emit called %d times, want 1", calls)
	}
}

func TestRunReturnsEmitError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, speed := range []float64{0, 1000} {
		clock := &fakeClock{now: at(t, "2030-01-01T00:00:00Z")}
		f := mustNew(t, sim.Config{Start: at(t, "2026-11-20T09:15:00+05:30"), Speed: speed, BatchSize: 4, Now: clock.Now, Sleep: clock.Sleep})
		calls := 0
		err := f.Run(context.Background(), func(context.Context, []domain.Tick) error {
			calls++
			if calls == 2 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Errorf("speed %v: Run = %v, want %v", speed, err, boom)
		}
		if calls != 2 {
			t.Errorf("speed %v: emit called %d times after the error, want 2", speed, calls)
		}
	}
}

func TestRunEmitCancelledIsNotAnError(t *testing.T) {
	t.Parallel()
	f := mustNew(t, sim.Config{Start: at(t, "2026-11-20T09:15:00+05:30"), Sleep: noSleep(t)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := f.Run(ctx, func(ctx context.Context, _ []domain.Tick) error {
		cancel()
		return ctx.Err()
	})
	if err != nil {
		t.Fatalf("Run = %v, want nil when emit fails with the cancelled context", err)
	}
}

func BenchmarkFeedSpeed0(b *testing.B) {
	f := mustNew(b, sim.Config{
		Seed:     1,
		Start:    at(b, "2026-11-20T09:15:00+05:30"),
		Interval: time.Second,
		Limit:    int64(b.N),
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
