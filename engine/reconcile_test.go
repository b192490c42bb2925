package engine_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/projections"
)

// reportingBroker is the fake broker with a memory of what it holds: its
// orders as placed, positions from their fills plus positions and orders
// made outside the engine, delivery holdings, an outage switch for Orders
// and Positions and one for Holdings. block, when set, holds the next
// Positions call until it is closed (entered is closed when the call
// arrives).
type reportingBroker struct {
	*fakeBroker
	mu           sync.Mutex
	extra        []domain.BrokerPosition
	extraOrders  []domain.BrokerOrder
	holdings     []domain.BrokerHolding
	down         error
	holdingsDown error
	block        chan struct{}
	entered      chan struct{}
	positionAsks int
	onAsk        func() // called at each Positions call, without the broker's locks
}

func newReportingBroker(b *fakeBroker) *reportingBroker { return &reportingBroker{fakeBroker: b} }

func (b *reportingBroker) set(f func(b *reportingBroker)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

func (b *reportingBroker) Orders(ctx context.Context) ([]domain.BrokerOrder, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down != nil {
		return nil, b.down
	}
	b.fakeBroker.mu.Lock()
	defer b.fakeBroker.mu.Unlock()
	out := slices.Clone(b.extraOrders)
	for _, o := range b.fakeBroker.orders {
		out = append(out, *o)
	}
	slices.SortFunc(out, func(x, y domain.BrokerOrder) int { return compare(x.ClientOrderID, y.ClientOrderID) })
	return out, nil
}

func (b *reportingBroker) Positions(ctx context.Context) ([]domain.BrokerPosition, error) {
	b.mu.Lock()
	b.positionAsks++
	block, entered, onAsk := b.block, b.entered, b.onAsk
	b.block, b.entered = nil, nil
	b.mu.Unlock()
	if onAsk != nil {
		onAsk()
	}
	if block != nil {
		close(entered)
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down != nil {
		return nil, b.down
	}
	b.fakeBroker.mu.Lock()
	defer b.fakeBroker.mu.Unlock()
	out := slices.Clone(b.extra)
	for _, o := range b.fakeBroker.orders {
		if o.FilledQty == 0 {
			continue
		}
		q := o.FilledQty
		if o.Side == domain.Sell {
			q = -q
		}
		out = append(out, domain.BrokerPosition{Account: o.Account, Exchange: o.Exchange, Symbol: o.Symbol, Product: o.Product, Quantity: q})
	}
	return out, nil
}

func (b *reportingBroker) Holdings(ctx context.Context) ([]domain.BrokerHolding, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holdingsDown != nil {
		return nil, b.holdingsDown
	}
	return slices.Clone(b.holdings), nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// engineWith starts a fresh engine over the rig's log with broker b for
// every account, as a restart would.
func (r *rig) engineWith(b engine.Broker) *engine.Engine {
	r.t.Helper()
	e := engine.New(r.st, r.reg, engine.Config{Now: r.clock.Now,
		BrokerFor: func(string, domain.Mode) (engine.Broker, error) { return b, nil }})
	if err := e.Load(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	return e
}

// reportingRig is a rig with a NIFTY26DECFUT quote and an engine over a
// reporting broker.
func reportingRig(t *testing.T) (*rig, *reportingBroker, *engine.Engine) {
	t.Helper()
	r := newRig(t)
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	rb := newReportingBroker(r.broker)
	return r, rb, r.engineWith(rb)
}

// reconciledRig is reportingRig with paper-asha trading and a check done
// (agreeing).
func reconciledRig(t *testing.T) (*rig, *reportingBroker, *engine.Engine) {
	t.Helper()
	r, rb, e := reportingRig(t)
	mustCmd(t, e, trader, engine.CmdStart)
	if err := e.ReconcileAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r, rb, e
}

func rule(err error) string {
	var ce *domain.CommandError
	if errors.As(err, &ce) {
		return ce.Rule
	}
	return ""
}

const niftyFut = "NFO:NIFTY26DECFUT"

// TestReconcileUnknownPosition: the broker holds a position the log does
// not know. The check records it, trading is refused with the rule
// reconciliation until an admin adopts the position, which then counts as
// the engine's own, also after a restart, with no new difference.
func TestReconcileUnknownPosition(t *testing.T) {
	ctx := context.Background()
	r, rb, e := reportingRig(t)
	mustCmd(t, e, trader, engine.CmdStart)
	rb.set(func(b *reportingBroker) {
		b.extra = []domain.BrokerPosition{{Account: "paper-asha", Exchange: "NFO", Symbol: "NIFTY26DECFUT", Product: domain.NRML,
			Quantity: 65, AvgPrice: domain.Rupees(23950)}}
	})
	if err := e.ReconcileAll(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{domain.TypeBrokerSnapshotObserved, domain.TypeReconciliationDiffFound}
	if got := r.streamTypes(domain.ReconcileStream("paper-asha")); !slices.Equal(got, want) {
		t.Fatalf("reconcile stream %v, want %v", got, want)
	}
	st := e.Control("paper-asha")
	rec := st.Reconciliation
	if !rec.Blocked || len(rec.Diffs) != 1 {
		t.Fatalf("after the check: %+v", rec)
	}
	if d := rec.Diffs[0]; d.Kind != domain.DiffPositionMismatch || d.Instrument != niftyFut || d.Product != domain.NRML || d.Ours != 0 || d.Theirs != 65 {
		t.Fatalf("difference %+v", d)
	}

	// Blocked: orders, signals, modifications and start are refused.
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); code(err) != domain.CodeRefused || rule(err) != "reconciliation" {
		t.Fatalf("order while blocked: %v", err)
	}
	sig, err := e.Submit(ctx, trader, engine.SignalRequest{Source: "n8n", IdempotencyKey: "a1", Account: "paper-asha", Symbol: niftyFut,
		Side: domain.Buy, Quantity: 65})
	if err != nil || sig.Status != engine.SignalRejected || sig.Rule != "reconciliation" {
		t.Fatalf("signal while blocked: %+v %v", sig, err)
	}
	if _, err := e.Command(ctx, trader, "paper-asha", engine.CmdStart, "", false); rule(err) != "reconciliation" {
		t.Fatalf("start while blocked: %v", err)
	}
	if orders, _ := r.broker.count(); orders != 0 {
		t.Fatalf("the broker got %d orders while blocked", orders)
	}

	// Adoption: an admin, the confirmation, a reason, an instrument that
	// differs.
	adopt := engine.AdoptRequest{Account: "paper-asha", Instrument: niftyFut, Confirm: "ADOPT", Reason: "bought by hand in Kite"}
	for _, c := range []struct {
		name string
		a    engine.Actor
		req  func(engine.AdoptRequest) engine.AdoptRequest
		code string
	}{
		{"trader", trader, func(q engine.AdoptRequest) engine.AdoptRequest { return q }, domain.CodeForbidden},
		{"wrong confirm", admin, func(q engine.AdoptRequest) engine.AdoptRequest { q.Confirm = "adopt"; return q }, domain.CodeInvalid},
		{"no reason", admin, func(q engine.AdoptRequest) engine.AdoptRequest { q.Reason = " "; return q }, domain.CodeInvalid},
		{"no difference", admin, func(q engine.AdoptRequest) engine.AdoptRequest { q.Instrument = "NFO:BANKNIFTY26DECFUT"; return q }, domain.CodeConflict},
	} {
		if _, err := e.AdoptPosition(ctx, c.a, c.req(adopt)); code(err) != c.code {
			t.Fatalf("adopt, %s: %v, want %s", c.name, err, c.code)
		}
	}
	if e.Control("paper-asha").Reconciliation.Adopted != 0 {
		t.Fatal("a refused adoption adopted")
	}
	st, err = e.AdoptPosition(ctx, admin, engine.AdoptRequest{Account: "paper-asha", Instrument: "NIFTY26DECFUT", Confirm: "ADOPT", Reason: "bought by hand in Kite"})
	if err != nil || st.Reconciliation.Blocked || len(st.Reconciliation.Diffs) != 0 || st.Reconciliation.Adopted != 1 {
		t.Fatalf("adopt: %+v %v", st.Reconciliation, err)
	}
	if q, bq := engine.Position(e, "paper-asha", niftyFut); q != 65 || bq != 65 {
		t.Fatalf("after adoption the engine holds %d (book %d), want 65", q, bq)
	}
	res, err := e.PlaceOrder(ctx, trader, buy(65))
	if err != nil || res.Status != "open" {
		t.Fatalf("order after adoption: %+v %v", res, err)
	}

	// A restart: the adoption is folded from the log, the check finds
	// nothing new, and flattening sells what was adopted.
	e2 := r.engineWith(rb)
	if q, _ := engine.Position(e2, "paper-asha", niftyFut); q != 65 {
		t.Fatalf("after restart the engine holds %d, want 65", q)
	}
	if err := e2.ReconcileAll(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := e2.Control("paper-asha").Reconciliation; rec.Blocked || len(rec.Diffs) != 0 || rec.Adopted != 1 || !rec.Checked {
		t.Fatalf("after restart: %+v", rec)
	}
	types := r.streamTypes(domain.ReconcileStream("paper-asha"))
	if got := types[len(types)-1]; got != domain.TypeBrokerSnapshotObserved {
		t.Fatalf("after restart the check appended %v", types)
	}
	if _, err := e2.Command(ctx, trader, "paper-asha", engine.CmdStop, "end of day", true); err != nil {
		t.Fatal(err)
	}
	sells := 0
	r.broker.mu.Lock()
	for _, o := range r.broker.orders {
		if o.Side == domain.Sell {
			sells++
			if o.Quantity != 65 || o.Symbol != "NIFTY26DECFUT" {
				t.Errorf("flattening order %+v, want a sell of the 65 adopted", o)
			}
		}
	}
	r.broker.mu.Unlock()
	if sells != 1 {
		t.Fatalf("%d flattening sells, want 1", sells)
	}
}

// TestReconcileBrokerUnavailable: a broker that cannot be asked is not a
// flat account: the account stays blocked (also across a restart, from the
// log) until a later check succeeds.
func TestReconcileBrokerUnavailable(t *testing.T) {
	ctx := context.Background()
	r, rb, e := reportingRig(t)
	mustCmd(t, e, trader, engine.CmdStart)
	rb.set(func(b *reportingBroker) { b.down = errors.New("positions: 503 service unavailable") })
	rec, err := e.Reconcile(ctx, "paper-asha")
	if err != nil || !rec.Blocked || len(rec.Diffs) != 1 || rec.Diffs[0].Kind != domain.DiffBrokerUnavailable {
		t.Fatalf("check with the broker down: %+v %v", rec, err)
	}
	evs, err := r.st.ReadStream(ctx, domain.ReconcileStream("paper-asha"), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.reg.Decode(&evs[0])
	if err != nil || snap.(domain.BrokerSnapshotObserved).Error == "" {
		t.Fatalf("snapshot %+v %v: want the broker's error", snap, err)
	}
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); rule(err) != "reconciliation" {
		t.Fatalf("order with the broker down: %v", err)
	}
	if _, err := e.AdoptPosition(ctx, admin, engine.AdoptRequest{Account: "paper-asha", Instrument: niftyFut, Confirm: "ADOPT", Reason: "x"}); code(err) != domain.CodeConflict {
		t.Fatalf("adopt with no broker view: %v", err)
	}
	// Replay: a restart folds the block from the log before any check.
	e2 := r.engineWith(rb)
	if rec := e2.Control("paper-asha").Reconciliation; !rec.Blocked {
		t.Fatalf("after restart: %+v", rec)
	}
	if _, err := e2.PlaceOrder(ctx, trader, buy(65)); rule(err) != "reconciliation" {
		t.Fatalf("order after restart: %v", err)
	}
	// Still down: still blocked. Back: a check (admin only) clears it.
	if rec, _ := e2.Reconcile(ctx, "paper-asha"); !rec.Blocked {
		t.Fatalf("second check with the broker down: %+v", rec)
	}
	rb.set(func(b *reportingBroker) { b.down = nil })
	if _, err := e2.CheckReconciliation(ctx, trader, "paper-asha"); code(err) != domain.CodeForbidden {
		t.Fatalf("a trader checks: %v", err)
	}
	st, err := e2.CheckReconciliation(ctx, admin, "paper-asha")
	if err != nil || st.Reconciliation.Blocked || len(st.Reconciliation.Diffs) != 0 {
		t.Fatalf("check with the broker back: %+v %v", st.Reconciliation, err)
	}
	if _, err := e2.PlaceOrder(ctx, trader, buy(65)); err != nil {
		t.Fatalf("order after a clean check: %v", err)
	}
}

// TestReconcileOrders: an order the broker has and the engine does not
// blocks until it is gone at the broker (adoption is refused); an engine
// order the broker lost is closed by adoption.
func TestReconcileOrders(t *testing.T) {
	ctx := context.Background()
	r, rb, e := reportingRig(t)
	mustCmd(t, e, trader, engine.CmdStart)
	res, err := e.PlaceOrder(ctx, trader, buy(65))
	if err != nil {
		t.Fatal(err)
	}
	stray := domain.BrokerOrder{BrokerOrderID: "K9", Account: "paper-asha", Exchange: "NFO", Symbol: "NIFTY26DECFUT", Side: domain.Sell,
		Type: domain.Limit, Product: domain.NRML, Quantity: 65, Price: domain.Rupees(24100), Status: domain.BrokerOpen}
	rb.set(func(b *reportingBroker) { b.extraOrders = []domain.BrokerOrder{stray} })
	r.broker.mu.Lock()
	delete(r.broker.orders, res.ClientOrderID) // the broker lost the engine's order
	r.broker.mu.Unlock()
	rec, err := e.Reconcile(ctx, "paper-asha")
	if err != nil {
		t.Fatal(err)
	}
	kinds := make([]string, len(rec.Diffs))
	for i, d := range rec.Diffs {
		kinds[i] = d.Kind
	}
	if want := []string{domain.DiffUnknownBrokerOrder, domain.DiffMissingOrder}; !slices.Equal(kinds, want) {
		t.Fatalf("differences %v, want %v: %+v", kinds, want, rec.Diffs)
	}
	adopt := engine.AdoptRequest{Account: "paper-asha", Instrument: niftyFut, Confirm: "ADOPT", Reason: "lost order"}
	if _, err := e.AdoptPosition(ctx, admin, adopt); code(err) != domain.CodeConflict {
		t.Fatalf("adopt with an unknown live order at the broker: %v", err)
	}
	stray.Status = domain.BrokerCancelled // cancelled at the broker by hand
	rb.set(func(b *reportingBroker) { b.extraOrders = []domain.BrokerOrder{stray} })
	st, err := e.AdoptPosition(ctx, admin, adopt)
	if err != nil || st.Reconciliation.Blocked || st.OpenOrders != 0 {
		t.Fatalf("adopt: %+v %v", st, err)
	}
	types := r.streamTypes(domain.OrderStream(res.OrderID))
	if types[len(types)-1] != domain.TypeOrderCancelled {
		t.Fatalf("the lost order: %v, want it cancelled", types)
	}
	if rec, _ := e.Reconcile(ctx, "paper-asha"); rec.Blocked {
		t.Fatalf("check after the adoption: %+v", rec.Diffs)
	}
}

// TestReconcilePaperRestartAgrees: paper brokers rebuilt from the log agree
// with the engine after fills, partial fills, resting and cancelled
// orders: no difference, trading allowed.
func TestReconcilePaperRestartAgrees(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	r.tick("BANKNIFTY26DECFUT", domain.Rupees(52000))
	// boot starts an engine whose paper brokers are rebuilt from the log,
	// as cmd/algoauto does.
	boot := func() (*engine.Engine, func()) {
		var e *engine.Engine
		e = engine.New(r.st, r.reg, engine.Config{Now: r.clock.Now,
			BrokerFor: func(account string, mode domain.Mode) (engine.Broker, error) {
				h := fnv.New64a()
				h.Write([]byte(account))
				b, err := paper.New(paper.Config{Account: account, Seed: int64(h.Sum64() >> 1), Now: e.EventTime})
				if err != nil {
					return nil, err
				}
				return b, restorePaper(ctx, r, b)
			}})
		if err := e.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.ReconcileAll(ctx); err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Run(runCtx) }()
		return e, func() { cancel(); <-done }
	}
	e, stop := boot()
	mustCmd(t, e, trader, engine.CmdStart)
	filled, err := e.PlaceOrder(ctx, trader, buy(130))
	if err != nil {
		t.Fatal(err)
	}
	short, err := e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: "NFO:BANKNIFTY26DECFUT", Side: domain.Sell,
		Quantity: 30, Product: domain.NRML})
	if err != nil {
		t.Fatal(err)
	}
	resting, err := e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: niftyFut, Side: domain.Buy, Quantity: 65,
		Type: domain.Limit, Price: domain.Rupees(23000)})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: niftyFut, Side: domain.Sell, Quantity: 65,
		Type: domain.Limit, Price: domain.Rupees(25000)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CancelOrder(ctx, trader, cancelled.OrderID); err != nil {
		t.Fatal(err)
	}
	// 65 offered: the buy of 130 fills in part; the short fills.
	r.clock.Advance(time.Second)
	tk := domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26DECFUT", ExchangeTime: r.clock.Now(),
		LTP: domain.Rupees(24000), Bid: domain.Rupees(23999), Ask: domain.Rupees(24001), AskQty: 65, BidQty: 65}
	d, err := r.reg.Encode(uuidFor(t), tk, eventstore.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Append(ctx, tk.Stream(), eventstore.Any(), d); err != nil {
		t.Fatal(err)
	}
	r.quote(e, "BANKNIFTY26DECFUT")
	for _, id := range []string{filled.OrderID, short.OrderID} {
		waitFor(t, "the fill of "+id, func() bool { return slices.Contains(r.streamTypes(domain.OrderStream(id)), domain.TypeOrderFilled) })
	}
	stop()

	for restart := range 2 {
		e, stop := boot()
		st := e.Control("paper-asha")
		if rec := st.Reconciliation; !rec.Checked || rec.Blocked || len(rec.Diffs) != 0 || rec.Broker != "paper" {
			t.Fatalf("restart %d: %+v", restart, rec)
		}
		// Open: the resting buy; the buy of 130 filled in part, then the
		// sell of the run before (it never ticked).
		if want := []int{2, 2}[restart]; st.OpenOrders != want {
			t.Fatalf("restart %d: %d open orders, want %d (with the resting %s)", restart, st.OpenOrders, want, resting.OrderID)
		}
		if want := []int64{65, 130}[restart]; func() int64 { q, _ := engine.Position(e, "paper-asha", niftyFut); return q }() != want {
			t.Fatalf("restart %d: want %d held", restart, want)
		}
		r.clock.Advance(time.Second)
		r.quote(e, "NIFTY26DECFUT")
		waitFor(t, "the rest of the buy", func() bool {
			return slices.Contains(r.streamTypes(domain.OrderStream(filled.OrderID)), domain.TypeOrderFilled) &&
				len(r.streamTypes(domain.OrderStream(filled.OrderID))) >= 5
		})
		if _, err := e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: niftyFut, Side: domain.Sell, Quantity: 65,
			IdempotencyKey: fmt.Sprint("after-restart-", restart)}); err != nil {
			t.Fatalf("restart %d: order: %v", restart, err)
		}
		stop()
	}
}

// restorePaper folds the log's order events into a paper broker (what
// cmd/algoauto does when it builds one).
func restorePaper(ctx context.Context, r *rig, b *paper.Broker) error {
	evs, err := r.st.ReadAll(ctx, eventstore.ReadAllOptions{Filter: eventstore.Filter{StreamPrefix: "order-"}})
	if err != nil {
		return err
	}
	for i := range evs {
		de, err := r.reg.Decode(&evs[i])
		if err != nil {
			return err
		}
		if err := b.Apply(de, evs[i].RecordedAt); err != nil {
			return err
		}
	}
	return nil
}

// TestReconcileOnModeChange: switching mode checks the account against the
// new mode's broker; one that cannot be built blocks it (a live account
// with no live broker is not flat), switching back clears it.
func TestReconcileOnModeChange(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	e := engine.New(r.st, r.reg, engine.Config{Now: r.clock.Now, LiveSession: func(string) bool { return true },
		BrokerFor: func(_ string, mode domain.Mode) (engine.Broker, error) {
			if mode == domain.Live {
				return nil, errors.New("no live broker is configured")
			}
			return newReportingBroker(r.broker), nil
		}})
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	mustCmd(t, e, trader, engine.CmdStart)
	st, err := e.SetMode(ctx, admin, "paper-asha", domain.Live, "LIVE")
	if err != nil || st.Mode != domain.Live || !st.Reconciliation.Blocked || st.Reconciliation.Diffs[0].Kind != domain.DiffBrokerUnavailable {
		t.Fatalf("to live: %+v %v", st.Reconciliation, err)
	}
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); rule(err) != "reconciliation" {
		t.Fatalf("order in live mode without a broker: %v", err)
	}
	st, err = e.SetMode(ctx, admin, "paper-asha", domain.Paper, "")
	if err != nil || st.Reconciliation.Blocked || st.Reconciliation.Mode != domain.Paper {
		t.Fatalf("back to paper: %+v %v", st.Reconciliation, err)
	}
}

// TestModeChangeCheckBlocksWithoutTheLock: the check after a switch to
// live asks the live broker without holding the engine (other accounts'
// commands go on), and the switched account is blocked until it is
// recorded.
func TestModeChangeCheckBlocksWithoutTheLock(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	live := newReportingBroker(newFakeBroker())
	e := engine.New(r.st, r.reg, engine.Config{Now: r.clock.Now, LiveSession: func(string) bool { return true },
		BrokerFor: func(_ string, mode domain.Mode) (engine.Broker, error) {
			if mode == domain.Live {
				return live, nil
			}
			return newReportingBroker(r.broker), nil
		}})
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	mustCmd(t, e, trader, engine.CmdStart)
	block, entered := make(chan struct{}), make(chan struct{})
	live.set(func(b *reportingBroker) { b.block, b.entered = block, entered })
	switched := make(chan error, 1)
	go func() {
		_, err := e.SetMode(ctx, admin, "paper-asha", domain.Live, "LIVE")
		switched <- err
	}()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the switch did not ask the live broker")
	}
	st := control(t, e, "paper-asha") // fails if the ask holds the engine
	if st.Mode != domain.Live || !st.Reconciliation.Blocked {
		close(block)
		t.Fatalf("while the live broker answers: mode %s, reconciliation %+v; want live and blocked", st.Mode, st.Reconciliation)
	}
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); rule(err) != "reconciliation" {
		close(block)
		t.Fatalf("an order while the new mode's check is in flight: %v, want refused by reconciliation", err)
	}
	close(block)
	if err := await(t, "the switch", switched); err != nil {
		t.Fatal(err)
	}
	if st := e.Control("paper-asha"); st.Reconciliation.Blocked || st.Reconciliation.Mode != domain.Live {
		t.Fatalf("after the check: %+v", st.Reconciliation)
	}
}

// kinds returns the kinds of differences.
func diffKinds(ds []domain.ReconciliationDiffFound) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Kind
	}
	return out
}

// lastEvent decodes the last event of a stream.
func (r *rig) lastEvent(stream string) domain.Event {
	r.t.Helper()
	evs, err := r.st.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{})
	if err != nil || len(evs) == 0 {
		r.t.Fatalf("read %s: %d events, %v", stream, len(evs), err)
	}
	de, err := r.reg.Decode(&evs[len(evs)-1])
	if err != nil {
		r.t.Fatal(err)
	}
	return de
}

// TestReconcileHoldings: the broker's delivery holdings are compared with
// the engine's CNC positions. A holding the log does not know blocks the
// account (holding_mismatch) and is adopted like a position, at the
// holding's average; it then shows in the positions read model. A broker
// whose positions and holdings name the instrument is compared with both;
// when they contradict each other there is no view to adopt. A failed
// Holdings call is an unavailable broker, not an account with no holdings.
func TestReconcileHoldings(t *testing.T) {
	ctx := context.Background()
	r, rb, e := reportingRig(t)
	mustCmd(t, e, trader, engine.CmdStart)
	const infy = "NSE:INFY"
	holding := func(q int64) []domain.BrokerHolding {
		return []domain.BrokerHolding{{Account: "paper-asha", Exchange: "NSE", Symbol: "INFY", Quantity: q, AvgPrice: domain.Rupees(1500)}}
	}
	position := func(q int64) []domain.BrokerPosition {
		return []domain.BrokerPosition{{Account: "paper-asha", Exchange: "NSE", Symbol: "INFY", Product: domain.CNC, Quantity: q, AvgPrice: domain.Rupees(1500)}}
	}
	adopt := engine.AdoptRequest{Account: "paper-asha", Instrument: infy, Confirm: "ADOPT", Reason: "bought in Kite, delivered"}
	check := func(name string, kinds ...string) domain.Reconciliation {
		t.Helper()
		rec, err := e.Reconcile(ctx, "paper-asha")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := diffKinds(rec.Diffs); !slices.Equal(got, kinds) || rec.Blocked != (len(kinds) > 0) {
			t.Fatalf("%s: differences %v (blocked %v), want %v: %+v", name, got, rec.Blocked, kinds, rec.Diffs)
		}
		return rec
	}

	// Holdings only (a broker whose positions are the day's): one
	// difference, not a position difference too.
	rb.set(func(b *reportingBroker) { b.holdings = holding(10) })
	rec := check("a holding the log does not know", domain.DiffHoldingMismatch)
	if d := rec.Diffs[0]; d.Instrument != infy || d.Product != domain.CNC || d.Ours != 0 || d.Theirs != 10 || d.TheirAvgPrice != domain.Rupees(1500) {
		t.Fatalf("difference %+v", d)
	}
	snap := r.lastEvent(domain.ReconcileStream("paper-asha"))
	if _, ok := snap.(domain.ReconciliationDiffFound); !ok {
		t.Fatalf("last event %T", snap)
	}
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); rule(err) != "reconciliation" {
		t.Fatalf("order with a holding difference: %v", err)
	}
	if _, err := e.AdoptPosition(ctx, admin, adopt); err != nil {
		t.Fatalf("adopt the holding: %v", err)
	}
	ad, ok := r.lastEvent(domain.ReconcileStream("paper-asha")).(domain.PositionAdopted)
	if !ok || ad.Product != domain.CNC || ad.Quantity != 10 || ad.Previous != 0 || ad.AvgPrice != domain.Rupees(1500) {
		t.Fatalf("adoption %+v", ad)
	}
	if q, _ := engine.Position(e, "paper-asha", infy); q != 10 {
		t.Fatalf("the engine holds %d INFY after adopting the holding, want 10", q)
	}
	// The positions read model shows it, CNC, at the holding's average.
	pos := projections.NewPositions(r.reg)
	all, err := r.st.ReadAll(ctx, eventstore.ReadAllOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pos.Apply(all, all[len(all)-1].Position)
	if vs, _ := pos.List(projections.PositionQuery{Symbol: infy}); len(vs) != 1 || vs[0].NetQty != 10 || vs[0].Product != domain.CNC ||
		vs[0].AvgPrice != domain.Rupees(1500) || vs[0].Exchange != "NSE" {
		t.Fatalf("positions read model: %+v", vs)
	}
	check("the adopted holding agrees")

	// Both reports name it and agree: no difference.
	rb.set(func(b *reportingBroker) { b.extra = position(10) })
	check("positions and holdings agree")

	// The holdings fall to 4 while the positions still say 10: only the
	// holding differs, and the broker contradicts itself: no adoption.
	rb.set(func(b *reportingBroker) { b.holdings = holding(4) })
	if d := check("the holding fell", domain.DiffHoldingMismatch).Diffs[0]; d.Ours != 10 || d.Theirs != 4 {
		t.Fatalf("difference %+v", d)
	}
	if _, err := e.AdoptPosition(ctx, admin, adopt); code(err) != domain.CodeConflict {
		t.Fatalf("adopt from contradicting reports: %v", err)
	}
	// Both say 4 now: both differ from the engine's 10; adopting takes 4.
	rb.set(func(b *reportingBroker) { b.extra = position(4) })
	check("both fell", domain.DiffPositionMismatch, domain.DiffHoldingMismatch)
	if _, err := e.AdoptPosition(ctx, admin, adopt); err != nil {
		t.Fatalf("adopt 4: %v", err)
	}
	if q, _ := engine.Position(e, "paper-asha", infy); q != 4 {
		t.Fatalf("the engine holds %d INFY, want 4", q)
	}
	check("after adopting 4")

	// Holdings cannot be read: unavailable, blocked, no adoption.
	rb.set(func(b *reportingBroker) { b.holdingsDown = errors.New("holdings: 502 bad gateway") })
	rec = check("holdings down", domain.DiffBrokerUnavailable)
	if snap, ok := r.lastEvent(domain.ReconcileStream("paper-asha")).(domain.ReconciliationDiffFound); !ok || !strings.Contains(snap.Message, "holdings") {
		t.Fatalf("unavailable difference %+v", snap)
	}
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); rule(err) != "reconciliation" {
		t.Fatalf("order with the holdings down: %v", err)
	}
	rb.set(func(b *reportingBroker) { b.holdingsDown = nil })
	check("holdings back")
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); err != nil {
		t.Fatalf("order after a clean check: %v", err)
	}
}

// TestReconcileAdoptNeedsAnAveragePrice: a quantity the broker reports
// without an average price cannot be valued, so it is not adopted.
func TestReconcileAdoptNeedsAnAveragePrice(t *testing.T) {
	ctx := context.Background()
	_, rb, e := reportingRig(t)
	rb.set(func(b *reportingBroker) {
		b.extra = []domain.BrokerPosition{{Account: "paper-asha", Exchange: "NFO", Symbol: "NIFTY26DECFUT", Product: domain.NRML, Quantity: -65}}
	})
	if rec, err := e.Reconcile(ctx, "paper-asha"); err != nil || !rec.Blocked {
		t.Fatalf("check: %+v %v", rec, err)
	}
	adopt := engine.AdoptRequest{Account: "paper-asha", Instrument: niftyFut, Confirm: "ADOPT", Reason: "sold in Kite"}
	if _, err := e.AdoptPosition(ctx, admin, adopt); code(err) != domain.CodeConflict {
		t.Fatalf("adopt without an average price: %v", err)
	}
	rb.set(func(b *reportingBroker) { b.extra[0].AvgPrice = domain.Rupees(24010) })
	if st, err := e.AdoptPosition(ctx, admin, adopt); err != nil || st.Reconciliation.Blocked {
		t.Fatalf("adopt with an average price: %+v %v", st.Reconciliation, err)
	}
}

// TestRunReconciliation: the periodic check blocks an account when its
// broker's positions change under it, unblocks it when they agree again,
// treats an unreachable broker as a difference, records only changes of
// outcome, and returns nil when its context ends.
func TestRunReconciliation(t *testing.T) {
	ctx := context.Background()
	r, rb, e := reconciledRig(t)
	if err := e.RunReconciliation(ctx, 0); err == nil {
		t.Fatal("a zero interval is accepted")
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.RunReconciliation(runCtx, 5*time.Millisecond) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunReconciliation: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("RunReconciliation did not return when its context ended")
		}
	}
	defer stop()
	rec := func() domain.Reconciliation { return e.Control("paper-asha").Reconciliation }

	// Someone buys 65 in the broker's web terminal.
	rb.set(func(b *reportingBroker) {
		b.extra = []domain.BrokerPosition{{Account: "paper-asha", Exchange: "NFO", Symbol: "NIFTY26DECFUT", Product: domain.NRML,
			Quantity: 65, AvgPrice: domain.Rupees(24005)}}
	})
	waitFor(t, "the periodic check to block the account", func() bool { return rec().Blocked })
	if d := rec().Diffs; len(d) != 1 || d[0].Kind != domain.DiffPositionMismatch || d[0].Theirs != 65 {
		t.Fatalf("differences %+v", d)
	}
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); rule(err) != "reconciliation" {
		t.Fatalf("order after the broker changed: %v", err)
	}
	// They sell it again: the next check agrees and lifts the block.
	rb.set(func(b *reportingBroker) { b.extra = nil })
	waitFor(t, "the periodic check to unblock the account", func() bool { return !rec().Blocked })
	// Trading goes on while the checks run: an order placed meanwhile is
	// no difference.
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); err != nil {
		t.Fatalf("order after the broker agreed again: %v", err)
	}
	// The broker stops answering: not flat, blocked; back: unblocked.
	rb.set(func(b *reportingBroker) { b.down = errors.New("503 service unavailable") })
	waitFor(t, "the periodic check to find the broker down", func() bool {
		d := rec().Diffs
		return len(d) == 1 && d[0].Kind == domain.DiffBrokerUnavailable
	})
	rb.set(func(b *reportingBroker) { b.down = nil })
	waitFor(t, "the periodic check to find the broker back", func() bool { return !rec().Blocked })
	n := func() int { rb.mu.Lock(); defer rb.mu.Unlock(); return rb.positionAsks }()
	waitFor(t, "more checks", func() bool { rb.mu.Lock(); defer rb.mu.Unlock(); return rb.positionAsks > n+3 })
	stop()

	// Recorded: the start's check, then one per change of outcome; the
	// many checks that found nothing new recorded nothing.
	snap, diff := domain.TypeBrokerSnapshotObserved, domain.TypeReconciliationDiffFound
	want := []string{snap, snap, diff, snap, snap, diff, snap}
	if got := r.streamTypes(domain.ReconcileStream("paper-asha")); !slices.Equal(got, want) {
		t.Fatalf("reconcile stream %v, want %v", got, want)
	}
	if rec().Blocked {
		t.Fatalf("blocked at the end: %+v", rec())
	}
}

// TestReconcileReleasesTheLock: a check does not hold the engine while the
// broker answers (commands go on), and when the account changed meanwhile
// it asks again instead of recording a difference that is only the
// change.
func TestReconcileReleasesTheLock(t *testing.T) {
	ctx := context.Background()
	_, rb, e := reportingRig(t)
	if err := e.ReconcileAll(ctx); err != nil {
		t.Fatal(err)
	}
	mustCmd(t, e, trader, engine.CmdStart)
	block, entered := make(chan struct{}), make(chan struct{})
	rb.set(func(b *reportingBroker) { b.block, b.entered, b.positionAsks = block, entered, 0 })
	type result struct {
		rec domain.Reconciliation
		err error
	}
	checked := make(chan result, 1)
	go func() {
		rec, err := e.Reconcile(ctx, "paper-asha")
		checked <- result{rec, err}
	}()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the check did not ask the broker")
	}
	// The broker is answering (its orders are read, its positions are
	// not yet): an order goes through meanwhile.
	placed := make(chan error, 1)
	go func() {
		_, err := e.PlaceOrder(ctx, trader, buy(65))
		placed <- err
	}()
	select {
	case err := <-placed:
		if err != nil {
			t.Fatalf("order while the broker answers a check: %v", err)
		}
	case <-time.After(20 * time.Second):
		close(block)
		t.Fatal("an order waited for the broker to answer a check: the check holds the engine's lock")
	}
	close(block)
	var res result
	select {
	case res = <-checked:
	case <-time.After(20 * time.Second):
		t.Fatal("the check did not end")
	}
	if res.err != nil || res.rec.Blocked || len(res.rec.Diffs) != 0 {
		t.Fatalf("the check after an order placed while it asked: %+v %v", res.rec, res.err)
	}
	rb.mu.Lock()
	asks := rb.positionAsks
	rb.mu.Unlock()
	if asks != 2 {
		t.Fatalf("the broker was asked %d times, want 2 (again after the order)", asks)
	}
}

// apartBroker reports delivery apart, as Kite does: its positions carry
// the day's CNC trades, its holdings what was bought before.
type apartBroker struct{ *reportingBroker }

func (apartBroker) DeliveryApart() bool { return true }

// TestReconcileHoldingsApart: for a broker that reports delivery apart,
// the engine's CNC position is compared with the holding plus the day's
// CNC position, once, and adopting takes that sum at its average.
func TestReconcileHoldingsApart(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	rb := newReportingBroker(r.broker)
	e := r.engineWith(apartBroker{rb})
	mustCmd(t, e, trader, engine.CmdStart)
	const infy = "NSE:INFY"
	day := func(q int64, avg domain.Price) []domain.BrokerPosition {
		return []domain.BrokerPosition{{Account: "paper-asha", Exchange: "NSE", Symbol: "INFY", Product: domain.CNC, Quantity: q, AvgPrice: avg}}
	}
	adopt := engine.AdoptRequest{Account: "paper-asha", Instrument: infy, Confirm: "ADOPT", Reason: "delivery bought in Kite"}
	// 10 held from before at 1,500, 5 bought today at 1,600.
	rb.set(func(b *reportingBroker) {
		b.holdings = []domain.BrokerHolding{{Account: "paper-asha", Exchange: "NSE", Symbol: "INFY", Quantity: 10, AvgPrice: domain.Rupees(1500)}}
		b.extra = day(5, domain.Rupees(1600))
	})
	rec, err := e.Reconcile(ctx, "paper-asha")
	if err != nil || len(rec.Diffs) != 1 {
		t.Fatalf("check: %+v %v", rec, err)
	}
	avg := domain.Price(domain.MulDivRound(int64(10*domain.Rupees(1500)+5*domain.Rupees(1600)), 1, 15))
	if d := rec.Diffs[0]; d.Kind != domain.DiffHoldingMismatch || d.Ours != 0 || d.Theirs != 15 || d.TheirAvgPrice != avg {
		t.Fatalf("difference %+v, want holding 15 at %v", d, avg)
	}
	if _, err := e.AdoptPosition(ctx, admin, adopt); err != nil {
		t.Fatal(err)
	}
	if ad := r.lastEvent(domain.ReconcileStream("paper-asha")).(domain.PositionAdopted); ad.Quantity != 15 || ad.AvgPrice != avg || ad.Product != domain.CNC {
		t.Fatalf("adoption %+v", ad)
	}
	if rec, err := e.Reconcile(ctx, "paper-asha"); err != nil || rec.Blocked {
		t.Fatalf("check after adopting: %+v %v", rec, err)
	}
	// The next day: the 15 are all in the holdings, no day position.
	rb.set(func(b *reportingBroker) { b.holdings[0].Quantity, b.holdings[0].AvgPrice, b.extra = 15, avg, nil })
	if rec, err := e.Reconcile(ctx, "paper-asha"); err != nil || rec.Blocked {
		t.Fatalf("check the next day: %+v %v", rec, err)
	}
	// 9 of them sold in Kite at 1,700: the holding still says 15 until
	// settlement, the day's position -9; the broker holds 6, at the
	// holding's average.
	rb.set(func(b *reportingBroker) { b.extra = day(-9, domain.Rupees(1700)) })
	rec, err = e.Reconcile(ctx, "paper-asha")
	if err != nil || len(rec.Diffs) != 1 || rec.Diffs[0].Theirs != 6 || rec.Diffs[0].Ours != 15 || rec.Diffs[0].TheirAvgPrice != avg {
		t.Fatalf("check after a sale: %+v %v", rec.Diffs, err)
	}
	if _, err := e.AdoptPosition(ctx, admin, adopt); err != nil {
		t.Fatal(err)
	}
	if q, _ := engine.Position(e, "paper-asha", infy); q != 6 {
		t.Fatalf("the engine holds %d, want 6", q)
	}
	if rec, err := e.Reconcile(ctx, "paper-asha"); err != nil || rec.Blocked {
		t.Fatalf("check after adopting the sale: %+v %v", rec, err)
	}
}

// polledBroker is a reporting broker whose executions the engine learns by polling
// (a live REST broker): unpolled holds the reports Poll has not delivered.
type polledBroker struct {
	*reportingBroker
	unpolled []domain.ExecutionReport
	polls    int
}

func (b *polledBroker) Poll(context.Context) ([]domain.ExecutionReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.polls++
	out := b.unpolled
	b.unpolled = nil
	return out, nil
}

// fillAtBroker fills an order at the broker; report says whether its
// execution is left for Poll (else it is lost).
func (b *polledBroker) fillAtBroker(clientOrderID string, price domain.Price, report bool) {
	b.fakeBroker.mu.Lock()
	o := b.fakeBroker.orders[clientOrderID]
	o.FilledQty, o.Status, o.AvgPrice = o.Quantity, domain.BrokerComplete, price
	rep := domain.ExecutionReport{Kind: domain.ReportFilled, ClientOrderID: o.ClientOrderID, BrokerOrderID: o.BrokerOrderID,
		TradeID: o.BrokerOrderID + "-T", Quantity: o.Quantity, Price: price, FilledQty: o.Quantity}
	b.fakeBroker.mu.Unlock()
	if report {
		b.mu.Lock()
		b.unpolled = append(b.unpolled, rep)
		b.mu.Unlock()
	}
}

// TestReconcilePolledBroker: a polled broker is ahead of the engine by the
// executions not polled yet; a check collects them before it records a
// difference, so a fill in flight does not block the account. A fill the
// broker never reports does.
func TestReconcilePolledBroker(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	pb := &polledBroker{reportingBroker: newReportingBroker(r.broker)}
	e := r.engineWith(pb)
	mustCmd(t, e, trader, engine.CmdStart)
	res, err := e.PlaceOrder(ctx, trader, buy(65))
	if err != nil {
		t.Fatal(err)
	}
	pb.fillAtBroker(res.ClientOrderID, domain.Rupees(24001), true)
	rec, err := e.Reconcile(ctx, "paper-asha")
	if err != nil || rec.Blocked {
		t.Fatalf("check with a fill in flight: %+v %v", rec, err)
	}
	if types := r.streamTypes(domain.OrderStream(res.OrderID)); !slices.Contains(types, domain.TypeOrderFilled) {
		t.Fatalf("the fill in flight was not recorded: %v", types)
	}
	if q, _ := engine.Position(e, "paper-asha", niftyFut); q != 65 {
		t.Fatalf("the engine holds %d, want 65", q)
	}
	// A fill the broker does not report: a difference, recorded.
	res, err = e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: niftyFut, Side: domain.Sell, Quantity: 65})
	if err != nil {
		t.Fatal(err)
	}
	pb.fillAtBroker(res.ClientOrderID, domain.Rupees(24002), false)
	rec, err = e.Reconcile(ctx, "paper-asha")
	if err != nil || !rec.Blocked || !slices.Equal(diffKinds(rec.Diffs), []string{domain.DiffStatusMismatch, domain.DiffPositionMismatch}) {
		t.Fatalf("check with a lost fill: %+v %v", rec.Diffs, err)
	}
}

// TestPeriodicCheckOfABusyAccountWaits: when the account trades during
// every ask of a periodic check, the check gives up until the next
// interval instead of asking the broker while holding the engine (which
// would stall every account's ticks for as long as the broker takes); an
// admin's check gives up too, answering "check again".
func TestPeriodicCheckOfABusyAccountWaits(t *testing.T) {
	ctx := context.Background()
	r, rb, e := reconciledRig(t)
	before := len(r.streamTypes(domain.ReconcileStream("paper-asha")))
	held := 0
	rb.set(func(b *reportingBroker) {
		b.positionAsks = 0
		b.onAsk = func() { // an order placed while the broker answers
			done := make(chan error, 1)
			go func() { _, err := e.PlaceOrder(ctx, trader, buy(65)); done <- err }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("an order while the broker answers: %v", err)
				}
			case <-time.After(5 * time.Second):
				held++ // the engine is locked for the ask (the order goes in after it)
			}
		}
	})
	engine.Recheck(e, "paper-asha", 30*time.Second)
	rb.set(func(b *reportingBroker) {
		if held != 0 || b.positionAsks != 3 {
			t.Fatalf("%d asks, %d of them holding the engine; want 3 asks, none holding it", b.positionAsks, held)
		}
		b.positionAsks = 0
	})
	// An admin's check of the busy account answers "check again".
	if _, err := e.CheckReconciliation(ctx, admin, "paper-asha"); code(err) != domain.CodeConflict {
		t.Fatalf("an admin's check of an account trading through every ask: %v, want a conflict", err)
	}
	rb.set(func(b *reportingBroker) {
		if held != 0 || b.positionAsks != 3 {
			t.Fatalf("the admin's check: %d asks, %d of them holding the engine; want 3 asks, none holding it", b.positionAsks, held)
		}
		b.onAsk = nil
	})
	if got := len(r.streamTypes(domain.ReconcileStream("paper-asha"))); got != before {
		t.Fatalf("a check that gave up recorded %d events", got-before)
	}
	if rec := e.Control("paper-asha").Reconciliation; rec.Blocked {
		t.Fatalf("a check that gave up blocked the account: %+v", rec)
	}
}
