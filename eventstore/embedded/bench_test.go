package embedded_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/eventstore/eventstoretest"
	"github.com/algoauto/algoauto/internal/probe"
)

// Benchmarks report the system under test and its baseline probe from the
// same run, and their ratio (see BENCHMARKS.md for the commands and the
// figures). b.N counts events.

var r1Events = flag.Int("r1.events", 10_000_000, "ticks in the R1 replay benchmark's store")

func benchStore(b *testing.B, dir string) *embedded.Store {
	b.Helper()
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

func payload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

func report(b *testing.B, events int, el time.Duration, probeRate float64, unit string) {
	rate := float64(events) / el.Seconds()
	b.ReportMetric(rate, unit)
	b.ReportMetric(probeRate, "probe-"+unit)
	b.ReportMetric(rate/probeRate, "ratio")
}

// BenchmarkA1OneEventPerAppend: one writer, one 128-byte event per append,
// fsync before ack; probe: write 128 B + fdatasync per record.
func BenchmarkA1OneEventPerAppend(b *testing.B) {
	dir := b.TempDir()
	st := benchStore(b, dir)
	data := payload(128)
	ctx := context.Background()
	for range 200 { // warm up
		_, _ = st.Append(ctx, "a1", eventstore.Any(), eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "E", Data: data})
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		t := time.Now()
		if _, err := st.Append(ctx, "a1", eventstore.Any(), eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "E", Data: data}); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t)
	}
	el := time.Since(start)
	b.StopTimer()
	pr, err := probe.WriteSync(dir, b.N, 128, 1)
	if err != nil {
		b.Fatal(err)
	}
	report(b, b.N, el, pr.PerSecond, "appends/s")
	_, p99 := probe.Percentiles(lat)
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(pr.P99.Microseconds()), "probe-p99-µs")
	b.ReportMetric(float64(p99)/float64(pr.P99), "p99-ratio")
}

// BenchmarkA2GroupCommit64: 64 goroutines each appending one 128-byte event
// at a time; the store group-commits them. Probe: fdatasync every 100
// records.
func BenchmarkA2GroupCommit64(b *testing.B) {
	dir := b.TempDir()
	st := benchStore(b, dir)
	data := payload(128)
	ctx := context.Background()
	const writers = 64
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		n := b.N / writers
		if w < b.N%writers {
			n++
		}
		wg.Go(func() {
			mine := make([]time.Duration, 0, n)
			for range n {
				t := time.Now()
				if _, err := st.Append(ctx, fmt.Sprintf("a2-%d", w), eventstore.Any(), eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "E", Data: data}); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	pr, err := probe.WriteSync(dir, b.N, 128, 100)
	if err != nil {
		b.Fatal(err)
	}
	report(b, b.N, el, pr.PerSecond, "events/s")
	_, p99 := probe.Percentiles(lat)
	b.ReportMetric(float64(p99.Microseconds()), "commit-p99-µs")
}

// BenchmarkA2Batch100: one writer appending batches of 100 128-byte events.
// Probe: fdatasync every 100 records.
func BenchmarkA2Batch100(b *testing.B) { benchBatches(b, 100, 128) }

// BenchmarkBatch1000Ticks: one writer appending batches of 1,000 binary
// ticks (about 60 bytes each). Probe: fdatasync every 1,000 64-byte records.
func BenchmarkBatch1000Ticks(b *testing.B) { benchBatches(b, 1000, 0) }

func simTicks(b *testing.B, n int) []domain.Tick {
	b.Helper()
	f, err := sim.New(sim.Config{Seed: 1, Start: time.Date(2026, 11, 20, 9, 15, 0, 0, domain.IST()), Speed: 0, Limit: int64(n), BatchSize: 4096})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]domain.Tick, 0, n)
	err = f.Run(context.Background(), func(_ context.Context, ticks []domain.Tick) error {
		out = append(out, ticks...)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// benchBatches appends b.N events in batches; size 0 means sim ticks.
func benchBatches(b *testing.B, batch, size int) {
	dir := b.TempDir()
	st := benchStore(b, dir)
	reg := codec.NewRegistry()
	ctx := context.Background()
	var evs []eventstore.EventData
	recSize := size
	if size == 0 {
		ticks := simTicks(b, batch)
		for _, t := range ticks {
			e, err := reg.Encode(uuid.Nil, t, eventstore.Metadata{})
			if err != nil {
				b.Fatal(err)
			}
			evs = append(evs, e)
			recSize += len(e.Data)
		}
		recSize /= len(ticks)
	} else {
		data := payload(size)
		for range batch {
			evs = append(evs, eventstore.EventData{Type: "E", Data: data})
		}
	}
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += batch {
		k := min(batch, b.N-done)
		for i := range k {
			evs[i].ID = uuid.Must(uuid.NewV7())
		}
		if _, err := st.Append(ctx, "batch", eventstore.Any(), evs[:k]...); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	pr, err := probe.WriteSync(dir, b.N, recSize, batch)
	if err != nil {
		b.Fatal(err)
	}
	report(b, b.N, el, pr.PerSecond, "events/s")
	b.ReportMetric(float64(recSize), "bytes/event")
}

var r1Once struct {
	sync.Once
	root, dir, file string
	err             error
}

// r1Setup records *r1Events sim ticks into a store (batches of 1,000 per
// instrument stream, as the recorder writes them) and the same ticks into a
// plain file for the probe. It is built once per test binary run.
func r1Setup(b *testing.B) (string, string) {
	r1Once.Do(func() {
		dir, err := os.MkdirTemp("", "algoauto-r1-")
		if err != nil {
			r1Once.err = err
			return
		}
		r1Once.root = dir // removed by TestMain
		st, err := embedded.Open(context.Background(), embedded.Config{Dir: dir + "/store"})
		if err != nil {
			r1Once.err = err
			return
		}
		defer st.Close()
		reg := codec.NewRegistry()
		f, err := sim.New(sim.Config{Seed: 7, Start: time.Date(2026, 11, 2, 9, 15, 0, 0, domain.IST()), Speed: 0, Limit: int64(*r1Events), BatchSize: 4000})
		if err != nil {
			r1Once.err = err
			return
		}
		var all []domain.Tick
		err = f.Run(context.Background(), func(ctx context.Context, ticks []domain.Tick) error {
			// As the recorder does: group by stream, then give ids stream by
			// stream, so that every append's ids are above all stored ones.
			byStream := map[string][]eventstore.EventData{}
			var streams []string
			for _, t := range ticks {
				e, err := reg.Encode(uuid.Nil, t, eventstore.Metadata{})
				if err != nil {
					return err
				}
				if _, ok := byStream[t.Stream()]; !ok {
					streams = append(streams, t.Stream())
				}
				byStream[t.Stream()] = append(byStream[t.Stream()], e)
			}
			for _, s := range streams {
				evs := byStream[s]
				for i := range evs {
					evs[i].ID = uuid.Must(uuid.NewV7())
				}
				if _, err := st.Append(ctx, s, eventstore.Any(), evs...); err != nil {
					return err
				}
			}
			all = append(all, ticks...)
			return nil
		})
		if err != nil {
			r1Once.err = err
			return
		}
		r1Once.file, r1Once.err = probe.WriteTickFile(dir, "ticks.bin", func(yield func(*domain.Tick) bool) {
			for i := range all {
				if !yield(&all[i]) {
					return
				}
			}
		})
		r1Once.dir = dir + "/store"
	})
	if r1Once.err != nil {
		b.Fatal(r1Once.err)
	}
	return r1Once.dir, r1Once.file
}

// BenchmarkR1Replay replays the whole R1 store into the reference fold,
// b.N times: through Scan (streaming) and through ReadAll pages of 10,000
// (the Store contract). Probe: read + decode + fold of the same ticks from a
// plain file. Run with -benchtime=1x or 3x: one iteration is *r1Events.
func BenchmarkR1Replay(b *testing.B) {
	dir, file := r1Setup(b)
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, mode := range []string{"scan", "readall"} {
		b.Run(mode, func(b *testing.B) {
			var d codec.TickDecoder
			var t domain.Tick
			var total int64
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				fold := probe.NewFold()
				apply := func(e *eventstore.RecordedEvent) error {
					if err := d.Decode(e.Data, &t); err != nil {
						return err
					}
					fold.Apply(&t)
					return nil
				}
				if mode == "scan" {
					var ferr error
					err := st.Scan(ctx, 0, eventstore.Filter{}, func(e *eventstore.RecordedEvent) bool {
						ferr = apply(e)
						return ferr == nil
					})
					if err != nil || ferr != nil {
						b.Fatal(err, ferr)
					}
				} else {
					var after eventstore.Position
					for {
						page, err := st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: 10000})
						if err != nil {
							b.Fatal(err)
						}
						for i := range page {
							if err := apply(&page[i]); err != nil {
								b.Fatal(err)
							}
						}
						if len(page) < 10000 {
							break
						}
						after = page[len(page)-1].Position
					}
				}
				if fold.Count != int64(*r1Events) {
					b.Fatalf("replayed %d events, want %d", fold.Count, *r1Events)
				}
				total += fold.Count
			}
			el := time.Since(start)
			b.StopTimer()
			pstart := time.Now()
			pfold := probe.NewFold()
			n, err := probe.ReadDecodeFold(file, pfold)
			if err != nil || n != int64(*r1Events) {
				b.Fatal(n, err)
			}
			pel := time.Since(pstart)
			report(b, int(total), el, float64(n)/pel.Seconds(), "events/s")
		})
	}
}

// BenchmarkSubscriptionLatency: one writer appends single events carrying
// their send time; a subscriber measures append-to-delivery latency. The
// baseline is the append's own ack latency in the same run.
func BenchmarkSubscriptionLatency(b *testing.B) {
	st := benchStore(b, b.TempDir())
	eventstoretest.BenchSubscriptionLatency(b, st)
}
