package strategy

import (
	"fmt"

	"github.com/algoauto/algoauto/domain"
)

// Reconciler limits for refused exits: an exit whose order is refused is
// sent again after exitRetryDelay, and after maxExitRefusals refusals in a
// row the instrument is halted (no more orders; the error is in State) for
// a person to resolve. Refused entries are never retried.
const (
	exitRetryDelay  = 5 // seconds
	maxExitRefusals = 3
)

// pendingLeg is a signal whose orders are not done: qty is its signed
// outstanding quantity (buy > 0). exit says it was sent to reduce a filled
// position.
type pendingLeg struct {
	leg  string
	qty  int64
	exit bool
}

// position is one instrument a strategy trades: the target it wants, its
// own filled position, and its signals on the way.
type position struct {
	exch, sym string
	lotSize   int64
	target    int64
	purpose   string // leg purpose for orders toward target ("entry", "stop-ce")
	reason    string // Signal.Reason for those orders
	filled    int64
	value     int64 // cost of the open filled quantity, paise
	buys      int64 // outstanding
	sells     int64
	legs      []pendingLeg
	last      domain.Price // LTP of the latest tick seen
	lastAt    int64        // its exchange time, Unix ns
	retryAt   int64        // unix: no orders before
	refusals  int          // exit refusals in a row
	halted    string
	refusal   string // the last refusal's reason
}

// setTarget sets the position the strategy wants, and the purpose and
// reason of the orders that will move toward it.
func (p *position) setTarget(target int64, purpose, reason string) {
	p.target, p.purpose, p.reason = target, purpose, reason
}

// see records a tick's LTP unless a later tick of the instrument has been
// seen; it reports whether the tick is the latest.
func (p *position) see(t *domain.Tick) bool {
	ns := t.ExchangeTime.UnixNano()
	if ns < p.lastAt {
		return false
	}
	p.last, p.lastAt = t.LTP, ns
	return true
}

// avg returns the average price of the open filled quantity (0 when flat).
func (p *position) avg() domain.Price {
	if p.filled == 0 {
		return 0
	}
	return domain.Price(p.value / abs(p.filled))
}

// applyFill books an execution of signed quantity q at price into the
// filled position and its cost.
func (p *position) applyFill(q int64, price domain.Price) {
	switch {
	case q == 0:
	case p.filled == 0 || (p.filled > 0) == (q > 0):
		p.value += abs(q) * int64(price)
		p.filled += q
	default:
		open := abs(p.filled)
		closed := min(abs(q), open)
		p.value -= p.value * closed / open
		p.filled += q
		if abs(q) > open { // crossed zero: the rest opens at this price
			p.value = abs(p.filled) * int64(price)
		}
	}
}

// fill books f (already known to be for this instrument) and settles its
// leg; at is the clock's Unix time.
func (p *position) fill(f Fill, at int64) {
	q := f.Quantity
	if f.Side == domain.Sell {
		q = -q
	}
	p.applyFill(q, f.Price)
	i := -1
	for j := range p.legs {
		if p.legs[j].leg == f.Leg {
			i = j
			break
		}
	}
	if i < 0 {
		return // a leg already done, or not this strategy's signal
	}
	l := &p.legs[i]
	if q != 0 && (q > 0) == (l.qty > 0) {
		d := min(abs(q), abs(l.qty))
		if l.qty > 0 {
			l.qty -= d
			p.buys -= d
		} else {
			l.qty += d
			p.sells -= d
		}
	}
	if l.qty != 0 && !f.Done {
		return
	}
	rest, exit := l.qty, l.exit
	p.legs = append(p.legs[:i], p.legs[i+1:]...)
	if rest > 0 {
		p.buys -= rest
	} else {
		p.sells -= -rest
	}
	switch {
	case rest == 0:
		if exit {
			p.refusals = 0
		}
	case exit:
		p.refusal = f.Reason
		p.refusals++
		p.retryAt = at + exitRetryDelay
		if p.refusals >= maxExitRefusals {
			p.halted = fmt.Sprintf("exit refused %d times in a row (last: %s); position %d open, needs a person", p.refusals, f.Reason, p.filled)
		}
	default:
		// A refused entry is not retried: the target shrinks to what is
		// filled or still on the way in that direction.
		p.refusal = f.Reason
		if rest > 0 {
			p.target = min(p.target, max(p.filled+p.buys, 0))
		} else {
			p.target = max(p.target, min(p.filled-p.sells, 0))
		}
	}
}

// reconcile appends the orders that move the position toward its target
// without overshooting it whatever happens to the orders on the way: it
// buys only up to target minus (filled + pending buys) and sells only down
// to target from (filled − pending sells). Orders are sent only in session.
func (p *position) reconcile(out []Signal, c *clock, ids *legIDs, product domain.Product) []Signal {
	if p.halted != "" || c.unix < p.retryAt || !inSession(c.sec) {
		return out
	}
	if x := p.target - (p.filled + p.buys); x > 0 {
		exit := min(x, max(-p.filled, 0)) // covers a filled short
		if exit > 0 {
			out = p.send(out, exit, true, c, ids, product)
		}
		if x > exit {
			out = p.send(out, x-exit, false, c, ids, product)
		}
	}
	if y := (p.filled - p.sells) - p.target; y > 0 {
		exit := min(y, max(p.filled, 0)) // sells a filled long
		if exit > 0 {
			out = p.send(out, -exit, true, c, ids, product)
		}
		if y > exit {
			out = p.send(out, -(y - exit), false, c, ids, product)
		}
	}
	return out
}

func (p *position) send(out []Signal, q int64, exit bool, c *clock, ids *legIDs, product domain.Product) []Signal {
	side := domain.Buy
	if q < 0 {
		side = domain.Sell
		p.sells -= q
	} else {
		p.buys += q
	}
	leg := ids.next(c.day, p.purpose)
	p.legs = append(p.legs, pendingLeg{leg: leg, qty: q, exit: exit})
	return append(out, Signal{
		Leg:       leg,
		Exchange:  p.exch,
		Symbol:    p.sym,
		Side:      side,
		Quantity:  abs(q),
		LotSize:   p.lotSize,
		OrderType: domain.Market,
		Product:   product,
		RefPrice:  p.last,
		Reason:    p.reason,
		At:        c.at(),
	})
}

// PositionState is one instrument of a strategy in State: what it wants,
// what it holds (its own fills only), what is on the way, and any refusal.
type PositionState struct {
	Exchange    string       `json:"exchange"`
	Symbol      string       `json:"symbol"`
	LotSize     int64        `json:"lot_size"`
	Target      int64        `json:"target"`
	Filled      int64        `json:"filled"`
	AvgPrice    domain.Price `json:"avg_price,omitempty"`
	PendingBuy  int64        `json:"pending_buy,omitempty"`
	PendingSell int64        `json:"pending_sell,omitempty"`
	LastPrice   domain.Price `json:"last_price,omitempty"`
	LastRefusal string       `json:"last_refusal,omitempty"`
	Halted      string       `json:"halted,omitempty"`
}

// book is a strategy's instruments, clock and leg ids.
type book struct {
	clock     clock
	ids       legIDs
	product   domain.Product
	positions []*position
	note      string // the last fill that matched no instrument
}

// find returns the position of exchange:symbol, or nil.
func (b *book) find(exch, sym string) *position {
	for _, p := range b.positions {
		if p.sym == sym && p.exch == exch {
			return p
		}
	}
	return nil
}

// track returns the position of the instrument, adding it if new.
func (b *book) track(inst domain.Instrument) *position {
	if p := b.find(inst.Exchange, inst.Symbol); p != nil {
		p.lotSize = inst.LotSize
		return p
	}
	p := &position{exch: inst.Exchange, sym: inst.Symbol, lotSize: inst.LotSize}
	b.positions = append(b.positions, p)
	return p
}

// onFill books a fill into its instrument.
func (b *book) onFill(f Fill) *position {
	b.clock.advance(f.At)
	p := b.find(f.Exchange, f.Symbol)
	if p == nil {
		b.note = fmt.Sprintf("fill of leg %q for %s:%s, an instrument this strategy does not trade, ignored", f.Leg, f.Exchange, f.Symbol)
		return nil
	}
	if f.Leg == "" {
		// Closed for the strategy (flattening, square-off): only what it
		// holds is closed, and what is left becomes its target, so that it
		// does not re-open it.
		closing := (p.filled > 0 && f.Side == domain.Sell) || (p.filled < 0 && f.Side == domain.Buy)
		if !closing {
			b.note = fmt.Sprintf("a %s of %d %s:%s that closed positions was not this strategy's to close, ignored", f.Side, f.Quantity, f.Exchange, f.Symbol)
			return p
		}
		f.Quantity = min(f.Quantity, abs(p.filled))
		p.fill(f, b.clock.unix)
		p.target, p.refusal = p.filled, f.Reason
		return p
	}
	p.fill(f, b.clock.unix)
	return p
}

// flattenAll sets every target to zero.
func (b *book) flattenAll(purpose, reason string) {
	for _, p := range b.positions {
		if p.target != 0 {
			p.setTarget(0, purpose, reason)
		}
	}
}

// prune forgets instruments that are flat, wanted flat and idle, except keep.
func (b *book) prune(keep ...*position) {
	n := 0
	for _, p := range b.positions {
		idle := p.target == 0 && p.filled == 0 && len(p.legs) == 0 && p.halted == ""
		kept := false
		for _, k := range keep {
			kept = kept || k == p
		}
		if !idle || kept {
			b.positions[n] = p
			n++
		}
	}
	clear(b.positions[n:])
	b.positions = b.positions[:n]
}

// reconcile returns the orders of all instruments (nil when none).
func (b *book) reconcile(out []Signal) []Signal {
	for _, p := range b.positions {
		out = p.reconcile(out, &b.clock, &b.ids, b.product)
	}
	return out
}

// state returns the positions for State.
func (b *book) state() []PositionState {
	out := make([]PositionState, 0, len(b.positions))
	for _, p := range b.positions {
		out = append(out, PositionState{
			Exchange: p.exch, Symbol: p.sym, LotSize: p.lotSize,
			Target: p.target, Filled: p.filled, AvgPrice: p.avg(),
			PendingBuy: p.buys, PendingSell: p.sells, LastPrice: p.last,
			LastRefusal: p.refusal, Halted: p.halted,
		})
	}
	return out
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
