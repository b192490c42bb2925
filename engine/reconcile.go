package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// Safe restart: after Load (and Recover) the engine asks each account's
// broker for its orders and positions and compares them with its own view
// (positions from fills and adoptions, orders from their streams). The
// check is recorded as BrokerSnapshotObserved followed, in the same
// append, by one ReconciliationDiffFound per difference; while any is
// outstanding the account may not trade (rule "reconciliation"): orders,
// signals, modifications, start, resume and flattening are refused. A
// later check that finds none, or an admin adopting the broker's view of
// an instrument (PositionAdopted), lifts the block. A broker that cannot
// be asked is a difference too (broker_unavailable): a missing report is
// not a flat account.

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
	var errs []error
	for _, a := range accts {
		if _, err := e.Reconcile(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reconcile checks an account against the broker of its current mode and
// records what it found; it returns the account's reconciliation state.
// A broker that cannot be asked is recorded as a broker_unavailable
// difference (the account stays blocked); the error reports only a check
// that could not be recorded, which blocks the account as well.
func (e *Engine) Reconcile(ctx context.Context, account string) (domain.Reconciliation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.reconcileLocked(ctx, account, "engine")
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
	if err := e.reconcileLocked(ctx, account, a.User); err != nil {
		return ControlStatus{}, err
	}
	return e.statusLocked(account), nil
}

// reconcileLocked asks the broker and records the check. e.mu is held.
func (e *Engine) reconcileLocked(ctx context.Context, account, by string) error {
	mode := e.modeLocked(account)
	snap := domain.BrokerSnapshotObserved{Account: account, Mode: mode, By: by, At: e.cfg.Now(),
		Orders: []domain.BrokerOrder{}, Positions: []domain.BrokerPosition{}}
	var diffs []domain.ReconciliationDiffFound
	bos, bps, name, err := e.askBrokerLocked(ctx, account, mode)
	snap.Broker = name
	if err != nil {
		snap.Error = err.Error()
		diffs = []domain.ReconciliationDiffFound{{Account: account, Mode: mode, Kind: domain.DiffBrokerUnavailable,
			Message: "the broker could not be asked, so the account's positions are unknown (not flat): " + err.Error()}}
	} else {
		var kept []domain.BrokerOrder
		diffs, kept = e.compareLocked(account, mode, bos, bps)
		snap.Orders, snap.OrdersSeen, snap.Positions = kept, len(bos), bps
	}
	snap.Diffs = len(diffs)
	evs := make([]domain.Event, 0, 1+len(diffs))
	evs = append(evs, snap)
	for _, d := range diffs {
		evs = append(evs, d)
	}
	stream := domain.ReconcileStream(account)
	md := eventstore.Metadata{User: by, Account: account, Source: "reconciliation"}
	if err := e.decide(ctx, stream, func() error { return e.append(ctx, stream, "", md, evs...) }); err != nil {
		if e.rec.unrecorded == nil {
			e.rec.unrecorded = map[string]string{}
		}
		e.rec.unrecorded[account] = err.Error()
		e.log.Error("reconciliation: the check could not be recorded; the account is blocked", "account", account, "err", err)
		return fmt.Errorf("engine: reconcile %s: %w", account, err)
	}
	if len(diffs) > 0 {
		e.log.Warn("reconciliation: the account's view differs from its broker's; trading is blocked",
			"account", account, "mode", mode, "diffs", len(diffs), "first", diffs[0].Message)
	} else {
		e.log.Info("reconciliation: the account matches its broker", "account", account, "mode", mode,
			"orders", len(bos), "positions", len(bps))
	}
	return nil
}

// askBrokerLocked reads the broker's orders and positions. e.mu is held.
func (e *Engine) askBrokerLocked(ctx context.Context, account string, mode domain.Mode) ([]domain.BrokerOrder, []domain.BrokerPosition, string, error) {
	b, err := e.brokerLocked(account, mode)
	if err != nil {
		return nil, nil, "", err
	}
	bos, err := b.Orders(ctx)
	if err != nil {
		return nil, nil, b.Name(), fmt.Errorf("orders: %w", err)
	}
	bps, err := b.Positions(ctx)
	if err != nil {
		return nil, nil, b.Name(), fmt.Errorf("positions: %w", err)
	}
	if bos == nil {
		bos = []domain.BrokerOrder{}
	}
	if bps == nil {
		bps = []domain.BrokerPosition{}
	}
	return bos, bps, b.Name(), nil
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

// compareLocked returns the differences between the engine's view of an
// account in a mode and the broker's orders and positions, and the broker
// orders worth recording (live at the broker, open in the engine, or
// different). Orders come first in the broker's order, then the engine's
// missing ones by order id, then positions by instrument and product.
// e.mu is held.
func (e *Engine) compareLocked(account string, mode domain.Mode, bos []domain.BrokerOrder, bps []domain.BrokerPosition) ([]domain.ReconciliationDiffFound, []domain.BrokerOrder) {
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
	theirs, avg := map[instProduct]int64{}, map[instProduct]domain.Price{}
	for _, p := range bps {
		k := instProduct{p.Exchange + ":" + p.Symbol, p.Product}
		theirs[k] += p.Quantity
		avg[k] = p.AvgPrice
	}
	keys := make([]instProduct, 0, len(ours)+len(theirs))
	for k := range ours {
		keys = append(keys, k)
	}
	for k := range theirs {
		if _, ok := ours[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b instProduct) int {
		return cmp.Or(strings.Compare(a.instrument, b.instrument), strings.Compare(string(a.product), string(b.product)))
	})
	for _, k := range keys {
		if ours[k] == theirs[k] {
			continue
		}
		diff(domain.ReconciliationDiffFound{Kind: domain.DiffPositionMismatch, Instrument: k.instrument, Product: k.product,
			Ours: ours[k], Theirs: theirs[k], TheirAvgPrice: avg[k],
			Message: fmt.Sprintf("%s %s: the broker holds %d, the engine %d", k.instrument, k.product, theirs[k], ours[k])})
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
// net quantity of each product is adopted (PositionAdopted), counting from
// then on in positions, P&L and risk. It needs an admin, the typed
// confirmation ADOPT and a reason. It is refused while the broker cannot
// be asked, and while the broker has a live order on the instrument that
// the engine does not know or has closed: cancel it at the broker, then
// check again.
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
	if why, ok := e.rec.unrecorded[r.Account]; ok {
		return ControlStatus{}, conflict("the last check of %s could not be recorded (%s): check again first", r.Account, why)
	}
	rec := e.rec.accounts[r.Account]
	if rec == nil || !rec.Checked {
		return ControlStatus{}, conflict("%s has not been checked against its broker: check first", r.Account)
	}
	var stored []domain.ReconciliationDiffFound
	for _, d := range rec.Diffs {
		if d.Kind == domain.DiffBrokerUnavailable {
			return ControlStatus{}, conflict("the broker of %s could not be asked at the last check, so there is no view to adopt: check again", r.Account)
		}
		if d.Instrument == inst {
			stored = append(stored, d)
		}
	}
	if len(stored) == 0 {
		return ControlStatus{}, conflict("%s has no difference on %s to adopt", r.Account, inst)
	}
	mode := rec.Mode
	if mode != e.modeLocked(r.Account) {
		return ControlStatus{}, conflict("%s changed mode since its last check: check again", r.Account)
	}
	bos, bps, _, err := e.askBrokerLocked(ctx, r.Account, mode)
	if err != nil {
		return ControlStatus{}, conflict("the broker of %s could not be asked, so there is no view to adopt: %v", r.Account, err)
	}
	fresh, _ := e.compareLocked(r.Account, mode, bos, bps)
	byClient := map[string]domain.BrokerOrder{}
	for _, bo := range bos {
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
	ours := e.heldLocked(r.Account, mode)
	theirs, avg := map[domain.Product]int64{}, map[domain.Product]domain.Price{}
	for _, p := range bps {
		if p.Exchange+":"+p.Symbol == inst {
			theirs[p.Product] += p.Quantity
			avg[p.Product] = max(p.AvgPrice, 0)
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
