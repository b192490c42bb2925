package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/ingest"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/internal/probe"
)

// BenchmarkIngestSpeed0 records b.N simulated ticks end to end, as
// `algoauto serve --speed 0` does: sim feed -> Watermill router (GoChannel)
// -> recorder (Block policy) -> embedded store, fsync per batch. Probes in
// the same run: the feed alone (ticks generated per second) and the disk
// (write + fdatasync every 1,000 records of the ticks' size).
func BenchmarkIngestSpeed0(b *testing.B) { ingestSpeed0(b, false) }

// BenchmarkIngestSpeed0Options is the same with the simulated option
// chains (about 80 streams instead of 4: a batch is many small appends).
func BenchmarkIngestSpeed0Options(b *testing.B) { ingestSpeed0(b, true) }

func ingestSpeed0(b *testing.B, options bool) {
	dir := b.TempDir()
	ctx := context.Background()
	st, err := embedded.Open(ctx, embedded.Config{Dir: dir + "/store"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 11, 20, 9, 15, 0, 0, domain.IST())
	feed, err := sim.New(sim.Config{Seed: 1, Start: start, Speed: 0, Limit: int64(b.N), Options: options})
	if err != nil {
		b.Fatal(err)
	}
	rec, err := ingest.NewRecorder(st, codec.NewRegistry(), ingest.Config{Provider: "sim", Overflow: ingest.Block})
	if err != nil {
		b.Fatal(err)
	}
	tb, err := bus.NewTickBus(nil, rec.AcceptBatch)
	if err != nil {
		b.Fatal(err)
	}
	rctx, stopRec := context.WithCancel(ctx)
	recDone := make(chan error, 1)
	go func() { recDone <- rec.Run(rctx) }()
	busDone := make(chan error, 1)
	go func() { busDone <- tb.Run(ctx) }()
	<-tb.Running()

	b.ResetTimer()
	t0 := time.Now()
	if err := feed.Run(ctx, tb.Publish); err != nil {
		b.Fatal(err)
	}
	for rec.Stats().Recorded < int64(b.N) {
		time.Sleep(100 * time.Microsecond) // polling for completion, not a fixed wait
	}
	el := time.Since(t0)
	b.StopTimer()
	_ = tb.Close()
	<-busDone
	stopRec()
	if err := <-recDone; err != nil {
		b.Fatal(err)
	}
	if h, _ := st.Head(ctx); h != eventstore.Position(b.N) {
		b.Fatalf("head %d after recording %d ticks", h, b.N)
	}
	s := rec.Stats()
	if s.Dropped != 0 || s.Invalid != 0 {
		b.Fatalf("dropped %d, invalid %d", s.Dropped, s.Invalid)
	}

	// Probe 1: the feed alone.
	feed2, _ := sim.New(sim.Config{Seed: 1, Start: start, Speed: 0, Limit: int64(b.N), Options: options})
	g0 := time.Now()
	var n int
	_ = feed2.Run(ctx, func(_ context.Context, ticks []domain.Tick) error { n += len(ticks); return nil })
	gel := time.Since(g0)
	// Probe 2: the disk at the batch size the recorder reached.
	avgBatch := max(1, b.N/int(max(1, s.Batches)))
	pr, err := probe.WriteSync(dir, b.N, 64, min(avgBatch, 8192))
	if err != nil {
		b.Fatal(err)
	}
	rate := float64(b.N) / el.Seconds()
	b.ReportMetric(rate, "ticks/s")
	b.ReportMetric(float64(n)/gel.Seconds(), "feed-only-ticks/s")
	b.ReportMetric(pr.PerSecond, "probe-disk-records/s")
	b.ReportMetric(rate/pr.PerSecond, "ratio-to-disk")
	b.ReportMetric(float64(avgBatch), "ticks/batch")
}
