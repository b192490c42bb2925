package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// ControlCommand names a trading-control command.
type ControlCommand string

// Control commands.
const (
	CmdStart  ControlCommand = "start"
	CmdStop   ControlCommand = "stop"
	CmdPause  ControlCommand = "pause"
	CmdResume ControlCommand = "resume"
)

// ControlStatus is an account's control state with its open orders.
type ControlStatus struct {
	domain.TradingControl
	OpenOrders int `json:"open_orders"`
	// Reconciliation is the account's last check against its broker and
	// the differences still blocking it.
	Reconciliation domain.Reconciliation `json:"reconciliation"`
}

// Control returns an account's control state (stopped and paper when it
// has none).
func (e *Engine) Control(account string) ControlStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.statusLocked(account)
}

func (e *Engine) statusLocked(account string) ControlStatus {
	c := domain.NewTradingControl(account)
	if p := e.controls[account]; p != nil {
		c = *p
	}
	return ControlStatus{TradingControl: c, OpenOrders: e.openOrdersLocked(account), Reconciliation: e.reconStatusLocked(account)}
}

// Controls returns the control state of every account the engine knows,
// sorted by account.
func (e *Engine) Controls() []ControlStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	accts := make([]string, 0, len(e.controls))
	for a := range e.controls {
		accts = append(accts, a)
	}
	sort.Strings(accts)
	out := make([]ControlStatus, len(accts))
	for i, a := range accts {
		out[i] = e.statusLocked(a)
	}
	return out
}

func (e *Engine) openOrdersLocked(account string) int {
	n := 0
	for _, o := range e.orders {
		if o.intent.Account == account && o.open() {
			n++
		}
	}
	return n
}

// Command runs start, stop (flatten: also close positions), pause or
// resume on an account. Stop cancels the account's open orders.
func (e *Engine) Command(ctx context.Context, a Actor, account string, cmd ControlCommand, reason string, flatten bool) (ControlStatus, error) {
	if err := a.mayTouch(account); err != nil {
		return ControlStatus{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cmd == CmdStart || cmd == CmdResume {
		if err := e.reconGateLocked(account); err != nil {
			return ControlStatus{}, err
		}
	}
	md := eventstore.Metadata{User: a.User, Account: account, Source: "control"}
	stream := domain.ControlStream(account)
	err := e.decide(ctx, stream, func() error {
		c := e.controlLocked(account)
		var (
			evs []domain.Event
			err error
		)
		switch cmd {
		case CmdStart:
			evs, err = c.Start(a.User, reason)
		case CmdStop:
			evs, err = c.Stop(a.User, reason, flatten)
		case CmdPause:
			evs, err = c.Pause(a.User, reason)
		case CmdResume:
			evs, err = c.Resume(a.User, reason)
		default:
			err = &domain.CommandError{Code: domain.CodeInvalid, Field: "command", Message: fmt.Sprintf("unknown command %q", cmd)}
		}
		if err != nil {
			return err
		}
		return e.append(ctx, stream, "", md, evs...)
	})
	if err != nil {
		return ControlStatus{}, err
	}
	if cmd == CmdStop {
		err := e.cancelOpenLocked(ctx, account, "trading stopped by "+a.User, md)
		if err == nil && flatten {
			err = e.flattenLocked(ctx, account, md)
		}
		// Answer with the cancels (and flattening) that were queued
		// through, failed or not.
		e.settleLocked(ctx, account)
		return e.statusLocked(account), err
	}
	return e.statusLocked(account), nil
}

// cancelOpenLocked cancels every open order of an account, in order id
// order; it tries them all and returns the first error. e.mu is held.
func (e *Engine) cancelOpenLocked(ctx context.Context, account, reason string, md eventstore.Metadata) error {
	ids := make([]string, 0)
	for id, o := range e.orders {
		if o.intent.Account == account && o.open() {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var first error
	for _, id := range ids {
		o := e.orders[id]
		b, err := e.brokerLocked(account, o.intent.Mode)
		if err == nil {
			err = e.cancelLocked(ctx, o, b, reason, md)
		}
		if err != nil && first == nil {
			first = fmt.Errorf("engine: cancel %s: %w", id, err)
		}
	}
	return first
}

// flattenLocked closes the account's positions with market orders, one per
// instrument (or per freeze-quantity slice), in instrument order. They
// bypass the trading state (the account is stopped or killed) but pass the
// risk gate as flatten orders (reduce-only, market open, governor) and go
// through the broker like any other order; a refused one is recorded as
// OrderRefused and logged. Nothing is flattened while the account's view
// differs from its broker's (reconciliation). e.mu is held.
func (e *Engine) flattenLocked(ctx context.Context, account string, md eventstore.Metadata) error {
	if err := e.reconGateLocked(account); err != nil {
		// Fail closed: the engine's positions are not the broker's, so
		// orders that close them might open new ones.
		e.log.Error("positions not flattened: the account's view differs from its broker's", "account", account, "err", err)
		ce := err.(*domain.CommandError)
		return &domain.CommandError{Code: ce.Code, Rule: ce.Rule, Message: "positions not flattened: " + ce.Message}
	}
	c := e.controlLocked(account)
	var keys []prodKey
	for k, q := range e.byProd {
		if k.account == account && q != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b prodKey) int {
		if a.instrument != b.instrument {
			return strings.Compare(a.instrument, b.instrument)
		}
		return strings.Compare(string(a.product), string(b.product))
	})
	var first error
	refused := false
	for _, k := range keys {
		q := e.byProd[k]
		inst := k.instrument
		ex, sym := splitKey(inst)
		side := domain.Sell
		if q < 0 {
			side, q = domain.Buy, -q
		}
		// One flattening order per instrument and product at a time.
		busy := false
		for _, o := range e.orders {
			if o.open() && o.intent.Strategy == "flatten" && o.intent.Account == account &&
				o.intent.Exchange == ex && o.intent.Symbol == sym && o.intent.Product == k.product {
				busy = true
			}
		}
		if busy {
			continue
		}
		in := domain.OrderIntentRecorded{Account: account, Mode: c.Mode, Strategy: "flatten",
			Exchange: ex, Symbol: sym, Side: side, Quantity: q, Type: domain.Market, Product: k.product}
		d := e.checkLocked(in, e.cfg.Now(), true)
		if ref, isRefused := d.Refusal(); isRefused {
			refused = true
			e.log.Warn("flatten order refused by the risk gate; retried on the instrument's next ticks", "account", account,
				"instrument", inst, "rule", ref.Rule, "reason", ref.Message)
			ev := domain.OrderRefused{Account: account, Exchange: ex, Symbol: sym, Side: side, Quantity: q, Rule: string(ref.Rule),
				Limit: ref.Limit, Actual: ref.Actual, Unit: string(ref.Unit), Message: ref.Message, By: "flatten"}
			if err := e.append(ctx, domain.RiskStream(account), "", md, ev); err != nil && first == nil {
				first = err
			}
			continue
		}
		for leg, sq := range d.Slices {
			cid := ClientOrderID("flatten:"+account, fmt.Sprintf("%s/%s@%d/%d", inst, k.product, e.versions[domain.ControlStream(account)],
				e.versions[domain.RiskStream(account)]), leg)
			if e.orders[cid] != nil {
				continue
			}
			in := in
			in.OrderID, in.ClientOrderID, in.Quantity = cid, cid, sq
			if _, err := e.route(ctx, in, md); err != nil && first == nil {
				first = err
			}
		}
	}
	if refused {
		e.flatten[account] = e.cfg.Now().Unix()
	} else {
		delete(e.flatten, account)
	}
	return first
}

// retryFlattenLocked tries again, at most once per second of event time,
// to flatten accounts whose flattening the risk gate refused (a stale
// quote, the governor), on a tick of an instrument they hold. e.mu is held.
func (e *Engine) retryFlattenLocked(ctx context.Context, t domain.Tick) {
	if len(e.flatten) == 0 {
		return
	}
	inst := t.Exchange + ":" + t.Symbol
	accts := make([]string, 0, len(e.flatten))
	for a, last := range e.flatten {
		if e.netLocked(posKey{a, inst}) != 0 && t.ExchangeTime.Unix() > last {
			accts = append(accts, a)
		}
	}
	slices.Sort(accts)
	for _, a := range accts {
		if err := e.flattenLocked(ctx, a, eventstore.Metadata{User: "flatten", Account: a, Source: "flatten"}); err != nil {
			e.log.Error("flattening again failed", "account", a, "err", err)
		}
	}
}

func splitKey(k string) (string, string) {
	for i := 0; i < len(k); i++ {
		if k[i] == ':' {
			return k[:i], k[i+1:]
		}
	}
	return "", k
}

// SetMode switches an account between paper and live; the account is then
// checked against the broker of its new mode (see Reconcile).
func (e *Engine) SetMode(ctx context.Context, a Actor, account string, to domain.Mode, confirm string) (ControlStatus, error) {
	if err := a.mayTouch(account); err != nil {
		return ControlStatus{}, err
	}
	// Asking the live broker for its session is a network call: made
	// before taking the lock, and only for a switch to live that could
	// otherwise pass.
	session := false
	if to == domain.Live && a.Admin && confirm == "LIVE" {
		session = e.cfg.LiveSession(account)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	stream := domain.ControlStream(account)
	changed := false
	err := e.decide(ctx, stream, func() error {
		evs, err := e.controlLocked(account).SetMode(domain.ModeRequest{To: to, By: a.User, Admin: a.Admin, Confirm: confirm,
			BrokerSession: session, OpenOrders: e.openOrdersLocked(account)})
		if err != nil {
			return err
		}
		changed = len(evs) > 0
		return e.append(ctx, stream, "", eventstore.Metadata{User: a.User, Account: account, Source: "control"}, evs...)
	})
	if err != nil {
		return ControlStatus{}, err
	}
	if changed {
		if err := e.reconcileAfterModeLocked(ctx, account, a.User); err != nil {
			return e.statusLocked(account), err
		}
	}
	return e.statusLocked(account), nil
}

// Kill trips an account's kill switch: new orders are blocked, open ones
// cancelled and, by the KillFlatten policy, positions closed.
func (e *Engine) Kill(ctx context.Context, a Actor, account, reason string) (ControlStatus, error) {
	if err := a.mayTouch(account); err != nil {
		return ControlStatus{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.killLocked(ctx, account, reason, a.User, false, "")
	if st.Account == "" { // not tripped (nothing was queued)
		return st, err
	}
	e.settleLocked(ctx, account)
	return e.statusLocked(account), err
}

func (e *Engine) killLocked(ctx context.Context, account, reason, by string, auto bool, rule string) (ControlStatus, error) {
	flatten := *e.cfg.KillFlatten
	md := eventstore.Metadata{User: by, Account: account, Source: "kill-switch"}
	stream := domain.ControlStream(account)
	var evs []domain.Event
	err := e.decide(ctx, stream, func() error {
		var err error
		if evs, err = e.controlLocked(account).TriggerKill(reason, by, auto, rule, flatten); err != nil {
			return err
		}
		return e.append(ctx, stream, "", md, evs...)
	})
	if err != nil {
		return ControlStatus{}, err
	}
	if len(evs) > 0 {
		e.log.Warn("kill switch tripped", "account", account, "reason", reason, "by", by, "rule", rule)
		err = e.cancelOpenLocked(ctx, account, "kill switch: "+reason, md)
		if flatten {
			if ferr := e.flattenLocked(ctx, account, md); ferr != nil && err == nil {
				err = ferr
			}
		}
	}
	return e.statusLocked(account), err
}

// ResetKill lifts an account's kill switch (admin, typed confirmation,
// cooldown); the account stays stopped until started again.
func (e *Engine) ResetKill(ctx context.Context, a Actor, account, confirm, reason string) (ControlStatus, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	stream := domain.ControlStream(account)
	var evs []domain.Event
	err := e.decide(ctx, stream, func() error {
		var err error
		evs, err = e.controlLocked(account).ResetKill(domain.KillResetRequest{By: a.User, Admin: a.Admin, Confirm: confirm, Reason: reason,
			Now: e.cfg.Wall(), Cooldown: e.cfg.KillCooldown})
		if err != nil {
			return err
		}
		return e.append(ctx, stream, "", eventstore.Metadata{User: a.User, Account: account, Source: "kill-switch"}, evs...)
	})
	if err != nil {
		return ControlStatus{}, err
	}
	if ar := e.risks[account]; ar != nil && len(evs) > 0 { // re-arm the automatic trips from here
		ar.breaker.Reset()
		ar.peak, _ = e.pnlLocked(account)
	}
	return e.statusLocked(account), nil
}

// SetRiskLimits replaces an account's risk limits (admin only); zero
// fields mean no limit.
func (e *Engine) SetRiskLimits(ctx context.Context, a Actor, account string, l domain.RiskLimits) (ControlStatus, error) {
	if !a.Admin {
		return ControlStatus{}, &domain.CommandError{Code: domain.CodeForbidden, Message: "setting risk limits needs the admin role"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	stream := domain.ControlStream(account)
	err := e.decide(ctx, stream, func() error {
		evs, err := e.controlLocked(account).SetRiskLimits(l, a.User)
		if err != nil {
			return err
		}
		return e.append(ctx, stream, "", eventstore.Metadata{User: a.User, Account: account, Source: "control"}, evs...)
	})
	if err != nil {
		return ControlStatus{}, err
	}
	return e.statusLocked(account), nil
}
