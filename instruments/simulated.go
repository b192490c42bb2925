package instruments

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// Defaults and bounds of SimConfig.
const (
	DefaultSimStrikes   = 20 // strikes each side of the ATM strike
	DefaultSimWeeklies  = 4  // NIFTY weekly expiries
	DefaultSimMonthlies = 2  // BANKNIFTY monthly option expiries
	MaxSimStrikes       = 500
	MaxSimExpiries      = 60
)

// SimConfig configures Simulated. Only At is required.
type SimConfig struct {
	// At is the instant the master is for, normally a session open: the
	// contracts listed are those still trading at At (their 15:30 IST
	// close is after it), like the Kite dump of that morning. Required:
	// it is event time, never the wall clock.
	At time.Time
	// Calendar gives holidays and expiries. Nil means
	// domain.NSECalendar(); pass the simulator's own calendar.
	Calendar *domain.Calendar
	// Spots centres the option strikes, by underlying ("NIFTY",
	// "BANKNIFTY"). Missing or zero means the simulator's typical levels,
	// 26000 and 59000 rupees.
	Spots map[string]domain.Price
	// StrikesEachSide is the number of strikes listed above and below the
	// strike nearest to the spot, at NSE's steps (NIFTY 50, BANKNIFTY 100
	// rupees). Zero means DefaultSimStrikes; at most MaxSimStrikes.
	StrikesEachSide int
	// WeeklyExpiries is the number of NIFTY option expiries listed (every
	// Tuesday, the month's last one being the monthly). Zero means
	// DefaultSimWeeklies; at most MaxSimExpiries.
	WeeklyExpiries int
	// MonthlyExpiries is the number of BANKNIFTY monthly option expiries
	// listed. Zero means DefaultSimMonthlies; at most MaxSimExpiries.
	MonthlyExpiries int
	// FreezeLimits overrides the freeze quantities, as Options.FreezeLimits.
	FreezeLimits map[string]int64
}

// simUnderlying is one index the simulator lists.
type simUnderlying struct {
	root       string       // derivatives underlying and symbol root
	index      string       // NSE index tradingsymbol
	indexToken uint32       // Kite's token of the index
	lot        int64        // lot size, NSE from the Jan 2026 expiries
	step       domain.Price // strike step
	spot       domain.Price // default spot
	weekly     bool         // weekly options (else monthly only)
}

// simUnderlyings matches adapters/sim's underlyings (tokens, lots, levels).
var simUnderlyings = [...]simUnderlying{
	{root: "NIFTY", index: "NIFTY 50", indexToken: 256265, lot: 65, step: domain.Rupees(50), spot: domain.Rupees(26000), weekly: true},
	{root: "BANKNIFTY", index: "NIFTY BANK", indexToken: 260105, lot: 30, step: domain.Rupees(100), spot: domain.Rupees(59000)},
}

const (
	simTick       domain.Price = 5 // 0.05 rupee
	segmentNFOFut              = "NFO-FUT"
	segmentNFOOpt              = "NFO-OPT"
)

// Simulated returns the master the simulator lists at cfg.At:
//
//   - the NSE indices NIFTY 50 and NIFTY BANK (type INDEX, segment
//     INDICES, Kite's real tokens 256265 and 260105);
//   - NIFTY and BANKNIFTY futures of the current and next month, expiring
//     on the month's last Tuesday, or the trading day before when that is
//     a holiday (domain.Calendar.MonthlyExpiry; before Sep 2025 the last
//     Thursday), symbols as domain.FutureSymbol ("NIFTY26NOVFUT");
//   - NIFTY options on the next WeeklyExpiries Tuesdays (Thursdays before
//     Sep 2025), each moved to the previous trading day when a holiday, in
//     Kite's weekly format ("NIFTY2632423750CE"), except the month's
//     monthly expiry, in the monthly format ("NIFTY26MAR23750CE");
//   - BANKNIFTY options on the next MonthlyExpiries monthly expiries
//     ("BANKNIFTY26JAN59000CE");
//   - options at the strike nearest the spot and StrikesEachSide strikes
//     either side, calls and puts; lot sizes 65 (NIFTY) and 30
//     (BANKNIFTY) whatever the date, tick 0.05, freeze quantities from
//     FreezeLimits.
//
// Tokens of futures and options are FNV-1a hashes of the key, as
// adapters/sim derives its futures' tokens (so its ticks carry the same
// tokens), probed on a collision so they are unique; they are not Kite's.
// The result depends only on cfg.
func Simulated(cfg SimConfig) (*Master, error) {
	var errs []error
	if cfg.At.IsZero() {
		errs = append(errs, errors.New("at must be set (the master depends on the date)"))
	}
	check := func(name string, v, max int) {
		if v < 0 || v > max {
			errs = append(errs, fmt.Errorf("%s must be between 0 (default) and %d, got %d", name, max, v))
		}
	}
	check("strikes each side", cfg.StrikesEachSide, MaxSimStrikes)
	check("weekly expiries", cfg.WeeklyExpiries, MaxSimExpiries)
	check("monthly expiries", cfg.MonthlyExpiries, MaxSimExpiries)
	for _, u := range slices.Sorted(maps.Keys(cfg.Spots)) {
		known := slices.ContainsFunc(simUnderlyings[:], func(s simUnderlying) bool { return s.root == u })
		switch {
		case !known:
			errs = append(errs, fmt.Errorf("spot for %q: the simulator lists only NIFTY and BANKNIFTY", u))
		case cfg.Spots[u] < 0:
			errs = append(errs, fmt.Errorf("spot for %s must be > 0 (0 = default), got %s", u, cfg.Spots[u]))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("instruments: invalid simulated master config: %w", errors.Join(errs...))
	}
	cal := cfg.Calendar
	if cal == nil {
		cal = domain.NSECalendar()
	}
	strikes := cmp.Or(cfg.StrikesEachSide, DefaultSimStrikes)
	weeklies := cmp.Or(cfg.WeeklyExpiries, DefaultSimWeeklies)
	monthlies := cmp.Or(cfg.MonthlyExpiries, DefaultSimMonthlies)
	at := cfg.At

	b := simBuilder{used: make(map[uint32]bool)}
	for _, u := range simUnderlyings {
		b.used[u.indexToken] = true
		b.add(domain.Instrument{
			Token: u.indexToken, ExchangeToken: u.indexToken >> 8,
			Exchange: domain.ExchangeNSE, Symbol: u.index, Name: u.index,
			Segment: segmentIndices, Type: domain.InstrumentIndex, TickSize: simTick,
		})
	}
	// Futures first, so that they get the plain hash adapters/sim uses.
	months := monthlyExpiries(cal, at, max(2, monthlies))
	for _, u := range simUnderlyings {
		for _, e := range months[:2] {
			b.add(domain.Instrument{
				Token:    b.token(domain.ExchangeNFO + ":" + domain.FutureSymbol(u.root, e)),
				Exchange: domain.ExchangeNFO, Symbol: domain.FutureSymbol(u.root, e), Name: u.root,
				Segment: segmentNFOFut, Type: domain.InstrumentFuture, Expiry: midnight(e),
				TickSize: simTick, LotSize: u.lot,
			})
		}
	}
	for _, u := range simUnderlyings {
		spot := u.spot
		if s := cfg.Spots[u.root]; s > 0 {
			spot = s
		}
		atm := spot.RoundToTick(u.step)
		var exps []simExpiry
		if u.weekly {
			exps = weeklyExpiries(cal, at, weeklies)
		} else {
			for _, e := range months[:monthlies] {
				exps = append(exps, simExpiry{e, true})
			}
		}
		for _, e := range exps {
			for k := -strikes; k <= strikes; k++ {
				strike := atm + domain.Price(k)*u.step
				if strike <= 0 {
					continue
				}
				for _, typ := range [...]domain.InstrumentType{domain.InstrumentCall, domain.InstrumentPut} {
					sym := KiteOptionSymbol(u.root, e.day, e.monthly, strike, typ)
					b.add(domain.Instrument{
						Token:    b.token(domain.ExchangeNFO + ":" + sym),
						Exchange: domain.ExchangeNFO, Symbol: sym, Name: u.root,
						Segment: segmentNFOOpt, Type: typ, Expiry: midnight(e.day),
						Strike: strike, TickSize: simTick, LotSize: u.lot,
					})
				}
			}
		}
	}
	return New(b.insts, Options{FreezeLimits: cfg.FreezeLimits})
}

type simBuilder struct {
	insts []domain.Instrument
	used  map[uint32]bool
}

func (b *simBuilder) add(in domain.Instrument) { b.insts = append(b.insts, in) }

// token returns FNV-1a of key (1 for 0), or of key+"#n" for the first n
// that gives an unused value.
func (b *simBuilder) token(key string) uint32 {
	for n := 0; ; n++ {
		s := key
		if n > 0 {
			s += "#" + strconv.Itoa(n)
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(s))
		v := h.Sum32()
		if v == 0 {
			v = 1
		}
		if !b.used[v] {
			b.used[v] = true
			return v
		}
	}
}

// simExpiry is one option expiry day and whether it is the monthly.
type simExpiry struct {
	day     time.Time
	monthly bool
}

// monthlyExpiries returns the first n monthly expiries (15:30 IST) whose
// close is after at.
func monthlyExpiries(cal *domain.Calendar, at time.Time, n int) []time.Time {
	first := cal.FutureExpiryOn(at)
	y, m, _ := first.Date()
	out := make([]time.Time, n)
	for i := range out {
		mm := time.Date(y, m+time.Month(i), 1, 0, 0, 0, 0, domain.IST())
		out[i] = cal.MonthlyExpiry(mm.Year(), mm.Month())
	}
	return out
}

// weeklyExpiries returns the first n NIFTY option expiries whose close is
// after at: each Tuesday (Thursday before Sep 2025) moved back to the
// previous trading day when it is not one. An expiry equal to its month's
// MonthlyExpiry is the monthly.
func weeklyExpiries(cal *domain.Calendar, at time.Time, n int) []simExpiry {
	var out []simExpiry
	y, m, d := at.In(domain.IST()).Date()
	// The walk ends: every week has an expiry day and the holiday list is
	// finite.
	for i := 0; len(out) < n; i++ {
		nominal := time.Date(y, m, d+i, 15, 30, 0, 0, domain.IST())
		want := time.Tuesday
		if nominal.Year()*12+int(nominal.Month())-1 < 2025*12+int(time.September)-1 {
			want = time.Thursday
		}
		if nominal.Weekday() != want {
			continue
		}
		e := nominal
		for !cal.IsTradingDay(e) {
			e = e.AddDate(0, 0, -1)
		}
		if !at.Before(e) || (len(out) > 0 && out[len(out)-1].day.Equal(e)) {
			continue
		}
		monthly := cal.MonthlyExpiry(nominal.Year(), nominal.Month()).Equal(e)
		out = append(out, simExpiry{e, monthly})
	}
	return out
}
