package zerodha_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/google/uuid"
)

// TestEngineTradesLiveThroughKite: the engine with this broker as the
// live broker of an account: switching to live checks the Kite session, a
// manual order reaches Kite tagged with its client order id, and fills
// come back by polling, once each.
func TestEngineTradesLiveThroughKite(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	now := func() time.Time { return at(10, 0, 0) }
	st, err := embedded.Open(ctx, embedded.Config{Dir: t.TempDir(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := codec.NewRegistry()
	tick := domain.Tick{Provider: "kite", Exchange: domain.ExchangeNFO, Symbol: symbol, ExchangeTime: now(),
		LTP: rs(101, 0), Bid: rs(100, 95), Ask: rs(101, 5)}
	d, err := reg.Encode(uuid.New(), tick, eventstore.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, tick.Stream(), eventstore.Any(), d); err != nil {
		t.Fatal(err)
	}
	e := engine.New(st, reg, engine.Config{Now: now,
		BrokerFor: func(acct string, mode domain.Mode) (engine.Broker, error) {
			if mode == domain.Live && acct == account {
				return b, nil
			}
			return nil, fmt.Errorf("no broker for %s in %s", acct, mode)
		},
		LiveSession: func(acct string) bool { return acct == account && b.Session(ctx) == nil }})
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	admin := engine.Actor{User: "root", Admin: true}

	// No live session: refused.
	k.set(func(k *fakeKite) { k.token = "another" })
	if _, err := e.SetMode(ctx, admin, account, domain.Live, "LIVE"); err == nil {
		t.Fatal("switched to live with an expired Kite token")
	}
	k.set(func(k *fakeKite) { k.token = token })
	if _, err := e.SetMode(ctx, admin, account, domain.Live, "LIVE"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Command(ctx, admin, account, engine.CmdStart, "test", false); err != nil {
		t.Fatal(err)
	}
	res, err := e.PlaceOrder(ctx, admin, engine.OrderRequest{Account: account, Exchange: domain.ExchangeNFO, Symbol: symbol,
		Side: domain.Buy, Quantity: 75, Type: domain.Market, Product: domain.NRML})
	if err != nil || res.Status != "open" || res.BrokerOrderID == "" {
		t.Fatalf("place: %+v %v", res, err)
	}
	forms := k.formsOf("POST /orders/regular")
	if len(forms) != 1 || forms[0].Get("tag") != res.ClientOrderID || forms[0].Get("quantity") != "75" {
		t.Fatalf("Kite got %v, want one order tagged %s", forms, res.ClientOrderID)
	}

	k.fill(res.BrokerOrderID, "T1", 50, "101.05")
	e.PollBrokers(ctx)
	k.fill(res.BrokerOrderID, "T2", 25, "101.10")
	e.PollBrokers(ctx)
	e.PollBrokers(ctx) // nothing new
	evs, err := st.ReadStream(ctx, domain.OrderStream(res.OrderID), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	var filled int64
	for i := range evs {
		types = append(types, evs[i].Type)
		if de, err := reg.Decode(&evs[i]); err == nil {
			if f, ok := de.(domain.OrderFilled); ok {
				filled += f.Quantity
			}
		}
	}
	want := "[OrderIntentRecorded OrderSubmitted OrderAccepted OrderFilled OrderFilled]"
	if fmt.Sprint(types) != want || filled != 75 {
		t.Fatalf("order stream %v (filled %d), want %s (75)", types, filled, want)
	}
	if st := e.Control(account); st.OpenOrders != 0 {
		t.Fatalf("%d open orders after the order filled", st.OpenOrders)
	}
}
