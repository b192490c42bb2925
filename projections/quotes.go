package projections

import (
	"slices"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// istOffset is India Standard Time's fixed offset (no daylight saving), so
// an IST trading day is a whole number of days from the Unix epoch.
const istOffset = 5*3600 + 30*60

// istDay returns the IST calendar day of t as days since 1970-01-01.
func istDay(t time.Time) int64 {
	s := t.Unix() + istOffset
	if s < 0 {
		return (s - 86399) / 86400
	}
	return s / 86400
}

// Quote is the latest market state of one instrument. Open, High and Low are
// of the IST trading day of the last tick; PrevClose is the last price of
// the previous day the instrument ticked (0 until one was seen).
type Quote struct {
	Provider     string       `json:"provider"`
	Exchange     string       `json:"exchange"`
	Symbol       string       `json:"symbol"`
	Token        uint32       `json:"token,omitempty"`
	LTP          domain.Price `json:"ltp"`
	Bid          domain.Price `json:"bid,omitempty"`
	BidQty       int64        `json:"bid_qty,omitempty"`
	Ask          domain.Price `json:"ask,omitempty"`
	AskQty       int64        `json:"ask_qty,omitempty"`
	Volume       int64        `json:"volume,omitempty"`
	OI           int64        `json:"oi,omitempty"`
	ExchangeTime time.Time    `json:"exchange_time"`
	Open         domain.Price `json:"open"`
	High         domain.Price `json:"high"`
	Low          domain.Price `json:"low"`
	PrevClose    domain.Price `json:"prev_close,omitempty"`
	Ticks        int64        `json:"ticks"` // ticks folded for this instrument
	Position     uint64       `json:"position"`
}

// Change returns the move since the previous close (or, on the first day
// seen, since the day's open) in paise and in percent.
func (q *Quote) Change() (domain.Price, float64) {
	ref := q.PrevClose
	if ref == 0 {
		ref = q.Open
	}
	if ref == 0 {
		return 0, 0
	}
	ch := q.LTP - ref
	return ch, float64(ch) / float64(ref) * 100
}

// Key returns "EXCHANGE:SYMBOL".
func (q *Quote) Key() string { return q.Exchange + ":" + q.Symbol }

type quotesState struct {
	Quotes map[string]*Quote `json:"quotes"` // by "EXCHANGE:SYMBOL"
	Bad    int64             `json:"bad_events"`
}

// Quotes folds ticks into the last quote per instrument.
type Quotes struct {
	state[quotesState]
	ticks tickFold // used by Apply only
}

// tickFold is the decode loop of the read models that fold ticks only
// (quotes, options): it reuses one decoder, so that the strings of a few
// hundred instruments are interned once, and one Tick.
type tickFold struct {
	dec codec.TickDecoder
	t   domain.Tick
}

// next decodes ev into f.t and reports true if it is a TickReceived event;
// a tick event that does not decode is counted in *bad. It is just small
// enough to be inlined into the Apply loops (cost 80 of 80), which then run
// within noise of when each had its own copy of the loop
// (BenchmarkOptionTicksApply).
func (f *tickFold) next(ev *eventstore.RecordedEvent, bad *int64) bool {
	if ev.Type == domain.TypeTickReceived {
		if f.dec.Decode(ev.Data, &f.t) == nil {
			return true
		}
		*bad++
	}
	return false
}

// tickKey returns the instrument key "EXCHANGE:SYMBOL" of a tick event: its
// stream without "tick-".
func tickKey(ev *eventstore.RecordedEvent) string { return strings.TrimPrefix(ev.Stream, "tick-") }

// NewQuotes returns an empty quotes projection.
func NewQuotes() *Quotes {
	return &Quotes{state: state[quotesState]{st: quotesState{Quotes: map[string]*Quote{}}}}
}

// Name implements Projection.
func (*Quotes) Name() string { return "quotes" }

// Version implements Projection.
func (*Quotes) Version() int { return 1 }

// Filter implements Projection: ticks only.
func (*Quotes) Filter() eventstore.Filter {
	return eventstore.Filter{Types: []string{domain.TypeTickReceived}}
}

// Apply implements Projection.
func (q *Quotes) Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range evs {
		if ev := &evs[i]; q.ticks.next(ev, &q.st.Bad) {
			q.apply(&q.ticks.t, tickKey(ev), uint64(ev.Position))
		}
	}
	q.advance(upTo)
}

func (q *Quotes) apply(t *domain.Tick, key string, pos uint64) {
	qt := q.st.Quotes[key]
	if qt == nil {
		qt = &Quote{Exchange: t.Exchange, Symbol: t.Symbol}
		q.st.Quotes[strings.Clone(key)] = qt
	}
	switch {
	case qt.Ticks == 0:
		qt.Open, qt.High, qt.Low = t.LTP, t.LTP, t.LTP
	case istDay(t.ExchangeTime) > istDay(qt.ExchangeTime):
		qt.PrevClose = qt.LTP
		qt.Open, qt.High, qt.Low = t.LTP, t.LTP, t.LTP
	default:
		qt.High, qt.Low = max(qt.High, t.LTP), min(qt.Low, t.LTP)
	}
	qt.Provider, qt.Token = t.Provider, t.Token
	qt.LTP, qt.Bid, qt.BidQty, qt.Ask, qt.AskQty = t.LTP, t.Bid, t.BidQty, t.Ask, t.AskQty
	qt.Volume, qt.OI, qt.ExchangeTime = t.Volume, t.OI, t.ExchangeTime
	qt.Ticks++
	qt.Position = pos
}

// UnmarshalState implements Projection.
func (q *Quotes) UnmarshalState(b []byte) error {
	return q.load(b, "quotes", quotesState{}, func(st *quotesState) error {
		if st.Quotes == nil {
			st.Quotes = map[string]*Quote{}
		}
		return nil
	})
}

// Quote returns a copy of the quote of "EXCHANGE:SYMBOL", or of the only
// instrument named symbol on any exchange.
func (q *Quotes) Quote(symbol string) (Quote, bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if qt, ok := q.st.Quotes[symbol]; ok {
		return *qt, true
	}
	var found *Quote
	for _, qt := range q.st.Quotes {
		if qt.Symbol == symbol {
			if found != nil {
				return Quote{}, false // ambiguous: the caller must name the exchange
			}
			found = qt
		}
	}
	if found == nil {
		return Quote{}, false
	}
	return *found, true
}

// All returns copies of every quote that keep reports true for (nil: all),
// sorted by exchange and symbol, and the log position they reflect.
func (q *Quotes) All(keep func(*Quote) bool) ([]Quote, eventstore.Position) {
	q.mu.RLock()
	pos := q.at()
	out := make([]Quote, 0, len(q.st.Quotes))
	for _, qt := range q.st.Quotes {
		if keep == nil || keep(qt) {
			out = append(out, *qt)
		}
	}
	q.mu.RUnlock()
	slices.SortFunc(out, func(a, b Quote) int {
		if c := strings.Compare(a.Exchange, b.Exchange); c != 0 {
			return c
		}
		return strings.Compare(a.Symbol, b.Symbol)
	})
	return out, pos
}

// Indices returns the quotes of indices (domain.IsIndex).
func (q *Quotes) Indices() ([]Quote, eventstore.Position) {
	return q.All(func(qt *Quote) bool { return domain.IsIndex(qt.Exchange, qt.Symbol) })
}
