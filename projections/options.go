package projections

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// DefaultOptionRate is the risk-free rate (continuously compounded, annual)
// of the model Greeks when OptionsConfig.Rate is zero: the simulator's
// (adapters/sim.RiskFreeRate), close to the yield of Indian T-bills.
const DefaultOptionRate = 0.065

// Errors of the options queries; test with errors.Is.
var (
	// ErrNoOptions: no option of that underlying (or that expiry) was
	// ticked.
	ErrNoOptions = errors.New("no options")
	// ErrBadExpiry: an expiry that is not an IST date YYYY-MM-DD.
	ErrBadExpiry = errors.New("expiry must be an IST date YYYY-MM-DD")
)

// spotIndices maps the underlyings of NSE index derivatives to the
// tradingsymbol of their index on NSE. Any other underlying's spot is the
// NSE instrument of the same name (stock options).
var spotIndices = map[string]string{
	"NIFTY":      "NIFTY 50",
	"BANKNIFTY":  "NIFTY BANK",
	"FINNIFTY":   "NIFTY FIN SERVICE",
	"MIDCPNIFTY": "NIFTY MID SELECT",
	"NIFTYNXT50": "NIFTY NEXT 50",
}

// indexUnderlyings is spotIndices reversed.
var indexUnderlyings = func() map[string]string {
	m := make(map[string]string, len(spotIndices))
	for u, idx := range spotIndices {
		m[idx] = u
	}
	return m
}()

// OptionsConfig configures the options read model.
type OptionsConfig struct {
	// Calendar dates monthly contracts, whose Kite tradingsymbols carry
	// only the month (NIFTY26NOV26000CE expires on the month's last
	// Tuesday, or the trading day before). Nil means domain.NSECalendar();
	// give the calendar the feed uses.
	Calendar *domain.Calendar
	// Rate is the risk-free rate of the model Greeks and implied
	// volatility, an annual decimal (0.065 = 6.5 %). Zero means
	// DefaultOptionRate. The dividend yield is 0.
	Rate float64
}

// OptionQuote is the latest market state of one option contract, and the
// level of its underlying when it last ticked.
type OptionQuote struct {
	Exchange   string                `json:"exchange"`
	Symbol     string                `json:"symbol"` // Kite tradingsymbol
	Token      uint32                `json:"token,omitempty"`
	Underlying string                `json:"underlying"`
	Expiry     string                `json:"expiry"`     // IST date, YYYY-MM-DD
	ExpiresAt  time.Time             `json:"expires_at"` // 15:30 IST of Expiry
	Strike     domain.Price          `json:"strike"`
	Type       domain.InstrumentType `json:"type"` // CE or PE
	Provider   string                `json:"provider"`
	LTP        domain.Price          `json:"ltp"`
	Bid        domain.Price          `json:"bid,omitempty"`
	BidQty     int64                 `json:"bid_qty,omitempty"`
	Ask        domain.Price          `json:"ask,omitempty"`
	AskQty     int64                 `json:"ask_qty,omitempty"`
	Volume     int64                 `json:"volume,omitempty"`
	OI         int64                 `json:"oi,omitempty"`
	// ExchangeTime is the last tick's; the Greeks are as of it.
	ExchangeTime time.Time `json:"exchange_time"`
	// Spot is the underlying's last level at that tick (0: none seen yet).
	Spot domain.Price `json:"spot,omitempty"`
	// VendorGreeks are the Greeks the last tick carried, if any.
	VendorGreeks *domain.Greeks `json:"vendor_greeks,omitempty"`
	Ticks        int64          `json:"ticks"`
	Position     uint64         `json:"position"`
}

// Key returns "EXCHANGE:SYMBOL".
func (o *OptionQuote) Key() string { return o.Exchange + ":" + o.Symbol }

// OptionSpot is the last level of an underlying.
type OptionSpot struct {
	Exchange     string       `json:"exchange,omitempty"`
	Symbol       string       `json:"symbol,omitempty"`
	LTP          domain.Price `json:"ltp,omitempty"`
	ExchangeTime time.Time    `json:"exchange_time,omitzero"`
	Position     uint64       `json:"position,omitempty"`
}

type optionsState struct {
	Options map[string]*OptionQuote `json:"options"` // by "EXCHANGE:SYMBOL"
	// Spots has an entry for every underlying of an option seen (zero
	// until its spot ticks) and for every NSE index of spotIndices.
	Spots map[string]*OptionSpot `json:"spots"`
	// Day is the IST day (days since the epoch) of the latest tick: a
	// tick of a later day drops the options that expired before it.
	Day      int64 `json:"day"`
	Bad      int64 `json:"bad_events"`
	Unparsed int64 `json:"unparsed_symbols"` // option ticks whose tradingsymbol is not Kite's format
}

// Options folds ticks into option chains per underlying and expiry: the
// last price, quote, volume and open interest of every NFO/BFO option
// (a tradingsymbol ending in CE or PE, in Kite's weekly or monthly format)
// and the level of its underlying (NSE:NIFTY 50 for NIFTY, NSE:NIFTY BANK
// for BANKNIFTY, the NSE stock of the same name for stock options).
//
// Greeks are computed when asked, from the state alone, so the fold stays
// as cheap as the quotes' and replays are not slowed by root finding: the
// vendor's when the last tick carried them, otherwise Black-Scholes
// (domain.OptionInputs) with the implied volatility solved from the mid
// quote ((bid+ask)/2, or the LTP without a two-sided quote), the spot at
// that tick and the time from that tick's exchange time to 15:30 IST of
// the expiry day in calendar days; theta per day, vega and rho per 1 %.
// The model Greeks of each option are remembered with the inputs they came
// from, so that a chain read again solves the IV only of the options whose
// quote, spot or time changed since (a fresh solve gives the same answer).
// Contracts are dropped at the first tick of an IST day after their
// expiry.
type Options struct {
	state[optionsState]
	cfg   OptionsConfig
	ticks tickFold // used by Apply only
	memo  greeksMemo
}

// NewOptions returns an empty options projection.
func NewOptions(cfg OptionsConfig) *Options {
	if cfg.Calendar == nil {
		cfg.Calendar = domain.NSECalendar()
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultOptionRate
	}
	return &Options{cfg: cfg, state: state[optionsState]{st: optionsState{
		Options: map[string]*OptionQuote{}, Spots: map[string]*OptionSpot{}}}}
}

// Name implements Projection.
func (*Options) Name() string { return "options" }

// Version implements Projection.
func (*Options) Version() int { return 1 }

// Filter implements Projection: ticks only.
func (*Options) Filter() eventstore.Filter {
	return eventstore.Filter{Types: []string{domain.TypeTickReceived}}
}

// Rate returns the risk-free rate of the model Greeks.
func (o *Options) Rate() float64 { return o.cfg.Rate }

// Apply implements Projection.
func (o *Options) Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range evs {
		if ev := &evs[i]; o.ticks.next(ev, &o.st.Bad) {
			o.apply(&o.ticks.t, tickKey(ev), uint64(ev.Position))
		}
	}
	o.advance(upTo)
}

func (o *Options) apply(t *domain.Tick, key string, pos uint64) {
	if d := istDay(t.ExchangeTime); d > o.st.Day {
		o.st.Day = d
		for k, q := range o.st.Options {
			if !q.ExpiresAt.After(t.ExchangeTime) {
				delete(o.st.Options, k)
				o.memo.forget(q.Exchange, q.Symbol)
			}
		}
	}
	switch t.Exchange {
	case domain.ExchangeNSE:
		u, ok := indexUnderlyings[t.Symbol]
		if !ok {
			u = t.Symbol
			if o.st.Spots[u] == nil { // not the underlying of any option seen
				return
			}
		}
		sp := o.st.Spots[u]
		if sp == nil {
			sp = &OptionSpot{}
			o.st.Spots[strings.Clone(u)] = sp
		}
		if sp.Symbol != t.Symbol {
			sp.Exchange, sp.Symbol = strings.Clone(t.Exchange), strings.Clone(t.Symbol)
		}
		sp.LTP, sp.ExchangeTime, sp.Position = t.LTP, t.ExchangeTime, pos
	case domain.ExchangeNFO, "BFO":
		if !strings.HasSuffix(t.Symbol, "CE") && !strings.HasSuffix(t.Symbol, "PE") {
			return
		}
		q := o.st.Options[key]
		if q == nil {
			c, ok := ParseKiteOption(t.Symbol, o.cfg.Calendar)
			if !ok {
				o.st.Unparsed++
				return
			}
			q = &OptionQuote{Exchange: strings.Clone(t.Exchange), Symbol: strings.Clone(t.Symbol), Underlying: c.Underlying,
				Expiry: c.Expiry.Format(time.DateOnly), ExpiresAt: c.ExpiresAt(), Strike: c.Strike, Type: c.Type}
			if !q.ExpiresAt.After(t.ExchangeTime) || istDay(q.ExpiresAt) < o.st.Day {
				return // a tick of an expired contract
			}
			o.st.Options[q.Key()] = q
		}
		sp := o.st.Spots[q.Underlying]
		if sp == nil {
			sp = &OptionSpot{}
			o.st.Spots[q.Underlying] = sp
		}
		if q.Provider != t.Provider {
			q.Provider = strings.Clone(t.Provider)
		}
		q.Token, q.LTP, q.Bid, q.BidQty, q.Ask, q.AskQty = t.Token, t.LTP, t.Bid, t.BidQty, t.Ask, t.AskQty
		q.Volume, q.OI, q.ExchangeTime, q.Spot = t.Volume, t.OI, t.ExchangeTime, sp.LTP
		q.VendorGreeks = nil
		if t.Greeks != nil {
			g := *t.Greeks
			q.VendorGreeks = &g
		}
		q.Ticks++
		q.Position = pos
	}
}

// UnmarshalState implements Projection.
func (o *Options) UnmarshalState(b []byte) error {
	o.memo.clear()
	return o.load(b, "options", optionsState{}, func(st *optionsState) error {
		if st.Options == nil {
			st.Options = map[string]*OptionQuote{}
		}
		if st.Spots == nil {
			st.Spots = map[string]*OptionSpot{}
		}
		for k, q := range st.Options {
			if q == nil || k != q.Key() || !q.Type.IsOption() {
				return fmt.Errorf("option %q: malformed", k)
			}
		}
		for k, s := range st.Spots {
			if s == nil {
				return fmt.Errorf("spot %q: null", k)
			}
		}
		return nil
	})
}

// OptionContract is what a tradingsymbol says about an option.
type OptionContract struct {
	Underlying string
	Expiry     time.Time // midnight IST of the expiry day
	Strike     domain.Price
	Type       domain.InstrumentType
}

// ExpiresAt returns 15:30 IST of the expiry day.
func (c OptionContract) ExpiresAt() time.Time { return c.Expiry.Add(15*time.Hour + 30*time.Minute) }

var kiteMonths = [...]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// ParseKiteOption reads a Kite option tradingsymbol (PROTOCOLS §4.5):
// weekly <UNDERLYING><YY><M><DD><STRIKE><CE|PE> with M = 1-9, O, N, D
// ("NIFTY2632423750CE", "NIFTY26D0126000PE"), or monthly
// <UNDERLYING><YY><MMM><STRIKE><CE|PE> ("BANKNIFTY26NOV59000CE"), whose
// expiry day is cal's MonthlyExpiry of that month. Weekly underlyings are
// letters only; monthly ones may end in digits ("NIFTYNXT50"). The
// expiry is midnight IST.
func ParseKiteOption(symbol string, cal *domain.Calendar) (OptionContract, bool) {
	typ := domain.InstrumentType(symbol[max(0, len(symbol)-2):])
	if !typ.IsOption() {
		return OptionContract{}, false
	}
	body := symbol[:len(symbol)-2]
	i := strings.IndexFunc(body, func(r rune) bool { return r < 'A' || r > 'Z' })
	if i > 0 && len(body)-i > 5 && allDigits(body[i:i+2]) {
		rest := body[i+2:]
		if m := slices.Index(kiteMonths[:], rest[:3]); m >= 0 {
			if c, ok := monthlyOption(body[:i], body[i:i+2], time.Month(m+1), rest[3:], typ, cal); ok {
				return c, true
			}
		} else if mi := strings.IndexByte("123456789OND", rest[0]); mi >= 0 && allDigits(rest[1:3]) {
			y, _ := strconv.Atoi(body[i : i+2])
			d, _ := strconv.Atoi(rest[1:3])
			day := time.Date(2000+y, time.Month(mi+1), d, 0, 0, 0, 0, domain.IST())
			strike, ok := parseStrike(rest[3:])
			if ok && day.Day() == d && day.Month() == time.Month(mi+1) {
				return OptionContract{Underlying: body[:i], Expiry: day, Strike: strike, Type: typ}, true
			}
		}
	}
	// A monthly contract of an underlying ending in digits: read from the
	// right, the strike, then the month, then the year.
	j := len(body)
	for j > 0 && (body[j-1] >= '0' && body[j-1] <= '9' || body[j-1] == '.') {
		j--
	}
	if j < 6 {
		return OptionContract{}, false
	}
	m := slices.Index(kiteMonths[:], body[j-3:j])
	if m < 0 || !allDigits(body[j-5:j-3]) {
		return OptionContract{}, false
	}
	return monthlyOption(body[:j-5], body[j-5:j-3], time.Month(m+1), body[j:], typ, cal)
}

func monthlyOption(underlying, yy string, m time.Month, strikeText string, typ domain.InstrumentType, cal *domain.Calendar) (OptionContract, bool) {
	strike, ok := parseStrike(strikeText)
	if !ok || underlying == "" {
		return OptionContract{}, false
	}
	y, _ := strconv.Atoi(yy)
	e := cal.MonthlyExpiry(2000+y, m)
	ey, em, ed := e.Date()
	return OptionContract{Underlying: underlying, Expiry: time.Date(ey, em, ed, 0, 0, 0, 0, domain.IST()), Strike: strike, Type: typ}, true
}

// parseStrike reads a strike written in rupees ("26000", "112.5").
func parseStrike(s string) (domain.Price, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' || strings.Count(s, ".") > 1 || strings.HasSuffix(s, ".") {
		return 0, false
	}
	p, err := domain.ParsePrice(s)
	return p, err == nil && p > 0
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// OptionGreeks are an option's Greeks and where they come from: "vendor"
// (the tick carried them) or "model" (Black-Scholes at the volatility
// implied by Premium). Theta is per calendar day, vega and rho per 1 %.
type OptionGreeks struct {
	domain.Greeks
	Source  string  `json:"source"`
	Premium float64 `json:"premium,omitempty"` // rupees the model IV was solved from
}

// OptionView is an option with its Greeks as of its last tick.
type OptionView struct {
	OptionQuote
	// DaysToExpiry is calendar days from the last tick to the expiry
	// close.
	DaysToExpiry float64 `json:"days_to_expiry"`
	// Greeks are nil when they cannot be had; GreeksUnavailable says why.
	Greeks            *OptionGreeks `json:"greeks"`
	GreeksUnavailable string        `json:"greeks_unavailable,omitempty"`
}

// view computes q's Greeks; spotNow stands in for a spot not seen at q's
// tick.
func (o *Options) view(q OptionQuote, spotNow domain.Price) OptionView {
	v := OptionView{OptionQuote: q}
	days := float64(q.ExpiresAt.Sub(q.ExchangeTime)) / float64(24*time.Hour)
	v.DaysToExpiry = math.Round(days*1e6) / 1e6
	if days <= 0 {
		v.GreeksUnavailable = "expired"
		return v
	}
	if g := q.VendorGreeks; g != nil {
		v.Greeks = &OptionGreeks{Greeks: *g, Source: "vendor"}
		return v
	}
	spot := cmp.Or(q.Spot, spotNow)
	if spot <= 0 {
		v.GreeksUnavailable = "no level of the underlying " + q.Underlying + " seen"
		return v
	}
	key := greeksKey{exchange: q.Exchange, symbol: q.Symbol}
	in := greeksInputs{typ: q.Type, spot: spot, strike: q.Strike, ltp: q.LTP, bid: q.Bid, ask: q.Ask,
		at: q.ExchangeTime, expires: q.ExpiresAt}
	if g, why, ok := o.memo.get(key, in); ok {
		v.Greeks, v.GreeksUnavailable = g, why
		return v
	}
	v.Greeks, v.GreeksUnavailable = o.modelGreeks(q, spot, days)
	o.memo.put(key, in, v.Greeks, v.GreeksUnavailable)
	return v
}

// modelGreeks returns the Black-Scholes Greeks of q at the volatility
// implied by its mid quote (its LTP without a two-sided quote), or why
// there are none.
func (o *Options) modelGreeks(q OptionQuote, spot domain.Price, days float64) (*OptionGreeks, string) {
	premium := float64(q.LTP) / 100
	if q.Bid > 0 && q.Ask >= q.Bid {
		premium = float64(q.Bid+q.Ask) / 200
	}
	in := domain.OptionInputs{Type: q.Type, Spot: float64(spot) / 100, Strike: float64(q.Strike) / 100, Days: days, Rate: o.cfg.Rate}
	iv, err := in.ImpliedVol(premium)
	if err == nil {
		in.Vol = iv
		var val domain.OptionValue
		if val, err = in.Value(); err == nil {
			return &OptionGreeks{Greeks: val.Greeks, Source: "model", Premium: premium}, ""
		}
	}
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return nil, fe.Field + ": " + fe.Reason
	}
	return nil, err.Error()
}

// greeksMemo remembers, per option, the model Greeks view computed last
// and every input they depend on (the rate is the projection's, fixed). An
// entry answers only when all inputs are equal, so it gives what a fresh
// solve would: a chain read again costs a map lookup per option that has
// not ticked (nor seen its spot change) since, instead of a Brent solve
// (~5 µs). It is not part of the state: snapshots and hashes ignore it.
// Safe for concurrent use; views are computed outside the projection's
// lock.
type greeksMemo struct {
	mu sync.Mutex
	m  map[greeksKey]greeksEntry
}

type greeksKey struct{ exchange, symbol string }

// greeksInputs are what modelGreeks reads: the spot used (the option's own
// or the underlying's latest), the quote and the time to expiry.
type greeksInputs struct {
	typ           domain.InstrumentType
	spot, strike  domain.Price
	ltp, bid, ask domain.Price
	at, expires   time.Time // of the tick and of the expiry: == tells the same instant in the same location (another location only misses)
}

type greeksEntry struct {
	in     greeksInputs
	greeks OptionGreeks
	ok     bool   // greeks are set; otherwise why says why not
	why    string // GreeksUnavailable
}

// get returns a copy of the Greeks remembered for k if they were computed
// from in.
func (m *greeksMemo) get(k greeksKey, in greeksInputs) (*OptionGreeks, string, bool) {
	m.mu.Lock()
	e, ok := m.m[k]
	m.mu.Unlock()
	if !ok || e.in != in {
		return nil, "", false
	}
	if !e.ok {
		return nil, e.why, true
	}
	g := e.greeks
	return &g, "", true
}

func (m *greeksMemo) put(k greeksKey, in greeksInputs, g *OptionGreeks, why string) {
	e := greeksEntry{in: in, ok: g != nil, why: why}
	if g != nil {
		e.greeks = *g
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[greeksKey]greeksEntry{}
	}
	m.m[k] = e
}

// forget drops the entry of an option no longer held.
func (m *greeksMemo) forget(exchange, symbol string) {
	m.mu.Lock()
	delete(m.m, greeksKey{exchange, symbol})
	m.mu.Unlock()
}

func (m *greeksMemo) clear() {
	m.mu.Lock()
	clear(m.m)
	m.mu.Unlock()
}

// ChainRow is one strike of a chain: its call and put (nil when not
// ticked).
type ChainRow struct {
	Strike domain.Price `json:"strike"`
	CE     *OptionView  `json:"ce"`
	PE     *OptionView  `json:"pe"`
}

// OptionChain is the chain of one underlying and expiry.
type OptionChain struct {
	Underlying string   `json:"underlying"`
	Expiry     string   `json:"expiry"`
	Expiries   []string `json:"expiries"` // every expiry of the underlying held, ascending
	// Spot is the underlying's last level (0: not seen), ATMStrike the
	// strike nearest to it (the lower on a tie).
	Spot      domain.Price `json:"spot,omitempty"`
	SpotTime  time.Time    `json:"spot_time,omitzero"`
	ATMStrike domain.Price `json:"atm_strike,omitempty"`
	Rate      float64      `json:"rate"`
	// CallOI and PutOI total the open interest; PCR is PutOI/CallOI (0
	// without call OI).
	CallOI  int64      `json:"call_oi"`
	PutOI   int64      `json:"put_oi"`
	PCR     float64    `json:"pcr"`
	Strikes []ChainRow `json:"strikes"`
}

// Chain returns the chain of underlying expiring on expiry (an IST date
// YYYY-MM-DD; "" means the nearest expiry still trading at the latest
// tick, or the last one held), by ascending strike, with Greeks. It fails
// with ErrNoOptions (no such underlying or expiry held) or ErrBadExpiry.
func (o *Options) Chain(underlying, expiry string) (OptionChain, eventstore.Position, error) {
	if expiry != "" {
		if _, err := time.ParseInLocation(time.DateOnly, expiry, domain.IST()); err != nil {
			return OptionChain{}, 0, fmt.Errorf("%w, got %q", ErrBadExpiry, expiry)
		}
	}
	o.mu.RLock()
	pos := o.at()
	var all []OptionQuote
	var latest time.Time
	for _, q := range o.st.Options {
		latest = maxTime(latest, q.ExchangeTime)
		if q.Underlying == underlying {
			all = append(all, *q)
		}
	}
	var spot OptionSpot
	if sp := o.st.Spots[underlying]; sp != nil {
		spot = *sp
	}
	for _, sp := range o.st.Spots {
		latest = maxTime(latest, sp.ExchangeTime)
	}
	o.mu.RUnlock()
	if len(all) == 0 {
		return OptionChain{}, pos, fmt.Errorf("%w of %q", ErrNoOptions, underlying)
	}
	ch := OptionChain{Underlying: underlying, Spot: spot.LTP, SpotTime: spot.ExchangeTime, Rate: o.cfg.Rate}
	expiresAt := map[string]time.Time{}
	for _, q := range all {
		expiresAt[q.Expiry] = q.ExpiresAt
	}
	for e := range expiresAt {
		ch.Expiries = append(ch.Expiries, e)
	}
	slices.Sort(ch.Expiries)
	ch.Expiry = expiry
	if expiry == "" {
		ch.Expiry = ch.Expiries[len(ch.Expiries)-1]
		for _, e := range ch.Expiries {
			if expiresAt[e].After(latest) {
				ch.Expiry = e
				break
			}
		}
	} else if _, ok := expiresAt[expiry]; !ok {
		return OptionChain{}, pos, fmt.Errorf("%w of %s expiring %s (held: %s)", ErrNoOptions, underlying, expiry, strings.Join(ch.Expiries, ", "))
	}
	rows := map[domain.Price]*ChainRow{}
	for _, q := range all {
		if q.Expiry != ch.Expiry {
			continue
		}
		row := rows[q.Strike]
		if row == nil {
			row = &ChainRow{Strike: q.Strike}
			rows[q.Strike] = row
		}
		v := o.view(q, spot.LTP)
		if q.Type == domain.InstrumentCall {
			row.CE = &v
			ch.CallOI += q.OI
		} else {
			row.PE = &v
			ch.PutOI += q.OI
		}
	}
	for _, r := range rows {
		ch.Strikes = append(ch.Strikes, *r)
	}
	slices.SortFunc(ch.Strikes, func(a, b ChainRow) int { return cmp.Compare(a.Strike, b.Strike) })
	if ch.CallOI > 0 {
		ch.PCR = math.Round(float64(ch.PutOI)/float64(ch.CallOI)*1e4) / 1e4
	}
	if spot.LTP > 0 {
		best := ch.Strikes[0].Strike
		for _, r := range ch.Strikes {
			if d, bd := absPrice(r.Strike-spot.LTP), absPrice(best-spot.LTP); d < bd {
				best = r.Strike
			}
		}
		ch.ATMStrike = best
	}
	return ch, pos, nil
}

func absPrice(p domain.Price) domain.Price { return max(p, -p) }

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Option returns one option with its Greeks. symbol is the key
// "EXCHANGE:SYMBOL", a Kite tradingsymbol ("NIFTY26D0126000CE") or a
// TrueData option symbol <UNDERLYING><YYMMDD><STRIKE><CE|PE>
// ("NIFTY26120126000CE").
func (o *Options) Option(symbol string) (OptionView, eventstore.Position, bool) {
	o.mu.RLock()
	pos := o.at()
	q := o.lookup(symbol)
	if q == nil {
		o.mu.RUnlock()
		return OptionView{}, pos, false
	}
	c := *q
	var spot domain.Price
	if sp := o.st.Spots[c.Underlying]; sp != nil {
		spot = sp.LTP
	}
	o.mu.RUnlock()
	return o.view(c, spot), pos, true
}

// Lookup returns the options symbols name (as Option accepts them), and
// the names no option held answers to.
func (o *Options) Lookup(symbols []string) (found []OptionQuote, unknown []string, pos eventstore.Position) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, s := range symbols {
		if q := o.lookup(s); q != nil {
			found = append(found, *q)
		} else {
			unknown = append(unknown, s)
		}
	}
	return found, unknown, o.at()
}

// lookup resolves a name to an option held. The caller holds mu.
func (o *Options) lookup(symbol string) *OptionQuote {
	s := strings.ToUpper(strings.TrimSpace(symbol))
	if q := o.st.Options[s]; q != nil {
		return q
	}
	if strings.Contains(s, ":") {
		return nil
	}
	for _, ex := range []string{domain.ExchangeNFO, "BFO"} {
		if q := o.st.Options[ex+":"+s]; q != nil {
			return q
		}
	}
	// TrueData: <UNDERLYING><YYMMDD><STRIKE><CE|PE>.
	typ := domain.InstrumentType(s[max(0, len(s)-2):])
	i := strings.IndexFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' })
	if !typ.IsOption() || i <= 0 || len(s)-2-i < 7 {
		return nil
	}
	day, err := time.ParseInLocation("060102", s[i:i+6], domain.IST())
	strike, ok := parseStrike(s[i+6 : len(s)-2])
	if err != nil || !ok {
		return nil
	}
	expiry := day.Format(time.DateOnly)
	var found *OptionQuote
	for _, q := range o.st.Options {
		if q.Underlying == s[:i] && q.Expiry == expiry && q.Strike == strike && q.Type == typ {
			if found != nil && found.Key() < q.Key() {
				continue // the same contract on two exchanges: the first key wins
			}
			found = q
		}
	}
	return found
}

// List returns every option held of underlying ("" means all), sorted by
// underlying, expiry, strike and type, without Greeks.
func (o *Options) List(underlying string) ([]OptionQuote, eventstore.Position) {
	o.mu.RLock()
	pos := o.at()
	var out []OptionQuote
	for _, q := range o.st.Options {
		if underlying == "" || q.Underlying == underlying {
			out = append(out, *q)
		}
	}
	o.mu.RUnlock()
	slices.SortFunc(out, func(a, b OptionQuote) int {
		return cmp.Or(strings.Compare(a.Underlying, b.Underlying), strings.Compare(a.Expiry, b.Expiry),
			cmp.Compare(a.Strike, b.Strike), strings.Compare(string(a.Type), string(b.Type)), strings.Compare(a.Key(), b.Key()))
	})
	return out, pos
}

// Underlyings returns the underlyings with options held, sorted.
func (o *Options) Underlyings() []string {
	o.mu.RLock()
	set := map[string]bool{}
	for _, q := range o.st.Options {
		set[q.Underlying] = true
	}
	o.mu.RUnlock()
	out := make([]string, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}
