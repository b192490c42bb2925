package paper_test

import (
	"errors"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
)

// logged is an event of the engine's log with its time on the engine's
// clock.
type logged struct {
	ev domain.Event
	at time.Time
}

// engineLog records what the engine (engine/orders.go) does for a paper
// account: the intent before Place; a report as its order event; not sent
// as OrderRejected "not_sent"; an unknown outcome as SubmitOutcomeUnknown
// resolved by Lookup ("not_at_broker" when not found); a modification as
// OrderModified; and, as the package doc asks, a broker-initiated order as
// IntentFor before its reports. Ticks are logged too.
type engineLog struct {
	t   *testing.T
	f   *fixture
	evs []logged
	ids map[string]string // client order id -> the engine's order id
}

func newEngineLog(f *fixture) *engineLog {
	return &engineLog{t: f.t, f: f, ids: map[string]string{}}
}

func (l *engineLog) log(ev domain.Event, at time.Time) {
	l.t.Helper()
	if err := ev.Validate(); err != nil {
		l.t.Fatalf("the engine would not record %T: %v", ev, err)
	}
	l.evs = append(l.evs, logged{ev, at})
}

func (l *engineLog) place(o order) {
	l.t.Helper()
	in := o.intent()
	l.ids[in.ClientOrderID] = in.OrderID
	l.log(in, l.f.clk.Now())
	l.log(domain.OrderSubmitted{OrderID: in.OrderID, ClientOrderID: in.ClientOrderID, Broker: l.f.b.Name()}, l.f.clk.Now())
	rep, err := l.f.b.Place(ctx, in)
	now := l.f.clk.Now()
	switch {
	case errors.Is(err, domain.ErrOrderNotSent):
		l.log(domain.OrderRejected{OrderID: in.OrderID, Code: "not_sent", Reason: err.Error()}, now)
		return
	case err != nil:
		l.log(domain.SubmitOutcomeUnknown{OrderID: in.OrderID, ClientOrderID: in.ClientOrderID, Error: err.Error()}, now)
		bo, ok, lerr := l.f.b.Lookup(ctx, in.ClientOrderID)
		switch {
		case lerr != nil:
			l.t.Fatal(lerr)
		case !ok:
			l.log(domain.OrderRejected{OrderID: in.OrderID, Code: "not_at_broker", Reason: "not found"}, now)
		case bo.Status == domain.BrokerRejected:
			l.log(domain.OrderRejected{OrderID: in.OrderID, Code: "broker", Reason: bo.Reason}, now)
		default:
			l.log(domain.OrderAccepted{OrderID: in.OrderID, BrokerOrderID: bo.BrokerOrderID}, now)
		}
		return
	}
	l.report(rep)
}

func (l *engineLog) modify(id string, ch domain.OrderChange) {
	l.t.Helper()
	rep, err := l.f.b.Modify(ctx, id, ch)
	if err != nil || rep.Kind != domain.ReportModified {
		l.t.Fatalf("Modify %s: %+v %v", id, rep, err)
	}
	l.log(domain.OrderModified{OrderID: l.ids[id], Quantity: ch.Quantity, Price: ch.Price, TriggerPrice: ch.TriggerPrice,
		Type: ch.Type, By: "test"}, l.f.clk.Now())
}

func (l *engineLog) tick(q quote) {
	l.t.Helper()
	t := q.tick()
	l.log(t, t.ExchangeTime)
	l.f.clk.Set(t.ExchangeTime)
	for _, r := range l.f.b.OnTick(t) {
		l.report(r)
	}
}

func (l *engineLog) cancel(id string) {
	l.t.Helper()
	rep, err := l.f.b.Cancel(ctx, id)
	if err != nil {
		l.t.Fatal(err)
	}
	l.report(rep)
}

func (l *engineLog) report(r domain.ExecutionReport) {
	l.t.Helper()
	id, ok := l.ids[r.ClientOrderID]
	if !ok {
		if !paper.IsSquareOff(r.ClientOrderID) || r.Kind != domain.ReportAccepted {
			l.t.Fatalf("report of an unknown order: %+v", r)
		}
		bo, found, err := l.f.b.Lookup(ctx, r.ClientOrderID)
		if err != nil || !found {
			l.t.Fatalf("Lookup %s: %v %v", r.ClientOrderID, found, err)
		}
		id = "o-" + r.ClientOrderID
		l.ids[r.ClientOrderID] = id
		l.log(paper.IntentFor(bo, id), r.At)
	}
	switch r.Kind {
	case domain.ReportAccepted:
		l.log(domain.OrderAccepted{OrderID: id, BrokerOrderID: r.BrokerOrderID}, r.At)
	case domain.ReportRejected:
		l.log(domain.OrderRejected{OrderID: id, Code: "broker", Reason: r.Reason}, r.At)
	case domain.ReportFilled:
		l.log(domain.OrderFilled{OrderID: id, TradeID: r.TradeID, Quantity: r.Quantity, Price: r.Price,
			FilledQty: r.FilledQty, Charges: r.Charges}, r.At)
	case domain.ReportCancelled:
		l.log(domain.OrderCancelled{OrderID: id, By: "broker", Reason: r.Reason}, r.At)
	default:
		l.t.Fatalf("no event for %+v", r)
	}
}

// session runs a trading day's worth of order flow against f's broker and
// returns the engine's log. It ends with open orders (limit, triggered SL,
// a working square-off), positions in three products and a holding.
func session(t *testing.T, f *fixture) *engineLog {
	l := newEngineLog(f)
	q := func(sec int, symbol string, ltp, bid domain.Price, size int64) quote {
		return quote{symbol: symbol, at: at(10, 0, sec, 0), ltp: ltp, bid: bid, bidQty: size, ask: bid + 5, askQty: size}
	}
	l.place(order{id: "A", side: domain.Buy, qty: 150})
	l.place(order{id: "B", side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(95, 0)})
	l.place(order{id: "C", side: domain.Sell, typ: domain.StopLimit, qty: 75, trigger: rs(98, 0), price: rs(97, 50)})
	l.place(order{id: "D", symbol: opt, side: domain.Sell, typ: domain.Limit, qty: 50, price: rs(30, 0)})
	l.place(order{id: "E", side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(95, 1)}) // rejected: off the tick
	f.b.FailNextPlace(paper.FaultTimeoutAfterAccept)
	l.place(order{id: "F", symbol: opt, side: domain.Sell, qty: 50, product: domain.MIS})
	f.b.FailNextPlace(paper.FaultTimeoutBeforeAccept)
	l.place(order{id: "G", side: domain.Buy, qty: 75})
	f.b.FailNextPlace(paper.FaultNotSent)
	l.place(order{id: "H", side: domain.Buy, qty: 75})
	l.place(order{id: "I", exchange: domain.ExchangeNSE, symbol: "INFY", side: domain.Buy, qty: 10, product: domain.CNC})
	l.place(order{id: "J", side: domain.Buy, qty: 75, product: domain.MIS})
	l.place(order{id: "K", side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(90, 0), product: domain.MIS})

	l.place(order{id: "N", side: domain.Sell, typ: domain.Limit, qty: 75, price: rs(110, 0)})
	l.place(order{id: "O", symbol: opt, side: domain.Buy, typ: domain.Limit, qty: 100, price: rs(20, 0)})
	l.modify("N", domain.OrderChange{Quantity: 150, Price: rs(108, 0)}) // stays open, changed
	l.modify("O", domain.OrderChange{Type: domain.StopLimit, TriggerPrice: rs(26, 0), Price: rs(26, 50)})

	l.tick(q(1, fut, rs(100, 0), rs(99, 95), 100))  // A 100 of 150, J nothing (size used up)
	l.tick(q(2, fut, rs(100, 0), rs(99, 95), 1000)) // A rest, J
	l.tick(q(3, opt, rs(25, 0), rs(24, 95), 1000))  // F; O (now SL) not triggered
	l.cancel("D")
	l.tick(q(4, fut, rs(98, 0), rs(97, 40), 1000)) // C triggers, limit 97.50 not reached
	// INFY is NSE cash: its tick and a partial CNC sell.
	l.tick(quote{exchange: domain.ExchangeNSE, symbol: "INFY", at: at(10, 0, 5, 0), bid: rs(1500, 0), bidQty: 100, ask: rs(1500, 5), askQty: 100})
	l.place(order{id: "L", exchange: domain.ExchangeNSE, symbol: "INFY", side: domain.Sell, qty: 4, product: domain.CNC})
	l.tick(quote{exchange: domain.ExchangeNSE, symbol: "INFY", at: at(10, 0, 6, 0), bid: rs(1510, 0), bidQty: 100, ask: rs(1510, 5), askQty: 100})

	// 15:20: K cancelled, J and F squared off; the future's square-off fills
	// only in part, below C's limit.
	l.tick(quote{symbol: fut2, at: at(15, 20, 0, 0), bid: rs(1, 0), ask: rs(1, 5)})
	l.tick(quote{at: at(15, 20, 1, 0), ltp: rs(97, 0), bid: rs(97, 0), bidQty: 25, ask: rs(97, 5), askQty: 25})
	return l
}

func restore(t *testing.T, cfg paper.Config, evs []logged, times int, ticks bool) *paper.Broker {
	t.Helper()
	b, err := paper.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if _, isTick := e.ev.(domain.Tick); isTick && !ticks {
			continue
		}
		for range times {
			if err := b.Apply(e.ev, e.at); err != nil {
				t.Fatalf("Apply %T: %v", e.ev, err)
			}
		}
	}
	return b
}

func snapshot(t *testing.T, b *paper.Broker) ([]domain.BrokerOrder, []domain.BrokerPosition, []domain.BrokerHolding) {
	t.Helper()
	o, err1 := b.Orders(ctx)
	p, err2 := b.Positions(ctx)
	h, err3 := b.Holdings(ctx)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	return o, p, h
}

func TestRestoreEqualsLive(t *testing.T) {
	t.Parallel()
	cfg := paper.Config{Seed: 42, Latency: 50 * time.Millisecond, LatencyJitter: 30 * time.Millisecond}
	for _, c := range []struct {
		name  string
		times int // each event applied this many times (redelivery)
	}{{"once", 1}, {"every event twice", 2}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			live := newFixture(t, cfg)
			l := session(t, live)

			// The session left the state the test means to restore.
			lo, lp, lh := snapshot(t, live.b)
			if live.lookup("C").Status != domain.BrokerOpen || live.lookup("B").Status != domain.BrokerOpen ||
				live.lookup("N").Quantity != 150 || live.lookup("O").Status != domain.BrokerTriggerPending ||
				live.lookup("sq-acct1-20261123-NFO:"+fut).FilledQty != 25 || len(lh) != 1 || len(lp) != 4 {
				t.Fatalf("session did not set up the state:\norders %+v\npositions %+v\nholdings %+v", lo, lp, lh)
			}
			for _, id := range []string{"G", "H"} {
				if _, ok, _ := live.b.Lookup(ctx, id); ok {
					t.Fatalf("%s exists", id)
				}
			}

			rcfg := cfg
			rclk := &clock{t: live.clk.Now()}
			rcfg.Account, rcfg.Now = account, rclk.Now
			rb := restore(t, rcfg, l.evs, c.times, true)
			ro, rp, rh := snapshot(t, rb)
			equal(t, "orders", ro, lo)
			equal(t, "positions", rp, lp)
			equal(t, "holdings", rh, lh)

			// Both continue alike: the next broker order id, trade ids,
			// latency of new orders, the working square-off.
			restored := &fixture{t: t, b: rb, clk: rclk}
			for _, f := range []*fixture{live, restored} {
				f.clk.Set(at(15, 20, 2, 0))
			}
			next := order{id: "M", side: domain.Sell, typ: domain.Limit, qty: 75, price: rs(95, 0)}
			equal(t, "next Place", restored.place(next), live.place(next))
			for i, q := range []quote{
				{at: at(15, 20, 2, 40), bid: rs(99, 0), bidQty: 1000, ask: rs(99, 5), askQty: 1000},
				{at: at(15, 20, 3, 0), ltp: rs(97, 50), bid: rs(97, 50), bidQty: 1000, ask: rs(97, 55), askQty: 1000},
				{at: at(15, 21, 0, 0), ltp: rs(95, 0), bid: rs(94, 95), bidQty: 1000, ask: rs(95, 0), askQty: 1000},
				{symbol: opt, at: at(15, 21, 1, 0), ltp: rs(26, 0), bid: rs(26, 40), bidQty: 60, ask: rs(26, 45), askQty: 60},
				{symbol: opt, at: at(15, 21, 2, 0), ltp: rs(26, 0), bid: rs(26, 40), bidQty: 60, ask: rs(26, 45), askQty: 100},
				{at: at(15, 21, 3, 0), ltp: rs(108, 0), bid: rs(108, 0), bidQty: 1000, ask: rs(108, 5), askQty: 1000},
			} {
				want := live.tick(q)
				if len(want) == 0 {
					t.Errorf("tick %d does nothing: the continuation tests nothing", i)
				}
				equal(t, "reports of tick "+string(rune('0'+i)), restored.tick(q), want)
			}
			lo, lp, lh = snapshot(t, live.b)
			ro, rp, rh = snapshot(t, rb)
			equal(t, "orders after", ro, lo)
			equal(t, "positions after", rp, lp)
			equal(t, "holdings after", rh, lh)
		})
	}
	t.Run("without ticks a triggered unfilled SL waits for its trigger again", func(t *testing.T) {
		t.Parallel()
		live := newFixture(t, cfg)
		l := session(t, live)
		rcfg := cfg
		rcfg.Account = account
		rb := restore(t, rcfg, l.evs, 1, false)
		o, ok, _ := rb.Lookup(ctx, "C")
		if !ok || o.Status != domain.BrokerTriggerPending {
			t.Errorf("C: %+v", o)
		}
	})
}

func TestApplyRejectsAGapInFills(t *testing.T) {
	t.Parallel()
	b, _ := paper.New(paper.Config{Account: account})
	in := order{id: "a", side: domain.Buy, qty: 150}.intent()
	now := at(10, 0, 0, 0)
	for _, ev := range []domain.Event{in, domain.OrderAccepted{OrderID: in.OrderID, BrokerOrderID: "P7"}} {
		if err := b.Apply(ev, now); err != nil {
			t.Fatal(err)
		}
	}
	gap := domain.OrderFilled{OrderID: in.OrderID, TradeID: "P7-2", Quantity: 50, Price: rs(100, 0), FilledQty: 100}
	if err := b.Apply(gap, now); err == nil {
		t.Error("a fill after a missing one was folded")
	}
	// Another account's order is ignored, and the id counter follows the log.
	other := in
	other.Account, other.OrderID, other.ClientOrderID = "other", "o-x", "x"
	if err := b.Apply(other, now); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Lookup(ctx, "x"); ok {
		t.Error("another account's order was restored")
	}
	rep, _ := b.Place(ctx, order{id: "b", side: domain.Buy, qty: 75}.intent())
	equal(t, "next broker order id", rep.BrokerOrderID, "P8")
}
