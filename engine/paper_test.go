package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/eventstore"
)

// paperEngine starts an engine over the rig's log whose broker is one
// paper broker, rebuilt from the log as serve rebuilds it.
func (r *rig) paperEngine() (*engine.Engine, *paper.Broker) {
	r.t.Helper()
	ctx := context.Background()
	b, err := paper.New(paper.Config{Account: "paper-asha", Now: r.clock.Now})
	if err != nil {
		r.t.Fatal(err)
	}
	evs, err := r.st.ReadAll(ctx, eventstore.ReadAllOptions{Filter: eventstore.Filter{StreamPrefix: "order-"}})
	if err != nil {
		r.t.Fatal(err)
	}
	for i := range evs {
		de, err := r.reg.Decode(&evs[i])
		if err != nil {
			r.t.Fatal(err)
		}
		if err := b.Apply(de, evs[i].RecordedAt); err != nil {
			r.t.Fatal(err)
		}
	}
	e := engine.New(r.st, r.reg, engine.Config{Now: r.clock.Now,
		BrokerFor: func(string, domain.Mode) (engine.Broker, error) { return b, nil }})
	if err := e.Load(ctx); err != nil {
		r.t.Fatal(err)
	}
	return e, b
}

func paperOrders(t *testing.T, b *paper.Broker) int {
	t.Helper()
	os, err := b.Orders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(os)
}

// TestPaperFaultInjection: with the paper broker's fault injection, a
// timeout after the broker accepted is resolved by lookup (one order), a
// timeout before it is recorded as not at the broker (none), and an
// intent whose process stopped before the broker call is sent exactly once
// after a restart, by an engine and a paper broker both rebuilt from the
// log.
func TestPaperFaultInjection(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.tick("NIFTY26DECFUT", domain.Rupees(24000))
	e, b := r.paperEngine()
	mustCmd(t, e, trader, engine.CmdStart)
	order := func(key string) engine.OrderResult {
		t.Helper()
		res, err := e.PlaceOrder(ctx, trader, engine.OrderRequest{Account: "paper-asha", Symbol: "NFO:NIFTY26DECFUT", Side: domain.Buy,
			Quantity: 65, Type: domain.Limit, Price: domain.Rupees(23000), IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	b.FailNextPlace(paper.FaultTimeoutAfterAccept)
	if res := order("a"); res.Status != "open" || res.BrokerOrderID == "" {
		t.Fatalf("timeout after accept: %+v, want the order found open at the broker", res)
	}
	b.FailNextPlace(paper.FaultTimeoutBeforeAccept)
	if res := order("b"); res.Status != "rejected" {
		t.Fatalf("timeout before accept: %+v, want rejected (not at the broker)", res)
	}
	if n := paperOrders(t, b); n != 1 {
		t.Fatalf("paper broker holds %d orders, want 1", n)
	}

	// The process stops between recording an intent and calling the broker.
	in := domain.OrderIntentRecorded{OrderID: "X1", ClientOrderID: "X1", Account: "paper-asha", Mode: domain.Paper,
		Exchange: domain.ExchangeNFO, Symbol: "NIFTY26DECFUT", Side: domain.Buy, Quantity: 65, Type: domain.Limit,
		Product: domain.MIS, Price: domain.Rupees(23000)}
	d, err := r.reg.Encode(uuidFor(t), in, eventstore.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Append(ctx, domain.OrderStream("X1"), eventstore.NoStream(), d); err != nil {
		t.Fatal(err)
	}
	for restart := range 2 {
		r.clock.Advance(time.Second)
		e2, b2 := r.paperEngine()
		if err := e2.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		if n := paperOrders(t, b2); n != 2 {
			t.Fatalf("restart %d: the rebuilt paper broker holds %d orders, want 2 (the first order and X1 once)", restart, n)
		}
	}
	types := r.streamTypes(domain.OrderStream("X1"))
	if len(types) != 3 || types[2] != "OrderAccepted" {
		t.Fatalf("X1: %v", types)
	}
}
