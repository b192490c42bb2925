package codec_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// The seed corpora of these targets are checked in under testdata/fuzz/;
// f.Add adds a few more built from the examples, so that a new example field
// is fuzzed without regenerating the files.

func FuzzTickDecode(f *testing.F) {
	for _, tick := range tickCases() {
		b, err := codec.AppendTick(nil, &tick)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 7, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d codec.TickDecoder
		var tick domain.Tick
		if err := d.Decode(data, &tick); err != nil {
			return
		}
		_ = tick.Validate() // must not panic on any decodable tick
		again, err := codec.AppendTick(nil, &tick)
		if err != nil {
			t.Fatalf("decoded %x to %+v, which does not re-encode: %v", data, tick, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("decoded %x to %+v, which re-encodes to %x", data, tick, again)
		}
		// Decoding again with the same (now warm) decoder gives the same tick.
		var second domain.Tick
		if err := d.Decode(again, &second); err != nil {
			t.Fatalf("second decode: %v", err)
		}
		third, _ := codec.AppendTick(nil, &second)
		if !bytes.Equal(third, data) {
			t.Fatalf("second decode re-encodes to %x, want %x", third, data)
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	reg := codec.NewRegistry()
	for _, e := range examples() {
		ed, err := reg.Encode(testID, e, eventstore.Metadata{CorrelationID: "c-1"})
		if err != nil {
			f.Fatal(err)
		}
		rec := recorded(ed, streamOf(e), 3, 42)
		env, err := reg.Envelope(&rec)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := json.Marshal(env)
		f.Add(b)
	}
	f.Add([]byte(`{"id":"0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a90","stream":"notes-1","type":"ThirdPartyNote","version":0,"position":1,"recorded_at":"2026-11-20T04:30:00Z","data":{"a":"<b>"},"metadata":{ "x" : [1] }}`))
	f.Add([]byte(`{"id":"0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a90","stream":"signal-n8n","type":"SignalRaised","version":0,"position":1,"recorded_at":"2026-11-20T04:30:00Z","data":{"signal_id":"s1","source":"n8n","exchange":"NFO","symbol":"X","side":"BUY","quantity":1,"raised_at":"2026-11-20T10:00:00+05:30"},"metadata":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := reg.DecodeEnvelope(data)
		if err != nil {
			return
		}
		env, err := reg.Envelope(&first)
		if err != nil {
			t.Fatalf("DecodeEnvelope(%s) = %+v, which Envelope refuses: %v", data, first, err)
		}
		if reg.Known(first.Type) {
			if _, err := reg.Decode(&first); err != nil {
				t.Fatalf("DecodeEnvelope(%s) stored a %s that does not decode: %v", data, first.Type, err)
			}
		}
		// Both the escaping form (json.Marshal, `events read`) and the plain
		// form must come back as the same stored event.
		escaped, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("marshal envelope %+v: %v", env, err)
		}
		var plain bytes.Buffer
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(env); err != nil {
			t.Fatalf("encode envelope %+v: %v", env, err)
		}
		for _, line := range [][]byte{escaped, plain.Bytes()} {
			second, err := reg.DecodeEnvelope(line)
			if err != nil {
				t.Fatalf("DecodeEnvelope(%s) succeeded, but not on its own envelope %s: %v", data, line, err)
			}
			if second.ID != first.ID || second.Stream != first.Stream || second.Type != first.Type ||
				second.Version != first.Version || second.Position != first.Position || !second.RecordedAt.Equal(first.RecordedAt) {
				t.Fatalf("envelope round trip changed the event:\nfirst  %+v\nsecond %+v", first, second)
			}
			if !bytes.Equal(second.Data, first.Data) {
				t.Fatalf("envelope round trip changed the data:\nfirst  %q\nsecond %q\nvia %s", first.Data, second.Data, line)
			}
			if !bytes.Equal(second.Metadata, first.Metadata) {
				t.Fatalf("envelope round trip changed the metadata:\nfirst  %q\nsecond %q\nvia %s", first.Metadata, second.Metadata, line)
			}
		}
	})
}

func FuzzParseAppendLine(f *testing.F) {
	reg := codec.NewRegistry()
	for _, e := range examples() {
		js, _ := json.Marshal(e)
		line, _ := json.Marshal(map[string]any{"stream": streamOf(e), "type": e.EventType(), "data": json.RawMessage(js)})
		f.Add(line)
	}
	f.Add([]byte(`{"id":"0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a90","stream":"signal-n8n","type":"SignalRaised","data":` + signalV1 + `,"metadata":{"schema":1},"expected":"no_stream"}`))
	f.Add([]byte(`{"stream":"s","type":"T","data":{},"expected":5}`))
	f.Add([]byte(`{"stream":"s","type":"T","data":{},"expected":"5"}`))
	f.Add([]byte(`{"stream":"$all","type":"T","data":{}}`))
	f.Add([]byte(`{"stream":"s","type":"T","data":{}} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		line, err := codec.ParseAppendLine(data)
		if err != nil {
			return
		}
		if err := eventstore.ValidateStream(line.Stream); err != nil {
			t.Fatalf("ParseAppendLine(%q) accepted stream %q: %v", data, line.Stream, err)
		}
		if line.Type == "" {
			t.Fatalf("ParseAppendLine(%q) accepted an empty type", data)
		}
		if len(bytes.TrimSpace(line.Data)) == 0 || !json.Valid(line.Data) {
			t.Fatalf("ParseAppendLine(%q) accepted data %q", data, line.Data)
		}
		if !line.HasExpected && !line.Expected.IsAny() {
			t.Fatalf("ParseAppendLine(%q): no expected version given, but Expected = %s", data, line.Expected)
		}
		// What FromJSON accepts from a line must be storable and read back.
		ed, err := reg.FromJSON(line.ID, line.Type, line.Data, line.Metadata, true)
		if err != nil {
			return
		}
		if ed.Type != line.Type {
			t.Fatalf("FromJSON changed the type %q to %q", line.Type, ed.Type)
		}
		if !reg.Known(ed.Type) {
			return
		}
		rec := eventstore.RecordedEvent{ID: ed.ID, Stream: line.Stream, Type: ed.Type, Data: ed.Data, Metadata: ed.Metadata}
		ev, err := reg.Decode(&rec)
		if err != nil {
			t.Fatalf("FromJSON(%s) stored %q, which does not decode: %v", line.Data, ed.Data, err)
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("FromJSON(%s) stored an event that reads back invalid: %v", line.Data, err)
		}
	})
}
