package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Position is an event's place in the global log. Positions start at 1;
// Start (0) means "before the first event".
type Position uint64

// Start is the position before the first event: subscribing or reading from
// Start delivers the whole log.
const Start Position = 0

// EventData is an event to append. ID is the idempotency key; when it is the
// zero UUID, Append fails (callers choose ids, so that a retry can reuse
// them; uuid.NewV7 keeps the store's id index sequential).
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     []byte // encoded payload (JSON, or a binary layout for ticks)
	Metadata []byte // JSON object, or empty
}

// RecordedEvent is an event as stored. Data and Metadata may share memory
// with other events of the same read: treat them as read-only.
type RecordedEvent struct {
	ID         uuid.UUID
	Stream     string
	Type       string
	Version    uint64   // position in its stream, from 0
	Position   Position // position in the global log
	RecordedAt time.Time
	Data       []byte
	Metadata   []byte
}

// AppendResult reports where an append landed.
type AppendResult struct {
	// Version is the stream's version after the append (the version of the
	// last event written). For a zero-event append it is the stream's current
	// version, or NoVersion when the stream does not exist.
	Version uint64
	// Position is the global position of the last event written (for a
	// zero-event append, the store's head).
	Position Position
	// Duplicate is true when every event was stored already (an idempotent
	// retry); Version and Position then describe the original append.
	Duplicate bool
}

// NoVersion is the AppendResult.Version of a stream that does not exist.
const NoVersion = ^uint64(0)

// ExpectedVersion is the state a stream must be in for an append to succeed.
// It is one of Any, NoStream, StreamExists or Exact(n).
type ExpectedVersion struct {
	kind    expectedKind
	version uint64
}

type expectedKind uint8

const (
	kindAny expectedKind = iota
	kindNoStream
	kindStreamExists
	kindExact
)

// Any appends whatever the stream's state. (EventStoreDB only promises
// idempotency on a best-effort basis for Any; embedded and postgres promise
// it always.)
func Any() ExpectedVersion { return ExpectedVersion{kind: kindAny} }

// NoStream appends only if the stream has no events.
func NoStream() ExpectedVersion { return ExpectedVersion{kind: kindNoStream} }

// StreamExists appends only if the stream has at least one event.
func StreamExists() ExpectedVersion { return ExpectedVersion{kind: kindStreamExists} }

// Exact appends only if the stream's last event has version v.
func Exact(v uint64) ExpectedVersion { return ExpectedVersion{kind: kindExact, version: v} }

// IsAny reports whether e is Any.
func (e ExpectedVersion) IsAny() bool { return e.kind == kindAny }

// IsNoStream reports whether e is NoStream.
func (e ExpectedVersion) IsNoStream() bool { return e.kind == kindNoStream }

// IsStreamExists reports whether e is StreamExists.
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == kindStreamExists }

// ExactVersion returns (v, true) when e is Exact(v).
func (e ExpectedVersion) ExactVersion() (uint64, bool) { return e.version, e.kind == kindExact }

// Check reports whether a stream whose current version is current (NoVersion
// when it does not exist) satisfies e; if not, it returns a *ConflictError.
func (e ExpectedVersion) Check(stream string, current uint64) error {
	ok := true
	switch e.kind {
	case kindNoStream:
		ok = current == NoVersion
	case kindStreamExists:
		ok = current != NoVersion
	case kindExact:
		ok = current == e.version
	}
	if ok {
		return nil
	}
	return &ConflictError{Stream: stream, Expected: e, Actual: current}
}

func (e ExpectedVersion) String() string {
	switch e.kind {
	case kindNoStream:
		return "no_stream"
	case kindStreamExists:
		return "stream_exists"
	case kindExact:
		return fmt.Sprint(e.version)
	}
	return "any"
}

// ParseExpectedVersion reads "any", "no_stream", "stream_exists" or a
// version number (the forms String writes).
func ParseExpectedVersion(s string) (ExpectedVersion, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "any":
		return Any(), nil
	case "no_stream", "nostream":
		return NoStream(), nil
	case "stream_exists", "streamexists":
		return StreamExists(), nil
	}
	var v uint64
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || fmt.Sprint(v) != strings.TrimSpace(s) {
		return ExpectedVersion{}, fmt.Errorf("expected version %q: want any, no_stream, stream_exists or a version number", s)
	}
	return Exact(v), nil
}

// Direction is the order of a stream read.
type Direction uint8

// Read directions.
const (
	Forwards Direction = iota
	Backwards
)

// ReadStreamOptions selects events of one stream.
type ReadStreamOptions struct {
	Direction Direction
	// From is the first version to return (inclusive). For a backwards read,
	// FromEnd starts at the last event instead.
	From    uint64
	FromEnd bool
	// Count caps the number of events; 0 means DefaultReadCount.
	Count int
}

// DefaultReadCount is the page size when a read asks for no count; MaxReadCount
// is the most a single read returns.
const (
	DefaultReadCount = 1000
	MaxReadCount     = 100000
)

// ClampCount applies DefaultReadCount and MaxReadCount to a requested count.
func ClampCount(n int) int {
	if n <= 0 {
		return DefaultReadCount
	}
	if n > MaxReadCount {
		return MaxReadCount
	}
	return n
}

// Filter selects events of the global log. The zero Filter matches every
// event. Stream matches one stream exactly, StreamPrefix every stream that
// starts with it, Types any of the listed event types.
type Filter struct {
	Stream       string
	StreamPrefix string
	Types        []string
}

// IsZero reports whether f matches everything.
func (f Filter) IsZero() bool { return f.Stream == "" && f.StreamPrefix == "" && len(f.Types) == 0 }

// MatchStream reports whether the stream passes f's stream conditions.
func (f Filter) MatchStream(stream string) bool {
	if f.Stream != "" && stream != f.Stream {
		return false
	}
	return f.StreamPrefix == "" || strings.HasPrefix(stream, f.StreamPrefix)
}

// MatchType reports whether the type passes f's type condition.
func (f Filter) MatchType(typ string) bool {
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if t == typ {
			return true
		}
	}
	return false
}

// Match reports whether e passes f.
func (f Filter) Match(e *RecordedEvent) bool { return f.MatchStream(e.Stream) && f.MatchType(e.Type) }

// ReadAllOptions selects events of the global log.
type ReadAllOptions struct {
	// After is exclusive: the read returns events with Position > After.
	After Position
	// Count caps the number of events returned; 0 means DefaultReadCount.
	Count  int
	Filter Filter
}

// Errors callers branch on.
var (
	// ErrConcurrencyConflict: the stream was not in the expected state.
	ErrConcurrencyConflict = errors.New("eventstore: concurrency conflict")
	// ErrDuplicateEventID: an event id is stored already with a different
	// stream, type or payload.
	ErrDuplicateEventID = errors.New("eventstore: event id already stored with a different payload")
	// ErrPartialDuplicate: some but not all events of an append are stored
	// already; nothing was written.
	ErrPartialDuplicate = errors.New("eventstore: some events of this append are stored already")
	// ErrInvalidEvent: an event to append is malformed (zero id, empty type,
	// an id repeated in one call, oversized).
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrInvalidStream: a stream name is empty or malformed.
	ErrInvalidStream = errors.New("eventstore: invalid stream name")
	// ErrStreamNotFound: ReadStream of a stream with no events.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("eventstore: store closed")
	// ErrCorrupt: stored data failed its integrity check; it is never served.
	ErrCorrupt = errors.New("eventstore: corrupt data")
	// ErrUnavailable: the server cannot be reached.
	ErrUnavailable = errors.New("eventstore: store unavailable")
)

// ConflictError is the concrete error behind ErrConcurrencyConflict.
type ConflictError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   uint64 // NoVersion when the stream does not exist
}

func (e *ConflictError) Error() string {
	actual := "no stream"
	if e.Actual != NoVersion {
		actual = fmt.Sprintf("version %d", e.Actual)
	}
	return fmt.Sprintf("append to %q: expected %s, stream is at %s: %v", e.Stream, e.Expected, actual, ErrConcurrencyConflict)
}

// Unwrap makes errors.Is(err, ErrConcurrencyConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConcurrencyConflict }

// MaxStreamLen is the longest stream name accepted, in bytes.
const MaxStreamLen = 512

// MaxEventSize is the largest Data+Metadata of one event, in bytes.
const MaxEventSize = 4 << 20

// ValidateAppend checks an append's arguments the same way for every store:
// a non-empty stream name without control characters, non-zero and distinct
// ids, non-empty types, sizes within bounds.
func ValidateAppend(stream string, events []EventData) error {
	if err := ValidateStream(stream); err != nil {
		return err
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i := range events {
		e := &events[i]
		if e.ID == uuid.Nil {
			return fmt.Errorf("event %d: zero id: %w", i, ErrInvalidEvent)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("event %d: id %s repeated in one append: %w", i, e.ID, ErrInvalidEvent)
		}
		seen[e.ID] = struct{}{}
		if e.Type == "" || len(e.Type) > 255 || strings.ContainsAny(e.Type, "\x00\n\r") {
			return fmt.Errorf("event %d: type %q must be 1-255 bytes without control characters: %w", i, e.Type, ErrInvalidEvent)
		}
		if len(e.Data)+len(e.Metadata) > MaxEventSize {
			return fmt.Errorf("event %d: %d bytes exceeds the %d-byte limit: %w", i, len(e.Data)+len(e.Metadata), MaxEventSize, ErrInvalidEvent)
		}
	}
	return nil
}

// ValidateStream checks a stream name.
func ValidateStream(stream string) error {
	if stream == "" || len(stream) > MaxStreamLen || strings.ContainsAny(stream, "\x00\n\r") || strings.HasPrefix(stream, "$") || !utf8.ValidString(stream) {
		return fmt.Errorf("stream %q: must be 1-%d bytes of UTF-8, without control characters, not starting with '$': %w", stream, MaxStreamLen, ErrInvalidStream)
	}
	return nil
}

// SamePayload reports whether a stored event and an event to append carry
// the same stream, type and data: the test for an idempotent retry.
func SamePayload(stored *RecordedEvent, stream string, e *EventData) bool {
	return stored.Stream == stream && stored.Type == e.Type && bytes.Equal(stored.Data, e.Data)
}

// CheckIdempotent decides what an append whose events are partly or wholly
// stored already must do. stored[i] is the stored event with events[i]'s id,
// or nil. It returns (result, true, nil) for a complete, identical retry,
// (_, false, nil) when nothing is stored, and an error otherwise.
func CheckIdempotent(stream string, events []EventData, stored []*RecordedEvent) (AppendResult, bool, error) {
	found := 0
	var last *RecordedEvent
	for i, s := range stored {
		if s == nil {
			continue
		}
		found++
		if !SamePayload(s, stream, &events[i]) {
			return AppendResult{}, false, fmt.Errorf("event %s (stored in %q at version %d as %s): %w", events[i].ID, s.Stream, s.Version, s.Type, ErrDuplicateEventID)
		}
		if last == nil || s.Position > last.Position {
			last = s
		}
	}
	switch {
	case found == 0:
		return AppendResult{}, false, nil
	case found < len(events):
		return AppendResult{}, false, fmt.Errorf("%d of %d events stored already: %w", found, len(events), ErrPartialDuplicate)
	}
	return AppendResult{Version: last.Version, Position: last.Position, Duplicate: true}, true, nil
}

// StreamCategory returns the category of a stream: its name up to the first
// '-' ("tick-NSE:NIFTY 50" is "tick"), or the whole name.
func StreamCategory(stream string) string {
	cat, _, _ := strings.Cut(stream, "-")
	return cat
}

// ParseFilter builds a Filter from the forms the CLI and the HTTP API
// accept: stream is an exact stream name, or a prefix when it ends in '*'
// (empty: every stream); each of types is a comma-separated list of event
// types.
func ParseFilter(stream string, types ...string) (Filter, error) {
	var f Filter
	if p, ok := strings.CutSuffix(stream, "*"); ok {
		f.StreamPrefix = p
	} else if stream != "" {
		if err := ValidateStream(stream); err != nil {
			return Filter{}, err
		}
		f.Stream = stream
	}
	for _, list := range types {
		for t := range strings.SplitSeq(list, ",") {
			if t = strings.TrimSpace(t); t != "" {
				f.Types = append(f.Types, t)
			}
		}
	}
	return f, nil
}

// SearchPosition finds the first position in [1, head] recorded at or after
// t, by binary search, for stores whose positions are dense and whose
// RecordedAt never decreases along the log. recordedAt returns the
// recording time of the event at a position.
func SearchPosition(ctx context.Context, head Position, t time.Time, recordedAt func(ctx context.Context, p Position) (time.Time, error)) (Position, bool, error) {
	lo, hi := Position(1), head+1 // the answer is in [lo, hi]; hi means none
	for lo < hi {
		mid := lo + (hi-lo)/2
		rec, err := recordedAt(ctx, mid)
		if err != nil {
			return 0, false, err
		}
		if !rec.Before(t) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo > head {
		return 0, false, nil
	}
	return lo, true, nil
}
