package projections

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// Trading states of an account in the control read model.
const (
	StateStopped = "stopped" // the initial state, and after TradingStopped
	StateRunning = "running" // after TradingStarted or TradingResumed
	StatePaused  = "paused"  // after TradingPaused
)

// KillSwitch is an account's kill switch. Since is when the switch last
// changed (triggered or reset), by the event's recorded time.
type KillSwitch struct {
	Active bool      `json:"active"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	By     string    `json:"by,omitempty"`
	Auto   bool      `json:"auto,omitempty"`
	Rule   string    `json:"rule,omitempty"`
}

// ControlChangeRef names the last control event of an account: its type,
// who and why, when it was recorded and at which log position.
type ControlChangeRef struct {
	Type     string    `json:"type"`
	By       string    `json:"by"`
	Why      string    `json:"why,omitempty"`
	At       time.Time `json:"at"`
	Position uint64    `json:"position"`
}

// EnabledStrategy is a strategy running on an account, with the parameters
// it was last enabled with.
type EnabledStrategy struct {
	Strategy string          `json:"strategy"`
	Params   json.RawMessage `json:"params,omitempty"`
	By       string          `json:"by"`
	Since    time.Time       `json:"since"`
	Position uint64          `json:"position"`
}

// AccountControl is the control status of one account. An account the
// control stream has not mentioned is not listed; one that never changed
// mode is in paper mode.
type AccountControl struct {
	Account    string            `json:"account"`
	State      string            `json:"state"`
	Mode       domain.Mode       `json:"mode"`
	Flatten    bool              `json:"flatten,omitempty"` // the last stop asked to flatten positions
	Strategies []EnabledStrategy `json:"strategies"`        // sorted by name
	RiskLimits domain.RiskLimits `json:"risk_limits"`       // zero fields: no limit
	LimitsBy   string            `json:"risk_limits_by,omitempty"`
	KillSwitch KillSwitch        `json:"kill_switch"`
	LastChange ControlChangeRef  `json:"last_change"`
	Changes    int64             `json:"changes"`  // control events folded for the account
	Position   uint64            `json:"position"` // of the last one
	// Reconciliation is the account's last check against its broker and
	// the differences that still block trading (reconcile-<account>).
	Reconciliation domain.Reconciliation `json:"reconciliation"`
}

type controlState struct {
	Accounts map[string]*AccountControl `json:"accounts"`
	Bad      int64                      `json:"bad_events"`
}

// Control folds the control family (domain/control.go) into each account's
// trading state, mode, strategies, risk limits and kill switch, and the
// reconciliation family (domain/reconcile.go) into its reconciliation
// status.
type Control struct {
	state[controlState]
	reg *codec.Registry
}

// NewControl returns an empty control projection decoding with reg.
func NewControl(reg *codec.Registry) *Control {
	return &Control{state: state[controlState]{st: controlState{Accounts: map[string]*AccountControl{}}}, reg: reg}
}

// Name implements Projection.
func (*Control) Name() string { return "control" }

// Version implements Projection.
func (*Control) Version() int { return 2 }

var controlTypes = []string{domain.TypeTradingStarted, domain.TypeTradingPaused, domain.TypeTradingResumed,
	domain.TypeTradingStopped, domain.TypeModeChanged, domain.TypeStrategyEnabled, domain.TypeStrategyDisabled,
	domain.TypeRiskLimitsChanged, domain.TypeKillSwitchTriggered, domain.TypeKillSwitchReset}

var reconcileTypes = []string{domain.TypeBrokerSnapshotObserved, domain.TypeReconciliationDiffFound, domain.TypePositionAdopted}

// Filter implements Projection: the control and reconciliation types (each
// folded from its own streams only).
func (*Control) Filter() eventstore.Filter {
	return eventstore.Filter{Types: slices.Concat(controlTypes, reconcileTypes)}
}

// folds reports whether the control projection folds an event of typ in
// stream.
func folds(stream, typ string) bool {
	switch {
	case strings.HasPrefix(stream, "control-"):
		return slices.Contains(controlTypes, typ)
	case strings.HasPrefix(stream, "reconcile-"):
		return slices.Contains(reconcileTypes, typ)
	}
	return false
}

// Apply implements Projection.
func (c *Control) Apply(evs []eventstore.RecordedEvent, upTo eventstore.Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		if !folds(ev.Stream, ev.Type) {
			continue
		}
		de, err := c.reg.Decode(ev)
		if err != nil {
			c.st.Bad++
			continue
		}
		c.apply(de, ev)
	}
	c.advance(upTo)
}

func (c *Control) account(name string) *AccountControl {
	a := c.st.Accounts[name]
	if a == nil {
		a = &AccountControl{Account: name, State: StateStopped, Mode: domain.Paper, Strategies: []EnabledStrategy{},
			Reconciliation: domain.Reconciliation{Diffs: []domain.ReconciliationDiffFound{}}}
		c.st.Accounts[name] = a
	}
	return a
}

func (c *Control) apply(de domain.Event, ev *eventstore.RecordedEvent) {
	pos, at := uint64(ev.Position), ev.RecordedAt.UTC()
	var acct, by, why string
	switch e := de.(type) {
	case domain.BrokerSnapshotObserved:
		c.account(e.Account).Reconciliation.Evolve(e)
		return
	case domain.ReconciliationDiffFound:
		c.account(e.Account).Reconciliation.Evolve(e)
		return
	case domain.PositionAdopted:
		c.account(e.Account).Reconciliation.Evolve(e)
		return
	case domain.TradingStarted:
		acct, by, why = e.Account, e.By, e.Reason
		c.account(acct).State = StateRunning
	case domain.TradingPaused:
		acct, by, why = e.Account, e.By, e.Reason
		c.account(acct).State = StatePaused
	case domain.TradingResumed:
		acct, by, why = e.Account, e.By, e.Reason
		c.account(acct).State = StateRunning
	case domain.TradingStopped:
		acct, by, why = e.Account, e.By, e.Reason
		a := c.account(acct)
		a.State, a.Flatten = StateStopped, e.Flatten
	case domain.ModeChanged:
		acct, by, why = e.Account, e.By, fmt.Sprintf("%s to %s", e.From, e.To)
		c.account(acct).Mode = e.To
	case domain.StrategyEnabled:
		acct, by = e.Account, e.By
		a := c.account(acct)
		s := EnabledStrategy{Strategy: e.Strategy, Params: slices.Clone(e.Params), By: e.By, Since: at, Position: pos}
		i, found := slices.BinarySearchFunc(a.Strategies, e.Strategy, func(s EnabledStrategy, name string) int { return strings.Compare(s.Strategy, name) })
		if found {
			a.Strategies[i] = s
		} else {
			a.Strategies = slices.Insert(a.Strategies, i, s)
		}
	case domain.StrategyDisabled:
		acct, by, why = e.Account, e.By, e.Reason
		a := c.account(acct)
		a.Strategies = slices.DeleteFunc(a.Strategies, func(s EnabledStrategy) bool { return s.Strategy == e.Strategy })
	case domain.RiskLimitsChanged:
		acct, by = e.Account, e.By
		a := c.account(acct)
		a.RiskLimits, a.LimitsBy = e.Limits, e.By
	case domain.KillSwitchTriggered:
		acct, by, why = e.Account, e.By, e.Reason
		c.account(acct).KillSwitch = KillSwitch{Active: true, Reason: e.Reason, Since: at, By: e.By, Auto: e.Auto, Rule: e.Rule}
	case domain.KillSwitchReset:
		acct, by, why = e.Account, e.By, e.Reason
		c.account(acct).KillSwitch = KillSwitch{Active: false, Reason: e.Reason, Since: at, By: e.By}
	default:
		return
	}
	a := c.account(acct)
	a.LastChange = ControlChangeRef{Type: ev.Type, By: by, Why: why, At: at, Position: pos}
	a.Changes++
	a.Position = pos
}

// UnmarshalState implements Projection.
func (c *Control) UnmarshalState(b []byte) error {
	return c.load(b, "control", controlState{}, func(st *controlState) error {
		if st.Accounts == nil {
			st.Accounts = map[string]*AccountControl{}
		}
		for name, a := range st.Accounts {
			if a == nil {
				return fmt.Errorf("account %q is null", name)
			}
			if a.Strategies == nil {
				a.Strategies = []EnabledStrategy{}
			}
			a.Reconciliation = a.Reconciliation.Clone()
		}
		return nil
	})
}

// List returns copies of the accounts' control status, sorted by account
// (accounts nil: every account), and the log position they reflect.
func (c *Control) List(accounts []string) ([]AccountControl, eventstore.Position) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []AccountControl{}
	for _, a := range c.st.Accounts {
		if accounts != nil && !slices.Contains(accounts, a.Account) {
			continue
		}
		cp := *a
		cp.Strategies = slices.Clone(a.Strategies)
		cp.Reconciliation = a.Reconciliation.Clone()
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b AccountControl) int { return strings.Compare(a.Account, b.Account) })
	return out, c.at()
}
