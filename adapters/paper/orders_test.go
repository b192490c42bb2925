package paper_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
)

// liquid is a tick with room on both sides around 100.00.
func liquid(sec int) quote {
	return quote{at: at(10, 0, sec, 0), bid: rs(99, 95), bidQty: 10000, ask: rs(100, 0), askQty: 10000}
}

func TestPlaceValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		edit   func(*domain.OrderIntentRecorded)
		now    func(*fixture)
		reason string
		kept   bool // Lookup finds the rejected order
	}{
		{name: "zero quantity", edit: func(in *domain.OrderIntentRecorded) { in.Quantity = 0 }, reason: "quantity"},
		{name: "unknown type", edit: func(in *domain.OrderIntentRecorded) { in.Type = "IOC" }, reason: "type"},
		{name: "limit without price", edit: func(in *domain.OrderIntentRecorded) { in.Type = domain.Limit }, reason: "price"},
		{name: "not whole lots", edit: func(in *domain.OrderIntentRecorded) { in.LotSize = 75; in.Quantity = 100 }, reason: "lots"},
		{name: "other account", edit: func(in *domain.OrderIntentRecorded) { in.Account = "other" }, reason: "account"},
		{name: "live mode", edit: func(in *domain.OrderIntentRecorded) { in.Mode = domain.Live }, reason: "paper orders only"},
		{name: "limit price off the tick", kept: true, reason: "tick size",
			edit: func(in *domain.OrderIntentRecorded) { in.Type, in.Price = domain.Limit, rs(100, 3) }},
		{name: "trigger off the tick", kept: true, reason: "tick size",
			edit: func(in *domain.OrderIntentRecorded) { in.Type, in.TriggerPrice = domain.StopMkt, rs(100, 1) }},
		{name: "SL buy with limit below trigger", kept: true, reason: "below the trigger",
			edit: func(in *domain.OrderIntentRecorded) {
				in.Type, in.Price, in.TriggerPrice = domain.StopLimit, rs(99, 0), rs(100, 0)
			}},
		{name: "SL sell with limit above trigger", kept: true, reason: "above the trigger",
			edit: func(in *domain.OrderIntentRecorded) {
				in.Side, in.Type, in.Price, in.TriggerPrice = domain.Sell, domain.StopLimit, rs(101, 0), rs(100, 0)
			}},
		{name: "index", kept: true, reason: "index",
			edit: func(in *domain.OrderIntentRecorded) { in.Exchange, in.Symbol = domain.ExchangeNSE, "NIFTY 50" }},
		{name: "CNC sell without holding", kept: true, reason: "CNC sell",
			edit: func(in *domain.OrderIntentRecorded) {
				in.Exchange, in.Symbol, in.Side, in.Product = domain.ExchangeNSE, "INFY", domain.Sell, domain.CNC
			}},
		{name: "reserved client order id", kept: true, reason: "reserved",
			edit: func(in *domain.OrderIntentRecorded) { in.ClientOrderID = "sq-mine" }},
		{name: "MIS after the square-off time", kept: true, reason: "square-off time",
			edit: func(in *domain.OrderIntentRecorded) { in.Product = domain.MIS },
			now:  func(f *fixture) { f.clk.Set(at(15, 20, 0, 0)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, noLatency)
			if c.now != nil {
				c.now(f)
			}
			in := order{id: "a", side: domain.Buy, qty: 75}.intent()
			c.edit(&in)
			rep, err := f.b.Place(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, c.reason) || rep.BrokerOrderID != "" {
				t.Fatalf("got %+v, want REJECTED mentioning %q", rep, c.reason)
			}
			o, ok, _ := f.b.Lookup(ctx, in.ClientOrderID)
			equal(t, "kept", ok, c.kept)
			if ok && (o.Status != domain.BrokerRejected || o.Reason != rep.Reason) {
				t.Errorf("Lookup: %+v", o)
			}
			// A rejected order never fills.
			equal(t, "fills", fillsOf(f.tick(liquid(1))), []fill(nil))
		})
	}
	t.Run("MIS before the square-off time is accepted", func(t *testing.T) {
		f := newFixture(t, noLatency)
		f.clk.Set(at(15, 19, 59, 999))
		if rep := f.place(order{id: "a", side: domain.Buy, qty: 75, product: domain.MIS}); rep.Kind != domain.ReportAccepted {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestDuplicateClientOrderID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, noLatency)
	a := order{id: "a", side: domain.Buy, qty: 150}
	first := f.place(a)
	again := f.place(a)
	if first.Kind != domain.ReportAccepted || again.Kind != domain.ReportAccepted || again.BrokerOrderID != first.BrokerOrderID {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	equal(t, "fills", fillsOf(f.tick(liquid(1))), []fill{{"a", 150, rs(100, 0), 150}})
	done := f.place(a)
	if done.Kind != domain.ReportAccepted || done.FilledQty != 150 || !strings.Contains(done.Reason, "COMPLETE") {
		t.Errorf("duplicate of a filled order: %+v", done)
	}
	bad := order{id: "b", side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(100, 1)}
	r1, r2 := f.place(bad), f.place(bad)
	if r1.Kind != domain.ReportRejected || r2.Kind != domain.ReportRejected || r1.Reason != r2.Reason {
		t.Errorf("duplicate of a rejected order: %+v then %+v", r1, r2)
	}
	orders, _ := f.b.Orders(ctx)
	equal(t, "orders", len(orders), 2)
	equal(t, "fills after more ticks", fillsOf(f.tick(liquid(2))), []fill(nil))
	equal(t, "position", f.positions(), []domain.BrokerPosition{{Account: account, Exchange: "NFO", Symbol: fut,
		Product: domain.NRML, Quantity: 150, AvgPrice: rs(100, 0)}})
}

func TestModifyAndCancel(t *testing.T) {
	t.Parallel()
	limit := order{id: "a", side: domain.Buy, typ: domain.Limit, qty: 150, price: rs(99, 0)}
	cases := []struct {
		name  string
		setup func(f *fixture) // after placing limit and a tick that does not cross it
		check func(t *testing.T, f *fixture)
	}{
		{name: "modify price so it crosses, then it fills", check: func(t *testing.T, f *fixture) {
			rep, err := f.b.Modify(ctx, "a", domain.OrderChange{Price: rs(100, 0)})
			if err != nil || rep.Kind != domain.ReportModified || rep.BrokerOrderID == "" {
				t.Fatalf("%+v %v", rep, err)
			}
			equal(t, "price", f.lookup("a").Price, rs(100, 0))
			equal(t, "fills", fillsOf(f.tick(liquid(2))), []fill{{"a", 150, rs(100, 0), 150}})
		}},
		{name: "modify quantity of a partly filled order", check: func(t *testing.T, f *fixture) {
			f.b.Modify(ctx, "a", domain.OrderChange{Price: rs(100, 0)})
			q := liquid(2)
			q.askQty = 50
			equal(t, "partial", fillsOf(f.tick(q)), []fill{{"a", 50, rs(100, 0), 50}})
			rep, _ := f.b.Modify(ctx, "a", domain.OrderChange{Quantity: 50})
			if rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, "already filled") {
				t.Errorf("quantity down to the filled: %+v", rep)
			}
			rep, _ = f.b.Modify(ctx, "a", domain.OrderChange{Quantity: 75})
			equal(t, "kind", rep.Kind, domain.ReportModified)
			equal(t, "fills", fillsOf(f.tick(liquid(3))), []fill{{"a", 25, rs(100, 0), 75}})
			equal(t, "status", f.lookup("a").Status, domain.BrokerComplete)
		}},
		{name: "modify to an off-tick price is rejected and changes nothing", check: func(t *testing.T, f *fixture) {
			rep, _ := f.b.Modify(ctx, "a", domain.OrderChange{Price: rs(100, 2)})
			if rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, "tick size") {
				t.Errorf("%+v", rep)
			}
			equal(t, "price", f.lookup("a").Price, rs(99, 0))
		}},
		{name: "modify to SL-M waits for the trigger", check: func(t *testing.T, f *fixture) {
			rep, _ := f.b.Modify(ctx, "a", domain.OrderChange{Type: domain.StopMkt, TriggerPrice: rs(101, 0)})
			equal(t, "kind", rep.Kind, domain.ReportModified)
			o := f.lookup("a")
			if o.Status != domain.BrokerTriggerPending || o.Price != 0 || o.TriggerPrice != rs(101, 0) {
				t.Errorf("%+v", o)
			}
			equal(t, "no fill below the trigger", fillsOf(f.tick(liquid(2))), []fill(nil))
			q := liquid(3)
			q.ltp, q.bid, q.ask = rs(101, 0), rs(101, 0), rs(101, 5)
			equal(t, "fill", fillsOf(f.tick(q)), []fill{{"a", 150, rs(101, 5), 150}})
		}},
		{name: "modify a triggered SL keeps it triggered", check: func(t *testing.T, f *fixture) {
			f.place(order{id: "s", side: domain.Sell, typ: domain.StopLimit, qty: 75, trigger: rs(99, 0), price: rs(98, 50)})
			q := liquid(2)
			q.ltp, q.bid, q.ask = rs(99, 0), rs(98, 0), rs(99, 5) // triggers, below the limit
			equal(t, "no fill", fillsOf(f.tick(q)), []fill(nil))
			equal(t, "triggered", f.lookup("s").Status, domain.BrokerOpen)
			rep, _ := f.b.Modify(ctx, "s", domain.OrderChange{Type: domain.StopLimit, Price: rs(98, 0)})
			equal(t, "kind", rep.Kind, domain.ReportModified)
			equal(t, "still triggered", f.lookup("s").Status, domain.BrokerOpen)
			q = liquid(3)
			q.ltp, q.bid, q.ask = rs(99, 50), rs(98, 0), rs(99, 5) // LTP above the trigger again
			equal(t, "fills at the new limit", fillsOf(f.tick(q)), []fill{{"s", 75, rs(98, 0), 75}})
		}},
		{name: "cancel an open order", check: func(t *testing.T, f *fixture) {
			rep, err := f.b.Cancel(ctx, "a")
			if err != nil || rep.Kind != domain.ReportCancelled || rep.Reason == "" || rep.FilledQty != 0 {
				t.Fatalf("%+v %v", rep, err)
			}
			equal(t, "status", f.lookup("a").Status, domain.BrokerCancelled)
			q := liquid(2)
			q.bid, q.ask = rs(97, 95), rs(98, 0)
			equal(t, "no fill after cancel", fillsOf(f.tick(q)), []fill(nil))
			rep, _ = f.b.Cancel(ctx, "a")
			if rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, "CANCELLED") {
				t.Errorf("cancel twice: %+v", rep)
			}
			rep, _ = f.b.Modify(ctx, "a", domain.OrderChange{Price: rs(100, 0)})
			equal(t, "modify cancelled", rep.Kind, domain.ReportRejected)
		}},
		{name: "cancel the remainder of a partly filled order", check: func(t *testing.T, f *fixture) {
			q := liquid(2)
			q.bid, q.ask, q.askQty = rs(98, 95), rs(99, 0), 100
			equal(t, "partial", fillsOf(f.tick(q)), []fill{{"a", 100, rs(99, 0), 100}})
			rep, _ := f.b.Cancel(ctx, "a")
			if rep.Kind != domain.ReportCancelled || rep.FilledQty != 100 {
				t.Errorf("%+v", rep)
			}
			o := f.lookup("a")
			if o.Status != domain.BrokerCancelled || o.FilledQty != 100 || o.AvgPrice != rs(99, 0) {
				t.Errorf("%+v", o)
			}
			equal(t, "position", f.positions()[0].Quantity, int64(100))
		}},
		{name: "cancel a filled order is rejected", check: func(t *testing.T, f *fixture) {
			q := liquid(2)
			q.bid, q.ask = rs(98, 95), rs(99, 0)
			f.tick(q)
			rep, err := f.b.Cancel(ctx, "a")
			if err != nil || rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, "COMPLETE") || rep.FilledQty != 150 {
				t.Errorf("%+v %v", rep, err)
			}
		}},
		{name: "unknown order", check: func(t *testing.T, f *fixture) {
			rep, err := f.b.Cancel(ctx, "nope")
			if err != nil || rep.Kind != domain.ReportRejected || !strings.Contains(rep.Reason, "no order") {
				t.Errorf("cancel: %+v %v", rep, err)
			}
			rep, err = f.b.Modify(ctx, "nope", domain.OrderChange{Quantity: 1})
			if err != nil || rep.Kind != domain.ReportRejected {
				t.Errorf("modify: %+v %v", rep, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, noLatency)
			f.place(limit)
			equal(t, "no fill", fillsOf(f.tick(liquid(1))), []fill(nil))
			c.check(t, f)
		})
	}
}

func TestPositions(t *testing.T) {
	t.Parallel()
	type trade struct {
		side  domain.Side
		qty   int64
		price domain.Price
	}
	cases := []struct {
		name    string
		product domain.Product
		trades  []trade
		qty     int64
		avg     domain.Price
	}{
		{"add", domain.NRML, []trade{{domain.Buy, 50, rs(100, 0)}, {domain.Buy, 50, rs(101, 0)}}, 100, rs(100, 50)},
		{"partial close keeps the average", domain.NRML,
			[]trade{{domain.Buy, 50, rs(100, 0)}, {domain.Buy, 50, rs(101, 0)}, {domain.Sell, 30, rs(105, 0)}}, 70, rs(100, 50)},
		{"flip opens the rest at the fill price", domain.NRML,
			[]trade{{domain.Buy, 50, rs(100, 0)}, {domain.Buy, 50, rs(101, 0)}, {domain.Sell, 130, rs(102, 0)}}, -30, rs(102, 0)},
		{"close to flat", domain.NRML,
			[]trade{{domain.Sell, 75, rs(100, 5)}, {domain.Buy, 25, rs(99, 0)}, {domain.Buy, 50, rs(98, 0)}}, 0, 0},
		{"short add", domain.MIS, []trade{{domain.Sell, 1, rs(100, 0)}, {domain.Sell, 2, rs(100, 5)}}, -3, rs(100, 3)},
		// 3 @ 100.00 + 1 @ 100.05: basis 400.05, avg 100.0125 → 100.01; selling 1
		// releases 400.05/4 → 100.01, leaving 300.04 for 3: 100.0133 → 100.01.
		{"partial close rounds once, in paise", domain.NRML,
			[]trade{{domain.Buy, 3, rs(100, 0)}, {domain.Buy, 1, rs(100, 5)}, {domain.Sell, 1, rs(200, 0)}}, 3, rs(100, 1)},
		// 200.01 for 2: selling 1 releases 100.005 → 100.01 (half away from
		// zero), leaving 100.00.
		{"half a paisa released rounds away from zero", domain.NRML,
			[]trade{{domain.Buy, 1, rs(100, 0)}, {domain.Buy, 1, rs(100, 1)}, {domain.Sell, 1, rs(105, 0)}}, 1, rs(100, 0)},
		{"CNC is a position too", domain.CNC,
			[]trade{{domain.Buy, 10, rs(1500, 0)}, {domain.Sell, 4, rs(1510, 0)}}, 6, rs(1500, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, noLatency)
			symbol, exchange := fut, domain.ExchangeNFO
			if c.product == domain.CNC {
				symbol, exchange = "INFY", domain.ExchangeNSE
			}
			for i, tr := range c.trades {
				in := order{id: "t" + string(rune('0'+i)), symbol: symbol, side: tr.side, qty: tr.qty, product: c.product}.intent()
				in.Exchange = exchange
				if rep, _ := f.b.Place(ctx, in); rep.Kind != domain.ReportAccepted {
					t.Fatalf("trade %d: %+v", i, rep)
				}
				got := f.tick(quote{symbol: symbol, exchange: exchange, at: at(10, 0, i+1, 0),
					bid: tr.price, bidQty: 1000, ask: tr.price, askQty: 1000})
				if len(fillsOf(got)) != 1 {
					t.Fatalf("trade %d: %v", i, kinds(got))
				}
			}
			var want []domain.BrokerPosition = []domain.BrokerPosition{}
			if c.qty != 0 {
				want = []domain.BrokerPosition{{Account: account, Exchange: exchange, Symbol: symbol, Product: c.product,
					Quantity: c.qty, AvgPrice: c.avg}}
			}
			equal(t, "positions", f.positions(), want)
			hs, _ := f.b.Holdings(ctx)
			wantH := []domain.BrokerHolding{}
			if c.product == domain.CNC {
				wantH = []domain.BrokerHolding{{Account: account, Exchange: exchange, Symbol: symbol, Quantity: c.qty, AvgPrice: c.avg}}
			}
			equal(t, "holdings", hs, wantH)
		})
	}
}

func TestFaultsAndLookup(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode     paper.FaultMode
		timeout  bool // ErrTimeout, not ErrOrderNotSent
		exists   bool // Lookup finds the order after the failed Place
		retryNew bool // placing again creates the order (not a duplicate)
	}{
		{paper.FaultTimeoutAfterAccept, true, true, false},
		{paper.FaultTimeoutBeforeAccept, true, false, true},
		{paper.FaultNotSent, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, noLatency)
			f.b.FailNextPlace(c.mode)
			a := order{id: "a", side: domain.Buy, qty: 75}
			rep, err := f.b.Place(ctx, a.intent())
			if err == nil {
				t.Fatalf("no error: %+v", rep)
			}
			equal(t, "ErrTimeout", errors.Is(err, paper.ErrTimeout), c.timeout)
			equal(t, "ErrOrderNotSent", errors.Is(err, domain.ErrOrderNotSent), !c.timeout)
			o, ok, lerr := f.b.Lookup(ctx, "a")
			if lerr != nil {
				t.Fatal(lerr)
			}
			equal(t, "Lookup finds it", ok, c.exists)
			if ok && (o.Status != domain.BrokerOpen || o.BrokerOrderID != "P1" || o.Quantity != 75) {
				t.Errorf("Lookup: %+v", o)
			}
			// The fault is used up: the order's truth shows in fills and in
			// a retry with the same client order id.
			wantFills := []fill(nil)
			if c.exists {
				wantFills = []fill{{"a", 75, rs(100, 0), 75}}
			}
			equal(t, "fills", fillsOf(f.tick(liquid(1))), wantFills)
			retry := f.place(a)
			equal(t, "retry kind", retry.Kind, domain.ReportAccepted)
			equal(t, "retry is a new order", !strings.Contains(retry.Reason, "duplicate"), c.retryNew)
			equal(t, "retry broker id", retry.BrokerOrderID, "P1")
			orders, _ := f.b.Orders(ctx)
			equal(t, "one order", len(orders), 1)
		})
	}
	t.Run("cancel and modify faults", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, noLatency)
		f.place(order{id: "a", side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(90, 0)})
		f.b.FailNextModify(paper.FaultTimeoutBeforeAccept)
		if _, err := f.b.Modify(ctx, "a", domain.OrderChange{Price: rs(91, 0)}); !errors.Is(err, paper.ErrTimeout) {
			t.Fatalf("modify: %v", err)
		}
		equal(t, "price unchanged", f.lookup("a").Price, rs(90, 0))
		f.b.FailNextModify(paper.FaultTimeoutAfterAccept)
		if _, err := f.b.Modify(ctx, "a", domain.OrderChange{Price: rs(91, 0)}); !errors.Is(err, paper.ErrTimeout) {
			t.Fatalf("modify: %v", err)
		}
		equal(t, "price changed", f.lookup("a").Price, rs(91, 0))
		f.b.FailNextCancel(paper.FaultNotSent)
		if _, err := f.b.Cancel(ctx, "a"); !errors.Is(err, domain.ErrOrderNotSent) {
			t.Fatalf("cancel: %v", err)
		}
		equal(t, "still open", f.lookup("a").Status, domain.BrokerOpen)
		f.b.FailNextCancel(paper.FaultTimeoutAfterAccept)
		if _, err := f.b.Cancel(ctx, "a"); !errors.Is(err, paper.ErrTimeout) {
			t.Fatalf("cancel: %v", err)
		}
		equal(t, "cancelled", f.lookup("a").Status, domain.BrokerCancelled)
	})
	t.Run("cancelled context is not sent", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, noLatency)
		c, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := f.b.Place(c, order{id: "a", side: domain.Buy, qty: 75}.intent()); !errors.Is(err, domain.ErrOrderNotSent) {
			t.Fatalf("Place: %v", err)
		}
		if _, ok, _ := f.b.Lookup(ctx, "a"); ok {
			t.Fatal("order exists")
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, paper.Config{Latency: paper.NoLatency})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := string(rune('a'+g)) + "-" + string(rune('0'+i%10)) + string(rune('0'+i/10))
				f.b.Place(ctx, order{id: id, side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(99, 0)}.intent())
				f.b.Lookup(ctx, id)
				if i%3 == 0 {
					f.b.Cancel(ctx, id)
				}
				f.b.Orders(ctx)
				f.b.Positions(ctx)
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			f.b.OnTick(quote{at: at(10, 0, 0, i), bid: rs(98, 0), bidQty: 75, ask: rs(99, 0), askQty: 75 * 3}.tick())
		}
	})
	wg.Wait()
	orders, _ := f.b.Orders(ctx)
	equal(t, "orders", len(orders), 400)
	var filled int64
	for _, o := range orders {
		filled += o.FilledQty
	}
	ps := f.positions()
	if filled > 0 && (len(ps) != 1 || ps[0].Quantity != filled) {
		t.Errorf("position %+v, filled %d", ps, filled)
	}
}
