package domain

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// CommandError is a command the domain refuses: Code says why in the API's
// terms ("invalid" input, "conflict" with the current state, "forbidden"
// for the caller's role, "refused" by a risk rule), Field names the input
// at fault when there is one, Rule the risk rule.
type CommandError struct {
	Code    string
	Field   string
	Rule    string
	Message string
}

// Command error codes.
const (
	CodeInvalid   = "invalid"
	CodeConflict  = "conflict"
	CodeForbidden = "forbidden"
	CodeRefused   = "refused"
	CodeNotFound  = "not_found"
	// CodeUnavailable: a dependency (the broker) has not answered in time.
	CodeUnavailable = "unavailable"
)

func (e *CommandError) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func cmdErr(code, format string, args ...any) *CommandError {
	return &CommandError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Trading states of an account.
const (
	ControlStopped = "stopped"
	ControlRunning = "running"
	ControlPaused  = "paused"
)

// KillSwitchConfirm is the typed confirmation a kill-switch reset needs.
const KillSwitchConfirm = "RESET"

// LiveConfirm is the typed confirmation switching an account to live needs.
const LiveConfirm = "LIVE"

// StrategyRun is a strategy enabled on an account.
type StrategyRun struct {
	Strategy string          `json:"strategy"`
	Params   json.RawMessage `json:"params,omitempty"`
}

// TradingControl is the write side of one account's control stream
// ("control-<account>"): its trading state, mode, kill switch, strategies
// and risk limits. Evolve folds the stream's events; the command methods
// decide, from the state alone, which events a command appends (none when
// it changes nothing) or why it is refused (*CommandError). They never
// read a clock: time comes in as an argument.
type TradingControl struct {
	Account    string        `json:"account"`
	State      string        `json:"state"`
	Mode       Mode          `json:"mode"`
	Kill       bool          `json:"kill"`
	KillReason string        `json:"kill_reason,omitempty"`
	KillSince  time.Time     `json:"kill_since,omitzero"`
	KillRule   string        `json:"kill_rule,omitempty"`
	Strategies []StrategyRun `json:"strategies"` // sorted by name
	Limits     RiskLimits    `json:"limits"`
	Version    uint64        `json:"version"` // events folded: the stream's expected version for the next append
}

// NewTradingControl returns the control of an account that has no events:
// stopped, paper, no kill switch.
func NewTradingControl(account string) TradingControl {
	return TradingControl{Account: account, State: ControlStopped, Mode: Paper}
}

// Evolve folds one event of the account's control stream, recorded at at.
func (c *TradingControl) Evolve(e Event, at time.Time) {
	c.Version++
	switch e := e.(type) {
	case TradingStarted, TradingResumed:
		c.State = ControlRunning
	case TradingPaused:
		c.State = ControlPaused
	case TradingStopped:
		c.State = ControlStopped
	case ModeChanged:
		c.Mode = e.To
	case KillSwitchTriggered:
		c.Kill, c.KillReason, c.KillSince, c.KillRule = true, e.Reason, at, e.Rule
	case KillSwitchReset:
		c.Kill, c.KillReason, c.KillSince, c.KillRule = false, "", at, ""
	case StrategyEnabled:
		run := StrategyRun{Strategy: e.Strategy, Params: e.Params}
		i, found := slices.BinarySearchFunc(c.Strategies, e.Strategy, func(r StrategyRun, n string) int { return compareStrings(r.Strategy, n) })
		if found {
			c.Strategies[i] = run
		} else {
			c.Strategies = slices.Insert(c.Strategies, i, run)
		}
	case StrategyDisabled:
		c.Strategies = slices.DeleteFunc(c.Strategies, func(r StrategyRun) bool { return r.Strategy == e.Strategy })
	case RiskLimitsChanged:
		c.Limits = e.Limits
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Enabled returns the run of a strategy, if enabled.
func (c TradingControl) Enabled(strategy string) (StrategyRun, bool) {
	i := slices.IndexFunc(c.Strategies, func(r StrategyRun) bool { return r.Strategy == strategy })
	if i < 0 {
		return StrategyRun{}, false
	}
	return c.Strategies[i], true
}

// CanTrade reports whether new orders may be sent: running and no kill
// switch.
func (c TradingControl) CanTrade() bool { return c.State == ControlRunning && !c.Kill }

func (c TradingControl) change(by, reason string) ControlChange {
	return ControlChange{Account: c.Account, By: by, Reason: reason}
}

// Start starts trading. Refused while the kill switch is active; a no-op
// when running.
func (c TradingControl) Start(by, reason string) ([]Event, error) {
	switch {
	case c.Kill:
		return nil, cmdErr(CodeConflict, "the kill switch of %s is active (%s): reset it first", c.Account, c.KillReason)
	case c.State == ControlRunning:
		return nil, nil
	case c.State == ControlPaused:
		return nil, cmdErr(CodeConflict, "%s is paused: resume it", c.Account)
	}
	return []Event{TradingStarted{c.change(by, reason)}}, nil
}

// Pause stops new orders and keeps open ones; only from running.
func (c TradingControl) Pause(by, reason string) ([]Event, error) {
	switch c.State {
	case ControlPaused:
		return nil, nil
	case ControlStopped:
		return nil, cmdErr(CodeConflict, "%s is stopped: nothing to pause", c.Account)
	}
	return []Event{TradingPaused{c.change(by, reason)}}, nil
}

// Resume resumes a paused account; refused while the kill switch is active.
func (c TradingControl) Resume(by, reason string) ([]Event, error) {
	switch {
	case c.Kill:
		return nil, cmdErr(CodeConflict, "the kill switch of %s is active (%s): reset it first", c.Account, c.KillReason)
	case c.State == ControlRunning:
		return nil, nil
	case c.State == ControlStopped:
		return nil, cmdErr(CodeConflict, "%s is stopped: start it", c.Account)
	}
	return []Event{TradingResumed{c.change(by, reason)}}, nil
}

// Stop stops trading (the engine then cancels open orders and, with
// flatten, closes positions). Stopping a stopped account again is allowed
// when it asks to flatten.
func (c TradingControl) Stop(by, reason string, flatten bool) ([]Event, error) {
	if c.State == ControlStopped && !flatten {
		return nil, nil
	}
	return []Event{TradingStopped{ControlChange: c.change(by, reason), Flatten: flatten}}, nil
}

// ModeRequest is what switching mode needs to know besides the target.
type ModeRequest struct {
	To            Mode
	By            string
	Admin         bool   // the caller has the admin role
	Confirm       string // must be LiveConfirm to go live
	BrokerSession bool   // a valid live broker session exists
	OpenOrders    int    // the account's open orders, in either mode
}

// SetMode switches between paper and live. Going live needs an admin, the
// typed confirmation and a broker session; switching is refused while
// orders are open.
func (c TradingControl) SetMode(r ModeRequest) ([]Event, error) {
	switch {
	case !r.To.Valid():
		return nil, &CommandError{Code: CodeInvalid, Field: "mode", Message: fmt.Sprintf("must be paper or live, got %q", r.To)}
	case r.To == c.Mode:
		return nil, nil
	case r.OpenOrders > 0:
		return nil, cmdErr(CodeConflict, "%s has %d open orders: cancel them or wait before switching mode", c.Account, r.OpenOrders)
	case r.To == Live && !r.Admin:
		return nil, cmdErr(CodeForbidden, "switching to live trading needs the admin role")
	case r.To == Live && r.Confirm != LiveConfirm:
		return nil, &CommandError{Code: CodeInvalid, Field: "confirm", Message: fmt.Sprintf("switching to live needs {\"confirm\":%q}", LiveConfirm)}
	case r.To == Live && !r.BrokerSession:
		return nil, cmdErr(CodeConflict, "no valid broker session for %s: log in to the broker first", c.Account)
	}
	return []Event{ModeChanged{Account: c.Account, From: c.Mode, To: r.To, By: r.By}}, nil
}

// TriggerKill activates the kill switch and stops trading (flatten: the
// engine also closes positions, by the caller's policy); a no-op when
// active.
func (c TradingControl) TriggerKill(reason, by string, auto bool, rule string, flatten bool) ([]Event, error) {
	if reason == "" {
		return nil, &CommandError{Code: CodeInvalid, Field: "reason", Message: "must not be empty"}
	}
	if c.Kill {
		return nil, nil
	}
	evs := []Event{KillSwitchTriggered{Account: c.Account, Reason: reason, By: by, Auto: auto, Rule: rule}}
	if c.State != ControlStopped || flatten {
		evs = append(evs, TradingStopped{ControlChange: c.change(by, "kill switch: "+reason), Flatten: flatten})
	}
	return evs, nil
}

// KillResetRequest is what a kill-switch reset needs.
type KillResetRequest struct {
	By       string
	Admin    bool
	Confirm  string // must be KillSwitchConfirm
	Reason   string
	Now      time.Time
	Cooldown time.Duration // since the trigger
}

// ResetKill lifts the kill switch: an admin, the typed confirmation, a
// reason, and the cooldown since it tripped. Trading stays stopped: the
// account must be started again.
func (c TradingControl) ResetKill(r KillResetRequest) ([]Event, error) {
	switch {
	case !c.Kill:
		return nil, cmdErr(CodeConflict, "the kill switch of %s is not active", c.Account)
	case !r.Admin:
		return nil, cmdErr(CodeForbidden, "resetting the kill switch needs the admin role")
	case r.Confirm != KillSwitchConfirm:
		return nil, &CommandError{Code: CodeInvalid, Field: "confirm", Message: fmt.Sprintf("resetting the kill switch needs {\"confirm\":%q}", KillSwitchConfirm)}
	case r.Reason == "":
		return nil, &CommandError{Code: CodeInvalid, Field: "reason", Message: "must say why the kill switch may be reset"}
	case r.Now.Before(c.KillSince.Add(r.Cooldown)):
		return nil, cmdErr(CodeConflict, "the kill switch of %s tripped at %s: it can be reset after %s (cooldown %s)",
			c.Account, c.KillSince.Format(time.RFC3339), c.KillSince.Add(r.Cooldown).Format(time.RFC3339), r.Cooldown)
	}
	return []Event{KillSwitchReset{Account: c.Account, By: r.By, Reason: r.Reason}}, nil
}

// EnableStrategy enables (or re-parameterises) a strategy; params must be
// validated by the caller, which knows the strategy.
func (c TradingControl) EnableStrategy(strategy string, params json.RawMessage, by string) ([]Event, error) {
	if strategy == "" {
		return nil, &CommandError{Code: CodeInvalid, Field: "strategy", Message: "must not be empty"}
	}
	if run, ok := c.Enabled(strategy); ok && string(run.Params) == string(params) {
		return nil, nil
	}
	return []Event{StrategyEnabled{Account: c.Account, Strategy: strategy, Params: params, By: by}}, nil
}

// DisableStrategy disables a strategy; a no-op when not enabled.
func (c TradingControl) DisableStrategy(strategy, by, reason string) ([]Event, error) {
	if _, ok := c.Enabled(strategy); !ok {
		return nil, nil
	}
	return []Event{StrategyDisabled{Account: c.Account, Strategy: strategy, By: by, Reason: reason}}, nil
}

// SetRiskLimits replaces the account's risk limits.
func (c TradingControl) SetRiskLimits(l RiskLimits, by string) ([]Event, error) {
	e := RiskLimitsChanged{Account: c.Account, Limits: l, By: by}
	if err := e.Validate(); err != nil {
		return nil, &CommandError{Code: CodeInvalid, Field: "limits", Message: err.Error()}
	}
	if l == c.Limits {
		return nil, nil
	}
	return []Event{e}, nil
}
