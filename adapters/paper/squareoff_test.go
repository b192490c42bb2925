package paper_test

import (
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
)

func TestMISSquareOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, noLatency)
	// 10:00: MIS long future, MIS short option, NRML long future, and
	// resting MIS and NRML limit orders.
	for _, o := range []order{
		{id: "mis-fut", side: domain.Buy, qty: 150, product: domain.MIS},
		{id: "nrml-fut", side: domain.Buy, qty: 75, product: domain.NRML},
		{id: "mis-rest", side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(90, 0), product: domain.MIS},
		{id: "nrml-rest", side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(90, 0), product: domain.NRML},
	} {
		f.place(o)
	}
	f.tick(quote{at: at(10, 0, 1, 0), bid: rs(99, 95), bidQty: 1000, ask: rs(100, 0), askQty: 1000})
	f.place(order{id: "mis-opt", symbol: opt, side: domain.Sell, qty: 50, product: domain.MIS})
	f.tick(quote{symbol: opt, at: at(10, 0, 2, 0), bid: rs(20, 0), bidQty: 1000, ask: rs(20, 5), askQty: 1000})
	equal(t, "positions before", len(f.positions()), 3)

	// A tick a millisecond before the cutoff changes nothing.
	equal(t, "before 15:20", kinds(f.tick(quote{symbol: fut2, at: at(15, 19, 59, 999), bid: rs(1, 0), ask: rs(1, 5)})), []string(nil))

	// The first tick at 15:20, of an unrelated instrument: cancel, then
	// square-off orders, which cannot fill on another instrument's tick.
	sqFut := "sq-" + account + "-20261123-NFO:" + fut
	sqOpt := "sq-" + account + "-20261123-NFO:" + opt
	reps := f.tick(quote{symbol: fut2, at: at(15, 20, 0, 0), bid: rs(1, 0), ask: rs(1, 5)})
	equal(t, "reports at 15:20", kinds(reps), []string{
		"CANCELLED mis-rest", "ACCEPTED " + sqOpt, "ACCEPTED " + sqFut, // positions by exchange, symbol
	})
	for _, r := range reps {
		if !strings.Contains(r.Reason, "square-off") || !r.At.Equal(at(15, 20, 0, 0)) {
			t.Errorf("report %+v", r)
		}
	}
	if !paper.IsSquareOff(sqFut) || paper.IsSquareOff("mis-fut") {
		t.Error("IsSquareOff")
	}
	sq := f.lookup(sqFut)
	if sq.Side != domain.Sell || sq.Quantity != 150 || sq.Type != domain.Market || sq.Product != domain.MIS || sq.Status != domain.BrokerOpen {
		t.Errorf("square-off order %+v", sq)
	}
	if err := paper.IntentFor(sq, "o-"+sqFut).Validate(); err != nil {
		t.Errorf("IntentFor: %v", err)
	}
	if rep, _ := f.b.Cancel(ctx, sqFut); rep.Kind != domain.ReportRejected {
		t.Errorf("cancel of a square-off order: %+v", rep)
	}
	// No second square-off on later ticks, MIS orders refused.
	equal(t, "later tick", kinds(f.tick(quote{symbol: fut2, at: at(15, 20, 0, 500), bid: rs(1, 0), ask: rs(1, 5)})), []string(nil))
	if rep := f.place(order{id: "late", side: domain.Buy, qty: 75, product: domain.MIS}); rep.Kind != domain.ReportRejected {
		t.Errorf("MIS after square-off: %+v", rep)
	}

	// The instruments' own ticks fill the square-off market orders, by size.
	equal(t, "future fills", fillsOf(f.tick(quote{at: at(15, 20, 1, 0), bid: rs(101, 0), bidQty: 100, ask: rs(101, 5), askQty: 100})),
		[]fill{{sqFut, 100, rs(101, 0), 100}})
	equal(t, "no new square-off while one is working", kinds(f.tick(quote{symbol: fut2, at: at(15, 20, 1, 500), bid: rs(1, 0), ask: rs(1, 5)})), []string(nil))
	equal(t, "future rest", fillsOf(f.tick(quote{at: at(15, 20, 2, 0), bid: rs(101, 0), bidQty: 100, ask: rs(101, 5), askQty: 100})),
		[]fill{{sqFut, 50, rs(101, 0), 150}})
	equal(t, "option fills", fillsOf(f.tick(quote{symbol: opt, at: at(15, 20, 3, 0), bid: rs(19, 0), bidQty: 1000, ask: rs(19, 5), askQty: 1000})),
		[]fill{{sqOpt, 50, rs(19, 5), 50}})

	equal(t, "only NRML left", f.positions(), []domain.BrokerPosition{{Account: account, Exchange: "NFO", Symbol: fut,
		Product: domain.NRML, Quantity: 75, AvgPrice: rs(100, 0)}})
	equal(t, "NRML order untouched", f.lookup("nrml-rest").Status, domain.BrokerOpen)
	equal(t, "square-off complete", f.lookup(sqFut).Status, domain.BrokerComplete)
	equal(t, "nothing after", kinds(f.tick(quote{at: at(15, 25, 0, 0), bid: rs(101, 0), bidQty: 100, ask: rs(101, 5), askQty: 100})), []string(nil))
}

func TestMISSquareOffNextDay(t *testing.T) {
	t.Parallel()
	// No tick after 15:20 on the day the position was opened: the first
	// tick of the next day closes it, under the opening day's id.
	f := newFixture(t, paper.Config{Latency: paper.NoLatency, SquareOff: 15 * time.Hour})
	f.place(order{id: "a", side: domain.Sell, qty: 75, product: domain.MIS})
	f.tick(liquid(1))
	f.tick(quote{at: at(14, 59, 0, 0), bid: rs(99, 95), bidQty: 1, ask: rs(100, 0), askQty: 1})
	next := quote{at: at(10, 0, 0, 0).AddDate(0, 0, 1), bid: rs(99, 0), bidQty: 1000, ask: rs(99, 5), askQty: 1000}
	reps := f.tick(next)
	id := "sq-" + account + "-20261123-NFO:" + fut
	equal(t, "reports", kinds(reps), []string{"ACCEPTED " + id, "FILLED " + id})
	equal(t, "fill", fillsOf(reps), []fill{{id, 75, rs(99, 5), 75}})
	equal(t, "flat", f.positions(), []domain.BrokerPosition{})
	if rep := f.place(order{id: "b", side: domain.Buy, qty: 75, product: domain.MIS}); rep.Kind != domain.ReportAccepted {
		t.Errorf("MIS on the next morning: %+v", rep)
	}
}

func TestNoSquareOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, paper.Config{Latency: paper.NoLatency, SquareOff: paper.NoSquareOff})
	f.place(order{id: "a", side: domain.Buy, qty: 75, product: domain.MIS})
	f.tick(liquid(1))
	equal(t, "15:30", kinds(f.tick(quote{at: at(15, 30, 0, 0), bid: rs(99, 0), ask: rs(99, 5)})), []string(nil))
	equal(t, "position", len(f.positions()), 1)
}
