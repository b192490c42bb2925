package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

func TestTypesAreSortedAndKnown(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	types := reg.Types()
	if len(types) == 0 {
		t.Fatal("Types() is empty")
	}
	if !slices.IsSorted(types) {
		t.Errorf("Types() = %v, want sorted", types)
	}
	for _, typ := range types {
		if !reg.Known(typ) {
			t.Errorf("Known(%q) = false for a registered type", typ)
		}
		if v := reg.CurrentVersion(typ); v < 1 {
			t.Errorf("CurrentVersion(%q) = %d, want >= 1", typ, v)
		}
	}
	if reg.Known("NoSuchEvent") || reg.CurrentVersion("NoSuchEvent") != 0 {
		t.Error("an unregistered type is reported as known")
	}
	if got := reg.CurrentVersion(domain.TypeSignalRaised); got != 2 {
		t.Errorf("CurrentVersion(SignalRaised) = %d, want 2", got)
	}
}

// TestExamplesCoverRegistry fails when a registered type has no example
// (or an example names a type the registry does not know), so that a new
// event type cannot skip the round-trip tests.
func TestExamplesCoverRegistry(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	ex := examples()
	for _, typ := range reg.Types() {
		e, ok := ex[typ]
		if !ok {
			t.Errorf("registered type %s has no example in examples()", typ)
			continue
		}
		if e.EventType() != typ {
			t.Errorf("example keyed %s is a %s", typ, e.EventType())
		}
		if err := e.Validate(); err != nil {
			t.Errorf("example of %s is invalid: %v", typ, err)
		}
	}
	for typ := range ex {
		if !reg.Known(typ) {
			t.Errorf("example of %s, which the registry does not know", typ)
		}
	}
}

func TestRegistryRoundTrip(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	ex := examples()
	md := eventstore.Metadata{CorrelationID: "corr-1", CausationID: "cause-1", Account: "acc-1", User: "ops", Source: "test"}
	for _, typ := range reg.Types() {
		orig, ok := ex[typ]
		if !ok {
			continue // reported by TestExamplesCoverRegistry
		}
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			ed, err := reg.Encode(testID, orig, md)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if ed.ID != testID || ed.Type != typ || len(ed.Data) == 0 {
				t.Fatalf("Encode = {ID %s, Type %q, %d data bytes}", ed.ID, ed.Type, len(ed.Data))
			}
			if err := eventstore.ValidateAppend(streamOf(orig), []eventstore.EventData{ed}); err != nil {
				t.Fatalf("encoded event fails ValidateAppend: %v", err)
			}
			gotMD, err := eventstore.DecodeMetadata(ed.Metadata)
			if err != nil {
				t.Fatalf("metadata %s: %v", ed.Metadata, err)
			}
			wantMD := md
			if typ != domain.TypeTickReceived {
				wantMD.Schema = reg.CurrentVersion(typ)
			}
			if gotMD != wantMD {
				t.Fatalf("metadata = %+v, want %+v", gotMD, wantMD)
			}

			rec := recorded(ed, streamOf(orig), 7, 1234)
			dec, err := reg.Decode(&rec)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if reflect.TypeOf(dec) != reflect.TypeOf(orig) {
				t.Fatalf("Decode returned a %T, want a %T", dec, orig)
			}
			if !reflect.DeepEqual(normalize(dec), normalize(orig)) {
				t.Fatalf("Decode =\n%#v\nwant\n%#v", dec, orig)
			}
			if err := dec.Validate(); err != nil {
				t.Fatalf("decoded event is invalid: %v", err)
			}

			// DataJSON is the JSON of the event.
			dj, err := reg.DataJSON(&rec)
			if err != nil {
				t.Fatalf("DataJSON: %v", err)
			}
			if !json.Valid(dj) {
				t.Fatalf("DataJSON is not JSON: %s", dj)
			}
			want, _ := json.Marshal(orig)
			if !bytes.Equal(dj, want) {
				t.Fatalf("DataJSON =\n%s\nwant\n%s", dj, want)
			}

			// The envelope renders every field.
			env, err := reg.Envelope(&rec)
			if err != nil {
				t.Fatalf("Envelope: %v", err)
			}
			if env.ID != testID.String() || env.Stream != rec.Stream || env.Type != typ ||
				env.Version != 7 || env.Position != 1234 || !env.RecordedAt.Equal(rec.RecordedAt) ||
				env.RecordedAt.Location() != time.UTC {
				t.Fatalf("Envelope = %+v", env)
			}
			if !bytes.Equal(env.Data, dj) {
				t.Fatalf("Envelope.Data = %s, want %s", env.Data, dj)
			}
			if !bytes.Equal(env.Metadata, ed.Metadata) {
				t.Fatalf("Envelope.Metadata = %s, want %s", env.Metadata, ed.Metadata)
			}
			line, err := json.Marshal(env)
			if err != nil {
				t.Fatalf("marshal envelope: %v", err)
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(line, &keys); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"id", "stream", "type", "version", "position", "recorded_at", "data", "metadata"} {
				if _, ok := keys[k]; !ok {
					t.Errorf("envelope JSON has no %q: %s", k, line)
				}
			}
			if len(keys) != 8 {
				t.Errorf("envelope JSON has %d keys, want 8: %s", len(keys), line)
			}

			// DecodeEnvelope is its inverse: the same stored bytes come back.
			back, err := reg.DecodeEnvelope(line)
			if err != nil {
				t.Fatalf("DecodeEnvelope(%s): %v", line, err)
			}
			if back.ID != rec.ID || back.Stream != rec.Stream || back.Type != rec.Type ||
				back.Version != rec.Version || back.Position != rec.Position || !back.RecordedAt.Equal(rec.RecordedAt) {
				t.Fatalf("DecodeEnvelope = %+v, want %+v", back, rec)
			}
			if !bytes.Equal(back.Data, rec.Data) {
				t.Fatalf("DecodeEnvelope data =\n%q\nwant\n%q", back.Data, rec.Data)
			}
			if !bytes.Equal(back.Metadata, rec.Metadata) {
				t.Fatalf("DecodeEnvelope metadata = %s, want %s", back.Metadata, rec.Metadata)
			}
		})
	}
}

func TestEncodeForms(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	for typ, e := range examples() {
		ed, err := reg.Encode(testID, e, eventstore.Metadata{})
		if err != nil {
			t.Fatalf("Encode %s: %v", typ, err)
		}
		if typ == domain.TypeTickReceived {
			if ed.Data[0] != 1 {
				t.Errorf("tick data starts with %d, want layout version 1", ed.Data[0])
			}
			if json.Valid(ed.Data) {
				t.Errorf("tick data is JSON, want binary: %q", ed.Data)
			}
			if ed.Metadata != nil {
				t.Errorf("tick with zero metadata has metadata %s, want none", ed.Metadata)
			}
			continue
		}
		if !json.Valid(ed.Data) || ed.Data[0] != '{' {
			t.Errorf("%s data is not a JSON object: %s", typ, ed.Data)
		}
		want := `{"schema":1}`
		if typ == domain.TypeSignalRaised {
			want = `{"schema":2}`
		}
		if string(ed.Metadata) != want {
			t.Errorf("%s metadata = %s, want %s", typ, ed.Metadata, want)
		}
	}
}

func TestTickEncodingIsCompact(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	tick := niftyFuture()
	ed, err := reg.Encode(testID, tick, eventstore.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ed.Data) > 80 {
		t.Fatalf("NIFTY future tick with depth encodes to %d bytes, want <= 80", len(ed.Data))
	}
	js, _ := json.Marshal(tick)
	t.Logf("binary %d bytes, JSON %d bytes", len(ed.Data), len(js))
	if len(ed.Data)*2 > len(js) {
		t.Errorf("binary tick (%d bytes) is not under half its JSON (%d bytes)", len(ed.Data), len(js))
	}
}

// unregistered is an event type the registry does not know.
type unregistered struct{}

func (unregistered) EventType() string { return "Unregistered" }
func (unregistered) Validate() error   { return nil }

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	badTick := niftyFuture()
	badTick.LTP = 0
	crossed := niftyFuture()
	crossed.Bid, crossed.Ask = crossed.Ask, crossed.Bid
	tests := []struct {
		ev    domain.Event
		field string
	}{
		{badTick, "ltp"},
		{crossed, "bid"},
		{domain.OrderIntentRecorded{OrderID: "o", ClientOrderID: "c", Account: "a", Mode: domain.Live, Exchange: "NFO", Symbol: "X", Side: domain.Buy, Type: domain.Market, Product: domain.MIS}, "quantity"},
		{domain.SignalRaised{SignalID: "s", Source: "n8n", Exchange: "NFO", Symbol: "X", Side: "HOLD", Quantity: 1, RaisedAt: exampleAt}, "side"},
		{domain.RiskLimitsChanged{Account: "a", By: "b", Limits: domain.RiskLimits{MaxOrdersPerSec: 10}}, "limits.max_orders_per_sec"},
	}
	for _, tt := range tests {
		ed, err := reg.Encode(testID, tt.ev, eventstore.Metadata{})
		var fe *domain.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Encode(%s) = %v, %v; want a *domain.FieldError", tt.ev.EventType(), ed, err)
			continue
		}
		if fe.Field != tt.field {
			t.Errorf("Encode(%s): invalid %s, want %s", tt.ev.EventType(), fe.Field, tt.field)
		}
	}
	if _, err := reg.Encode(testID, unregistered{}, eventstore.Metadata{}); err == nil || !strings.Contains(err.Error(), "Unregistered") {
		t.Errorf("Encode of an unregistered type = %v, want an error naming it", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	tests := []struct {
		name string
		ev   eventstore.RecordedEvent
		want string
	}{
		{"unknown type", eventstore.RecordedEvent{Type: "Nope", Data: []byte(`{}`)}, `unknown event type "Nope"`},
		{"bad tick", eventstore.RecordedEvent{Type: domain.TypeTickReceived, Data: []byte{1}}, "decode tick"},
		{"bad JSON", eventstore.RecordedEvent{Type: domain.TypeOrderAccepted, Data: []byte(`{"order_id":`)}, "decode OrderAccepted"},
		{"trailing JSON", eventstore.RecordedEvent{Type: domain.TypeOrderAccepted, Data: []byte(`{"order_id":"o"} {}`)}, "trailing data"},
		{"bad metadata", eventstore.RecordedEvent{Type: domain.TypeOrderAccepted, Data: []byte(`{}`), Metadata: []byte(`[`)}, "metadata"},
		{"newer payload", eventstore.RecordedEvent{Type: domain.TypeOrderAccepted, Data: []byte(`{}`), Metadata: []byte(`{"schema":2}`)}, "newer"},
	}
	for _, tt := range tests {
		_, err := reg.Decode(&tt.ev)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Decode = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestFromJSON(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	md := eventstore.Metadata{CorrelationID: "c"}

	t.Run("known type is strict", func(t *testing.T) {
		t.Parallel()
		_, err := reg.FromJSON(testID, domain.TypeOrderAccepted, json.RawMessage(`{"order_id":"o-1","broker_order_id":"b","brokr_note":"x"}`), md, false)
		if err == nil || !strings.Contains(err.Error(), "brokr_note") {
			t.Fatalf("FromJSON with an unknown field = %v, want an error naming brokr_note", err)
		}
		_, err = reg.FromJSON(testID, domain.TypeTickReceived, json.RawMessage(`{"provider":"kite","exchange":"NSE","symbol":"NIFTY 50","exchange_time":"2026-11-20T10:00:00+05:30","ltp":24480.10,"lpt":1}`), md, false)
		if err == nil || !strings.Contains(err.Error(), "lpt") {
			t.Fatalf("FromJSON of a tick with an unknown field = %v, want an error naming lpt", err)
		}
	})

	t.Run("known type is validated", func(t *testing.T) {
		t.Parallel()
		_, err := reg.FromJSON(testID, domain.TypeOrderAccepted, json.RawMessage(`{"order_id":"o-1"}`), md, true)
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != "broker_order_id" {
			t.Fatalf("FromJSON of an invalid event = %v, want a FieldError on broker_order_id", err)
		}
	})

	t.Run("known type is re-encoded", func(t *testing.T) {
		t.Parallel()
		ed, err := reg.FromJSON(testID, domain.TypeOrderAccepted, json.RawMessage(` { "broker_order_id" : "b" , "order_id" : "o-1" } `), md, false)
		if err != nil {
			t.Fatal(err)
		}
		if string(ed.Data) != `{"order_id":"o-1","broker_order_id":"b"}` || string(ed.Metadata) != `{"correlation_id":"c","schema":1}` {
			t.Fatalf("FromJSON = data %s metadata %s", ed.Data, ed.Metadata)
		}
		if ed.ID != testID || ed.Type != domain.TypeOrderAccepted {
			t.Fatalf("FromJSON = id %s type %s", ed.ID, ed.Type)
		}
	})

	t.Run("tick becomes binary", func(t *testing.T) {
		t.Parallel()
		want := niftyFuture()
		js, _ := json.Marshal(want)
		ed, err := reg.FromJSON(testID, domain.TypeTickReceived, js, eventstore.Metadata{}, false)
		if err != nil {
			t.Fatal(err)
		}
		direct, _ := reg.Encode(testID, want, eventstore.Metadata{})
		if !bytes.Equal(ed.Data, direct.Data) {
			t.Fatalf("FromJSON tick = %x, want %x", ed.Data, direct.Data)
		}
	})

	t.Run("tick with trailing data", func(t *testing.T) {
		t.Parallel()
		js, _ := json.Marshal(niftyFuture())
		_, err := reg.FromJSON(testID, domain.TypeTickReceived, append(js, ` {}`...), eventstore.Metadata{}, false)
		if err == nil {
			t.Fatal("FromJSON accepted a tick followed by another JSON value")
		}
		_, err = reg.FromJSON(testID, domain.TypeOrderAccepted, json.RawMessage(`{"order_id":"o","broker_order_id":"b"} {}`), md, false)
		if err == nil {
			t.Fatal("FromJSON accepted an event followed by another JSON value")
		}
	})

	t.Run("unknown type", func(t *testing.T) {
		t.Parallel()
		_, err := reg.FromJSON(testID, "ThirdPartyNote", json.RawMessage(`{"a":1}`), md, false)
		if err == nil || !strings.Contains(err.Error(), `"ThirdPartyNote"`) {
			t.Fatalf("FromJSON of an unknown type = %v, want an error naming it", err)
		}
		ed, err := reg.FromJSON(testID, "ThirdPartyNote", json.RawMessage(" {\n \"a\" : [1, 2] }\n"), md, true)
		if err != nil {
			t.Fatalf("FromJSON with allowUnknown: %v", err)
		}
		if string(ed.Data) != `{"a":[1,2]}` || string(ed.Metadata) != `{"correlation_id":"c"}` || ed.Type != "ThirdPartyNote" {
			t.Fatalf("FromJSON with allowUnknown = type %s data %s metadata %s", ed.Type, ed.Data, ed.Metadata)
		}
		for _, data := range []string{``, ` `, `null`, `[1]`, `"x"`, `1`, `true`, `{"a":`, `{"a":1} {}`} {
			if ed, err := reg.FromJSON(testID, "ThirdPartyNote", json.RawMessage(data), md, true); err == nil {
				t.Errorf("FromJSON(%q) with allowUnknown = %s, want a JSON-object error", data, ed.Data)
			}
		}
	})

	t.Run("missing data", func(t *testing.T) {
		t.Parallel()
		for _, typ := range []string{domain.TypeOrderAccepted, domain.TypeTickReceived} {
			for _, data := range []string{"", "  \n"} {
				_, err := reg.FromJSON(testID, typ, json.RawMessage(data), md, false)
				if err == nil || !strings.Contains(err.Error(), "missing") {
					t.Errorf("FromJSON(%s, %q) = %v, want a missing-data error", typ, data, err)
				}
			}
		}
	})
}

func TestDataJSONOfUnknownTypes(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	ev := eventstore.RecordedEvent{Type: "Other", Data: []byte(`{"x":1}`)}
	got, err := reg.DataJSON(&ev)
	if err != nil || string(got) != `{"x":1}` {
		t.Fatalf("DataJSON of unknown JSON = %s, %v", got, err)
	}
	ev.Data = []byte{0xff, 0x00, 0x01}
	got, err = reg.DataJSON(&ev)
	if err != nil || string(got) != `"/wAB"` {
		t.Fatalf("DataJSON of unknown binary = %s, %v; want a base64 string", got, err)
	}
	// A known type whose payload does not decode is an error, not base64.
	ev = eventstore.RecordedEvent{Type: domain.TypeTickReceived, Data: []byte{1, 0}}
	if got, err := reg.DataJSON(&ev); err == nil {
		t.Fatalf("DataJSON of a broken tick = %s, want an error", got)
	}
	if _, err := reg.Envelope(&ev); err == nil {
		t.Fatal("Envelope of a broken tick succeeded")
	}
	// Metadata that is not JSON is refused.
	ev = eventstore.RecordedEvent{Type: "Other", Data: []byte(`{}`), Metadata: []byte(`{"a"`)}
	if _, err := reg.Envelope(&ev); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("Envelope with non-JSON metadata = %v, want ErrMalformed", err)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	const id = "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a90"
	env := func(fields string) []byte {
		return []byte(`{"id":"` + id + `","stream":"notes-1","type":"ThirdPartyNote","version":3,"position":99,"recorded_at":"2026-11-20T04:30:00Z"` + fields + `}`)
	}

	t.Run("unknown type keeps data and metadata", func(t *testing.T) {
		t.Parallel()
		ev, err := reg.DecodeEnvelope(env(`,"data":{ "a" : 1 },"metadata":{"correlation_id":"c","extra":true}`))
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID.String() != id || ev.Stream != "notes-1" || ev.Type != "ThirdPartyNote" || ev.Version != 3 || ev.Position != 99 {
			t.Fatalf("DecodeEnvelope = %+v", ev)
		}
		if string(ev.Data) != `{"a":1}` || string(ev.Metadata) != `{"correlation_id":"c","extra":true}` {
			t.Fatalf("DecodeEnvelope data %s metadata %s", ev.Data, ev.Metadata)
		}
	})

	t.Run("empty metadata", func(t *testing.T) {
		t.Parallel()
		for _, md := range []string{``, `,"metadata":{}`, `,"metadata":null`, `,"metadata":{ }`} {
			ev, err := reg.DecodeEnvelope(env(`,"data":{}` + md))
			if err != nil {
				t.Fatalf("metadata %q: %v", md, err)
			}
			if ev.Metadata != nil {
				t.Errorf("metadata %q decodes to %q, want none", md, ev.Metadata)
			}
		}
	})

	errs := []struct{ name, in, want string }{
		{"not JSON", `nope`, "envelope"},
		{"unknown key", string(env(`,"data":{},"extra":1`)), "extra"},
		{"trailing", string(env(`,"data":{}`)) + ` {}`, "trailing"},
		{"bad id", `{"id":"123","stream":"s","type":"T","data":{}}`, "id"},
		{"bad stream", `{"id":"` + id + `","stream":"$all","type":"T","data":{}}`, "stream"},
		{"no data", string(env(``)), "JSON object"},
		{"array data", string(env(`,"data":[1]`)), "JSON object"},
		{"bad metadata", string(env(`,"data":{},"metadata":[1]`)), "metadata"},
		{"invalid known event", `{"id":"` + id + `","stream":"s","type":"OrderAccepted","data":{"order_id":"o"}}`, "broker_order_id"},
	}
	for _, tt := range errs {
		_, err := reg.DecodeEnvelope([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: DecodeEnvelope = %v, want an error containing %q", tt.name, err, tt.want)
		} else if !errors.Is(err, codec.ErrMalformed) && !errors.Is(err, eventstore.ErrInvalidStream) {
			t.Errorf("%s: DecodeEnvelope error %v wraps neither ErrMalformed nor ErrInvalidStream", tt.name, err)
		}
	}
}

// TestEnvelopeUnknownTypeRoundTrip exports an unknown-type event the way
// `algoauto events read` does (json.Encoder, HTML escaping on) and imports
// it again: the stored bytes must not change, or an idempotent re-import
// would be refused as a different payload under the same id.
func TestEnvelopeUnknownTypeRoundTrip(t *testing.T) {
	t.Parallel()
	reg := codec.NewRegistry()
	ed, err := reg.FromJSON(uuid.MustParse("0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a91"), "ThirdPartyNote",
		json.RawMessage(`{"note":"a < b & c > d \u2028"}`), eventstore.Metadata{Source: "<n8n>"}, true)
	if err != nil {
		t.Fatal(err)
	}
	rec := recorded(ed, "notes-1", 0, 1)
	env, err := reg.Envelope(&rec)
	if err != nil {
		t.Fatal(err)
	}
	var line bytes.Buffer
	if err := json.NewEncoder(&line).Encode(env); err != nil {
		t.Fatal(err)
	}
	back, err := reg.DecodeEnvelope(line.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Data, rec.Data) || !bytes.Equal(back.Metadata, rec.Metadata) {
		t.Fatalf("re-import changed the stored bytes:\ndata     %s -> %s\nmetadata %s -> %s", rec.Data, back.Data, rec.Metadata, back.Metadata)
	}
}
