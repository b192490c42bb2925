package strategy

import (
	"fmt"
	"math"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// ShortStraddle is the "short-straddle" definition: sell the at-the-money
// call and put of the nearest weekly expiry at a set time, stop each leg
// out on its own, close the rest at a set time.
//
// Each IST trading day, at the first tick or timer beat at or after
// entry_at, once the spot has ticked that day, and at most
// entry_window_minutes later (and before exit_at), else not that day: the
// expiry is the nearest unexpired one (the same day on expiry day), the
// strike the listed one nearest the spot's last LTP, and both legs are sold,
// lots lots each. A lookup that fails is retried once a second within the
// window. Spot is the NSE index spot_symbol ("NIFTY 50"), or the
// current-month future of underlying when spot_symbol is empty.
//
// Each leg's stop is its average sell fill price × (1 + stop_pct/100), to
// the paisa; a tick of the leg's option at or above it buys the leg back
// (MARKET). The stop is armed once the leg has a fill. At exit_at every
// leg still open is bought back. Option ticks must reach the strategy:
// the engine has to subscribe the two options once they are chosen (State
// lists them).
func ShortStraddle() Definition {
	return Definition{
		Name: "short-straddle",
		Description: "Short ATM straddle on the nearest weekly expiry: sell the ATM call and put at entry_at, " +
			"buy back a leg when its premium rises stop_pct above the sell price, close the rest at exit_at.",
		Params: []Param{
			{Name: "underlying", Type: TypeString, Default: "NIFTY", Description: "Underlying of the options (instruments master name)."},
			{Name: "spot_symbol", Type: TypeString, Default: "NIFTY 50", Description: "NSE index whose LTP is the spot for the ATM strike. Empty: use the current-month future of underlying."},
			{Name: "entry_at", Type: TypeClock, Default: "09:20", Min: "09:15", Max: "15:29", Description: "Time of day (IST) to sell the straddle."},
			{Name: "entry_window_minutes", Type: TypeInt, Default: int64(5), Min: int64(1), Max: int64(375), Description: "Minutes after entry_at in which the entry may still be made (waiting for a spot tick or the instruments master); after that the day is skipped."},
			{Name: "exit_at", Type: TypeClock, Default: "15:15", Min: "09:16", Max: "15:29", Description: "Time of day (IST) to buy back every open leg; after entry_at."},
			{Name: "stop_pct", Type: TypeNumber, Default: 30.0, Min: 0.0, Max: 1000.0, Description: "Per-leg stop-loss, percent of the leg's sell price (to 0.01 %); 0: no stop."},
			{Name: "lots", Type: TypeInt, Default: int64(1), Min: int64(1), Max: int64(50), Description: "Lots sold per leg."},
			{Name: "product", Type: TypeString, Default: string(domain.MIS), Enum: []string{string(domain.MIS), string(domain.NRML)}, Description: "Broker product."},
		},
		Build: buildStraddle,
	}
}

func buildStraddle(p Params) (Strategy, error) {
	errs := &paramErrs{strategy: "short-straddle"}
	entry, exit := p.Clock("entry_at"), p.Clock("exit_at")
	if entry >= exit {
		errs.add("exit_at", "must be after entry_at (%s), got %s", formatClock(entry), formatClock(exit))
	}
	if p.String("underlying") == "" {
		errs.add("underlying", "must not be empty")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	s := &straddle{
		underlying: p.String("underlying"),
		spotSymbol: p.String("spot_symbol"),
		entryAt:    entry,
		entryUntil: min(entry+p.Int("entry_window_minutes")*60, exit),
		exitAt:     exit,
		stopBP:     int64(math.Round(p.Number("stop_pct") * 100)),
		lots:       p.Int("lots"),
		day:        -1,
	}
	s.b.product = domain.Product(p.String("product"))
	return s, nil
}

type straddlePhase uint8

const (
	straddleWaiting straddlePhase = iota
	straddleOpen
	straddleDone
)

var straddlePhaseNames = [...]string{"waiting", "open", "done"}

// straddleLeg is one sold option.
type straddleLeg struct {
	typ     domain.InstrumentType
	pos     *position
	stopped bool
	sold    domain.Price // average sell price when stopped
}

type straddle struct {
	underlying, spotSymbol string
	entryAt, exitAt        int64 // seconds after IST midnight
	entryUntil             int64 // end of the entry window (excluded)
	stopBP                 int64 // stop in hundredths of a percent
	lots                   int64

	b        book
	day      int64
	spotExch string
	spotSym  string // resolved spot instrument of the day
	spot     domain.Price
	spotDay  int64 // IST day of the last spot tick
	retryAt  int64
	err      string

	phase  straddlePhase
	expiry time.Time
	strike domain.Price
	legs   [2]straddleLeg // CE, PE
	why    string
	last   *Signal
}

func (s *straddle) Name() string { return "short-straddle" }

func (s *straddle) OnTick(env Env, t domain.Tick) []Signal {
	s.b.clock.advance(t.ExchangeTime)
	s.roll(env)
	if t.Symbol == s.spotSym && t.Exchange == s.spotExch {
		s.spot = t.LTP
		s.spotDay, _ = istSplit(t.ExchangeTime.Unix())
	}
	if p := s.b.find(t.Exchange, t.Symbol); p != nil {
		if p.see(&t) && s.phase == straddleOpen {
			for i := range s.legs {
				if s.legs[i].pos == p {
					s.checkStop(&s.legs[i], t.LTP)
				}
			}
		}
	}
	s.clockRules(env)
	return s.emit(s.b.reconcile(nil))
}

func (s *straddle) OnTimer(env Env, now time.Time) []Signal {
	s.b.clock.advance(now)
	s.roll(env)
	s.clockRules(env)
	return s.emit(s.b.reconcile(nil))
}

func (s *straddle) OnFill(env Env, f Fill) []Signal {
	s.b.onFill(f)
	return s.emit(s.b.reconcile(nil))
}

// roll starts a new day's state at the first event of an IST day and finds
// the spot instrument.
func (s *straddle) roll(env Env) {
	c := &s.b.clock
	if c.day != s.day {
		s.day = c.day
		s.b.flattenAll("carry-exit", "short-straddle: close a leg carried from an earlier day")
		s.phase, s.expiry, s.strike, s.legs, s.why, s.retryAt = straddleWaiting, time.Time{}, 0, [2]straddleLeg{}, "", 0
		s.spotSym, s.spotExch = "", ""
		s.b.prune()
	}
	if s.spotSym != "" || s.phase != straddleWaiting {
		return
	}
	if s.spotSymbol != "" {
		s.spotExch, s.spotSym = domain.ExchangeNSE, s.spotSymbol
		return
	}
	if c.unix < s.retryAt {
		return
	}
	fut, err := env.Future(s.underlying, c.t)
	if err != nil {
		s.err = "spot future lookup: " + err.Error()
		s.retryAt = c.unix + 1
		return
	}
	s.err = ""
	s.spotExch, s.spotSym = fut.Exchange, fut.Symbol
}

// checkStop stops a leg out when ltp reaches its stop.
func (s *straddle) checkStop(l *straddleLeg, ltp domain.Price) {
	if l.stopped || s.stopBP == 0 || l.pos.filled >= 0 {
		return
	}
	entry := l.pos.avg()
	stop := stopPrice(entry, s.stopBP)
	if ltp < stop {
		return
	}
	l.stopped, l.sold = true, entry
	l.pos.setTarget(0, "stop-"+lower(l.typ), fmt.Sprintf("stop: %s %s at or above %s (sold at %s + %s%%)", l.typ, ltp, stop, entry, bpString(s.stopBP)))
}

// stopPrice returns entry × (1 + bp/10000), rounded to the paisa.
func stopPrice(entry domain.Price, bp int64) domain.Price {
	return domain.Price((int64(entry)*(10000+bp) + 5000) / 10000)
}

func bpString(bp int64) string {
	if bp%100 == 0 {
		return fmt.Sprint(bp / 100)
	}
	return fmt.Sprintf("%d.%02d", bp/100, bp%100)
}

func lower(t domain.InstrumentType) string {
	if t == domain.InstrumentCall {
		return "ce"
	}
	return "pe"
}

// clockRules enters at entry_at and exits at exit_at.
func (s *straddle) clockRules(env Env) {
	c := &s.b.clock
	switch {
	case s.phase == straddleWaiting && c.sec >= s.entryUntil:
		s.phase = straddleDone
		if s.why == "" {
			s.why = "no entry by " + formatClock(s.entryUntil)
		} else {
			s.why = "no entry by " + formatClock(s.entryUntil) + ": " + s.why
		}
	case s.phase == straddleWaiting && c.sec >= s.entryAt && c.unix >= s.retryAt:
		if s.spotDay != c.day || s.spot <= 0 {
			s.why = "waiting for a spot tick of " + s.spotSym
			return
		}
		s.enter(env)
	case s.phase == straddleOpen && c.sec >= s.exitAt:
		for i := range s.legs {
			if l := &s.legs[i]; !l.stopped {
				l.pos.setTarget(0, "exit-"+lower(l.typ), fmt.Sprintf("time exit at %s", formatClock(s.exitAt)))
			}
		}
		s.phase, s.why = straddleDone, "time exit at "+formatClock(s.exitAt)
	}
}

// enter picks the ATM options and sells both.
func (s *straddle) enter(env Env) {
	c := &s.b.clock
	fail := func(what string, err error) {
		s.err = what + ": " + err.Error()
		s.retryAt = c.unix + 1
	}
	expiry, err := env.NearestWeekly(s.underlying, c.t)
	if err != nil {
		fail("nearest weekly expiry", err)
		return
	}
	strike, err := env.ATMStrike(s.underlying, expiry, s.spot)
	if err != nil {
		fail("ATM strike", err)
		return
	}
	var insts [2]domain.Instrument
	for i, typ := range [2]domain.InstrumentType{domain.InstrumentCall, domain.InstrumentPut} {
		inst, err := env.Option(s.underlying, expiry, strike, typ)
		if err == nil && inst.LotSize <= 0 {
			err = fmt.Errorf("%s has no lot size", inst.Key())
		}
		if err != nil {
			fail(fmt.Sprintf("%s option %s %s", typ, expiry.Format(time.DateOnly), strike), err)
			return
		}
		insts[i] = inst
	}
	s.err = ""
	s.expiry, s.strike, s.phase = expiry, strike, straddleOpen
	s.why = fmt.Sprintf("entered at %s: spot %s, ATM %s, expiry %s", formatClock(c.sec), s.spot, strike, expiry.In(domain.IST()).Format(time.DateOnly))
	for i, typ := range [2]domain.InstrumentType{domain.InstrumentCall, domain.InstrumentPut} {
		p := s.b.track(insts[i])
		s.legs[i] = straddleLeg{typ: typ, pos: p}
		p.setTarget(-s.lots*insts[i].LotSize, "entry-"+lower(typ),
			fmt.Sprintf("short straddle entry: sell %s %s (spot %s, expiry %s)", typ, strike, s.spot, expiry.In(domain.IST()).Format(time.DateOnly)))
	}
}

func (s *straddle) emit(out []Signal) []Signal {
	if len(out) > 0 {
		last := out[len(out)-1]
		s.last = &last
	}
	return out
}

// StraddleLegState is one leg in ShortStraddleState.
type StraddleLegState struct {
	Type    domain.InstrumentType `json:"type"`
	Symbol  string                `json:"symbol"`
	Sold    domain.Price          `json:"sold,omitempty"` // average sell price
	Stop    domain.Price          `json:"stop,omitempty"`
	Stopped bool                  `json:"stopped"`
}

// ShortStraddleState is the State of a short-straddle strategy.
type ShortStraddleState struct {
	Day        string             `json:"day,omitempty"`
	Phase      string             `json:"phase"`
	Spot       string             `json:"spot,omitempty"` // EXCHANGE:SYMBOL
	SpotLTP    domain.Price       `json:"spot_ltp,omitempty"`
	Expiry     string             `json:"expiry,omitempty"`
	Strike     domain.Price       `json:"strike,omitempty"`
	Legs       []StraddleLegState `json:"legs,omitempty"`
	Why        string             `json:"why,omitempty"`
	LastSignal *Signal            `json:"last_signal,omitempty"`
	Positions  []PositionState    `json:"positions"`
	Error      string             `json:"error,omitempty"`
	Note       string             `json:"note,omitempty"`
}

func (s *straddle) State() any {
	st := ShortStraddleState{
		Phase: straddlePhaseNames[s.phase], SpotLTP: s.spot, Strike: s.strike, Why: s.why,
		Positions: s.b.state(), Error: s.err, Note: s.b.note,
	}
	if s.day >= 0 {
		st.Day = istDateISO(s.day)
	}
	if s.spotSym != "" {
		st.Spot = s.spotExch + ":" + s.spotSym
	}
	if !s.expiry.IsZero() {
		st.Expiry = s.expiry.In(domain.IST()).Format(time.DateOnly)
	}
	for _, l := range s.legs {
		if l.pos == nil {
			continue
		}
		ls := StraddleLegState{Type: l.typ, Symbol: l.pos.sym, Stopped: l.stopped}
		ls.Sold = l.sold
		if l.pos.filled < 0 {
			ls.Sold = l.pos.avg()
		}
		if ls.Sold > 0 && s.stopBP > 0 {
			ls.Stop = stopPrice(ls.Sold, s.stopBP)
		}
		st.Legs = append(st.Legs, ls)
	}
	if s.last != nil {
		l := *s.last
		st.LastSignal = &l
	}
	return st
}
