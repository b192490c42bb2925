package eventstore

import (
	"context"
	"time"
)

// Store is the event log. Implementations: embedded (Pebble, the default),
// postgres (pgx) and esdb (EventStoreDB). All methods are safe for
// concurrent use; each takes a context that bounds that call only.
type Store interface {
	// Append writes events to the end of stream if the stream is in the
	// expected state, atomically, and returns only once they are durable.
	// A zero-event append is a no-op that reports the stream's version.
	// Errors: ErrConcurrencyConflict (as *ConflictError), ErrDuplicateEventID,
	// ErrPartialDuplicate, ErrInvalidEvent, ErrInvalidStream, ErrClosed.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)

	// ReadStream returns up to opts.Count events of one stream in the given
	// direction, starting at opts.From (inclusive) or at the end. A stream
	// with no events returns ErrStreamNotFound; a From past the end returns
	// no events and no error.
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) ([]RecordedEvent, error)

	// ReadAll returns up to opts.Count events matching opts.Filter with
	// Position > opts.After, in position order. Fewer than Count means the
	// read reached the end of the log as it was when the read began.
	ReadAll(ctx context.Context, opts ReadAllOptions) ([]RecordedEvent, error)

	// Head returns the position of the last event in the log (Start when
	// empty).
	Head(ctx context.Context) (Position, error)

	// PositionAt returns the position of the first event recorded at or
	// after t, and false when there is none. Reading with After = p-1 starts
	// at that event.
	PositionAt(ctx context.Context, t time.Time) (Position, bool, error)

	// Subscribe delivers every event matching filter after position from
	// (exclusive): first the history, then live events, with caught-up
	// marks. It ends when ctx is cancelled or Close is called.
	Subscribe(ctx context.Context, from Position, filter Filter) (Subscription, error)

	// Close releases the store. Appends in flight complete or fail with
	// ErrClosed; none is half-written.
	Close() error
}

// SubscriptionMessage is one step of a subscription: a run of events in
// position order and/or a caught-up mark.
type SubscriptionMessage struct {
	Events []RecordedEvent
	// CaughtUp is true when, after Events, every matching event at or before
	// Position has been delivered (the bookmark of the etcd watch contract).
	CaughtUp bool
	// Position is how far the subscription has read: the last event's
	// position, or the log head when CaughtUp. A caught-up message may
	// carry no events: the log moved on with events the filter excludes.
	Position Position
}

// Subscription is a pull-based catch-up subscription. Next blocks until
// there is something to deliver, ctx is done, or the subscription fails.
// A Subscription is used by one goroutine at a time.
type Subscription interface {
	Next(ctx context.Context) (SubscriptionMessage, error)
	Close() error
}
