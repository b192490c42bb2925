package strategy

import (
	"fmt"
	"math"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// ORB is the "orb" definition: opening-range breakout on an index future.
//
// Each IST trading day: the range is the high and low LTP of the future's
// ticks from 09:15 to 09:15 + range_minutes (end excluded). After it, the
// first tick strictly above the high buys lots lots, strictly below the low
// sells them; at most one entry a day, and none at or after exit_at. The
// stop is the other side of the range (a tick at or beyond it exits), the
// target is entry ± target_r × risk, where entry is the average fill price
// (the breakout tick's LTP until the fill arrives) and risk the distance
// from entry to the stop; target_r 0 means no target. At exit_at (first tick
// or timer beat at or after it) any position is closed. A day without ticks
// in the range, or without a breakout before exit_at, does not trade.
// Stops and targets are watched on ticks and exited with MARKET orders (no
// resting stop orders). A position still open at the next day's first
// event is closed then.
func ORB() Definition {
	return Definition{
		Name: "orb",
		Description: "Opening-range breakout on an index future: buy above the opening range's high or sell below its low, " +
			"once a day; stop at the other side of the range, target as a multiple of the risk, exit all at a set time.",
		Params: []Param{
			{Name: "underlying", Type: TypeString, Default: "NIFTY", Description: "Trade the current-month future of this underlying. Ignored when symbol is set."},
			{Name: "exchange", Type: TypeString, Default: domain.ExchangeNFO, Description: "Exchange of symbol."},
			{Name: "symbol", Type: TypeString, Default: "", Description: "Tradingsymbol to trade instead of the current-month future. Empty: follow underlying."},
			{Name: "range_minutes", Type: TypeInt, Default: int64(15), Min: int64(1), Max: int64(120), Description: "Length of the opening range from 09:15 IST, in minutes."},
			{Name: "target_r", Type: TypeNumber, Default: 2.0, Min: 0.0, Max: 20.0, Description: "Target as a multiple of the risk (entry to stop), to 0.01; 0: no target."},
			{Name: "exit_at", Type: TypeClock, Default: "15:15", Min: "09:16", Max: "15:29", Description: "Time of day (IST) at which any position is closed and after which no entry is made."},
			{Name: "lots", Type: TypeInt, Default: int64(1), Min: int64(1), Max: int64(100), Description: "Position size in lots."},
			{Name: "product", Type: TypeString, Default: string(domain.MIS), Enum: []string{string(domain.MIS), string(domain.NRML)}, Description: "Broker product."},
		},
		Build: buildORB,
	}
}

func buildORB(p Params) (Strategy, error) {
	errs := &paramErrs{strategy: "orb"}
	rangeEnd := sessionOpen + p.Int("range_minutes")*60
	exitAt := p.Clock("exit_at")
	if rangeEnd >= exitAt {
		errs.add("exit_at", "must be after the opening range ends (%s), got %s", formatClock(rangeEnd), formatClock(exitAt))
	}
	if p.String("symbol") == "" && p.String("underlying") == "" {
		errs.add("underlying", "must be set when symbol is empty")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	s := &orb{
		underlying: p.String("underlying"),
		exchange:   p.String("exchange"),
		symbol:     p.String("symbol"),
		rangeEnd:   rangeEnd,
		exitAt:     exitAt,
		targetR:    int64(math.Round(p.Number("target_r") * 100)),
		lots:       p.Int("lots"),
		day:        -1,
	}
	s.b.product = domain.Product(p.String("product"))
	return s, nil
}

type orbPhase uint8

const (
	orbRange orbPhase = iota // building the opening range
	orbReady                 // range known, waiting for a breakout
	orbLong
	orbShort
	orbDone // traded, or nothing to do today
)

var orbPhaseNames = [...]string{"range", "ready", "long", "short", "done"}

type orb struct {
	underlying, exchange, symbol string
	rangeEnd, exitAt             int64 // seconds after IST midnight
	targetR                      int64 // hundredths of R
	lots                         int64

	b         book
	day       int64
	cur       *position
	resolveAt int64
	err       string

	phase      orbPhase
	high, low  domain.Price
	rangeTicks int64
	entryRef   domain.Price // LTP of the breakout tick
	why        string       // why the day ended
	last       *Signal
}

func (s *orb) Name() string { return "orb" }

func (s *orb) OnTick(env Env, t domain.Tick) []Signal {
	s.b.clock.advance(t.ExchangeTime)
	s.roll(env)
	s.clockRules()
	if p := s.b.find(t.Exchange, t.Symbol); p != nil {
		if p.see(&t) && p == s.cur {
			_, sec := istSplit(t.ExchangeTime.Unix())
			s.onPrice(sec, t.LTP)
		}
	}
	return s.emit(s.b.reconcile(nil))
}

func (s *orb) OnTimer(env Env, now time.Time) []Signal {
	s.b.clock.advance(now)
	s.roll(env)
	s.clockRules()
	return s.emit(s.b.reconcile(nil))
}

func (s *orb) OnFill(env Env, f Fill) []Signal {
	s.b.onFill(f)
	if p := s.cur; (s.phase == orbLong || s.phase == orbShort) && p != nil && p.target == 0 && p.filled == 0 && len(p.legs) == 0 {
		s.phase, s.why = orbDone, "entry refused: "+p.refusal
	}
	return s.emit(s.b.reconcile(nil))
}

// roll starts a new day's state at the first event of an IST day and looks
// up the contract (retried once a second until found).
func (s *orb) roll(env Env) {
	c := &s.b.clock
	if c.day != s.day {
		s.day = c.day
		s.b.flattenAll("carry-exit", "orb: close a position carried from an earlier day")
		s.cur, s.phase, s.high, s.low, s.rangeTicks, s.entryRef, s.why, s.resolveAt = nil, orbRange, 0, 0, 0, 0, "", 0
		s.b.prune()
	}
	if s.cur != nil || c.unix < s.resolveAt || s.phase == orbDone {
		return
	}
	var inst domain.Instrument
	var err error
	if s.symbol != "" {
		inst, err = env.Instrument(s.exchange, s.symbol)
	} else {
		inst, err = env.Future(s.underlying, c.t)
	}
	if err == nil && inst.LotSize <= 0 {
		err = fmt.Errorf("%s has no lot size", inst.Key())
	}
	if err != nil {
		s.err = "instrument lookup: " + err.Error()
		s.resolveAt = c.unix + 1
		return
	}
	s.err = ""
	s.cur = s.b.track(inst)
}

// onPrice applies a tick of the traded contract at sec after IST midnight.
func (s *orb) onPrice(sec int64, ltp domain.Price) {
	switch s.phase {
	case orbRange:
		if sec >= sessionOpen && sec < s.rangeEnd {
			if s.rangeTicks == 0 || ltp > s.high {
				s.high = ltp
			}
			if s.rangeTicks == 0 || ltp < s.low {
				s.low = ltp
			}
			s.rangeTicks++
		}
	case orbReady:
		c := &s.b.clock
		if sec < s.rangeEnd || c.sec >= s.exitAt {
			return
		}
		size := s.lots * s.cur.lotSize
		switch {
		case ltp > s.high:
			s.phase, s.entryRef = orbLong, ltp
			s.cur.setTarget(size, "entry", fmt.Sprintf("breakout: %s above the opening range high %s (range %s-%s, stop %s)", ltp, s.high, s.low, s.high, s.low))
		case ltp < s.low:
			s.phase, s.entryRef = orbShort, ltp
			s.cur.setTarget(-size, "entry", fmt.Sprintf("breakdown: %s below the opening range low %s (range %s-%s, stop %s)", ltp, s.low, s.low, s.high, s.high))
		}
	case orbLong:
		if ltp <= s.low {
			s.exit("stop", fmt.Sprintf("stop: %s at or below the range low %s", ltp, s.low))
		} else if tgt, ok := s.target(); ok && ltp >= tgt {
			s.exit("target", fmt.Sprintf("target: %s at or above %s (%d.%02dR)", ltp, tgt, s.targetR/100, s.targetR%100))
		}
	case orbShort:
		if ltp >= s.high {
			s.exit("stop", fmt.Sprintf("stop: %s at or above the range high %s", ltp, s.high))
		} else if tgt, ok := s.target(); ok && ltp <= tgt {
			s.exit("target", fmt.Sprintf("target: %s at or below %s (%d.%02dR)", ltp, tgt, s.targetR/100, s.targetR%100))
		}
	}
}

// target returns the target price, from the average fill price once the
// entry has filled.
func (s *orb) target() (domain.Price, bool) {
	if s.targetR == 0 {
		return 0, false
	}
	entry := s.entryRef
	if s.cur.filled != 0 {
		entry = s.cur.avg()
	}
	if s.phase == orbLong {
		risk := int64(entry - s.low)
		return entry + domain.Price(risk*s.targetR/100), risk > 0
	}
	risk := int64(s.high - entry)
	return entry - domain.Price(risk*s.targetR/100), risk > 0
}

func (s *orb) exit(purpose, reason string) {
	s.cur.setTarget(0, purpose, reason)
	s.phase, s.why = orbDone, reason
}

// clockRules applies the rules of the clock: the end of the opening range
// and the exit time.
func (s *orb) clockRules() {
	c := &s.b.clock
	if s.phase == orbRange && c.sec >= s.rangeEnd {
		if s.rangeTicks == 0 {
			s.phase, s.why = orbDone, "no ticks of the future in the opening range"
		} else {
			s.phase = orbReady
		}
	}
	if c.sec >= s.exitAt {
		switch s.phase {
		case orbLong, orbShort:
			s.exit("exit", fmt.Sprintf("time exit at %s", formatClock(s.exitAt)))
		case orbRange, orbReady:
			s.phase, s.why = orbDone, "no breakout before "+formatClock(s.exitAt)
		}
	}
}

func (s *orb) emit(out []Signal) []Signal {
	if len(out) > 0 {
		last := out[len(out)-1]
		s.last = &last
	}
	return out
}

// ORBState is the State of an orb strategy.
type ORBState struct {
	Day        string          `json:"day,omitempty"`
	Symbol     string          `json:"symbol,omitempty"`
	Phase      string          `json:"phase"`
	RangeHigh  domain.Price    `json:"range_high,omitempty"`
	RangeLow   domain.Price    `json:"range_low,omitempty"`
	RangeTicks int64           `json:"range_ticks"`
	Entry      domain.Price    `json:"entry,omitempty"`
	Stop       domain.Price    `json:"stop,omitempty"`
	Target     domain.Price    `json:"target,omitempty"`
	Why        string          `json:"why,omitempty"`
	LastSignal *Signal         `json:"last_signal,omitempty"`
	Positions  []PositionState `json:"positions"`
	Error      string          `json:"error,omitempty"`
	Note       string          `json:"note,omitempty"`
}

func (s *orb) State() any {
	st := ORBState{
		Phase: orbPhaseNames[s.phase], RangeHigh: s.high, RangeLow: s.low, RangeTicks: s.rangeTicks,
		Why: s.why, Positions: s.b.state(), Error: s.err, Note: s.b.note,
	}
	if s.day >= 0 {
		st.Day = istDateISO(s.day)
	}
	if s.cur != nil {
		st.Symbol = s.cur.sym
		if s.phase == orbLong || s.phase == orbShort {
			st.Entry = s.entryRef
			if s.cur.filled != 0 {
				st.Entry = s.cur.avg()
			}
			st.Stop = s.low
			if s.phase == orbShort {
				st.Stop = s.high
			}
			st.Target, _ = s.target()
		}
	}
	if s.last != nil {
		l := *s.last
		st.LastSignal = &l
	}
	return st
}
