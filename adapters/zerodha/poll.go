package zerodha

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// Recorded is what the caller's log already holds of one order of the
// day. Seed takes it so that Poll does not report it again.
type Recorded struct {
	ClientOrderID string
	// BrokerOrderID is set when the order's acceptance is recorded.
	BrokerOrderID string
	// TradeIDs are the trade ids of the fills recorded (the TradeID of
	// Poll's FILLED reports: Kite's trade_id).
	TradeIDs []string
	// Closed is set when the order's end is recorded (rejected,
	// cancelled or filled): Poll reports no CANCELLED or REJECTED for it.
	Closed bool
}

// seed is the merged Recorded of one client order id.
type seed struct {
	accepted bool
	closed   bool
	trades   map[string]bool
}

// orderState is Poll's memory of one Kite order.
type orderState struct {
	tag      string
	accepted bool            // ACCEPTED reported, answered by Place, or seeded
	closed   bool            // the end reported (or answered by Cancel, or seeded, or COMPLETE)
	seen     int64           // quantity of the trades observed
	trades   map[string]bool // trade ids observed
}

// Seed declares what the caller has already recorded, typically from its
// log after a restart, before the first Poll: Poll then reports the rest
// and nothing of this. It may be called again; what it is told adds up.
func (b *Broker) Seed(recorded ...Recorded) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked(b.cfg.Now())
	for _, r := range recorded {
		if r.ClientOrderID == "" {
			continue
		}
		s := b.seeds[r.ClientOrderID]
		if s == nil {
			s = &seed{trades: map[string]bool{}}
			b.seeds[r.ClientOrderID] = s
		}
		s.accepted = s.accepted || r.BrokerOrderID != ""
		s.closed = s.closed || r.Closed
		for _, id := range r.TradeIDs {
			s.trades[id] = true
		}
		if r.BrokerOrderID != "" {
			if _, ok := b.ids[r.ClientOrderID]; !ok {
				b.ids[r.ClientOrderID] = r.BrokerOrderID
			}
		}
		for _, st := range b.orders {
			if st.tag == r.ClientOrderID {
				st.accepted = st.accepted || s.accepted
				st.closed = st.closed || s.closed
			}
		}
	}
}

// stateLocked returns Poll's memory of a Kite order, new ones starting
// from what Seed said of the tag. b.mu is held.
func (b *Broker) stateLocked(id, tag string) *orderState {
	st := b.orders[id]
	if st == nil {
		st = &orderState{tag: tag, trades: map[string]bool{}}
		if s := b.seeds[tag]; s != nil {
			st.accepted, st.closed = s.accepted, s.closed
		}
		b.orders[id] = st
	}
	return st
}

// polledOrder is a tagged row of the book, parsed.
type polledOrder struct {
	kiteOrder
	id, tag string
	filled  int64
	status  domain.BrokerOrderStatus
}

// fill is a trade of GET /trades, parsed.
type fill struct {
	id    string
	qty   int64
	price domain.Price
	at    time.Time
}

// Poll reports what changed at the broker since the last Poll, for every
// order with a tag: ACCEPTED once for an order it sees first (unless Place
// answered it or Seed recorded it), FILLED once per Kite trade, and
// CANCELLED or REJECTED once when the order ends, after its fills. It
// reads GET /orders, and GET /trades when an order has filled more than
// its trades seen so far. A Poll that fails reports nothing and forgets
// nothing: the next one reports what it would have. Polls are serialised.
func (b *Broker) Poll(ctx context.Context) ([]domain.ExecutionReport, error) {
	b.pollMu.Lock()
	defer b.pollMu.Unlock()
	rows, err := b.book(ctx, "poll")
	if err != nil {
		return nil, err
	}
	var book []polledOrder
	for _, o := range rows {
		tag := o.tag()
		if tag == "" || o.OrderID == "" {
			continue
		}
		filled, err := parseQty(o.FilledQuantity)
		if err != nil {
			return nil, fmt.Errorf("zerodha: poll: order %s: filled %w", o.OrderID, err)
		}
		book = append(book, polledOrder{kiteOrder: o, id: string(o.OrderID), tag: tag, filled: filled,
			status: domain.BrokerOrderStatus(o.Status)})
	}

	b.mu.Lock()
	need := false
	for _, o := range book {
		var seen int64
		if st := b.orders[o.id]; st != nil {
			seen = st.seen
		}
		if o.filled > seen {
			need = true
			break
		}
	}
	b.mu.Unlock()
	var fills map[string][]fill
	if need {
		if fills, err = b.trades(ctx); err != nil {
			return nil, err
		}
	}

	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked(now)
	var reps []domain.ExecutionReport
	for _, o := range book {
		st := b.stateLocked(o.id, o.tag)
		rep := func(k domain.ReportKind, at time.Time) domain.ExecutionReport {
			if at.IsZero() {
				at = now
			}
			return domain.ExecutionReport{Kind: k, ClientOrderID: o.tag, BrokerOrderID: o.id, At: at}
		}
		if !st.accepted && o.status != domain.BrokerRejected {
			reps = append(reps, rep(domain.ReportAccepted, o.OrderTimestamp.Time))
			st.accepted = true
		}
		s := b.seeds[o.tag]
		for _, f := range fills[o.id] {
			if st.trades[f.id] {
				continue
			}
			st.trades[f.id] = true
			st.seen += f.qty
			if s != nil && s.trades[f.id] {
				continue
			}
			r := rep(domain.ReportFilled, f.at)
			r.TradeID, r.Quantity, r.Price, r.FilledQty = f.id, f.qty, f.price, st.seen
			reps = append(reps, r)
		}
		if st.closed || !o.status.Final() {
			continue
		}
		if st.seen < o.filled {
			b.log.Info("an order ended but its trades are not all visible yet: its end waits for them",
				"account", b.cfg.Account, "client_order_id", o.tag, "broker_order_id", o.id, "status", o.status,
				"filled", o.filled, "traded", st.seen)
			continue
		}
		switch o.status {
		case domain.BrokerCancelled:
			r := rep(domain.ReportCancelled, o.updatedAt())
			r.Reason, r.FilledQty = o.StatusMessage, st.seen
			reps = append(reps, r)
		case domain.BrokerRejected:
			r := rep(domain.ReportRejected, o.updatedAt())
			r.Reason, r.FilledQty = o.StatusMessage, st.seen
			reps = append(reps, r)
		}
		st.closed = true
	}
	return reps, nil
}

// trades reads the day's trades (GET /trades), by Kite order id, each
// order's in fill time order.
func (b *Broker) trades(ctx context.Context) (map[string][]fill, error) {
	var rows []kiteTrade
	if err := b.do(ctx, "poll trades", http.MethodGet, "/trades", nil, &rows); err != nil {
		return nil, err
	}
	out := map[string][]fill{}
	for _, t := range rows {
		if t.TradeID == "" || t.OrderID == "" {
			return nil, fmt.Errorf("zerodha: poll trades: a trade without a trade id or an order id")
		}
		q, err := parseQty(t.Quantity)
		if err != nil {
			return nil, fmt.Errorf("zerodha: poll trades: trade %s: %w", t.TradeID, err)
		}
		px, exact, err := parsePrice(t.AveragePrice)
		if err != nil {
			return nil, fmt.Errorf("zerodha: poll trades: trade %s: %w", t.TradeID, err)
		}
		if !exact {
			b.log.Warn("a trade price finer than a paisa was rounded", "account", b.cfg.Account,
				"trade_id", string(t.TradeID), "price", string(t.AveragePrice), "rounded", px.String())
		}
		at := t.FillTimestamp.Time
		if at.IsZero() {
			at = t.ExchangeTimestamp.Time
		}
		out[string(t.OrderID)] = append(out[string(t.OrderID)], fill{id: string(t.TradeID), qty: q, price: px, at: at})
	}
	for _, fs := range out {
		slices.SortStableFunc(fs, func(x, y fill) int { return x.at.Compare(y.at) })
	}
	return out, nil
}
