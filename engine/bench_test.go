package engine

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/instruments"
)

// benchTicks is a NIFTY future random walk, one tick every 200 ms from the
// 2026-11-20 open, on the 0.05 grid, with a one-tick spread.
func benchTicks(n int) []domain.Tick {
	r := rand.New(rand.NewPCG(1, 2))
	open := time.Date(2026, 11, 20, 9, 15, 0, 0, domain.IST())
	px := domain.Rupees(26000)
	out := make([]domain.Tick, n)
	for i := range out {
		px += domain.Price(r.IntN(9)-4) * 5
		out[i] = domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT",
			ExchangeTime: open.Add(time.Duration(i) * 200 * time.Millisecond), LTP: px, Bid: px - 5, Ask: px + 5, BidQty: 650, AskQty: 650}
	}
	return out
}

// BenchmarkEngineTicks: ticks through the engine's live path (paper
// broker fills, ma-crossover on every tick with 60 s bars, its signals
// through the risk gate to the paper broker, whose orders and fills are
// appended to an embedded store), against a probe that only keeps the last
// tick per instrument in a map, the least any tick consumer does. It
// reports ticks/s, the p99 of one tick's processing, and signals raised.
func BenchmarkEngineTicks(b *testing.B) {
	const n = 100_000 // 5.5 hours of one instrument at 5 ticks/s: a trading day
	ticks := benchTicks(n)
	master, err := instruments.Simulated(instruments.SimConfig{At: ticks[0].ExchangeTime})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := strategy.NewRegistry(strategy.Builtins()...)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		b.StopTimer()
		st, err := embedded.Open(context.Background(), embedded.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		e := benchEngine(b, st, codec.NewRegistry(), reg, master)
		head, err := st.Head(ctx) // the ticks come after the strategy was enabled
		if err != nil {
			b.Fatal(err)
		}
		lat := make([]time.Duration, 0, n)
		b.StartTimer()
		start := time.Now()
		for i := range ticks {
			t0 := time.Now()
			e.mu.Lock()
			e.ticks["NFO:NIFTY26NOVFUT"] = ticks[i]
			e.tickAt.Store(ticks[i].ExchangeTime.UnixNano())
			e.mu.Unlock()
			e.onTick(ctx, ticks[i], head+eventstore.Position(i+1), uuid.Nil)
			lat = append(lat, time.Since(t0))
		}
		elapsed := time.Since(start)
		b.StopTimer()

		// Probe: the same ticks into a last-tick map.
		last := map[string]domain.Tick{}
		pstart := time.Now()
		for i := range ticks {
			last[ticks[i].Exchange+":"+ticks[i].Symbol] = ticks[i]
		}
		pel := time.Since(pstart)
		if len(last) != 1 {
			b.Fatal("probe")
		}
		slices.Sort(lat)
		sigs := e.Strategies(nil)[0].Signals
		rate, prate := float64(n)/elapsed.Seconds(), float64(n)/pel.Seconds()
		b.ReportMetric(rate, "ticks/s")
		b.ReportMetric(prate, "probe_ticks/s")
		b.ReportMetric(rate/prate, "ratio")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99_ns/tick")
		b.ReportMetric(float64(sigs), "signals")
		b.Logf("%d ticks: engine %.0f ticks/s (p50 %v, p99 %v, max %v per tick; %d signals, each appended with its orders and fills); probe %.0f ticks/s; ratio %.3f",
			n, rate, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], sigs, prate, rate/prate)
		st.Close()
		b.StartTimer()
	}
}

// BenchmarkEngineRecorded: recorded ticks through the engine as a replay
// of the log drives it (the backtest issue's path): a day of NIFTY future
// ticks (50 a second, 09:15-15:30: 1,125,000) already in an embedded store
// are streamed (Scan), decoded, folded and handed to the paper broker and
// ma-crossover (60 s bars), whose signals, orders and fills are appended to
// a second store. The probe reads and decodes the same ticks into a
// last-tick map, the least a consumer of recorded ticks does. Run with
// -cpu 1 for the one-core figure.
func BenchmarkEngineRecorded(b *testing.B) {
	const perDay = 1_125_000
	ctx := context.Background()
	reg := codec.NewRegistry()
	rec, err := embedded.Open(ctx, embedded.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Close()
	rnd := rand.New(rand.NewPCG(5, 6))
	open := time.Date(2026, 11, 20, 9, 15, 0, 0, domain.IST())
	px := domain.Rupees(26000)
	batch := make([]eventstore.EventData, 0, 8192)
	for i := range perDay {
		px += domain.Price(rnd.IntN(9)-4) * 5
		t := domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT",
			ExchangeTime: open.Add(time.Duration(i) * 20 * time.Millisecond), LTP: px, Bid: px - 5, Ask: px + 5, BidQty: 650, AskQty: 650}
		d, err := reg.Encode(uuid.New(), t, eventstore.Metadata{})
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, d)
		if len(batch) == cap(batch) || i == perDay-1 {
			if _, err := rec.Append(ctx, t.Stream(), eventstore.Any(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	master, err := instruments.Simulated(instruments.SimConfig{At: open})
	if err != nil {
		b.Fatal(err)
	}
	strategies, err := strategy.NewRegistry(strategy.Builtins()...)
	if err != nil {
		b.Fatal(err)
	}
	// scan streams the recorded log, as Load and a strategy replay do.
	scan := func(fn func(*eventstore.RecordedEvent)) {
		if err := rec.Scan(ctx, 0, eventstore.Filter{}, func(ev *eventstore.RecordedEvent) bool { fn(ev); return true }); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		out, err := embedded.Open(ctx, embedded.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		e := benchEngine(b, out, reg, strategies, master)
		b.StartTimer()
		start := time.Now()
		n := 0
		scan(func(ev *eventstore.RecordedEvent) {
			e.mu.Lock()
			t, ok := e.foldRecorded(ev)
			e.mu.Unlock()
			if ok {
				e.onTick(ctx, t, ev.Position, ev.ID)
				n++
			}
		})
		elapsed := time.Since(start)
		b.StopTimer()

		last := map[string]domain.Tick{}
		pstart := time.Now()
		pn := 0
		scan(func(ev *eventstore.RecordedEvent) {
			de, err := reg.Decode(ev)
			if err != nil {
				b.Fatal(err)
			}
			t := de.(domain.Tick)
			last[t.Exchange+":"+t.Symbol] = t
			pn++
		})
		pel := time.Since(pstart)
		if n != perDay || pn != perDay {
			b.Fatalf("engine saw %d ticks, probe %d, want %d", n, pn, perDay)
		}
		sigs := e.Strategies(nil)[0].Signals
		if sigs == 0 {
			b.Fatal("no signals: the strategy did not trade")
		}
		rate, prate := float64(n)/elapsed.Seconds(), float64(pn)/pel.Seconds()
		b.ReportMetric(rate, "ticks/s")
		b.ReportMetric(prate, "probe_ticks/s")
		b.ReportMetric(rate/prate, "ratio")
		b.ReportMetric(float64(sigs), "signals")
		b.Logf("%d recorded ticks: engine %.0f ticks/s (%d signals), probe (read+decode) %.0f ticks/s; ratio %.3f", n, rate, sigs, prate, rate/prate)
		out.Close()
		b.StartTimer()
	}
}

// benchEngine is an engine over st with paper brokers on event time and
// ma-crossover (5/20 on ticks of NIFTY26NOVFUT) enabled and trading on
// paper-bench, as both benchmarks run it.
func benchEngine(b *testing.B, st Store, reg *codec.Registry, strategies *strategy.Registry, master *instruments.Master) *Engine {
	b.Helper()
	var e *Engine
	e = New(st, reg, Config{Strategies: strategies, StrategyEnv: MasterEnv{master},
		Now:        func() time.Time { return e.EventTime() },
		Instrument: func(ex, sym string) (domain.Instrument, bool) { return master.Lookup(ex + ":" + sym) },
		BrokerFor: func(account string, _ domain.Mode) (Broker, error) {
			return paper.New(paper.Config{Account: account, Now: e.EventTime})
		}})
	ctx := context.Background()
	actor := Actor{User: "bench", Admin: true, Trader: true}
	params, _ := json.Marshal(map[string]any{"symbol": "NIFTY26NOVFUT", "fast": 5, "slow": 20})
	if _, err := e.EnableStrategy(ctx, actor, "paper-bench", "ma-crossover", params); err != nil {
		b.Fatal(err)
	}
	if _, err := e.Command(ctx, actor, "paper-bench", CmdStart, "bench", false); err != nil {
		b.Fatal(err)
	}
	return e
}
