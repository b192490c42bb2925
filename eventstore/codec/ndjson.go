package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
)

// AppendLine is one input line of `algoauto events append`:
//
//	{"id"?: UUID, "stream": S, "type": T, "data": {...}, "metadata"?: {...},
//	 "expected"?: "any" | "no_stream" | "stream_exists" | N}
type AppendLine struct {
	ID       uuid.UUID // uuid.Nil when the line gave none
	Stream   string
	Type     string
	Data     json.RawMessage
	Metadata eventstore.Metadata
	Expected eventstore.ExpectedVersion
	// HasExpected is true when the line named an expected version.
	HasExpected bool
}

// MaxLineSize is the longest NDJSON line accepted.
const MaxLineSize = eventstore.MaxEventSize + 64<<10

// ParseAppendLine parses and checks one NDJSON line. Unknown keys, a missing
// stream, type or data, a malformed id or expected version are errors that
// name the field.
func ParseAppendLine(line []byte) (AppendLine, error) {
	var raw struct {
		ID       *string          `json:"id"`
		Stream   *string          `json:"stream"`
		Type     *string          `json:"type"`
		Data     json.RawMessage  `json:"data"`
		Metadata json.RawMessage  `json:"metadata"`
		Expected *json.RawMessage `json:"expected"`
	}
	if len(line) > MaxLineSize {
		return AppendLine{}, fmt.Errorf("line of %d bytes exceeds %d", len(line), MaxLineSize)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return AppendLine{}, fmt.Errorf("not a JSON object of the append form: %v", err)
	}
	if dec.More() {
		return AppendLine{}, errors.New("more than one JSON value on the line")
	}
	var out AppendLine
	if raw.ID != nil {
		id, err := uuid.Parse(*raw.ID)
		if err != nil || id == uuid.Nil {
			return AppendLine{}, fmt.Errorf("id %q: not a non-zero UUID", *raw.ID)
		}
		out.ID = id
	}
	if raw.Stream == nil {
		return AppendLine{}, errors.New("stream: missing")
	}
	if err := eventstore.ValidateStream(*raw.Stream); err != nil {
		return AppendLine{}, err
	}
	out.Stream = *raw.Stream
	if raw.Type == nil || *raw.Type == "" {
		return AppendLine{}, errors.New("type: missing")
	}
	out.Type = *raw.Type
	if d := bytes.TrimSpace(raw.Data); len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return AppendLine{}, errors.New("data: missing")
	}
	out.Data = raw.Data
	if m := bytes.TrimSpace(raw.Metadata); len(m) > 0 && !bytes.Equal(m, []byte("null")) {
		md, err := eventstore.DecodeMetadata(m)
		if err != nil {
			return AppendLine{}, fmt.Errorf("metadata: %v", err)
		}
		out.Metadata = md
	}
	if raw.Expected != nil {
		ev, err := parseExpected(*raw.Expected)
		if err != nil {
			return AppendLine{}, err
		}
		out.Expected, out.HasExpected = ev, true
	} else {
		out.Expected = eventstore.Any()
	}
	return out, nil
}

func parseExpected(raw json.RawMessage) (eventstore.ExpectedVersion, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return eventstore.ParseExpectedVersion(s)
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return eventstore.ExpectedVersion{}, fmt.Errorf("expected %s: want any, no_stream, stream_exists or a version number", raw)
	}
	v, err := strconv.ParseUint(n.String(), 10, 64)
	if err != nil {
		return eventstore.ExpectedVersion{}, fmt.Errorf("expected %s: want a non-negative integer version", raw)
	}
	return eventstore.Exact(v), nil
}
