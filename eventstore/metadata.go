package eventstore

import (
	"encoding/json"
	"fmt"
)

// Metadata is the envelope metadata AlgoAuto writes as a JSON object in
// EventData.Metadata. Schema is the payload version of a JSON payload (absent
// means 1); binary payloads carry their layout version in their first byte.
type Metadata struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Account       string `json:"account,omitempty"`
	User          string `json:"user,omitempty"`
	Source        string `json:"source,omitempty"`
	Schema        int    `json:"schema,omitempty"`
}

// IsZero reports whether m carries nothing.
func (m Metadata) IsZero() bool { return m == Metadata{} }

// Encode returns m as JSON, or nil when m is zero (no metadata is stored).
func (m Metadata) Encode() []byte {
	if m.IsZero() {
		return nil
	}
	b, _ := json.Marshal(m) // cannot fail: strings and an int
	return b
}

// DecodeMetadata reads metadata written by Encode (or any JSON object; other
// keys are ignored). Empty input is the zero Metadata.
func DecodeMetadata(b []byte) (Metadata, error) {
	var m Metadata
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode metadata: %w", err)
	}
	return m, nil
}
