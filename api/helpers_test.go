package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/projections"
)

// newReadModel builds the read model the runner and the API know by name.
func newReadModel(name string, reg *codec.Registry) (projections.Projection, bool) {
	switch name {
	case "quotes":
		return projections.NewQuotes(), true
	case "positions":
		return projections.NewPositions(reg), true
	case "orders":
		return projections.NewOrders(reg), true
	case "signals":
		return projections.NewSignals(reg), true
	case "pnl":
		return projections.NewPnL(reg, projections.PnLConfig{}), true
	case "control":
		return projections.NewControl(reg), true
	case "providers":
		return projections.NewProviders(reg), true
	case "options":
		return projections.NewOptions(projections.OptionsConfig{}), true
	}
	return nil, false
}

// allReadModels are the read models newReadModel builds, in the order
// serve runs them.
var allReadModels = []string{"quotes", "positions", "orders", "signals", "pnl", "control", "providers", "options"}

// envConfig configures newTestEnv.
type envConfig struct {
	// now is the server's wall clock (market status, tick and feed ages);
	// zero: the real clock.
	now time.Time
	// readModels names the read models the runner folds, in order; nil:
	// allReadModels.
	readModels []string
	// server, when set, completes the server's configuration before it is
	// built (auth, monitor, WebSocket hub...); the store and the runner are
	// ready by then.
	server func(e *testEnv, cfg *api.Config, deps *api.Deps)
}

// testEnv is the shared fixture of the read-model tests: an embedded
// store whose clock moves a second per recorded event (the first is
// recorded at 2026-11-20 04:00:01 UTC, 09:30:01 IST), a projection runner
// folding read models over it, and the API over both, served with
// httptest. Everything stops when the test ends.
type testEnv struct {
	t      testing.TB
	st     *embedded.Store
	reg    *codec.Registry
	runner *projections.Runner
	srv    *api.Server
	ts     *httptest.Server

	mu     sync.Mutex
	clock  time.Time
	orders int // orders placed by trade, named o1, o2...
}

func newTestEnv(tb testing.TB, cfg envConfig) *testEnv {
	tb.Helper()
	e := &testEnv{t: tb, reg: codec.NewRegistry(), clock: time.Date(2026, 11, 20, 4, 0, 0, 0, time.UTC)}
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: tb.TempDir(), Now: e.tick1s})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	e.st = st
	snaps, err := projections.NewFileSnapshots(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	names := cfg.readModels
	if names == nil {
		names = allReadModels
	}
	ctors := make([]projections.Factory, 0, len(names))
	for _, n := range names {
		if _, ok := newReadModel(n, e.reg); !ok {
			tb.Fatalf("no read model %q", n)
		}
		ctors = append(ctors, func() projections.Projection { p, _ := newReadModel(n, e.reg); return p })
	}
	if e.runner, err = projections.NewRunner(st, snaps, projections.RunnerConfig{}, ctors...); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.runner.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })

	var acfg api.Config
	deps := api.Deps{Events: st, Registry: e.reg, Projections: e.runner}
	if !cfg.now.IsZero() {
		deps.Now = func() time.Time { return cfg.now }
	}
	if cfg.server != nil {
		cfg.server(e, &acfg, &deps)
	}
	e.srv = api.NewServer(acfg, deps)
	e.ts = httptest.NewServer(e.srv.Handler())
	tb.Cleanup(e.ts.Close)
	return e
}

// tick1s is the store's clock.
func (e *testEnv) tick1s() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = e.clock.Add(time.Second)
	return e.clock
}

// append records ev on stream and returns its position.
func (e *testEnv) append(stream string, ev domain.Event) eventstore.Position {
	e.t.Helper()
	d, err := e.reg.Encode(uuid.New(), ev, eventstore.Metadata{})
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.st.Append(context.Background(), stream, eventstore.Any(), d)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Position
}

// tick records a tick stamped 10:00 IST.
func (e *testEnv) tick(exchange, symbol string, ltp domain.Price) eventstore.Position {
	return e.append(domain.TickStream(exchange, symbol), domain.Tick{Provider: "sim", Exchange: exchange, Symbol: symbol,
		ExchangeTime: time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST()), LTP: ltp})
}

// trade records a market order on NIFTY26NOVFUT filled at once at price,
// with ₹20 charges, and returns the fill's position.
func (e *testEnv) trade(account string, mode domain.Mode, side domain.Side, qty int64, price domain.Price) eventstore.Position {
	e.orders++
	id := fmt.Sprintf("o%d", e.orders)
	e.append(domain.OrderStream(id), domain.OrderIntentRecorded{OrderID: id, ClientOrderID: "c" + id, Account: account, Mode: mode,
		Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: side, Quantity: qty, Type: domain.Market, Product: domain.NRML, LotSize: 65})
	return e.append(domain.OrderStream(id), domain.OrderFilled{OrderID: id, TradeID: id + "-1", Quantity: qty, Price: price, FilledQty: qty, Charges: domain.Rupees(20)})
}

// wait returns once every read model has folded position p.
func (e *testEnv) wait(p eventstore.Position) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range e.runner.Names() {
		if err := e.runner.WaitFor(ctx, n, p); err != nil {
			e.t.Fatal(err)
		}
	}
}

// storeHead is the store's last position.
func (e *testEnv) storeHead() eventstore.Position {
	e.t.Helper()
	h, err := e.st.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}
