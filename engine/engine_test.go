package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
)

// fakeBroker is a minimal broker: it accepts orders, fills open ones fully
// at the LTP of the next tick of their instrument, and can be told to fail
// the next Place in one of three ways.
type fakeBroker struct {
	mu     sync.Mutex
	orders map[string]*domain.BrokerOrder
	next   string // "", "timeout-after", "timeout-before", "not-sent"
	places int    // Place calls that reached the broker
	seq    int
}

func newFakeBroker() *fakeBroker { return &fakeBroker{orders: map[string]*domain.BrokerOrder{}} }

func (b *fakeBroker) Name() string { return "fake" }

func (b *fakeBroker) Place(_ context.Context, o domain.OrderIntentRecorded) (domain.ExecutionReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mode := b.next
	b.next = ""
	switch mode {
	case "not-sent":
		return domain.ExecutionReport{}, fmt.Errorf("dial: connection refused: %w", domain.ErrOrderNotSent)
	case "timeout-before":
		return domain.ExecutionReport{}, errors.New("timeout awaiting response headers")
	}
	b.places++
	if prev := b.orders[o.ClientOrderID]; prev != nil {
		return domain.ExecutionReport{Kind: domain.ReportAccepted, ClientOrderID: o.ClientOrderID, BrokerOrderID: prev.BrokerOrderID}, nil
	}
	b.seq++
	bo := &domain.BrokerOrder{BrokerOrderID: fmt.Sprintf("B%d", b.seq), ClientOrderID: o.ClientOrderID, Account: o.Account,
		Exchange: o.Exchange, Symbol: o.Symbol, Side: o.Side, Type: o.Type, Product: o.Product, Quantity: o.Quantity, Status: domain.BrokerOpen}
	b.orders[o.ClientOrderID] = bo
	if mode == "timeout-after" {
		return domain.ExecutionReport{}, errors.New("context deadline exceeded")
	}
	return domain.ExecutionReport{Kind: domain.ReportAccepted, ClientOrderID: o.ClientOrderID, BrokerOrderID: bo.BrokerOrderID}, nil
}

func (b *fakeBroker) Modify(_ context.Context, cid string, _ domain.OrderChange) (domain.ExecutionReport, error) {
	return domain.ExecutionReport{Kind: domain.ReportModified, ClientOrderID: cid}, nil
}

func (b *fakeBroker) Cancel(_ context.Context, cid string) (domain.ExecutionReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.orders[cid]
	if o == nil || o.Status.Final() {
		return domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: cid, Reason: "not open"}, nil
	}
	o.Status = domain.BrokerCancelled
	return domain.ExecutionReport{Kind: domain.ReportCancelled, ClientOrderID: cid, BrokerOrderID: o.BrokerOrderID}, nil
}

func (b *fakeBroker) Lookup(_ context.Context, cid string) (domain.BrokerOrder, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.orders[cid]
	if o == nil {
		return domain.BrokerOrder{}, false, nil
	}
	return *o, true, nil
}

func (b *fakeBroker) Orders(context.Context) ([]domain.BrokerOrder, error)       { return nil, nil }
func (b *fakeBroker) Positions(context.Context) ([]domain.BrokerPosition, error) { return nil, nil }
func (b *fakeBroker) Holdings(context.Context) ([]domain.BrokerHolding, error)   { return nil, nil }

func (b *fakeBroker) OnTick(t domain.Tick) []domain.ExecutionReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []domain.ExecutionReport
	for _, o := range b.orders {
		if o.Status != domain.BrokerOpen || o.Exchange != t.Exchange || o.Symbol != t.Symbol {
			continue
		}
		q := o.Quantity - o.FilledQty
		o.FilledQty, o.Status = o.Quantity, domain.BrokerComplete
		out = append(out, domain.ExecutionReport{Kind: domain.ReportFilled, ClientOrderID: o.ClientOrderID, BrokerOrderID: o.BrokerOrderID,
			TradeID: o.BrokerOrderID + "-T", Quantity: q, Price: t.LTP, FilledQty: o.Quantity, At: t.ExchangeTime})
	}
	return out
}

func (b *fakeBroker) count() (orders, places int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.orders), b.places
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

type rig struct {
	t      *testing.T
	st     *embedded.Store
	reg    *codec.Registry
	broker *fakeBroker
	clock  *clock
}

func newRig(t *testing.T) *rig {
	clk := &clock{t: time.Date(2026, 11, 30, 10, 0, 0, 0, domain.IST())}
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: t.TempDir(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &rig{t: t, st: st, reg: codec.NewRegistry(), broker: newFakeBroker(), clock: clk}
}

// engine starts a fresh engine over the rig's log, as a restart would.
func (r *rig) engine() *engine.Engine {
	r.t.Helper()
	e := engine.New(r.st, r.reg, engine.Config{Now: r.clock.Now,
		BrokerFor: func(string, domain.Mode) (engine.Broker, error) { return r.broker, nil }})
	if err := e.Load(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	return e
}

func (r *rig) tick(symbol string, ltp domain.Price) {
	r.t.Helper()
	t := domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: symbol, ExchangeTime: r.clock.Now(), LTP: ltp, Bid: ltp - 5, Ask: ltp + 5}
	d, err := r.reg.Encode(uuidFor(r.t), t, eventstore.Metadata{})
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.st.Append(context.Background(), t.Stream(), eventstore.Any(), d); err != nil {
		r.t.Fatal(err)
	}
}

// quote ticks the instruments and waits until e has folded them.
func (r *rig) quote(e *engine.Engine, symbols ...string) {
	r.t.Helper()
	for _, s := range symbols {
		r.tick(s, domain.Rupees(24000))
	}
	waitFor(r.t, "the engine to see the ticks", func() bool {
		for _, s := range symbols {
			if t, ok := e.Tick("NFO:" + s); !ok || !t.ExchangeTime.Equal(r.clock.Now()) {
				return false
			}
		}
		return true
	})
}

var (
	trader = engine.Actor{User: "asha", Trader: true, CanSee: func(a string) bool { return a == "paper-asha" }}
	admin  = engine.Actor{User: "root", Admin: true}
	viewer = engine.Actor{User: "vik", CanSee: func(a string) bool { return a == "paper-asha" }}
)

func code(err error) string {
	var ce *domain.CommandError
	if errors.As(err, &ce) {
		return ce.Code
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

func mustCmd(t *testing.T, e *engine.Engine, a engine.Actor, cmd engine.ControlCommand) engine.ControlStatus {
	t.Helper()
	st, err := e.Command(context.Background(), a, "paper-asha", cmd, "test", false)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return st
}

func buy(qty int64) engine.OrderRequest {
	return engine.OrderRequest{Account: "paper-asha", Symbol: "NFO:NIFTY26DECFUT", Side: domain.Buy, Quantity: qty}
}

// streamTypes returns the event types of one stream.
func (r *rig) streamTypes(stream string) []string {
	r.t.Helper()
	evs, err := r.st.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

func TestControlLifecycleSurvivesRestart(t *testing.T) {
	r := newRig(t)
	e := r.engine()
	ctx := context.Background()
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); code(err) != domain.CodeConflict {
		t.Fatalf("order while stopped: %v, want a conflict", err)
	}
	if _, err := e.Command(ctx, viewer, "paper-asha", engine.CmdStart, "", false); code(err) != domain.CodeForbidden {
		t.Fatalf("a viewer starts trading: %v", err)
	}
	if _, err := e.Command(ctx, trader, "paper-bob", engine.CmdStart, "", false); code(err) != domain.CodeForbidden {
		t.Fatalf("asha starts bob's account: %v", err)
	}
	mustCmd(t, e, trader, engine.CmdStart)
	if st := mustCmd(t, e, trader, engine.CmdPause); st.State != domain.ControlPaused {
		t.Fatalf("after pause: %+v", st)
	}
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); code(err) != domain.CodeConflict {
		t.Fatalf("order while paused: %v", err)
	}
	mustCmd(t, e, trader, engine.CmdResume)
	if _, err := e.SetMode(ctx, trader, "paper-asha", domain.Live, "LIVE"); code(err) != domain.CodeForbidden {
		t.Fatalf("a trader goes live: %v", err)
	}
	if _, err := e.SetMode(ctx, admin, "paper-asha", domain.Live, "LIVE"); code(err) != domain.CodeConflict {
		t.Fatalf("live without a broker session: %v", err)
	}
	// A restart folds the same state from the log.
	if st := r.engine().Control("paper-asha"); st.State != domain.ControlRunning || st.Mode != domain.Paper || st.Version != 3 {
		t.Fatalf("after restart: %+v", st)
	}
}

func TestOrderFillStopAndFlatten(t *testing.T) {
	r := newRig(t)
	e := r.engine()
	ctx := context.Background()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	mustCmd(t, e, trader, engine.CmdStart)
	r.quote(e, "NIFTY26DECFUT", "BANKNIFTY26DECFUT")
	res, err := e.PlaceOrder(ctx, trader, buy(130))
	if err != nil || res.Status != "open" || res.BrokerOrderID != "B1" {
		t.Fatalf("place: %+v %v", res, err)
	}
	if _, err := e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: "NIFTY26DECFUT", Side: "HOLD", Quantity: 65}); code(err) != domain.CodeInvalid {
		t.Fatalf("bad side: %v", err)
	}
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	waitFor(t, "the fill", func() bool {
		return len(r.streamTypes(domain.OrderStream(res.OrderID))) == 4
	})
	want := []string{"OrderIntentRecorded", "OrderSubmitted", "OrderAccepted", "OrderFilled"}
	if got := r.streamTypes(domain.OrderStream(res.OrderID)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order stream %v, want %v", got, want)
	}
	// A second, resting order; stop with flatten cancels it and sells the 130.
	rest, err := e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: "NFO:BANKNIFTY26DECFUT", Side: domain.Buy, Quantity: 30})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Command(ctx, trader, "paper-asha", engine.CmdStop, "end of day", true)
	if err != nil || st.State != domain.ControlStopped || st.OpenOrders != 1 {
		t.Fatalf("stop: %+v %v (the flattening sell is open until a tick fills it)", st, err)
	}
	if got := r.streamTypes(domain.OrderStream(rest.OrderID)); got[len(got)-1] != "OrderCancelled" {
		t.Fatalf("resting order after stop: %v", got)
	}
	orders, places := r.broker.count()
	if orders != 3 || places != 3 {
		t.Fatalf("broker has %d orders from %d places, want 3 (buy, resting buy, flattening sell)", orders, places)
	}
}

// TestAmbiguousOutcomes: a broker call that times out is looked up by
// client order id and never resubmitted.
func TestAmbiguousOutcomes(t *testing.T) {
	for _, tc := range []struct {
		fault  string
		status string
		last   string
		orders int
	}{
		{"timeout-after", "open", "OrderAccepted", 1},      // the broker has it: adopted
		{"timeout-before", "rejected", "OrderRejected", 0}, // the broker never got it
		{"not-sent", "rejected", "OrderRejected", 0},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			r := newRig(t)
			r.tick("NIFTY26DECFUT", domain.Rupees(24000))
			e := r.engine()
			mustCmd(t, e, trader, engine.CmdStart)
			r.broker.next = tc.fault
			res, err := e.PlaceOrder(context.Background(), trader, engine.OrderRequest{Account: "paper-asha", Symbol: "NIFTY26DECFUT",
				Side: domain.Sell, Quantity: 65, IdempotencyKey: "k1"})
			if err != nil || res.Status != tc.status {
				t.Fatalf("place: %+v %v, want status %s", res, err, tc.status)
			}
			types := r.streamTypes(domain.OrderStream(res.OrderID))
			if types[len(types)-1] != tc.last {
				t.Fatalf("order stream %v, want it to end with %s", types, tc.last)
			}
			// A retry with the same key answers with the same order, and
			// the broker is not called again.
			again, err := e.PlaceOrder(context.Background(), trader, engine.OrderRequest{Account: "paper-asha", Symbol: "NIFTY26DECFUT",
				Side: domain.Sell, Quantity: 65, IdempotencyKey: "k1"})
			if err != nil || !again.Duplicate || again.OrderID != res.OrderID {
				t.Fatalf("retry: %+v %v", again, err)
			}
			if n, _ := r.broker.count(); n != tc.orders {
				t.Fatalf("broker holds %d orders, want %d", n, tc.orders)
			}
		})
	}
}

// TestCrashBetweenIntentAndBrokerCall: the process stops after recording
// an intent (or after OrderSubmitted); the restart gives exactly one broker
// order.
func TestCrashBetweenIntentAndBrokerCall(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	e := r.engine()
	mustCmd(t, e, trader, engine.CmdStart)
	append := func(stream string, evs ...domain.Event) {
		for _, ev := range evs {
			d, err := r.reg.Encode(uuidFor(t), ev, eventstore.Metadata{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.st.Append(ctx, stream, eventstore.Any(), d); err != nil {
				t.Fatal(err)
			}
		}
	}
	intent := func(id string) domain.OrderIntentRecorded {
		return domain.OrderIntentRecorded{OrderID: id, ClientOrderID: id, Account: "paper-asha", Mode: domain.Paper,
			Exchange: domain.ExchangeNFO, Symbol: "NIFTY26DECFUT", Side: domain.Buy, Quantity: 65, Type: domain.Market, Product: domain.MIS}
	}
	// A: crashed after the intent, before the broker call.
	append(domain.OrderStream("A1"), intent("A1"))
	// B: crashed after OrderSubmitted; the broker had accepted it.
	append(domain.OrderStream("B1"), intent("B1"), domain.OrderSubmitted{OrderID: "B1", ClientOrderID: "B1", Broker: "fake"})
	if _, err := r.broker.Place(ctx, intent("B1")); err != nil {
		t.Fatal(err)
	}
	// C: crashed after OrderSubmitted; the request never reached the broker.
	append(domain.OrderStream("C1"), intent("C1"), domain.OrderSubmitted{OrderID: "C1", ClientOrderID: "C1", Broker: "fake"})

	for restart := range 2 { // recovering twice changes nothing more
		e2 := r.engine()
		if err := e2.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		orders, places := r.broker.count()
		if orders != 2 || places != 2 {
			t.Fatalf("restart %d: broker holds %d orders after %d places, want 2 (A1 sent once, B1 adopted)", restart, orders, places)
		}
	}
	for id, want := range map[string]string{"A1": "OrderAccepted", "B1": "OrderAccepted", "C1": "OrderRejected"} {
		types := r.streamTypes(domain.OrderStream(id))
		if types[len(types)-1] != want {
			t.Errorf("%s: %v, want it to end with %s", id, types, want)
		}
	}
}

func TestKillSwitch(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	e := r.engine()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	mustCmd(t, e, trader, engine.CmdStart)
	r.quote(e, "NIFTY26DECFUT", "BANKNIFTY26DECFUT")
	filled, err := e.PlaceOrder(ctx, trader, buy(65))
	if err != nil {
		t.Fatal(err)
	}
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	waitFor(t, "the fill", func() bool { return len(r.streamTypes(domain.OrderStream(filled.OrderID))) == 4 })
	resting, err := e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: "NFO:BANKNIFTY26DECFUT", Side: domain.Buy, Quantity: 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Kill(ctx, trader, "paper-asha", ""); code(err) != domain.CodeInvalid {
		t.Fatalf("kill without a reason: %v", err)
	}
	st, err := e.Kill(ctx, trader, "paper-asha", "runaway strategy")
	if err != nil || !st.Kill || st.State != domain.ControlStopped {
		t.Fatalf("kill: %+v %v", st, err)
	}
	if got := r.streamTypes(domain.OrderStream(resting.OrderID)); got[len(got)-1] != "OrderCancelled" {
		t.Fatalf("resting order after the kill: %v", got)
	}
	if orders, _ := r.broker.count(); orders != 3 {
		t.Fatalf("broker orders %d, want 3: the kill flattens the filled 65 with a sell", orders)
	}
	if _, err := e.PlaceOrder(ctx, trader, buy(65)); code(err) != domain.CodeRefused {
		t.Fatalf("order with the kill switch on: %v, want refused", err)
	}
	if _, err := e.Command(ctx, trader, "paper-asha", engine.CmdStart, "", false); code(err) != domain.CodeConflict {
		t.Fatalf("start with the kill switch on: %v", err)
	}
	cancel()
	<-done

	// It survives a restart; reset needs an admin, the confirmation, a
	// reason and the cooldown (15 minutes by default).
	e2 := r.engine()
	if st := e2.Control("paper-asha"); !st.Kill || st.KillReason != "runaway strategy" {
		t.Fatalf("after restart: %+v", st)
	}
	if _, err := e2.ResetKill(ctx, trader, "paper-asha", "RESET", "ok"); code(err) != domain.CodeForbidden {
		t.Fatalf("a trader resets: %v", err)
	}
	if _, err := e2.ResetKill(ctx, admin, "paper-asha", "reset", "ok"); code(err) != domain.CodeInvalid {
		t.Fatalf("wrong confirmation: %v", err)
	}
	if _, err := e2.ResetKill(ctx, admin, "paper-asha", "RESET", "ok"); code(err) != domain.CodeConflict {
		t.Fatalf("inside the cooldown: %v", err)
	}
	r.clock.Advance(16 * time.Minute)
	st, err = e2.ResetKill(ctx, admin, "paper-asha", "RESET", "reviewed the strategy")
	if err != nil || st.Kill || st.State != domain.ControlStopped {
		t.Fatalf("reset: %+v %v", st, err)
	}
}

func TestSignalsIdempotent(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	e := r.engine()
	sig := engine.SignalRequest{Source: "n8n", IdempotencyKey: "alert-1", Account: "paper-asha", Symbol: "NFO:NIFTY26DECFUT", Side: domain.Buy, Quantity: 65}
	if _, err := e.Submit(ctx, trader, engine.SignalRequest{Source: "n8n", Account: "paper-asha", Symbol: "X", Side: domain.Buy, Quantity: 1}); code(err) != domain.CodeInvalid {
		t.Fatalf("no idempotency key: %v", err)
	}
	rej, err := e.Submit(ctx, trader, sig)
	if err != nil || rej.Status != engine.SignalRejected || rej.Rule != "trading_stopped" {
		t.Fatalf("signal while stopped: %+v %v", rej, err)
	}
	mustCmd(t, e, trader, engine.CmdStart)
	again, err := e.Submit(ctx, trader, sig)
	if err != nil || !again.Duplicate || again.Status != engine.SignalRejected || again.SignalID != rej.SignalID {
		t.Fatalf("repeat: %+v %v, want the first answer", again, err)
	}
	sig.IdempotencyKey = "alert-2"
	ok, err := e.Submit(ctx, trader, sig)
	if err != nil || ok.Status != engine.SignalAccepted || len(ok.OrderIDs) != 1 {
		t.Fatalf("accepted: %+v %v", ok, err)
	}
	// After a restart a repeat still answers with the first result.
	again, err = r.engine().Submit(ctx, trader, sig)
	if err != nil || !again.Duplicate || again.Status != engine.SignalAccepted || again.OrderIDs[0] != ok.OrderIDs[0] {
		t.Fatalf("repeat after restart: %+v %v", again, err)
	}
	if orders, _ := r.broker.count(); orders != 1 {
		t.Fatalf("broker orders %d, want 1", orders)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func uuidFor(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestKillResetWithSimulatedTime: with a simulated feed, commands happen at
// the feed's time (days behind the wall clock) while the store stamps
// events with the wall clock; the kill switch's cooldown is measured on
// the wall clock both before and after a restart.
func TestKillResetWithSimulatedTime(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	sim := func() time.Time { return time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST()) } // ten days behind
	build := func() *engine.Engine {
		e := engine.New(r.st, r.reg, engine.Config{Now: sim, Wall: r.clock.Now,
			BrokerFor: func(string, domain.Mode) (engine.Broker, error) { return r.broker, nil }})
		if err := e.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := build()
	if _, err := e.Kill(ctx, trader, "paper-asha", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ResetKill(ctx, admin, "paper-asha", "RESET", "ok"); code(err) != domain.CodeConflict {
		t.Fatalf("inside the cooldown: %v", err)
	}
	r.clock.Advance(16 * time.Minute)
	if st, err := build().ResetKill(ctx, admin, "paper-asha", "RESET", "ok"); err != nil || st.Kill {
		t.Fatalf("after the cooldown, restarted: %+v %v", st, err)
	}
}
