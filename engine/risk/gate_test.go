package risk_test

import (
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/risk"
)

var (
	cal = domain.NSECalendar()
	// t0 is a Tuesday in session, 10:00 IST.
	t0 = time.Date(2026, 3, 10, 10, 0, 0, 0, domain.IST())
)

// baseOrder is a 1-lot NIFTY call bought at the last price, in session.
func baseOrder() risk.Order {
	return risk.Order{
		Account:    "acc1",
		Exchange:   domain.ExchangeNFO,
		Symbol:     "NIFTY26MAR24500CE",
		Instrument: domain.InstrumentCall,
		Side:       domain.Buy,
		Quantity:   75,
		Type:       domain.Limit,
		Price:      domain.Rupees(100),
		Product:    domain.NRML,
		LotSize:    75,
		TickSize:   5,
		FreezeQty:  1800,
		At:         t0,
	}
}

func baseState() risk.State {
	return risk.State{
		LastPrice:        domain.Rupees(100),
		LastTickAt:       t0.Add(-time.Second),
		UnderlyingTickAt: t0.Add(-time.Second),
	}
}

func newGate() *risk.Gate { return risk.NewGate(risk.Config{Calendar: cal}) }

type want struct {
	rule   risk.Rule // "" means allowed
	limit  int64
	actual int64
}

type gateCase struct {
	name  string
	order func(*risk.Order)
	state func(*risk.State)
	want  want
}

func ok() want { return want{} }

func no(rule risk.Rule, limit, actual int64) want {
	return want{rule: rule, limit: limit, actual: actual}
}

func runGateCases(t *testing.T, g *risk.Gate, cases []gateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, st := baseOrder(), baseState()
			if tc.order != nil {
				tc.order(&o)
			}
			if tc.state != nil {
				tc.state(&st)
			}
			d := g.Check(o, st)
			if d.Allowed != (len(d.Refusals) == 0) {
				t.Fatalf("Allowed %v with refusals %v", d.Allowed, d.Refusals)
			}
			if tc.want.rule == "" {
				if !d.Allowed {
					t.Fatalf("refused, want allowed: %v", d.Refusals)
				}
				var sum int64
				for _, q := range d.Slices {
					sum += q
				}
				if sum != o.Quantity {
					t.Fatalf("slices %v sum to %d, want %d", d.Slices, sum, o.Quantity)
				}
				return
			}
			if d.Allowed {
				t.Fatalf("allowed (slices %v), want refused by %s", d.Slices, tc.want.rule)
			}
			if d.Slices != nil {
				t.Errorf("refused decision carries slices %v", d.Slices)
			}
			for _, r := range d.Refusals {
				if r.Rule != tc.want.rule {
					continue
				}
				if r.Limit != tc.want.limit || r.Actual != tc.want.actual {
					t.Fatalf("%s: limit %d actual %d, want limit %d actual %d (%s)",
						r.Rule, r.Limit, r.Actual, tc.want.limit, tc.want.actual, r.Message)
				}
				if r.Message == "" {
					t.Fatalf("%s: empty message", r.Rule)
				}
				if r.Unit != risk.UnitNone && r.Actual <= r.Limit {
					t.Fatalf("%s: actual %d not over limit %d", r.Rule, r.Actual, r.Limit)
				}
				return
			}
			t.Fatalf("refused by %v, want %s", d.Refusals, tc.want.rule)
		})
	}
}

func TestCheckBaseOrderAllowed(t *testing.T) {
	t.Parallel()
	d := newGate().Check(baseOrder(), baseState())
	if !d.Allowed || !reflect.DeepEqual(d.Slices, []int64{75}) || d.ReduceOnly {
		t.Fatalf("got %+v", d)
	}
}

func TestCheckOrderLimits(t *testing.T) {
	t.Parallel()
	units := func(o *risk.Order) { o.LotSize, o.TickSize = 0, 0 }
	runGateCases(t, newGate(), []gateCase{
		// max_order_qty
		{"qty at limit", nil, func(s *risk.State) { s.Limits.MaxOrderQty = 150 }, ok()},
		{"qty 2 lots at limit", func(o *risk.Order) { o.Quantity = 150 }, func(s *risk.State) { s.Limits.MaxOrderQty = 150 }, ok()},
		{"qty a lot over", func(o *risk.Order) { o.Quantity = 225 }, func(s *risk.State) { s.Limits.MaxOrderQty = 150 }, no(risk.RuleMaxOrderQty, 150, 225)},
		{"qty units at limit", func(o *risk.Order) { units(o); o.Quantity = 150 }, func(s *risk.State) { s.Limits.MaxOrderQty = 150 }, ok()},
		{"qty one unit over", func(o *risk.Order) { units(o); o.Quantity = 151 }, func(s *risk.State) { s.Limits.MaxOrderQty = 150 }, no(risk.RuleMaxOrderQty, 150, 151)},
		{"qty zero limit is none", func(o *risk.Order) { o.Quantity = 75 * 20 }, nil, ok()},

		// max_order_lots
		{"lots at limit", func(o *risk.Order) { o.Quantity = 150 }, func(s *risk.State) { s.Limits.MaxOrderLots = 2 }, ok()},
		{"lots one over", func(o *risk.Order) { o.Quantity = 225 }, func(s *risk.State) { s.Limits.MaxOrderLots = 2 }, no(risk.RuleMaxOrderLots, 2, 3)},
		{"lots of units", func(o *risk.Order) { units(o); o.Quantity = 3 }, func(s *risk.State) { s.Limits.MaxOrderLots = 2 }, no(risk.RuleMaxOrderLots, 2, 3)},

		// max_order_notional: 1 unit at 100.00 = 10000 paise
		{"notional at limit", func(o *risk.Order) { units(o); o.Quantity = 1 }, func(s *risk.State) { s.Limits.MaxOrderNotional = 10000 }, ok()},
		{"notional one paisa over", func(o *risk.Order) { units(o); o.Quantity = 1 }, func(s *risk.State) { s.Limits.MaxOrderNotional = 9999 }, no(risk.RuleMaxOrderNotional, 9999, 10000)},
		{"notional one paisa over by price", func(o *risk.Order) { units(o); o.Quantity = 1; o.Price = 10001 }, func(s *risk.State) { s.Limits.MaxOrderNotional = 10000 }, no(risk.RuleMaxOrderNotional, 10000, 10001)},
		{"notional lots", nil, func(s *risk.State) { s.Limits.MaxOrderNotional = domain.Rupees(7500) }, ok()},
		{"notional lots over", nil, func(s *risk.State) { s.Limits.MaxOrderNotional = domain.Rupees(7500) - 1 }, no(risk.RuleMaxOrderNotional, 749999, 750000)},
		{"notional sell limit below last uses last", func(o *risk.Order) { units(o); o.Quantity = 1; o.Side = domain.Sell; o.Price = 9000 }, func(s *risk.State) { s.Limits.MaxOrderNotional = 9999 }, no(risk.RuleMaxOrderNotional, 9999, 10000)},
		{"notional market uses last", func(o *risk.Order) { units(o); o.Quantity = 1; o.Type = domain.Market; o.Price = 0 }, func(s *risk.State) { s.Limits.MaxOrderNotional = 9999 }, no(risk.RuleMaxOrderNotional, 9999, 10000)},
		{"notional SL-M uses trigger above last", func(o *risk.Order) {
			units(o)
			o.Quantity, o.Type, o.Price, o.TriggerPrice = 1, domain.StopMkt, 0, 10500
		}, func(s *risk.State) { s.Limits.MaxOrderNotional = 10499 }, no(risk.RuleMaxOrderNotional, 10499, 10500)},
		{"notional without last price", func(o *risk.Order) { o.Type, o.Price = domain.Market, 0 }, func(s *risk.State) { s.LastPrice = 0; s.Limits.MaxOrderNotional = 1 << 40 }, no(risk.RuleMaxOrderNotional, 1<<40, math.MaxInt64)},
		{"notional saturates", func(o *risk.Order) { units(o); o.Quantity = math.MaxInt64 / 2 }, func(s *risk.State) { s.Limits.MaxOrderNotional = 1 }, no(risk.RuleMaxOrderNotional, 1, math.MaxInt64)},

		// lot_multiple
		{"lot multiple", func(o *risk.Order) { o.Quantity = 150 }, nil, ok()},
		{"not a lot multiple", func(o *risk.Order) { o.Quantity = 76 }, nil, no(risk.RuleLotMultiple, 75, 76)},

		// tick_size
		{"price on tick", func(o *risk.Order) { o.Price = 10005 }, nil, ok()},
		{"price one paisa off tick", func(o *risk.Order) { o.Price = 10006 }, nil, no(risk.RuleTickSize, 5, 10006)},
		{"trigger off tick", func(o *risk.Order) { o.Type, o.Price, o.TriggerPrice = domain.StopMkt, 0, 10002 }, nil, no(risk.RuleTickSize, 5, 10002)},
		{"SL trigger off tick", func(o *risk.Order) { o.Type, o.TriggerPrice = domain.StopLimit, 9999 }, nil, no(risk.RuleTickSize, 5, 9999)},
		{"market price ignored", func(o *risk.Order) { o.Type, o.Price = domain.Market, 10003 }, nil, ok()},
		{"unknown tick size unchecked", func(o *risk.Order) { o.TickSize, o.Price = 0, 10003 }, nil, ok()},

		// invalid_order
		{"zero quantity", func(o *risk.Order) { o.Quantity = 0 }, nil, no(risk.RuleInvalidOrder, 0, 0)},
		{"bad side", func(o *risk.Order) { o.Side = "HOLD" }, nil, no(risk.RuleInvalidOrder, 0, 0)},
		{"bad product", func(o *risk.Order) { o.Product = "" }, nil, no(risk.RuleInvalidOrder, 0, 0)},
		{"limit without price", func(o *risk.Order) { o.Price = 0 }, nil, no(risk.RuleInvalidOrder, 0, 0)},
		{"SL-M without trigger", func(o *risk.Order) { o.Type = domain.StopMkt }, nil, no(risk.RuleInvalidOrder, 0, 0)},
		{"no event time", func(o *risk.Order) { o.At = time.Time{} }, nil, no(risk.RuleInvalidOrder, 0, 0)},
		{"no account", func(o *risk.Order) { o.Account = "" }, nil, no(risk.RuleInvalidOrder, 0, 0)},
		{"negative lot", func(o *risk.Order) { o.LotSize = -1 }, nil, no(risk.RuleInvalidOrder, 0, 0)},
	})
}

func TestCheckPositionAndOpenOrders(t *testing.T) {
	t.Parallel()
	lim := func(s *risk.State) { s.Limits.MaxPositionQty = 150 }
	runGateCases(t, newGate(), []gateCase{
		{"long to limit", nil, func(s *risk.State) { lim(s); s.Position = 75 }, ok()},
		{"long a lot over", nil, func(s *risk.State) { lim(s); s.Position = 150 }, no(risk.RuleMaxPosition, 150, 225)},
		{"open buys count", nil, func(s *risk.State) { lim(s); s.Position = 75; s.OpenBuyQty = 75 }, no(risk.RuleMaxPosition, 150, 225)},
		{"open sells do not count for a buy", nil, func(s *risk.State) { lim(s); s.Position = 75; s.OpenSellQty = 75 }, ok()},
		{"short to limit", func(o *risk.Order) { o.Side = domain.Sell }, func(s *risk.State) { lim(s); s.Position = -75 }, ok()},
		{"short a lot over", func(o *risk.Order) { o.Side = domain.Sell; o.Quantity = 150 }, func(s *risk.State) { lim(s); s.Position = -75 }, no(risk.RuleMaxPosition, 150, 225)},
		{"flip within limit", func(o *risk.Order) { o.Quantity = 225 }, func(s *risk.State) { lim(s); s.Position = -75 }, ok()},
		{"flip over limit", func(o *risk.Order) { o.Quantity = 300 }, func(s *risk.State) { lim(s); s.Position = -75 }, no(risk.RuleMaxPosition, 150, 225)},
		{"reduce over-limit position", func(o *risk.Order) { o.Side = domain.Sell }, func(s *risk.State) { lim(s); s.Position = 300 }, ok()},
		{"units one over", func(o *risk.Order) { o.LotSize, o.Quantity = 0, 2 }, func(s *risk.State) { lim(s); s.Position = 149 }, no(risk.RuleMaxPosition, 150, 151)},
		{"units at limit", func(o *risk.Order) { o.LotSize, o.Quantity = 0, 1 }, func(s *risk.State) { lim(s); s.Position = 149 }, ok()},

		{"open orders at limit", nil, func(s *risk.State) { s.Limits.MaxOpenOrders = 3; s.OpenOrders = 2 }, ok()},
		{"open orders one over", nil, func(s *risk.State) { s.Limits.MaxOpenOrders = 3; s.OpenOrders = 3 }, no(risk.RuleMaxOpenOrders, 3, 4)},
		{"slices count as orders at limit", func(o *risk.Order) { o.Quantity = 3600 }, func(s *risk.State) { s.Limits.MaxOpenOrders = 3; s.OpenOrders = 1 }, ok()},
		{"slices count as orders over", func(o *risk.Order) { o.Quantity = 3675 }, func(s *risk.State) { s.Limits.MaxOpenOrders = 3; s.OpenOrders = 1 }, no(risk.RuleMaxOpenOrders, 3, 4)},
		{"negative open orders read as zero", nil, func(s *risk.State) { s.Limits.MaxOpenOrders = 1; s.OpenOrders = -5 }, ok()},
	})
}

func TestCheckPriceCollar(t *testing.T) {
	t.Parallel()
	// 100 bps of 100.00 is 1.00: the band is 99.00 to 101.00.
	c := func(o *risk.Order) { o.TickSize = 1 }
	lim := func(s *risk.State) { s.Limits.PriceCollarBps = 100 }
	runGateCases(t, newGate(), []gateCase{
		{"at upper edge", func(o *risk.Order) { c(o); o.Price = 10100 }, lim, ok()},
		{"one paisa above", func(o *risk.Order) { c(o); o.Price = 10101 }, lim, no(risk.RulePriceCollar, 100, 101)},
		{"at lower edge", func(o *risk.Order) { c(o); o.Side = domain.Sell; o.Price = 9900 }, lim, ok()},
		{"one paisa below", func(o *risk.Order) { c(o); o.Side = domain.Sell; o.Price = 9899 }, lim, no(risk.RulePriceCollar, 100, 101)},
		{"fraction of a bps rounds up", func(o *risk.Order) { c(o); o.Price = 100101 }, func(s *risk.State) { lim(s); s.LastPrice = 99100 }, no(risk.RulePriceCollar, 100, 102)},
		{"market passes with last price", func(o *risk.Order) { o.Type, o.Price = domain.Market, 0 }, lim, ok()},
		{"market without last price", func(o *risk.Order) { o.Type, o.Price = domain.Market, 0 }, func(s *risk.State) { lim(s); s.LastPrice = 0 }, no(risk.RulePriceCollar, 100, math.MaxInt64)},
		{"SL uses limit price", func(o *risk.Order) { c(o); o.Type, o.TriggerPrice, o.Price = domain.StopLimit, 10100, 10101 }, lim, no(risk.RulePriceCollar, 100, 101)},
		{"SL-M uses trigger", func(o *risk.Order) { c(o); o.Type, o.Price, o.TriggerPrice = domain.StopMkt, 0, 9899 }, lim, no(risk.RulePriceCollar, 100, 101)},
		{"SL-M trigger inside", func(o *risk.Order) { c(o); o.Type, o.Price, o.TriggerPrice = domain.StopMkt, 0, 9900 }, lim, ok()},
		{"no collar configured", func(o *risk.Order) { c(o); o.Price = 50000 }, nil, ok()},
	})
}

func TestCheckStaleData(t *testing.T) {
	t.Parallel()
	fut := func(o *risk.Order) { o.Instrument, o.Symbol = domain.InstrumentFuture, "NIFTY26MARFUT" }
	cases := []gateCase{
		{"tick exactly at limit", nil, func(s *risk.State) { s.LastTickAt = t0.Add(-5 * time.Second) }, ok()},
		{"tick 1ns over", nil, func(s *risk.State) { s.LastTickAt = t0.Add(-5*time.Second - time.Nanosecond) }, no(risk.RuleStaleData, 5000, 5001)},
		{"tick 1ms over", nil, func(s *risk.State) { s.LastTickAt = t0.Add(-5001 * time.Millisecond) }, no(risk.RuleStaleData, 5000, 5001)},
		{"no tick", nil, func(s *risk.State) { s.LastTickAt = time.Time{} }, no(risk.RuleStaleData, 5000, math.MaxInt64)},
		{"tick after the order", nil, func(s *risk.State) { s.LastTickAt = t0.Add(time.Second) }, ok()},
		{"option underlying at limit", nil, func(s *risk.State) { s.UnderlyingTickAt = t0.Add(-5 * time.Second) }, ok()},
		{"option underlying stale", nil, func(s *risk.State) { s.UnderlyingTickAt = t0.Add(-6 * time.Second) }, no(risk.RuleStaleData, 5000, 6000)},
		{"option without underlying tick", nil, func(s *risk.State) { s.UnderlyingTickAt = time.Time{} }, no(risk.RuleStaleData, 5000, math.MaxInt64)},
		{"future ignores underlying", fut, func(s *risk.State) { s.UnderlyingTickAt = time.Time{} }, ok()},
		{"reduce-only is not exempt", func(o *risk.Order) { o.Side = domain.Sell }, func(s *risk.State) { s.Position = 75; s.LastTickAt = t0.Add(-time.Minute) }, no(risk.RuleStaleData, 5000, 60000)},
	}
	runGateCases(t, newGate(), cases)

	g2 := risk.NewGate(risk.Config{Calendar: cal, StaleAfter: 2 * time.Second})
	if g2.StaleAfter() != 2*time.Second || newGate().StaleAfter() != risk.DefaultStaleAfter {
		t.Fatal("StaleAfter not applied")
	}
	runGateCases(t, g2, []gateCase{
		{"custom at limit", nil, func(s *risk.State) { s.LastTickAt = t0.Add(-2 * time.Second) }, ok()},
		{"custom over", nil, func(s *risk.State) { s.LastTickAt = t0.Add(-2*time.Second - time.Millisecond) }, no(risk.RuleStaleData, 2000, 2001)},
	})
}

func TestCheckMarketClosed(t *testing.T) {
	t.Parallel()
	at := func(ts time.Time) func(*risk.Order) { return func(o *risk.Order) { o.At = ts } }
	fresh := func(ts time.Time) func(*risk.State) {
		return func(s *risk.State) { s.LastTickAt, s.UnderlyingTickAt = ts, ts }
	}
	day := func(d, h, m, s, ns int) time.Time { return time.Date(2026, 3, d, h, m, s, ns, domain.IST()) }
	closed := no(risk.RuleMarketClosed, 0, 0)
	var cases []gateCase
	for _, c := range []struct {
		name string
		ts   time.Time
		want want
	}{
		{"open exactly", day(10, 9, 15, 0, 0), ok()},
		{"1ns before open", day(10, 9, 14, 59, 999999999), closed},
		{"pre-open auction", day(10, 9, 5, 0, 0), closed},
		{"1ns before close", day(10, 15, 29, 59, 999999999), ok()},
		{"close exactly", day(10, 15, 30, 0, 0), closed},
		{"holiday (Holi)", day(3, 10, 0, 0, 0), closed},
		{"saturday", day(7, 10, 0, 0, 0), closed},
		{"UTC time in session", day(10, 10, 0, 0, 0).UTC(), ok()},
	} {
		cases = append(cases, gateCase{c.name, at(c.ts), fresh(c.ts), c.want})
	}
	runGateCases(t, newGate(), cases)

	d := newGate().Check(func() risk.Order { o := baseOrder(); o.At = day(3, 10, 0, 0, 0); return o }(), func() risk.State { s := baseState(); fresh(day(3, 10, 0, 0, 0))(&s); return s }())
	if r, _ := d.Refusal(); !strings.Contains(r.Message, "Holi") || !strings.Contains(r.Message, "2026-03-04T09:15:00+05:30") {
		t.Fatalf("holiday message %q lacks the holiday or the next open", r.Message)
	}
}

func TestCheckLossAndDrawdown(t *testing.T) {
	t.Parallel()
	loss := func(pnl domain.Price) func(*risk.State) {
		return func(s *risk.State) { s.Limits.MaxDailyLoss = domain.Rupees(1000); s.DayPnL = pnl }
	}
	dd := func(v domain.Price) func(*risk.State) {
		return func(s *risk.State) { s.Limits.MaxDrawdown = domain.Rupees(500); s.Drawdown = v }
	}
	both := func(fs ...func(*risk.State)) func(*risk.State) {
		return func(s *risk.State) {
			for _, f := range fs {
				f(s)
			}
		}
	}
	sell := func(o *risk.Order) { o.Side = domain.Sell }
	long := func(s *risk.State) { s.Position = 75 }
	runGateCases(t, newGate(), []gateCase{
		{"loss at limit", nil, loss(-domain.Rupees(1000)), ok()},
		{"loss one paisa over", nil, loss(-domain.Rupees(1000) - 1), no(risk.RuleMaxDailyLoss, 100000, 100001)},
		{"profit", nil, loss(domain.Rupees(5000)), ok()},
		{"reduce-only during loss breach", sell, both(loss(-domain.Rupees(2000)), long), ok()},
		{"opening sell during loss breach", sell, loss(-domain.Rupees(2000)), no(risk.RuleMaxDailyLoss, 100000, 200000)},
		{"sell beyond the position during breach", func(o *risk.Order) { sell(o); o.Quantity = 150 }, both(loss(-domain.Rupees(2000)), long), no(risk.RuleMaxDailyLoss, 100000, 200000)},
		{"open sells eat the reducible room", sell, both(loss(-domain.Rupees(2000)), long, func(s *risk.State) { s.OpenSellQty = 75 }), no(risk.RuleMaxDailyLoss, 100000, 200000)},
		{"cover a short during breach", nil, both(loss(-domain.Rupees(2000)), func(s *risk.State) { s.Position = -150 }), ok()},
		{"drawdown at limit", nil, dd(domain.Rupees(500)), ok()},
		{"drawdown one paisa over", nil, dd(domain.Rupees(500) + 1), no(risk.RuleMaxDrawdown, 50000, 50001)},
		{"negative drawdown read as magnitude", nil, dd(-domain.Rupees(500) - 1), no(risk.RuleMaxDrawdown, 50000, 50001)},
		{"reduce-only during drawdown breach", sell, both(dd(domain.Rupees(900)), long), ok()},
	})
}

func TestCheckKillSwitch(t *testing.T) {
	t.Parallel()
	kill := func(s *risk.State) { s.KillSwitch = true; s.Position = 150 }
	flatten := func(o *risk.Order) { o.Side, o.Flatten, o.Quantity = domain.Sell, true, 150 }
	runGateCases(t, newGate(), []gateCase{
		{"new order refused", nil, kill, no(risk.RuleKillSwitch, 0, 0)},
		{"reduce-only but not flatten refused", func(o *risk.Order) { o.Side = domain.Sell }, kill, no(risk.RuleKillSwitch, 0, 0)},
		{"flatten allowed", flatten, kill, ok()},
		{"partial flatten allowed", func(o *risk.Order) { flatten(o); o.Quantity = 75 }, kill, ok()},
		{"flatten beyond position refused", func(o *risk.Order) { flatten(o); o.Quantity = 225 }, kill, no(risk.RuleReduceOnly, 150, 225)},
		{"flatten beyond position names kill switch too", func(o *risk.Order) { flatten(o); o.Quantity = 225 }, kill, no(risk.RuleKillSwitch, 0, 0)},
		{"flatten with open sells refused", flatten, func(s *risk.State) { kill(s); s.OpenSellQty = 75 }, no(risk.RuleReduceOnly, 75, 150)},
		{"flatten on the wrong side refused", func(o *risk.Order) { flatten(o); o.Side = domain.Buy }, kill, no(risk.RuleReduceOnly, 0, 150)},
		{"flatten exempt from stale data, collar, size, loss", func(o *risk.Order) { flatten(o); o.Type, o.Price = domain.Market, 0 }, func(s *risk.State) {
			kill(s)
			s.LastPrice, s.LastTickAt, s.UnderlyingTickAt = 0, time.Time{}, time.Time{}
			s.Limits = domain.RiskLimits{MaxOrderQty: 75, MaxOrderLots: 1, MaxOrderNotional: 1, MaxOpenOrders: 1, MaxDailyLoss: 1, MaxDrawdown: 1, PriceCollarBps: 1}
			s.OpenOrders, s.DayPnL, s.Drawdown = 10, -domain.Rupees(1e6), domain.Rupees(1e6)
		}, ok()},
		{"flatten needs the market open", func(o *risk.Order) { flatten(o); o.At = t0.Add(8 * time.Hour) }, func(s *risk.State) {
			kill(s)
			s.LastTickAt = t0.Add(8 * time.Hour)
		}, no(risk.RuleMarketClosed, 0, 0)},
		{"flatten needs lot multiples", func(o *risk.Order) { flatten(o); o.Quantity = 100 }, kill, no(risk.RuleLotMultiple, 75, 100)},
		{"flatten is sliced", func(o *risk.Order) { flatten(o); o.Quantity = 3750 }, func(s *risk.State) { kill(s); s.Position = 3750 }, ok()},
		{"flatten without kill switch: not exempt", flatten, func(s *risk.State) { s.Position = 150; s.LastTickAt = time.Time{} }, no(risk.RuleStaleData, 5000, math.MaxInt64)},
		{"flatten without kill switch must reduce", flatten, nil, no(risk.RuleReduceOnly, 0, 150)},
		{"flatten without kill switch allowed", flatten, func(s *risk.State) { s.Position = 150 }, ok()},
	})
}

func TestCheckSlices(t *testing.T) {
	t.Parallel()
	g := newGate()
	for _, c := range []struct {
		qty, lot, freeze int64
		want             []int64
	}{
		{75, 75, 1800, []int64{75}},
		{1800, 75, 1800, []int64{1800}},
		{1875, 75, 1800, []int64{1800, 75}},
		{3600, 75, 1800, []int64{1800, 1800}},
		{4500, 75, 1800, []int64{1800, 1800, 900}},
		{3750, 75, 1801, []int64{1800, 1800, 150}}, // freeze not a lot multiple: slices stay lot multiples
		{1860, 30, 900, []int64{900, 900, 60}},     // BANKNIFTY-like
		{10000, 0, 0, []int64{10000}},              // no freeze quantity
		{5001, 0, 2500, []int64{2500, 2500, 1}},    // units
	} {
		o, st := baseOrder(), baseState()
		o.Quantity, o.LotSize, o.FreezeQty = c.qty, c.lot, c.freeze
		d := g.Check(o, st)
		if !d.Allowed || !reflect.DeepEqual(d.Slices, c.want) {
			t.Errorf("qty %d lot %d freeze %d: got %+v, want slices %v", c.qty, c.lot, c.freeze, d, c.want)
		}
		if got := risk.Slices(c.qty, c.lot, c.freeze, 0); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Slices(%d, %d, %d) = %v, want %v", c.qty, c.lot, c.freeze, got, c.want)
		}
		for _, q := range d.Slices {
			if (c.freeze > 0 && q > c.freeze) || q%max(c.lot, 1) != 0 {
				t.Errorf("slice %d breaks freeze %d or lot %d", q, c.freeze, c.lot)
			}
		}
	}
	runGateCases(t, g, []gateCase{
		{"freeze below lot", func(o *risk.Order) { o.FreezeQty = 50 }, nil, no(risk.RuleMaxSlices, 50, 75)},
		{"max slices at limit", func(o *risk.Order) { o.Quantity = 1800 * 40 }, nil, ok()},
		{"max slices one over", func(o *risk.Order) { o.Quantity = 1800*40 + 75 }, nil, no(risk.RuleMaxSlices, 40, 41)},
	})
	small := risk.NewGate(risk.Config{Calendar: cal, MaxSlices: 2})
	runGateCases(t, small, []gateCase{
		{"configured max slices", func(o *risk.Order) { o.Quantity = 3675 }, nil, no(risk.RuleMaxSlices, 2, 3)},
	})
	if risk.Slices(1800*41, 75, 1800, 0) != nil || risk.Slices(75, 75, 50, 0) != nil || risk.Slices(0, 75, 1800, 0) != nil {
		t.Error("Slices should return nil for what Check refuses")
	}
}

func TestCheckReportsEveryRuleInOrder(t *testing.T) {
	t.Parallel()
	o := baseOrder()
	o.Quantity, o.Price = 76, 10003
	st := baseState()
	st.KillSwitch = true
	st.LastTickAt = time.Time{}
	st.Limits = domain.RiskLimits{MaxOrderQty: 1, MaxOpenOrders: 1, PriceCollarBps: 1}
	st.OpenOrders = 1
	d := newGate().Check(o, st)
	var got []risk.Rule
	for _, r := range d.Refusals {
		got = append(got, r.Rule)
	}
	want := []risk.Rule{risk.RuleKillSwitch, risk.RuleStaleData, risk.RuleLotMultiple, risk.RuleTickSize,
		risk.RulePriceCollar, risk.RuleMaxOrderQty, risk.RuleMaxOpenOrders}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rules %v, want %v", got, want)
	}
	if r, ok := d.Refusal(); !ok || r.Rule != risk.RuleKillSwitch || r.String() == "" {
		t.Fatalf("first refusal %v", r)
	}
}

func TestCheckDeterministicAndConcurrent(t *testing.T) {
	t.Parallel()
	g := newGate()
	o, st := baseOrder(), baseState()
	o.Quantity = 4500
	st.Limits = domain.RiskLimits{MaxOrderQty: 100, PriceCollarBps: 5}
	o.Price = 10100
	first := g.Check(o, st)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if d := g.Check(o, st); !reflect.DeepEqual(d, first) {
					t.Errorf("decision changed: %+v vs %+v", d, first)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewGatePanicsOnNegativeConfig(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	risk.NewGate(risk.Config{StaleAfter: -1})
}
