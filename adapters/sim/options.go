package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/instruments"
)

// Option chain defaults and bounds (Config.OptionStrikes, OptionExpiries).
const (
	DefaultOptionStrikes  = 10
	DefaultOptionExpiries = 1
	// MaxOptionStrikes bounds OptionStrikes: Master lists masterStrikes
	// strikes each side of the start level, so that the ATM window still
	// fits after the index has drifted.
	MaxOptionStrikes = 30
	// MaxOptionExpiries bounds OptionExpiries: the NIFTY weeklies Master
	// lists (BANKNIFTY lists instruments.DefaultSimMonthlies).
	MaxOptionExpiries = instruments.DefaultSimWeeklies
	// RiskFreeRate is the continuously compounded rate the simulator
	// prices options with (and the futures' cost of carry); dividend yield
	// is taken as 0.
	RiskFreeRate = carryRate
	// OptionTickPeriod is the simulated time over which an option ticks
	// with its chance (1 at the money, down to 1/4 ten strikes away): with
	// rounds shorter than this, the chance per round is scaled down by
	// Interval/OptionTickPeriod, so that an at-the-money option ticks about
	// once a simulated second however fine the rounds, as vendors' option
	// feeds do, while the index and futures tick every round.
	OptionTickPeriod = time.Second
)

const (
	masterStrikes = 50 // strikes Master lists each side of the start level
	// optionSeedSalt separates the options' random stream from the
	// underlyings', so that the index and futures ticks are the same with
	// and without options.
	optionSeedSalt = 0x6f7074696f6e73 // "options"
)

// SmileVol is the implied volatility at which the simulator prices an
// option of strike on an underlying at spot with days calendar days to
// expiry, given the underlying's at-the-money volatility atm: a skewed
// smile in the moneyness x = ln(K/S)/√T (T in years, at least an hour),
// atm·(1 + 3x²) above the spot and atm·(1 + 8x²) below it (low strikes
// are dearer, as on NSE index options), at most 3·atm. It rises with |x|
// on both sides. For NIFTY (13 %) a week out that is about 15.0 % 2 %
// below spot and 13.8 % 2 % above.
func SmileVol(atm, spot, strike, days float64) float64 {
	t := max(days, 1.0/24) / domain.DaysPerYear
	x := math.Log(strike/spot) / math.Sqrt(t)
	c := 3.0
	if x < 0 {
		c = 8
	}
	return min(atm*(1+c*x*x), 3*atm)
}

// optLeg is the running state of one simulated option contract during a
// session.
type optLeg struct {
	leg       int // index into run.legs of its underlying
	symbol    string
	token     uint32
	typ       domain.InstrumentType
	strike    float64 // rupees
	lot       int64
	expiresAt time.Time
	tickPer   uint64 // chance of a tick in a round, per 1024
	oi, oiMin int64
	volume    int64
}

// optionUniverse returns the options the feed ticks in the session that
// opens at open, for spots (rupees, by leg): for each underlying its
// nearest OptionExpiries expiries in the master, and in each the listed
// strikes within OptionStrikes of the ATM strike, calls then puts by
// ascending strike. prev carries the open interest of contracts ticked in
// the previous session.
func (r *run) optionUniverse(open time.Time, spots [2]domain.Price, prev map[string]int64) ([]optLeg, error) {
	f := r.f
	m, err := f.Master(open)
	if err != nil {
		return nil, fmt.Errorf("sim: options master: %w", err)
	}
	var out []optLeg
	for li := range r.legs {
		u := r.legs[li].u
		exps := m.Expiries(u.root, domain.InstrumentCall, open)
		if len(exps) > f.optExpiries {
			exps = exps[:f.optExpiries]
		}
		for _, e := range exps {
			strikes := m.Strikes(u.root, e)
			atm, err := m.ATMStrike(u.root, e, spots[li])
			if err != nil {
				return nil, fmt.Errorf("sim: options of %s: %w", u.root, err)
			}
			ai := 0
			for i, s := range strikes {
				if s == atm {
					ai = i
				}
			}
			lo, hi := max(0, ai-f.optStrikes), min(len(strikes)-1, ai+f.optStrikes)
			for _, typ := range [...]domain.InstrumentType{domain.InstrumentCall, domain.InstrumentPut} {
				for i := lo; i <= hi; i++ {
					in, err := m.Option(u.root, e, strikes[i], typ)
					if err != nil {
						return nil, fmt.Errorf("sim: options of %s: %w", u.root, err)
					}
					k := i - ai // strikes from the money
					dist := math.Abs(float64(k))
					o := optLeg{
						leg: li, symbol: in.Symbol, token: in.Token, typ: typ,
						strike: float64(in.Strike) / 100, lot: in.LotSize, expiresAt: in.ExpiresAt(),
						tickPer: uint64(1024 * max(0.25, 1-0.075*dist)),
					}
					if oi, ok := prev[in.Symbol]; ok {
						o.oi = oi
					} else {
						// Open interest peaks at the money and sits mostly
						// out of the money (calls above, puts below).
						side := 1.0
						if (typ == domain.InstrumentCall) == (k < 0) {
							side = 0.4
						}
						lots := u.optLots * side * math.Exp(-dist*dist/64) * (0.5 + r.orng.Float64())
						o.oi = max(1, int64(lots)) * in.LotSize
					}
					o.oiMin = max(1, o.oi/3/in.LotSize) * in.LotSize
					out = append(out, o)
				}
			}
		}
	}
	return out, nil
}

// optionTicks appends the round's option ticks at now to r.buf: each
// option ticks with its chance (every one in the session's first round),
// scaled by the feed's roundShare, priced by Black-Scholes at SmileVol off
// the round's index level. Only the options that tick are priced.
func (r *run) optionTicks(now time.Time, first bool) {
	rng := r.orng
	share := r.f.roundShare
	for i := range r.opts {
		o := &r.opts[i]
		bits := rng.Uint64()
		if !first {
			if bits&1023 >= o.tickPer {
				continue
			}
			// Rounds shorter than OptionTickPeriod: a second draw, from
			// the same stream (so still a function of the seed alone),
			// only for the options that passed the first.
			if share < 1<<32 && rng.Uint64()>>32 >= share {
				continue
			}
		}
		l := &r.legs[o.leg]
		spot := float64(r.buf[2*o.leg].LTP) / 100
		days := float64(o.expiresAt.Sub(now)) / float64(24*time.Hour)
		vol := SmileVol(l.u.vol, spot, o.strike, days)
		v, err := domain.OptionInputs{Type: o.typ, Spot: spot, Strike: o.strike, Days: days, Rate: RiskFreeRate, Vol: vol}.Value()
		if err != nil {
			continue // cannot happen: the inputs are in range
		}
		r.buf = append(r.buf, r.optionTick(o, now, v, bits))
	}
}

// optionTick quotes option o worth v at now: a spread of 1–3 ticks
// (wider for dear options) around the premium on the 0.05 grid, a last
// trade at the bid, the ask or the middle, quantities in lots.
func (r *run) optionTick(o *optLeg, now time.Time, v domain.OptionValue, bits uint64) domain.Tick {
	theo := v.Price * 100 // paise
	spread := domain.Price(1+byteOf(bits, 1)%3+min(uint64(theo/40000), 8)) * tickSize
	bid := domain.Price(math.Round((theo-float64(spread)/2)/float64(tickSize))) * tickSize
	bid = max(bid, tickSize)
	ask := bid + spread
	var ltp domain.Price
	switch byteOf(bits, 2) % 3 {
	case 0:
		ltp = bid
	case 1:
		ltp = ask
	default:
		ltp = min(max(toPrice(v.Price), bid), ask)
	}
	lastQty := o.lot * int64(1+byteOf(bits, 3)%10)
	o.volume += lastQty
	o.oi = max(o.oi+o.lot*(int64(byteOf(bits, 4)%21)-10), o.oiMin)
	t := domain.Tick{
		Provider:     ProviderName,
		Exchange:     domain.ExchangeNFO,
		Symbol:       o.symbol,
		Token:        o.token,
		ExchangeTime: now,
		LTP:          ltp,
		LastQty:      lastQty,
		Bid:          bid,
		BidQty:       o.lot * int64(1+byteOf(bits, 5)%40),
		Ask:          ask,
		AskQty:       o.lot * int64(1+byteOf(bits, 6)%40),
		Volume:       o.volume,
		OI:           o.oi,
	}
	if r.f.optGreeks {
		g := v.Greeks
		t.Greeks = &g // a fresh copy: emit's caller may keep the tick
	}
	return t
}

// newOptionRNG returns the options' random stream of seed.
func newOptionRNG(seed int64) *rand.Rand {
	s := uint64(seed) ^ optionSeedSalt
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

// roundShareOf returns the scale of an option's chance to tick in a round
// of interval, per 2^32: interval/OptionTickPeriod, at most 1 (2^32) and at
// least 1/2^32.
func roundShareOf(interval time.Duration) uint64 {
	if interval >= OptionTickPeriod {
		return 1 << 32
	}
	return max(1, uint64(math.Round(float64(interval)/float64(OptionTickPeriod)*(1<<32))))
}

// maxOptions bounds the options of one round.
func (f *Feed) maxOptions() int {
	return len(underlyings()) * f.optExpiries * (2*f.optStrikes + 1) * 2
}
