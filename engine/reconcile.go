package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// Safe restart: after Load (and Recover) the engine asks each account's
// broker for its orders, positions and delivery holdings and compares them
// with its own view (positions from fills and adoptions, orders from their
// streams). The check is recorded as BrokerSnapshotObserved followed, in
// the same append, by one ReconciliationDiffFound per difference; while
// any is outstanding the account may not trade (rule "reconciliation"):
// orders, signals, modifications, start, resume and flattening are
// refused. A later check that finds none, or an admin adopting the
// broker's view of an instrument (PositionAdopted), lifts the block. A
// broker that cannot be asked, or that fails any of the three reports, is
// a difference too (broker_unavailable): a missing report is not a flat
// account. RunReconciliation repeats the check while the engine runs.
//
// Delivery (CNC) has two reports at a broker: its positions and its
// holdings. By default (the paper broker) the positions hold the whole net
// CNC position and the holdings its long part again: the engine compares
// its CNC position in an instrument with each report that names it, with
// the positions (position_mismatch) and with the holdings
// (holding_mismatch, against the engine's long quantity). An instrument
// the positions do not name in CNC but the holdings do is compared with
// the holdings alone, and adopting it adopts the holding; one neither
// names is flat at the broker. A broker whose positions and holdings name
// an instrument with different long quantities cannot be adopted from:
// the two reports contradict each other. A broker that reports delivery
// apart (DeliveryApart: Kite, whose positions carry the day's trades and
// whose holdings what was bought before) is compared, for an instrument
// its holdings name, on the holding plus the day's CNC position
// (holding_mismatch), and that sum is what adopting it adopts.
//
// Locking: a check asks the broker without holding e.mu where it can
// (askBrokerLocked): it notes the engine's view of the account (its order
// events, reconciliation events and mode), asks, and uses the answer only
// if that view did not move meanwhile, else it asks again; the paper
// brokers change only while the engine holds e.mu and records what they
// did, so an unchanged view means the answer matches it. The check that
// follows a mode change (SetMode) asks holding e.mu, so that no order
// slips in before it. A broker whose executions are polled (Poller) can be
// ahead of the engine by the reports not polled yet: a check that finds a
// difference there first collects and records them (pollLocked), then
// asks again, and only what still differs is recorded.

// ruleReconciliation is the rule of refusals while an account's view
// differs from its broker's.
const ruleReconciliation = "reconciliation"

// reconState is the reconciliation side of the engine's state. e.mu
// guards it.
type reconState struct {
	accounts map[string]*domain.Reconciliation // folded from reconcile-<account>
	// adopted is the net quantity adopted per account, mode, instrument
	// and product: with the fills of the mode's orders, the engine's view
	// of the broker's positions.
	adopted map[heldKey]int64
	// unrecorded holds the accounts whose last check could not be
	// recorded, and why: blocked until one is.
	unrecorded map[string]string
	// checking holds the accounts being checked after a mode change, with
	// the lock released while their new broker answers: blocked meanwhile.
	checking map[string]bool
}

// heldKey names a position as a broker keeps it.
type heldKey struct {
	account    string
	mode       domain.Mode
	instrument string // "EXCHANGE:SYMBOL"
	product    domain.Product
}

// instProduct is a position of one account and mode.
type instProduct struct {
	instrument string
	product    domain.Product
}

// recLocked returns the account's reconciliation state, creating it. e.mu
// is held.
func (e *Engine) recLocked(account string) *domain.Reconciliation {
	if e.rec.accounts == nil {
		e.rec.accounts = map[string]*domain.Reconciliation{}
	}
	r := e.rec.accounts[account]
	if r == nil {
		r = &domain.Reconciliation{Diffs: []domain.ReconciliationDiffFound{}}
		e.rec.accounts[account] = r
	}
	return r
}

// foldReconcile applies a reconciliation event. e.mu is held.
func (e *Engine) foldReconcile(de domain.Event) {
	var account string
	switch ev := de.(type) {
	case domain.BrokerSnapshotObserved:
		account = ev.Account
		delete(e.rec.unrecorded, account)
	case domain.ReconciliationDiffFound:
		account = ev.Account
	case domain.PositionAdopted:
		account = ev.Account
		e.adoptLocked(ev)
	default:
		return
	}
	e.recLocked(account).Evolve(de)
}

// adoptLocked makes an adopted position the engine's own: it counts in
// the position the risk gate sees, in the P&L book and in the view the
// next check compares. e.mu is held.
func (e *Engine) adoptLocked(ev domain.PositionAdopted) {
	d := ev.Delta()
	if e.rec.adopted == nil {
		e.rec.adopted = map[heldKey]int64{}
	}
	e.rec.adopted[heldKey{ev.Account, ev.Mode, ev.Instrument, ev.Product}] += d
	if d == 0 {
		return
	}
	pk := posKey{ev.Account, ev.Instrument}
	e.byProd[prodKey{pk, ev.Product}] += d
	// An adoption is no trade: the holding moves to the broker's (a
	// reduction keeps the average, an addition averages in, a flip opens
	// at the broker's price) and nothing is realised.
	e.bookLocked(pk).Holding.Fill(d, ev.AvgPrice)
}

// reconGateLocked refuses trading on an account whose view differs from
// its broker's. e.mu is held.
func (e *Engine) reconGateLocked(account string) error {
	if e.rec.checking[account] {
		return &domain.CommandError{Code: domain.CodeRefused, Rule: ruleReconciliation,
			Message: fmt.Sprintf("%s is blocked while it is checked against the broker of its new mode", account)}
	}
	if why, ok := e.rec.unrecorded[account]; ok {
		return &domain.CommandError{Code: domain.CodeRefused, Rule: ruleReconciliation,
			Message: fmt.Sprintf("%s is blocked: its check against the broker could not be recorded (%s); check again", account, why)}
	}
	r := e.rec.accounts[account]
	if r == nil || !r.Blocked {
		return nil
	}
	return &domain.CommandError{Code: domain.CodeRefused, Rule: ruleReconciliation,
		Message: fmt.Sprintf("%s is blocked until its view matches the broker's: %d difference(s), the first: %s; "+
			"an admin adopts the broker's position or checks again", account, len(r.Diffs), r.Diffs[0].Message)}
}

// canTradeLocked says whether the account may send new orders: no kill
// switch, no reconciliation difference, running. e.mu is held.
func (e *Engine) canTradeLocked(c *domain.TradingControl) error {
	if c.Kill {
		return canTrade(c)
	}
	if err := e.reconGateLocked(c.Account); err != nil {
		return err
	}
	return canTrade(c)
}

// reconStatusLocked is the account's reconciliation as the control status
// shows it. e.mu is held.
func (e *Engine) reconStatusLocked(account string) domain.Reconciliation {
	r := domain.Reconciliation{Diffs: []domain.ReconciliationDiffFound{}}
	if p := e.rec.accounts[account]; p != nil {
		r = p.Clone()
	}
	if why, ok := e.rec.unrecorded[account]; ok {
		r.Blocked = true
		r.Diffs = append(r.Diffs, domain.ReconciliationDiffFound{Account: account, Mode: e.modeLocked(account), Kind: domain.DiffBrokerUnavailable,
			Message: "the last check could not be recorded: " + why})
	}
	if e.rec.checking[account] {
		r.Blocked = true
	}
	return r
}

// modeLocked is the account's trading mode. e.mu is held.
func (e *Engine) modeLocked(account string) domain.Mode {
	if c := e.controls[account]; c != nil {
		return c.Mode
	}
	return domain.Paper
}

// ReconcileAll checks every account the log mentions against its broker,
// in account order (see Reconcile). Call it after Load and Recover and
// before trading starts.
func (e *Engine) ReconcileAll(ctx context.Context) error {
	var errs []error
	for _, a := range e.reconAccounts() {
		if _, err := e.Reconcile(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reconAccounts returns the accounts the log mentions, sorted: those with
// a control, an order, a position or a reconciliation.
func (e *Engine) reconAccounts() []string {
	e.mu.Lock()
	seen := map[string]bool{}
	for a := range e.controls {
		seen[a] = true
	}
	for _, o := range e.orders {
		seen[o.intent.Account] = true
	}
	for k := range e.books {
		seen[k.account] = true
	}
	for a := range e.rec.accounts {
		seen[a] = true
	}
	e.mu.Unlock()
	accts := make([]string, 0, len(seen))
	for a := range seen {
		accts = append(accts, a)
	}
	slices.Sort(accts)
	return accts
}

// RunReconciliation checks every account the log mentions against the
// broker of its current mode every interval, until ctx ends (it then
// returns nil). A check that finds a difference the account's state does
// not already show records it and blocks the account; one that agrees
// with the broker while the account is blocked records that and lifts the
// block, as a manual check does. A check whose outcome is the account's
// state already (agreeing again, or the same outstanding differences) is
// not recorded, so a quiet account adds nothing to the log. Each check
// bounds the broker's answers by the interval (at least 5 s, at most 1
// min); a broker that does not answer in time is unavailable. The engine's
// lock is not held while the broker answers (see askBrokerLocked).
func (e *Engine) RunReconciliation(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("engine: the reconciliation interval must be positive, got %v", every)
	}
	timeout := min(max(every, 5*time.Second), time.Minute)
	repeat(ctx, every, func(ctx context.Context) {
		for _, a := range e.reconAccounts() {
			if ctx.Err() != nil {
				return
			}
			e.recheck(ctx, a, timeout)
		}
	})
	return nil
}

// recheck is one periodic check of an account (see RunReconciliation).
func (e *Engine) recheck(ctx context.Context, account string, timeout time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.reconCheckLocked(ctx, account, reconOpts{by: "engine", quiet: true, timeout: timeout}); err != nil && ctx.Err() == nil {
		e.log.Error("reconciliation: the periodic check failed", "account", account, "err", err)
	}
}

// Reconcile checks an account against the broker of its current mode and
// records what it found; it returns the account's reconciliation state.
// A broker that cannot be asked is recorded as a broker_unavailable
// difference (the account stays blocked); the error reports only a check
// that could not be recorded, which blocks the account as well.
func (e *Engine) Reconcile(ctx context.Context, account string) (domain.Reconciliation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := e.reconCheckLocked(ctx, account, reconOpts{by: "engine"})
	return e.reconStatusLocked(account), err
}

// CheckReconciliation runs Reconcile for an admin and answers the
// account's control status.
func (e *Engine) CheckReconciliation(ctx context.Context, a Actor, account string) (ControlStatus, error) {
	if !a.Admin {
		return ControlStatus{}, &domain.CommandError{Code: domain.CodeForbidden, Message: "checking an account against its broker needs the admin role"}
	}
	if strings.TrimSpace(account) == "" {
		return ControlStatus{}, &domain.CommandError{Code: domain.CodeInvalid, Field: "account", Message: "must not be empty"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.reconCheckLocked(ctx, account, reconOpts{by: a.User, giveUp: true}); err != nil {
		return ControlStatus{}, err
	}
	return e.statusLocked(account), nil
}

// reconcileAfterModeLocked checks the account against the broker of its
// new mode and records the check. The account is blocked until then
// (rec.checking), so e.mu is released while the broker answers. e.mu is
// held on entry and on return.
func (e *Engine) reconcileAfterModeLocked(ctx context.Context, account, by string) error {
	if e.rec.checking == nil {
		e.rec.checking = map[string]bool{}
	}
	e.rec.checking[account] = true
	defer delete(e.rec.checking, account)
	_, err := e.reconCheckLocked(ctx, account, reconOpts{by: by})
	return err
}

// reconOpts says how a check runs.
type reconOpts struct {
	by      string        // who asked
	quiet   bool          // record only an outcome the account's state does not show yet; gives up as giveUp
	giveUp  bool          // an account that keeps changing is not asked under the lock (errAccountBusy)
	timeout time.Duration // bound on the broker's answers; 0: ctx's
}

// reconCheckLocked asks the broker and records the check; recorded is false
// when a quiet check found what the account's state already shows, or
// ended with ctx. e.mu is held, and released while the broker answers
// (askCaughtUpLocked).
func (e *Engine) reconCheckLocked(ctx context.Context, account string, o reconOpts) (recorded bool, err error) {
	mode, v, err := e.askCaughtUpLocked(ctx, account, o.quiet || o.giveUp, o.timeout)
	if o.quiet && ctx.Err() != nil {
		return false, ctx.Err() // stopping: an unanswered question is no difference
	}
	if errors.Is(err, errAccountBusy) { // nothing recorded: the account's state stands
		if o.quiet {
			e.log.Info("reconciliation: the account kept trading while its broker answered; checking at the next interval", "account", account)
			return false, nil
		}
		return false, &domain.CommandError{Code: domain.CodeConflict,
			Message: fmt.Sprintf("%s changed during each of %d asks of its broker (it is trading): check again", account, maxUnlockedAsks)}
	}
	snap := domain.BrokerSnapshotObserved{Account: account, Mode: mode, Broker: v.name, By: o.by, At: e.cfg.Now(),
		Orders: []domain.BrokerOrder{}, Positions: []domain.BrokerPosition{}}
	var diffs []domain.ReconciliationDiffFound
	if err != nil {
		snap.Error = err.Error()
		diffs = []domain.ReconciliationDiffFound{{Account: account, Mode: mode, Kind: domain.DiffBrokerUnavailable,
			Message: "the broker could not be asked, so the account's positions are unknown (not flat): " + err.Error()}}
	} else {
		var kept []domain.BrokerOrder
		diffs, kept = e.compareLocked(account, mode, v)
		snap.Orders, snap.OrdersSeen, snap.Positions, snap.Holdings = kept, len(v.orders), v.positions, v.holdings
	}
	snap.Diffs = len(diffs)
	if o.quiet && e.sameOutcomeLocked(account, mode, v.name, diffs) {
		return false, nil
	}
	evs := make([]domain.Event, 0, 1+len(diffs))
	evs = append(evs, snap)
	for _, d := range diffs {
		evs = append(evs, d)
	}
	stream := domain.ReconcileStream(account)
	md := eventstore.Metadata{User: o.by, Account: account, Source: "reconciliation"}
	if err := e.decide(ctx, stream, func() error { return e.append(ctx, stream, "", md, evs...) }); err != nil {
		if e.rec.unrecorded == nil {
			e.rec.unrecorded = map[string]string{}
		}
		e.rec.unrecorded[account] = err.Error()
		e.log.Error("reconciliation: the check could not be recorded; the account is blocked", "account", account, "err", err)
		return false, fmt.Errorf("engine: reconcile %s: %w", account, err)
	}
	if len(diffs) > 0 {
		e.log.Warn("reconciliation: the account's view differs from its broker's; trading is blocked",
			"account", account, "mode", mode, "diffs", len(diffs), "first", diffs[0].Message)
	} else {
		e.log.Info("reconciliation: the account matches its broker", "account", account, "mode", mode,
			"orders", len(v.orders), "positions", len(v.positions), "holdings", len(v.holdings))
	}
	return true, nil
}

// sameOutcomeLocked says whether a check's outcome is what the account's
// state shows already: recorded, of the same mode and broker, with the
// same outstanding differences. e.mu is held.
func (e *Engine) sameOutcomeLocked(account string, mode domain.Mode, broker string, diffs []domain.ReconciliationDiffFound) bool {
	if _, ok := e.rec.unrecorded[account]; ok {
		return false
	}
	r := e.rec.accounts[account]
	return r != nil && r.Checked && r.Mode == mode && r.Broker == broker && slices.Equal(r.Diffs, diffs)
}

// brokerView is what a broker reported: its orders, net positions and
// delivery holdings.
type brokerView struct {
	name      string
	apart     bool // the broker reports delivery apart (DeliveryApart)
	orders    []domain.BrokerOrder
	positions []domain.BrokerPosition
	holdings  []domain.BrokerHolding
}

// DeliveryApart is implemented by a broker whose Positions report only the
// current day's delivery (CNC) trades while its Holdings report the
// delivery quantity bought before, settled or not (Kite's
// /portfolio/positions and /portfolio/holdings), when it returns true. The
// engine then compares its CNC position in an instrument the holdings name
// with the holding plus the day's CNC position. A broker without it (the
// paper broker) reports the whole net CNC position in Positions and its
// long part again in Holdings.
type DeliveryApart interface {
	DeliveryApart() bool
}

// askBroker reads the broker's orders, positions and holdings; any that
// fails fails the view.
func askBroker(ctx context.Context, b Broker) (brokerView, error) {
	name := b.Name()
	bos, err := b.Orders(ctx)
	if err != nil {
		return brokerView{name: name}, fmt.Errorf("orders: %w", err)
	}
	bps, err := b.Positions(ctx)
	if err != nil {
		return brokerView{name: name}, fmt.Errorf("positions: %w", err)
	}
	bhs, err := b.Holdings(ctx)
	if err != nil {
		return brokerView{name: name}, fmt.Errorf("holdings: %w", err)
	}
	if bos == nil {
		bos = []domain.BrokerOrder{}
	}
	if bps == nil {
		bps = []domain.BrokerPosition{}
	}
	if bhs == nil {
		bhs = []domain.BrokerHolding{}
	}
	da, ok := b.(DeliveryApart)
	return brokerView{name: name, apart: ok && da.DeliveryApart(), orders: bos, positions: bps, holdings: bhs}, nil
}

// askCaughtUpLocked asks the broker without holding e.mu
// (askBrokerLocked); when the answer differs from the engine's view and the
// broker is polled (Poller), it collects and records the reports not
// polled yet (pollLocked) and asks again. e.mu is held, and released while
// the broker answers.
func (e *Engine) askCaughtUpLocked(ctx context.Context, account string, giveUp bool, timeout time.Duration) (domain.Mode, brokerView, error) {
	mode, v, err := e.askBrokerLocked(ctx, account, giveUp, timeout)
	if err != nil {
		return mode, v, err
	}
	if diffs, _ := e.compareLocked(account, mode, v); len(diffs) > 0 && e.pollLocked(ctx, account, mode, timeout) {
		return e.askBrokerLocked(ctx, account, giveUp, timeout)
	}
	return mode, v, nil
}

// pollLocked collects the reports a polled broker (Poller) of the account
// and mode has not delivered yet and records them, as RunPolling does; it
// says whether it did. e.mu is held, and released while the broker
// answers.
func (e *Engine) pollLocked(ctx context.Context, account string, mode domain.Mode, timeout time.Duration) bool {
	k := brokerKey{account, mode}
	b := e.brokers[k]
	p, ok := b.(Poller)
	if !ok {
		return false
	}
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		pctx, cancel = context.WithTimeout(ctx, timeout)
	}
	e.mu.Unlock()
	err := e.pollOnce(pctx, k, b, p)
	cancel()
	e.mu.Lock()
	if err != nil {
		e.log.Warn("reconciliation: polling the broker before checking again failed", "account", account, "err", err)
		return false
	}
	return true
}

// viewStamp marks the engine's view of an account that a check compares:
// its mode, the events folded of its reconciliation stream, and its orders
// with the events folded of their streams. Every change of that view moves
// it (stream versions only grow).
type viewStamp struct {
	mode   domain.Mode
	rec    uint64
	orders int
	events uint64
}

// stampLocked returns the account's view stamp. e.mu is held.
func (e *Engine) stampLocked(account string) viewStamp {
	s := viewStamp{mode: e.modeLocked(account), rec: e.versions[domain.ReconcileStream(account)]}
	for id, o := range e.orders {
		if o.intent.Account == account {
			s.orders++
			s.events += e.versions[domain.OrderStream(id)]
		}
	}
	return s
}

// maxUnlockedAsks is how many times a check asks the broker without e.mu
// before it gives up (errAccountBusy: a periodic check, an admin's check
// or adoption) or asks holding it (the checks at start, where nothing
// trades yet, and after a mode change, where the account is blocked).
const maxUnlockedAsks = 3

// errAccountBusy: the account's view moved during every ask; the check
// gives up rather than hold the engine's lock while a broker answers.
var errAccountBusy = errors.New("engine: the account kept changing while its broker answered")

// askBrokerLocked asks the broker of the account's current mode for its
// view, bounded by timeout if set. e.mu is held on entry and on return,
// and released while the broker answers; the answer is used only if the
// account's view stamp did not move meanwhile, otherwise the broker is
// asked again, after maxUnlockedAsks tries holding e.mu, or, with giveUp,
// not at all (errAccountBusy). Each ask first waits for the calls queued
// to the account's remote brokers (settleLocked): an order whose placing
// is in flight would otherwise look missing at the broker, and a placing
// queued during the ask moves the stamp (OrderSubmitted). Callers re-read
// any state they read before the call.
func (e *Engine) askBrokerLocked(ctx context.Context, account string, giveUp bool, timeout time.Duration) (domain.Mode, brokerView, error) {
	for attempt := 1; ; attempt++ {
		e.settleLocked(ctx, account)
		mode := e.modeLocked(account)
		b, err := e.brokerLocked(account, mode)
		if err != nil {
			return mode, brokerView{}, err
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, timeout)
		}
		if giveUp && attempt > maxUnlockedAsks {
			cancel()
			return mode, brokerView{}, errAccountBusy
		}
		if attempt > maxUnlockedAsks {
			v, err := askBroker(actx, b)
			cancel()
			return mode, v, err
		}
		before := e.stampLocked(account)
		e.mu.Unlock()
		v, err := askBroker(actx, b)
		cancel()
		e.mu.Lock()
		if e.stampLocked(account) == before {
			return mode, v, err
		}
		e.log.Debug("reconciliation: the account changed while its broker answered; asking again", "account", account, "attempt", attempt)
	}
}

// heldLocked is the engine's view of an account's positions at the broker
// of a mode: the fills of the mode's orders plus what was adopted, by
// instrument and product. e.mu is held.
func (e *Engine) heldLocked(account string, mode domain.Mode) map[instProduct]int64 {
	out := map[instProduct]int64{}
	for _, o := range e.orders {
		if o.intent.Account != account || o.intent.Mode != mode || o.filled == 0 {
			continue
		}
		q := o.filled
		if o.intent.Side == domain.Sell {
			q = -q
		}
		out[instProduct{o.intent.Exchange + ":" + o.intent.Symbol, o.intent.Product}] += q
	}
	for k, q := range e.rec.adopted {
		if k.account == account && k.mode == mode {
			out[instProduct{k.instrument, k.product}] += q
		}
	}
	return out
}

// theirView is a broker's positions and holdings by instrument and
// product.
type theirView struct {
	pos     map[instProduct]int64 // net positions
	posAvg  map[instProduct]domain.Price
	named   map[instProduct]bool // the positions name it
	hold    map[string]int64     // delivery holdings by instrument
	holdAvg map[string]domain.Price
	held    map[string]bool // the holdings name it
	apart   bool            // DeliveryApart
}

func theirsOf(v brokerView) theirView {
	t := theirView{pos: map[instProduct]int64{}, posAvg: map[instProduct]domain.Price{}, named: map[instProduct]bool{},
		hold: map[string]int64{}, holdAvg: map[string]domain.Price{}, held: map[string]bool{}, apart: v.apart}
	for _, p := range v.positions {
		k := instProduct{p.Exchange + ":" + p.Symbol, p.Product}
		t.pos[k] += p.Quantity
		t.posAvg[k] = max(p.AvgPrice, 0)
		t.named[k] = true
	}
	for _, h := range v.holdings {
		inst := h.Exchange + ":" + h.Symbol
		t.hold[inst] += h.Quantity
		t.holdAvg[inst] = max(h.AvgPrice, 0)
		t.held[inst] = true
	}
	return t
}

// byHoldings says whether the holdings comparison speaks for a position,
// not the positions one: a CNC position the holdings name, and either the
// broker reports delivery apart or its positions do not name it.
func (t theirView) byHoldings(k instProduct) bool {
	return k.product == domain.CNC && t.held[k.instrument] && (t.apart || !t.named[k])
}

// delivery is the broker's delivery quantity and average price in an
// instrument its holdings name: the holding, plus the day's CNC position
// when the broker reports them apart (at their averages, as a fill would
// add it: a sale keeps the holding's average).
func (t theirView) delivery(inst string) (int64, domain.Price) {
	if !t.apart {
		return t.hold[inst], t.holdAvg[inst]
	}
	k := instProduct{inst, domain.CNC}
	var h domain.Holding
	h.Fill(t.hold[inst], t.holdAvg[inst])
	h.Fill(t.pos[k], t.posAvg[k])
	return h.Qty, h.Avg()
}

// compareLocked returns the differences between the engine's view of an
// account in a mode and the broker's orders, positions and holdings, and
// the broker orders worth recording (live at the broker, open in the
// engine, or different). Orders come first in the broker's order, then the
// engine's missing ones by order id, then positions by instrument and
// product, then holdings by instrument. e.mu is held.
func (e *Engine) compareLocked(account string, mode domain.Mode, v brokerView) ([]domain.ReconciliationDiffFound, []domain.BrokerOrder) {
	bos := v.orders
	diffs := []domain.ReconciliationDiffFound{}
	kept := []domain.BrokerOrder{}
	mine := map[string]*order{} // by client order id
	for _, o := range e.orders {
		if o.intent.Account == account && o.intent.Mode == mode {
			mine[o.intent.ClientOrderID] = o
		}
	}
	diff := func(d domain.ReconciliationDiffFound) {
		d.Account, d.Mode = account, mode
		diffs = append(diffs, d)
	}
	seen := map[string]bool{}
	for _, bo := range bos {
		inst := bo.Exchange + ":" + bo.Symbol
		o := mine[bo.ClientOrderID]
		if bo.ClientOrderID == "" || o == nil {
			if !bo.Status.Final() {
				kept = append(kept, bo)
				diff(domain.ReconciliationDiffFound{Kind: domain.DiffUnknownBrokerOrder, Instrument: inst, Product: bo.Product,
					ClientOrderID: bo.ClientOrderID, BrokerOrderID: bo.BrokerOrderID, Theirs: bo.FilledQty, TheirStatus: string(bo.Status),
					TheirAvgPrice: bo.AvgPrice, Message: fmt.Sprintf("the broker has %s order %s (%s %d %s, %d filled) that the engine does not know",
						bo.Status, orDefault(bo.BrokerOrderID, bo.ClientOrderID), bo.Side, bo.Quantity, inst, bo.FilledQty)})
			}
			continue
		}
		seen[o.intent.OrderID] = true
		if why := orderDiffers(o, bo); why != "" {
			kept = append(kept, bo)
			diff(domain.ReconciliationDiffFound{Kind: domain.DiffStatusMismatch, Instrument: inst, Product: o.intent.Product,
				OrderID: o.intent.OrderID, ClientOrderID: bo.ClientOrderID, BrokerOrderID: bo.BrokerOrderID,
				Ours: o.filled, Theirs: bo.FilledQty, OurStatus: o.status, TheirStatus: string(bo.Status), TheirAvgPrice: bo.AvgPrice,
				Message: fmt.Sprintf("order %s on %s: %s", o.intent.OrderID, inst, why)})
		} else if o.open() || !bo.Status.Final() {
			kept = append(kept, bo)
		}
	}
	var missing []string
	for _, o := range mine {
		if o.open() && !seen[o.intent.OrderID] {
			missing = append(missing, o.intent.OrderID)
		}
	}
	slices.Sort(missing)
	for _, id := range missing {
		o := e.orders[id]
		inst := o.intent.Exchange + ":" + o.intent.Symbol
		diff(domain.ReconciliationDiffFound{Kind: domain.DiffMissingOrder, Instrument: inst, Product: o.intent.Product,
			OrderID: id, ClientOrderID: o.intent.ClientOrderID, BrokerOrderID: o.brokerOrderID, Ours: o.filled, OurStatus: o.status,
			Message: fmt.Sprintf("the engine's %s order %s (%s %d %s) is not at the broker", o.status, id, o.intent.Side, o.intent.Quantity, inst)})
	}
	ours := e.heldLocked(account, mode)
	th := theirsOf(v)
	keys := make([]instProduct, 0, len(ours)+len(th.pos))
	for k := range ours {
		keys = append(keys, k)
	}
	for k := range th.pos {
		if _, ok := ours[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b instProduct) int {
		return cmp.Or(strings.Compare(a.instrument, b.instrument), strings.Compare(string(a.product), string(b.product)))
	})
	for _, k := range keys {
		if ours[k] == th.pos[k] || th.byHoldings(k) {
			continue
		}
		diff(domain.ReconciliationDiffFound{Kind: domain.DiffPositionMismatch, Instrument: k.instrument, Product: k.product,
			Ours: ours[k], Theirs: th.pos[k], TheirAvgPrice: th.posAvg[k],
			Message: fmt.Sprintf("%s %s: the broker holds %d, the engine %d", k.instrument, k.product, th.pos[k], ours[k])})
	}
	insts := make([]string, 0, len(th.held))
	for inst := range th.held {
		insts = append(insts, inst)
	}
	slices.Sort(insts)
	for _, inst := range insts {
		k := instProduct{inst, domain.CNC}
		mine := ours[k]
		if !th.byHoldings(k) {
			mine = max(mine, 0) // the positions compare the whole; the holding is its long part
		}
		q, avg := th.delivery(inst)
		if mine == q {
			continue
		}
		msg := fmt.Sprintf("%s: the broker's delivery holding is %d, the engine's CNC position %d", inst, q, mine)
		if th.apart {
			msg = fmt.Sprintf("%s: the broker's delivery holding (%d) and the day's CNC position (%d) make %d, the engine's CNC position is %d",
				inst, th.hold[inst], th.pos[k], q, mine)
		}
		diff(domain.ReconciliationDiffFound{Kind: domain.DiffHoldingMismatch, Instrument: inst, Product: domain.CNC,
			Ours: mine, Theirs: q, TheirAvgPrice: avg, Message: msg})
	}
	return diffs, kept
}

// orderDiffers says how the engine's order and the broker's differ ("" when
// they agree): open on one side only, different final states, or different
// filled quantities.
func orderDiffers(o *order, bo domain.BrokerOrder) string {
	theirOpen := !bo.Status.Final()
	switch {
	case o.open() && !theirOpen:
		return fmt.Sprintf("open in the engine (%s), %s at the broker", o.status, bo.Status)
	case !o.open() && theirOpen:
		return fmt.Sprintf("%s in the engine, %s at the broker", o.status, bo.Status)
	case !o.open() && finalStatus(o.status) != bo.Status:
		return fmt.Sprintf("%s in the engine, %s at the broker", o.status, bo.Status)
	case o.filled != bo.FilledQty:
		return fmt.Sprintf("%d filled in the engine, %d at the broker", o.filled, bo.FilledQty)
	}
	return ""
}

// finalStatus is the broker status of an engine status that is final.
func finalStatus(s string) domain.BrokerOrderStatus {
	switch s {
	case orderFilled:
		return domain.BrokerComplete
	case orderCancelled:
		return domain.BrokerCancelled
	case orderRejected:
		return domain.BrokerRejected
	}
	return ""
}

// AdoptRequest asks to take the broker's view of one instrument of an
// account as the engine's own.
type AdoptRequest struct {
	Account    string
	Instrument string // "EXCHANGE:SYMBOL", or a symbol on NFO
	Confirm    string // must be domain.AdoptConfirm
	Reason     string
}

// AdoptPosition settles the differences of an instrument by taking the
// broker's current view of it (asked again now) as the engine's own: the
// engine's open orders on it that the broker does not have open are closed
// (cancelled, or rejected when the broker rejected them), and the broker's
// net quantity of each product (for CNC the positions', or the holdings'
// when only they name it) is adopted at the broker's average price
// (PositionAdopted), counting from then on in positions, P&L and risk. It
// needs an admin, the typed confirmation ADOPT and a reason. It is refused
// while the broker cannot be asked; while the broker has a live order on
// the instrument that the engine does not know or has closed (cancel it at
// the broker, then check again); when the broker's positions and holdings
// disagree on the instrument; and when the broker reports a quantity to
// adopt without an average price to value it at.
func (e *Engine) AdoptPosition(ctx context.Context, a Actor, r AdoptRequest) (ControlStatus, error) {
	bad := func(field, format string, args ...any) error {
		return &domain.CommandError{Code: domain.CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case !a.Admin:
		return ControlStatus{}, &domain.CommandError{Code: domain.CodeForbidden, Message: "adopting a broker position needs the admin role"}
	case strings.TrimSpace(r.Account) == "":
		return ControlStatus{}, bad("account", "must not be empty")
	case strings.TrimSpace(r.Instrument) == "":
		return ControlStatus{}, bad("instrument", "must not be empty (EXCHANGE:SYMBOL)")
	case r.Confirm != domain.AdoptConfirm:
		return ControlStatus{}, bad("confirm", "must be %q to take the broker's position as the engine's", domain.AdoptConfirm)
	case strings.TrimSpace(r.Reason) == "":
		return ControlStatus{}, bad("reason", "must not be empty")
	}
	inst := r.Instrument
	if !strings.Contains(inst, ":") {
		inst = domain.ExchangeNFO + ":" + inst
	}
	conflict := func(format string, args ...any) error {
		return &domain.CommandError{Code: domain.CodeConflict, Message: fmt.Sprintf(format, args...)}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, _, err := e.adoptableLocked(r.Account, inst); err != nil {
		return ControlStatus{}, err
	}
	asked, v, err := e.askCaughtUpLocked(ctx, r.Account, true, 0)
	// e.mu was released while the broker answered: decide on the state now.
	stored, mode, verr := e.adoptableLocked(r.Account, inst)
	if verr != nil {
		return ControlStatus{}, verr
	}
	if asked != mode {
		return ControlStatus{}, conflict("%s changed mode since its last check: check again", r.Account)
	}
	if err != nil {
		return ControlStatus{}, conflict("the broker of %s could not be asked, so there is no view to adopt: %v", r.Account, err)
	}
	fresh, _ := e.compareLocked(r.Account, mode, v)
	byClient := map[string]domain.BrokerOrder{}
	for _, bo := range v.orders {
		if bo.ClientOrderID != "" {
			byClient[bo.ClientOrderID] = bo
		}
	}
	// Refuse first, then close orders, then adopt positions.
	for _, d := range fresh {
		if d.Instrument != inst {
			continue
		}
		if d.Kind == domain.DiffUnknownBrokerOrder || (d.Kind == domain.DiffStatusMismatch && !domain.BrokerOrderStatus(d.TheirStatus).Final()) {
			return ControlStatus{}, conflict("cannot adopt %s: %s; cancel it at the broker, then check again", inst, d.Message)
		}
	}
	th := theirsOf(v)
	theirs, avg := map[domain.Product]int64{}, map[domain.Product]domain.Price{}
	for k, q := range th.pos {
		if k.instrument == inst {
			theirs[k.product], avg[k.product] = q, th.posAvg[k]
		}
	}
	if cnc := (instProduct{inst, domain.CNC}); th.held[inst] {
		switch {
		case th.byHoldings(cnc):
			theirs[domain.CNC], avg[domain.CNC] = th.delivery(inst)
		case max(th.pos[cnc], 0) != th.hold[inst]:
			return ControlStatus{}, conflict("cannot adopt %s: the broker's positions say %d CNC and its holdings %d; "+
				"the two reports disagree, so there is no one view to adopt: settle it with the broker, then check again", inst, th.pos[cnc], th.hold[inst])
		}
	}
	ours := e.heldLocked(r.Account, mode)
	for p, q := range theirs {
		if q != 0 && q != ours[instProduct{inst, p}] && avg[p] <= 0 {
			return ControlStatus{}, conflict("cannot adopt %s %s: the broker reports %d without an average price to value it at", inst, p, q)
		}
	}
	reason := fmt.Sprintf("reconciliation: adopted by %s: %s", a.User, r.Reason)
	md := eventstore.Metadata{User: a.User, Account: r.Account, Source: "reconciliation"}
	for _, d := range fresh {
		if d.Instrument != inst || (d.Kind != domain.DiffMissingOrder && d.Kind != domain.DiffStatusMismatch) {
			continue
		}
		o := e.orders[d.OrderID]
		if o == nil || !o.open() {
			continue
		}
		var ev domain.Event = domain.OrderCancelled{OrderID: o.intent.OrderID, By: a.User, Reason: "not at the broker; " + reason}
		if bo, ok := byClient[o.intent.ClientOrderID]; ok {
			ev = domain.OrderCancelled{OrderID: o.intent.OrderID, By: a.User,
				Reason: fmt.Sprintf("%s at the broker with %d filled; %s", bo.Status, bo.FilledQty, reason)}
			if bo.Status == domain.BrokerRejected && o.filled == 0 {
				ev = domain.OrderRejected{OrderID: o.intent.OrderID, Code: "broker", Reason: orDefault(bo.Reason, "rejected at the broker") + "; " + reason}
			}
		}
		if err := e.append(ctx, domain.OrderStream(o.intent.OrderID), "", md, ev); err != nil {
			return ControlStatus{}, err
		}
	}
	products := map[domain.Product]bool{}
	for k, q := range ours {
		if k.instrument == inst && q != 0 {
			products[k.product] = true
		}
	}
	for p, q := range theirs {
		if q != 0 {
			products[p] = true
		}
	}
	if len(products) == 0 { // only orders differed: record the (flat) adoption on their product
		products[adoptedProduct(stored, e.orders)] = true
	}
	list := make([]domain.Product, 0, len(products))
	for p := range products {
		if !p.Valid() {
			return ControlStatus{}, conflict("cannot adopt %s: the broker reports product %q", inst, p)
		}
		list = append(list, p)
	}
	slices.Sort(list)
	at := e.cfg.Now()
	evs := make([]domain.Event, 0, len(list))
	for _, p := range list {
		evs = append(evs, domain.PositionAdopted{Account: r.Account, Mode: mode, Instrument: inst, Product: p,
			Quantity: theirs[p], Previous: ours[instProduct{inst, p}], AvgPrice: avg[p], By: a.User, Reason: r.Reason, At: at})
	}
	stream := domain.ReconcileStream(r.Account)
	if err := e.decide(ctx, stream, func() error { return e.append(ctx, stream, "", md, evs...) }); err != nil {
		return ControlStatus{}, err
	}
	e.log.Warn("reconciliation: broker position adopted", "account", r.Account, "instrument", inst, "by", a.User, "reason", r.Reason)
	return e.statusLocked(r.Account), nil
}

// adoptableLocked checks that an instrument of an account can be adopted
// from its last check: recorded, with the broker answering, with a
// difference on the instrument, in the account's current mode. It returns
// the instrument's outstanding differences and the check's mode. e.mu is
// held.
func (e *Engine) adoptableLocked(account, inst string) ([]domain.ReconciliationDiffFound, domain.Mode, error) {
	conflict := func(format string, args ...any) error {
		return &domain.CommandError{Code: domain.CodeConflict, Message: fmt.Sprintf(format, args...)}
	}
	if why, ok := e.rec.unrecorded[account]; ok {
		return nil, "", conflict("the last check of %s could not be recorded (%s): check again first", account, why)
	}
	if e.rec.checking[account] {
		return nil, "", conflict("%s is being checked against the broker of its new mode: wait for the check", account)
	}
	rec := e.rec.accounts[account]
	if rec == nil || !rec.Checked {
		return nil, "", conflict("%s has not been checked against its broker: check first", account)
	}
	var stored []domain.ReconciliationDiffFound
	for _, d := range rec.Diffs {
		if d.Kind == domain.DiffBrokerUnavailable {
			return nil, "", conflict("the broker of %s could not be asked at the last check, so there is no view to adopt: check again", account)
		}
		if d.Instrument == inst {
			stored = append(stored, d)
		}
	}
	if len(stored) == 0 {
		return nil, "", conflict("%s has no difference on %s to adopt", account, inst)
	}
	if rec.Mode != e.modeLocked(account) {
		return nil, "", conflict("%s changed mode since its last check: check again", account)
	}
	return stored, rec.Mode, nil
}

// adoptedProduct is the product an adoption of order differences only is
// recorded under: the first one the differences or their orders name.
func adoptedProduct(diffs []domain.ReconciliationDiffFound, orders map[string]*order) domain.Product {
	for _, d := range diffs {
		if d.Product.Valid() {
			return d.Product
		}
		if o := orders[d.OrderID]; o != nil && o.intent.Product.Valid() {
			return o.intent.Product
		}
	}
	return domain.NRML
}
