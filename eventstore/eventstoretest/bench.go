package eventstoretest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/internal/probe"
)

// BenchSubscriptionLatency measures append-to-delivery latency: one writer
// appends b.N single events carrying their send time to stream "latency"
// while a subscriber receives them. It reports the delivery p50 and p99
// and, as the same-run baseline, the append's own ack p99.
func BenchSubscriptionLatency(b *testing.B, st eventstore.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	head, _ := st.Head(ctx)
	sub, err := st.Subscribe(ctx, head, eventstore.Filter{Stream: "latency"})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	delivered := make(chan []time.Duration, 1)
	go func() {
		var lat []time.Duration
		for len(lat) < b.N {
			m, err := sub.Next(ctx)
			if err != nil {
				delivered <- lat
				return
			}
			now := time.Now().UnixNano()
			for _, e := range m.Events {
				var sent int64
				fmt.Sscanf(string(e.Data), "%d", &sent)
				lat = append(lat, time.Duration(now-sent))
			}
		}
		delivered <- lat
	}()
	acks := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		if _, err := st.Append(ctx, "latency", eventstore.Any(), eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "L", Data: fmt.Appendf(nil, "%d", t.UnixNano())}); err != nil {
			b.Fatal(err)
		}
		acks = append(acks, time.Since(t))
	}
	var lat []time.Duration
	select {
	case lat = <-delivered:
	case <-time.After(30 * time.Second):
		b.Fatal("subscriber did not receive every event within 30s")
	}
	b.StopTimer()
	if len(lat) != b.N {
		b.Fatalf("delivered %d of %d", len(lat), b.N)
	}
	p50, p99 := probe.Percentiles(lat)
	_, ap99 := probe.Percentiles(acks)
	b.ReportMetric(float64(p50.Microseconds()), "deliver-p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "deliver-p99-µs")
	b.ReportMetric(float64(ap99.Microseconds()), "append-ack-p99-µs")
}
