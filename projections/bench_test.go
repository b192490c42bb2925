package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/projections"
)

// benchTicks builds n recorded tick events over the simulator's four
// instruments, with an order and fill every 1,000 ticks.
func benchTicks(b *testing.B, n int) []eventstore.RecordedEvent {
	lb := newLog(b)
	syms := []struct{ ex, sym string }{{"NSE", "NIFTY 50"}, {"NFO", "NIFTY26NOVFUT"}, {"NSE", "NIFTY BANK"}, {"NFO", "BANKNIFTY26NOVFUT"}}
	for i := range n {
		s := syms[i%len(syms)]
		lb.tick(s.ex, s.sym, domain.Rupees(26000)+domain.Price(i%400)*5)
		if i%1000 == 999 {
			side := domain.Buy
			if i%2000 == 999 {
				side = domain.Sell
			}
			lb.order(nifty, side, domain.Rupees(26000), 0, 65)
		}
	}
	return lb.evs
}

// BenchmarkProjectionApply folds a tick stream into quotes and positions in
// pages of 512 (as a subscription delivers them). The probe is the bare
// binary decode of the same ticks: the floor any tick projection pays.
func BenchmarkProjectionApply(b *testing.B) {
	evs := benchTicks(b, 1_000_000)
	const page = 512
	probe := func() float64 {
		var d codec.TickDecoder
		var t domain.Tick
		var sum domain.Price
		start := time.Now()
		for i := range evs {
			if evs[i].Type == domain.TypeTickReceived {
				if err := d.Decode(evs[i].Data, &t); err != nil {
					b.Fatal(err)
				}
				sum += t.LTP
			}
		}
		if sum == 0 {
			b.Fatal("no ticks decoded")
		}
		return float64(len(evs)) / time.Since(start).Seconds()
	}
	for _, tc := range []struct {
		name string
		make func() projections.Projection
	}{
		{"quotes", func() projections.Projection { return projections.NewQuotes() }},
		{"positions", func() projections.Projection { return projections.NewPositions(reg) }},
		{"pnl", func() projections.Projection { return projections.NewPnL(reg, projections.PnLConfig{}) }},
		{"providers", func() projections.Projection { return projections.NewProviders(reg) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var rate, base float64
			for b.Loop() {
				base = probe()
				p := tc.make()
				start := time.Now()
				for i := 0; i < len(evs); i += page {
					end := min(i+page, len(evs))
					p.Apply(evs[i:end], evs[end-1].Position)
				}
				rate = float64(len(evs)) / time.Since(start).Seconds()
				if p.Position() != evs[len(evs)-1].Position {
					b.Fatalf("folded to %d", p.Position())
				}
			}
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(base, "probe-decode-events/s")
			b.ReportMetric(rate/base, "ratio-to-decode")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// simOptionEvents records n ticks of the simulator with option chains
// (rounds of a second: the four index and futures ticks, then the options
// that tick in the round, about 55 ticks a round) as tick events.
func simOptionEvents(b *testing.B, n int64) []eventstore.RecordedEvent {
	b.Helper()
	f, err := sim.New(sim.Config{Seed: 1, Start: time.Date(2026, 11, 20, 9, 15, 0, 0, domain.IST()), Interval: time.Second,
		Limit: n, Options: true})
	if err != nil {
		b.Fatal(err)
	}
	lb := newLog(b)
	if err := f.Run(context.Background(), func(_ context.Context, ts []domain.Tick) error {
		for _, tk := range ts {
			lb.add(tk.Stream(), tk)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return lb.evs
}

// BenchmarkOptionTicksApply folds the simulator's ticks with option chains
// into the quotes and options read models, in pages of 512 as a
// subscription delivers them, and reports the cost per event (the figure
// to compare before and after a change to the fold). The probe, run before
// each fold, is the bare binary decode of the same events; the ratio is
// fold time over probe time (lower is better, 1 would be a free fold).
func BenchmarkOptionTicksApply(b *testing.B) {
	evs := simOptionEvents(b, 500_000)
	const page = 512
	probe := func(b *testing.B) time.Duration {
		var d codec.TickDecoder
		var t domain.Tick
		var sum domain.Price
		start := time.Now()
		for i := range evs {
			if err := d.Decode(evs[i].Data, &t); err != nil {
				b.Fatal(err)
			}
			sum += t.LTP
		}
		if sum == 0 {
			b.Fatal("no ticks decoded")
		}
		return time.Since(start)
	}
	for _, tc := range []struct {
		name string
		make func() projections.Projection
	}{
		{"quotes", func() projections.Projection { return projections.NewQuotes() }},
		{"options", func() projections.Projection { return projections.NewOptions(projections.OptionsConfig{}) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var folded, decoded time.Duration
			var runs int
			for b.Loop() {
				decoded += probe(b)
				p := tc.make()
				start := time.Now()
				for i := 0; i < len(evs); i += page {
					end := min(i+page, len(evs))
					p.Apply(evs[i:end], evs[end-1].Position)
				}
				folded += time.Since(start)
				runs++
				if p.Position() != evs[len(evs)-1].Position {
					b.Fatalf("folded to %d", p.Position())
				}
			}
			n := float64(runs * len(evs))
			b.ReportMetric(float64(folded.Nanoseconds())/n, "ns/event")
			b.ReportMetric(float64(decoded.Nanoseconds())/n, "probe-decode-ns/event")
			b.ReportMetric(float64(folded)/float64(decoded), "ratio-to-decode")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkOptionChain reads the NIFTY chain (21 strikes, calls and puts,
// each option's Greeks at the IV solved from its mid quote) from the
// options read model: "unchanged" reads it again with nothing folded in
// between (every option's Greeks are remembered), "ticked" folds the next
// 2,000 ticks (about 36 rounds of a second: every NIFTY option ticks)
// before each read, outside the timer, so that every IV is solved afresh.
func BenchmarkOptionChain(b *testing.B) {
	evs := simOptionEvents(b, 400_000)
	read := func(b *testing.B, o *projections.Options) {
		ch, _, err := o.Chain("NIFTY", "")
		if err != nil || len(ch.Strikes) == 0 || ch.Strikes[0].CE == nil || ch.Strikes[0].CE.Greeks == nil {
			b.Fatalf("chain %+v: %v", ch, err)
		}
	}
	b.Run("unchanged", func(b *testing.B) {
		o := projections.NewOptions(projections.OptionsConfig{})
		o.Apply(evs[:20_000], evs[19_999].Position)
		for b.Loop() {
			read(b, o)
		}
	})
	b.Run("ticked", func(b *testing.B) {
		const step = 2000
		o := projections.NewOptions(projections.OptionsConfig{})
		next := 0
		for b.Loop() {
			b.StopTimer()
			if next+step > len(evs) {
				o, next = projections.NewOptions(projections.OptionsConfig{}), 0
			}
			o.Apply(evs[next:next+step], evs[next+step-1].Position)
			next += step
			b.StartTimer()
			read(b, o)
		}
	})
}
