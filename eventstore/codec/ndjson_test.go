package codec_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

func TestParseAppendLine(t *testing.T) {
	t.Parallel()
	const id = "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a90"
	const base = `"stream":"order-o-1","type":"OrderAccepted","data":{"order_id":"o-1","broker_order_id":"b"}`
	ok := []struct {
		name        string
		line        string
		id          uuid.UUID
		expected    eventstore.ExpectedVersion
		hasExpected bool
		md          eventstore.Metadata
	}{
		{name: "minimal", line: `{` + base + `}`, expected: eventstore.Any()},
		{name: "with id", line: `{"id":"` + id + `",` + base + `}`, id: uuid.MustParse(id), expected: eventstore.Any()},
		{name: "null id", line: `{"id":null,` + base + `}`, expected: eventstore.Any()},
		{name: "surrounding space", line: "  {" + base + "}  \n", expected: eventstore.Any()},
		{name: "expected any", line: `{` + base + `,"expected":"any"}`, expected: eventstore.Any(), hasExpected: true},
		{name: "expected no_stream", line: `{` + base + `,"expected":"no_stream"}`, expected: eventstore.NoStream(), hasExpected: true},
		{name: "expected stream_exists", line: `{` + base + `,"expected":"stream_exists"}`, expected: eventstore.StreamExists(), hasExpected: true},
		{name: "expected number", line: `{` + base + `,"expected":5}`, expected: eventstore.Exact(5), hasExpected: true},
		{name: "expected zero", line: `{` + base + `,"expected":0}`, expected: eventstore.Exact(0), hasExpected: true},
		{name: "expected string number", line: `{` + base + `,"expected":"5"}`, expected: eventstore.Exact(5), hasExpected: true},
		{name: "expected max uint64", line: `{` + base + `,"expected":18446744073709551615}`, expected: eventstore.Exact(^uint64(0)), hasExpected: true},
		{name: "expected null", line: `{` + base + `,"expected":null}`, expected: eventstore.Any()},
		{
			name: "metadata", line: `{` + base + `,"metadata":{"correlation_id":"c","user":"ops","other":1}}`,
			expected: eventstore.Any(), md: eventstore.Metadata{CorrelationID: "c", User: "ops"},
		},
		{name: "null metadata", line: `{` + base + `,"metadata":null}`, expected: eventstore.Any()},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := codec.ParseAppendLine([]byte(tt.line))
			if err != nil {
				t.Fatalf("ParseAppendLine(%s): %v", tt.line, err)
			}
			if got.Stream != "order-o-1" || got.Type != "OrderAccepted" || string(got.Data) != `{"order_id":"o-1","broker_order_id":"b"}` {
				t.Fatalf("ParseAppendLine = stream %q type %q data %s", got.Stream, got.Type, got.Data)
			}
			if got.ID != tt.id {
				t.Errorf("ID = %s, want %s", got.ID, tt.id)
			}
			if got.Expected != tt.expected || got.HasExpected != tt.hasExpected {
				t.Errorf("Expected = %s (given %v), want %s (given %v)", got.Expected, got.HasExpected, tt.expected, tt.hasExpected)
			}
			if got.Metadata != tt.md {
				t.Errorf("Metadata = %+v, want %+v", got.Metadata, tt.md)
			}
		})
	}

	tooLong := append([]byte(`{"stream":"s","type":"T","data":"`), bytes.Repeat([]byte("x"), codec.MaxLineSize)...)
	tooLong = append(tooLong, `"}`...)
	bad := []struct {
		name string
		line string
		want string // substring of the error
	}{
		{"empty", ``, "not a JSON object"},
		{"not JSON", `nope`, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"missing stream", `{"type":"T","data":{}}`, "stream: missing"},
		{"empty stream", `{"stream":"","type":"T","data":{}}`, "stream"},
		{"system stream", `{"stream":"$all","type":"T","data":{}}`, "not starting with '$'"},
		{"stream with newline", `{"stream":"a\nb","type":"T","data":{}}`, "control characters"},
		{"missing type", `{"stream":"s","data":{}}`, "type: missing"},
		{"empty type", `{"stream":"s","type":"","data":{}}`, "type: missing"},
		{"missing data", `{"stream":"s","type":"T"}`, "data: missing"},
		{"null data", `{"stream":"s","type":"T","data":null}`, "data: missing"},
		{"bad UUID", `{"id":"not-a-uuid","stream":"s","type":"T","data":{}}`, `id "not-a-uuid"`},
		{"zero UUID", `{"id":"00000000-0000-0000-0000-000000000000","stream":"s","type":"T","data":{}}`, "non-zero UUID"},
		{"numeric id", `{"id":7,"stream":"s","type":"T","data":{}}`, "not a JSON object"},
		{"expected negative", `{"stream":"s","type":"T","data":{},"expected":-1}`, "non-negative integer"},
		{"expected fraction", `{"stream":"s","type":"T","data":{},"expected":1.5}`, "non-negative integer"},
		{"expected exponent", `{"stream":"s","type":"T","data":{},"expected":1e3}`, "non-negative integer"},
		{"expected too big", `{"stream":"s","type":"T","data":{},"expected":18446744073709551616}`, "non-negative integer"},
		{"expected negative string", `{"stream":"s","type":"T","data":{},"expected":"-1"}`, "expected version"},
		{"expected unknown word", `{"stream":"s","type":"T","data":{},"expected":"latest"}`, "expected version"},
		{"expected bool", `{"stream":"s","type":"T","data":{},"expected":true}`, "expected true"},
		{"unknown key", `{"stream":"s","type":"T","data":{},"expectedVersion":3}`, "expectedVersion"},
		{"bad metadata", `{"stream":"s","type":"T","data":{},"metadata":{"schema":"two"}}`, "metadata"},
		{"two values", `{"stream":"s","type":"T","data":{}} {"stream":"s","type":"T","data":{}}`, "more than one JSON value"},
		{"trailing garbage", `{"stream":"s","type":"T","data":{}} x`, "more than one JSON value"},
		{"too long", string(tooLong), "exceeds"},
	}
	for _, tt := range bad {
		t.Run("error/"+tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := codec.ParseAppendLine([]byte(tt.line))
			if err == nil {
				t.Fatalf("ParseAppendLine = %+v, want an error containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseAppendLine error = %q, want it to contain %q", err, tt.want)
			}
		})
	}

	// Stream errors are the store's.
	_, err := codec.ParseAppendLine([]byte(`{"stream":"$all","type":"T","data":{}}`))
	if !errors.Is(err, eventstore.ErrInvalidStream) {
		t.Errorf("system stream error = %v, want ErrInvalidStream", err)
	}
	// A line of exactly MaxLineSize bytes is not refused for its length.
	exact := make([]byte, 0, codec.MaxLineSize)
	exact = append(exact, `{"stream":"s","type":"T","data":"`...)
	exact = append(exact, bytes.Repeat([]byte("x"), codec.MaxLineSize-len(exact)-2)...)
	exact = append(exact, `"}`...)
	if len(exact) != codec.MaxLineSize {
		t.Fatalf("test line is %d bytes", len(exact))
	}
	if _, err := codec.ParseAppendLine(exact); err != nil {
		t.Errorf("line of exactly MaxLineSize bytes: %v", err)
	}
}
