package risk

import "math"

// Rule is the stable id of a risk rule. It is written into events
// (SignalRejected, KillSwitchTriggered), so the values never change.
type Rule string

// The rules, in the order Check evaluates and reports them.
const (
	RuleInvalidOrder     Rule = "invalid_order"
	RuleKillSwitch       Rule = "kill_switch"
	RuleReduceOnly       Rule = "reduce_only"
	RuleMarketClosed     Rule = "market_closed"
	RuleStaleData        Rule = "stale_data"
	RuleMaxDailyLoss     Rule = "max_daily_loss"
	RuleMaxDrawdown      Rule = "max_drawdown"
	RuleLotMultiple      Rule = "lot_multiple"
	RuleTickSize         Rule = "tick_size"
	RulePriceCollar      Rule = "price_collar"
	RuleMaxOrderQty      Rule = "max_order_qty"
	RuleMaxOrderLots     Rule = "max_order_lots"
	RuleMaxOrderNotional Rule = "max_order_notional"
	RuleMaxPosition      Rule = "max_position"
	RuleMaxSlices        Rule = "max_slices"
	RuleMaxOpenOrders    Rule = "max_open_orders"
	RuleOpsGovernor      Rule = "ops_governor"
)

// Unit says what a Refusal's Limit and Actual count.
type Unit string

// The units of Refusal numbers.
const (
	UnitNone   Unit = ""       // the rule has no numbers (kill_switch, market_closed)
	UnitQty    Unit = "qty"    // shares or contracts
	UnitLots   Unit = "lots"   // lots of Order.LotSize
	UnitPaise  Unit = "paise"  // money, domain.Price
	UnitBps    Unit = "bps"    // basis points of the last price
	UnitOrders Unit = "orders" // exchange orders (slices)
	UnitMillis Unit = "ms"     // milliseconds
)

// Refusal says which rule refused an order and by how much: Actual is
// over Limit, both in Unit. Where the actual value is fractional (a
// deviation in bps, an age in ms) it is rounded up, so Actual > Limit holds
// for every numeric refusal. Message is a deterministic human-readable
// account including the reference values (last price, tick time).
type Refusal struct {
	Rule    Rule
	Limit   int64
	Actual  int64
	Unit    Unit
	Message string
}

// String returns the message, prefixed by the rule.
func (r Refusal) String() string { return string(r.Rule) + ": " + r.Message }

// satAdd returns a+b, saturated at the int64 range.
func satAdd(a, b int64) int64 {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		if a > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

// satMul returns a*b for non-negative a and b, saturated at MaxInt64.
func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// ceilDiv returns ceil(a/b) for a >= 0, b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

func abs64(v int64) int64 {
	if v < 0 {
		if v == math.MinInt64 {
			return math.MaxInt64
		}
		return -v
	}
	return v
}
