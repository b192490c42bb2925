package strategy_test

import (
	"fmt"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/strategy"
)

// breakout buys one lot when the LTP of an instrument rises above a level,
// once. It is a complete strategy: deterministic (its state is what it was
// given), legs with stable ids, and it waits for its fill before it
// considers itself long.
type breakout struct {
	exchange, symbol string
	level            domain.Price
	lot              int64
	sent, long       bool
}

func (b *breakout) Name() string { return "breakout" }

func (b *breakout) OnTick(env strategy.Env, t domain.Tick) []strategy.Signal {
	if b.sent || t.Exchange != b.exchange || t.Symbol != b.symbol || t.LTP <= b.level {
		return nil // the common case: no allocation
	}
	b.sent = true
	return []strategy.Signal{{
		Leg: "entry", Exchange: b.exchange, Symbol: b.symbol, Side: domain.Buy, Quantity: b.lot, LotSize: b.lot,
		OrderType: domain.Market, Product: domain.MIS, RefPrice: t.LTP, At: t.ExchangeTime,
		Reason: fmt.Sprintf("LTP %v above %v", t.LTP, b.level),
	}}
}

func (b *breakout) OnFill(env strategy.Env, f strategy.Fill) []strategy.Signal {
	if f.Leg == "entry" && f.Quantity > 0 {
		b.long = true
	}
	return nil
}

func (b *breakout) OnTimer(strategy.Env, time.Time) []strategy.Signal { return nil }

func (b *breakout) State() any { return map[string]any{"sent": b.sent, "long": b.long} }

// Example shows how to write a strategy: a Definition (name, parameter
// schema with defaults and ranges, Build) whose Build returns a Strategy.
// serve's registry (cmd/algoauto/trading.go) lists the definitions that
// accounts may enable with POST /api/v1/autonomous/enable; the engine
// validates the parameters against the schema before Build sees them.
func Example() {
	def := strategy.Definition{
		Name:        "breakout",
		Description: "Buys one lot when the LTP rises above a level.",
		Params: []strategy.Param{
			{Name: "symbol", Type: strategy.TypeString, Default: "NIFTY26NOVFUT", Description: "NFO tradingsymbol."},
			{Name: "level", Type: strategy.TypeNumber, Default: 24500.0, Min: 0.05, Description: "Rupees."},
			{Name: "lot", Type: strategy.TypeInt, Default: int64(75), Min: int64(1), Description: "Units per order."},
		},
		Build: func(p strategy.Params) (strategy.Strategy, error) {
			return &breakout{exchange: domain.ExchangeNFO, symbol: p.String("symbol"),
				level: domain.Price(p.Number("level")*100 + 0.5), lot: p.Int("lot")}, nil
		},
	}
	reg, err := strategy.NewRegistry(append(strategy.Builtins(), def)...)
	if err != nil {
		panic(err)
	}
	// What the engine does when an account enables it:
	if _, err := reg.New("breakout", []byte(`{"level": -1}`)); err != nil {
		fmt.Println(err)
	}
	s, err := reg.New("breakout", []byte(`{"level": 24500}`))
	if err != nil {
		panic(err)
	}
	at := time.Date(2026, 11, 23, 9, 20, 0, 0, domain.IST())
	for _, ltp := range []domain.Price{domain.Rupees(24490), domain.Rupees(24510), domain.Rupees(24520)} {
		for _, sig := range s.OnTick(nil, domain.Tick{Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", LTP: ltp, ExchangeTime: at}) {
			fmt.Println(sig.Leg, sig.Side, sig.Quantity, sig.Reason)
		}
	}
	s.OnFill(nil, strategy.Fill{Leg: "entry", Quantity: 75, Price: domain.Rupees(24511), Done: true})
	fmt.Println(s.State())
	// Output:
	// breakout: invalid parameters: level: must be >= 0.05, got -1
	// entry BUY 75 LTP 24510.00 above 24500.00
	// map[long:true sent:true]
}
