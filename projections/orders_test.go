package projections_test

import (
	"testing"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

func intent(id, account string, qty int64) domain.OrderIntentRecorded {
	return domain.OrderIntentRecorded{OrderID: id, ClientOrderID: "c-" + id, Account: account, Mode: domain.Paper, Strategy: "orb",
		Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: qty, Type: domain.Market, Product: domain.MIS}
}

func TestOrderBook(t *testing.T) {
	rs := domain.Rupees
	b := newLog(t)
	s := domain.OrderStream
	// o1: submitted, accepted, filled in two parts.
	b.add(s("o1"), intent("o1", "paper-1", 130))
	b.add(s("o1"), domain.OrderSubmitted{OrderID: "o1", ClientOrderID: "c-o1", Broker: "paper"})
	b.add(s("o1"), domain.OrderAccepted{OrderID: "o1", BrokerOrderID: "B1"})
	b.add(s("o1"), domain.OrderFilled{OrderID: "o1", TradeID: "t1", Quantity: 65, Price: rs(100), FilledQty: 65, Charges: rs(20)})
	// o2: the broker call timed out.
	b.add(s("o2"), intent("o2", "paper-2", 65))
	b.add(s("o2"), domain.OrderSubmitted{OrderID: "o2", ClientOrderID: "c-o2", Broker: "paper"})
	b.add(s("o2"), domain.SubmitOutcomeUnknown{OrderID: "o2", ClientOrderID: "c-o2", Error: "timeout"})
	b.add(s("o1"), domain.OrderFilled{OrderID: "o1", TradeID: "t2", Quantity: 65, Price: domain.Price(10001), FilledQty: 130})
	// o3: rejected. o4: partly filled, then cancelled.
	b.add(s("o3"), intent("o3", "paper-1", 65))
	b.add(s("o3"), domain.OrderRejected{OrderID: "o3", Reason: "insufficient margin"})
	b.add(s("o4"), intent("o4", "paper-1", 130))
	b.add(s("o4"), domain.OrderAccepted{OrderID: "o4", BrokerOrderID: "B4"})
	b.add(s("o4"), domain.OrderFilled{OrderID: "o4", TradeID: "t3", Quantity: 65, Price: rs(99), FilledQty: 65})
	b.add(s("o4"), domain.OrderCancelled{OrderID: "o4", Reason: "user"})
	b.add(s("ghost"), domain.OrderCancelled{OrderID: "ghost", Reason: "user"})

	o := projections.NewOrders(reg)
	o.Apply(b.evs, b.evs[len(b.evs)-1].Position)

	want := map[string]struct {
		status string
		filled int64
		avg    domain.Price
	}{
		"o1": {projections.StatusFilled, 130, 10001}, // (65×10000 + 65×10001) / 130 = 10000.5 -> 10001, half away from zero
		"o2": {projections.StatusUnknown, 0, 0},
		"o3": {projections.StatusRejected, 0, 0},
		"o4": {projections.StatusCancelled, 65, rs(99)},
	}
	for id, w := range want {
		ord, _, ok := o.Order(id, nil)
		if !ok || ord.Status != w.status || ord.FilledQty != w.filled || ord.AvgFillPrice != w.avg {
			t.Errorf("%s: %v %s filled %d avg %v, want %+v", id, ok, ord.Status, ord.FilledQty, ord.AvgFillPrice, w)
		}
	}
	o1, _, _ := o.Order("o1", nil)
	if len(o1.History) != 5 || o1.History[2].Detail != "B1" || o1.BrokerOrderID != "B1" {
		t.Errorf("o1 history: %+v", o1)
	}
	// Charges: t1's are the broker's; t2 reports none, so the schedule
	// prices it on the order's cumulative turnover (brokerage once per
	// order), as positions do.
	sched := domain.DefaultChargeSchedule()
	orderCharges := func(value domain.Price) domain.Price {
		c, err := sched.For(domain.SegmentFuture, domain.Buy, 1, value)
		if err != nil {
			t.Fatal(err)
		}
		return c.Total
	}
	t2 := orderCharges(65*rs(100)+65*10001) - orderCharges(65*rs(100))
	if t2 <= 0 || o1.Charges != rs(20)+t2 {
		t.Errorf("o1 charges %v, want 20.00 + %v", o1.Charges, t2)
	}
	o4, _, _ := o.Order("o4", nil)
	if o4.Charges != orderCharges(65*rs(99)) {
		t.Errorf("o4 charges %v, want the schedule's %v", o4.Charges, orderCharges(65*rs(99)))
	}
	all, _ := o.Trades(projections.OrderQuery{})
	var sum domain.Price
	for _, tr := range all {
		if tr.OrderID == "o1" {
			sum += tr.Charges
		}
	}
	if sum != o1.Charges {
		t.Errorf("o1's trades carry %v of charges, the order %v", sum, o1.Charges)
	}
	if _, _, ok := o.Order("o1", []string{"paper-2"}); ok {
		t.Error("paper-2 can read paper-1's order")
	}

	list, pos := o.List(projections.OrderQuery{Accounts: []string{"paper-1"}})
	if pos != b.evs[len(b.evs)-1].Position || len(list) != 3 || list[0].OrderID != "o1" || list[2].OrderID != "o4" || list[0].History != nil {
		t.Fatalf("paper-1 orders: %+v", list)
	}
	page, _ := o.List(projections.OrderQuery{After: list[0].CreatedPosition, Limit: 1})
	if len(page) != 1 || page[0].OrderID != "o2" {
		t.Fatalf("second page: %+v", page)
	}
	if open, _ := o.List(projections.OrderQuery{Status: projections.StatusUnknown}); len(open) != 1 || open[0].OrderID != "o2" {
		t.Fatalf("status filter: %+v", open)
	}

	trades, _ := o.Trades(projections.OrderQuery{})
	if len(trades) != 3 || trades[0].TradeID != "t1" || trades[2].TradeID != "t3" || trades[1].Side != domain.Buy || trades[1].Account != "paper-1" {
		t.Fatalf("trades: %+v", trades)
	}
	next, _ := o.Trades(projections.OrderQuery{After: trades[0].Position, Limit: 1})
	if len(next) != 1 || next[0].TradeID != "t2" {
		t.Fatalf("trades after %d: %+v", trades[0].Position, next)
	}
	if none, _ := o.Trades(projections.OrderQuery{Accounts: []string{"paper-2"}}); len(none) != 0 {
		t.Fatalf("paper-2 trades: %+v", none)
	}
	st, _, _ := o.MarshalState()
	o2 := projections.NewOrders(reg)
	if err := o2.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	h1, _ := projections.Hash(o)
	h2, _ := projections.Hash(o2)
	if h1 != h2 {
		t.Fatal("state round trip changed the hash")
	}
}
