package domain

import "time"

// Stable event type names of the signal family.
const (
	TypeSignalRaised   = "SignalRaised"
	TypeSignalAccepted = "SignalAccepted"
	TypeSignalRejected = "SignalRejected"
)

// SignalStream returns the stream of a signal source: "signal-<source>".
func SignalStream(source string) string { return "signal-" + source }

// SignalRaised is a request to trade from a strategy or an outside source
// (n8n, a TradingView-style alert). Payload version 2: version 1 carried
// "action" and "qty" and an "EXCHANGE:SYMBOL" symbol; see the codec's
// upcaster.
type SignalRaised struct {
	SignalID  string    `json:"signal_id"`
	Source    string    `json:"source"`
	Strategy  string    `json:"strategy,omitempty"`
	Account   string    `json:"account,omitempty"`
	Exchange  string    `json:"exchange"`
	Symbol    string    `json:"symbol"`
	Side      Side      `json:"side"`
	Quantity  int64     `json:"quantity"`
	OrderType OrderType `json:"order_type,omitempty"`
	Price     Price     `json:"price,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	RaisedAt  time.Time `json:"raised_at"`
}

// EventType implements Event.
func (SignalRaised) EventType() string { return TypeSignalRaised }

// Validate implements Event.
func (e SignalRaised) Validate() error {
	c := checker{typ: TypeSignalRaised}
	c.nonEmpty("signal_id", e.SignalID)
	c.nonEmpty("source", e.Source)
	c.nonEmpty("exchange", e.Exchange)
	c.nonEmpty("symbol", e.Symbol)
	if !e.Side.Valid() {
		c.fail("side", "must be BUY or SELL, got %q", e.Side)
	}
	c.positive("quantity", e.Quantity)
	if e.OrderType != "" && !e.OrderType.Valid() {
		c.fail("order_type", "must be MARKET, LIMIT, SL or SL-M, got %q", e.OrderType)
	}
	c.nonNegativePrice("price", e.Price)
	if (e.OrderType == Limit || e.OrderType == StopLimit) && e.Price <= 0 {
		c.fail("price", "must be > 0 for a %s order", e.OrderType)
	}
	c.timeSet("raised_at", e.RaisedAt)
	return c.result()
}

// SignalAccepted says the risk gate let a signal through; OrderIDs are the
// orders it became (more than one when split by freeze quantity).
type SignalAccepted struct {
	SignalID string   `json:"signal_id"`
	OrderIDs []string `json:"order_ids"`
}

// EventType implements Event.
func (SignalAccepted) EventType() string { return TypeSignalAccepted }

// Validate implements Event.
func (e SignalAccepted) Validate() error {
	c := checker{typ: TypeSignalAccepted}
	c.nonEmpty("signal_id", e.SignalID)
	if len(e.OrderIDs) == 0 {
		c.fail("order_ids", "must name at least one order")
	}
	return c.result()
}

// SignalRejected says a signal was refused, by which rule and why.
type SignalRejected struct {
	SignalID string `json:"signal_id"`
	Rule     string `json:"rule"`
	Reason   string `json:"reason"`
	// The numbers of a risk refusal: the rule's limit, the order's value,
	// and their unit (qty, lots, paise, bps, orders, ms).
	Limit  int64  `json:"limit,omitempty"`
	Actual int64  `json:"actual,omitempty"`
	Unit   string `json:"unit,omitempty"`
}

// EventType implements Event.
func (SignalRejected) EventType() string { return TypeSignalRejected }

// Validate implements Event.
func (e SignalRejected) Validate() error {
	c := checker{typ: TypeSignalRejected}
	c.nonEmpty("signal_id", e.SignalID)
	c.nonEmpty("rule", e.Rule)
	c.nonEmpty("reason", e.Reason)
	return c.result()
}
