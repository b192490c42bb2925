package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/algoauto/algoauto/eventstore"
)

// Config configures a Store.
type Config struct {
	// URL is the connection string, "esdb://host:2113?tls=false" or
	// "esdb+discover://host1:2113,host2:2113"; "kurrentdb://" and
	// "kurrentdb+discover://" are rewritten to their esdb forms. Client
	// settings (tls, maxDiscoverAttempts, gossipTimeout, keepAliveInterval,
	// nodePreference...) go in the query string.
	URL string
	// Logger receives the store's and the client's messages; nil discards
	// them.
	Logger *slog.Logger
	// PageSize is the most events one subscription message carries; a
	// subscription buffers at most four pages. Default 512.
	PageSize int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PageSize <= 0 {
		c.PageSize = 512
	}
}

const (
	// scanBatch is the number of events one forward $all request asks for.
	scanBatch = 4096
	// backBatch is the number of events one backward $all request asks for
	// (Head and position lookups, which usually stop at the first event).
	backBatch = 256
	// chunkSize is the server's transaction-file chunk size: a multiple of
	// it is always a record boundary, so a valid read position.
	chunkSize = 256 << 20
	// closeGrace is how long Close lets calls in flight finish before it
	// shuts the client down under them.
	closeGrace = 5 * time.Second
)

// Store is the EventStoreDB implementation of eventstore.Store. It is safe
// for concurrent use.
type Store struct {
	cfg    Config
	log    *slog.Logger
	esCfg  esdb.Configuration // template for each client
	target string             // the URL without credentials, for messages

	mu     sync.RWMutex
	client *esdb.Client
	closed bool

	ops    sync.WaitGroup // calls and subscription goroutines in flight
	base   context.Context
	cancel context.CancelFunc
}

var _ eventstore.Store = (*Store)(nil)

// Open parses cfg.URL, connects and checks that the server answers before
// ctx ends. A malformed URL returns an error starting "esdb: invalid URL";
// a server that cannot be reached returns an error wrapping
// eventstore.ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s, err := newStore(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.ping(ctx); err != nil {
		// Close waits (a few seconds at most) for the check, which the
		// client may keep running past ctx: do not make Open wait too.
		go s.Close()
		return nil, err
	}
	return s, nil
}

// newStore builds a Store without contacting the server.
func newStore(cfg Config) (*Store, error) {
	cfg.setDefaults()
	raw, err := normalizeURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	target := redactURL(raw)
	esCfg, err := esdb.ParseConnectionString(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, password included
		}
		return nil, fmt.Errorf("esdb: invalid URL %s: %w", target, err)
	}
	esCfg.Logger = clientLogger(cfg.Logger)
	s := &Store{cfg: cfg, log: cfg.Logger, esCfg: *esCfg, target: target}
	if s.client, err = s.newClient(); err != nil {
		return nil, fmt.Errorf("esdb: invalid URL %s: %w", target, err)
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

func (s *Store) newClient() (*esdb.Client, error) {
	c := s.esCfg // each client keeps its own copy
	return esdb.NewClient(&c)
}

// ping reads the last event of $all, so that Open fails early when the
// server cannot be reached. The client's discovery ignores ctx, hence the
// goroutine: Open returns when ctx ends even if discovery goes on.
func (s *Store) ping(ctx context.Context) error {
	c, release, err := s.acquire("esdb: open")
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		defer release() // Close waits for it before closing the client
		_, err := s.readAllOnce(ctx, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1,
			func(*esdb.RecordedEvent) bool { return false })
		done <- err
	}()
	select {
	case err = <-done:
		if err == nil {
			return nil
		}
	case <-ctx.Done():
		return fmt.Errorf("esdb: open %s: no answer before the context ended (%v): %w", s.target, ctx.Err(), eventstore.ErrUnavailable)
	}
	if ctx.Err() != nil || isUnavailable(err) {
		return fmt.Errorf("esdb: open %s: %s: %w", s.target, briefCause(err), eventstore.ErrUnavailable)
	}
	return fmt.Errorf("esdb: open %s: %w", s.target, err)
}

// Close implements eventstore.Store. Subscriptions end; calls in flight
// get a few seconds to finish, then the connection is closed under them
// and they fail with ErrClosed. Later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	c := s.client
	s.mu.Unlock()
	s.cancel()
	idle := make(chan struct{})
	go func() {
		s.ops.Wait()
		close(idle)
	}()
	grace := time.NewTimer(closeGrace)
	select {
	case <-idle:
	case <-grace.C:
		s.log.Warn("esdb: closing with calls still in flight")
	}
	grace.Stop()
	c.Close()
	<-idle
	return nil
}

// acquire returns the current client and holds off Close until release.
func (s *Store) acquire(doing string) (c *esdb.Client, release func(), err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, fmt.Errorf("%s: %w", doing, eventstore.ErrClosed)
	}
	s.ops.Add(1)
	return s.client, s.ops.Done, nil
}

// current returns the current client, for a goroutine already counted in
// s.ops.
func (s *Store) current() (*esdb.Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	return s.client, nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// noteErr replaces the client when err shows that it gave up for good:
// once its discovery fails, an esdb.Client answers every call with
// "connection is closed" and never reconnects.
func (s *Store) noteErr(c *esdb.Client, err error) {
	if err == nil || c == nil || !clientDead(err) {
		return
	}
	s.mu.Lock()
	if s.closed || s.client != c {
		s.mu.Unlock()
		return
	}
	nc, nerr := s.newClient()
	if nerr != nil {
		s.mu.Unlock()
		s.log.Error("esdb: cannot replace the client", "error", nerr)
		return
	}
	s.client = nc
	s.mu.Unlock()
	s.log.Warn("esdb: the client stopped reconnecting; replaced it", "error", briefCause(err))
	// Closing the old client makes calls still blocked on its internal
	// channel panic; guard turns that into errClientGone.
	c.Close()
}

// mapErr turns a client error into the store's vocabulary, prefixed with
// what the store was doing.
func (s *Store) mapErr(ctx context.Context, c *esdb.Client, doing string, err error) error {
	if err == nil {
		return nil
	}
	s.noteErr(c, err)
	if s.isClosed() {
		return fmt.Errorf("%s: %w", doing, eventstore.ErrClosed)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", doing, cerr)
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %s: %w", doing, briefCause(err), eventstore.ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// Append implements eventstore.Store. See the package documentation for
// the idempotency EventStoreDB gives.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	doing := fmt.Sprintf("append to %q", stream)
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("%s: %w", doing, err)
	}
	c, release, err := s.acquire(doing)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	defer release()
	if len(events) == 0 {
		return s.appendNothing(ctx, c, stream, expected)
	}
	data := make([]esdb.EventData, len(events))
	for i := range events {
		data[i] = toEventData(&events[i])
	}
	wr, err := appendToStream(ctx, c, stream, toExpectedRevision(expected), data)
	if err != nil {
		if isWrongExpectedVersion(err) {
			return eventstore.AppendResult{}, s.conflict(ctx, c, stream, expected, err)
		}
		if isAppendTooLarge(err) {
			return eventstore.AppendResult{}, fmt.Errorf("%s: %s: %w", doing, briefCause(err), eventstore.ErrInvalidEvent)
		}
		return eventstore.AppendResult{}, s.mapErr(ctx, c, doing, err)
	}
	res := eventstore.AppendResult{Version: wr.NextExpectedVersion, Position: eventstore.Position(wr.CommitPosition)}
	if res.Position == 0 {
		// A deduplicated retry may be answered without a position: look it
		// up from the last event written.
		ev, err := s.eventAt(ctx, c, stream, res.Version)
		if err != nil {
			return eventstore.AppendResult{}, s.mapErr(ctx, c, doing+": look up the position", err)
		}
		if ev != nil {
			res.Position = eventstore.Position(ev.Position.Commit)
		}
	}
	return res, nil
}

func appendToStream(ctx context.Context, c *esdb.Client, stream string, rev esdb.ExpectedRevision, data []esdb.EventData) (wr *esdb.WriteResult, err error) {
	defer guard(&err)
	return c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, data...)
}

// appendNothing answers a zero-event append: the expected version is
// checked like any other, nothing is written.
func (s *Store) appendNothing(ctx context.Context, c *esdb.Client, stream string, expected eventstore.ExpectedVersion) (eventstore.AppendResult, error) {
	doing := fmt.Sprintf("append to %q", stream)
	cur, err := s.streamVersion(ctx, c, stream)
	if err != nil {
		return eventstore.AppendResult{}, s.mapErr(ctx, c, doing, err)
	}
	if err := expected.Check(stream, cur); err != nil {
		return eventstore.AppendResult{}, err
	}
	head, err := s.headPosition(ctx, c)
	if err != nil {
		return eventstore.AppendResult{}, s.mapErr(ctx, c, doing, err)
	}
	return eventstore.AppendResult{Version: cur, Position: eventstore.Position(head)}, nil
}

// conflict builds the ConflictError for a WrongExpectedVersion answer. The
// client reports the actual revision only in its message; when that cannot
// be read (or contradicts the expectation) the stream is read instead.
func (s *Store) conflict(ctx context.Context, c *esdb.Client, stream string, expected eventstore.ExpectedVersion, werr error) error {
	actual, ok := actualFromError(werr)
	if !ok || expected.Check(stream, actual) == nil {
		v, err := s.streamVersion(ctx, c, stream)
		if err != nil {
			return s.mapErr(ctx, c, fmt.Sprintf("append to %q: read the version after a conflict", stream), err)
		}
		actual = v
	}
	return &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: actual}
}

// streamVersion returns the version of the stream's last event, or
// NoVersion when the stream does not exist.
func (s *Store) streamVersion(ctx context.Context, c *esdb.Client, stream string) (uint64, error) {
	v := eventstore.NoVersion
	_, err := readStreamOnce(ctx, c, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1,
		func(ev *esdb.RecordedEvent) bool { v = ev.EventNumber; return false })
	if err != nil {
		if isNotFound(err) {
			return eventstore.NoVersion, nil
		}
		return 0, err
	}
	return v, nil
}

// eventAt returns the event of stream at version v, or nil.
func (s *Store) eventAt(ctx context.Context, c *esdb.Client, stream string, v uint64) (*esdb.RecordedEvent, error) {
	var found *esdb.RecordedEvent
	_, err := readStreamOnce(ctx, c, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(v)}, 1,
		func(ev *esdb.RecordedEvent) bool { found = ev; return false })
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if found != nil && found.EventNumber != v {
		found = nil
	}
	return found, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	doing := fmt.Sprintf("read %q", stream)
	c, release, err := s.acquire(doing)
	if err != nil {
		return nil, err
	}
	defer release()
	count := eventstore.ClampCount(opts.Count)
	ro := esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(opts.From)}
	if opts.Direction == eventstore.Backwards {
		ro.Direction = esdb.Backwards
		if opts.FromEnd || opts.From > math.MaxInt64 {
			ro.From = esdb.End{}
		}
	} else if opts.From > math.MaxInt64 {
		// The server reads revisions as int64: past every possible event.
		// Still report a missing stream as such.
		v, err := s.streamVersion(ctx, c, stream)
		if err != nil {
			return nil, s.mapErr(ctx, c, doing, err)
		}
		if v == eventstore.NoVersion {
			return nil, fmt.Errorf("%s: %w", doing, eventstore.ErrStreamNotFound)
		}
		return nil, nil
	}
	out := make([]eventstore.RecordedEvent, 0, min(count, 256))
	_, err = readStreamOnce(ctx, c, stream, ro, uint64(count), func(ev *esdb.RecordedEvent) bool {
		out = append(out, toRecorded(ev))
		return true
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: %w", doing, eventstore.ErrStreamNotFound)
		}
		return nil, s.mapErr(ctx, c, doing, err)
	}
	return out, nil
}

// ReadAll implements eventstore.Store. The filter is applied on the
// client; system events are skipped.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	doing := fmt.Sprintf("read all after %d", opts.After)
	c, release, err := s.acquire(doing)
	if err != nil {
		return nil, err
	}
	defer release()
	count := eventstore.ClampCount(opts.Count)
	var out []eventstore.RecordedEvent
	err = s.scan(ctx, c, startCandidates(uint64(opts.After)), uint64(opts.After), func(ev *esdb.RecordedEvent) bool {
		if isSystem(ev) || !opts.Filter.MatchStream(ev.StreamID) || !opts.Filter.MatchType(ev.EventType) {
			return true
		}
		out = append(out, toRecorded(ev))
		return len(out) < count
	})
	if err != nil {
		return nil, s.mapErr(ctx, c, doing, err)
	}
	return out, nil
}

// Head implements eventstore.Store: the position of the last event that is
// not a system event.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	c, release, err := s.acquire("read the head")
	if err != nil {
		return 0, err
	}
	defer release()
	head, err := s.headPosition(ctx, c)
	if err != nil {
		return 0, s.mapErr(ctx, c, "read the head", err)
	}
	return eventstore.Position(head), nil
}

func (s *Store) headPosition(ctx context.Context, c *esdb.Client) (uint64, error) {
	var head uint64
	err := s.scanBack(ctx, c, esdb.End{}, math.MaxUint64, func(ev *esdb.RecordedEvent) bool {
		if isSystem(ev) {
			return true
		}
		head = ev.Position.Commit
		return false
	})
	return head, err
}

// PositionAt implements eventstore.Store. The server has no time index:
// a binary search over chunk starts (always valid read positions) narrows
// the answer to one chunk, which is then scanned. It relies on RecordedAt
// increasing along the log.
func (s *Store) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, bool, error) {
	doing := fmt.Sprintf("find the position at %s", t.Format(time.RFC3339Nano))
	c, release, err := s.acquire(doing)
	if err != nil {
		return 0, false, err
	}
	defer release()
	var last *esdb.RecordedEvent
	err = s.scanBack(ctx, c, esdb.End{}, math.MaxUint64, func(ev *esdb.RecordedEvent) bool {
		if isSystem(ev) {
			return true
		}
		last = ev
		return false
	})
	if err != nil {
		return 0, false, s.mapErr(ctx, c, doing, err)
	}
	if last == nil || last.CreatedDate.Before(t) {
		return 0, false, nil
	}
	// firstFrom returns the first non-system event at or after q.
	firstFrom := func(q uint64) (*esdb.RecordedEvent, error) {
		var from esdb.AllPosition = esdb.Start{}
		var floor uint64
		if q > 0 {
			from, floor = esdb.Position{Commit: q, Prepare: q}, q-1
		}
		var found *esdb.RecordedEvent
		err := s.scan(ctx, c, []esdb.AllPosition{from}, floor, func(ev *esdb.RecordedEvent) bool {
			if isSystem(ev) {
				return true
			}
			found = ev
			return false
		})
		return found, err
	}
	first, err := firstFrom(0)
	if err != nil {
		return 0, false, s.mapErr(ctx, c, doing, err)
	}
	if first == nil {
		return 0, false, nil
	}
	if !first.CreatedDate.Before(t) {
		return eventstore.Position(first.Position.Commit), true, nil
	}
	// Invariant: the first event at or after chunk lo is recorded before t;
	// the first event at or after chunk hi (if any) is not.
	lo, hi := uint64(0), last.Position.Commit/chunkSize+1
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ev, err := firstFrom(mid * chunkSize)
		if err != nil {
			if isInvalidPosition(err) {
				s.log.Debug("esdb: chunk starts are not read positions; scanning", "from", lo*chunkSize)
				break
			}
			return 0, false, s.mapErr(ctx, c, doing, err)
		}
		if ev == nil || !ev.CreatedDate.Before(t) {
			hi = mid
		} else {
			lo = mid
		}
	}
	var from esdb.AllPosition = esdb.Start{}
	var floor uint64
	if lo > 0 {
		q := lo * chunkSize
		from, floor = esdb.Position{Commit: q, Prepare: q}, q-1
	}
	var pos uint64
	found := false
	err = s.scan(ctx, c, []esdb.AllPosition{from}, floor, func(ev *esdb.RecordedEvent) bool {
		if isSystem(ev) || ev.CreatedDate.Before(t) {
			return true
		}
		pos, found = ev.Position.Commit, true
		return false
	})
	if err != nil {
		return 0, false, s.mapErr(ctx, c, doing, err)
	}
	return eventstore.Position(pos), found, nil
}

// startCandidates lists where a forward read of the events after position
// after can start, best first. A forward read includes the event at its
// start position; the server refuses positions that are not record
// boundaries, so after+1 (the event at p when after is p-1) and then the
// start of the log are tried next.
func startCandidates(after uint64) []esdb.AllPosition {
	if after == 0 {
		return []esdb.AllPosition{esdb.Start{}}
	}
	return []esdb.AllPosition{
		esdb.Position{Commit: after, Prepare: after},
		esdb.Position{Commit: after + 1, Prepare: after + 1},
		esdb.Start{},
	}
}

// scan reads $all forwards from the first usable position of candidates
// and calls fn, in log order, for every event (system events included)
// whose commit position is above floor, until fn returns false or the log
// ends.
func (s *Store) scan(ctx context.Context, c *esdb.Client, candidates []esdb.AllPosition, floor uint64, fn func(*esdb.RecordedEvent) bool) error {
	from := candidates[0]
	started := false
	for {
		var last esdb.Position
		got, stopped := false, false
		n, err := s.readAllOnce(ctx, c, esdb.ReadAllOptions{Direction: esdb.Forwards, From: from}, scanBatch, func(ev *esdb.RecordedEvent) bool {
			started, got, last = true, true, ev.Position
			if ev.Position.Commit <= floor {
				return true // before the range, or re-read at a page start
			}
			floor = ev.Position.Commit
			if !fn(ev) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil {
			if !started && len(candidates) > 1 && isInvalidPosition(err) {
				candidates = candidates[1:]
				from = candidates[0]
				if _, ok := from.(esdb.Start); ok {
					s.log.Warn("esdb: read position is not a record boundary; scanning from the start of the log", "after", floor)
				}
				continue
			}
			return err
		}
		if stopped || n < scanBatch || !got {
			return nil
		}
		if p, ok := from.(esdb.Position); ok && p == last {
			return nil // no progress: cannot happen with a sane server
		}
		from = last
	}
}

// scanBack reads $all backwards from from and calls fn for every event
// (system events included) whose commit position is below ceiling, until
// fn returns false or the start of the log.
func (s *Store) scanBack(ctx context.Context, c *esdb.Client, from esdb.AllPosition, ceiling uint64, fn func(*esdb.RecordedEvent) bool) error {
	for {
		var last esdb.Position
		got, stopped := false, false
		n, err := s.readAllOnce(ctx, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: from}, backBatch, func(ev *esdb.RecordedEvent) bool {
			got, last = true, ev.Position
			if ev.Position.Commit >= ceiling {
				return true
			}
			ceiling = ev.Position.Commit
			if !fn(ev) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		if stopped || n < backBatch || !got {
			return nil
		}
		if p, ok := from.(esdb.Position); ok && p == last {
			return nil
		}
		from = last
	}
}

// readAllOnce runs one $all read of up to count events, calling fn for
// each until it returns false. It returns the number of events received.
func (s *Store) readAllOnce(ctx context.Context, c *esdb.Client, opts esdb.ReadAllOptions, count uint64, fn func(*esdb.RecordedEvent) bool) (n int, err error) {
	defer guard(&err)
	rs, err := c.ReadAll(ctx, opts, count)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	return drain(rs, fn)
}

// readStreamOnce runs one stream read of up to count events.
func readStreamOnce(ctx context.Context, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64, fn func(*esdb.RecordedEvent) bool) (n int, err error) {
	defer guard(&err)
	rs, err := c.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	return drain(rs, fn)
}

func drain(rs *esdb.ReadStream, fn func(*esdb.RecordedEvent) bool) (int, error) {
	n := 0
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		ev := re.OriginalEvent()
		if ev == nil {
			continue
		}
		n++
		if !fn(ev) {
			return n, nil
		}
	}
}

// toEventData converts an event to append. Payloads that are valid JSON
// are marked as JSON (the server's projections and UI can read them),
// anything else as binary.
func toEventData(e *eventstore.EventData) esdb.EventData {
	ct := esdb.ContentTypeBinary
	if len(e.Data) > 0 && json.Valid(e.Data) {
		ct = esdb.ContentTypeJson
	}
	return esdb.EventData{EventID: e.ID, EventType: e.Type, ContentType: ct, Data: e.Data, Metadata: e.Metadata}
}

// toRecorded converts an event read from the server.
func toRecorded(ev *esdb.RecordedEvent) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID:         ev.EventID,
		Stream:     ev.StreamID,
		Type:       ev.EventType,
		Version:    ev.EventNumber,
		Position:   eventstore.Position(ev.Position.Commit),
		RecordedAt: ev.CreatedDate,
		Data:       nonEmpty(ev.Data),
		Metadata:   nonEmpty(ev.UserMetadata),
	}
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// isSystem reports whether ev is one of the server's own events.
func isSystem(ev *esdb.RecordedEvent) bool {
	return strings.HasPrefix(ev.StreamID, "$") || strings.HasPrefix(ev.EventType, "$")
}

// toExpectedRevision maps an expected version to the client's. Exact of
// NoVersion (the version of a stream that does not exist) is NoStream.
func toExpectedRevision(e eventstore.ExpectedVersion) esdb.ExpectedRevision {
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	}
	if v, ok := e.ExactVersion(); ok {
		if v == eventstore.NoVersion {
			return esdb.NoStream{}
		}
		return esdb.Revision(v)
	}
	return esdb.Any{}
}

// gotRevision finds the actual revision in the client's WrongExpectedVersion
// message: "wrong expected version: expecting '%s' but got '%s'".
var gotRevision = regexp.MustCompile(`but got '([^']*)'`)

// actualFromError returns the stream version a WrongExpectedVersion error
// reports.
func actualFromError(err error) (uint64, bool) {
	m := gotRevision.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	if m[1] == "no_stream" {
		return eventstore.NoVersion, true
	}
	n, perr := strconv.ParseInt(m[1], 10, 64)
	if perr != nil {
		return 0, false
	}
	if n < 0 {
		return eventstore.NoVersion, true
	}
	return uint64(n), true
}

func esdbCode(err error) (esdb.ErrorCode, bool) {
	var ee *esdb.Error
	if errors.As(err, &ee) {
		return ee.Code(), true
	}
	return 0, false
}

func isWrongExpectedVersion(err error) bool {
	code, ok := esdbCode(err)
	return ok && code == esdb.ErrorCodeWrongExpectedVersion
}

func isNotFound(err error) bool {
	code, ok := esdbCode(err)
	return ok && (code == esdb.ErrorCodeResourceNotFound || code == esdb.ErrorCodeStreamDeleted)
}

// isUnavailable reports whether err means the server could not be reached
// or could not serve the call now.
func isUnavailable(err error) bool {
	if errors.Is(err, errClientGone) {
		return true
	}
	if code, ok := esdbCode(err); ok {
		switch code {
		case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeNotLeader,
			esdb.ErrorCodeDeadlineExceeded, esdb.ErrorAborted:
			return true
		}
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

// clientDead reports whether err comes from a client that will never
// reconnect: its discovery failed, after which every call is answered
// "connection is closed".
func clientDead(err error) bool {
	if code, ok := esdbCode(err); ok && code == esdb.ErrorCodeConnectionClosed {
		return true
	}
	return strings.Contains(err.Error(), "maximum discovery attempt count reached")
}

// isInvalidPosition reports whether the server refused a read position
// (one that is not a record boundary of its log).
func isInvalidPosition(err error) bool {
	if status.Code(err) == codes.InvalidArgument {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "invalid position") || strings.Contains(msg, "invalidposition")
}

// isAppendTooLarge reports whether the server refused an append over its
// MaxAppendSize.
func isAppendTooLarge(err error) bool {
	return status.Code(err) == codes.InvalidArgument && strings.Contains(strings.ToLower(err.Error()), "append size")
}

// isPermanent reports whether retrying cannot help.
func isPermanent(err error) bool {
	if errors.Is(err, eventstore.ErrClosed) {
		return true
	}
	if code, ok := esdbCode(err); ok {
		switch code {
		case esdb.ErrorCodeAccessDenied, esdb.ErrorCodeUnauthenticated:
			return true
		}
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

// errClientGone is the error of a call that was blocked inside a client
// when the client was closed.
var errClientGone = errors.New("esdb: client closed during the call")

// guard recovers the panic of a call blocked on a client's internal
// channel when the client is closed (a send on a closed channel), which
// EventStore-Client-Go v4.2.0 does not prevent. Other panics go on.
func guard(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if re, ok := r.(runtime.Error); ok && strings.Contains(re.Error(), "send on closed channel") {
		*err = errClientGone
		return
	}
	panic(r)
}

// briefCause returns a one-line description of a client error, preferring
// the gRPC status message to the client's nested wording.
func briefCause(err error) string {
	msg := err.Error()
	// status.FromError would answer the whole chain's text: take the
	// status itself.
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		if m := gs.GRPCStatus().Message(); m != "" {
			msg = m
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// normalizeURL trims the connection string and rewrites KurrentDB schemes
// to the esdb ones the client parses.
func normalizeURL(raw string) (string, error) {
	u := strings.TrimSpace(raw)
	if u == "" {
		return "", errors.New("esdb: invalid URL: empty; want esdb://host:2113?tls=false")
	}
	lower := strings.ToLower(u)
	for _, r := range []struct{ from, to string }{
		{"kurrentdb+discover://", "esdb+discover://"},
		{"kurrentdb://", "esdb://"},
		{"kurrent+discover://", "esdb+discover://"},
		{"kurrent://", "esdb://"},
		{"kdb+discover://", "esdb+discover://"},
		{"kdb://", "esdb://"},
	} {
		if strings.HasPrefix(lower, r.from) {
			return r.to + u[len(r.from):], nil
		}
	}
	return u, nil
}

var userinfo = regexp.MustCompile(`://[^/@]*@`)

// redactURL quotes a connection string for messages, without its password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		raw = userinfo.ReplaceAllString(raw, "://xxxxx@")
	case u.User != nil:
		raw = u.Redacted()
	}
	return strconv.Quote(raw)
}

// clientLogger forwards the client's messages to logger. The client logs
// every failure it returns as an error; those are returned by the store
// too, so they are logged here as warnings, and its routine messages as
// debug.
func clientLogger(logger *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		lv := slog.LevelDebug
		if level == esdb.LogWarn || level == esdb.LogError {
			lv = slog.LevelWarn
		}
		ctx := context.Background()
		if !logger.Enabled(ctx, lv) {
			return
		}
		logger.Log(ctx, lv, "esdb client: "+fmt.Sprintf(format, args...))
	}
}
