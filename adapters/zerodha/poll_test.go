package zerodha_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/algoauto/algoauto/adapters/zerodha"
	"github.com/algoauto/algoauto/domain"
)

func TestPollReportsEachPartialFillOnce(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	id := mustPlace(t, b, intent(cid(1), domain.Limit)).BrokerOrderID
	c := cid(1)

	checkReports(t, mustPoll(t, b)) // accepted by Place: nothing new
	if got := k.requestsSeen(); slices.Contains(got, "GET /trades") {
		t.Errorf("requests %q: trades read with nothing filled", got)
	}

	k.fill(id, "T1", 25, "100.05")
	checkReports(t, mustPoll(t, b), "FILLED "+c+" "+id+" trade=T1 qty=25 px=100.05 cum=25")
	checkReports(t, mustPoll(t, b))

	k.fill(id, "T2", 20, "100")
	k.fill(id, "T3", 30, "99.95") // two trades between polls
	reps := mustPoll(t, b)
	checkReports(t, reps,
		"FILLED "+c+" "+id+" trade=T2 qty=20 px=100.00 cum=45",
		"FILLED "+c+" "+id+" trade=T3 qty=30 px=99.95 cum=75")
	if !reps[0].At.Equal(at(9, 30, 3)) {
		t.Errorf("fill At = %v, want the fill timestamp %v", reps[0].At, at(9, 30, 3))
	}
	// COMPLETE: no report beyond the fills, and nothing again.
	checkReports(t, mustPoll(t, b))
	checkReports(t, mustPoll(t, b))
}

func TestPollReportsCancelAndRejectOnce(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	a := mustPlace(t, b, intent(cid(1), domain.Limit)).BrokerOrderID
	r := mustPlace(t, b, intent(cid(2), domain.Limit)).BrokerOrderID
	p := mustPlace(t, b, intent(cid(3), domain.Limit)).BrokerOrderID

	k.fill(a, "T1", 25, "100.05")
	k.setStatus(a, "CANCELLED", "Order cancelled by the exchange: IOC")
	k.setStatus(r, "REJECTED", "RMS:Margin Exceeds, Required:95417.84, Available:1000.00")
	reps := mustPoll(t, b)
	checkReports(t, reps,
		"FILLED "+cid(1)+" "+a+" trade=T1 qty=25 px=100.05 cum=25",
		`CANCELLED `+cid(1)+` `+a+` reason="Order cancelled by the exchange: IOC"`,
		`REJECTED `+cid(2)+` `+r+` reason="RMS:Margin Exceeds, Required:95417.84, Available:1000.00"`)
	if reps[1].FilledQty != 25 || !reps[1].At.Equal(at(9, 30, 5)) {
		t.Errorf("cancel report %+v: want FilledQty 25 at %v", reps[1], at(9, 30, 5))
	}
	checkReports(t, mustPoll(t, b))

	// A cancellation the broker answered is not reported again.
	if rep, err := b.Cancel(ctx, cid(3)); err != nil || rep.Kind != domain.ReportCancelled {
		t.Fatalf("Cancel = %+v, %v", rep, err)
	}
	checkReports(t, mustPoll(t, b))
	_ = p
}

func TestPollHoldsTheEndUntilTheTradesShow(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	id := mustPlace(t, b, intent(cid(1), domain.Limit)).BrokerOrderID
	// The book says 50 filled and cancelled; /trades has not caught up.
	k.set(func(k *fakeKite) {
		o := k.find(id)
		o.Filled, o.Status, o.Message = 50, "CANCELLED", "cancelled by user"
	})
	checkReports(t, mustPoll(t, b))
	k.set(func(k *fakeKite) {
		k.trades = append(k.trades, kTrade{ID: "T1", OrderID: id, Price: "100.05", Qty: 50, At: at(9, 31, 0)})
	})
	checkReports(t, mustPoll(t, b),
		"FILLED "+cid(1)+" "+id+" trade=T1 qty=50 px=100.05 cum=50",
		`CANCELLED `+cid(1)+` `+id+` reason="cancelled by user"`)
	checkReports(t, mustPoll(t, b))
}

func TestPollAcceptsTaggedOrdersItDidNotPlace(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	// Placed before a restart (or by another app, with a tag), already
	// partly filled; one rejected by the RMS; one with no tag.
	x := k.add(&kOrder{Status: "OPEN", Tag: cid(1), Qty: 75})
	k.fill(x, "T1", 25, "100.05")
	y := k.add(&kOrder{Status: "REJECTED", Message: "Insufficient funds", Tag: cid(2), Qty: 75})
	z := k.add(&kOrder{Status: "OPEN", Qty: 75})
	k.fill(z, "T9", 75, "101")

	reps := mustPoll(t, b)
	checkReports(t, reps,
		"ACCEPTED "+cid(1)+" "+x,
		"FILLED "+cid(1)+" "+x+" trade=T1 qty=25 px=100.05 cum=25",
		`REJECTED `+cid(2)+` `+y+` reason="Insufficient funds"`)
	if !reps[0].At.Equal(at(9, 30, 1)) {
		t.Errorf("ACCEPTED At %v; want the order timestamp %v", reps[0].At, at(9, 30, 1))
	}
	checkReports(t, mustPoll(t, b))
}

func TestPollAfterRestartReportsOnlyWhatIsNotRecorded(t *testing.T) {
	k := newKite(t)
	before := k.broker(t)
	a := mustPlace(t, before, intent(cid(1), domain.Limit)).BrokerOrderID
	c := mustPlace(t, before, intent(cid(2), domain.Limit)).BrokerOrderID
	r := mustPlace(t, before, intent(cid(3), domain.Limit)).BrokerOrderID
	k.fill(a, "T1", 25, "100.05")
	k.setStatus(c, "CANCELLED", "cancelled by user")
	k.setStatus(r, "REJECTED", "RMS rejection")
	mustPoll(t, before) // recorded by the engine
	// While the engine is down: more fills of a.
	k.fill(a, "T2", 50, "100.10")

	after := k.broker(t)
	after.Seed(
		zerodha.Recorded{ClientOrderID: cid(1), BrokerOrderID: a, TradeIDs: []string{"T1"}},
		zerodha.Recorded{ClientOrderID: cid(2), BrokerOrderID: c, Closed: true},
		zerodha.Recorded{ClientOrderID: cid(3), Closed: true},
	)
	checkReports(t, mustPoll(t, after),
		"FILLED "+cid(1)+" "+a+" trade=T2 qty=50 px=100.10 cum=75")
	checkReports(t, mustPoll(t, after))

	// Without Seed the first Poll reports the day's whole history.
	fresh := k.broker(t)
	checkReports(t, mustPoll(t, fresh),
		"ACCEPTED "+cid(1)+" "+a,
		"FILLED "+cid(1)+" "+a+" trade=T1 qty=25 px=100.05 cum=25",
		"FILLED "+cid(1)+" "+a+" trade=T2 qty=50 px=100.10 cum=75",
		"ACCEPTED "+cid(2)+" "+c,
		`CANCELLED `+cid(2)+` `+c+` reason="cancelled by user"`,
		`REJECTED `+cid(3)+` `+r+` reason="RMS rejection"`)
}

func TestPollFailureReportsNothingAndForgetsNothing(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	id := mustPlace(t, b, intent(cid(1), domain.Limit)).BrokerOrderID
	k.fill(id, "T1", 75, "100.05")
	k.set(func(k *fakeKite) { k.failTrades = 1 })
	if reps, err := b.Poll(ctx); err == nil || len(reps) != 0 {
		t.Fatalf("Poll with /trades failing = %v, %v; want an error and no reports", reps, err)
	}
	checkReports(t, mustPoll(t, b), "FILLED "+cid(1)+" "+id+" trade=T1 qty=75 px=100.05 cum=75")
	checkReports(t, mustPoll(t, b))

	k.srv.Close()
	if _, err := b.Poll(ctx); err == nil {
		t.Error("Poll with Kite down: no error")
	}
}

func TestConcurrentPollsReportEachFillOnce(t *testing.T) {
	k := newKite(t)
	b := k.broker(t)
	const orders, fills = 4, 5
	ids := make([]string, orders)
	for i := range ids {
		in := intent(cid(i), domain.Limit)
		in.Quantity = 75 * fills
		ids[i] = mustPlace(t, b, in).BrokerOrderID
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	poll := func() {
		defer wg.Done()
		reps, err := b.Poll(ctx)
		if err != nil {
			t.Errorf("Poll: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range reps {
			seen[r.ClientOrderID+"/"+r.TradeID]++
		}
	}
	for f := range fills {
		for i, id := range ids {
			k.fill(id, fmt.Sprintf("T%d-%d", i, f), 75, "100")
		}
		for range 3 {
			wg.Add(1)
			go poll()
		}
	}
	wg.Wait()
	wg.Add(1)
	poll()
	if len(seen) != orders*fills {
		t.Errorf("%d distinct fills reported, want %d", len(seen), orders*fills)
	}
	for key, n := range seen {
		if n != 1 {
			t.Errorf("%s reported %d times", key, n)
		}
	}
}
