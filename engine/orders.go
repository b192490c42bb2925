package engine

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/risk"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
)

// Order statuses as the engine tracks them.
const (
	orderIntent    = "intent"
	orderSubmitted = "submitted"
	orderUnknown   = "unknown"
	orderOpen      = "open"
	orderPartial   = "partial"
	orderFilled    = "filled"
	orderRejected  = "rejected"
	orderCancelled = "cancelled"
)

// order is the engine's view of one order, folded from its stream.
type order struct {
	intent        domain.OrderIntentRecorded
	status        string
	filled        int64
	brokerOrderID string
	trades        map[string]bool // trade ids folded: a repeated report adds nothing
	// settled is closed when the placing (or lookup) queued to a remote
	// broker has its answer recorded; nil when none was queued.
	settled chan struct{}
}

// closeStrategyBooksLocked books a fill of an order no strategy placed
// that closes positions (flattening after a stop or the kill switch, the
// broker's square-off) against the strategies' open positions in the
// instrument, in strategy order, so that their P&L shows them closed at
// the fill's price; each such strategy is told (a Fill without a leg), so
// that it does not go on believing it holds the position. q is signed
// (buys positive); by is "flatten" or "broker". e.mu is held.
func (e *Engine) closeStrategyBooksLocked(pk posKey, q int64, price domain.Price, at time.Time, by string) {
	var keys []stratKey
	for k, b := range e.stratBooks {
		if k.account == pk.account && k.instrument == pk.instrument && b.Qty != 0 && (b.Qty > 0) != (q > 0) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b stratKey) int { return strings.Compare(a.strategy, b.strategy) })
	for _, k := range keys {
		if q == 0 {
			return
		}
		b := e.stratBooks[k]
		take := q
		if abs(take) > abs(b.Qty) {
			take = -b.Qty
		}
		b.fill(take, price)
		q -= take
		if r := e.runners[k.account][k.strategy]; r != nil {
			reason := "closed by flattening (a stop or the kill switch)"
			if by == "broker" {
				reason = "squared off by the broker"
			}
			side := domain.Buy
			if take < 0 {
				side = domain.Sell
			}
			ex, sym := splitKey(pk.instrument)
			e.queueNoteLocked(fillNote{r: r, fill: strategy.Fill{Exchange: ex, Symbol: sym, Side: side, Quantity: abs(take),
				Price: price, At: at, Done: true, Reason: reason}})
		}
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (o *order) open() bool {
	switch o.status {
	case orderIntent, orderSubmitted, orderUnknown, orderOpen, orderPartial:
		return true
	}
	return false
}

// foldOrder applies an order event. e.mu is held.
func (e *Engine) foldOrder(de domain.Event, at time.Time) {
	if in, ok := de.(domain.OrderIntentRecorded); ok {
		if e.orders[in.OrderID] == nil {
			e.orders[in.OrderID] = &order{intent: in, status: orderIntent, trades: map[string]bool{}}
		}
		return
	}
	var id string
	switch ev := de.(type) {
	case domain.OrderSubmitted:
		id = ev.OrderID
	case domain.OrderAccepted:
		id = ev.OrderID
	case domain.OrderRejected:
		id = ev.OrderID
	case domain.OrderFilled:
		id = ev.OrderID
	case domain.OrderCancelled:
		id = ev.OrderID
	case domain.SubmitOutcomeUnknown:
		id = ev.OrderID
	case domain.OrderModified:
		id = ev.OrderID
	}
	o := e.orders[id]
	if o == nil {
		return
	}
	switch ev := de.(type) {
	case domain.OrderSubmitted:
		if o.status == orderIntent {
			o.status = orderSubmitted
		}
	case domain.SubmitOutcomeUnknown:
		if o.status == orderIntent || o.status == orderSubmitted {
			o.status = orderUnknown
		}
	case domain.OrderAccepted:
		o.brokerOrderID = ev.BrokerOrderID
		if o.open() && o.filled == 0 {
			o.status = orderOpen
		}
	case domain.OrderRejected:
		if o.filled == 0 {
			o.status = orderRejected
		}
		e.noteOrderLocked(o, 0, 0, time.Time{}, "rejected: "+ev.Reason)
	case domain.OrderFilled:
		if o.trades[ev.TradeID] {
			return
		}
		o.trades[ev.TradeID] = true
		o.filled += ev.Quantity
		q := ev.Quantity
		if o.intent.Side == domain.Sell {
			q = -q
		}
		pk := posKey{o.intent.Account, o.intent.Exchange + ":" + o.intent.Symbol}
		e.byProd[prodKey{pk, o.intent.Product}] += q
		e.bookLocked(pk).fill(q, ev.Price)
		switch o.intent.Strategy {
		case "":
		case "flatten", "broker":
			e.closeStrategyBooksLocked(pk, q, ev.Price, ev.At, o.intent.Strategy)
		default:
			sk := stratKey{pk.account, o.intent.Strategy, pk.instrument}
			sb := e.stratBooks[sk]
			if sb == nil {
				sb = &book{}
				e.stratBooks[sk] = sb
			}
			sb.fill(q, ev.Price)
		}
		if o.filled >= o.intent.Quantity {
			o.status = orderFilled
		} else if o.status != orderCancelled {
			o.status = orderPartial
		}
		e.noteOrderLocked(o, ev.Quantity, ev.Price, ev.At, "")
	case domain.OrderCancelled:
		if o.status != orderFilled {
			o.status = orderCancelled
		}
		e.noteOrderLocked(o, 0, 0, time.Time{}, "cancelled: "+ev.Reason)
	case domain.OrderModified:
		if ev.Quantity > 0 {
			o.intent.Quantity = ev.Quantity
		}
		if ev.Price > 0 {
			o.intent.Price = ev.Price
		}
		if ev.TriggerPrice > 0 {
			o.intent.TriggerPrice = ev.TriggerPrice
		}
		if ev.Type != "" {
			o.intent.Type = ev.Type
		}
	}
}

// ClientOrderID returns the deterministic client order id of one leg of a
// signal: the same (source, signal, leg) always gives the same id, so a
// retried or replayed decision finds the order instead of placing a second
// one. It is 20 characters of [A-Z2-7] (Kite's tag allows 20).
func ClientOrderID(source, signalID string, leg int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", source, signalID, leg))
	return "A" + base32.StdEncoding.EncodeToString(sum[:])[:19]
}

// OrderRequest is a manual order (POST /api/v1/orders).
type OrderRequest struct {
	Account      string
	Exchange     string // "" with Symbol "EXCHANGE:SYMBOL", or NFO by default
	Symbol       string
	Side         domain.Side
	Quantity     int64
	Type         domain.OrderType
	Price        domain.Price
	TriggerPrice domain.Price
	Product      domain.Product
	// IdempotencyKey makes a retried request answer with the first
	// order; empty: every request is a new order.
	IdempotencyKey string
}

// OrderResult is what became of an order request.
type OrderResult struct {
	OrderID       string `json:"order_id"`
	ClientOrderID string `json:"client_order_id"`
	Status        string `json:"status"`
	BrokerOrderID string `json:"broker_order_id,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Duplicate     bool   `json:"duplicate,omitempty"`
}

func (e *Engine) resultOf(o *order) OrderResult {
	return OrderResult{OrderID: o.intent.OrderID, ClientOrderID: o.intent.ClientOrderID, Status: o.status, BrokerOrderID: o.brokerOrderID}
}

// normalise fills in the exchange and defaults of a request and checks it.
func (r *OrderRequest) normalise() error {
	if ex, sym, ok := strings.Cut(r.Symbol, ":"); ok && r.Exchange == "" {
		r.Exchange, r.Symbol = ex, sym
	}
	if r.Exchange == "" {
		r.Exchange = domain.ExchangeNFO
	}
	if r.Type == "" {
		r.Type = domain.Market
	}
	if r.Product == "" {
		r.Product = domain.MIS
	}
	bad := func(field, format string, args ...any) error {
		return &domain.CommandError{Code: domain.CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.Account == "":
		return bad("account", "must not be empty")
	case r.Symbol == "":
		return bad("symbol", "must not be empty")
	case !r.Side.Valid():
		return bad("side", "must be BUY or SELL, got %q", r.Side)
	case r.Quantity <= 0:
		return bad("quantity", "must be > 0, got %d", r.Quantity)
	case !r.Type.Valid():
		return bad("type", "must be MARKET, LIMIT, SL or SL-M, got %q", r.Type)
	case !r.Product.Valid():
		return bad("product", "must be MIS, NRML or CNC, got %q", r.Product)
	case (r.Type == domain.Limit || r.Type == domain.StopLimit) && r.Price <= 0:
		return bad("price", "must be > 0 for a %s order", r.Type)
	case (r.Type == domain.StopLimit || r.Type == domain.StopMkt) && r.TriggerPrice <= 0:
		return bad("trigger_price", "must be > 0 for a %s order", r.Type)
	case r.Type == domain.Market && r.Price != 0:
		return bad("price", "a MARKET order takes no price")
	}
	return nil
}

// resolveSymbol maps the request's symbol to the instrument master's canonical
// exchange and tradingsymbol (aliases such as NIFTY-I resolve as of at).
func (e *Engine) resolveSymbol(r *OrderRequest, at time.Time) error {
	if e.cfg.Resolve == nil || r.Symbol == "" {
		return nil
	}
	name := r.Symbol
	if r.Exchange != "" && !strings.Contains(name, ":") {
		name = r.Exchange + ":" + name
	}
	in, err := e.cfg.Resolve(name, at)
	if err != nil {
		return &domain.CommandError{Code: domain.CodeInvalid, Field: "symbol", Message: err.Error()}
	}
	r.Exchange, r.Symbol = in.Exchange, in.Symbol
	return nil
}

// PlaceOrder places a manual order for an account that is trading: the
// intent is recorded before the broker is called.
func (e *Engine) PlaceOrder(ctx context.Context, a Actor, r OrderRequest) (OrderResult, error) {
	if err := e.resolveSymbol(&r, e.cfg.Now()); err != nil {
		return OrderResult{}, err
	}
	if err := r.normalise(); err != nil {
		return OrderResult{}, err
	}
	if err := a.mayTouch(r.Account); err != nil {
		return OrderResult{}, err
	}
	key := r.IdempotencyKey
	if key == "" {
		k, err := uuidString()
		if err != nil {
			return OrderResult{}, err
		}
		key = k
	}
	cid := ClientOrderID("manual:"+a.User, key, 0)
	e.mu.Lock()
	o, dup, err := e.placeLocked(ctx, a, r, cid)
	var settled chan struct{}
	if o != nil {
		settled = o.settled
	}
	e.mu.Unlock()
	if err != nil {
		return OrderResult{}, err
	}
	// A remote broker is called without the lock: wait for its answer
	// (or ctx) and report the order as it then is.
	waitSettled(ctx, settled)
	e.mu.Lock()
	defer e.mu.Unlock()
	res := e.resultOf(o)
	res.Duplicate = dup
	return res, nil
}

// placeLocked decides a manual order with client order id cid: the
// order, or the one a first request with the same id placed (dup). e.mu
// is held.
func (e *Engine) placeLocked(ctx context.Context, a Actor, r OrderRequest, cid string) (o *order, dup bool, err error) {
	if o := e.orders[cid]; o != nil {
		return o, true, nil
	}
	c := e.controlLocked(r.Account)
	if err := e.canTradeLocked(c); err != nil {
		return nil, false, err
	}
	in := domain.OrderIntentRecorded{OrderID: cid, ClientOrderID: cid, Account: r.Account, Mode: c.Mode,
		Exchange: r.Exchange, Symbol: r.Symbol, Side: r.Side, Quantity: r.Quantity, Type: r.Type, Product: r.Product,
		Price: r.Price, TriggerPrice: r.TriggerPrice}
	if err := in.Validate(); err != nil {
		return nil, false, &domain.CommandError{Code: domain.CodeInvalid, Message: err.Error()}
	}
	md := eventstore.Metadata{User: a.User, Account: r.Account, Source: "manual"}
	at := e.cfg.Now()
	d := e.checkLocked(in, at, false)
	ref, refused := d.Refusal()
	if !refused && len(d.Slices) > 1 {
		ref, refused = risk.Refusal{Rule: "freeze_quantity", Limit: d.Slices[0], Actual: in.Quantity, Unit: "qty",
			Message: fmt.Sprintf("%d is over the freeze quantity: send it as a signal (sliced) or in orders of at most %d", in.Quantity, d.Slices[0])}, true
	}
	if !refused {
		ref, refused = e.admitLocked(r.Account, at, 1)
	}
	if refused {
		ev := domain.OrderRefused{Account: r.Account, Exchange: in.Exchange, Symbol: in.Symbol, Side: in.Side, Quantity: in.Quantity,
			Rule: string(ref.Rule), Limit: ref.Limit, Actual: ref.Actual, Unit: string(ref.Unit), Message: ref.Message, By: a.User}
		if err := e.append(ctx, domain.RiskStream(r.Account), "", md, ev); err != nil {
			return nil, false, err
		}
		return nil, false, &domain.CommandError{Code: domain.CodeRefused, Rule: string(ref.Rule), Message: ref.Message}
	}
	o, err = e.route(ctx, in, md)
	return o, false, err
}

func canTrade(c *domain.TradingControl) error {
	switch {
	case c.Kill:
		return &domain.CommandError{Code: domain.CodeRefused, Rule: "kill_switch",
			Message: fmt.Sprintf("the kill switch of %s is active: %s", c.Account, c.KillReason)}
	case c.State != domain.ControlRunning:
		return &domain.CommandError{Code: domain.CodeConflict, Message: fmt.Sprintf("%s is %s: start trading first", c.Account, c.State)}
	}
	return nil
}

// brokerLocked returns the broker of an account in a mode. e.mu is held.
func (e *Engine) brokerLocked(account string, mode domain.Mode) (Broker, error) {
	k := brokerKey{account, mode}
	if b := e.brokers[k]; b != nil {
		return b, nil
	}
	if e.cfg.BrokerFor == nil {
		return nil, &domain.CommandError{Code: domain.CodeConflict, Message: "no broker is configured"}
	}
	b, err := e.cfg.BrokerFor(account, mode)
	if err != nil {
		return nil, fmt.Errorf("engine: broker for %s (%s): %w", account, mode, err)
	}
	e.brokers[k] = b
	e.fillers = nil
	return b, nil
}

// route records the intent, then calls the broker and records what it
// said. An ambiguous outcome is recorded as SubmitOutcomeUnknown and looked
// up by client order id, never resubmitted. e.mu is held.
func (e *Engine) route(ctx context.Context, in domain.OrderIntentRecorded, md eventstore.Metadata) (*order, error) {
	b, err := e.brokerLocked(in.Account, in.Mode)
	if err != nil {
		return nil, err
	}
	stream := domain.OrderStream(in.OrderID)
	if err := e.append(ctx, stream, in.ClientOrderID, md, in); err != nil {
		return nil, err
	}
	o := e.orders[in.OrderID]
	if o.status != orderIntent { // a retry found the order further along
		return o, nil
	}
	return o, e.submit(ctx, o, b, md)
}

// submit calls the broker for an order whose intent is recorded and that
// was never submitted (o.status intent): a simulated broker at once, a
// remote one by queueing the call (remote.go). e.mu is held.
func (e *Engine) submit(ctx context.Context, o *order, b Broker, md eventstore.Metadata) error {
	in := o.intent
	stream := domain.OrderStream(in.OrderID)
	if remote(b) && e.closing {
		return e.append(ctx, stream, "", md, domain.OrderRejected{OrderID: in.OrderID, Code: "not_sent", Reason: errStopping.Message})
	}
	if err := e.append(ctx, stream, "", md, domain.OrderSubmitted{OrderID: in.OrderID, ClientOrderID: in.ClientOrderID, Broker: b.Name()}); err != nil {
		return err
	}
	if remote(b) {
		return e.enqueueLocked(ctx, brokerKey{in.Account, in.Mode}, b, brokerCall{kind: callPlace, o: o, in: in, md: md})
	}
	rep, err := b.Place(ctx, in)
	unknown, err := e.afterPlaceLocked(ctx, o, b, md, rep, err)
	if err != nil || !unknown {
		return err
	}
	return e.resolve(ctx, o, b, md)
}

// afterPlaceLocked records what Place answered, a report or an error;
// unknown is true when the outcome is unknown and the order is to be
// looked up. e.mu is held.
func (e *Engine) afterPlaceLocked(ctx context.Context, o *order, b Broker, md eventstore.Metadata, rep domain.ExecutionReport, err error) (unknown bool, _ error) {
	in := o.intent
	stream := domain.OrderStream(in.OrderID)
	if err != nil && o.status != orderSubmitted {
		// A report polled while the call was in flight settled it.
		e.log.Warn("the broker's answer to a placing came after its report", "order", in.OrderID, "status", o.status, "err", err)
		return false, nil
	}
	switch {
	case errors.Is(err, domain.ErrOrderNotSent):
		return false, e.append(ctx, stream, "", md, domain.OrderRejected{OrderID: in.OrderID, Code: "not_sent", Reason: "the order did not reach the broker: " + err.Error()})
	case err != nil:
		return true, e.append(ctx, stream, "", md, domain.SubmitOutcomeUnknown{OrderID: in.OrderID, ClientOrderID: in.ClientOrderID, Error: err.Error()})
	}
	return false, e.record(ctx, rep, md)
}

// resolve looks an order of unknown outcome up at the broker by its client
// order id and records what it finds (a remote broker: by queueing the
// lookup). A lookup that fails leaves it unknown (and trading on the
// account goes on: the order counts as open). e.mu is held.
func (e *Engine) resolve(ctx context.Context, o *order, b Broker, md eventstore.Metadata) error {
	if remote(b) {
		return e.enqueueLocked(ctx, brokerKey{o.intent.Account, o.intent.Mode}, b, brokerCall{kind: callResolve, o: o, in: o.intent, md: md})
	}
	bo, found, err := b.Lookup(ctx, o.intent.ClientOrderID)
	return e.afterLookupLocked(ctx, o, md, bo, found, err)
}

// afterLookupLocked records what a lookup of an order of unknown outcome
// found. e.mu is held.
func (e *Engine) afterLookupLocked(ctx context.Context, o *order, md eventstore.Metadata, bo domain.BrokerOrder, found bool, err error) error {
	in := o.intent
	stream := domain.OrderStream(in.OrderID)
	if o.status != orderSubmitted && o.status != orderUnknown {
		return nil // a report polled meanwhile settled it
	}
	if err != nil {
		e.log.Warn("order outcome still unknown: lookup failed", "order", in.OrderID, "err", err)
		return nil
	}
	if !found {
		return e.append(ctx, stream, "", md, domain.OrderRejected{OrderID: in.OrderID, Code: "not_at_broker",
			Reason: "the broker has no order with this client order id (looked up after an unknown outcome)"})
	}
	evs := []domain.Event{domain.OrderAccepted{OrderID: in.OrderID, BrokerOrderID: bo.BrokerOrderID}}
	switch bo.Status {
	case domain.BrokerRejected:
		evs = []domain.Event{domain.OrderRejected{OrderID: in.OrderID, Code: "broker", Reason: orDefault(bo.Reason, "rejected by the broker")}}
	case domain.BrokerCancelled:
		evs = append(evs, domain.OrderCancelled{OrderID: in.OrderID, Reason: orDefault(bo.Reason, "cancelled at the broker")})
	}
	if bo.FilledQty > 0 {
		e.log.Warn("order found filled after an unknown outcome: its fills arrive as broker reports",
			"order", in.OrderID, "filled", bo.FilledQty)
	}
	return e.append(ctx, stream, "", md, evs...)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// record turns a broker report into order events (recordFrom adopts the
// orders a broker placed itself first). e.mu is held.
func (e *Engine) record(ctx context.Context, r domain.ExecutionReport, md eventstore.Metadata) error {
	o := e.orders[r.ClientOrderID]
	if o == nil {
		e.log.Warn("broker report for an order the engine does not know", "client_order_id", r.ClientOrderID, "kind", r.Kind)
		return nil
	}
	id := o.intent.OrderID
	var ev domain.Event
	switch r.Kind {
	case domain.ReportAccepted:
		if o.brokerOrderID != "" && o.status != orderSubmitted && o.status != orderUnknown {
			return nil
		}
		ev = domain.OrderAccepted{OrderID: id, BrokerOrderID: r.BrokerOrderID}
	case domain.ReportRejected:
		if !o.open() {
			return nil // a repeat, or news of an order that ended otherwise
		}
		ev = domain.OrderRejected{OrderID: id, Code: "broker", Reason: orDefault(r.Reason, "rejected by the broker")}
	case domain.ReportFilled:
		if o.trades[r.TradeID] {
			return nil
		}
		ev = domain.OrderFilled{OrderID: id, TradeID: r.TradeID, Quantity: r.Quantity, Price: r.Price,
			FilledQty: max(r.FilledQty, o.filled+r.Quantity), Charges: r.Charges, At: r.At}
	case domain.ReportCancelled:
		if !o.open() {
			return nil
		}
		ev = domain.OrderCancelled{OrderID: id, Reason: orDefault(r.Reason, "cancelled")}
	case domain.ReportModified:
		return nil // recorded by ModifyOrder, which knows the change
	default:
		return fmt.Errorf("engine: unknown report kind %q", r.Kind)
	}
	return e.append(ctx, domain.OrderStream(id), "", md, ev)
}

// onTick hands the tick at log position pos (event id cause) to every
// simulated broker, in account order, and records their executions; then
// to the strategies. What it appends carries the tick's id as causation.
func (e *Engine) onTick(ctx context.Context, t domain.Tick, pos eventstore.Position, cause uuid.UUID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cause = cause
	defer func() { e.cause, e.followed = uuid.Nil, max(e.followed, pos) }()
	// After the brokers' fills: retry flattening, the strategies, the
	// kill-switch check, then the notes the tick caused (and those of
	// events before it), in this order live and on replay.
	defer e.deliverFillsLocked(ctx, pos, cause)
	defer e.observeTickLocked(ctx, t)
	defer e.runStrategiesLocked(ctx, t, pos)
	defer e.retryFlattenLocked(ctx, t)
	if e.fillers == nil {
		e.fillers = make([]brokerKey, 0, len(e.brokers))
		for k, b := range e.brokers {
			if _, ok := b.(TickFiller); ok {
				e.fillers = append(e.fillers, k)
			}
		}
		slices.SortFunc(e.fillers, func(a, b brokerKey) int {
			if a.account != b.account {
				return strings.Compare(a.account, b.account)
			}
			return strings.Compare(string(a.mode), string(b.mode))
		})
	}
	for _, k := range e.fillers {
		b := e.brokers[k]
		f := b.(TickFiller)
		for _, r := range f.OnTick(t) {
			md := eventstore.Metadata{Account: k.account, Source: "broker:" + b.Name()}
			if err := e.recordFrom(ctx, b, k, r, md, nil); err != nil {
				e.log.Error("recording a broker report failed", "client_order_id", r.ClientOrderID, "kind", r.Kind, "err", err)
			}
		}
	}
}

// lookedUp is what a broker's Lookup answered.
type lookedUp struct {
	bo    domain.BrokerOrder
	found bool
	err   error
}

// recordFrom records a report of broker b (of account and mode k); a report
// of an order the engine does not know is adopted as the broker knows it,
// from looked when it was looked up already (without e.mu), else by asking
// b now. e.mu is held.
func (e *Engine) recordFrom(ctx context.Context, b Broker, k brokerKey, r domain.ExecutionReport, md eventstore.Metadata, looked map[string]lookedUp) error {
	if e.orders[r.ClientOrderID] == nil {
		l, ok := looked[r.ClientOrderID]
		if !ok {
			l.bo, l.found, l.err = b.Lookup(ctx, r.ClientOrderID)
		}
		bo, found, err := l.bo, l.found, l.err
		if err != nil {
			return fmt.Errorf("engine: look up the broker's order %s: %w", r.ClientOrderID, err)
		}
		if !found {
			e.log.Warn("broker report for an order neither the engine nor the broker knows", "client_order_id", r.ClientOrderID, "kind", r.Kind)
			return nil
		}
		in := domain.OrderIntentRecorded{OrderID: bo.ClientOrderID, ClientOrderID: bo.ClientOrderID, Account: k.account, Mode: k.mode,
			Strategy: "broker", Exchange: bo.Exchange, Symbol: bo.Symbol, Side: bo.Side, Quantity: bo.Quantity, Type: bo.Type,
			Product: bo.Product, Price: bo.Price, TriggerPrice: bo.TriggerPrice}
		if err := in.Validate(); err != nil {
			return fmt.Errorf("engine: adopt the broker's order %s: %w", r.ClientOrderID, err)
		}
		e.log.Info("adopting an order the broker placed itself", "client_order_id", r.ClientOrderID, "account", k.account, "symbol", bo.Symbol)
		if err := e.append(ctx, domain.OrderStream(in.OrderID), in.ClientOrderID, md, in); err != nil {
			return err
		}
	}
	return e.record(ctx, r, md)
}

// CancelOrder cancels an open order.
func (e *Engine) CancelOrder(ctx context.Context, a Actor, orderID string) (OrderResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.orders[orderID]
	if o == nil || (a.CanSee != nil && !a.CanSee(o.intent.Account)) {
		return OrderResult{}, &domain.CommandError{Code: domain.CodeNotFound, Message: fmt.Sprintf("no order %q", orderID)}
	}
	if err := a.mayTouch(o.intent.Account); err != nil {
		return OrderResult{}, err
	}
	if !o.open() {
		return OrderResult{}, &domain.CommandError{Code: domain.CodeConflict, Message: fmt.Sprintf("order %s is %s", orderID, o.status)}
	}
	b, err := e.brokerLocked(o.intent.Account, o.intent.Mode)
	if err != nil {
		return OrderResult{}, err
	}
	md := eventstore.Metadata{User: a.User, Account: o.intent.Account, Source: "manual"}
	reason := "cancelled by " + a.User
	if !remote(b) {
		if err := e.cancelLocked(ctx, o, b, reason, md); err != nil {
			return OrderResult{}, err
		}
		return e.resultOf(o), nil
	}
	done := make(chan error, 1)
	if err := e.enqueueLocked(ctx, brokerKey{o.intent.Account, o.intent.Mode}, b,
		brokerCall{kind: callCancel, o: o, in: o.intent, md: md, reason: reason, done: done}); err != nil {
		return OrderResult{}, err
	}
	return e.awaitLocked(ctx, o, done)
}

// awaitLocked waits without e.mu for a queued call's answer, and reports
// the order as it then is. e.mu is held on entry and on return.
func (e *Engine) awaitLocked(ctx context.Context, o *order, done chan error) (OrderResult, error) {
	e.mu.Unlock()
	err := waitCall(ctx, done)
	e.mu.Lock()
	if err != nil {
		return OrderResult{}, err
	}
	return e.resultOf(o), nil
}

// cancelLocked asks the broker to cancel an open order and records the
// answer; a remote broker's cancel is queued (after the order's placing,
// when that is still in flight). e.mu is held.
func (e *Engine) cancelLocked(ctx context.Context, o *order, b Broker, reason string, md eventstore.Metadata) error {
	if remote(b) {
		return e.enqueueLocked(ctx, brokerKey{o.intent.Account, o.intent.Mode}, b, brokerCall{kind: callCancel, o: o, in: o.intent, md: md, reason: reason})
	}
	rep, err := b.Cancel(ctx, o.intent.ClientOrderID)
	return e.afterCancelLocked(ctx, o, rep, err, reason, md)
}

// afterCancelLocked records what Cancel answered. e.mu is held.
func (e *Engine) afterCancelLocked(ctx context.Context, o *order, rep domain.ExecutionReport, err error, reason string, md eventstore.Metadata) error {
	if err != nil {
		return fmt.Errorf("engine: cancel %s: %w", o.intent.OrderID, err)
	}
	switch rep.Kind {
	case domain.ReportCancelled:
		rep.Reason = orDefault(rep.Reason, reason)
		return e.record(ctx, rep, md)
	case domain.ReportRejected:
		return &domain.CommandError{Code: domain.CodeConflict, Message: "the broker refused to cancel: " + rep.Reason}
	}
	return e.record(ctx, rep, md)
}

// ModifyOrder changes an open order's quantity, price, trigger or type.
func (e *Engine) ModifyOrder(ctx context.Context, a Actor, orderID string, ch domain.OrderChange) (OrderResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.orders[orderID]
	if o == nil || (a.CanSee != nil && !a.CanSee(o.intent.Account)) {
		return OrderResult{}, &domain.CommandError{Code: domain.CodeNotFound, Message: fmt.Sprintf("no order %q", orderID)}
	}
	if err := a.mayTouch(o.intent.Account); err != nil {
		return OrderResult{}, err
	}
	if !o.open() {
		return OrderResult{}, &domain.CommandError{Code: domain.CodeConflict, Message: fmt.Sprintf("order %s is %s", orderID, o.status)}
	}
	if err := e.reconGateLocked(o.intent.Account); err != nil {
		return OrderResult{}, err
	}
	ev := domain.OrderModified{OrderID: orderID, Quantity: ch.Quantity, Price: ch.Price, TriggerPrice: ch.TriggerPrice, Type: ch.Type, By: a.User}
	if err := ev.Validate(); err != nil {
		return OrderResult{}, &domain.CommandError{Code: domain.CodeInvalid, Message: err.Error()}
	}
	if ch.Quantity > 0 && ch.Quantity <= o.filled {
		return OrderResult{}, &domain.CommandError{Code: domain.CodeInvalid, Field: "quantity",
			Message: fmt.Sprintf("must exceed the %d already filled", o.filled)}
	}
	b, err := e.brokerLocked(o.intent.Account, o.intent.Mode)
	if err != nil {
		return OrderResult{}, err
	}
	md := eventstore.Metadata{User: a.User, Account: o.intent.Account, Source: "manual"}
	if remote(b) {
		done := make(chan error, 1)
		if err := e.enqueueLocked(ctx, brokerKey{o.intent.Account, o.intent.Mode}, b,
			brokerCall{kind: callModify, o: o, in: o.intent, md: md, change: ch, mod: ev, done: done}); err != nil {
			return OrderResult{}, err
		}
		return e.awaitLocked(ctx, o, done)
	}
	rep, err := b.Modify(ctx, o.intent.ClientOrderID, ch)
	if err := e.afterModifyLocked(ctx, o, rep, err, ev, md); err != nil {
		return OrderResult{}, err
	}
	return e.resultOf(o), nil
}

// afterModifyLocked records a change the broker took (ev). e.mu is held.
func (e *Engine) afterModifyLocked(ctx context.Context, o *order, rep domain.ExecutionReport, err error, ev domain.OrderModified, md eventstore.Metadata) error {
	if err != nil {
		return fmt.Errorf("engine: modify %s: %w", o.intent.OrderID, err)
	}
	if rep.Kind == domain.ReportRejected {
		return &domain.CommandError{Code: domain.CodeConflict, Message: "the broker refused the change: " + rep.Reason}
	}
	return e.append(ctx, domain.OrderStream(o.intent.OrderID), "", md, ev)
}

// Recover settles, after Load, the orders a previous run left in flight:
// an intent never submitted (the process stopped between recording it and
// calling the broker) is submitted now, once; an order submitted without an
// answer, or of unknown outcome, is looked up by its client order id and
// recorded as the broker knows it, never resubmitted. Orders are taken in
// order id order; Recover returns when remote brokers have answered too
// (or ctx ends).
func (e *Engine) Recover(ctx context.Context) error {
	e.mu.Lock()
	err := e.recoverLocked(ctx)
	var settled []chan struct{}
	for _, o := range e.orders {
		if o.settled != nil {
			settled = append(settled, o.settled)
		}
	}
	e.mu.Unlock()
	for _, ch := range settled {
		waitSettled(ctx, ch)
	}
	return err
}

func (e *Engine) recoverLocked(ctx context.Context) error {
	ids := make([]string, 0)
	for id, o := range e.orders {
		switch o.status {
		case orderIntent, orderSubmitted, orderUnknown:
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var first error
	for _, id := range ids {
		o := e.orders[id]
		b, err := e.brokerLocked(o.intent.Account, o.intent.Mode)
		if err == nil {
			md := eventstore.Metadata{Account: o.intent.Account, Source: "recovery", CorrelationID: o.intent.SignalID}
			if o.status == orderIntent {
				if cerr := e.canTradeLocked(e.controlLocked(o.intent.Account)); cerr != nil {
					// Fail closed: the account may not trade any more.
					err = e.append(ctx, domain.OrderStream(id), "", md, domain.OrderRejected{OrderID: id, Code: "not_submitted",
						Reason: "recorded before a stop and never sent; not sent now: " + cerr.Error()})
				} else {
					e.log.Info("submitting an order recorded before a stop", "order", id)
					err = e.submit(ctx, o, b, md)
				}
			} else {
				e.log.Info("looking up an order of unknown outcome", "order", id, "status", o.status)
				err = e.resolve(ctx, o, b, md)
			}
		}
		if err != nil && first == nil {
			first = fmt.Errorf("engine: recover order %s: %w", id, err)
		}
	}
	return first
}

// observeTickLocked feeds the P&L of every account holding the tick's
// instrument to its breaker, in account order. e.mu is held.
func (e *Engine) observeTickLocked(ctx context.Context, t domain.Tick) {
	key := e.instrumentKey(t.Exchange, t.Symbol)
	for _, a := range e.holders[key] { // sorted
		if b := e.books[posKey{a, key}]; b != nil && b.Qty != 0 {
			e.observeLocked(ctx, a, t.ExchangeTime)
		}
	}
}
