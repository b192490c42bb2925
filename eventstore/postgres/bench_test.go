package postgres_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/eventstoretest"
	"github.com/algoauto/algoauto/eventstore/postgres"
)

var r2Events = flag.Int("r2.events", 1_000_000, "events in the R2 replay benchmark's table")

// Benchmarks need ALGOAUTO_TEST_POSTGRES; each reports the store and its
// raw pgx probe from the same run, and their ratio.

func benchPayload() []byte {
	p := make([]byte, 128)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// probeTable creates an empty copy of the events table (same columns and
// indexes) for the raw probes.
func probeTable(b *testing.B, url, schema string) (*pgx.Conn, string) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(ctx) })
	tbl := schema + ".probe_events"
	if _, err := conn.Exec(ctx, "CREATE TABLE "+tbl+" (LIKE "+schema+".events INCLUDING ALL)"); err != nil {
		b.Fatal(err)
	}
	return conn, tbl
}

// BenchmarkA5Batch100: appends of 100 128-byte events on one connection.
// Probe: pgx CopyFrom of the same rows, 100 per transaction, into a table
// with the same indexes.
func BenchmarkA5Batch100(b *testing.B) {
	url := testURL(b)
	schema := newSchema(b, url)
	st := MustOpen(b, postgres.Config{URL: url, Schema: schema, MaxConns: 1})
	ctx := context.Background()
	data := benchPayload()
	evs := make([]eventstore.EventData, 100)
	for i := range evs {
		evs[i] = eventstore.EventData{Type: "E", Data: data}
	}
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += 100 {
		k := min(100, b.N-done)
		for i := range k {
			evs[i].ID = uuid.Must(uuid.NewV7())
		}
		if _, err := st.Append(ctx, fmt.Sprintf("a5-%d", done/100%16), eventstore.Any(), evs[:k]...); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.StopTimer()

	conn, tbl := probeTable(b, url, schema)
	now := time.Now()
	pstart := time.Now()
	for done := 0; done < b.N; done += 100 {
		k := min(100, b.N-done)
		rows := make([][]any, k)
		for i := range k {
			pos := int64(done + i + 1)
			rows[i] = []any{pos, [16]byte(uuid.Must(uuid.NewV7())), fmt.Sprintf("a5-%d", done/100%16), pos, "E", data, []byte(nil), now}
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, "probe_events"}, []string{"position", "id", "stream", "version", "type", "data", "metadata", "recorded_at"}, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
	}
	pel := time.Since(pstart)
	_ = tbl
	rate, prate := float64(b.N)/el.Seconds(), float64(b.N)/pel.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(prate, "probe-events/s")
	b.ReportMetric(rate/prate, "ratio")
}

// BenchmarkR2Replay stores -r2.events events, then reads them all back
// through Scan (one streaming query, the replay path) and once through
// ReadAll pages of 10,000. Probe: a raw streaming SELECT of the same rows in
// position order, values taken as bytes without decoding, after each.
func BenchmarkR2Replay(b *testing.B) {
	url := testURL(b)
	schema := newSchema(b, url)
	st := MustOpen(b, postgres.Config{URL: url, Schema: schema})
	ctx := context.Background()
	data := benchPayload()
	evs := make([]eventstore.EventData, 1000)
	total := *r2Events
	for done := 0; done < total; done += 1000 {
		k := min(1000, total-done)
		for i := range k {
			evs[i] = eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "TickReceived", Data: data}
		}
		if _, err := st.Append(ctx, fmt.Sprintf("tick-%d", done/1000%4), eventstore.Any(), evs[:k]...); err != nil {
			b.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rawScan := func() (int, time.Duration) {
		pstart := time.Now()
		rows, err := conn.Query(ctx, "SELECT position, id, stream, version, type, data, metadata, recorded_at FROM "+schema+".events ORDER BY position")
		if err != nil {
			b.Fatal(err)
		}
		var pn, sink int
		for rows.Next() {
			for _, v := range rows.RawValues() {
				sink += len(v)
			}
			pn++
		}
		rows.Close()
		if err := rows.Err(); err != nil || pn != total || sink == 0 {
			b.Fatal(pn, err)
		}
		return pn, time.Since(pstart)
	}
	rawScan() // warm the cache for both
	for _, mode := range []string{"scan", "readall"} {
		b.Run(mode, func(sb *testing.B) {
			start := time.Now()
			var n int
			for range sb.N {
				if mode == "scan" {
					err := st.Scan(ctx, 0, eventstore.Filter{}, func(*eventstore.RecordedEvent) bool { n++; return true })
					if err != nil {
						sb.Fatal(err)
					}
				} else {
					var after eventstore.Position
					for {
						page, err := st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: 10000})
						if err != nil {
							sb.Fatal(err)
						}
						n += len(page)
						if len(page) < 10000 {
							break
						}
						after = page[len(page)-1].Position
					}
				}
			}
			el := time.Since(start)
			if n != total*sb.N {
				sb.Fatalf("replayed %d of %d", n, total*sb.N)
			}
			pn, pel := rawScan()
			rate, prate := float64(n)/el.Seconds(), float64(pn)/pel.Seconds()
			sb.ReportMetric(rate, "events/s")
			sb.ReportMetric(prate, "probe-events/s")
			sb.ReportMetric(rate/prate, "ratio")
		})
	}
}

// BenchmarkSubscriptionLatency: append-to-delivery latency through
// LISTEN/NOTIFY.
func BenchmarkSubscriptionLatency(b *testing.B) {
	url := testURL(b)
	st := MustOpen(b, postgres.Config{URL: url, Schema: newSchema(b, url)})
	eventstoretest.BenchSubscriptionLatency(b, st)
}
