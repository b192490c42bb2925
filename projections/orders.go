package projections

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// Order statuses, from intent to an end state. An order whose submission
// outcome is unknown stays UNKNOWN until a broker report settles it.
const (
	StatusIntent    = "INTENT"    // recorded, not yet handed to a broker
	StatusSubmitted = "SUBMITTED" // handed to the broker, no answer yet
	StatusUnknown   = "UNKNOWN"   // the broker call ended without a definite answer
	StatusOpen      = "OPEN"      // accepted by the broker, nothing filled
	StatusPartial   = "PARTIAL"   // some quantity filled
	StatusFilled    = "FILLED"    // the whole quantity filled
	StatusRejected  = "REJECTED"
	StatusCancelled = "CANCELLED" // the unfilled remainder cancelled
)

// OrderStep is one event in an order's history.
type OrderStep struct {
	Type       string    `json:"type"`
	Position   uint64    `json:"position"`
	RecordedAt time.Time `json:"recorded_at"`
	Detail     string    `json:"detail,omitempty"`
}

// Order is the order book's view of one order.
type Order struct {
	domain.OrderIntentRecorded
	Status          string       `json:"status"`
	FilledQty       int64        `json:"filled_qty"`
	AvgFillPrice    domain.Price `json:"avg_fill_price,omitempty"` // fill value / filled quantity, rounded
	FillValue       domain.Price `json:"fill_value"`
	Charges         domain.Price `json:"charges"` // the broker's, or the schedule's when it reports none (charges.go)
	BrokerOrderID   string       `json:"broker_order_id,omitempty"`
	Reason          string       `json:"reason,omitempty"`
	CreatedAt       time.Time    `json:"created_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
	Position        uint64       `json:"position"`         // of its last event
	CreatedPosition uint64       `json:"created_position"` // of its intent
	History         []OrderStep  `json:"history,omitempty"`
}

// Trade is one fill, with the order's identity copied in for filtering.
type Trade struct {
	TradeID    string         `json:"trade_id"`
	OrderID    string         `json:"order_id"`
	Account    string         `json:"account"`
	Mode       domain.Mode    `json:"mode"`
	Strategy   string         `json:"strategy,omitempty"`
	Exchange   string         `json:"exchange"`
	Symbol     string         `json:"symbol"`
	Side       domain.Side    `json:"side"`
	Product    domain.Product `json:"product"`
	Quantity   int64          `json:"quantity"`
	Price      domain.Price   `json:"price"`
	Charges    domain.Price   `json:"charges"` // as Order.Charges, this fill's share
	Position   uint64         `json:"position"`
	RecordedAt time.Time      `json:"recorded_at"`
	// FilledAt is the execution's time as the broker reported it
	// (OrderFilled.At: exchange time, event time for the paper broker);
	// zero when it gave none.
	FilledAt time.Time `json:"filled_at,omitzero"`
}

type ordersState struct {
	Orders  map[string]*Order `json:"orders"`
	Trades  []Trade           `json:"trades"` // in log order
	Orphans int64             `json:"orphan_events"`
	Bad     int64             `json:"bad_events"`
}

// Orders folds the order family into an order book with history and a
// trade list.
type Orders struct {
	state[ordersState]
	reg *codec.Registry
}

// NewOrders returns an empty order book decoding with reg.
func NewOrders(reg *codec.Registry) *Orders {
	return &Orders{state: state[ordersState]{st: ordersState{Orders: map[string]*Order{}, Trades: []Trade{}}}, reg: reg}
}

// Name implements Projection.
func (*Orders) Name() string { return "orders" }

// Version implements Projection.
// 2: charges computed by the schedule when the broker reports none, as in
// positions; 3: OrderModified; 4: trades' filled_at (OrderFilled.At).
func (*Orders) Version() int { return 4 }

var orderTypes = []string{domain.TypeOrderIntentRecorded, domain.TypeOrderSubmitted, domain.TypeOrderAccepted,
	domain.TypeOrderRejected, domain.TypeOrderFilled, domain.TypeOrderCancelled, domain.TypeSubmitOutcomeUnknown,
	domain.TypeOrderModified}

// Filter implements Projection.
func (*Orders) Filter() eventstore.Filter {
	return eventstore.Filter{StreamPrefix: "order-", Types: slices.Clone(orderTypes)}
}

// Apply implements Projection.
func (o *Orders) Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		if !slices.Contains(orderTypes, ev.Type) {
			continue
		}
		de, err := o.reg.Decode(ev)
		if err != nil {
			o.st.Bad++
			continue
		}
		o.apply(de, ev)
	}
	o.advance(upTo)
}

func (o *Orders) apply(de domain.Event, ev *eventstore.RecordedEvent) {
	pos, at := uint64(ev.Position), ev.RecordedAt.UTC()
	if intent, ok := de.(domain.OrderIntentRecorded); ok {
		if _, dup := o.st.Orders[intent.OrderID]; dup {
			o.st.Orphans++ // a second intent for one id: keep the first
			return
		}
		o.st.Orders[intent.OrderID] = &Order{OrderIntentRecorded: intent, Status: StatusIntent, CreatedAt: at, UpdatedAt: at,
			Position: pos, CreatedPosition: pos, History: []OrderStep{{Type: ev.Type, Position: pos, RecordedAt: at}}}
		return
	}
	var id, detail string
	switch e := de.(type) {
	case domain.OrderSubmitted:
		id, detail = e.OrderID, e.Broker
	case domain.OrderAccepted:
		id, detail = e.OrderID, e.BrokerOrderID
	case domain.OrderRejected:
		id, detail = e.OrderID, e.Reason
	case domain.OrderFilled:
		id, detail = e.OrderID, fmt.Sprintf("%d @ %s", e.Quantity, e.Price)
	case domain.OrderCancelled:
		id, detail = e.OrderID, e.Reason
	case domain.SubmitOutcomeUnknown:
		id, detail = e.OrderID, e.Error
	case domain.OrderModified:
		id, detail = e.OrderID, e.By
	default:
		return
	}
	ord := o.st.Orders[id]
	if ord == nil {
		o.st.Orphans++
		return
	}
	ord.History = append(ord.History, OrderStep{Type: ev.Type, Position: pos, RecordedAt: at, Detail: detail})
	ord.UpdatedAt, ord.Position = at, pos
	final := func() bool {
		return ord.Status == StatusFilled || ord.Status == StatusRejected || ord.Status == StatusCancelled
	}
	switch e := de.(type) {
	case domain.OrderSubmitted:
		if ord.Status == StatusIntent {
			ord.Status = StatusSubmitted
		}
	case domain.SubmitOutcomeUnknown:
		if ord.Status == StatusIntent || ord.Status == StatusSubmitted {
			ord.Status = StatusUnknown
		}
	case domain.OrderModified:
		if e.Quantity > 0 {
			ord.Quantity = e.Quantity
		}
		if e.Price > 0 {
			ord.Price = e.Price
		}
		if e.TriggerPrice > 0 {
			ord.TriggerPrice = e.TriggerPrice
		}
		if e.Type != "" {
			ord.Type = e.Type
		}
	case domain.OrderAccepted:
		ord.BrokerOrderID = e.BrokerOrderID
		if !final() && ord.FilledQty == 0 {
			ord.Status = StatusOpen
		}
	case domain.OrderRejected:
		ord.Reason = e.Reason
		if ord.FilledQty == 0 {
			ord.Status = StatusRejected
		}
	case domain.OrderCancelled:
		ord.Reason = e.Reason
		if ord.Status != StatusFilled {
			ord.Status = StatusCancelled
		}
	case domain.OrderFilled:
		value := domain.Price(e.Quantity) * e.Price
		charges := fillCharges(e.Charges, domain.ChargeSegmentOf(ord.Exchange, ord.Symbol), ord.Side, ord.FillValue, value)
		ord.FilledQty += e.Quantity
		ord.FillValue += value
		ord.Charges += charges
		ord.AvgFillPrice = domain.Price(domain.MulDivRound(int64(ord.FillValue), 1, ord.FilledQty))
		if ord.FilledQty >= ord.Quantity {
			ord.Status = StatusFilled
		} else if ord.Status != StatusCancelled {
			ord.Status = StatusPartial
		}
		o.st.Trades = append(o.st.Trades, Trade{TradeID: e.TradeID, OrderID: e.OrderID, Account: ord.Account, Mode: ord.Mode,
			Strategy: ord.Strategy, Exchange: ord.Exchange, Symbol: ord.Symbol, Side: ord.Side, Product: ord.Product,
			Quantity: e.Quantity, Price: e.Price, Charges: charges, Position: pos, RecordedAt: at, FilledAt: e.At})
	}
}

// UnmarshalState implements Projection.
func (o *Orders) UnmarshalState(b []byte) error {
	return o.load(b, "orders", ordersState{}, func(st *ordersState) error {
		if st.Orders == nil {
			st.Orders = map[string]*Order{}
		}
		if st.Trades == nil {
			st.Trades = []Trade{}
		}
		return nil
	})
}

// OrderQuery selects orders or trades. Accounts nil means every account;
// empty fields match everything. Page through results with After (the
// position of the last item of the previous page) and Limit.
type OrderQuery struct {
	Accounts []string
	Mode     domain.Mode
	Strategy string
	Symbol   string
	Status   string // orders only
	After    uint64
	Limit    int
}

func (q *OrderQuery) match(account string, mode domain.Mode, strategy, exchange, symbol string) bool {
	return (q.Accounts == nil || slices.Contains(q.Accounts, account)) && (q.Mode == "" || q.Mode == mode) &&
		(q.Strategy == "" || q.Strategy == strategy) && (q.Symbol == "" || q.Symbol == symbol || q.Symbol == exchange+":"+symbol)
}

// Order returns a copy of one order, if the query's accounts may see it.
func (o *Orders) Order(id string, accounts []string) (Order, eventstore.Position, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	ord := o.st.Orders[id]
	if ord == nil || accounts != nil && !slices.Contains(accounts, ord.Account) {
		return Order{}, 0, false
	}
	c := *ord
	c.History = slices.Clone(ord.History)
	return c, o.at(), true
}

// List returns the orders q selects in creation order (by the position of
// their intent), after q.After, at most q.Limit (0: all), without history.
func (o *Orders) List(q OrderQuery) ([]Order, eventstore.Position) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var sel []*Order
	for _, ord := range o.st.Orders {
		if ord.CreatedPosition > q.After && (q.Status == "" || q.Status == ord.Status) &&
			q.match(ord.Account, ord.Mode, ord.Strategy, ord.Exchange, ord.Symbol) {
			sel = append(sel, ord)
		}
	}
	slices.SortFunc(sel, func(a, b *Order) int { return cmp.Compare(a.CreatedPosition, b.CreatedPosition) })
	if q.Limit > 0 && len(sel) > q.Limit {
		sel = sel[:q.Limit]
	}
	out := make([]Order, 0, len(sel))
	for _, ord := range sel {
		c := *ord
		c.History = nil
		out = append(out, c)
	}
	return out, o.at()
}

// Trades returns the fills q selects in log order, after q.After, at most
// q.Limit (0: all).
func (o *Orders) Trades(q OrderQuery) ([]Trade, eventstore.Position) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	start, _ := slices.BinarySearchFunc(o.st.Trades, q.After+1, func(t Trade, p uint64) int {
		switch {
		case t.Position < p:
			return -1
		case t.Position > p:
			return 1
		}
		return 0
	})
	out := []Trade{}
	for _, t := range o.st.Trades[start:] {
		if q.match(t.Account, t.Mode, t.Strategy, t.Exchange, t.Symbol) {
			out = append(out, t)
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
	}
	return out, o.at()
}
