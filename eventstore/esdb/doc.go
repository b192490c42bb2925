// Package esdb implements eventstore.Store on EventStoreDB (KurrentDB)
// through its official gRPC client, EventStore-Client-Go v4. Open takes an
// "esdb://host:2113?tls=false" connection string ("esdb+discover://" for a
// cluster; "kurrentdb://" and "kurrentdb+discover://" are accepted too).
//
// # What it guarantees
//
// The common contract of package eventstore holds, within the limits of
// the next section:
//
//   - Acknowledged means durable: Append returns once the server has
//     flushed the write and, in a cluster, the nodes its acknowledgement
//     settings require have too.
//   - Atomic: the events of one Append are written all or none.
//   - Optimistic concurrency is EventStoreDB's own: Any, NoStream,
//     StreamExists and Exact(n) map to its expected revisions, and a
//     WrongExpectedVersion answer becomes a *eventstore.ConflictError with
//     the stream's actual version.
//   - Subscriptions are ordered, unique within one subscription, resumable
//     from any position (exclusive) and bookmarkable; they buffer at most
//     four pages of events and 4 MiB of payload, and a subscription the
//     server drops (because the consumer is slow, or the connection
//     failed) is renewed from the last event received, with a capped
//     backoff, without redelivering.
//
// # Narrower than embedded and postgres
//
//   - Idempotency is EventStoreDB's, not the contract's durable unique id
//     index. The server deduplicates a retry of the same event ids to the
//     same stream "in quick succession": assured for NoStream,
//     StreamExists and Exact(n), best-effort for Any. Such a retry
//     succeeds, but AppendResult.Duplicate stays false: the store cannot
//     tell a deduplicated retry from a first write. The server does not
//     detect an id reused with another payload (the retry "succeeds" and
//     the new payload is dropped) nor an id reused in another stream (it is
//     stored twice), so ErrDuplicateEventID is never returned; a retry of
//     which only some events were written fails as a concurrency conflict
//     rather than ErrPartialDuplicate. eventstoretest runs this store with
//     Features.DurableIdempotency false.
//   - Positions are commit positions in the server's transaction log: they
//     increase strictly with commit order but are byte offsets, not dense
//     (Features.DensePositions false), and the log is shared by every test
//     and application using the server (Features.IsolatedLog false).
//   - System events (streams or event types starting with "$") are
//     invisible: ReadAll, Head, PositionAt and Subscribe skip them.
//   - ReadAll filters on the client: a sparse filter reads the events it
//     skips too, in batches of 4096.
//   - A position that is not the position of an event (such as p-1 for an
//     event at p) is accepted by ReadAll and Subscribe: the server refuses
//     it, so the store tries the next byte (p, for p-1) and otherwise scans
//     from the start of the log (ReadAll) or back from its end (Subscribe),
//     which can be slow on a long log.
//   - PositionAt searches by chunk (the server's default 256 MiB files)
//     and then scans one chunk; it relies on RecordedAt (the server clock)
//     increasing along the log.
//   - The server bounds one append (MaxAppendSize, 1 MiB by default); run
//     it with a larger limit to accept events up to eventstore.MaxEventSize.
//     An append over the server's limit fails with ErrInvalidEvent.
//
// # Connections
//
// The client reconnects by itself. When it gives up (its discovery fails
// for longer than MaxDiscoverAttempts), the store replaces it with a new
// one; calls meanwhile fail with errors wrapping eventstore.ErrUnavailable.
// The client's discovery does not observe contexts, so a call made while
// it runs can outlast its context by up to the discovery time
// (maxDiscoverAttempts and gossipTimeout in the URL bound it).
package esdb
