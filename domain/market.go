package domain

import (
	"math"
	"strings"
	"time"
)

// Stable event type names of the market family.
const (
	TypeTickReceived = "TickReceived"
	TypeFeedStale    = "FeedStale"
	TypeFeedGap      = "FeedGap"
	TypeFeedResynced = "FeedResynced"
)

// Exchanges (Kite Connect names): NSE for cash and indices, NFO for F&O.
const (
	ExchangeNSE = "NSE"
	ExchangeNFO = "NFO"
)

// TickStream returns the stream that holds the ticks of one instrument:
// "tick-<EXCHANGE>:<SYMBOL>", e.g. "tick-NSE:NIFTY 50".
func TickStream(exchange, symbol string) string { return "tick-" + exchange + ":" + symbol }

// ProviderStream returns the stream of a market-data provider's incidents:
// "provider-<name>".
func ProviderStream(provider string) string { return "provider-" + provider }

// Greeks are option sensitivities as a vendor sent them. Theta is per
// calendar day; vega and rho are per 1 % change.
type Greeks struct {
	IV    float64 `json:"iv"`
	Delta float64 `json:"delta"`
	Gamma float64 `json:"gamma"`
	Theta float64 `json:"theta"`
	Vega  float64 `json:"vega"`
	Rho   float64 `json:"rho"`
}

// Tick is one market-data update for one instrument (event TickReceived).
// Bid and Ask are zero when the feed sends no depth (indices have none).
// Volume is the day's cumulative traded quantity; OI the open interest.
type Tick struct {
	Provider     string    `json:"provider"`
	Exchange     string    `json:"exchange"`
	Symbol       string    `json:"symbol"`
	Token        uint32    `json:"token,omitempty"`
	ExchangeTime time.Time `json:"exchange_time"`
	LTP          Price     `json:"ltp"`
	LastQty      int64     `json:"last_qty,omitempty"`
	Bid          Price     `json:"bid,omitempty"`
	BidQty       int64     `json:"bid_qty,omitempty"`
	Ask          Price     `json:"ask,omitempty"`
	AskQty       int64     `json:"ask_qty,omitempty"`
	Volume       int64     `json:"volume,omitempty"`
	OI           int64     `json:"oi,omitempty"`
	Greeks       *Greeks   `json:"greeks,omitempty"`
}

// EventType implements Event.
func (Tick) EventType() string { return TypeTickReceived }

// Stream returns the tick stream of the tick's instrument.
func (t Tick) Stream() string { return TickStream(t.Exchange, t.Symbol) }

// Validate rejects ticks that no exchange could have produced.
func (t Tick) Validate() error {
	c := checker{typ: TypeTickReceived}
	c.nonEmpty("provider", t.Provider)
	c.nonEmpty("exchange", t.Exchange)
	c.nonEmpty("symbol", t.Symbol)
	if strings.ContainsAny(t.Symbol, "\x00\n\r") {
		c.fail("symbol", "contains a control character")
	}
	c.timeSet("exchange_time", t.ExchangeTime)
	c.positivePrice("ltp", t.LTP)
	c.nonNegative("last_qty", t.LastQty)
	c.nonNegativePrice("bid", t.Bid)
	c.nonNegativePrice("ask", t.Ask)
	c.nonNegative("bid_qty", t.BidQty)
	c.nonNegative("ask_qty", t.AskQty)
	if t.Bid > 0 && t.Ask > 0 && t.Bid > t.Ask {
		c.fail("bid", "crossed quote: bid %s is above ask %s", t.Bid, t.Ask)
	}
	c.nonNegative("volume", t.Volume)
	c.nonNegative("oi", t.OI)
	if g := t.Greeks; g != nil {
		for _, f := range []struct {
			name string
			v    float64
		}{{"greeks.iv", g.IV}, {"greeks.delta", g.Delta}, {"greeks.gamma", g.Gamma}, {"greeks.theta", g.Theta}, {"greeks.vega", g.Vega}, {"greeks.rho", g.Rho}} {
			if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
				c.fail(f.name, "must be a finite number")
			}
		}
		if g.IV < 0 {
			c.fail("greeks.iv", "must be >= 0")
		}
	}
	return c.result()
}

// FeedStale says a provider (or one of its symbols) sent nothing for longer
// than its threshold.
type FeedStale struct {
	Provider   string        `json:"provider"`
	Symbol     string        `json:"symbol,omitempty"`
	LastTickAt time.Time     `json:"last_tick_at"`
	Threshold  time.Duration `json:"threshold_ns"`
	DetectedAt time.Time     `json:"detected_at"`
}

// EventType implements Event.
func (FeedStale) EventType() string { return TypeFeedStale }

// Validate implements Event.
func (e FeedStale) Validate() error {
	c := checker{typ: TypeFeedStale}
	c.nonEmpty("provider", e.Provider)
	c.timeSet("detected_at", e.DetectedAt)
	c.positive("threshold_ns", int64(e.Threshold))
	return c.result()
}

// FeedGap records market data that was lost on its way into the log: ticks
// the recorder dropped because the store fell behind past its memory bound,
// or a gap the provider reported. It is never silent: Dropped counts them and
// From/To bound their exchange times.
type FeedGap struct {
	Provider string    `json:"provider"`
	Dropped  int64     `json:"dropped"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Reason   string    `json:"reason"`
}

// EventType implements Event.
func (FeedGap) EventType() string { return TypeFeedGap }

// Validate implements Event.
func (e FeedGap) Validate() error {
	c := checker{typ: TypeFeedGap}
	c.nonEmpty("provider", e.Provider)
	c.positive("dropped", e.Dropped)
	c.timeSet("from", e.From)
	c.timeSet("to", e.To)
	if !e.From.IsZero() && !e.To.IsZero() && e.To.Before(e.From) {
		c.fail("to", "is before from")
	}
	c.nonEmpty("reason", e.Reason)
	return c.result()
}

// FeedResynced says a provider is delivering again after a stale period or a
// reconnect.
type FeedResynced struct {
	Provider  string    `json:"provider"`
	Symbol    string    `json:"symbol,omitempty"`
	ResumedAt time.Time `json:"resumed_at"`
}

// EventType implements Event.
func (FeedResynced) EventType() string { return TypeFeedResynced }

// Validate implements Event.
func (e FeedResynced) Validate() error {
	c := checker{typ: TypeFeedResynced}
	c.nonEmpty("provider", e.Provider)
	c.timeSet("resumed_at", e.ResumedAt)
	return c.result()
}

// nseIndices are the Kite tradingsymbols of the NSE indices AlgoAuto knows.
var nseIndices = map[string]bool{
	"NIFTY 50": true, "NIFTY BANK": true, "NIFTY FIN SERVICE": true,
	"NIFTY MID SELECT": true, "NIFTY NEXT 50": true, "INDIA VIX": true,
}

// IsIndex reports whether exchange:symbol is an index (it has a level but
// no order book), e.g. NSE:"NIFTY 50".
func IsIndex(exchange, symbol string) bool { return exchange == ExchangeNSE && nseIndices[symbol] }
