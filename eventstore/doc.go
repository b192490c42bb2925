// Package eventstore defines AlgoAuto's event-log contract (the Store port),
// its value types (EventData, RecordedEvent, ExpectedVersion, Position,
// Filter), its error vocabulary and a catch-up subscription that any store
// with ReadAll and a wake-up signal can reuse.
//
// # Streams, versions and positions
//
// Events live in named streams ("tick-NSE:NIFTY 50", "order-<id>",
// "control-<account>"). Within a stream, events are numbered by Version from
// 0 without holes. Across all streams, every event has a global Position
// that strictly increases in commit order; positions start at 1, and 0 means
// "before the first event". Stores whose Features.DensePositions is true
// (embedded, postgres) also leave no holes between positions; EventStoreDB's
// positions are log offsets and are not dense.
//
// # Guarantees every implementation gives (checked by eventstoretest)
//
//   - Acknowledged means durable: Append returns only after the events are
//     fsynced (embedded), committed (postgres) or acknowledged by the cluster
//     (esdb).
//   - Atomic: all events of one Append or none.
//   - Optimistic concurrency: the expected version is checked against the
//     stream's version; a mismatch returns an error wrapping
//     ErrConcurrencyConflict, and errors.As gives a *ConflictError with the
//     actual version.
//   - Idempotent by event id: an event whose id is stored already is not
//     stored again, whatever the expected version; if every event of a call
//     is already stored (same stream, same type, same data) the call succeeds
//     with the original result and AppendResult.Duplicate set. The same id
//     with a different stream, type or data is ErrDuplicateEventID. A call of
//     which only some events are stored fails with ErrPartialDuplicate and
//     stores nothing; the caller drops the stored ones and appends the rest.
//     Embedded and postgres enforce this with a durable unique index for all
//     time; EventStoreDB's guarantee is narrower (see package esdb).
//   - Subscriptions are ordered (by position), reliable (no event skipped
//     between two delivered), unique within one subscription, resumable
//     (from a position, exclusive) and bookmarkable (a caught-up message at
//     P means every matching event at or before P was delivered). A slow
//     subscriber is back-pressured: the store reads pages on demand and never
//     buffers more than a few pages per subscription.
package eventstore
