package domain

import (
	"errors"
	"time"
)

// ErrOrderNotSent wraps a broker error that proves the request never
// reached the broker (the connection was refused, the request could not
// be built): the order may be sent again. Every other error from placing
// an order is an unknown outcome, to be resolved by looking the order up
// by its client order id, never by resubmitting it.
var ErrOrderNotSent = errors.New("order not sent")

// Broker-side views of orders and positions, shared by the broker adapters
// (paper, zerodha) and the engine that calls them. The engine declares the
// broker port it needs; adapters return these types.

// BrokerOrderStatus is a broker's status of one order.
type BrokerOrderStatus string

// Broker order statuses (Kite's names).
const (
	BrokerOpen           BrokerOrderStatus = "OPEN"
	BrokerTriggerPending BrokerOrderStatus = "TRIGGER PENDING"
	BrokerComplete       BrokerOrderStatus = "COMPLETE"
	BrokerCancelled      BrokerOrderStatus = "CANCELLED"
	BrokerRejected       BrokerOrderStatus = "REJECTED"
)

// Final reports whether the status can no longer change.
func (s BrokerOrderStatus) Final() bool {
	return s == BrokerComplete || s == BrokerCancelled || s == BrokerRejected
}

// BrokerOrder is the broker's view of one order.
type BrokerOrder struct {
	BrokerOrderID string            `json:"broker_order_id"`
	ClientOrderID string            `json:"client_order_id"` // Kite's tag; the engine's deterministic id
	Account       string            `json:"account"`
	Exchange      string            `json:"exchange"`
	Symbol        string            `json:"symbol"`
	Side          Side              `json:"side"`
	Type          OrderType         `json:"type"`
	Product       Product           `json:"product"`
	Quantity      int64             `json:"quantity"`
	FilledQty     int64             `json:"filled_qty"`
	Price         Price             `json:"price,omitempty"`
	TriggerPrice  Price             `json:"trigger_price,omitempty"`
	AvgPrice      Price             `json:"avg_price,omitempty"`
	Status        BrokerOrderStatus `json:"status"`
	Reason        string            `json:"reason,omitempty"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

// BrokerPosition is the broker's net position in one instrument and
// product. Quantity is signed: negative is short.
type BrokerPosition struct {
	Account  string  `json:"account"`
	Exchange string  `json:"exchange"`
	Symbol   string  `json:"symbol"`
	Product  Product `json:"product"`
	Quantity int64   `json:"quantity"`
	AvgPrice Price   `json:"avg_price"`
}

// BrokerHolding is a delivery holding (CNC) at the broker.
type BrokerHolding struct {
	Account  string `json:"account"`
	Exchange string `json:"exchange"`
	Symbol   string `json:"symbol"`
	Quantity int64  `json:"quantity"`
	AvgPrice Price  `json:"avg_price"`
}

// ReportKind is what an execution report says happened.
type ReportKind string

// Execution report kinds.
const (
	ReportAccepted  ReportKind = "ACCEPTED"
	ReportRejected  ReportKind = "REJECTED"
	ReportFilled    ReportKind = "FILLED" // one execution; partial fills repeat
	ReportCancelled ReportKind = "CANCELLED"
	ReportModified  ReportKind = "MODIFIED"
)

// ExecutionReport is one change of one order at the broker. The engine
// turns each into an order event (OrderAccepted, OrderRejected,
// OrderFilled, OrderCancelled). At is the broker's (for the paper broker:
// the simulated, event-time) instant of the change.
type ExecutionReport struct {
	Kind          ReportKind `json:"kind"`
	ClientOrderID string     `json:"client_order_id"`
	BrokerOrderID string     `json:"broker_order_id,omitempty"`
	TradeID       string     `json:"trade_id,omitempty"`   // FILLED
	Quantity      int64      `json:"quantity,omitempty"`   // FILLED: this execution
	Price         Price      `json:"price,omitempty"`      // FILLED: this execution's price
	FilledQty     int64      `json:"filled_qty,omitempty"` // cumulative after this report
	Charges       Price      `json:"charges,omitempty"`    // FILLED: the broker's charges, if it reports them
	Reason        string     `json:"reason,omitempty"`     // REJECTED, CANCELLED
	At            time.Time  `json:"at"`
}

// OrderChange is a modification of an open order: zero fields are left as
// they are.
type OrderChange struct {
	Quantity     int64     `json:"quantity,omitempty"`
	Price        Price     `json:"price,omitempty"`
	TriggerPrice Price     `json:"trigger_price,omitempty"`
	Type         OrderType `json:"type,omitempty"`
}
