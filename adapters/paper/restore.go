package paper

import (
	"fmt"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// intent is an order intent folded by Apply, waiting for the broker's
// first report about it.
type intent struct {
	in  domain.OrderIntentRecorded
	at  time.Time
	seq int64
}

// Apply folds one event of the engine's log into the broker's state, to
// rebuild a broker after a restart. Hand it, in log order, the order events
// (OrderIntentRecorded, OrderAccepted, OrderRejected, OrderFilled,
// OrderCancelled, OrderModified) and optionally the ticks (domain.Tick);
// other events, other accounts' and live-mode orders, and rejections the
// engine recorded itself (an OrderRejected whose Code is neither "" nor
// "broker": the order never reached the broker) are ignored. at is the event's time on the
// engine's clock: for an intent the clock when it was recorded (Place's
// Config.Now), for a fill the At of its report; the envelope's recorded_at
// where the engine runs on the wall clock. Ticks use their ExchangeTime.
//
// Apply produces no reports: fills, cancellations and square-offs are
// already in the log. A tick only advances the clock and fires the
// triggers of stop orders, as OnTick would have. Events already folded
// (redelivery) change nothing. Apply returns an error, and folds nothing,
// for an event that contradicts the state (a fill beyond the order's
// quantity or with a gap in its cumulative quantity, a modification the
// broker could not have accepted).
func (b *Broker) Apply(ev domain.Event, at time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case domain.Tick:
		b.applyTick(&e)
	case *domain.Tick:
		b.applyTick(e)
	case domain.OrderIntentRecorded:
		b.applyIntent(e, at)
	case *domain.OrderIntentRecorded:
		b.applyIntent(*e, at)
	case domain.OrderAccepted:
		b.applyAccepted(e)
	case *domain.OrderAccepted:
		b.applyAccepted(*e)
	case domain.OrderRejected:
		b.applyRejected(e, at)
	case *domain.OrderRejected:
		b.applyRejected(*e, at)
	case domain.OrderCancelled:
		b.applyCancelled(e, at)
	case *domain.OrderCancelled:
		b.applyCancelled(*e, at)
	case domain.OrderFilled:
		return b.applyFilled(e, at)
	case *domain.OrderFilled:
		return b.applyFilled(*e, at)
	case domain.OrderModified:
		return b.applyModified(e, at)
	case *domain.OrderModified:
		return b.applyModified(*e, at)
	}
	return nil
}

func (b *Broker) applyTick(t *domain.Tick) {
	b.observe(t.ExchangeTime)
	for _, o := range b.open[instrument{t.Exchange, t.Symbol}] {
		if !t.ExchangeTime.Before(o.eligibleAt) {
			b.trigger(o, *t)
		}
	}
}

func (b *Broker) applyIntent(in domain.OrderIntentRecorded, at time.Time) {
	if in.Account != b.cfg.Account || in.Mode != domain.Paper || in.OrderID == "" {
		return
	}
	if _, dup := b.intents[in.OrderID]; dup {
		return
	}
	b.seq++
	b.intents[in.OrderID] = &intent{in: in, at: at, seq: b.seq}
}

// order returns the order of the engine's order id, creating it from its
// intent on the broker's first report about it; nil for an order of
// another account.
func (b *Broker) order(orderID string) *order {
	it := b.intents[orderID]
	if it == nil {
		return nil
	}
	if o := b.orders[it.in.ClientOrderID]; o != nil {
		return o
	}
	seq := b.seq
	o := b.newOrder(it.in, it.at)
	b.seq = seq // newOrder counted it; the intent already had its place
	o.seq = it.seq
	return o
}

func (b *Broker) applyAccepted(e domain.OrderAccepted) {
	o := b.order(e.OrderID)
	if o == nil || o.brokerID != "" || o.status != "" {
		return
	}
	b.noteID(e.BrokerOrderID)
	b.accept(o, e.BrokerOrderID)
	if o.squareOff {
		if p := b.positions[positionKey{o.inst, o.product}]; p != nil {
			p.sqOrder = o
		}
	}
}

// brokerRejection reports whether an OrderRejected code says the broker
// rejected the order ("broker", or none), rather than the engine recording
// that the order never reached the broker ("not_sent", "not_at_broker",
// "not_submitted", ...).
func brokerRejection(code string) bool { return code == "" || code == "broker" }

func (b *Broker) applyRejected(e domain.OrderRejected, at time.Time) {
	if !brokerRejection(e.Code) {
		return
	}
	o := b.order(e.OrderID)
	if o == nil || o.status.Final() {
		return
	}
	if o.status != "" {
		b.closeOrder(o)
	}
	o.status, o.reason, o.updatedAt = domain.BrokerRejected, e.Reason, at
	b.orders[o.clientID] = o
}

func (b *Broker) applyCancelled(e domain.OrderCancelled, at time.Time) {
	o := b.order(e.OrderID)
	if o == nil || o.status.Final() {
		return
	}
	if o.status == "" { // cancelled with no acceptance in the log
		b.accept(o, "")
	}
	b.cancel(o, e.Reason, at)
}

func (b *Broker) applyModified(e domain.OrderModified, at time.Time) error {
	it := b.intents[e.OrderID]
	if it == nil {
		return nil
	}
	o := b.orders[it.in.ClientOrderID]
	if o == nil || o.status.Final() || o.status == "" {
		return nil
	}
	ch := domain.OrderChange{Quantity: e.Quantity, Price: e.Price, TriggerPrice: e.TriggerPrice, Type: e.Type}
	if reason := b.change(o, ch, at); reason != "" {
		return fmt.Errorf("paper: apply %s %s: %s", domain.TypeOrderModified, e.OrderID, reason)
	}
	return nil
}

func (b *Broker) applyFilled(e domain.OrderFilled, at time.Time) error {
	o := b.order(e.OrderID)
	if o == nil {
		return nil
	}
	if e.FilledQty <= o.filled {
		return nil // already folded
	}
	if e.Quantity <= 0 || e.FilledQty != o.filled+e.Quantity || e.FilledQty > o.qty {
		return fmt.Errorf("paper: apply %s %s: fill of %d to %d does not follow %d filled of %d",
			domain.TypeOrderFilled, e.OrderID, e.Quantity, e.FilledQty, o.filled, o.qty)
	}
	if o.status == "" { // filled with no acceptance in the log: the trade id names the order
		brokerID, _, _ := strings.Cut(e.TradeID, "-")
		b.noteID(brokerID)
		b.accept(o, brokerID)
	}
	b.execute(o, e.Quantity, e.Price, at)
	if o.status.Final() {
		b.closeOrder(o)
	}
	return nil
}

// IntentFor returns the OrderIntentRecorded the engine records for a
// broker-initiated order (a square-off, see IsSquareOff) before its
// reports: the order as Lookup returns it, in paper mode, without a
// strategy, under the engine's orderID.
func IntentFor(o domain.BrokerOrder, orderID string) domain.OrderIntentRecorded {
	return domain.OrderIntentRecorded{
		OrderID: orderID, ClientOrderID: o.ClientOrderID, Account: o.Account, Mode: domain.Paper,
		Exchange: o.Exchange, Symbol: o.Symbol, Side: o.Side, Quantity: o.Quantity, Type: o.Type,
		Product: o.Product, Price: o.Price, TriggerPrice: o.TriggerPrice,
	}
}
