package zerodha_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/algoauto/algoauto/adapters/zerodha"
	"github.com/algoauto/algoauto/domain"
)

func TestModifyAndCancelByClientOrderID(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	placed := mustPlace(t, b, intent(cid(1), domain.Limit))

	rep, err := b.Modify(ctx, cid(1), domain.OrderChange{Quantity: 150, Price: rs(99, 95)})
	if err != nil || rep.Kind != domain.ReportModified || rep.BrokerOrderID != placed.BrokerOrderID || rep.ClientOrderID != cid(1) {
		t.Fatalf("Modify = %+v, %v; want MODIFIED of %s", rep, err, placed.BrokerOrderID)
	}
	forms := k.formsOf("PUT /orders/regular/" + placed.BrokerOrderID)
	if len(forms) != 1 {
		t.Fatalf("modify requests %q", k.requestsSeen())
	}
	f := forms[0]
	if f.Get("quantity") != "150" || f.Get("price") != "99.95" || f.Has("trigger_price") || f.Has("order_type") {
		t.Errorf("modify form %v; want quantity 150 and price 99.95 only", f)
	}

	rep, err = b.Modify(ctx, cid(1), domain.OrderChange{Type: domain.Market})
	if err != nil || rep.Kind != domain.ReportModified {
		t.Fatalf("Modify to MARKET = %+v, %v", rep, err)
	}
	if f := k.formsOf("PUT /orders/regular/" + placed.BrokerOrderID)[1]; f.Get("order_type") != "MARKET" || f.Get("market_protection") != "-1" {
		t.Errorf("modify to MARKET form %v; want order_type MARKET, market_protection -1", f)
	}

	rep, err = b.Cancel(ctx, cid(1))
	if err != nil || rep.Kind != domain.ReportCancelled || rep.BrokerOrderID != placed.BrokerOrderID {
		t.Fatalf("Cancel = %+v, %v; want CANCELLED", rep, err)
	}
	bo, ok, err := b.Lookup(ctx, cid(1))
	if err != nil || !ok || bo.Status != domain.BrokerCancelled {
		t.Fatalf("Lookup after cancel = %+v, %v, %v", bo, ok, err)
	}
	for _, r := range k.requestsSeen()[:4] {
		if r == "GET /orders" {
			t.Errorf("requests %q: Place's order id should have been used without reading the book", k.requestsSeen())
		}
	}

	// Kite refuses to cancel a cancelled order: REJECTED with its message.
	rep, err = b.Cancel(ctx, cid(1))
	if err != nil || rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, "cannot be cancelled") {
		t.Fatalf("second Cancel = %+v, %v; want REJECTED", rep, err)
	}
	rep, err = b.Modify(ctx, cid(1), domain.OrderChange{Price: rs(98, 0)})
	if err != nil || rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, "cannot be modified") {
		t.Fatalf("Modify of a cancelled order = %+v, %v; want REJECTED", rep, err)
	}
}

func TestModifyAndCancelFindTheOrderInTheBook(t *testing.T) {
	k := newKite(t)
	id := k.add(&kOrder{Status: "OPEN", Tag: cid(7), Type: "LIMIT", Price: "100", Qty: 75})
	b := k.broker(t) // a new broker: it did not place the order

	rep, err := b.Modify(ctx, cid(7), domain.OrderChange{TriggerPrice: rs(99, 0), Type: domain.StopLimit})
	if err != nil || rep.Kind != domain.ReportModified || rep.BrokerOrderID != id {
		t.Fatalf("Modify = %+v, %v; want MODIFIED of %s", rep, err, id)
	}
	if f := k.formsOf("PUT /orders/regular/" + id)[0]; f.Get("trigger_price") != "99.00" || f.Get("order_type") != "SL" || f.Has("market_protection") {
		t.Errorf("modify form %v", f)
	}
	rep, err = b.Cancel(ctx, cid(7))
	if err != nil || rep.Kind != domain.ReportCancelled || rep.BrokerOrderID != id {
		t.Fatalf("Cancel = %+v, %v; want CANCELLED of %s", rep, err, id)
	}
	if got := k.requestsSeen(); strings.Count(strings.Join(got, ","), "GET /orders") != 1 {
		t.Errorf("requests %q: want the book read once", got)
	}

	for name, call := range map[string]func() (domain.ExecutionReport, error){
		"modify": func() (domain.ExecutionReport, error) {
			return b.Modify(ctx, cid(8), domain.OrderChange{Price: rs(1, 0)})
		},
		"cancel": func() (domain.ExecutionReport, error) { return b.Cancel(ctx, cid(8)) },
		"empty":  func() (domain.ExecutionReport, error) { return b.Modify(ctx, cid(7), domain.OrderChange{}) },
	} {
		rep, err := call()
		if err != nil || rep.Kind != domain.ReportRejected || rep.Reason == "" {
			t.Errorf("%s: %+v, %v; want REJECTED", name, rep, err)
		}
	}
}

func TestModifyNotSentWhenTheBookCannotBeRead(t *testing.T) {
	k := newKite(t)
	cfg := k.config(t)
	b := zerodha.New(cfg)
	k.srv.Close()
	_, err := b.Modify(ctx, cid(1), domain.OrderChange{Price: rs(1, 0)})
	if !errors.Is(err, domain.ErrOrderNotSent) {
		t.Errorf("Modify: %v; want ErrOrderNotSent", err)
	}
	_, err = b.Cancel(ctx, cid(1))
	if !errors.Is(err, domain.ErrOrderNotSent) {
		t.Errorf("Cancel: %v; want ErrOrderNotSent", err)
	}
}

func TestLookup(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	k.add(&kOrder{Status: "REJECTED", Message: "RMS: margin exceeds", Tag: cid(2), Side: "SELL", Qty: 75})
	id := k.add(&kOrder{Status: "OPEN", Tag: cid(1), Exchange: "NFO", Symbol: symbol, Side: "SELL", Type: "SL",
		Product: "MIS", Price: "99.5", Trigger: "100", AvgRaw: "99.8333", Qty: 150, Filled: 75})

	bo, ok, err := b.Lookup(ctx, cid(1))
	if err != nil || !ok {
		t.Fatalf("Lookup = %v, %v", ok, err)
	}
	want := domain.BrokerOrder{BrokerOrderID: id, ClientOrderID: cid(1), Account: account, Exchange: "NFO", Symbol: symbol,
		Side: domain.Sell, Type: domain.StopLimit, Product: domain.MIS, Quantity: 150, FilledQty: 75, Price: rs(99, 50),
		TriggerPrice: rs(100, 0), AvgPrice: rs(99, 83), Status: domain.BrokerOpen, UpdatedAt: at(9, 30, 2)}
	if bo != want {
		t.Errorf("Lookup:\n got %+v\nwant %+v", bo, want)
	}

	bo, ok, err = b.Lookup(ctx, cid(2))
	if err != nil || !ok || bo.Status != domain.BrokerRejected || bo.Reason != "RMS: margin exceeds" || bo.BrokerOrderID == "" {
		t.Errorf("Lookup of a rejected order = %+v, %v, %v", bo, ok, err)
	}

	if _, ok, err := b.Lookup(ctx, cid(3)); ok || err != nil {
		t.Errorf("Lookup of an unknown id = %v, %v; want not found", ok, err)
	}

	// The same tag twice (an order sent twice): the latest placed.
	later := k.add(&kOrder{Status: "OPEN", Tag: cid(1), Qty: 150})
	if bo, _, _ := b.Lookup(ctx, cid(1)); bo.BrokerOrderID != later {
		t.Errorf("Lookup of a duplicated tag = %s, want the latest %s", bo.BrokerOrderID, later)
	}

	k.srv.Close()
	if _, _, err := b.Lookup(ctx, cid(1)); err == nil {
		t.Error("Lookup with Kite down: no error")
	}
}

func TestOrders(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	a := k.add(&kOrder{Status: "COMPLETE", Tag: cid(1), Qty: 75, Filled: 75, AvgRaw: "100.05"})
	m := k.add(&kOrder{Status: "TRIGGER PENDING", Type: "SL-M", Trigger: "95", Qty: 50}) // placed on Kite web: no tag
	p := k.add(&kOrder{Status: "VALIDATION PENDING", Tag: cid(2), Qty: 75})
	got, err := b.Orders(ctx)
	if err != nil {
		t.Fatalf("Orders: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("Orders = %+v; want 3", got)
	}
	type view struct {
		id, client string
		status     domain.BrokerOrderStatus
		filled     int64
		avg        domain.Price
		final      bool
	}
	want := []view{{a, cid(1), domain.BrokerComplete, 75, rs(100, 5), true}, {m, "", domain.BrokerTriggerPending, 0, 0, false},
		{p, cid(2), "VALIDATION PENDING", 0, 0, false}}
	for i, o := range got {
		v := view{o.BrokerOrderID, o.ClientOrderID, o.Status, o.FilledQty, o.AvgPrice, o.Status.Final()}
		if v != want[i] || o.Account != account {
			t.Errorf("order %d = %+v; want %+v", i, o, want[i])
		}
	}
}

func TestPositionsSigned(t *testing.T) {
	k := newKite(t)
	k.set(func(k *fakeKite) {
		k.positions = `{"net":[
			{"tradingsymbol":"NIFTY26NOV24500CE","exchange":"NFO","instrument_token":1,"product":"NRML","quantity":75,"overnight_quantity":0,"multiplier":1,"average_price":100.05,"close_price":0,"last_price":101,"value":-7503.75,"pnl":71.25,"m2m":71.25,"unrealised":71.25,"realised":0,"buy_quantity":75,"buy_price":100.05,"buy_value":7503.75,"sell_quantity":0,"sell_price":0,"sell_value":0},
			{"tradingsymbol":"BANKNIFTY26NOVFUT","exchange":"NFO","instrument_token":2,"product":"MIS","quantity":-60,"average_price":51234.1234,"buy_quantity":0,"sell_quantity":60},
			{"tradingsymbol":"INFY","exchange":"NSE","instrument_token":3,"product":"CNC","quantity":0,"average_price":0,"buy_quantity":5,"sell_quantity":5}
		],"day":[
			{"tradingsymbol":"NIFTY26NOV24500CE","exchange":"NFO","instrument_token":1,"product":"NRML","quantity":999,"average_price":1}
		]}`
	})
	got, err := k.broker(t).Positions(ctx)
	if err != nil {
		t.Fatalf("Positions: %v", err)
	}
	want := []domain.BrokerPosition{
		{Account: account, Exchange: "NFO", Symbol: symbol, Product: domain.NRML, Quantity: 75, AvgPrice: rs(100, 5)},
		{Account: account, Exchange: "NFO", Symbol: "BANKNIFTY26NOVFUT", Product: domain.MIS, Quantity: -60, AvgPrice: rs(51234, 12)},
	}
	if len(got) != len(want) {
		t.Fatalf("Positions = %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("position %d = %+v; want %+v", i, got[i], want[i])
		}
	}
}

func TestHoldings(t *testing.T) {
	k := newKite(t)
	k.set(func(k *fakeKite) {
		k.holdings = `[
			{"tradingsymbol":"APOLLOPIPE","exchange":"NSE","instrument_token":3676417,"isin":"INE126J01016","product":"CNC","price":0,"quantity":3,"used_quantity":0,"t1_quantity":2,"realised_quantity":3,"authorised_quantity":0,"authorised_date":"2021-12-28 00:00:00","opening_quantity":3,"collateral_quantity":0,"collateral_type":"","discrepancy":false,"average_price":582.666667,"last_price":539.8,"close_price":539.65,"pnl":-128.6,"day_change":0.15,"day_change_percentage":0.027},
			{"tradingsymbol":"IDEA","exchange":"NSE","instrument_token":3677697,"product":"CNC","quantity":0,"t1_quantity":0,"average_price":8.466},
			{"tradingsymbol":"GOLDBEES","exchange":"BSE","instrument_token":151064324,"product":"CNC","quantity":0,"t1_quantity":10,"average_price":40.67}
		]`
	})
	got, err := k.broker(t).Holdings(ctx)
	if err != nil {
		t.Fatalf("Holdings: %v", err)
	}
	want := []domain.BrokerHolding{
		{Account: account, Exchange: "NSE", Symbol: "APOLLOPIPE", Quantity: 5, AvgPrice: rs(582, 67)},
		{Account: account, Exchange: "BSE", Symbol: "GOLDBEES", Quantity: 10, AvgPrice: rs(40, 67)},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Holdings:\n got %+v\nwant %+v", got, want)
	}
}

func TestSession(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	if err := b.Session(ctx); err != nil {
		t.Fatalf("Session with a valid token: %v", err)
	}

	k.set(func(k *fakeKite) { k.token = "tomorrow" }) // today's token expired
	err := b.Session(ctx)
	var ae *zerodha.APIError
	if !errors.Is(err, zerodha.ErrNoSession) || !errors.As(err, &ae) || ae.Status != 403 || ae.ErrorType != zerodha.TokenException {
		t.Fatalf("Session with an expired token: %v; want a 403 TokenException wrapping ErrNoSession", err)
	}
	b.SetAccessToken("tomorrow")
	if err := b.Session(ctx); err != nil {
		t.Fatalf("Session after SetAccessToken: %v", err)
	}

	cfg := k.config(t)
	cfg.AccessToken = ""
	if err := zerodha.New(cfg).Session(ctx); !errors.Is(err, zerodha.ErrNoSession) {
		t.Errorf("Session without a token: %v; want ErrNoSession", err)
	}

	k.srv.Close()
	if err := b.Session(ctx); err == nil || errors.Is(err, zerodha.ErrNoSession) {
		t.Errorf("Session with Kite unreachable: %v; want an error that is not ErrNoSession", err)
	}
}

func TestNameAndDefaults(t *testing.T) {
	b := zerodha.New(zerodha.Config{Account: account})
	if b.Name() != "zerodha" || b.Account() != account {
		t.Errorf("Name %q, Account %q", b.Name(), b.Account())
	}
	// No token: nothing is sent anywhere, the default base URL included.
	if _, err := b.Orders(ctx); !errors.Is(err, zerodha.ErrNoSession) {
		t.Errorf("Orders without a token: %v", err)
	}
}
