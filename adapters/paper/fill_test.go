package paper_test

import (
	"slices"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
)

// step is a tick and what it must do to the scenario's first order.
type step struct {
	q      quote
	want   []fill
	status domain.BrokerOrderStatus // of the first order after the tick
}

type scenario struct {
	name   string
	orders []order // placed at 10:00:00 in this order
	steps  []step
}

func runScenarios(t *testing.T, cfg paper.Config, cases []scenario) {
	t.Helper()
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, cfg)
			for _, o := range sc.orders {
				if rep := f.place(o); rep.Kind != domain.ReportAccepted {
					t.Fatalf("Place %s: %+v", o.id, rep)
				}
			}
			first := sc.orders[0].id
			if st := f.lookup(first).Status; len(sc.steps) > 0 && st != domain.BrokerOpen && st != domain.BrokerTriggerPending {
				t.Fatalf("status after Place: %s", st)
			}
			for i, s := range sc.steps {
				if s.q.at.IsZero() {
					s.q.at = at(10, 0, i+1, 0)
				}
				got := fillsOf(f.tick(s.q))
				equal(t, "fills of step "+s.q.at.Format("15:04:05.000"), got, s.want)
				if s.status != "" {
					equal(t, "status of "+first+" after step", f.lookup(first).Status, s.status)
				}
			}
		})
	}
}

var noLatency = paper.Config{Latency: paper.NoLatency}

func TestMarketOrders(t *testing.T) {
	t.Parallel()
	buy := order{id: "a", side: domain.Buy, qty: 150}
	sell := order{id: "a", side: domain.Sell, qty: 150}
	runScenarios(t, noLatency, []scenario{
		{name: "buy partial by ask size then completes", orders: []order{buy}, steps: []step{
			{q: quote{bid: rs(99, 95), bidQty: 500, ask: rs(100, 0), askQty: 75},
				want: []fill{{"a", 75, rs(100, 0), 75}}, status: domain.BrokerOpen},
			{q: quote{bid: rs(100, 0), bidQty: 500, ask: rs(100, 5), askQty: 100},
				want: []fill{{"a", 75, rs(100, 5), 150}}, status: domain.BrokerComplete},
			{q: quote{bid: rs(100, 0), bidQty: 500, ask: rs(100, 5), askQty: 100}},
		}},
		{name: "sell partial by bid size then completes", orders: []order{sell}, steps: []step{
			{q: quote{bid: rs(99, 95), bidQty: 50, ask: rs(100, 0), askQty: 500},
				want: []fill{{"a", 50, rs(99, 95), 50}}, status: domain.BrokerOpen},
			{q: quote{bid: rs(99, 90), bidQty: 500, ask: rs(100, 0), askQty: 500},
				want: []fill{{"a", 100, rs(99, 90), 150}}, status: domain.BrokerComplete},
		}},
		{name: "two buys share one tick's size in placement order",
			orders: []order{buy, {id: "b", side: domain.Buy, qty: 100}}, steps: []step{
				{q: quote{bid: rs(99, 95), bidQty: 1, ask: rs(100, 0), askQty: 200},
					want: []fill{{"a", 150, rs(100, 0), 150}, {"b", 50, rs(100, 0), 50}}, status: domain.BrokerComplete},
			}},
		{name: "ask without size fills the whole remainder at the ask", orders: []order{buy}, steps: []step{
			{q: quote{ltp: rs(99, 0), bid: rs(99, 95), ask: rs(100, 0)},
				want: []fill{{"a", 150, rs(100, 0), 150}}, status: domain.BrokerComplete},
		}},
		{name: "no ask: buys wait", orders: []order{buy}, steps: []step{
			{q: quote{ltp: rs(100, 0), bid: rs(99, 95), bidQty: 500}, status: domain.BrokerOpen},
		}},
		{name: "tick without bid and ask never fills", orders: []order{buy}, steps: []step{
			{q: quote{ltp: rs(100, 0)}, status: domain.BrokerOpen},
		}},
		{name: "another instrument's tick does not fill", orders: []order{buy}, steps: []step{
			{q: quote{symbol: fut2, bid: rs(99, 95), bidQty: 500, ask: rs(100, 0), askQty: 500}, status: domain.BrokerOpen},
		}},
	})
}

func TestLimitOrders(t *testing.T) {
	t.Parallel()
	buy := order{id: "a", side: domain.Buy, typ: domain.Limit, qty: 75, price: rs(100, 0)}
	sell := order{id: "a", side: domain.Sell, typ: domain.Limit, qty: 75, price: rs(100, 0)}
	runScenarios(t, noLatency, []scenario{
		{name: "buy not crossed", orders: []order{buy}, steps: []step{
			{q: quote{ltp: rs(99, 0), bid: rs(100, 0), bidQty: 500, ask: rs(100, 5), askQty: 500}, status: domain.BrokerOpen},
		}},
		{name: "buy crossed at the limit", orders: []order{buy}, steps: []step{
			{q: quote{bid: rs(99, 95), bidQty: 500, ask: rs(100, 5), askQty: 500}},
			{q: quote{bid: rs(99, 95), bidQty: 500, ask: rs(100, 0), askQty: 500},
				want: []fill{{"a", 75, rs(100, 0), 75}}, status: domain.BrokerComplete},
		}},
		{name: "buy fills at a better ask (price improvement)", orders: []order{buy}, steps: []step{
			{q: quote{bid: rs(99, 80), bidQty: 500, ask: rs(99, 90), askQty: 500},
				want: []fill{{"a", 75, rs(99, 90), 75}}, status: domain.BrokerComplete},
		}},
		{name: "buy partial by size at the limit", orders: []order{buy}, steps: []step{
			{q: quote{bid: rs(99, 80), bidQty: 500, ask: rs(100, 0), askQty: 25},
				want: []fill{{"a", 25, rs(100, 0), 25}}, status: domain.BrokerOpen},
			{q: quote{bid: rs(99, 80), bidQty: 500, ask: rs(100, 10), askQty: 500}, status: domain.BrokerOpen},
			{q: quote{bid: rs(99, 80), bidQty: 500, ask: rs(99, 95), askQty: 500},
				want: []fill{{"a", 50, rs(99, 95), 75}}, status: domain.BrokerComplete},
		}},
		{name: "sell not crossed", orders: []order{sell}, steps: []step{
			{q: quote{ltp: rs(101, 0), bid: rs(99, 95), bidQty: 500, ask: rs(100, 0), askQty: 500}, status: domain.BrokerOpen},
		}},
		{name: "sell crossed at a better bid", orders: []order{sell}, steps: []step{
			{q: quote{bid: rs(100, 10), bidQty: 500, ask: rs(100, 20), askQty: 500},
				want: []fill{{"a", 75, rs(100, 10), 75}}, status: domain.BrokerComplete},
		}},
	})
}

func TestStopOrders(t *testing.T) {
	t.Parallel()
	runScenarios(t, noLatency, []scenario{
		{name: "SL buy triggers on LTP then fills as a limit",
			orders: []order{{id: "a", side: domain.Buy, typ: domain.StopLimit, qty: 75, trigger: rs(101, 0), price: rs(101, 50)}},
			steps: []step{
				{q: quote{ltp: rs(100, 95), bid: rs(100, 90), bidQty: 500, ask: rs(101, 0), askQty: 500}, status: domain.BrokerTriggerPending},
				{q: quote{ltp: rs(101, 0), bid: rs(101, 0), bidQty: 500, ask: rs(101, 60), askQty: 500}, status: domain.BrokerOpen},
				{q: quote{ltp: rs(100, 50), bid: rs(100, 40), bidQty: 500, ask: rs(101, 45), askQty: 500},
					want: []fill{{"a", 75, rs(101, 45), 75}}, status: domain.BrokerComplete},
			}},
		{name: "SL-M buy triggers and fills at the ask on the same tick",
			orders: []order{{id: "a", side: domain.Buy, typ: domain.StopMkt, qty: 75, trigger: rs(101, 0)}},
			steps: []step{
				{q: quote{ltp: rs(100, 95), bid: rs(90, 0), bidQty: 500, ask: rs(120, 0), askQty: 500}, status: domain.BrokerTriggerPending},
				{q: quote{ltp: rs(101, 5), bid: rs(101, 0), bidQty: 500, ask: rs(101, 10), askQty: 500},
					want: []fill{{"a", 75, rs(101, 10), 75}}, status: domain.BrokerComplete},
			}},
		{name: "SL sell triggers on LTP then fills as a limit",
			orders: []order{{id: "a", side: domain.Sell, typ: domain.StopLimit, qty: 75, trigger: rs(99, 0), price: rs(98, 50)}},
			steps: []step{
				{q: quote{ltp: rs(99, 5), bid: rs(98, 0), bidQty: 500, ask: rs(99, 10), askQty: 500}, status: domain.BrokerTriggerPending},
				{q: quote{ltp: rs(99, 0), bid: rs(98, 40), bidQty: 500, ask: rs(99, 0), askQty: 500}, status: domain.BrokerOpen},
				{q: quote{ltp: rs(99, 50), bid: rs(98, 60), bidQty: 500, ask: rs(99, 55), askQty: 500},
					want: []fill{{"a", 75, rs(98, 60), 75}}, status: domain.BrokerComplete},
			}},
		{name: "SL-M sell triggers and fills at the bid on the same tick",
			orders: []order{{id: "a", side: domain.Sell, typ: domain.StopMkt, qty: 75, trigger: rs(99, 0)}},
			steps: []step{
				{q: quote{ltp: rs(99, 5), bid: rs(80, 0), bidQty: 500, ask: rs(99, 10), askQty: 500}, status: domain.BrokerTriggerPending},
				{q: quote{ltp: rs(98, 95), bid: rs(98, 90), bidQty: 50, ask: rs(99, 0), askQty: 500},
					want: []fill{{"a", 50, rs(98, 90), 50}}, status: domain.BrokerOpen},
				{q: quote{ltp: rs(99, 50), bid: rs(99, 45), bidQty: 50, ask: rs(99, 55), askQty: 500},
					want: []fill{{"a", 25, rs(99, 45), 75}}, status: domain.BrokerComplete},
			}},
	})
}

func TestLatency(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		cfg       paper.Config
		firstFill time.Duration // after placement; ticks every 10ms from 0
	}{
		{"default 50ms", paper.Config{}, 50 * time.Millisecond},
		{"120ms", paper.Config{Latency: 120 * time.Millisecond}, 120 * time.Millisecond},
		{"none", paper.Config{Latency: paper.NoLatency}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c.cfg)
			placed := at(10, 0, 0, 0)
			f.place(order{id: "a", side: domain.Buy, qty: 75})
			for d := time.Duration(0); d <= 200*time.Millisecond; d += 10 * time.Millisecond {
				got := fillsOf(f.tick(quote{at: placed.Add(d), bid: rs(99, 95), bidQty: 500, ask: rs(100, 0), askQty: 500}))
				switch {
				case d < c.firstFill && len(got) > 0:
					t.Fatalf("filled at +%v, before the latency %v", d, c.firstFill)
				case d == c.firstFill && len(got) != 1:
					t.Fatalf("not filled at +%v, the latency", d)
				}
			}
			equal(t, "status", f.lookup("a").Status, domain.BrokerComplete)
		})
	}
}

func TestJitterIsSeeded(t *testing.T) {
	t.Parallel()
	const latency, jitter = 10 * time.Millisecond, 100 * time.Millisecond
	run := func(seed int64) []domain.ExecutionReport {
		f := newFixture(t, paper.Config{Seed: seed, Latency: latency, LatencyJitter: jitter})
		for i := range 20 {
			f.place(order{id: "j" + string(rune('a'+i)), side: domain.Buy, qty: 75})
		}
		var reps []domain.ExecutionReport
		for d := time.Duration(0); d <= 200*time.Millisecond; d += time.Millisecond {
			reps = append(reps, f.tick(quote{at: at(10, 0, 0, 0).Add(d), bid: rs(99, 95), bidQty: 5000, ask: rs(100, 0), askQty: 5000})...)
		}
		if len(reps) != 20 {
			t.Fatalf("seed %d: %d fills, want 20", seed, len(reps))
		}
		for _, r := range reps {
			if d := r.At.Sub(at(10, 0, 0, 0)); d < latency || d > latency+jitter {
				t.Errorf("seed %d: %s filled at +%v, outside [%v, %v]", seed, r.ClientOrderID, d, latency, latency+jitter)
			}
		}
		return reps
	}
	a, b, other := run(7), run(7), run(8)
	equal(t, "fills of the same seed", a, b)
	if slicesEqualFunc(a, other) {
		t.Errorf("seeds 7 and 8 gave identical fill times: the jitter is not used")
	}
	spread := map[time.Time]bool{}
	for _, r := range a {
		spread[r.At] = true
	}
	if len(spread) < 5 {
		t.Errorf("20 orders filled at only %d distinct instants: no jitter", len(spread))
	}
}

func slicesEqualFunc(a, b []domain.ExecutionReport) bool {
	return slices.EqualFunc(a, b, func(x, y domain.ExecutionReport) bool {
		return x.ClientOrderID == y.ClientOrderID && x.At.Equal(y.At)
	})
}

func TestChargesAddUpToTheOrders(t *testing.T) {
	t.Parallel()
	sched := domain.DefaultChargeSchedule()
	cases := []struct {
		name   string
		cfg    paper.Config
		symbol string
		side   domain.Side
		seg    domain.ChargeSegment
	}{
		{"option buy", noLatency, opt, domain.Buy, domain.SegmentIndexOption},
		{"option sell", noLatency, opt, domain.Sell, domain.SegmentIndexOption},
		{"future buy", noLatency, fut, domain.Buy, domain.SegmentFuture},
		{"future sell", noLatency, fut, domain.Sell, domain.SegmentFuture},
		{"cash equity: not in the schedule", noLatency, "INFY", domain.Buy, ""},
		{"zero schedule", paper.Config{Latency: paper.NoLatency, Charges: &domain.ChargeSchedule{}}, opt, domain.Buy, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c.cfg)
			f.place(order{id: "a", symbol: c.symbol, side: c.side, qty: 300})
			var sum, perFill domain.Price
			var value domain.Price
			var n int
			for i, px := range []domain.Price{rs(123, 45), rs(123, 50), rs(124, 5), rs(122, 95)} {
				q := quote{symbol: c.symbol, at: at(10, 0, i+1, 0), bid: px, bidQty: 75, ask: px, askQty: 75}
				for _, r := range f.tick(q) {
					if r.Charges < 0 {
						t.Fatalf("negative charges %s", r.Charges)
					}
					sum += r.Charges
					value += domain.Price(r.Quantity) * r.Price
					n++
					if c.seg != "" {
						ch, err := sched.For(c.seg, c.side, r.Quantity, r.Price)
						if err != nil {
							t.Fatal(err)
						}
						perFill += ch.Total
					}
				}
			}
			if n != 4 {
				t.Fatalf("%d fills, want 4", n)
			}
			var want domain.Price
			if c.seg != "" {
				ch, err := sched.For(c.seg, c.side, 1, value)
				if err != nil {
					t.Fatal(err)
				}
				want = ch.Total
				// Options pay flat brokerage per order: four fills of one order
				// must cost less than four orders. (Futures brokerage is 0.03%
				// below ₹20, proportional to turnover at these sizes.)
				if c.seg == domain.SegmentIndexOption && sum >= perFill {
					t.Errorf("charges %s not below 4 separately charged fills %s: brokerage charged more than once", sum, perFill)
				}
			}
			equal(t, "sum of the fills' charges", sum, want)
		})
	}
}
