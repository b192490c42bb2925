// Package ingest records market data into the event log. A Recorder takes
// validated ticks from feeds (through the bus), batches them by size and a
// short maximum delay, and appends each batch to the ticks' streams.
//
// Contract:
//   - A tick is acknowledged to the bus when it is accepted into the
//     recorder's bounded buffer, not when it is durable; what is in the
//     buffer at a crash is lost (a live feed cannot be replayed anyway).
//     On a clean stop the buffer is flushed before Run returns.
//   - When the store is slower than the feed, the buffer grows and the next
//     append takes all of it (batches grow). Past MaxPendingBytes the
//     Overflow policy applies: Block makes Accept wait (simulated and
//     replayed feeds), Drop discards the ticks, counts them, and the next
//     flush appends a FeedGap event to the provider's stream first. Never a
//     silent drop, never an unbounded queue.
//   - A failed append is retried with the same event ids, so a retry after
//     an ambiguous failure cannot duplicate (appends are idempotent by id).
//   - Invalid ticks are rejected at Accept, counted and logged; they never
//     reach the store.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// Appender is the part of the event store the recorder needs.
type Appender interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error)
}

// Overflow is what Accept does when the buffer is full.
type Overflow int

const (
	// Drop discards ticks past the bound and records a FeedGap.
	Drop Overflow = iota
	// Block makes Accept wait for room (back-pressure to the feed).
	Block
)

// Config configures a Recorder.
type Config struct {
	// Provider names the feed, for FeedGap events ("sim", "zerodha").
	Provider string
	// MaxBatch is the number of buffered ticks that triggers a flush without
	// waiting for MaxDelay; default 8192.
	MaxBatch int
	// MaxDelay is the longest a tick waits in the buffer before a flush
	// starts; default 20ms.
	MaxDelay time.Duration
	// MaxPendingBytes bounds the buffer (encoded payload bytes plus
	// overhead); default 64 MiB.
	MaxPendingBytes int
	// Overflow is the policy past MaxPendingBytes; default Drop.
	Overflow Overflow
	// RetryInterval is the first wait after a failed append; it doubles up
	// to 5s. Default 100ms.
	RetryInterval time.Duration
	// StopTimeout bounds the final flush after Run's context ends; default 8s.
	StopTimeout time.Duration
	// Now is the clock for FeedGap bookkeeping; default time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 8192
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 20 * time.Millisecond
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = 64 << 20
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 8 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Provider == "" {
		errs = append(errs, errors.New("ingest: Provider is required"))
	}
	if c.Overflow != Drop && c.Overflow != Block {
		errs = append(errs, fmt.Errorf("ingest: unknown overflow policy %d", c.Overflow))
	}
	if c.MaxBatch < 0 || c.MaxPendingBytes < 0 {
		errs = append(errs, errors.New("ingest: MaxBatch and MaxPendingBytes must not be negative"))
	}
	return errors.Join(errs...)
}

// ErrStopped is returned by Accept after Run has finished.
var ErrStopped = errors.New("ingest: recorder stopped")

// Stats is a snapshot of a recorder's counters.
type Stats struct {
	Running       bool
	Accepted      int64 // ticks taken into the buffer
	Recorded      int64 // ticks durably appended
	Dropped       int64 // ticks discarded past the memory bound (each in a FeedGap)
	Invalid       int64 // ticks rejected by validation
	Batches       int64 // flushes that appended something
	Gaps          int64 // FeedGap events appended
	PendingTicks  int
	PendingBytes  int
	LastAppendAt  time.Time
	LastError     string
	AppendRetries int64
}

// Recorder buffers ticks and appends them in batches.
type Recorder struct {
	stopOnce sync.Once // sets stopAt
	stopAt   time.Time
	store    Appender
	reg      *codec.Registry
	cfg      Config
	log      *slog.Logger

	mu        sync.Mutex
	room      *sync.Cond // signalled when the buffer shrinks or on stop
	pending   map[string][]eventstore.EventData
	nPending  int
	bytes     int
	firstAt   time.Time // when the oldest buffered tick arrived
	gap       gapInfo
	stopped   bool
	streamsMu sync.Mutex
	streams   map[string]map[string]string // exchange -> symbol -> stream
	wake      chan struct{}                // MaxBatch reached
	running   atomic.Bool
	accepted  atomic.Int64
	recorded  atomic.Int64
	dropped   atomic.Int64
	invalid   atomic.Int64
	batches   atomic.Int64
	gaps      atomic.Int64
	retries   atomic.Int64
	lastApp   atomic.Int64
	lastError atomic.Pointer[string]
}

type gapInfo struct {
	dropped  int64
	from, to time.Time
}

// NewRecorder returns a recorder appending to store.
func NewRecorder(store Appender, reg *codec.Registry, cfg Config) (*Recorder, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Recorder{store: store, reg: reg, cfg: cfg, log: cfg.Logger,
		pending: map[string][]eventstore.EventData{}, wake: make(chan struct{}, 1), streams: map[string]map[string]string{}}
	r.room = sync.NewCond(&r.mu)
	return r, nil
}

type encodedTick struct {
	stream string
	ev     eventstore.EventData
	at     time.Time
}

// Accept validates and buffers ticks. With the Drop policy it never blocks;
// with Block it waits for room until ctx is done.
func (r *Recorder) Accept(ctx context.Context, ticks []domain.Tick) error {
	batch, err := codec.AppendTickBatch(nil, ticks)
	if err != nil {
		// A tick the layout cannot hold is invalid: sort them out one by one.
		for i := range ticks {
			if one, err := codec.AppendTickBatch(nil, ticks[i:i+1]); err == nil {
				if err := r.AcceptBatch(ctx, one); err != nil {
					return err
				}
			} else {
				r.reject(&ticks[i], err)
			}
		}
		return nil
	}
	return r.AcceptBatch(ctx, batch)
}

func (r *Recorder) reject(t *domain.Tick, err error) {
	r.invalid.Add(1)
	r.log.Warn("rejected invalid tick", "provider", t.Provider, "symbol", t.Symbol, "err", err)
}

// AcceptBatch is Accept for a batch in the codec's tick-batch form (what the
// bus carries): each tick is decoded and validated, and its encoding is
// buffered as it is, without being encoded again. A malformed batch is
// rejected whole.
func (r *Recorder) AcceptBatch(ctx context.Context, batch []byte) error {
	encoded := make([]encodedTick, 0, len(batch)/64+1)
	size := 0
	var d codec.TickDecoder
	err := codec.ForEachTick(batch, &d, func(t *domain.Tick, enc []byte) error {
		if err := t.Validate(); err != nil {
			r.reject(t, err)
			return nil
		}
		// Ids are given at flush time, stream by stream, so that each append
		// carries ids above every stored one (the store's id index stays
		// sequential and needs no lookups).
		encoded = append(encoded, encodedTick{r.streamOf(t), eventstore.EventData{Type: domain.TypeTickReceived, Data: enc}, t.ExchangeTime})
		size += len(enc) + 64
		return nil
	})
	if err != nil {
		r.invalid.Add(1)
		r.log.Error("rejected a malformed tick batch", "bytes", len(batch), "err", err)
		return nil // redelivering it cannot help
	}
	if len(encoded) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	for r.bytes+size > r.cfg.MaxPendingBytes && r.nPending > 0 {
		if r.cfg.Overflow == Drop {
			r.dropped.Add(int64(len(encoded)))
			for _, e := range encoded {
				r.noteGap(e.at)
			}
			return nil
		}
		if err := r.waitRoom(ctx); err != nil {
			return err
		}
		if r.stopped {
			return ErrStopped
		}
	}
	if r.nPending == 0 {
		r.firstAt = r.cfg.Now()
	}
	for _, e := range encoded {
		r.pending[e.stream] = append(r.pending[e.stream], e.ev)
	}
	r.nPending += len(encoded)
	r.bytes += size
	r.accepted.Add(int64(len(encoded)))
	if r.nPending >= r.cfg.MaxBatch {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// streamOf returns the tick's stream name, cached per instrument so that
// recording allocates no string per tick.
func (r *Recorder) streamOf(t *domain.Tick) string {
	r.streamsMu.Lock()
	defer r.streamsMu.Unlock()
	bySym := r.streams[t.Exchange]
	if bySym == nil {
		if len(r.streams) > 64 {
			clear(r.streams)
		}
		bySym = map[string]string{}
		r.streams[t.Exchange] = bySym
	}
	s, ok := bySym[t.Symbol]
	if !ok {
		if len(bySym) > 1<<16 {
			clear(bySym)
		}
		s = t.Stream()
		bySym[t.Symbol] = s
	}
	return s
}

func (r *Recorder) noteGap(at time.Time) {
	g := &r.gap
	if g.dropped == 0 || at.Before(g.from) {
		g.from = at
	}
	if g.dropped == 0 || at.After(g.to) {
		g.to = at
	}
	g.dropped++
}

// waitRoom waits on r.room (r.mu held) until signalled or ctx is done.
func (r *Recorder) waitRoom(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.room.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	r.room.Wait()
	return ctx.Err()
}

// Run flushes the buffer until ctx ends, then flushes what is left (within
// StopTimeout) and returns. Accept fails with ErrStopped afterwards. Run
// returns an error only if the final flush could not complete.
func (r *Recorder) Run(ctx context.Context) error {
	r.running.Store(true)
	defer r.running.Store(false)
	timer := time.NewTimer(r.cfg.MaxDelay)
	defer timer.Stop()
	for {
		r.mu.Lock()
		n, first := r.nPending, r.firstAt
		r.mu.Unlock()
		var wait time.Duration
		if n > 0 {
			wait = max(0, r.cfg.MaxDelay-r.cfg.Now().Sub(first))
		} else {
			wait = r.cfg.MaxDelay
		}
		if n == 0 || wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return r.finish(ctx)
			case <-r.wake:
			case <-timer.C:
			}
		}
		// A flush in progress is not cut short by the stop: its appends
		// complete (bounded by StopTimeout), then finish flushes the rest.
		fctx, cancel := r.flushContext(ctx)
		err := r.flush(fctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return r.finish(ctx)
			}
			r.mu.Lock()
			r.stopped = true
			r.room.Broadcast()
			r.mu.Unlock()
			return err
		}
	}
}

// flushContext is ctx without its cancellation, but with the stop's
// deadline once ctx is done: a stop lets the appends in flight finish.
func (r *Recorder) flushContext(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(time.Until(r.stopBy()), cancel)
		context.AfterFunc(fctx, func() { t.Stop() })
	})
	return fctx, func() { stop(); cancel() }
}

// stopBy is the instant everything must be appended by once a stop began:
// StopTimeout after the stop was first seen, shared by the flush in
// flight and the final flush (one StopTimeout in all, not one each).
func (r *Recorder) stopBy() time.Time {
	r.stopOnce.Do(func() { r.stopAt = time.Now().Add(r.cfg.StopTimeout) })
	return r.stopAt
}

func (r *Recorder) finish(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.room.Broadcast()
	r.mu.Unlock()
	fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), r.stopBy())
	defer cancel()
	if err := r.flush(fctx); err != nil {
		return fmt.Errorf("ingest: final flush: %w", err)
	}
	return nil
}

// flush appends everything buffered: first a FeedGap for what was dropped,
// then each stream's ticks, in stream order. It retries failed appends (same
// ids) until they succeed or ctx ends.
func (r *Recorder) flush(ctx context.Context) error {
	r.mu.Lock()
	batch, gap := r.pending, r.gap
	r.pending, r.gap = map[string][]eventstore.EventData{}, gapInfo{}
	n := r.nPending
	r.nPending, r.bytes = 0, 0
	r.mu.Unlock()
	if n == 0 && gap.dropped == 0 {
		return nil
	}
	// The buffer is handed over; room is freed only once it is durable, so
	// that memory stays bounded by MaxPendingBytes plus one batch.
	defer func() {
		r.mu.Lock()
		r.room.Broadcast()
		r.mu.Unlock()
	}()
	if gap.dropped > 0 {
		ev, err := r.reg.Encode(uuid.Must(uuid.NewV7()), domain.FeedGap{
			Provider: r.cfg.Provider, Dropped: gap.dropped, From: gap.from, To: gap.to,
			Reason: fmt.Sprintf("recorder buffer exceeded %d bytes: the store is slower than the feed", r.cfg.MaxPendingBytes),
		}, eventstore.Metadata{Source: "recorder"})
		if err != nil {
			return fmt.Errorf("ingest: encode FeedGap: %w", err)
		}
		if err := r.appendRetry(ctx, domain.ProviderStream(r.cfg.Provider), []eventstore.EventData{ev}); err != nil {
			r.restore(batch, gap)
			return err
		}
		r.gaps.Add(1)
		r.log.Warn("feed gap recorded", "provider", r.cfg.Provider, "dropped", gap.dropped, "from", gap.from, "to", gap.to)
	}
	streams := make([]string, 0, len(batch))
	for s := range batch {
		streams = append(streams, s)
	}
	slices.Sort(streams)
	for _, s := range streams {
		evs := batch[s]
		for i := range evs {
			if evs[i].ID == uuid.Nil { // kept across retries: same ids
				evs[i].ID = uuid.Must(uuid.NewV7())
			}
		}
	}
	for i, s := range streams {
		if err := r.appendRetry(ctx, s, batch[s]); err != nil {
			rest := map[string][]eventstore.EventData{}
			for _, s2 := range streams[i:] {
				rest[s2] = batch[s2]
			}
			r.restore(rest, gapInfo{})
			return err
		}
		r.recorded.Add(int64(len(batch[s])))
	}
	if n > 0 {
		r.batches.Add(1)
	}
	r.lastApp.Store(r.cfg.Now().UnixNano())
	return nil
}

// restore puts an unflushed batch back in front of the buffer (on stop).
func (r *Recorder) restore(batch map[string][]eventstore.EventData, gap gapInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, evs := range batch {
		r.pending[s] = append(evs, r.pending[s]...)
		r.nPending += len(evs)
		for _, e := range evs {
			r.bytes += len(e.Data) + 64
		}
	}
	if gap.dropped > 0 {
		r.gap.dropped += gap.dropped
		if r.gap.from.IsZero() || gap.from.Before(r.gap.from) {
			r.gap.from = gap.from
		}
		if gap.to.After(r.gap.to) {
			r.gap.to = gap.to
		}
	}
	if r.nPending > 0 && r.firstAt.IsZero() {
		r.firstAt = r.cfg.Now()
	}
}

func (r *Recorder) appendRetry(ctx context.Context, stream string, evs []eventstore.EventData) error {
	wait := r.cfg.RetryInterval
	for {
		_, err := r.store.Append(ctx, stream, eventstore.Any(), evs...)
		if err == nil {
			return nil
		}
		msg := err.Error()
		r.lastError.Store(&msg)
		if errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrInvalidEvent) || errors.Is(err, eventstore.ErrDuplicateEventID) {
			return fmt.Errorf("ingest: append %d events to %s: %w", len(evs), stream, err)
		}
		r.retries.Add(1)
		r.log.Warn("append failed; retrying with the same event ids", "stream", stream, "events", len(evs), "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("ingest: append %d events to %s: %w (last error: %v)", len(evs), stream, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	n, b := r.nPending, r.bytes
	r.mu.Unlock()
	st := Stats{
		Running: r.running.Load(), Accepted: r.accepted.Load(), Recorded: r.recorded.Load(),
		Dropped: r.dropped.Load(), Invalid: r.invalid.Load(), Batches: r.batches.Load(), Gaps: r.gaps.Load(),
		PendingTicks: n, PendingBytes: b, AppendRetries: r.retries.Load(),
	}
	if ns := r.lastApp.Load(); ns != 0 {
		st.LastAppendAt = time.Unix(0, ns)
	}
	if p := r.lastError.Load(); p != nil {
		st.LastError = *p
	}
	return st
}
