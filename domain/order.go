package domain

import "time"

// Stable event type names of the order family.
const (
	TypeOrderIntentRecorded  = "OrderIntentRecorded"
	TypeOrderSubmitted       = "OrderSubmitted"
	TypeOrderAccepted        = "OrderAccepted"
	TypeOrderRejected        = "OrderRejected"
	TypeOrderFilled          = "OrderFilled"
	TypeOrderCancelled       = "OrderCancelled"
	TypeSubmitOutcomeUnknown = "SubmitOutcomeUnknown"
	TypeOrderModified        = "OrderModified"
	TypeOrderRefused         = "OrderRefused"
)

// RiskStream returns the stream of an account's risk refusals of orders
// that no signal carried (manual orders): "risk-<account>".
func RiskStream(account string) string { return "risk-" + account }

// OrderStream returns the stream of one order: "order-<id>".
func OrderStream(orderID string) string { return "order-" + orderID }

// OrderIntentRecorded is written before any broker is called: the order the
// engine means to send, with the deterministic client order id that lets an
// ambiguous outcome be looked up instead of resubmitted.
type OrderIntentRecorded struct {
	OrderID       string    `json:"order_id"`
	ClientOrderID string    `json:"client_order_id"`
	Account       string    `json:"account"`
	Mode          Mode      `json:"mode"`
	Strategy      string    `json:"strategy,omitempty"`
	SignalID      string    `json:"signal_id,omitempty"`
	Exchange      string    `json:"exchange"`
	Symbol        string    `json:"symbol"`
	Side          Side      `json:"side"`
	Quantity      int64     `json:"quantity"`
	Type          OrderType `json:"type"`
	Product       Product   `json:"product"`
	Price         Price     `json:"price,omitempty"`
	TriggerPrice  Price     `json:"trigger_price,omitempty"`
	AlgoID        string    `json:"algo_id,omitempty"`
	// LotSize is the instrument's lot size from the instruments master when
	// the order was made (0: unknown, or an instrument traded in units).
	LotSize int64 `json:"lot_size,omitempty"`
}

// EventType implements Event.
func (OrderIntentRecorded) EventType() string { return TypeOrderIntentRecorded }

// Validate implements Event.
func (e OrderIntentRecorded) Validate() error {
	c := checker{typ: TypeOrderIntentRecorded}
	c.nonEmpty("order_id", e.OrderID)
	c.nonEmpty("client_order_id", e.ClientOrderID)
	c.nonEmpty("account", e.Account)
	if !e.Mode.Valid() {
		c.fail("mode", "must be paper or live, got %q", e.Mode)
	}
	c.nonEmpty("exchange", e.Exchange)
	c.nonEmpty("symbol", e.Symbol)
	if !e.Side.Valid() {
		c.fail("side", "must be BUY or SELL, got %q", e.Side)
	}
	c.positive("quantity", e.Quantity)
	if !e.Type.Valid() {
		c.fail("type", "must be MARKET, LIMIT, SL or SL-M, got %q", e.Type)
	}
	if !e.Product.Valid() {
		c.fail("product", "must be MIS, NRML or CNC, got %q", e.Product)
	}
	c.nonNegativePrice("price", e.Price)
	c.nonNegativePrice("trigger_price", e.TriggerPrice)
	c.nonNegative("lot_size", e.LotSize)
	if e.LotSize > 0 && e.Quantity%e.LotSize != 0 {
		c.fail("quantity", "%d is not a whole number of lots of %d", e.Quantity, e.LotSize)
	}
	switch e.Type {
	case Limit:
		c.positivePrice("price", e.Price)
	case StopLimit:
		c.positivePrice("price", e.Price)
		c.positivePrice("trigger_price", e.TriggerPrice)
	case StopMkt:
		c.positivePrice("trigger_price", e.TriggerPrice)
	}
	return c.result()
}

// OrderSubmitted says the order was handed to the broker.
type OrderSubmitted struct {
	OrderID       string `json:"order_id"`
	ClientOrderID string `json:"client_order_id"`
	Broker        string `json:"broker"`
}

// EventType implements Event.
func (OrderSubmitted) EventType() string { return TypeOrderSubmitted }

// Validate implements Event.
func (e OrderSubmitted) Validate() error {
	c := checker{typ: TypeOrderSubmitted}
	c.nonEmpty("order_id", e.OrderID)
	c.nonEmpty("client_order_id", e.ClientOrderID)
	c.nonEmpty("broker", e.Broker)
	return c.result()
}

// OrderAccepted says the broker acknowledged the order with its own id.
type OrderAccepted struct {
	OrderID       string `json:"order_id"`
	BrokerOrderID string `json:"broker_order_id"`
}

// EventType implements Event.
func (OrderAccepted) EventType() string { return TypeOrderAccepted }

// Validate implements Event.
func (e OrderAccepted) Validate() error {
	c := checker{typ: TypeOrderAccepted}
	c.nonEmpty("order_id", e.OrderID)
	c.nonEmpty("broker_order_id", e.BrokerOrderID)
	return c.result()
}

// OrderRejected says the broker (or the exchange) refused the order.
type OrderRejected struct {
	OrderID string `json:"order_id"`
	Code    string `json:"code,omitempty"`
	Reason  string `json:"reason"`
}

// EventType implements Event.
func (OrderRejected) EventType() string { return TypeOrderRejected }

// Validate implements Event.
func (e OrderRejected) Validate() error {
	c := checker{typ: TypeOrderRejected}
	c.nonEmpty("order_id", e.OrderID)
	c.nonEmpty("reason", e.Reason)
	return c.result()
}

// OrderFilled is one execution; a partially filled order has several.
// FilledQty is the order's cumulative filled quantity after this fill.
type OrderFilled struct {
	OrderID   string `json:"order_id"`
	TradeID   string `json:"trade_id"`
	Quantity  int64  `json:"quantity"`
	Price     Price  `json:"price"`
	FilledQty int64  `json:"filled_qty"`
	Charges   Price  `json:"charges,omitempty"`
	// At is the execution's time as the broker reports it (exchange time;
	// event time for the paper broker); zero when the broker gave none.
	// Strategies get it as Fill.At, live and on replay alike.
	At time.Time `json:"at,omitzero"`
}

// EventType implements Event.
func (OrderFilled) EventType() string { return TypeOrderFilled }

// Validate implements Event.
func (e OrderFilled) Validate() error {
	c := checker{typ: TypeOrderFilled}
	c.nonEmpty("order_id", e.OrderID)
	c.nonEmpty("trade_id", e.TradeID)
	c.positive("quantity", e.Quantity)
	c.positivePrice("price", e.Price)
	if e.FilledQty < e.Quantity {
		c.fail("filled_qty", "cumulative %d is less than this fill's %d", e.FilledQty, e.Quantity)
	}
	c.nonNegativePrice("charges", e.Charges)
	return c.result()
}

// OrderCancelled says the order (its unfilled remainder) is cancelled.
type OrderCancelled struct {
	OrderID string `json:"order_id"`
	By      string `json:"by,omitempty"`
	Reason  string `json:"reason"`
}

// EventType implements Event.
func (OrderCancelled) EventType() string { return TypeOrderCancelled }

// Validate implements Event.
func (e OrderCancelled) Validate() error {
	c := checker{typ: TypeOrderCancelled}
	c.nonEmpty("order_id", e.OrderID)
	c.nonEmpty("reason", e.Reason)
	return c.result()
}

// SubmitOutcomeUnknown says the broker call ended without a definite answer
// (timeout, 5xx). The order must be looked up by its client order id; it is
// never blindly resubmitted.
type SubmitOutcomeUnknown struct {
	OrderID       string `json:"order_id"`
	ClientOrderID string `json:"client_order_id"`
	Error         string `json:"error"`
}

// EventType implements Event.
func (SubmitOutcomeUnknown) EventType() string { return TypeSubmitOutcomeUnknown }

// Validate implements Event.
func (e SubmitOutcomeUnknown) Validate() error {
	c := checker{typ: TypeSubmitOutcomeUnknown}
	c.nonEmpty("order_id", e.OrderID)
	c.nonEmpty("client_order_id", e.ClientOrderID)
	c.nonEmpty("error", e.Error)
	return c.result()
}

// OrderModified says the broker accepted a change of an open order: the
// fields given are the order's new values (zero: unchanged).
type OrderModified struct {
	OrderID      string    `json:"order_id"`
	Quantity     int64     `json:"quantity,omitempty"`
	Price        Price     `json:"price,omitempty"`
	TriggerPrice Price     `json:"trigger_price,omitempty"`
	Type         OrderType `json:"type,omitempty"`
	By           string    `json:"by,omitempty"`
}

// EventType implements Event.
func (OrderModified) EventType() string { return TypeOrderModified }

// Validate implements Event.
func (e OrderModified) Validate() error {
	c := checker{typ: TypeOrderModified}
	c.nonEmpty("order_id", e.OrderID)
	c.nonNegative("quantity", e.Quantity)
	c.nonNegativePrice("price", e.Price)
	c.nonNegativePrice("trigger_price", e.TriggerPrice)
	if e.Type != "" && !e.Type.Valid() {
		c.fail("type", "must be MARKET, LIMIT, SL or SL-M, got %q", e.Type)
	}
	if e.Quantity == 0 && e.Price == 0 && e.TriggerPrice == 0 && e.Type == "" {
		c.fail("quantity", "a modification must change something")
	}
	return c.result()
}

// OrderRefused says the risk gate refused an order that no signal carried
// (a manual order), by which rule and with which numbers. Refused signals
// are SignalRejected instead.
type OrderRefused struct {
	Account  string `json:"account"`
	Exchange string `json:"exchange"`
	Symbol   string `json:"symbol"`
	Side     Side   `json:"side"`
	Quantity int64  `json:"quantity"`
	Rule     string `json:"rule"`
	Limit    int64  `json:"limit,omitempty"`
	Actual   int64  `json:"actual,omitempty"`
	Unit     string `json:"unit,omitempty"`
	Message  string `json:"message"`
	By       string `json:"by"`
}

// EventType implements Event.
func (OrderRefused) EventType() string { return TypeOrderRefused }

// Validate implements Event.
func (e OrderRefused) Validate() error {
	c := checker{typ: TypeOrderRefused}
	c.nonEmpty("account", e.Account)
	c.nonEmpty("symbol", e.Symbol)
	c.nonEmpty("rule", e.Rule)
	c.nonEmpty("message", e.Message)
	c.nonEmpty("by", e.By)
	return c.result()
}
