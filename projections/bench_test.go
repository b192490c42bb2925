package projections_test

import (
	"testing"
	"time"

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
