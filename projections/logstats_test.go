package projections_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/projections"
)

func TestLogStats(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 3, 45, 0, 0, time.UTC)
	evs := []eventstore.RecordedEvent{
		{Stream: "tick-NSE:NIFTY 50", Type: "TickReceived", Position: 1, RecordedAt: t0, Data: make([]byte, 40)},
		{Stream: "tick-NFO:NIFTY26NOVFUT", Type: "TickReceived", Position: 2, RecordedAt: t0, Data: make([]byte, 60)},
		{Stream: "order-1", Type: "OrderSubmitted", Position: 3, RecordedAt: t0.Add(time.Second), Data: []byte(`{}`), Metadata: []byte(`{"schema":1}`)},
		{Stream: "tick-NSE:NIFTY 50", Type: "TickReceived", Position: 4, RecordedAt: t0.Add(2 * time.Second), Data: make([]byte, 40)},
		{Stream: "plain", Type: "Note", Position: 5, RecordedAt: t0.Add(3 * time.Second), Data: []byte(`{}`)},
	}
	fold := func() []byte {
		s := projections.NewLogStats()
		for i := range evs {
			s.Apply(&evs[i])
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s := projections.NewLogStats()
	for i := range evs {
		s.Apply(&evs[i])
	}
	if s.Events != 5 || s.Position != 5 || s.Streams != 4 || s.StreamsCapped {
		t.Fatalf("counts: %+v", s)
	}
	if s.ByType["TickReceived"] != 3 || s.ByType["OrderSubmitted"] != 1 || s.ByCategory["tick"] != 3 || s.ByCategory["order"] != 1 || s.ByCategory["plain"] != 1 {
		t.Fatalf("breakdowns: %v %v", s.ByType, s.ByCategory)
	}
	if s.PayloadBytes != 40+60+2+12+40+2 {
		t.Fatalf("payload bytes %d", s.PayloadBytes)
	}
	if !s.FirstRecorded.Equal(t0) || !s.LastRecorded.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("span %v..%v", s.FirstRecorded, s.LastRecorded)
	}
	// Deterministic: two folds of the same events render identically.
	if a, b := fold(), fold(); string(a) != string(b) {
		t.Fatalf("two folds differ:\n%s\n%s", a, b)
	}
}
