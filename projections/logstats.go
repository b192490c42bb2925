// Package projections folds the event log into read models. A projection
// is deterministic: Apply depends only on the events it is given, in log
// order (no wall clock, no randomness, no map-order dependence in what it
// exposes), so two replays of the same log give the same model.
//
// The Runner keeps each projection current: it restores the projection's
// snapshot when the snapshot was taken by the same code version over the
// same log (checked by the id of the event at its position and a SHA-256
// checksum), subscribes from there, and snapshots again periodically and at
// stop. Snapshots are only a shortcut: deleting them costs a replay, never
// data. Replay folds a fresh instance to any position, which is how as-of
// queries answer exactly what the live model showed at that point.
//
// Read models: Quotes (last tick per instrument), Positions (weighted-average
// cost, exact in paise) and LogStats (behind `algoauto events stats`).
package projections

import (
	"time"

	"github.com/algoauto/algoauto/eventstore"
)

// MaxTrackedStreams bounds the distinct stream names LogStats remembers;
// past it, Streams stops growing and StreamsCapped is set.
const MaxTrackedStreams = 1 << 20

// LogStats summarises the log: events and payload bytes per event type and
// per stream category (the stream name up to its first '-': "tick",
// "order", "control"...), distinct streams, and the recording-time span.
type LogStats struct {
	Position      uint64           `json:"position"` // the last event folded
	Events        int64            `json:"events"`
	PayloadBytes  int64            `json:"payload_bytes"`
	ByType        map[string]int64 `json:"by_type"`
	ByCategory    map[string]int64 `json:"by_stream_category"`
	Streams       int64            `json:"streams"`
	StreamsCapped bool             `json:"streams_capped,omitempty"`
	FirstRecorded time.Time        `json:"first_recorded_at,omitzero"`
	LastRecorded  time.Time        `json:"last_recorded_at,omitzero"`

	seen map[string]struct{}
}

// NewLogStats returns an empty summary.
func NewLogStats() *LogStats {
	return &LogStats{ByType: map[string]int64{}, ByCategory: map[string]int64{}, seen: map[string]struct{}{}}
}

// Apply folds one event.
func (s *LogStats) Apply(e *eventstore.RecordedEvent) {
	s.Position = uint64(e.Position)
	s.Events++
	s.PayloadBytes += int64(len(e.Data) + len(e.Metadata))
	s.ByType[e.Type]++
	s.ByCategory[eventstore.StreamCategory(e.Stream)]++
	if _, ok := s.seen[e.Stream]; !ok {
		if len(s.seen) < MaxTrackedStreams {
			s.seen[e.Stream] = struct{}{}
			s.Streams++
		} else {
			s.StreamsCapped = true
		}
	}
	if s.FirstRecorded.IsZero() {
		s.FirstRecorded = e.RecordedAt
	}
	s.LastRecorded = e.RecordedAt
}
