package risk

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// Defaults of Config.
const (
	DefaultStaleAfter = 5 * time.Second
	DefaultMaxSlices  = 40
)

// Config is the gate's fixed configuration. Per-account limits travel in
// State, since they change by event (RiskLimitsChanged).
type Config struct {
	// Calendar decides whether the market is open at an order's event
	// time; nil means domain.NSECalendar().
	Calendar *domain.Calendar
	// StaleAfter is the largest age of the last tick (of the instrument
	// and, for an option, of its underlying) at which orders are still
	// allowed; 0 means DefaultStaleAfter.
	StaleAfter time.Duration
	// MaxSlices is the largest number of freeze-quantity slices one order
	// may be cut into; 0 means DefaultMaxSlices.
	MaxSlices int
}

// Gate checks proposed orders against the risk rules. It is immutable
// after NewGate and safe for concurrent use.
type Gate struct {
	cal        *domain.Calendar
	staleAfter time.Duration
	maxSlices  int64
}

// NewGate returns a gate with cfg's settings, defaults filled in. It panics
// on a negative StaleAfter or MaxSlices, which are programming errors.
func NewGate(cfg Config) *Gate {
	if cfg.StaleAfter < 0 || cfg.MaxSlices < 0 {
		panic("risk: negative Config.StaleAfter or Config.MaxSlices")
	}
	g := &Gate{cal: cfg.Calendar, staleAfter: cfg.StaleAfter, maxSlices: int64(cfg.MaxSlices)}
	if g.cal == nil {
		g.cal = domain.NSECalendar()
	}
	if g.staleAfter == 0 {
		g.staleAfter = DefaultStaleAfter
	}
	if g.maxSlices == 0 {
		g.maxSlices = DefaultMaxSlices
	}
	return g
}

// StaleAfter returns the stale-data limit in use.
func (g *Gate) StaleAfter() time.Duration { return g.staleAfter }

// Order is a proposed order with the instrument facts the rules need (from
// the instruments master) and the event time it is decided at.
type Order struct {
	Account      string
	Exchange     string
	Symbol       string
	Instrument   domain.InstrumentType // CE or PE make the underlying's tick matter
	Side         domain.Side
	Quantity     int64
	Type         domain.OrderType
	Price        domain.Price // limit price: LIMIT and SL
	TriggerPrice domain.Price // SL and SL-M
	Product      domain.Product
	LotSize      int64        // 0: traded in units (lot of 1)
	TickSize     domain.Price // 0: unknown, not checked
	FreezeQty    int64        // 0: no freeze quantity, never sliced
	// At is the event time of the decision (the tick or signal that caused
	// it), never the wall clock.
	At time.Time
	// Flatten marks an order of the kill switch's own flatten procedure;
	// see the package documentation for what it permits.
	Flatten bool
}

// State is what the caller knows about the account and the instrument at
// Order.At. Quantities are signed for Position (long > 0) and non-negative
// elsewhere (negative values are read as 0).
type State struct {
	Limits domain.RiskLimits
	// Position is the account's net quantity in the order's symbol.
	Position int64
	// OpenBuyQty and OpenSellQty are the unfilled quantities of the
	// account's open orders in the order's symbol, per side.
	OpenBuyQty  int64
	OpenSellQty int64
	// OpenOrders is the number of the account's open orders (all symbols).
	OpenOrders int64
	// LastPrice is the instrument's last traded price and LastTickAt the
	// event time of that tick (zero: no tick yet).
	LastPrice  domain.Price
	LastTickAt time.Time
	// UnderlyingTickAt is the event time of the underlying's last tick;
	// used for options only (zero: no tick yet).
	UnderlyingTickAt time.Time
	// DayPnL is the account's P&L for the day (realised and marked), loss
	// negative. Drawdown is the current fall from the day's peak P&L, a
	// non-negative amount (its magnitude is used).
	DayPnL   domain.Price
	Drawdown domain.Price
	// KillSwitch is set while the account's kill switch is active.
	KillSwitch bool
}

// Decision is the gate's answer. Allowed is true exactly when Refusals is
// empty; then Slices holds the quantities to send, one exchange order each
// (a single slice when no freeze quantity applies). Refusals are in rule
// order (see the Rule constants); the first is the one to headline.
type Decision struct {
	Allowed    bool
	Refusals   []Refusal
	Slices     []int64
	ReduceOnly bool // the order was classed reduce-only
}

// Refusal returns the first refusal, if any.
func (d Decision) Refusal() (Refusal, bool) {
	if len(d.Refusals) == 0 {
		return Refusal{}, false
	}
	return d.Refusals[0], true
}

// Check runs every rule on o in state st and returns the decision. It is
// pure: the same inputs always give the same Decision.
func (g *Gate) Check(o Order, st State) Decision {
	if msg := invalid(o); msg != "" {
		return refused(Refusal{Rule: RuleInvalidOrder, Message: msg})
	}
	st.OpenBuyQty = max(st.OpenBuyQty, 0)
	st.OpenSellQty = max(st.OpenSellQty, 0)
	st.OpenOrders = max(st.OpenOrders, 0)
	lim := st.Limits
	lot := max(o.LotSize, 1)

	var rs []Refusal
	add := func(r Refusal) { rs = append(rs, r) }

	reduce, reducible := reduceOnly(o, st)
	killFlatten := st.KillSwitch && o.Flatten && reduce

	if st.KillSwitch && !killFlatten {
		add(Refusal{Rule: RuleKillSwitch, Message: "kill switch is active; only reduce-only flatten orders of the kill switch pass"})
	}
	if o.Flatten && !reduce {
		add(Refusal{Rule: RuleReduceOnly, Limit: reducible, Actual: o.Quantity, Unit: UnitQty,
			Message: fmt.Sprintf("flatten order %s %d does not only reduce position %d (open buy %d, open sell %d): at most %d",
				o.Side, o.Quantity, st.Position, st.OpenBuyQty, st.OpenSellQty, reducible)})
	}
	if !g.cal.InSession(o.At) {
		s := g.cal.Status(o.At)
		msg := fmt.Sprintf("market %s at %s", s.Phase, s.At.Format(time.RFC3339Nano))
		if s.Holiday != "" {
			msg += " (" + s.Holiday + ")"
		}
		add(Refusal{Rule: RuleMarketClosed, Message: msg + "; next open " + s.NextOpen.Format(time.RFC3339)})
	}
	if !killFlatten {
		if r, bad := g.stale("instrument "+o.Exchange+":"+o.Symbol, st.LastTickAt, o.At); bad {
			add(r)
		}
		if o.Instrument.IsOption() {
			if r, bad := g.stale("underlying of option "+o.Exchange+":"+o.Symbol, st.UnderlyingTickAt, o.At); bad {
				add(r)
			}
		}
	}
	if !reduce {
		for _, r := range breaches(lim, st.DayPnL, st.Drawdown) {
			r.Message += "; only reduce-only orders pass"
			add(r)
		}
	}
	if o.Quantity%lot != 0 {
		add(Refusal{Rule: RuleLotMultiple, Limit: lot, Actual: o.Quantity, Unit: UnitQty,
			Message: fmt.Sprintf("quantity %d is not a multiple of the lot size %d", o.Quantity, lot)})
	}
	if tick := int64(o.TickSize); tick > 0 {
		if hasLimitPrice(o.Type) && int64(o.Price)%tick != 0 {
			add(Refusal{Rule: RuleTickSize, Limit: tick, Actual: int64(o.Price), Unit: UnitPaise,
				Message: fmt.Sprintf("price %s is not a multiple of the tick size %s", o.Price, o.TickSize)})
		}
		if hasTrigger(o.Type) && int64(o.TriggerPrice)%tick != 0 {
			add(Refusal{Rule: RuleTickSize, Limit: tick, Actual: int64(o.TriggerPrice), Unit: UnitPaise,
				Message: fmt.Sprintf("trigger price %s is not a multiple of the tick size %s", o.TriggerPrice, o.TickSize)})
		}
	}
	if !killFlatten {
		if r, bad := collar(o, st.LastPrice, lim.PriceCollarBps); bad {
			add(r)
		}
		if lim.MaxOrderQty > 0 && o.Quantity > lim.MaxOrderQty {
			add(Refusal{Rule: RuleMaxOrderQty, Limit: lim.MaxOrderQty, Actual: o.Quantity, Unit: UnitQty,
				Message: fmt.Sprintf("quantity %d is over the limit of %d per order", o.Quantity, lim.MaxOrderQty)})
		}
		if lots := ceilDiv(o.Quantity, lot); lim.MaxOrderLots > 0 && lots > lim.MaxOrderLots {
			add(Refusal{Rule: RuleMaxOrderLots, Limit: lim.MaxOrderLots, Actual: lots, Unit: UnitLots,
				Message: fmt.Sprintf("%d lots of %d is over the limit of %d lots per order", lots, lot, lim.MaxOrderLots)})
		}
		if lim.MaxOrderNotional > 0 {
			ref := notionalPrice(o, st.LastPrice)
			if ref <= 0 {
				add(Refusal{Rule: RuleMaxOrderNotional, Limit: int64(lim.MaxOrderNotional), Actual: math.MaxInt64, Unit: UnitPaise,
					Message: "no price to value the order at (no last price); limit " + lim.MaxOrderNotional.String()})
			} else if n := satMul(o.Quantity, int64(ref)); n > int64(lim.MaxOrderNotional) {
				add(Refusal{Rule: RuleMaxOrderNotional, Limit: int64(lim.MaxOrderNotional), Actual: n, Unit: UnitPaise,
					Message: fmt.Sprintf("notional %s (%d at %s) is over the limit of %s per order",
						domain.Price(n), o.Quantity, ref, lim.MaxOrderNotional)})
			}
		}
	}
	if lim.MaxPositionQty > 0 {
		var exposure int64
		if o.Side == domain.Buy {
			exposure = satAdd(satAdd(st.Position, st.OpenBuyQty), o.Quantity)
		} else {
			exposure = -satAdd(satAdd(st.Position, -st.OpenSellQty), -o.Quantity)
		}
		if exposure > lim.MaxPositionQty {
			add(Refusal{Rule: RuleMaxPosition, Limit: lim.MaxPositionQty, Actual: exposure, Unit: UnitQty,
				Message: fmt.Sprintf("%s %d with position %d and %d open on that side could reach %d, over the limit of %d",
					o.Side, o.Quantity, st.Position, openOnSide(o.Side, st), exposure, lim.MaxPositionQty)})
		}
	}
	maxSlice := maxSliceQty(lot, o.FreezeQty)
	var nSlices int64
	switch {
	case maxSlice == 0:
		nSlices = 1
		add(Refusal{Rule: RuleMaxSlices, Limit: o.FreezeQty, Actual: lot, Unit: UnitQty,
			Message: fmt.Sprintf("freeze quantity %d is below the lot size %d: no slice can be sent", o.FreezeQty, lot)})
	default:
		nSlices = ceilDiv(o.Quantity, maxSlice)
		if nSlices > g.maxSlices {
			add(Refusal{Rule: RuleMaxSlices, Limit: g.maxSlices, Actual: nSlices, Unit: UnitOrders,
				Message: fmt.Sprintf("quantity %d at freeze quantity %d needs %d slices, over the limit of %d",
					o.Quantity, o.FreezeQty, nSlices, g.maxSlices)})
		}
	}
	if !killFlatten && lim.MaxOpenOrders > 0 {
		if n := satAdd(st.OpenOrders, nSlices); n > lim.MaxOpenOrders {
			add(Refusal{Rule: RuleMaxOpenOrders, Limit: lim.MaxOpenOrders, Actual: n, Unit: UnitOrders,
				Message: fmt.Sprintf("%d open orders plus %d new would be %d, over the limit of %d",
					st.OpenOrders, nSlices, n, lim.MaxOpenOrders)})
		}
	}

	if len(rs) > 0 {
		return Decision{Refusals: rs, ReduceOnly: reduce}
	}
	return Decision{Allowed: true, Slices: slices(o.Quantity, maxSlice), ReduceOnly: reduce}
}

func refused(r Refusal) Decision { return Decision{Refusals: []Refusal{r}} }

// invalid returns why o is not an order any exchange would take, or "".
func invalid(o Order) string {
	var p []string
	if o.Account == "" {
		p = append(p, "account is empty")
	}
	if o.Exchange == "" {
		p = append(p, "exchange is empty")
	}
	if o.Symbol == "" {
		p = append(p, "symbol is empty")
	}
	if !o.Side.Valid() {
		p = append(p, fmt.Sprintf("side %q is not BUY or SELL", o.Side))
	}
	if !o.Type.Valid() {
		p = append(p, fmt.Sprintf("type %q is not MARKET, LIMIT, SL or SL-M", o.Type))
	}
	if !o.Product.Valid() {
		p = append(p, fmt.Sprintf("product %q is not MIS, NRML or CNC", o.Product))
	}
	if o.Quantity <= 0 {
		p = append(p, fmt.Sprintf("quantity %d is not positive", o.Quantity))
	}
	if o.LotSize < 0 || o.FreezeQty < 0 || o.TickSize < 0 {
		p = append(p, fmt.Sprintf("negative lot size %d, freeze quantity %d or tick size %s", o.LotSize, o.FreezeQty, o.TickSize))
	}
	if hasLimitPrice(o.Type) && o.Price <= 0 {
		p = append(p, fmt.Sprintf("%s order needs a positive price, got %s", o.Type, o.Price))
	}
	if hasTrigger(o.Type) && o.TriggerPrice <= 0 {
		p = append(p, fmt.Sprintf("%s order needs a positive trigger price, got %s", o.Type, o.TriggerPrice))
	}
	if o.At.IsZero() {
		p = append(p, "event time is not set")
	}
	return strings.Join(p, "; ")
}

func hasLimitPrice(t domain.OrderType) bool { return t == domain.Limit || t == domain.StopLimit }
func hasTrigger(t domain.OrderType) bool    { return t == domain.StopLimit || t == domain.StopMkt }

func openOnSide(s domain.Side, st State) int64 {
	if s == domain.Buy {
		return st.OpenBuyQty
	}
	return st.OpenSellQty
}

// reduceOnly reports whether o can only bring the position towards zero,
// even if every open order on its side filled first, and how much quantity
// such an order could have at most.
func reduceOnly(o Order, st State) (bool, int64) {
	var room int64
	switch {
	case o.Side == domain.Sell && st.Position > 0:
		room = st.Position - st.OpenSellQty
	case o.Side == domain.Buy && st.Position < 0:
		room = abs64(st.Position) - st.OpenBuyQty
	}
	room = max(room, 0)
	return o.Quantity <= room, room
}

// stale reports a refusal when the tick at tickAt is missing or older than
// the gate's limit at at.
func (g *Gate) stale(what string, tickAt, at time.Time) (Refusal, bool) {
	limitMs := g.staleAfter.Milliseconds()
	if tickAt.IsZero() {
		return Refusal{Rule: RuleStaleData, Limit: limitMs, Actual: math.MaxInt64, Unit: UnitMillis,
			Message: "no tick yet for " + what}, true
	}
	age := at.Sub(tickAt)
	if age <= g.staleAfter {
		return Refusal{}, false
	}
	actual := int64(age / time.Millisecond)
	if age%time.Millisecond != 0 {
		actual++
	}
	return Refusal{Rule: RuleStaleData, Limit: limitMs, Actual: actual, Unit: UnitMillis,
		Message: fmt.Sprintf("last tick for %s at %s is %s old at %s, over the limit of %s",
			what, tickAt.Format(time.RFC3339Nano), age, at.Format(time.RFC3339Nano), g.staleAfter)}, true
}

// collarPrice is the price the collar compares with the last price.
func collarPrice(o Order, last domain.Price) domain.Price {
	switch o.Type {
	case domain.Limit, domain.StopLimit:
		return o.Price
	case domain.StopMkt:
		return o.TriggerPrice
	}
	return last
}

func collar(o Order, last domain.Price, bps int64) (Refusal, bool) {
	if bps <= 0 {
		return Refusal{}, false
	}
	if last <= 0 {
		return Refusal{Rule: RulePriceCollar, Limit: bps, Actual: math.MaxInt64, Unit: UnitBps,
			Message: "no last price to collar the order against"}, true
	}
	p := collarPrice(o, last)
	dev := abs64(int64(p) - int64(last))
	scaled := satMul(dev, 10000)
	if scaled <= satMul(bps, int64(last)) {
		return Refusal{}, false
	}
	actual := ceilDiv(scaled, int64(last))
	band := satMul(int64(last), bps) / 10000
	lo, hi := int64(last)-band, satAdd(int64(last), band)
	return Refusal{Rule: RulePriceCollar, Limit: bps, Actual: actual, Unit: UnitBps,
		Message: fmt.Sprintf("%s price %s is %d bps from the last price %s, over the collar of %d bps (%s to %s)",
			o.Type, p, actual, last, bps, domain.Price(lo), domain.Price(hi))}, true
}

// notionalPrice is the worst price o could trade at: the larger of its
// limit or trigger price and the last price.
func notionalPrice(o Order, last domain.Price) domain.Price {
	ref := max(last, 0)
	if hasLimitPrice(o.Type) {
		ref = max(ref, o.Price)
	}
	if hasTrigger(o.Type) {
		ref = max(ref, o.TriggerPrice)
	}
	return ref
}

// breaches returns the loss and drawdown limits that pnl and drawdown are
// over, daily loss first.
func breaches(lim domain.RiskLimits, pnl, drawdown domain.Price) []Refusal {
	var rs []Refusal
	if loss := abs64(int64(pnl)); lim.MaxDailyLoss > 0 && pnl < 0 && loss > int64(lim.MaxDailyLoss) {
		rs = append(rs, Refusal{Rule: RuleMaxDailyLoss, Limit: int64(lim.MaxDailyLoss), Actual: loss, Unit: UnitPaise,
			Message: fmt.Sprintf("day loss %s is over the limit of %s", domain.Price(loss), lim.MaxDailyLoss)})
	}
	if dd := abs64(int64(drawdown)); lim.MaxDrawdown > 0 && dd > int64(lim.MaxDrawdown) {
		rs = append(rs, Refusal{Rule: RuleMaxDrawdown, Limit: int64(lim.MaxDrawdown), Actual: dd, Unit: UnitPaise,
			Message: fmt.Sprintf("drawdown %s is over the limit of %s", domain.Price(dd), lim.MaxDrawdown)})
	}
	return rs
}
