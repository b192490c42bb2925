// Package sim is a deterministic, seeded simulator of the NSE market-data
// feed: the NIFTY 50 and NIFTY BANK spot indices (exchange NSE), their
// current-month index futures (exchange NFO) and, when Config.Options is
// set, NIFTY weekly and BANKNIFTY monthly option chains (NFO), for paper
// trading, demos and load tests without a broker connection.
//
// Contract:
//
//   - Determinism: a Feed built from the same Seed, Start, Interval,
//     Calendar and option settings produces the identical tick sequence on
//     every Run, whatever the Speed, BatchSize or wall clock (Limit only
//     truncates it). All randomness comes from PCG generators seeded with
//     Seed; there is no global state and no map iteration. Options draw
//     from their own generator, so the index and futures ticks are the
//     same with and without them.
//   - Simulated time runs only inside NSE normal-market sessions
//     (09:15 <= t < 15:30 IST on trading days of the Calendar). A round that
//     would fall at or after the close jumps straight to the next session
//     open; nights, weekends and holidays are skipped and cost no wall time.
//   - Every round, each of the four instruments ticks once, in the order
//     NIFTY 50, NIFTY future, NIFTY BANK, BANKNIFTY future. All ticks carry
//     Provider "sim", ExchangeTime = the simulated instant (IST) and pass
//     domain.Tick.Validate. Prices lie on the 0.05 rupee (5 paise) grid.
//     Index ticks have only LTP; futures ticks have a 1–3 tick bid/ask
//     around LTP (bid <= LTP <= ask, bid < ask), quantities in multiples of
//     the lot size, a cumulative Volume that resets at each session open and
//     a slowly varying OI. Futures roll to the next month's contract at the
//     first session after the expiry close.
//   - Options (Config.Options): after the four, each round ticks options of
//     the contracts chosen at the session open from Master(open) (so
//     tradingsymbols, tokens, lots and expiries agree with it): the nearest
//     OptionExpiries expiries of each underlying (NIFTY weeklies, the
//     month's last one being the monthly; BANKNIFTY monthlies), the listed
//     strikes within OptionStrikes of the ATM strike at the open, calls
//     then puts by ascending strike. Each option ticks in a round with a
//     chance that falls from 1 at the money to 1/4 ten strikes away, times
//     Interval/OptionTickPeriod (a second) when rounds are shorter than
//     that: the option tick rate in simulated time does not depend on the
//     Interval. An at-the-money option ticks about once a simulated second,
//     as vendors' option feeds do, and the 84 options of the default chains
//     about 51 times a second in all: at the default Interval a round has
//     about 10 option ticks besides its 4 (3.5 times the ticks of a feed
//     without options). Every option ticks in a session's first round.
//     Only the options that tick are priced. Premiums are Black-Scholes
//     (domain.OptionInputs, rate RiskFreeRate, no dividend) at SmileVol off
//     the round's index level, time to 15:30 IST of the expiry day in
//     calendar days. Quotes: a 1–3 tick spread (wider for premiums over
//     400 rupees) around the premium, bid at least 0.05, LTP at the bid,
//     the ask or the middle, quantities in lots, cumulative Volume per
//     session, OI carried across sessions. With OptionGreeks the tick
//     carries the model's Greeks (IV = the smile volatility) as a vendor's.
//   - Pacing: at Speed 0 ticks are generated as fast as possible and handed
//     to emit in batches of BatchSize; Sleep is never called. At Speed > 0
//     each round is emitted on its own when it is due:
//     wallStart + (in-session simulated time elapsed since Start) / Speed.
//     A round that is already late is emitted at once, so a slow consumer
//     does not accumulate drift.
//   - emit is called from the goroutine that called Run, never concurrently.
//     It must not retain the slice after it returns: Run reuses it.
package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// ProviderName is the Provider of every tick the simulator emits.
const ProviderName = "sim"

// Defaults applied by New to zero Config fields.
const (
	DefaultInterval  = 200 * time.Millisecond
	DefaultBatchSize = 512
	// MaxBatchSize bounds BatchSize, which sizes the one batch slice Run
	// allocates.
	MaxBatchSize = 1 << 20
)

// Model constants.
const (
	tickSize      domain.Price = 5       // 0.05 rupee
	carryRate                  = 0.065   // annual cost of carry of the futures
	futNoise                   = 0.00002 // relative std-dev of the futures' independent noise
	tradingYear                = 252 * (6*time.Hour + 15*time.Minute)
	ticksPerRound              = 4    // without options
	startJitter                = 0.02 // start levels are the base ±2 %, by seed
)

// Config configures a Feed. The zero value is usable: it simulates from the
// latest session open at real-time speed with seed 0.
type Config struct {
	// Seed selects the random sequence: the same Seed and Start give an
	// identical tick sequence.
	Seed int64
	// Start is the first simulated instant. Zero means
	// Calendar.LatestSessionOpen(Now()). A Start outside a session is
	// moved to the next session open.
	Start time.Time
	// Speed is simulated seconds per wall-clock second: 1 = real time,
	// N = N times faster, 0 = as fast as possible (no waiting at all).
	// Must be >= 0 and finite.
	Speed float64
	// Interval is the simulated time between rounds of ticks. Zero means
	// DefaultInterval; negative is an error.
	Interval time.Duration
	// BatchSize is the number of ticks per emit call at Speed 0. Zero means
	// DefaultBatchSize; must not exceed MaxBatchSize. At Speed > 0 each
	// round is emitted on its own and BatchSize is unused.
	BatchSize int
	// Calendar gives sessions, holidays and expiries. Nil means
	// domain.NSECalendar().
	Calendar *domain.Calendar
	// Now is the wall clock. Nil means time.Now. It is used only for the
	// default Start and for pacing at Speed > 0.
	Now func() time.Time
	// Sleep waits for d or until ctx is done, returning ctx's error in that
	// case. Nil means a timer-based, ctx-aware wait. It is only called at
	// Speed > 0, with d > 0.
	Sleep func(ctx context.Context, d time.Duration) error
	// Limit stops Run after this many ticks. Zero means run until the
	// context is done; negative is an error.
	Limit int64
	// Logger receives debug logs (session starts, contract rolls). Nil
	// means no logging.
	Logger *slog.Logger
	// Options adds the option chains (see the package documentation).
	// Off by default: the feed ticks only indices and futures.
	Options bool
	// OptionStrikes is the number of strikes ticked each side of the ATM
	// strike of every option expiry, chosen at each session open. Zero
	// means DefaultOptionStrikes; at most MaxOptionStrikes.
	OptionStrikes int
	// OptionExpiries is the number of option expiries ticked per
	// underlying, nearest first (NIFTY lists 4 weeklies, BANKNIFTY 2
	// monthlies). Zero means DefaultOptionExpiries; at most
	// MaxOptionExpiries.
	OptionExpiries int
	// OptionGreeks attaches the simulator's own Greeks to option ticks
	// (domain.Tick.Greeks), as a vendor such as TrueData sends them.
	OptionGreeks bool
}

// Instrument describes one simulated instrument.
type Instrument struct {
	Exchange string       // domain.ExchangeNSE for indices, domain.ExchangeNFO for futures
	Symbol   string       // Kite tradingsymbol, e.g. "NIFTY 50", "NIFTY26NOVFUT"
	Token    uint32       // Kite instrument token (derived from the symbol for futures)
	LotSize  int64        // contract lot; zero for indices, which are not tradable
	TickSize domain.Price // price step, 0.05 rupee
	Expiry   time.Time    // 15:30 IST of the expiry day; zero for indices
}

// underlying is the static description of one simulated index.
type underlying struct {
	index      string  // NSE index tradingsymbol
	indexToken uint32  // Kite token of the index
	root       string  // futures tradingsymbol root
	lot        int64   // futures lot size (NSE, from the Jan 2026 expiries)
	level      float64 // typical index level in rupees
	vol        float64 // annualised volatility
	oi         float64 // typical futures open interest, in units
	optLots    float64 // typical open interest of an at-the-money option, in lots
}

// underlyings returns the simulated indices, in tick order.
func underlyings() [2]underlying {
	return [2]underlying{
		{index: "NIFTY 50", indexToken: 256265, root: "NIFTY", lot: 65, level: 26000, vol: 0.13, oi: 1.2e7, optLots: 40000},
		{index: "NIFTY BANK", indexToken: 260105, root: "BANKNIFTY", lot: 30, level: 59000, vol: 0.16, oi: 2.4e6, optLots: 15000},
	}
}

// Feed is a configured simulator. It is immutable and safe for concurrent
// use; each Run call simulates independently from Start.
type Feed struct {
	seed      int64
	start     time.Time
	speed     float64
	interval  time.Duration
	batchSize int
	cal       *domain.Calendar
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	limit     int64
	log       *slog.Logger

	options     bool
	optStrikes  int
	optExpiries int
	optGreeks   bool
	roundShare  uint64 // roundShareOf(interval)
}

// New validates cfg, applies defaults and returns a Feed. It reports every
// invalid field at once (errors.Join).
func New(cfg Config) (*Feed, error) {
	var errs []error
	if math.IsNaN(cfg.Speed) || math.IsInf(cfg.Speed, 0) || cfg.Speed < 0 {
		errs = append(errs, fmt.Errorf("speed must be a finite number >= 0 (0 = as fast as possible), got %v", cfg.Speed))
	}
	if cfg.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval must be > 0 (0 = default %v), got %v", DefaultInterval, cfg.Interval))
	}
	if cfg.BatchSize < 0 || cfg.BatchSize > MaxBatchSize {
		errs = append(errs, fmt.Errorf("batch size must be between 0 (default %d) and %d, got %d", DefaultBatchSize, MaxBatchSize, cfg.BatchSize))
	}
	if cfg.Limit < 0 {
		errs = append(errs, fmt.Errorf("limit must be >= 0 (0 = no limit), got %d", cfg.Limit))
	}
	if cfg.OptionStrikes < 0 || cfg.OptionStrikes > MaxOptionStrikes {
		errs = append(errs, fmt.Errorf("option strikes must be between 0 (default %d) and %d, got %d", DefaultOptionStrikes, MaxOptionStrikes, cfg.OptionStrikes))
	}
	if cfg.OptionExpiries < 0 || cfg.OptionExpiries > MaxOptionExpiries {
		errs = append(errs, fmt.Errorf("option expiries must be between 0 (default %d) and %d, got %d", DefaultOptionExpiries, MaxOptionExpiries, cfg.OptionExpiries))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sim: invalid config: %w", errors.Join(errs...))
	}

	f := &Feed{
		seed:      cfg.Seed,
		speed:     cfg.Speed,
		interval:  cfg.Interval,
		batchSize: cfg.BatchSize,
		cal:       cfg.Calendar,
		now:       cfg.Now,
		sleep:     cfg.Sleep,
		limit:     cfg.Limit,
		log:       cfg.Logger,

		options:     cfg.Options,
		optStrikes:  cmp.Or(cfg.OptionStrikes, DefaultOptionStrikes),
		optExpiries: cmp.Or(cfg.OptionExpiries, DefaultOptionExpiries),
		optGreeks:   cfg.OptionGreeks,
	}
	if f.interval == 0 {
		f.interval = DefaultInterval
	}
	f.roundShare = roundShareOf(f.interval)
	if f.batchSize == 0 {
		f.batchSize = DefaultBatchSize
	}
	if f.cal == nil {
		f.cal = domain.NSECalendar()
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.sleep == nil {
		f.sleep = sleepCtx
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	start := cfg.Start
	if start.IsZero() {
		start = f.cal.LatestSessionOpen(f.now())
	}
	start = start.In(domain.IST())
	if !f.cal.InSession(start) {
		start = f.cal.NextSessionOpen(start)
	}
	f.start = start
	return f, nil
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Provider returns the provider name of the feed's ticks, "sim".
func (f *Feed) Provider() string { return ProviderName }

// Start returns the first simulated instant, in IST, after defaults and the
// move to a session open.
func (f *Feed) Start() time.Time { return f.start }

// Instruments returns what the feed simulates at t, in tick order: each
// index followed by its current-month future (the contract
// Calendar.FutureExpiryOn(t)). The options, when on, depend on the index
// levels at the session open; Master lists every one the feed can tick.
func (f *Feed) Instruments(t time.Time) []Instrument {
	us := underlyings()
	out := make([]Instrument, 0, 2*len(us))
	exp := f.cal.FutureExpiryOn(t)
	for _, u := range us {
		sym := domain.FutureSymbol(u.root, exp)
		out = append(out,
			Instrument{Exchange: domain.ExchangeNSE, Symbol: u.index, Token: u.indexToken, TickSize: tickSize},
			Instrument{Exchange: domain.ExchangeNFO, Symbol: sym, Token: futureToken(sym), LotSize: u.lot, TickSize: tickSize, Expiry: exp},
		)
	}
	return out
}

// futureToken derives a stable, nonzero token for a simulated futures
// contract from its tradingsymbol (FNV-1a). It is not Kite's real token.
func futureToken(symbol string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(domain.ExchangeNFO + ":" + symbol))
	if v := h.Sum32(); v != 0 {
		return v
	}
	return 1
}

// leg is the running state of one underlying and its future.
type leg struct {
	u      underlying
	logS   float64 // log of the spot level
	drift  float64 // per-round drift of logS (GBM with zero drift in price)
	sigma  float64 // per-round std-dev of logS
	futSym string
	futTok uint32
	expiry time.Time
	volume int64
	oi     int64
	oiMin  int64
}

// run is the state of one Run call.
type run struct {
	f    *Feed
	rng  *rand.Rand
	legs [2]leg
	buf  []domain.Tick // the current round's ticks

	orng  *rand.Rand // options' random stream; nil without options
	opts  []optLeg   // the session's options, in tick order
	first bool       // the next round is the session's first
}

func (f *Feed) newRun() *run {
	seed := uint64(f.seed)
	r := &run{f: f, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), buf: make([]domain.Tick, 0, ticksPerRound)}
	if f.options {
		r.orng = newOptionRNG(f.seed)
	}
	dt := float64(f.interval) / float64(tradingYear)
	for i, u := range underlyings() {
		level := u.level * (1 + startJitter*(2*r.rng.Float64()-1))
		oi := int64(u.oi*(1+0.05*(2*r.rng.Float64()-1))) / u.lot * u.lot
		r.legs[i] = leg{
			u:     u,
			logS:  math.Log(level),
			drift: -0.5 * u.vol * u.vol * dt,
			sigma: u.vol * math.Sqrt(dt),
			oi:    oi,
			oiMin: oi / 2 / u.lot * u.lot,
		}
	}
	return r
}

// beginSession resets day volumes, rolls futures whose contract expired
// and chooses the session's options.
func (r *run) beginSession(open time.Time) error {
	r.first = true
	exp := r.f.cal.FutureExpiryOn(open)
	for i := range r.legs {
		l := &r.legs[i]
		l.volume = 0
		if !l.expiry.Equal(exp) {
			l.expiry = exp
			l.futSym = domain.FutureSymbol(l.u.root, exp)
			l.futTok = futureToken(l.futSym)
			r.f.log.Debug("sim: futures contract", "symbol", l.futSym, "token", l.futTok, "expiry", exp)
		}
	}
	r.f.log.Debug("sim: session open", "at", open)
	if r.orng == nil {
		return nil
	}
	var spots [2]domain.Price
	for i := range r.legs {
		spots[i] = toPrice(math.Exp(r.legs[i].logS))
	}
	prev := make(map[string]int64, len(r.opts))
	for _, o := range r.opts {
		prev[o.symbol] = o.oi
	}
	opts, err := r.optionUniverse(open, spots, prev)
	if err != nil {
		return err
	}
	r.opts = opts
	if need := ticksPerRound + len(opts); cap(r.buf) < need {
		r.buf = make([]domain.Tick, 0, need)
	}
	r.f.log.Debug("sim: options", "count", len(opts), "nifty", spots[0], "banknifty", spots[1])
	return nil
}

// byteOf returns byte k (0 = least significant) of bits.
func byteOf(bits uint64, k uint) uint64 { return bits >> (8 * k) & 0xff }

// toPrice converts rupees to a Price on the tick grid.
func toPrice(rupees float64) domain.Price {
	return domain.Price(int64(math.Round(rupees * 100))).RoundToTick(tickSize)
}

// round advances the prices by one step and fills r.buf with the round's
// ticks at simulated instant now.
func (r *run) round(now time.Time) {
	rng := r.rng
	r.buf = r.buf[:ticksPerRound]
	for i := range r.legs {
		l := &r.legs[i]
		l.logS += l.drift + l.sigma*rng.NormFloat64()
		spot := math.Exp(l.logS)
		r.buf[2*i] = domain.Tick{
			Provider:     ProviderName,
			Exchange:     domain.ExchangeNSE,
			Symbol:       l.u.index,
			Token:        l.u.indexToken,
			ExchangeTime: now,
			LTP:          toPrice(spot),
		}

		days := float64(l.expiry.Sub(now)) / float64(24*time.Hour)
		ltp := toPrice(spot * (1 + carryRate*days/365) * (1 + futNoise*rng.NormFloat64()))
		bits := rng.Uint64()
		spread := domain.Price(1+byteOf(bits, 0)%3) * tickSize
		bid := ltp - domain.Price(byteOf(bits, 1)%uint64(spread/tickSize+1))*tickSize
		lot := l.u.lot
		lastQty := lot * int64(1+byteOf(bits, 2)%10)
		l.volume += lastQty
		l.oi = max(l.oi+lot*(int64(byteOf(bits, 3)%41)-20), l.oiMin)
		r.buf[2*i+1] = domain.Tick{
			Provider:     ProviderName,
			Exchange:     domain.ExchangeNFO,
			Symbol:       l.futSym,
			Token:        l.futTok,
			ExchangeTime: now,
			LTP:          ltp,
			LastQty:      lastQty,
			Bid:          bid,
			BidQty:       lot * int64(1+byteOf(bits, 4)%50),
			Ask:          bid + spread,
			AskQty:       lot * int64(1+byteOf(bits, 5)%50),
			Volume:       l.volume,
			OI:           l.oi,
		}
	}
	if r.orng != nil {
		r.optionTicks(now, r.first)
		r.first = false
	}
}

// Run simulates from Start and hands ticks to emit until ctx is done, Limit
// ticks have been produced, or emit fails.
//
// It returns nil when ctx is cancelled (at Speed 0 the partial batch not yet
// emitted is dropped) or when Limit is reached (after emitting the final
// partial batch). Otherwise it returns the first error from emit, wrapped
// (an emit error that is ctx's own error after cancellation counts as
// cancellation), or, with options, a failure to build a session's master. emit must not retain the slice after it returns.
func (f *Feed) Run(ctx context.Context, emit func(ctx context.Context, ticks []domain.Tick) error) error {
	r := f.newRun()
	paced := f.speed > 0
	capacity := ticksPerRound
	if f.options {
		capacity += f.maxOptions()
	}
	if !paced {
		capacity = f.batchSize
		if f.limit > 0 && f.limit < int64(capacity) {
			capacity = int(f.limit)
		}
	}
	batch := make([]domain.Tick, 0, capacity)
	// flush hands the batch to emit. stop reports that Run must return
	// err (nil when emit failed only because ctx was cancelled).
	flush := func() (stop bool, err error) {
		if len(batch) == 0 {
			return false, nil
		}
		err = emit(ctx, batch)
		batch = batch[:0]
		if err == nil {
			return false, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return true, nil
		}
		return true, fmt.Errorf("sim: emit: %w", err)
	}

	now := f.start
	closeAt := f.cal.SessionClose(now)
	if err := r.beginSession(now); err != nil {
		return err
	}
	var elapsed time.Duration // in-session simulated time since Start
	var wallStart time.Time
	if paced {
		wallStart = f.now()
	}
	f.log.Debug("sim: run", "start", now, "seed", f.seed, "speed", f.speed, "interval", f.interval, "limit", f.limit)

	done := ctx.Done()
	var sent int64
	for {
		select {
		case <-done:
			return nil
		default:
		}
		if paced {
			due := wallStart.Add(scale(elapsed, f.speed))
			if d := due.Sub(f.now()); d > 0 {
				if err := f.sleep(ctx, d); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return fmt.Errorf("sim: sleep: %w", err)
				}
			}
		}

		r.round(now)
		n := int64(len(r.buf))
		if f.limit > 0 {
			n = min(n, f.limit-sent)
		}
		for i := range n {
			batch = append(batch, r.buf[i])
			if len(batch) == cap(batch) {
				if stop, err := flush(); stop {
					return err
				}
			}
		}
		sent += n
		if paced || (f.limit > 0 && sent >= f.limit) {
			if stop, err := flush(); stop {
				return err
			}
		}
		if f.limit > 0 && sent >= f.limit {
			return nil
		}

		next := now.Add(f.interval)
		if next.Before(closeAt) {
			elapsed += f.interval
			now = next
			continue
		}
		elapsed += closeAt.Sub(now)
		now = f.cal.NextSessionOpen(closeAt)
		closeAt = f.cal.SessionClose(now)
		if err := r.beginSession(now); err != nil {
			return err
		}
	}
}

// scale returns d/speed for speed > 0, saturating instead of overflowing.
func scale(d time.Duration, speed float64) time.Duration {
	v := float64(d) / speed
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(v)
}
