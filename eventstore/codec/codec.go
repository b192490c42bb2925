// Package codec is the persisted schema of AlgoAuto's events: which Go type
// each stable event type name decodes to, how it is encoded (a compact binary
// layout for TickReceived, JSON for everything else), which payload version
// is current, and the upcasters that read older versions. It also renders
// any stored event as a JSON audit envelope and parses the NDJSON lines of
// `algoauto events append`.
//
// The registry is built by NewRegistry and passed to whoever needs it; there
// is no global registration. Payload versions: a JSON payload's version is
// the "schema" key of the envelope metadata (absent means 1); a binary
// payload's version is its first byte.
package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// Upcaster turns a JSON payload of version v into version v+1.
type Upcaster func(data []byte) ([]byte, error)

type entry struct {
	name    string
	version int // current payload version
	binary  bool
	// decode reads the current version; strict rejects unknown fields.
	decode    func(data []byte, strict bool) (domain.Event, error)
	upcasters map[int]Upcaster // from version v to v+1
}

// Registry maps event type names to their codecs.
type Registry struct {
	types map[string]*entry
}

// NewRegistry returns a registry of every event type in package domain, with
// the upcasters of their older payload versions.
func NewRegistry() *Registry {
	r := &Registry{types: map[string]*entry{}}
	// Decoders are pooled so that their interned strings outlive one call:
	// a fresh decoder per tick would build its intern map every time.
	decoders := sync.Pool{New: func() any { return new(TickDecoder) }}
	r.types[domain.TypeTickReceived] = &entry{name: domain.TypeTickReceived, version: tickLayoutV1, binary: true,
		decode: func(data []byte, _ bool) (domain.Event, error) {
			d := decoders.Get().(*TickDecoder)
			defer decoders.Put(d)
			var t domain.Tick
			if err := d.Decode(data, &t); err != nil {
				return nil, err
			}
			return t, nil
		}}
	addJSON[domain.FeedStale](r, domain.TypeFeedStale, 1)
	addJSON[domain.FeedGap](r, domain.TypeFeedGap, 1)
	addJSON[domain.FeedResynced](r, domain.TypeFeedResynced, 1)
	addJSON[domain.SignalRaised](r, domain.TypeSignalRaised, 2, upcastSignalRaisedV1)
	addJSON[domain.SignalAccepted](r, domain.TypeSignalAccepted, 1)
	addJSON[domain.SignalRejected](r, domain.TypeSignalRejected, 1)
	addJSON[domain.OrderIntentRecorded](r, domain.TypeOrderIntentRecorded, 1)
	addJSON[domain.OrderSubmitted](r, domain.TypeOrderSubmitted, 1)
	addJSON[domain.OrderAccepted](r, domain.TypeOrderAccepted, 1)
	addJSON[domain.OrderRejected](r, domain.TypeOrderRejected, 1)
	addJSON[domain.OrderFilled](r, domain.TypeOrderFilled, 1)
	addJSON[domain.OrderCancelled](r, domain.TypeOrderCancelled, 1)
	addJSON[domain.OrderModified](r, domain.TypeOrderModified, 1)
	addJSON[domain.OrderRefused](r, domain.TypeOrderRefused, 1)
	addJSON[domain.SubmitOutcomeUnknown](r, domain.TypeSubmitOutcomeUnknown, 1)
	addJSON[domain.TradingStarted](r, domain.TypeTradingStarted, 1)
	addJSON[domain.TradingPaused](r, domain.TypeTradingPaused, 1)
	addJSON[domain.TradingResumed](r, domain.TypeTradingResumed, 1)
	addJSON[domain.TradingStopped](r, domain.TypeTradingStopped, 1)
	addJSON[domain.ModeChanged](r, domain.TypeModeChanged, 1)
	addJSON[domain.StrategyEnabled](r, domain.TypeStrategyEnabled, 1)
	addJSON[domain.StrategyDisabled](r, domain.TypeStrategyDisabled, 1)
	addJSON[domain.RiskLimitsChanged](r, domain.TypeRiskLimitsChanged, 1)
	addJSON[domain.KillSwitchTriggered](r, domain.TypeKillSwitchTriggered, 1)
	addJSON[domain.KillSwitchReset](r, domain.TypeKillSwitchReset, 1)
	addJSON[domain.BrokerSnapshotObserved](r, domain.TypeBrokerSnapshotObserved, 1)
	addJSON[domain.ReconciliationDiffFound](r, domain.TypeReconciliationDiffFound, 1)
	addJSON[domain.PositionAdopted](r, domain.TypePositionAdopted, 1)
	addJSON[domain.UserRegistered](r, domain.TypeUserRegistered, 1)
	addJSON[domain.UserPasswordChanged](r, domain.TypeUserPasswordChanged, 1)
	addJSON[domain.UserRoleChanged](r, domain.TypeUserRoleChanged, 1)
	addJSON[domain.UserSettingsUpdated](r, domain.TypeUserSettingsUpdated, 1)
	addJSON[domain.AccountAccessGranted](r, domain.TypeAccountAccessGranted, 1)
	addJSON[domain.AccountAccessRevoked](r, domain.TypeAccountAccessRevoked, 1)
	addJSON[domain.SessionStarted](r, domain.TypeSessionStarted, 1)
	addJSON[domain.SessionRefreshed](r, domain.TypeSessionRefreshed, 1)
	addJSON[domain.SessionRevoked](r, domain.TypeSessionRevoked, 1)
	addJSON[domain.APIKeyCreated](r, domain.TypeAPIKeyCreated, 1)
	addJSON[domain.APIKeyRevoked](r, domain.TypeAPIKeyRevoked, 1)
	return r
}

// addJSON registers a JSON event type whose current payload version is
// version; upcasters[i] turns version i+1 into i+2.
func addJSON[T domain.Event](r *Registry, name string, version int, upcasters ...Upcaster) {
	if len(upcasters) != version-1 {
		panic(fmt.Sprintf("codec: %s version %d needs %d upcasters, got %d", name, version, version-1, len(upcasters)))
	}
	e := &entry{name: name, version: version, upcasters: map[int]Upcaster{},
		decode: func(data []byte, strict bool) (domain.Event, error) {
			var v T
			dec := json.NewDecoder(bytes.NewReader(data))
			if strict {
				dec.DisallowUnknownFields()
			}
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("decode %s: %v: %w", name, err, ErrMalformed)
			}
			if dec.More() {
				return nil, fmt.Errorf("decode %s: trailing data: %w", name, ErrMalformed)
			}
			return v, nil
		}}
	for i, u := range upcasters {
		e.upcasters[i+1] = u
	}
	r.types[name] = e
}

// Types returns the registered event type names, sorted.
func (r *Registry) Types() []string {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Known reports whether typ is a registered event type.
func (r *Registry) Known(typ string) bool { return r.types[typ] != nil }

// CurrentVersion returns the current payload version of typ (0 if unknown).
func (r *Registry) CurrentVersion(typ string) int {
	if e := r.types[typ]; e != nil {
		return e.version
	}
	return 0
}

// Encode validates e and returns it ready to append, with id as its
// idempotency key and md as its metadata (Schema is set for JSON payloads).
func (r *Registry) Encode(id uuid.UUID, e domain.Event, md eventstore.Metadata) (eventstore.EventData, error) {
	typ := e.EventType()
	ent := r.types[typ]
	if ent == nil {
		return eventstore.EventData{}, fmt.Errorf("encode: unknown event type %q", typ)
	}
	if err := e.Validate(); err != nil {
		return eventstore.EventData{}, err
	}
	var data []byte
	var err error
	if ent.binary {
		t, ok := e.(domain.Tick)
		if !ok {
			return eventstore.EventData{}, fmt.Errorf("encode %s: unexpected Go type %T", typ, e)
		}
		data, err = AppendTick(make([]byte, 0, 64), &t)
	} else {
		md.Schema = ent.version
		data, err = json.Marshal(e)
	}
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	return eventstore.EventData{ID: id, Type: typ, Data: data, Metadata: md.Encode()}, nil
}

// Decode returns the domain event stored in ev, upcasting older payload
// versions to the current one.
func (r *Registry) Decode(ev *eventstore.RecordedEvent) (domain.Event, error) {
	ent := r.types[ev.Type]
	if ent == nil {
		return nil, fmt.Errorf("decode: unknown event type %q", ev.Type)
	}
	if ent.binary {
		return ent.decode(ev.Data, false)
	}
	md, err := eventstore.DecodeMetadata(ev.Metadata)
	if err != nil {
		return nil, err
	}
	data, err := ent.upcast(ev.Data, md.Schema)
	if err != nil {
		return nil, err
	}
	return ent.decode(data, false)
}

func (e *entry) upcast(data []byte, version int) ([]byte, error) {
	if version == 0 {
		version = 1
	}
	if version > e.version {
		return nil, fmt.Errorf("decode %s: payload version %d is newer than this build's %d", e.name, version, e.version)
	}
	for v := version; v < e.version; v++ {
		u := e.upcasters[v]
		if u == nil {
			return nil, fmt.Errorf("decode %s: no upcaster from version %d", e.name, v)
		}
		var err error
		if data, err = u(data); err != nil {
			return nil, fmt.Errorf("decode %s: upcast from version %d: %w", e.name, v, err)
		}
	}
	return data, nil
}

// FromJSON builds an event to append from its type name and JSON payload
// (the form `events append` reads). Known types are decoded strictly (an
// unknown field is an error), validated, and re-encoded in their stored form
// (binary for ticks). Unknown types are refused unless allowUnknown, in
// which case data must be a JSON object and is stored as given.
func (r *Registry) FromJSON(id uuid.UUID, typ string, data json.RawMessage, md eventstore.Metadata, allowUnknown bool) (eventstore.EventData, error) {
	ent := r.types[typ]
	if ent == nil {
		if !allowUnknown {
			return eventstore.EventData{}, fmt.Errorf("unknown event type %q (known: %v)", typ, r.Types())
		}
		trimmed := bytes.TrimSpace(data)
		if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
			return eventstore.EventData{}, fmt.Errorf("data of %s must be a JSON object", typ)
		}
		return eventstore.EventData{ID: id, Type: typ, Data: canonicalJSON(trimmed), Metadata: md.Encode()}, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return eventstore.EventData{}, fmt.Errorf("%s: data is missing", typ)
	}
	var ev domain.Event
	var err error
	if ent.binary {
		var t domain.Tick
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err = dec.Decode(&t); err != nil {
			return eventstore.EventData{}, fmt.Errorf("%s: %w", typ, err)
		}
		if dec.More() {
			return eventstore.EventData{}, fmt.Errorf("%s: trailing data after the payload", typ)
		}
		ev = t
	} else if ev, err = ent.decode(data, true); err != nil {
		return eventstore.EventData{}, err
	}
	return r.Encode(id, ev, md)
}

// DataJSON renders an event's payload as JSON: known types are decoded
// (upcast) and re-marshalled; unknown JSON payloads are returned as stored;
// anything else becomes a base64 JSON string.
func (r *Registry) DataJSON(ev *eventstore.RecordedEvent) (json.RawMessage, error) {
	if r.Known(ev.Type) {
		e, err := r.Decode(ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(e)
	}
	if len(ev.Data) > 0 && json.Valid(ev.Data) {
		return json.RawMessage(ev.Data), nil
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(ev.Data))
}

// Envelope is the JSON audit form of a stored event.
type Envelope struct {
	ID         string          `json:"id"`
	Stream     string          `json:"stream"`
	Type       string          `json:"type"`
	Version    uint64          `json:"version"`
	Position   uint64          `json:"position"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata"`
}

// Envelope renders ev as its JSON audit envelope.
func (r *Registry) Envelope(ev *eventstore.RecordedEvent) (Envelope, error) {
	data, err := r.DataJSON(ev)
	if err != nil {
		return Envelope{}, fmt.Errorf("event %s at position %d: %w", ev.ID, ev.Position, err)
	}
	md := json.RawMessage(`{}`)
	if len(ev.Metadata) > 0 {
		if !json.Valid(ev.Metadata) {
			return Envelope{}, fmt.Errorf("event %s at position %d: metadata is not JSON: %w", ev.ID, ev.Position, ErrMalformed)
		}
		md = json.RawMessage(ev.Metadata)
	}
	return Envelope{
		ID: ev.ID.String(), Stream: ev.Stream, Type: ev.Type, Version: ev.Version,
		Position: uint64(ev.Position), RecordedAt: ev.RecordedAt.UTC(), Data: data, Metadata: md,
	}, nil
}

// DecodeEnvelope parses a JSON audit envelope back into a RecordedEvent,
// re-encoding known payloads in their stored form. It is the inverse of
// Envelope for events of known types and for unknown JSON payloads.
func (r *Registry) DecodeEnvelope(b []byte) (eventstore.RecordedEvent, error) {
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("envelope: %v: %w", err, ErrMalformed)
	}
	if dec.More() {
		return eventstore.RecordedEvent{}, fmt.Errorf("envelope: trailing data: %w", ErrMalformed)
	}
	id, err := uuid.Parse(env.ID)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("envelope id %q: %v: %w", env.ID, err, ErrMalformed)
	}
	if err := eventstore.ValidateStream(env.Stream); err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("envelope: %w", err)
	}
	var md eventstore.Metadata
	var rawMD []byte
	if m := canonicalJSON(env.Metadata); len(m) > 0 && !bytes.Equal(m, []byte("{}")) && !bytes.Equal(m, []byte("null")) {
		if md, err = eventstore.DecodeMetadata(m); err != nil {
			return eventstore.RecordedEvent{}, fmt.Errorf("envelope: %v: %w", err, ErrMalformed)
		}
		rawMD = m
	}
	data, err := r.FromJSON(id, env.Type, env.Data, md, true)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("envelope: %v: %w", err, ErrMalformed)
	}
	if !r.Known(env.Type) {
		// Unknown types keep their metadata exactly; known ones carry the
		// schema version of the payload FromJSON re-encoded.
		data.Metadata = rawMD
	}
	return eventstore.RecordedEvent{
		ID: id, Stream: env.Stream, Type: env.Type, Version: env.Version,
		Position: eventstore.Position(env.Position), RecordedAt: env.RecordedAt,
		Data: data.Data, Metadata: data.Metadata,
	}, nil
}

// canonicalJSON returns valid JSON b compacted and HTML-escaped, the form
// json.Marshal (and so an exported envelope) writes a json.RawMessage in, so
// that payloads stored as given survive an export and re-import byte for
// byte. Empty input stays empty.
func canonicalJSON(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	out, err := json.Marshal(json.RawMessage(b))
	if err != nil {
		return b // not JSON: left for the caller's decoder to reject
	}
	return out
}
