package esdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/algoauto/algoauto/eventstore"
)

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// maxBufferBytes bounds the payload bytes a subscription buffers for a
	// consumer that does not keep up (besides four pages of events); one
	// event larger than this is still buffered alone.
	maxBufferBytes = 4 << 20
)

// Subscribe implements eventstore.Store with a server catch-up
// subscription to $all. The server filters by stream (Filter.Stream or
// Filter.StreamPrefix as a prefix) or else by event type, and always
// excludes system events; the client then applies the exact filter.
//
// One goroutine receives from the server into a buffer of at most four
// pages and 4 MiB of payload; when the consumer is slower than the server,
// it blocks (so does gRPC's flow control behind it), and the server may
// drop the subscription, which is then renewed from the last event
// received. A caught-up message at P means every matching event at or
// before P was delivered: P is the last event received, or the head of the
// log when the subscription (re)started if that is further.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	doing := fmt.Sprintf("subscribe after %d", from)
	c, release, err := s.acquire(doing)
	if err != nil {
		return nil, err
	}
	defer release()
	// The head bounds the first catch-up; reading it also makes Subscribe
	// fail when the server cannot be reached, whatever from is.
	head, err := s.headPosition(ctx, c)
	if err != nil {
		return nil, s.mapErr(ctx, c, doing, err)
	}
	anchor, err := s.anchor(ctx, c, uint64(from))
	if err != nil {
		return nil, s.mapErr(ctx, c, doing, err)
	}
	_, done, err := s.acquire(doing) // held by the goroutine
	if err != nil {
		return nil, err
	}
	subCtx, cancel := context.WithCancel(ctx)
	sub := &subscription{
		s:        s,
		ctx:      subCtx,
		cancel:   cancel,
		filter:   filter,
		server:   serverFilter(filter),
		pageSize: s.cfg.PageSize,
		items:    make(chan subItem, 4*s.cfg.PageSize),
		freed:    make(chan struct{}, 1),
		exited:   make(chan struct{}),
		closed:   make(chan struct{}),
		anchor:   anchor,
		floor:    uint64(from),
		head:     head,
		haveHead: true,
	}
	sub.stopAfter = context.AfterFunc(s.base, cancel) // Store.Close ends it
	go sub.run(done)
	return sub, nil
}

// anchor returns where a server subscription must start so that the first
// event it yields is the first event after position after. The server
// starts after the event at (or the first event following) the position
// it is given, and refuses positions that are not record boundaries; the
// subscription also skips every event at or below after itself, so any
// position of an event at or before after is correct, the nearest is
// cheapest.
func (s *Store) anchor(ctx context.Context, c *esdb.Client, after uint64) (esdb.AllPosition, error) {
	if after == 0 {
		return esdb.Start{}, nil
	}
	for _, q := range []uint64{after, after + 1} {
		var first *esdb.RecordedEvent
		_, err := s.readAllOnce(ctx, c, esdb.ReadAllOptions{Direction: esdb.Forwards, From: esdb.Position{Commit: q, Prepare: q}}, 1,
			func(ev *esdb.RecordedEvent) bool { first = ev; return false })
		if err != nil {
			if isInvalidPosition(err) {
				continue
			}
			return nil, err
		}
		if first != nil && first.Position.Commit <= after {
			return first.Position, nil // the event at after itself
		}
		// q is a record boundary and first (if any) the first event at or
		// after it: the event before is at or before after.
		var from esdb.AllPosition = esdb.Position{Commit: q, Prepare: q}
		ceiling := q
		if first != nil {
			from, ceiling = first.Position, first.Position.Commit
		}
		prev, err := s.lastBelow(ctx, c, from, ceiling)
		if err != nil {
			if isInvalidPosition(err) {
				break
			}
			return nil, err
		}
		if prev == nil {
			return esdb.Start{}, nil
		}
		return prev.Position, nil
	}
	// after is not a record boundary (nor is after+1): walk back from the
	// end of the log to the last event at or before it.
	s.log.Warn("esdb: subscription position is not an event position; searching back from the end of the log", "after", after)
	prev, err := s.lastBelow(ctx, c, esdb.End{}, after+1)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		return esdb.Start{}, nil
	}
	return prev.Position, nil
}

// lastBelow returns the last event (system events included) before from
// whose commit position is below ceiling, or nil.
func (s *Store) lastBelow(ctx context.Context, c *esdb.Client, from esdb.AllPosition, ceiling uint64) (*esdb.RecordedEvent, error) {
	var prev *esdb.RecordedEvent
	err := s.scanBack(ctx, c, from, ceiling, func(ev *esdb.RecordedEvent) bool { prev = ev; return false })
	return prev, err
}

// serverFilter narrows what the server sends; the client still applies
// the exact filter (the server matches prefixes only).
func serverFilter(f eventstore.Filter) *esdb.SubscriptionFilter {
	switch {
	case f.Stream != "":
		return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{f.Stream}}
	case f.StreamPrefix != "":
		return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{f.StreamPrefix}}
	case len(f.Types) > 0:
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: append([]string(nil), f.Types...)}
	}
	return esdb.ExcludeSystemEventsFilter()
}

// subItem is one entry of a subscription's buffer: an event, or a bare
// caught-up mark.
type subItem struct {
	ev       eventstore.RecordedEvent
	hasEvent bool
	caughtUp bool
	pos      eventstore.Position
}

func (it *subItem) size() int64 { return int64(len(it.ev.Data) + len(it.ev.Metadata)) }

// subscription implements eventstore.Subscription.
type subscription struct {
	s         *Store
	ctx       context.Context // owned: the goroutine's lifetime
	cancel    context.CancelFunc
	stopAfter func() bool
	filter    eventstore.Filter
	server    *esdb.SubscriptionFilter
	pageSize  int

	items     chan subItem  // closed by the goroutine when it ends
	buffered  atomic.Int64  // payload bytes in items
	freed     chan struct{} // Next took items: buffered went down
	exited    chan struct{} // closed after items
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	err       error // why the goroutine ended; written before items is closed

	// Owned by the goroutine.
	anchor   esdb.AllPosition // where the first server subscription starts
	lastSeen esdb.Position    // the last event received from the server
	seen     bool
	floor    uint64 // events at or below are never delivered
	head     uint64 // the head read by Subscribe, for the first session
	haveHead bool
	marked   bool
	markPos  eventstore.Position
}

var _ eventstore.Subscription = (*subscription)(nil)

// Next implements eventstore.Subscription: it returns the events buffered
// (up to a page) or waits for one, ctx, or the end of the subscription.
func (sub *subscription) Next(ctx context.Context) (eventstore.SubscriptionMessage, error) {
	var msg eventstore.SubscriptionMessage
	select {
	case <-sub.closed:
		return msg, fmt.Errorf("subscription: %w", eventstore.ErrClosed)
	default:
	}
	if err := ctx.Err(); err != nil {
		return msg, err
	}
	var it subItem
	var taken int64
	defer func() {
		if taken > 0 {
			sub.buffered.Add(-taken)
			select {
			case sub.freed <- struct{}{}:
			default:
			}
		}
	}()
	select {
	case next, ok := <-sub.items:
		if !ok {
			return msg, sub.err
		}
		it = next
	case <-ctx.Done():
		return msg, ctx.Err()
	case <-sub.closed:
		return msg, fmt.Errorf("subscription: %w", eventstore.ErrClosed)
	}
	for {
		taken += it.size()
		if it.hasEvent {
			msg.Events = append(msg.Events, it.ev)
		}
		msg.CaughtUp, msg.Position = it.caughtUp, it.pos
		if !it.hasEvent || len(msg.Events) >= sub.pageSize {
			return msg, nil // a bare mark ends a message
		}
		select {
		case next, ok := <-sub.items:
			if !ok {
				return msg, nil // the error comes with the next call
			}
			it = next
		default:
			return msg, nil
		}
	}
}

// Close implements eventstore.Subscription: it ends the subscription and
// waits for its goroutine.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() {
		close(sub.closed)
		sub.cancel()
	})
	<-sub.exited
	return nil
}

// run renews the server subscription until the subscription ends.
func (sub *subscription) run(done func()) {
	defer done()
	defer close(sub.exited)
	defer close(sub.items)
	defer sub.cancel()
	defer sub.stopAfter()
	backoff := minBackoff
	for {
		progressed, err := sub.session()
		if sub.ctx.Err() != nil {
			sub.err = sub.endErr()
			return
		}
		if isPermanent(err) {
			sub.err = fmt.Errorf("subscription after %d: %w", sub.floor, err)
			return
		}
		if progressed {
			backoff = minBackoff
		}
		sub.s.log.Warn("esdb: subscription dropped; renewing it", "after", sub.floor, "in", backoff, "error", briefCause(err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-sub.ctx.Done():
			t.Stop()
			sub.err = sub.endErr()
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (sub *subscription) endErr() error {
	select {
	case <-sub.closed:
		return fmt.Errorf("subscription: %w", eventstore.ErrClosed)
	default:
	}
	if sub.s.isClosed() {
		return fmt.Errorf("subscription: %w", eventstore.ErrClosed)
	}
	return fmt.Errorf("subscription: %w", context.Canceled)
}

// session runs one server subscription until it drops. progressed reports
// whether it received any event.
func (sub *subscription) session() (progressed bool, err error) {
	defer guard(&err)
	c, err := sub.s.current()
	if err != nil {
		return false, err
	}
	h := sub.head
	if !sub.haveHead {
		if h, err = sub.s.headPosition(sub.ctx, c); err != nil {
			sub.s.noteErr(c, err)
			return false, fmt.Errorf("read the head: %w", err)
		}
	}
	sub.haveHead = false // a later session reads it again
	from := sub.anchor
	if sub.seen {
		from = sub.lastSeen // exclusive: the server starts after it
	}
	es, err := subscribeToAll(sub.ctx, c, esdb.SubscribeToAllOptions{From: from, Filter: sub.server})
	if err != nil {
		sub.s.noteErr(c, err)
		return false, err
	}
	defer es.Close()

	caught := false
	// mark records the transition to caught up and sends a bare mark.
	mark := func() error {
		caught = true
		pos := eventstore.Position(max(sub.floor, h))
		if sub.marked && sub.markPos == pos {
			return nil
		}
		sub.marked, sub.markPos = true, pos
		return sub.emit(subItem{caughtUp: true, pos: pos})
	}
	if sub.floor >= h {
		// Nothing at or before the head is left to deliver.
		if err := mark(); err != nil {
			return false, err
		}
	}
	for {
		e := es.Recv()
		switch {
		case e.EventAppeared != nil:
			ev := e.EventAppeared.OriginalEvent()
			if ev == nil || ev.Position.Commit <= sub.floor {
				continue // never redeliver
			}
			sub.floor, sub.lastSeen, sub.seen, progressed = ev.Position.Commit, ev.Position, true, true
			becameCaught := !caught && sub.floor >= h
			if isSystem(ev) || !sub.filter.MatchStream(ev.StreamID) || !sub.filter.MatchType(ev.EventType) {
				if becameCaught {
					if err := mark(); err != nil {
						return progressed, err
					}
				}
				continue
			}
			if becameCaught {
				caught = true // the event below carries the mark
			}
			it := subItem{ev: toRecorded(ev), hasEvent: true, caughtUp: caught, pos: eventstore.Position(ev.Position.Commit)}
			if caught {
				it.pos = eventstore.Position(max(sub.floor, h))
				sub.marked, sub.markPos = true, it.pos
			}
			if err := sub.emit(it); err != nil {
				return progressed, err
			}
		case e.CaughtUp != nil:
			// Everything up to the server's end of log when the live phase
			// began has been sent, so everything up to h too.
			if !caught {
				if err := mark(); err != nil {
					return progressed, err
				}
			}
		case e.FellBehind != nil:
			caught = false
		case e.CheckPointReached != nil:
			// The server has examined every event before the checkpoint.
			// Its position need not be an event's, so it is never used to
			// resume or as a bookmark; it only proves the catch-up past h
			// (for servers that send no caught-up message).
			if !caught && e.CheckPointReached.Commit > h && e.CheckPointReached.Commit != math.MaxUint64 {
				if err := mark(); err != nil {
					return progressed, err
				}
			}
		case e.SubscriptionDropped != nil:
			err := e.SubscriptionDropped.Error
			if err == nil {
				err = errors.New("subscription dropped by the server")
			}
			sub.s.noteErr(c, err)
			return progressed, err
		}
	}
}

func subscribeToAll(ctx context.Context, c *esdb.Client, opts esdb.SubscribeToAllOptions) (es *esdb.Subscription, err error) {
	defer guard(&err)
	return c.SubscribeToAll(ctx, opts)
}

// emit buffers one item, blocking while the buffer is full (by count or
// by bytes).
func (sub *subscription) emit(it subItem) error {
	size := it.size()
	for {
		cur := sub.buffered.Load()
		if cur == 0 || cur+size <= maxBufferBytes {
			break
		}
		select {
		case <-sub.freed:
		case <-sub.ctx.Done():
			return sub.ctx.Err()
		}
	}
	sub.buffered.Add(size)
	select {
	case sub.items <- it:
		return nil
	case <-sub.ctx.Done():
		sub.buffered.Add(-size)
		return sub.ctx.Err()
	}
}
