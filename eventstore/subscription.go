package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Reader is what a catch-up subscription needs from a store whose positions
// appear in commit order (every event at or below the head is visible to a
// read that starts after the head was read).
type Reader interface {
	Head(ctx context.Context) (Position, error)
	ReadAll(ctx context.Context, opts ReadAllOptions) ([]RecordedEvent, error)
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) ([]RecordedEvent, error)
}

// HeadSignal wakes waiters when the log head moves. The zero value is
// ready to use. Changed returns a channel that is closed by the next
// Notify; take it before reading the head so that no change is missed.
type HeadSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// Changed returns a channel closed at the next Notify.
func (s *HeadSignal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every waiter.
func (s *HeadSignal) Notify() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// CatchUpConfig tunes a catch-up subscription.
type CatchUpConfig struct {
	// PageSize is the most events one ReadAll (and one message) carries.
	// Default 512.
	PageSize int
	// PollInterval re-reads the head even without a signal, as a safety net
	// for lost notifications. Default 1s.
	PollInterval time.Duration
}

func (c *CatchUpConfig) setDefaults() {
	if c.PageSize <= 0 {
		c.PageSize = 512
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
}

// CatchUp is a pull-based subscription over a Reader: each Next reads at
// most one page, so a slow consumer holds at most one page in memory and
// back-pressures nothing but itself.
type CatchUp struct {
	r        Reader
	signal   *HeadSignal
	filter   Filter
	cfg      CatchUpConfig
	pos      Position
	caughtUp bool
	// A subscription to one stream (Filter.Stream, no prefix) follows it by
	// version through ReadStream: each read costs a page, however long the
	// stream or the log. nextVersion < 0 means not located yet.
	nextVersion int64
	closed      chan struct{}
	once        sync.Once
	done        <-chan struct{} // the Subscribe context
}

var _ Subscription = (*CatchUp)(nil)

// NewCatchUp returns a subscription delivering events after from. ctx bounds
// its lifetime (Next fails once ctx is done); signal may be nil, then the
// subscription polls.
func NewCatchUp(ctx context.Context, r Reader, signal *HeadSignal, from Position, filter Filter, cfg CatchUpConfig) *CatchUp {
	cfg.setDefaults()
	if signal == nil {
		signal = &HeadSignal{}
	}
	return &CatchUp{r: r, signal: signal, filter: filter, cfg: cfg, pos: from, nextVersion: -1, closed: make(chan struct{}), done: ctx.Done()}
}

func (s *CatchUp) oneStream() bool { return s.filter.Stream != "" && s.filter.StreamPrefix == "" }

// read returns the next page after s.pos (fewer than PageSize events means
// the end of the log as of the read) and how many events it examined.
func (s *CatchUp) read(ctx context.Context) (events []RecordedEvent, full bool, err error) {
	if !s.oneStream() {
		events, err = s.r.ReadAll(ctx, ReadAllOptions{After: s.pos, Count: s.cfg.PageSize, Filter: s.filter})
		return events, len(events) == s.cfg.PageSize, err
	}
	if s.nextVersion < 0 {
		v, err := s.locate(ctx)
		if err != nil {
			return nil, false, err
		}
		s.nextVersion = v
	}
	raw, err := s.r.ReadStream(ctx, s.filter.Stream, ReadStreamOptions{From: uint64(s.nextVersion), Count: s.cfg.PageSize})
	if errors.Is(err, ErrStreamNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	full = len(raw) == s.cfg.PageSize
	events = raw[:0]
	for _, e := range raw {
		s.nextVersion = int64(e.Version) + 1
		if e.Position > s.pos && s.filter.MatchType(e.Type) {
			events = append(events, e)
		}
	}
	return events, full, nil
}

// locate finds the first version of the stream whose position is after
// s.pos, by binary search (versions and positions rise together).
func (s *CatchUp) locate(ctx context.Context) (int64, error) {
	if s.pos == Start {
		return 0, nil
	}
	last, err := s.r.ReadStream(ctx, s.filter.Stream, ReadStreamOptions{Direction: Backwards, FromEnd: true, Count: 1})
	if errors.Is(err, ErrStreamNotFound) || err == nil && len(last) == 0 {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	lo, hi := int64(0), int64(last[0].Version)+1 // answer in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		evs, err := s.r.ReadStream(ctx, s.filter.Stream, ReadStreamOptions{From: uint64(mid), Count: 1})
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 || evs[0].Position > s.pos {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// Next implements Subscription.
func (s *CatchUp) Next(ctx context.Context) (SubscriptionMessage, error) {
	for {
		select {
		case <-s.closed:
			return SubscriptionMessage{}, fmt.Errorf("subscription: %w", ErrClosed)
		case <-s.done:
			return SubscriptionMessage{}, fmt.Errorf("subscription: %w", context.Canceled)
		default:
		}
		if err := ctx.Err(); err != nil {
			return SubscriptionMessage{}, err
		}
		changed := s.signal.Changed()
		head, err := s.r.Head(ctx)
		if err != nil {
			return SubscriptionMessage{}, fmt.Errorf("subscription head: %w", err)
		}
		if head > s.pos {
			events, full, err := s.read(ctx)
			if err != nil {
				return SubscriptionMessage{}, fmt.Errorf("subscription read after %d: %w", s.pos, err)
			}
			last := s.pos
			if n := len(events); n > 0 {
				last = events[n-1].Position
			}
			if !full {
				// The read reached the end of the log as it stood after head
				// was read: everything matching up to max(head, last) is out.
				// A caught-up mark with no events still tells the consumer
				// how far the log has been read (progress notification), so
				// a filtered consumer knows it reflects the head.
				reached := max(head, last)
				s.pos, s.caughtUp = reached, true
				return SubscriptionMessage{Events: events, CaughtUp: true, Position: reached}, nil
			}
			if len(events) == 0 {
				continue // a full page of other types (one-stream mode): read on
			}
			s.pos, s.caughtUp = last, false
			return SubscriptionMessage{Events: events, Position: last}, nil
		}
		if !s.caughtUp {
			s.caughtUp = true
			s.pos = max(s.pos, head)
			return SubscriptionMessage{CaughtUp: true, Position: s.pos}, nil
		}
		timer := time.NewTimer(s.cfg.PollInterval)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
		case <-s.done:
		case <-s.closed:
		}
		timer.Stop()
	}
}

// Close implements Subscription.
func (s *CatchUp) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
