package domain

import "encoding/json"

// Stable event type names of the control family.
const (
	TypeTradingStarted      = "TradingStarted"
	TypeTradingPaused       = "TradingPaused"
	TypeTradingResumed      = "TradingResumed"
	TypeTradingStopped      = "TradingStopped"
	TypeModeChanged         = "ModeChanged"
	TypeStrategyEnabled     = "StrategyEnabled"
	TypeStrategyDisabled    = "StrategyDisabled"
	TypeRiskLimitsChanged   = "RiskLimitsChanged"
	TypeKillSwitchTriggered = "KillSwitchTriggered"
	TypeKillSwitchReset     = "KillSwitchReset"
)

// ControlStream returns the control stream of an account: "control-<account>".
func ControlStream(account string) string { return "control-" + account }

// ControlChange is the payload shared by the trading state transitions
// (started, paused, resumed, stopped): which account, who did it and why.
type ControlChange struct {
	Account string `json:"account"`
	By      string `json:"by"`
	Reason  string `json:"reason,omitempty"`
}

func (e ControlChange) validate(typ string) error {
	c := checker{typ: typ}
	c.nonEmpty("account", e.Account)
	c.nonEmpty("by", e.By)
	return c.result()
}

// TradingStarted says an account started trading.
type TradingStarted struct{ ControlChange }

// TradingPaused says an account paused: no new orders, open ones kept.
type TradingPaused struct{ ControlChange }

// TradingResumed says a paused account resumed.
type TradingResumed struct{ ControlChange }

// TradingStopped says an account stopped trading.
type TradingStopped struct {
	ControlChange
	Flatten bool `json:"flatten,omitempty"`
}

// EventType implements Event.
func (TradingStarted) EventType() string { return TypeTradingStarted }

// EventType implements Event.
func (TradingPaused) EventType() string { return TypeTradingPaused }

// EventType implements Event.
func (TradingResumed) EventType() string { return TypeTradingResumed }

// EventType implements Event.
func (TradingStopped) EventType() string { return TypeTradingStopped }

// Validate implements Event.
func (e TradingStarted) Validate() error { return e.validate(TypeTradingStarted) }

// Validate implements Event.
func (e TradingPaused) Validate() error { return e.validate(TypeTradingPaused) }

// Validate implements Event.
func (e TradingResumed) Validate() error { return e.validate(TypeTradingResumed) }

// Validate implements Event.
func (e TradingStopped) Validate() error { return e.validate(TypeTradingStopped) }

// ModeChanged says an account switched between paper and live.
type ModeChanged struct {
	Account string `json:"account"`
	From    Mode   `json:"from"`
	To      Mode   `json:"to"`
	By      string `json:"by"`
}

// EventType implements Event.
func (ModeChanged) EventType() string { return TypeModeChanged }

// Validate implements Event.
func (e ModeChanged) Validate() error {
	c := checker{typ: TypeModeChanged}
	c.nonEmpty("account", e.Account)
	if !e.From.Valid() {
		c.fail("from", "must be paper or live, got %q", e.From)
	}
	if !e.To.Valid() {
		c.fail("to", "must be paper or live, got %q", e.To)
	}
	if e.From == e.To {
		c.fail("to", "is the same as from (%s)", e.To)
	}
	c.nonEmpty("by", e.By)
	return c.result()
}

// StrategyEnabled says a strategy runs on an account with these parameters.
type StrategyEnabled struct {
	Account  string          `json:"account"`
	Strategy string          `json:"strategy"`
	Params   json.RawMessage `json:"params,omitempty"`
	By       string          `json:"by"`
}

// EventType implements Event.
func (StrategyEnabled) EventType() string { return TypeStrategyEnabled }

// Validate implements Event.
func (e StrategyEnabled) Validate() error {
	c := checker{typ: TypeStrategyEnabled}
	c.nonEmpty("account", e.Account)
	c.nonEmpty("strategy", e.Strategy)
	if len(e.Params) > 0 && !json.Valid(e.Params) {
		c.fail("params", "is not valid JSON")
	}
	c.nonEmpty("by", e.By)
	return c.result()
}

// StrategyDisabled says a strategy no longer runs on an account.
type StrategyDisabled struct {
	Account  string `json:"account"`
	Strategy string `json:"strategy"`
	By       string `json:"by"`
	Reason   string `json:"reason,omitempty"`
}

// EventType implements Event.
func (StrategyDisabled) EventType() string { return TypeStrategyDisabled }

// Validate implements Event.
func (e StrategyDisabled) Validate() error {
	c := checker{typ: TypeStrategyDisabled}
	c.nonEmpty("account", e.Account)
	c.nonEmpty("strategy", e.Strategy)
	c.nonEmpty("by", e.By)
	return c.result()
}

// RiskLimits are an account's pre-trade limits. Zero means "no limit" for
// each field.
type RiskLimits struct {
	MaxOrderQty      int64 `json:"max_order_qty,omitempty"`
	MaxOrderLots     int64 `json:"max_order_lots,omitempty"`
	MaxOrderNotional Price `json:"max_order_notional,omitempty"`
	MaxPositionQty   int64 `json:"max_position_qty,omitempty"`
	MaxOpenOrders    int64 `json:"max_open_orders,omitempty"`
	MaxDailyLoss     Price `json:"max_daily_loss,omitempty"`
	MaxDrawdown      Price `json:"max_drawdown,omitempty"`
	PriceCollarBps   int64 `json:"price_collar_bps,omitempty"`
	MaxOrdersPerSec  int64 `json:"max_orders_per_sec,omitempty"`
}

// RiskLimitsChanged records new risk limits for an account.
type RiskLimitsChanged struct {
	Account string     `json:"account"`
	Limits  RiskLimits `json:"limits"`
	By      string     `json:"by"`
}

// EventType implements Event.
func (RiskLimitsChanged) EventType() string { return TypeRiskLimitsChanged }

// Validate implements Event.
func (e RiskLimitsChanged) Validate() error {
	c := checker{typ: TypeRiskLimitsChanged}
	c.nonEmpty("account", e.Account)
	l := e.Limits
	c.nonNegative("limits.max_order_qty", l.MaxOrderQty)
	c.nonNegative("limits.max_order_lots", l.MaxOrderLots)
	c.nonNegativePrice("limits.max_order_notional", l.MaxOrderNotional)
	c.nonNegative("limits.max_position_qty", l.MaxPositionQty)
	c.nonNegative("limits.max_open_orders", l.MaxOpenOrders)
	c.nonNegativePrice("limits.max_daily_loss", l.MaxDailyLoss)
	c.nonNegativePrice("limits.max_drawdown", l.MaxDrawdown)
	c.nonNegative("limits.price_collar_bps", l.PriceCollarBps)
	c.nonNegative("limits.max_orders_per_sec", l.MaxOrdersPerSec)
	if l.MaxOrdersPerSec >= 10 {
		c.fail("limits.max_orders_per_sec", "must stay below SEBI's 10 orders per second, got %d", l.MaxOrdersPerSec)
	}
	c.nonEmpty("by", e.By)
	return c.result()
}

// KillSwitchTriggered blocks all new orders on an account. Auto is true when
// a risk rule tripped it rather than a person.
type KillSwitchTriggered struct {
	Account string `json:"account"`
	Reason  string `json:"reason"`
	By      string `json:"by"`
	Auto    bool   `json:"auto,omitempty"`
	Rule    string `json:"rule,omitempty"`
	// The numbers of an automatic trip (see SignalRejected).
	Limit  int64  `json:"limit,omitempty"`
	Actual int64  `json:"actual,omitempty"`
	Unit   string `json:"unit,omitempty"`
}

// EventType implements Event.
func (KillSwitchTriggered) EventType() string { return TypeKillSwitchTriggered }

// Validate implements Event.
func (e KillSwitchTriggered) Validate() error {
	c := checker{typ: TypeKillSwitchTriggered}
	c.nonEmpty("account", e.Account)
	c.nonEmpty("reason", e.Reason)
	c.nonEmpty("by", e.By)
	return c.result()
}

// KillSwitchReset lifts the kill switch of an account.
type KillSwitchReset struct {
	Account string `json:"account"`
	By      string `json:"by"`
	Reason  string `json:"reason"`
}

// EventType implements Event.
func (KillSwitchReset) EventType() string { return TypeKillSwitchReset }

// Validate implements Event.
func (e KillSwitchReset) Validate() error {
	c := checker{typ: TypeKillSwitchReset}
	c.nonEmpty("account", e.Account)
	c.nonEmpty("by", e.By)
	c.nonEmpty("reason", e.Reason)
	return c.result()
}
