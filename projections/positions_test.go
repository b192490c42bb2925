package projections_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/projections"
)

var reg = codec.NewRegistry()

// logBuilder makes recorded events with consecutive positions.
type logBuilder struct {
	t      testing.TB
	evs    []eventstore.RecordedEvent
	orders int
	clock  time.Time
	last   string // the symbol of the last tick or order
}

func newLog(t testing.TB) *logBuilder {
	return &logBuilder{t: t, clock: time.Date(2026, 11, 20, 3, 45, 0, 0, time.UTC)}
}

func (b *logBuilder) add(stream string, e domain.Event) *eventstore.RecordedEvent {
	b.t.Helper()
	d, err := reg.Encode(uuid.New(), e, eventstore.Metadata{})
	if err != nil {
		b.t.Fatalf("encode %T: %v", e, err)
	}
	b.clock = b.clock.Add(time.Second)
	b.evs = append(b.evs, eventstore.RecordedEvent{ID: d.ID, Stream: stream, Type: d.Type, Data: d.Data, Metadata: d.Metadata,
		Position: eventstore.Position(len(b.evs) + 1), RecordedAt: b.clock})
	return &b.evs[len(b.evs)-1]
}

func (b *logBuilder) tick(exchange, symbol string, ltp domain.Price) *eventstore.RecordedEvent {
	b.last = symbol
	return b.add(domain.TickStream(exchange, symbol), domain.Tick{Provider: "sim", Exchange: exchange, Symbol: symbol,
		ExchangeTime: b.clock, LTP: ltp})
}

type leg struct {
	account  string
	mode     domain.Mode
	strategy string
	symbol   string
}

var nifty = leg{"paper-1", domain.Paper, "orb", "NIFTY26NOVFUT"}

var niftyCall = leg{"paper-1", domain.Paper, "orb", "NIFTY26NOV24000CE"}

// order appends an intent and one fill per qty in fills, all at price.
func (b *logBuilder) order(l leg, side domain.Side, price, charges domain.Price, fills ...int64) {
	b.orders++
	b.last = l.symbol
	id := fmt.Sprintf("o%d", b.orders)
	var total int64
	for _, q := range fills {
		total += q
	}
	b.add(domain.OrderStream(id), domain.OrderIntentRecorded{OrderID: id, ClientOrderID: "c" + id, Account: l.account, Mode: l.mode,
		Strategy: l.strategy, Exchange: domain.ExchangeNFO, Symbol: l.symbol, Side: side, Quantity: total,
		Type: domain.Market, Product: domain.NRML})
	var cum int64
	for i, q := range fills {
		cum += q
		b.add(domain.OrderStream(id), domain.OrderFilled{OrderID: id, TradeID: fmt.Sprintf("%s-t%d", id, i), Quantity: q,
			Price: price, FilledQty: cum, Charges: charges})
	}
}

func one(t *testing.T, p *projections.Positions, q projections.PositionQuery) projections.PositionView {
	t.Helper()
	vs, _ := p.List(q)
	if len(vs) != 1 {
		t.Fatalf("List(%+v): %d positions, want 1: %+v", q, len(vs), vs)
	}
	return vs[0]
}

func TestPositionAccounting(t *testing.T) {
	rs := domain.Rupees
	paise := func(p int64) domain.Price { return domain.Price(p) }
	type want struct {
		net                int64
		avg, realized, chg domain.Price
		unrealized         domain.Price
	}
	steps := []struct {
		name string
		do   func(b *logBuilder)
		want want
	}{
		{"open long 10 @ 100", func(b *logBuilder) { b.order(nifty, domain.Buy, rs(100), rs(20), 10) },
			want{net: 10, avg: rs(100), chg: rs(20)}},
		{"add 5 @ 103 (two partial fills)", func(b *logBuilder) { b.order(nifty, domain.Buy, rs(103), rs(10), 2, 3) },
			want{net: 15, avg: rs(101), chg: rs(40)}},
		{"tick 102 values the open quantity", func(b *logBuilder) { b.tick(domain.ExchangeNFO, nifty.symbol, rs(102)) },
			want{net: 15, avg: rs(101), chg: rs(40), unrealized: rs(15)}},
		{"partial close 6 @ 105", func(b *logBuilder) { b.order(nifty, domain.Sell, rs(105), rs(20), 6) },
			want{net: 9, avg: rs(101), realized: rs(24), chg: rs(60), unrealized: rs(9)}},
		{"full close 9 @ 99", func(b *logBuilder) { b.order(nifty, domain.Sell, rs(99), rs(20), 9) },
			want{net: 0, realized: rs(6), chg: rs(80)}},
		// From here on fills carry no broker charges and are priced by the
		// schedule (futures: brokerage min(₹20, 0.03%), STT 0.05% on sells,
		// NSE txn + IPFT 0.00183%, SEBI 0.0001%, stamp 0.002% on buys, GST
		// 18% of brokerage + txn + SEBI; each rounded half up to the paisa):
		//   buy 4 @ 100 (turnover 40,000 paise): 12 + txn 1 (0.73) + SEBI 0 + stamp 1 (0.8) + GST 2 (2.34) = 16
		//   sell 10 @ 102 (1,02,000): 31 (30.6) + STT 51 + txn 2 (1.87) + 0 + GST 6 (5.94) = 90
		//   buy 6 @ 101.50 (60,900): 18 (18.27) + txn 1 (1.11) + 0 + stamp 1 (1.22) + GST 3 (3.42) = 23
		//   buy 3 @ 100 (30,000): 9 + txn 1 (0.55) + 0 + stamp 1 (0.6) + GST 2 (1.8) = 13
		//   buy 1 @ 100.01 (10,001): 3 (3.0003) + 0 (0.18) + 0 + stamp 0 (0.2) + GST 1 (0.54) = 4
		//   sell 1 @ 100 (10,000): 3 + STT 5 + 0 (0.18) + 0 + GST 1 (0.54) = 9
		//   sell 2 @ 100 (20,000): 6 + STT 10 + 0 (0.37) + 0 + GST 1 (1.08) = 17
		{"long 4 @ 100 then flip: sell 10 @ 102", func(b *logBuilder) {
			b.order(nifty, domain.Buy, rs(100), 0, 4)
			b.order(nifty, domain.Sell, rs(102), 0, 10)
		}, want{net: -6, avg: rs(102), realized: rs(14), chg: rs(80) + 16 + 90, unrealized: 0}},
		{"tick 101 values the short", func(b *logBuilder) { b.tick(domain.ExchangeNFO, nifty.symbol, rs(101)) },
			want{net: -6, avg: rs(102), realized: rs(14), chg: paise(8106), unrealized: rs(6)}},
		{"cover 6 @ 101.50", func(b *logBuilder) { b.order(nifty, domain.Buy, paise(10150), 0, 6) },
			want{net: 0, realized: rs(17), chg: paise(8106 + 23)}},
		{"short 3 @ 200, cover 3 @ 190", func(b *logBuilder) {
			b.order(nifty, domain.Sell, rs(200), rs(5), 3)
			b.order(nifty, domain.Buy, rs(190), rs(5), 3)
		}, want{net: 0, realized: rs(47), chg: paise(8129 + 1000)}},
		// Rounding: a basis of 400.01 over 4 units; closing in 1+2+1 releases
		// 100.00, 200.01 and 100.00 (each rounded to the paisa) and the round
		// trip realizes exactly sells - buys = -0.01.
		{"buy 3 @ 100 and 1 @ 100.01", func(b *logBuilder) {
			b.order(nifty, domain.Buy, rs(100), 0, 3)
			b.order(nifty, domain.Buy, paise(10001), 0, 1)
		}, want{net: 4, avg: rs(100), realized: rs(47), chg: paise(9129 + 13 + 4), unrealized: paise(4*10100 - 40001)}}, // last tick 101,
		{"sell 1, 2, 1 @ 100", func(b *logBuilder) {
			b.order(nifty, domain.Sell, rs(100), 0, 1)
			b.order(nifty, domain.Sell, rs(100), 0, 2)
			b.order(nifty, domain.Sell, rs(100), 0, 1)
		}, want{net: 0, realized: rs(47) - 1, chg: paise(9146 + 9 + 17 + 9)}},
		// An option (NFO, symbol ending CE) on premium turnover: brokerage
		// flat ₹20 per executed order (once across the order's two fills),
		// STT 0.15% on sells, NSE txn + IPFT 0.03553%, SEBI 0.0001%, stamp
		// 0.003% on buys, GST 18% of brokerage + txn + SEBI:
		//   buy 75 @ 120.50 (9,03,750 paise): 2000 + txn 321 (321.10) + SEBI 1 (0.90) + stamp 27 (27.11) + GST 418 (417.96) = 2767
		//   sell 75 @ 130 (9,75,000): 2000 + STT 1463 (1462.5) + txn 346 (346.42) + SEBI 1 (0.98) + GST 422 (422.46) = 4232
		{"option: buy 75 @ 120.50 in fills of 50 and 25", func(b *logBuilder) { b.order(niftyCall, domain.Buy, paise(12050), 0, 50, 25) },
			want{net: 75, avg: paise(12050), chg: 2767}},
		{"option: sell 75 @ 130", func(b *logBuilder) { b.order(niftyCall, domain.Sell, rs(130), 0, 75) },
			want{net: 0, realized: paise(75 * 950), chg: 2767 + 4232}},
	}
	b := newLog(t)
	p := projections.NewPositions(reg)
	for _, s := range steps {
		from := len(b.evs)
		s.do(b)
		p.Apply(b.evs[from:], b.evs[len(b.evs)-1].Position)
		v := one(t, p, projections.PositionQuery{Symbol: b.last})
		got := want{net: v.NetQty, avg: v.AvgPrice, realized: v.Realized, chg: v.Charges, unrealized: v.Unrealized}
		if got != s.want {
			t.Fatalf("%s: got %+v, want %+v", s.name, got, s.want)
		}
		if v.RealizedNet != v.Realized-v.Charges || v.TotalPnLNet != v.Realized+v.Unrealized-v.Charges || v.NetPnL != v.TotalPnLNet {
			t.Fatalf("%s: net figures inconsistent: %+v", s.name, v)
		}
	}
	v := one(t, p, projections.PositionQuery{Symbol: nifty.symbol})
	if v.SellValue-v.BuyValue != v.Realized || v.BuyQty != v.SellQty {
		t.Errorf("flat position: realized %v, sells-buys %v (qty %d/%d)", v.Realized, v.SellValue-v.BuyValue, v.BuyQty, v.SellQty)
	}
}

func TestPositionsKeptApart(t *testing.T) {
	b := newLog(t)
	b.order(nifty, domain.Buy, domain.Rupees(100), 0, 10)
	live := nifty
	live.mode = domain.Live
	b.order(live, domain.Sell, domain.Rupees(100), 0, 5)
	other := nifty
	other.account, other.strategy = "paper-2", ""
	b.order(other, domain.Buy, domain.Rupees(100), 0, 1)
	b.add(domain.OrderStream("ghost"), domain.OrderFilled{OrderID: "ghost", TradeID: "t", Quantity: 1, Price: 100, FilledQty: 1})
	p := projections.NewPositions(reg)
	p.Apply(b.evs, b.evs[len(b.evs)-1].Position)

	if v := one(t, p, projections.PositionQuery{Accounts: []string{"paper-1"}, Mode: domain.Paper}); v.NetQty != 10 {
		t.Errorf("paper-1 paper: net %d, want 10", v.NetQty)
	}
	if v := one(t, p, projections.PositionQuery{Accounts: []string{"paper-1"}, Mode: domain.Live}); v.NetQty != -5 {
		t.Errorf("paper-1 live: net %d, want -5", v.NetQty)
	}
	if v := one(t, p, projections.PositionQuery{Accounts: []string{"paper-2"}}); v.NetQty != 1 || v.Strategy != "" {
		t.Errorf("paper-2: %+v", v)
	}
	if got, _ := p.List(projections.PositionQuery{Accounts: []string{}}); len(got) != 0 {
		t.Errorf("no accounts allowed: got %d positions", len(got))
	}
	if got, _ := p.List(projections.PositionQuery{Strategy: "orb"}); len(got) != 2 {
		t.Errorf("strategy orb: %d positions, want 2", len(got))
	}
	st, _, _ := p.MarshalState()
	if want := `"orphan_fills":1`; !strings.Contains(string(st), want) {
		t.Errorf("the orphan fill is not counted: %s", st)
	}
}

// adopt appends an admin's adoption of the broker's position (the engine
// held previous before it).
func (b *logBuilder) adopt(account string, mode domain.Mode, symbol string, qty, previous int64, avg domain.Price) {
	b.last = symbol
	b.add(domain.ReconcileStream(account), domain.PositionAdopted{Account: account, Mode: mode, Instrument: domain.ExchangeNFO + ":" + symbol,
		Product: domain.NRML, Quantity: qty, Previous: previous, AvgPrice: avg, By: "root", Reason: "bought in Kite web", At: b.clock})
}

// TestPositionAdopted: an adopted broker position shows in positions at the
// broker's quantity and average, ticks value it, and a fill closing it
// realises against the adopted average. Adopting over a position the log
// has moves it to the broker's quantity (the difference), it does not add
// the broker's quantity to it; nothing is realised, charged or counted as
// a fill by an adoption.
func TestPositionAdopted(t *testing.T) {
	rs := domain.Rupees
	manual := leg{"paper-1", domain.Paper, "", "NIFTY26NOVFUT"}
	type want struct {
		net, adopted, fills int64
		avg, basis          domain.Price
		realized, unreal    domain.Price
	}
	steps := []struct {
		name string
		do   func(b *logBuilder)
		want want
	}{
		{"adopt +65 @ 24,000 from flat", func(b *logBuilder) { b.adopt("paper-1", domain.Paper, manual.symbol, 65, 0, rs(24000)) },
			want{net: 65, adopted: 65, avg: rs(24000), basis: 65 * rs(24000)}},
		{"tick 24,050 values it", func(b *logBuilder) { b.tick(domain.ExchangeNFO, manual.symbol, rs(24050)) },
			want{net: 65, adopted: 65, avg: rs(24000), basis: 65 * rs(24000), unreal: 65 * rs(50)}},
		{"tick 23,990", func(b *logBuilder) { b.tick(domain.ExchangeNFO, manual.symbol, rs(23990)) },
			want{net: 65, adopted: 65, avg: rs(24000), basis: 65 * rs(24000), unreal: -65 * rs(10)}},
		{"sell 65 @ 24,100 closes it against the adopted average", func(b *logBuilder) { b.order(manual, domain.Sell, rs(24100), rs(20), 65) },
			want{adopted: 65, fills: 1, realized: (rs(24100) - rs(24000)) * 65}},
	}
	b := newLog(t)
	p := projections.NewPositions(reg)
	for _, s := range steps {
		from := len(b.evs)
		s.do(b)
		p.Apply(b.evs[from:], b.evs[len(b.evs)-1].Position)
		v := one(t, p, projections.PositionQuery{Symbol: manual.symbol})
		got := want{net: v.NetQty, adopted: v.Adopted, fills: v.Fills, avg: v.AvgPrice, basis: v.Basis, realized: v.Realized, unreal: v.Unrealized}
		if got != s.want {
			t.Fatalf("%s: got %+v, want %+v", s.name, got, s.want)
		}
		if v.Account != "paper-1" || v.Mode != domain.Paper || v.Strategy != "" || v.Product != domain.NRML || v.Exchange != domain.ExchangeNFO {
			t.Fatalf("%s: position %+v", s.name, v.Position)
		}
		if v.Charges != domain.Price(v.Fills)*rs(20) || v.NetQty != v.BuyQty-v.SellQty+v.Adopted {
			t.Fatalf("%s: charges %v, net %d != bought %d - sold %d + adopted %d", s.name, v.Charges, v.NetQty, v.BuyQty, v.SellQty, v.Adopted)
		}
	}
}

// TestPositionAdoptedOverLogPosition: the broker's quantity is the truth:
// an adoption moves the engine's position from Previous to Quantity.
// Adding averages the difference in at the broker's average, reducing keeps
// the average, a flip opens the new side at the broker's average, a flat
// broker closes it; none of it is realised. A strategy's own position is
// left as the strategy traded it: the difference goes to the manual row, so
// the account's rows add up to the broker's quantity.
func TestPositionAdoptedOverLogPosition(t *testing.T) {
	rs := domain.Rupees
	manual := leg{"paper-1", domain.Paper, "", "NIFTY26NOVFUT"}
	b := newLog(t)
	p := projections.NewPositions(reg)
	apply := func(do func()) projections.PositionView {
		t.Helper()
		from := len(b.evs)
		do()
		p.Apply(b.evs[from:], b.evs[len(b.evs)-1].Position)
		rows, _ := p.List(projections.PositionQuery{Symbol: manual.symbol, Accounts: []string{"paper-1"}, Mode: domain.Paper})
		for _, r := range rows {
			if r.Strategy == "" {
				return r
			}
		}
		t.Fatalf("no manual row in %+v", rows)
		return projections.PositionView{}
	}
	check := func(name string, v projections.PositionView, net int64, basis, realized domain.Price) {
		t.Helper()
		if v.NetQty != net || v.Basis != basis || v.Realized != realized {
			t.Fatalf("%s: net %d basis %v realized %v, want %d %v %v", name, v.NetQty, v.Basis, v.Realized, net, basis, realized)
		}
	}
	v := apply(func() { b.order(manual, domain.Buy, rs(23900), 0, 10) })
	check("bought 10 @ 23,900", v, 10, 10*rs(23900), 0)
	// The broker holds 65 @ 24,000: +55 more, not +65.
	v = apply(func() { b.adopt("paper-1", domain.Paper, manual.symbol, 65, 10, rs(24000)) })
	check("adopted 65 over 10", v, 65, 10*rs(23900)+55*rs(24000), 0)
	if v.Adopted != 55 || v.BuyQty != 10 || v.Fills != 1 {
		t.Fatalf("adopted 65 over 10: %+v", v.Position)
	}
	// The broker holds 40: 25 fewer, at the same average, nothing realised.
	v = apply(func() { b.adopt("paper-1", domain.Paper, manual.symbol, 40, 65, rs(24100)) })
	check("adopted 40 over 65", v, 40, 10*rs(23900)+55*rs(24000)-domain.Price(domain.MulDivRound(int64(10*rs(23900)+55*rs(24000)), 25, 65)), 0)
	if v.AvgPrice != domain.Price(domain.MulDivRound(int64(10*rs(23900)+55*rs(24000)), 1, 65)) {
		t.Fatalf("a reduction changed the average: %v", v.AvgPrice)
	}
	// The broker is short 20 @ 24,050: the long is gone, the short opens
	// at the broker's average.
	v = apply(func() { b.adopt("paper-1", domain.Paper, manual.symbol, -20, 40, rs(24050)) })
	check("adopted -20 over 40", v, -20, -20*rs(24050), 0)
	if v.AvgPrice != rs(24050) || v.Adopted != 55-25-60 {
		t.Fatalf("adopted -20 over 40: %+v", v.Position)
	}
	// Covered at 24,000: realised against the adopted 24,050.
	v = apply(func() { b.order(manual, domain.Buy, rs(24000), 0, 20) })
	check("bought 20 @ 24,000", v, 0, 0, 20*rs(50))
	// The broker is flat after the log bought 5 more: the adoption closes
	// the 5, realising nothing.
	v = apply(func() {
		b.order(manual, domain.Buy, rs(24000), 0, 5)
		b.adopt("paper-1", domain.Paper, manual.symbol, 0, 5, 0)
	})
	check("adopted flat over 5", v, 0, 0, 20*rs(50))

	// A strategy's position: orb bought 10 @ 24,000; the broker holds 30.
	// The manual row takes the 20 of difference; orb keeps its 10.
	orb := leg{"paper-1", domain.Paper, "orb", manual.symbol}
	v = apply(func() {
		b.order(orb, domain.Buy, rs(24000), 0, 10)
		b.adopt("paper-1", domain.Paper, manual.symbol, 30, 10, rs(24010))
	})
	check("adopted 30 over orb's 10", v, 20, 20*rs(24010), 20*rs(50))
	rows, _ := p.List(projections.PositionQuery{Accounts: []string{"paper-1"}, Symbol: manual.symbol, OpenOnly: true})
	var total int64
	for _, r := range rows {
		total += r.NetQty
	}
	if len(rows) != 2 || total != 30 {
		t.Fatalf("rows %+v: total %d, want 30 over orb and manual", rows, total)
	}
	// The other mode is another position.
	b.adopt("paper-1", domain.Live, manual.symbol, 65, 0, rs(24000))
	p.Apply(b.evs[len(b.evs)-1:], b.evs[len(b.evs)-1].Position)
	if v := one(t, p, projections.PositionQuery{Mode: domain.Live}); v.NetQty != 65 || v.AvgPrice != rs(24000) {
		t.Fatalf("live adoption: %+v", v)
	}
	st, _, _ := p.MarshalState()
	if strings.Contains(string(st), `"bad_events":1`) {
		t.Fatalf("bad events: %s", st)
	}
}
