package strategy

import (
	"fmt"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// MACrossover is the "ma-crossover" definition: a fast and a slow moving
// average of an index future's price; long on a golden cross (fast crosses
// above slow), flat or short on a death cross.
//
// Samples: with bar_seconds > 0 (default 60) the averages are of bar
// closes, the last LTP of each bar; bars are aligned to 09:15 IST, a bar
// closes at the first tick of a later bar or at the first timer beat at or
// after its end, and bars without ticks do not exist. With bar_seconds 0
// every tick is a sample. Only ticks within 09:15-15:30 IST count, and
// orders are sent only then (a cross after hours acts at the next open).
//
// A cross needs both sides: after warm-up (slow samples) the first
// relation seen only arms the strategy; a signal comes when the fast average
// moves from below the slow one to above it or back (equal values keep the
// previous relation). Averages are exact integer arithmetic in paise; the
// EMA (alpha 2/(n+1), seeded with the SMA of the first n samples) is kept
// in 1/10000 paise.
//
// Instrument: symbol when given, else the current-month future of
// underlying, looked up each IST day; on the expiry day of the near
// contract it rolls to the next month at the first tick: a position in the
// old contract is closed, and the averages start again on the new one.
func MACrossover() Definition {
	return Definition{
		Name: "ma-crossover",
		Description: "Moving-average crossover on an index future: long on a golden cross (fast MA crosses above slow), " +
			"flat (or short) on a death cross. MAs of bar closes (bar_seconds) or of every tick.",
		Params: []Param{
			{Name: "underlying", Type: TypeString, Default: "NIFTY", Description: "Trade the current-month future of this underlying (rolled on the morning of its expiry day). Ignored when symbol is set."},
			{Name: "exchange", Type: TypeString, Default: domain.ExchangeNFO, Description: "Exchange of symbol."},
			{Name: "symbol", Type: TypeString, Default: "", Description: "Tradingsymbol to trade instead of the current-month future, e.g. NIFTY26NOVFUT. Empty: follow underlying."},
			{Name: "ma", Type: TypeString, Default: "sma", Enum: []string{"sma", "ema"}, Description: "Moving-average kind: simple or exponential."},
			{Name: "fast", Type: TypeInt, Default: int64(9), Min: int64(1), Max: int64(500), Description: "Samples in the fast average; less than slow."},
			{Name: "slow", Type: TypeInt, Default: int64(21), Min: int64(2), Max: int64(1000), Description: "Samples in the slow average."},
			{Name: "bar_seconds", Type: TypeInt, Default: int64(60), Min: int64(0), Max: int64(3600), Description: "Bar length in seconds (bars aligned to 09:15 IST; a sample is a bar's last LTP). 0: every tick is a sample."},
			{Name: "death_cross", Type: TypeString, Default: "flat", Enum: []string{"flat", "short"}, Description: "On a death cross go flat, or short (reversing a long)."},
			{Name: "lots", Type: TypeInt, Default: int64(1), Min: int64(1), Max: int64(100), Description: "Position size in lots."},
			{Name: "product", Type: TypeString, Default: string(domain.NRML), Enum: []string{string(domain.MIS), string(domain.NRML)}, Description: "Broker product: NRML carries positions overnight, MIS is intraday (the broker squares it off)."},
		},
		Build: buildMACrossover,
	}
}

func buildMACrossover(p Params) (Strategy, error) {
	errs := &paramErrs{strategy: "ma-crossover"}
	fast, slow := p.Int("fast"), p.Int("slow")
	if fast >= slow {
		errs.add("fast", "must be less than slow (%d), got %d", slow, fast)
	}
	if p.String("symbol") == "" && p.String("underlying") == "" {
		errs.add("underlying", "must be set when symbol is empty")
	}
	if p.String("symbol") != "" && p.String("exchange") == "" {
		errs.add("exchange", "must be set with symbol")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	ema := p.String("ma") == "ema"
	s := &maCrossover{
		underlying: p.String("underlying"),
		exchange:   p.String("exchange"),
		symbol:     p.String("symbol"),
		kind:       p.String("ma"),
		barSec:     p.Int("bar_seconds"),
		short:      p.String("death_cross") == "short",
		lots:       p.Int("lots"),
		fast:       newMovingAverage(fast, ema),
		slow:       newMovingAverage(slow, ema),
		lastBar:    -1 << 62,
	}
	s.b.product = domain.Product(p.String("product"))
	return s, nil
}

type maCrossover struct {
	underlying, exchange, symbol, kind string
	barSec                             int64
	short                              bool
	lots                               int64

	b          book
	cur        *position // the contract traded now
	validUntil int64     // unix: look the contract up again at or after
	err        string

	barOpen  bool
	barStart int64 // unix start of the open bar
	lastBar  int64 // unix start of the last closed bar
	barClose domain.Price

	fast, slow movingAverage
	rel        int8 // last non-zero sign of fast − slow; 0 before the first
	samples    int64
	crosses    int64
	last       *Signal
}

func (s *maCrossover) Name() string { return "ma-crossover" }

func (s *maCrossover) OnTick(env Env, t domain.Tick) []Signal {
	s.b.clock.advance(t.ExchangeTime)
	if s.b.clock.unix >= s.validUntil {
		s.resolve(env)
	}
	p := s.b.find(t.Exchange, t.Symbol)
	if p == nil {
		return nil // the common case: someone else's instrument
	}
	if p.see(&t) && p == s.cur { // a tick older than one already seen is not a sample
		day, sec := s.b.clock.day, s.b.clock.sec
		if !t.ExchangeTime.Equal(s.b.clock.t) { // behind another instrument's tick
			day, sec = istSplit(t.ExchangeTime.Unix())
		}
		if inSession(sec) {
			if s.barSec == 0 {
				s.sample(t.LTP)
			} else {
				s.onBarTick(day, sec, t.LTP)
			}
		}
	}
	return s.emit(s.b.reconcile(nil))
}

// onBarTick folds a tick at sec after midnight of IST day into the bars.
func (s *maCrossover) onBarTick(day, sec int64, ltp domain.Price) {
	start := istUnix(day, sessionOpen+(sec-sessionOpen)/s.barSec*s.barSec)
	if s.barOpen {
		switch {
		case start < s.barStart:
			return // late tick of a bar already closed
		case start == s.barStart:
			s.barClose = ltp
			return
		}
		s.closeBar()
	}
	if start <= s.lastBar {
		return
	}
	s.barOpen, s.barStart, s.barClose = true, start, ltp
}

func (s *maCrossover) closeBar() {
	s.barOpen = false
	s.lastBar = s.barStart
	s.sample(s.barClose)
}

func (s *maCrossover) OnTimer(env Env, now time.Time) []Signal {
	s.b.clock.advance(now)
	if s.b.clock.unix >= s.validUntil {
		s.resolve(env)
	}
	if s.barOpen && s.b.clock.unix >= s.barStart+s.barSec {
		s.closeBar()
	}
	return s.emit(s.b.reconcile(nil))
}

func (s *maCrossover) OnFill(env Env, f Fill) []Signal {
	s.b.onFill(f)
	s.b.prune(s.cur)
	return s.emit(s.b.reconcile(nil))
}

func (s *maCrossover) emit(out []Signal) []Signal {
	if len(out) > 0 {
		last := out[len(out)-1]
		s.last = &last
	}
	return out
}

// resolve looks up the contract to trade today and rolls to it when it
// changed.
func (s *maCrossover) resolve(env Env) {
	c := &s.b.clock
	var inst domain.Instrument
	var err error
	if s.symbol != "" {
		inst, err = env.Instrument(s.exchange, s.symbol)
	} else {
		inst, err = env.Future(s.underlying, c.t)
		if err == nil {
			if eday, _ := istSplit(inst.Expiry.Unix()); eday == c.day {
				inst, err = env.Future(s.underlying, inst.ExpiresAt())
			}
		}
	}
	if err == nil && inst.LotSize <= 0 {
		err = fmt.Errorf("%s has no lot size", inst.Key())
	}
	if err != nil {
		s.err = "instrument lookup: " + err.Error()
		s.validUntil = c.unix + 1 // try again in a second
		return
	}
	s.err = ""
	s.validUntil = istUnix(c.day+1, 0)
	if s.cur != nil && s.cur.sym == inst.Symbol && s.cur.exch == inst.Exchange {
		s.cur.lotSize = inst.LotSize
		return
	}
	if old := s.cur; old != nil {
		old.setTarget(0, "roll", fmt.Sprintf("roll from %s to %s: close the old contract", old.sym, inst.Symbol))
		// The new contract starts flat and waits for a fresh cross.
		s.fast.reset()
		s.slow.reset()
		s.rel, s.barOpen, s.lastBar = 0, false, -1<<62
	}
	s.cur = s.b.track(inst)
	s.b.prune(s.cur)
}

// sample adds one price to the averages and acts on a cross.
func (s *maCrossover) sample(px domain.Price) {
	s.samples++
	s.fast.add(int64(px))
	s.slow.add(int64(px))
	if !s.slow.ready() {
		return
	}
	rel := int8(compareMA(&s.fast, &s.slow))
	if rel == 0 || rel == s.rel {
		return
	}
	prev := s.rel
	s.rel = rel
	if prev == 0 {
		return // the first relation after warm-up arms; it is not a cross
	}
	s.crosses++
	p := s.cur
	size := s.lots * p.lotSize
	fv, sv := s.fast.value(), s.slow.value()
	if rel > 0 {
		p.setTarget(size, "long", fmt.Sprintf("golden cross: %s(%d) %s > %s(%d) %s", s.kind, s.fast.n, fv, s.kind, s.slow.n, sv))
		return
	}
	target, purpose := int64(0), "flat"
	if s.short {
		target, purpose = -size, "short"
	}
	p.setTarget(target, purpose, fmt.Sprintf("death cross: %s(%d) %s < %s(%d) %s", s.kind, s.fast.n, fv, s.kind, s.slow.n, sv))
}

// MACrossoverState is the State of an ma-crossover strategy.
type MACrossoverState struct {
	Exchange   string          `json:"exchange,omitempty"`
	Symbol     string          `json:"symbol,omitempty"`
	MA         string          `json:"ma"`
	Fast       int64           `json:"fast"`
	Slow       int64           `json:"slow"`
	FastValue  domain.Price    `json:"fast_value,omitempty"` // when warmed up
	SlowValue  domain.Price    `json:"slow_value,omitempty"`
	Relation   string          `json:"relation,omitempty"` // "above", "below"
	Samples    int64           `json:"samples"`
	Crosses    int64           `json:"crosses"`
	LastSignal *Signal         `json:"last_signal,omitempty"`
	Positions  []PositionState `json:"positions"`
	Error      string          `json:"error,omitempty"`
	Note       string          `json:"note,omitempty"`
}

func (s *maCrossover) State() any {
	st := MACrossoverState{
		MA: s.kind, Fast: s.fast.n, Slow: s.slow.n, Samples: s.samples, Crosses: s.crosses,
		Positions: s.b.state(), Error: s.err, Note: s.b.note,
	}
	if s.cur != nil {
		st.Exchange, st.Symbol = s.cur.exch, s.cur.sym
	}
	if s.slow.ready() {
		st.FastValue, st.SlowValue = s.fast.value(), s.slow.value()
	}
	switch s.rel {
	case 1:
		st.Relation = "above"
	case -1:
		st.Relation = "below"
	}
	if s.last != nil {
		l := *s.last
		st.LastSignal = &l
	}
	return st
}

// emaScale is the fixed-point scale of EMA values (1/10000 paise).
const emaScale = 10000

// movingAverage is an SMA (ring buffer and running sum) or an EMA (seeded
// with the SMA of its first n samples), in exact integer arithmetic.
type movingAverage struct {
	n     int64
	ema   bool
	ring  []int64
	i     int
	count int64
	sum   int64
	e     int64 // EMA × emaScale
}

func newMovingAverage(n int64, ema bool) movingAverage {
	m := movingAverage{n: n, ema: ema}
	if !ema {
		m.ring = make([]int64, n)
	}
	return m
}

func (m *movingAverage) reset() {
	clear(m.ring)
	m.i, m.count, m.sum, m.e = 0, 0, 0, 0
}

func (m *movingAverage) ready() bool { return m.count >= m.n }

func (m *movingAverage) add(v int64) {
	if m.ema {
		if m.count < m.n {
			m.sum += v
			m.count++
			if m.count == m.n {
				m.e = m.sum * emaScale / m.n
			}
			return
		}
		m.e += (v*emaScale - m.e) * 2 / (m.n + 1)
		return
	}
	if m.count < m.n {
		m.count++
	} else {
		m.sum -= m.ring[m.i]
	}
	m.ring[m.i] = v
	m.sum += v
	if m.i++; m.i == len(m.ring) {
		m.i = 0
	}
}

// value returns the average rounded to the paisa.
func (m *movingAverage) value() domain.Price {
	num, den := m.sum, m.n
	if m.ema {
		num, den = m.e, emaScale
	}
	if num >= 0 {
		return domain.Price((num + den/2) / den)
	}
	return domain.Price((num - den/2) / den)
}

// compareMA returns the sign of a − b (both ready, same kind), exactly.
func compareMA(a, b *movingAverage) int {
	x, y := a.e, b.e
	if !a.ema {
		x, y = a.sum*b.n, b.sum*a.n
	}
	switch {
	case x > y:
		return 1
	case x < y:
		return -1
	}
	return 0
}
