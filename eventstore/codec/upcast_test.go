package codec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

const signalV1 = `{"signal_id":"s1","source":"n8n","symbol":"NFO:NIFTY26NOVFUT","action":"BUY","qty":65,"price":"24500.05","raised_at":"2026-11-20T10:00:00+05:30"}`

func TestUpcastSignalRaisedV1(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	raisedAt := time.Date(2026, 11, 20, 10, 0, 0, 0, domain.IST())
	want := domain.SignalRaised{
		SignalID: "s1", Source: "n8n", Exchange: "NFO", Symbol: "NIFTY26NOVFUT",
		Side: domain.Buy, Quantity: 65, Price: 2450005, RaisedAt: raisedAt,
	}
	tests := []struct {
		name     string
		data     string
		metadata string
		edit     func(*domain.SignalRaised)
	}{
		{name: "no metadata", data: signalV1},
		{name: "metadata without schema", data: signalV1, metadata: `{"correlation_id":"c1"}`},
		{name: "empty metadata object", data: signalV1, metadata: `{}`},
		{name: "schema 1", data: signalV1, metadata: `{"schema":1}`},
		{
			name: "symbol without exchange is NFO",
			data: strings.Replace(signalV1, "NFO:NIFTY26NOVFUT", "NIFTY26NOVFUT", 1),
		},
		{
			name: "NSE symbol with a space",
			data: strings.Replace(signalV1, "NFO:NIFTY26NOVFUT", "NSE:NIFTY 50", 1),
			edit: func(s *domain.SignalRaised) { s.Exchange, s.Symbol = "NSE", "NIFTY 50" },
		},
		{
			name: "all v1 fields",
			data: `{"signal_id":"s1","source":"n8n","strategy":"orb","account":"acc-1","symbol":"NFO:NIFTY26NOVFUT","action":"SELL","qty":130,"price":24500.05,"reason":"tv alert","raised_at":"2026-11-20T10:00:00+05:30"}`,
			edit: func(s *domain.SignalRaised) {
				s.Strategy, s.Account, s.Side, s.Quantity, s.Reason = "orb", "acc-1", domain.Sell, 130, "tv alert"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := eventstore.RecordedEvent{Type: domain.TypeSignalRaised, Stream: "signal-n8n", Data: []byte(tt.data)}
			if tt.metadata != "" {
				ev.Metadata = []byte(tt.metadata)
			}
			got, err := reg.Decode(&ev)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			s, ok := got.(domain.SignalRaised)
			if !ok {
				t.Fatalf("Decode returned a %T, want domain.SignalRaised", got)
			}
			w := want
			if tt.edit != nil {
				tt.edit(&w)
			}
			if !s.RaisedAt.Equal(w.RaisedAt) {
				t.Errorf("RaisedAt = %v, want %v", s.RaisedAt, w.RaisedAt)
			}
			s.RaisedAt, w.RaisedAt = time.Time{}, time.Time{}
			if s != w {
				t.Errorf("Decode =\n%+v\nwant\n%+v", s, w)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("upcast event is invalid: %v", err)
			}
		})
	}
}

func TestUpcastSignalRaisedErrors(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	tests := []struct {
		name, data, metadata string
		want                 []string
	}{
		{"newer schema", signalV1, `{"schema":3}`, []string{"version 3", "newer", "2"}},
		{"v1 payload not an object", `[1,2]`, ``, []string{"SignalRaised", "upcast"}},
		{"v1 symbol not a string", `{"signal_id":"s1","symbol":42}`, `{"schema":1}`, []string{"symbol"}},
	}
	for _, tt := range tests {
		ev := eventstore.RecordedEvent{Type: domain.TypeSignalRaised, Data: []byte(tt.data)}
		if tt.metadata != "" {
			ev.Metadata = []byte(tt.metadata)
		}
		got, err := reg.Decode(&ev)
		if err == nil {
			t.Errorf("%s: Decode = %+v, want an error", tt.name, got)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Decode error %q does not mention %q", tt.name, err, w)
			}
		}
	}
}

// TestSignalRaisedV2NotUpcast checks that a current payload is read as is:
// an exchange-qualified v2 symbol is not split again.
func TestSignalRaisedV2NotUpcast(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	ev := eventstore.RecordedEvent{Type: domain.TypeSignalRaised, Metadata: []byte(`{"schema":2}`),
		Data: []byte(`{"signal_id":"s1","source":"n8n","exchange":"NSE","symbol":"M&M:EQ","side":"BUY","quantity":1,"raised_at":"2026-11-20T10:00:00+05:30"}`)}
	got, err := reg.Decode(&ev)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.(domain.SignalRaised); s.Exchange != "NSE" || s.Symbol != "M&M:EQ" || s.Side != domain.Buy || s.Quantity != 1 {
		t.Fatalf("Decode = %+v", s)
	}
}
