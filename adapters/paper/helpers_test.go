package paper_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
)

// The paper broker is the engine's broker and tick filler.
var (
	_ engine.Broker     = (*paper.Broker)(nil)
	_ engine.TickFiller = (*paper.Broker)(nil)
)

const (
	account = "acct1"
	fut     = "NIFTY26NOVFUT"     // NFO future: futures charges
	opt     = "NIFTY26NOV24500CE" // NFO option: options charges
	fut2    = "BANKNIFTY26NOVFUT"
)

var ctx = context.Background()

// at returns an instant on Monday 2026-11-23, IST.
func at(h, m, s int, ms int) time.Time {
	return time.Date(2026, 11, 23, h, m, s, ms*int(time.Millisecond), domain.IST())
}

// rs is rupees with paise: rs(100, 5) is 100.05.
func rs(r, p int64) domain.Price { return domain.Price(r*100 + p) }

// clock is the engine clock of a test, set by hand and by ticks.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixture is a broker with a clock that ticks move forward, as the
// engine's event-time clock does in a backtest.
type fixture struct {
	t   *testing.T
	b   *paper.Broker
	clk *clock
	cfg paper.Config
}

func newFixture(t *testing.T, cfg paper.Config) *fixture {
	t.Helper()
	clk := &clock{t: at(10, 0, 0, 0)}
	if cfg.Account == "" {
		cfg.Account = account
	}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	b, err := paper.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &fixture{t: t, b: b, clk: clk, cfg: cfg}
}

// order is a test order: the fields of an intent that vary.
type order struct {
	id       string
	exchange string // default NFO
	symbol   string
	side     domain.Side
	typ      domain.OrderType
	product  domain.Product
	qty      int64
	price    domain.Price
	trigger  domain.Price
}

func (o order) intent() domain.OrderIntentRecorded {
	in := domain.OrderIntentRecorded{
		OrderID: "o-" + o.id, ClientOrderID: o.id, Account: account, Mode: domain.Paper, Strategy: "s1",
		Exchange: domain.ExchangeNFO, Symbol: o.symbol, Side: o.side, Quantity: o.qty, Type: o.typ,
		Product: o.product, Price: o.price, TriggerPrice: o.trigger,
	}
	if in.Symbol == "" {
		in.Symbol = fut
	}
	if o.exchange != "" {
		in.Exchange = o.exchange
	}
	if in.Product == "" {
		in.Product = domain.NRML
	}
	if in.Type == "" {
		in.Type = domain.Market
	}
	return in
}

func (f *fixture) place(o order) domain.ExecutionReport {
	f.t.Helper()
	rep, err := f.b.Place(ctx, o.intent())
	if err != nil {
		f.t.Fatalf("Place %s: %v", o.id, err)
	}
	return rep
}

// quote is a tick of an instrument.
type quote struct {
	symbol   string
	at       time.Time
	ltp      domain.Price
	bid      domain.Price
	bidQty   int64
	ask      domain.Price
	askQty   int64
	exchange string
}

func (q quote) tick() domain.Tick {
	t := domain.Tick{Provider: "test", Exchange: domain.ExchangeNFO, Symbol: q.symbol, ExchangeTime: q.at,
		LTP: q.ltp, Bid: q.bid, BidQty: q.bidQty, Ask: q.ask, AskQty: q.askQty}
	if t.Symbol == "" {
		t.Symbol = fut
	}
	if q.exchange != "" {
		t.Exchange = q.exchange
	}
	if t.LTP == 0 {
		t.LTP = max(t.Bid, t.Ask)
	}
	return t
}

// tick hands a tick to the broker, moving the engine clock to its time.
func (f *fixture) tick(q quote) []domain.ExecutionReport {
	f.t.Helper()
	t := q.tick()
	if err := t.Validate(); err != nil {
		f.t.Fatalf("bad test tick: %v", err)
	}
	f.clk.Set(t.ExchangeTime)
	return f.b.OnTick(t)
}

func (f *fixture) lookup(id string) domain.BrokerOrder {
	f.t.Helper()
	o, ok, err := f.b.Lookup(ctx, id)
	if err != nil || !ok {
		f.t.Fatalf("Lookup %s: ok %v, err %v", id, ok, err)
	}
	return o
}

func (f *fixture) positions() []domain.BrokerPosition {
	f.t.Helper()
	ps, err := f.b.Positions(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return ps
}

// fill is the part of a FILLED report a test checks.
type fill struct {
	id        string
	qty       int64
	price     domain.Price
	filledQty int64
}

func fillsOf(reps []domain.ExecutionReport) []fill {
	var out []fill
	for _, r := range reps {
		if r.Kind == domain.ReportFilled {
			out = append(out, fill{r.ClientOrderID, r.Quantity, r.Price, r.FilledQty})
		}
	}
	return out
}

func kinds(reps []domain.ExecutionReport) []string {
	var out []string
	for _, r := range reps {
		out = append(out, fmt.Sprintf("%s %s", r.Kind, r.ClientOrderID))
	}
	return out
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}
