package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
)

// gatedBroker is a remote broker (no OnTick: a live REST broker's shape)
// whose calls can be held until the test releases them, as a slow broker
// would hold them; it reports its orders and positions as reportingBroker.
type gatedBroker struct {
	*reportingBroker
	mu      sync.Mutex
	hold    map[string]bool // "place", "lookup", "cancel", "modify"
	entered chan string
	release chan struct{}
}

func newGatedBroker() *gatedBroker {
	return &gatedBroker{reportingBroker: newReportingBroker(newFakeBroker()), hold: map[string]bool{}, entered: make(chan string, 8), release: make(chan struct{})}
}

func (g *gatedBroker) holdCalls(calls ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range calls {
		g.hold[c] = true
	}
}

func (g *gatedBroker) gate(call string) {
	g.mu.Lock()
	h := g.hold[call]
	g.mu.Unlock()
	if h {
		g.entered <- call
		<-g.release
	}
}

func (g *gatedBroker) Place(ctx context.Context, o domain.OrderIntentRecorded) (domain.ExecutionReport, error) {
	g.gate("place")
	g.mu.Lock()
	panics := g.hold["panic"]
	delete(g.hold, "panic")
	g.mu.Unlock()
	if panics {
		panic("adapter bug")
	}
	return g.fakeBroker.Place(ctx, o)
}

func (g *gatedBroker) Lookup(ctx context.Context, cid string) (domain.BrokerOrder, bool, error) {
	g.gate("lookup")
	return g.fakeBroker.Lookup(ctx, cid)
}

func (g *gatedBroker) Cancel(ctx context.Context, cid string) (domain.ExecutionReport, error) {
	g.gate("cancel")
	return g.fakeBroker.Cancel(ctx, cid)
}

func (g *gatedBroker) Modify(ctx context.Context, cid string, ch domain.OrderChange) (domain.ExecutionReport, error) {
	g.gate("modify")
	return g.fakeBroker.Modify(ctx, cid, ch)
}

// wantPlaces fails the test unless the broker took n placings.
func (g *gatedBroker) wantPlaces(t *testing.T, n int) {
	t.Helper()
	if _, places := g.count(); places != n {
		t.Fatalf("%d placings reached the broker, want %d", places, n)
	}
}

// wantOrderStream fails the test unless an order's stream holds the event
// types want ("[A B C]").
func (r *rig) wantOrderStream(orderID, want string) {
	r.t.Helper()
	if got := fmt.Sprint(r.streamTypes(domain.OrderStream(orderID))); got != want {
		r.t.Fatalf("order stream %s, want %s", got, want)
	}
}

// waitEntered waits for the broker to be inside a held call.
func (g *gatedBroker) waitEntered(t *testing.T, call string) {
	t.Helper()
	select {
	case got := <-g.entered:
		if got != call {
			t.Fatalf("the broker was called for %s, want %s", got, call)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the broker was not called for %s within 10s", call)
	}
}

// remoteRig runs an engine with two running accounts: live-ravi trades
// through the gated (remote) broker, paper-asha through the rig's
// simulated broker, which fills from ticks.
func remoteRig(t *testing.T) (*rig, *engine.Engine, *gatedBroker) {
	t.Helper()
	r := newRig(t)
	g := newGatedBroker()
	var live engine.Broker = struct{ engine.Broker }{g} // not a TickFiller
	e := engine.New(r.st, r.reg, engine.Config{Now: r.clock.Now,
		BrokerFor: func(account string, _ domain.Mode) (engine.Broker, error) {
			if account == "live-ravi" {
				return live, nil
			}
			return r.broker, nil
		}})
	if err := e.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(func() { // first: a failed test may leave a call held
		g.mu.Lock()
		clear(g.hold)
		g.mu.Unlock()
		close(g.release)
	})
	for _, acct := range []string{"live-ravi", "paper-asha"} {
		if _, err := e.Command(context.Background(), admin, acct, engine.CmdStart, "test", false); err != nil {
			t.Fatal(err)
		}
	}
	r.quote(e, "NIFTY26DECFUT")
	return r, e, g
}

func ravi(qty int64) engine.OrderRequest {
	r := buy(qty)
	r.Account = "live-ravi"
	return r
}

type placed struct {
	res engine.OrderResult
	err error
}

func placeAsync(e *engine.Engine, ctx context.Context, req engine.OrderRequest) chan placed {
	ch := make(chan placed, 1)
	go func() {
		res, err := e.PlaceOrder(ctx, admin, req)
		ch <- placed{res, err}
	}()
	return ch
}

// control reads an account's status, failing the test when the engine's
// lock is not free within 10 s (a broker call made under it).
func control(t *testing.T, e *engine.Engine, account string) engine.ControlStatus {
	t.Helper()
	ch := make(chan engine.ControlStatus, 1)
	go func() { ch <- e.Control(account) }()
	select {
	case st := <-ch:
		return st
	case <-time.After(10 * time.Second):
		t.Fatalf("the engine is held while the broker sits on a call (no status of %s within 10s)", account)
	}
	panic("unreachable")
}

// placeHeld places an order whose placing the broker then sits on, and
// returns once the broker is inside that call; the order's result comes on
// the channel when the test releases it.
func (g *gatedBroker) placeHeld(t *testing.T, e *engine.Engine, req engine.OrderRequest) chan placed {
	t.Helper()
	g.holdCalls("place")
	pending := placeAsync(e, context.Background(), req)
	g.waitEntered(t, "place")
	return pending
}

func await[T any](t *testing.T, what string, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return within 10s", what)
	}
	panic("unreachable")
}

// TestRemoteBrokerCallsDoNotHoldTheEngine: while a live broker sits on an
// order, the engine goes on handling ticks, fills and commands of other
// accounts; the order's placing is recorded before the call and its answer
// when it comes, and the manual order's caller gets the answer.
func TestRemoteBrokerCallsDoNotHoldTheEngine(t *testing.T) {
	r, e, g := remoteRig(t)
	ctx := context.Background()
	pending := g.placeHeld(t, e, ravi(65))

	// The broker holds the call; the engine does not wait for it.
	if st := control(t, e, "live-ravi"); st.OpenOrders != 1 {
		t.Fatalf("live-ravi while its order is being placed: %+v", st)
	}
	res, err := e.PlaceOrder(ctx, admin, buy(65)) // paper-asha
	if err != nil || res.Status != "open" {
		t.Fatalf("paper order while a live one is in flight: %+v %v", res, err)
	}
	r.clock.Advance(time.Second)
	r.quote(e, "NIFTY26DECFUT")
	waitFor(t, "the paper order to fill from the tick", func() bool {
		q, _ := engine.Position(e, "paper-asha", "NFO:NIFTY26DECFUT")
		return q == 65
	})
	select {
	case p := <-pending:
		t.Fatalf("the live order returned before its broker answered: %+v", p)
	default:
	}
	g.release <- struct{}{}
	p := await(t, "the live order", pending)
	if p.err != nil || p.res.Status != "open" || p.res.BrokerOrderID == "" {
		t.Fatalf("live order after the broker answered: %+v %v", p.res, p.err)
	}
	r.wantOrderStream(p.res.OrderID, "[OrderIntentRecorded OrderSubmitted OrderAccepted]")
	g.wantPlaces(t, 1)
}

// TestKillWhileAnOrderIsInFlight: the kill switch blocks new orders at
// once, even while the broker sits on a placing; the order in flight is
// cancelled as soon as the broker has taken it, never placed twice, and
// the kill answers when that is done.
func TestKillWhileAnOrderIsInFlight(t *testing.T) {
	r, e, g := remoteRig(t)
	ctx := context.Background()
	pending := g.placeHeld(t, e, ravi(65))
	killed := make(chan engine.ControlStatus, 1)
	go func() {
		st, err := e.Kill(ctx, admin, "live-ravi", "panic button")
		if err != nil {
			t.Errorf("kill: %v", err)
		}
		killed <- st
	}()
	waitFor(t, "the kill switch to be active", func() bool { return control(t, e, "live-ravi").Kill })
	if _, err := e.PlaceOrder(ctx, admin, ravi(65)); rule(err) != "kill_switch" {
		t.Fatalf("an order after the kill while the broker is busy: %v, want the kill switch", err)
	}
	select {
	case st := <-killed:
		t.Fatalf("the kill answered before the order in flight was cancelled: %+v", st)
	default:
	}
	g.release <- struct{}{}
	p := await(t, "the live order", pending)
	if p.err != nil {
		t.Fatal(p.err)
	}
	st := await(t, "the kill", killed)
	if st.OpenOrders != 0 {
		t.Fatalf("after the kill: %d open orders, want 0", st.OpenOrders)
	}
	r.wantOrderStream(p.res.OrderID, "[OrderIntentRecorded OrderSubmitted OrderAccepted OrderCancelled]")
	g.wantPlaces(t, 1)
}

// TestRemoteUnknownOutcomeIsLookedUp: a placing whose answer is lost is
// recorded as of unknown outcome and looked up by client order id, the
// lookup too without the engine's lock; never placed again.
func TestRemoteUnknownOutcomeIsLookedUp(t *testing.T) {
	r, e, g := remoteRig(t)
	ctx := context.Background()
	g.fakeBroker.mu.Lock()
	g.fakeBroker.next = "timeout-after"
	g.fakeBroker.mu.Unlock()
	g.holdCalls("lookup")
	pending := placeAsync(e, ctx, ravi(65))
	g.waitEntered(t, "lookup")
	if st := control(t, e, "live-ravi"); st.OpenOrders != 1 {
		t.Fatalf("while the lookup is in flight: %+v", st)
	}
	g.release <- struct{}{}
	p := await(t, "the order", pending)
	if p.err != nil || p.res.Status != "open" {
		t.Fatalf("after the lookup: %+v %v", p.res, p.err)
	}
	r.wantOrderStream(p.res.OrderID, "[OrderIntentRecorded OrderSubmitted SubmitOutcomeUnknown OrderAccepted]")
	if orders, places := g.count(); orders != 1 || places != 1 {
		t.Fatalf("%d orders and %d places at the broker, want 1 and 1", orders, places)
	}
}

// TestRemoteModifyAndCancel: manual changes and cancels of a live order
// answer with the broker's answer; a caller who stops waiting gets
// "unavailable" while the call goes on and its answer is still recorded;
// Drain waits for it.
func TestRemoteModifyAndCancel(t *testing.T) {
	r, e, g := remoteRig(t)
	ctx := context.Background()
	res, err := e.PlaceOrder(ctx, admin, ravi(65))
	if err != nil || res.Status != "open" {
		t.Fatalf("place: %+v %v", res, err)
	}
	if _, err := e.ModifyOrder(ctx, admin, res.OrderID, domain.OrderChange{Quantity: 130}); err != nil {
		t.Fatalf("modify: %v", err)
	}
	g.holdCalls("cancel")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := e.CancelOrder(short, admin, res.OrderID); code(err) != domain.CodeUnavailable {
		t.Fatalf("cancel the broker sits on, with a caller who stops waiting: %v, want unavailable", err)
	}
	g.waitEntered(t, "cancel")
	drained, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if err := e.Drain(drained); err == nil {
		t.Fatal("Drain returned while a cancel was in flight")
	}
	g.release <- struct{}{}
	if err := e.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	r.wantOrderStream(res.OrderID, "[OrderIntentRecorded OrderSubmitted OrderAccepted OrderModified OrderCancelled]")
	if _, err := e.CancelOrder(ctx, admin, res.OrderID); code(err) != domain.CodeConflict {
		t.Fatalf("cancel a cancelled order: %v, want a conflict", err)
	}
}

// TestCheckWaitsForOrdersInFlight: a check against the broker waits for
// the account's placings in flight: an order the broker is taking is not
// "missing at the broker" (which would block the account, and an adoption
// would cancel an order the broker then holds open).
func TestCheckWaitsForOrdersInFlight(t *testing.T) {
	_, e, g := remoteRig(t)
	ctx := context.Background()
	pending := g.placeHeld(t, e, ravi(65))
	type result struct {
		rec domain.Reconciliation
		err error
	}
	checked := make(chan result, 1)
	go func() {
		rec, err := e.Reconcile(ctx, "live-ravi")
		checked <- result{rec, err}
	}()
	control(t, e, "live-ravi") // the engine is free meanwhile
	// The check either waits behind the placing (a barrier in the queue)
	// or, wrongly, asks the broker at once.
	waitFor(t, "the check to wait for the placing or ask the broker", func() bool {
		var asks int
		g.set(func(b *reportingBroker) { asks = b.positionAsks })
		return engine.PendingCalls(e, "live-ravi") > 0 || asks > 0
	})
	select {
	case res := <-checked:
		t.Fatalf("the check answered while a placing was in flight: %+v %v", res.rec, res.err)
	default:
	}
	g.release <- struct{}{}
	if p := await(t, "the order", pending); p.err != nil || p.res.Status != "open" {
		t.Fatalf("order: %+v %v", p.res, p.err)
	}
	res := await(t, "the check", checked)
	if res.err != nil || res.rec.Blocked || len(res.rec.Diffs) != 0 {
		t.Fatalf("the check of an account whose order was being placed: %+v %v", res.rec, res.err)
	}
}

// TestDrainStopsSending: once serve drains, new orders to a remote broker
// are recorded as not sent, and cancels are refused, while what was queued
// before is finished.
func TestDrainStopsSending(t *testing.T) {
	r, e, g := remoteRig(t)
	ctx := context.Background()
	first, err := e.PlaceOrder(ctx, admin, ravi(65))
	if err != nil || first.Status != "open" {
		t.Fatalf("place: %+v %v", first, err)
	}
	pending := g.placeHeld(t, e, ravi(65))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := e.Drain(short); err == nil {
		t.Fatal("Drain returned with a placing in flight")
	}
	if res, err := e.PlaceOrder(ctx, admin, ravi(65)); err != nil || res.Status != "rejected" {
		t.Fatalf("an order while draining: %+v %v, want rejected (not sent)", res, err)
	}
	if _, err := e.CancelOrder(ctx, admin, first.OrderID); code(err) != domain.CodeUnavailable {
		t.Fatalf("a cancel while draining: %v, want unavailable", err)
	}
	g.release <- struct{}{}
	if err := e.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	p := await(t, "the order in flight", pending)
	if p.err != nil || p.res.Status != "open" {
		t.Fatalf("the order in flight when Drain began: %+v %v", p.res, p.err)
	}
	r.wantOrderStream(p.res.OrderID, "[OrderIntentRecorded OrderSubmitted OrderAccepted]")
	g.wantPlaces(t, 2)
}

// TestBrokerPanicIsAnUnknownOutcome: an adapter that panics while placing
// does not take the engine down: the outcome is unknown, the order is
// looked up (here: not at the broker, so rejected), and the next order
// goes through the same queue.
func TestBrokerPanicIsAnUnknownOutcome(t *testing.T) {
	r, e, g := remoteRig(t)
	ctx := context.Background()
	g.holdCalls("panic")
	res, err := e.PlaceOrder(ctx, admin, ravi(65))
	if err != nil || res.Status != "rejected" {
		t.Fatalf("an order whose placing panicked: %+v %v, want rejected after the lookup", res, err)
	}
	r.wantOrderStream(res.OrderID, "[OrderIntentRecorded OrderSubmitted SubmitOutcomeUnknown OrderRejected]")
	next, err := e.PlaceOrder(ctx, admin, ravi(65))
	if err != nil || next.Status != "open" {
		t.Fatalf("the next order: %+v %v", next, err)
	}
	g.wantPlaces(t, 1)
}
