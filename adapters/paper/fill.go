package paper

import (
	"strconv"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// OnTick implements engine.TickFiller: it runs a due MIS square-off, then
// fills the live orders of t's instrument, and returns the reports in the
// order the changes happened. Ticks must come in log order.
func (b *Broker) OnTick(t domain.Tick) []domain.ExecutionReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := t.ExchangeTime
	b.observe(now)
	var reps []domain.ExecutionReport
	if due := b.squareOffDue(); !due.IsZero() && !now.Before(due) {
		reps = b.squareOff(now, reps)
	}
	list := b.open[instrument{t.Exchange, t.Symbol}]
	if len(list) == 0 {
		return reps
	}
	// A size of -1 is a side quoted without size: unlimited.
	askLeft, bidLeft := quoteSize(t.Ask, t.AskQty), quoteSize(t.Bid, t.BidQty)
	var done []*order
	for _, o := range list {
		if now.Before(o.eligibleAt) || !b.trigger(o, t) {
			continue
		}
		px, left := t.Ask, &askLeft
		if o.side == domain.Sell {
			px, left = t.Bid, &bidLeft
		}
		if px <= 0 || *left == 0 {
			continue
		}
		if o.isLimit() && (o.side == domain.Buy && px > o.price || o.side == domain.Sell && px < o.price) {
			continue
		}
		q := o.qty - o.filled
		if *left > 0 {
			q = min(q, *left)
			*left -= q
		}
		reps = append(reps, b.fill(o, q, px, now))
		if o.status.Final() {
			done = append(done, o)
		}
	}
	for _, o := range done {
		b.closeOrder(o)
	}
	return reps
}

// quoteSize is the size a side can fill on one tick: 0 without a price,
// -1 (unlimited) with a price but no size.
func quoteSize(px domain.Price, qty int64) int64 {
	switch {
	case px <= 0:
		return 0
	case qty <= 0:
		return -1
	}
	return qty
}

// observe advances the broker's tick clock.
func (b *Broker) observe(at time.Time) {
	if at.After(b.clock) {
		b.clock = at
	}
}

// trigger reports whether o acts as a plain order on tick t: it is not a
// stop order, or its trigger fired before or fires now.
func (b *Broker) trigger(o *order, t domain.Tick) bool {
	if !o.isStop() || o.triggered {
		return true
	}
	if o.side == domain.Buy && t.LTP >= o.trigger || o.side == domain.Sell && t.LTP <= o.trigger {
		o.triggered = true
		o.status = domain.BrokerOpen
		o.updatedAt = t.ExchangeTime
		return true
	}
	return false
}

// fill executes q of o at px at time at and returns the FILLED report.
func (b *Broker) fill(o *order, q int64, px domain.Price, at time.Time) domain.ExecutionReport {
	before := o.value
	b.execute(o, q, px, at)
	return domain.ExecutionReport{
		Kind: domain.ReportFilled, ClientOrderID: o.clientID, BrokerOrderID: o.brokerID,
		TradeID: o.brokerID + "-" + strconv.FormatInt(o.fills, 10), Quantity: q, Price: px, FilledQty: o.filled,
		Charges: b.orderCharges(o.seg, o.side, o.value) - b.orderCharges(o.seg, o.side, before),
		At:      at,
	}
}

// execute books an execution on the order and its position. It does not
// remove a completed order from the live orders.
func (b *Broker) execute(o *order, q int64, px domain.Price, at time.Time) {
	o.filled += q
	o.value += domain.Price(q) * px
	o.fills++
	o.updatedAt = at
	if o.filled >= o.qty {
		o.status = domain.BrokerComplete
	} else if o.status == domain.BrokerTriggerPending {
		o.status = domain.BrokerOpen
	}
	k := positionKey{o.inst, o.product}
	p := b.positions[k]
	if p == nil {
		p = &position{}
		b.positions[k] = p
	}
	sq := q
	if o.side == domain.Sell {
		sq = -q
	}
	p.fill(sq, int64(px), at)
	if o.product == domain.MIS {
		b.sqDirty = true
	}
}

// cutoff returns the square-off instant of the IST day of t.
func (b *Broker) cutoff(t time.Time) time.Time {
	y, m, d := t.In(domain.IST()).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, domain.IST()).Add(b.cfg.SquareOff)
}

// squareOffDue returns the earliest instant an MIS order or position is
// due for square-off, or zero when none is.
func (b *Broker) squareOffDue() time.Time {
	if b.cfg.SquareOff < 0 {
		return time.Time{}
	}
	if !b.sqDirty {
		return b.sqDue
	}
	var due time.Time
	earlier := func(t time.Time) {
		if c := b.cutoff(t); due.IsZero() || c.Before(due) {
			due = c
		}
	}
	for _, list := range b.open {
		for _, o := range list {
			if o.product == domain.MIS && !o.squareOff {
				earlier(o.placedAt)
			}
		}
	}
	for k, p := range b.positions {
		if k.product == domain.MIS && p.qty != 0 && !p.covered() {
			earlier(p.openedAt)
		}
	}
	b.sqDue, b.sqDirty = due, false
	return due
}

// covered reports whether a live square-off order is closing p.
func (p *position) covered() bool { return p.sqOrder != nil && !p.sqOrder.status.Final() }

// squareOff cancels the MIS orders due at now and opens square-off orders
// for the MIS positions due at now.
func (b *Broker) squareOff(now time.Time, reps []domain.ExecutionReport) []domain.ExecutionReport {
	reason := b.squareOffReason()
	var due []*order
	for _, list := range b.open {
		for _, o := range list {
			if o.product == domain.MIS && !o.squareOff && !now.Before(b.cutoff(o.placedAt)) {
				due = append(due, o)
			}
		}
	}
	sortBySeq(due)
	for _, o := range due {
		reps = append(reps, b.cancel(o, reason, now))
	}
	for _, k := range b.positionKeys() {
		p := b.positions[k]
		if k.product != domain.MIS || p.qty == 0 || p.covered() || now.Before(b.cutoff(p.openedAt)) {
			continue
		}
		in := domain.OrderIntentRecorded{
			ClientOrderID: b.squareOffID(k, p.openedAt), Account: b.cfg.Account, Mode: domain.Paper,
			Exchange: k.exchange, Symbol: k.symbol, Side: domain.Sell, Quantity: p.qty,
			Type: domain.Market, Product: domain.MIS,
		}
		if p.qty < 0 {
			in.Side, in.Quantity = domain.Buy, -p.qty
		}
		o := b.newOrder(in, now)
		b.accept(o, b.allocID())
		p.sqOrder = o
		reps = append(reps, domain.ExecutionReport{Kind: domain.ReportAccepted, ClientOrderID: o.clientID,
			BrokerOrderID: o.brokerID, Reason: reason, At: now})
	}
	b.sqDirty = true
	return reps
}

// squareOffID returns the client order id of the square-off of the
// position k opened at opened: sq-<account>-<YYYYMMDD>-<EXCHANGE>:<SYMBOL>,
// with a "-<n>" suffix in the unexpected case that the id is taken.
func (b *Broker) squareOffID(k positionKey, opened time.Time) string {
	id := squareOffPrefix + b.cfg.Account + "-" + opened.In(domain.IST()).Format("20060102") + "-" + k.exchange + ":" + k.symbol
	if _, taken := b.orders[id]; !taken {
		return id
	}
	for n := 2; ; n++ {
		alt := id + "-" + strconv.Itoa(n)
		if _, taken := b.orders[alt]; !taken {
			return alt
		}
	}
}

func (b *Broker) squareOffReason() string {
	return "MIS square-off at " + clockTime(b.cfg.SquareOff) + " IST"
}
