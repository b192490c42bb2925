// Package embedded is AlgoAuto's default event store: a directory on local
// disk, built on Pebble (CockroachDB's LSM storage engine), needing no
// server.
//
// # Durability and integrity
//
// Append returns only after Pebble has written the batch to its write-ahead
// log and fsynced it (pebble.Sync). Concurrent appends are group-committed:
// one writer goroutine takes every append waiting, checks each against the
// stream versions and the id index, and applies them as one Pebble batch;
// while that batch's fsync is in flight it prepares the next one
// (pipelined). Groups are acknowledged in order once synced, and only then
// does the durable head move past them. Pebble makes a batch visible before
// its sync completes, so every read stops at the durable head: nothing that
// a crash could still take away is ever served. There is no unsafe mode.
// If a commit fails (an fsync error, a full disk) the store stops accepting
// appends (fail-stop; it never retries an fsync and then acknowledges) and
// must be reopened, which recovers from the log.
//
// Every chunk (the events of one append) carries a CRC-32C checked on every
// read; Pebble checksums its WAL records and table blocks too. At open,
// Pebble replays the WAL: a torn final record (a write that was never
// acknowledged) is dropped; damage before the tail is reported when a later
// 32 KiB block of the WAL proves it (Pebble's WAL sync offsets), and the
// store refuses to open. Damage in the last block looks like a torn tail to
// Pebble, so the store also keeps an acknowledged-position mark in a
// separate file (mark.go, at most MarkInterval behind): a log that recovers
// to less than the mark also makes Open refuse with ErrCorrupt. Open then
// checks the last chunk and its id index. Damage found later by a read is
// returned as an error wrapping eventstore.ErrCorrupt (bad data is never
// served and a subscription stops rather than skipping) and the store stops
// taking appends. Verify scans every chunk. The one case left undetected:
// damage inside the WAL's last block affecting only appends acknowledged in
// the last MarkInterval.
//
// Global positions are dense (1, 2, 3...); RecordedAt never decreases along
// the log (the store clock is made monotonic), which PositionAt relies on.
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
)

// Config configures an embedded store.
type Config struct {
	// Dir is the data directory; it is created if missing.
	Dir string
	// Logger receives Pebble's and the store's messages; nil discards them.
	Logger *slog.Logger
	// Now is the store clock for RecordedAt; default time.Now.
	Now func() time.Time
	// FS replaces the real filesystem (tests use vfs.NewStrictMem to
	// simulate power loss). Default: the disk.
	FS vfs.FS
	// CacheSize is Pebble's block cache in bytes; default 64 MiB.
	CacheSize int64
	// MemTableSize is Pebble's memtable size in bytes; default 64 MiB.
	MemTableSize uint64
	// MaxGroupBytes bounds the payload bytes of one group commit; default
	// 32 MiB. A single append larger than this is still written alone.
	MaxGroupBytes int
	// MarkInterval is how often the acknowledged-position mark is brought
	// up to date (see mark.go); default 200ms.
	MarkInterval time.Duration
	// Subscription tunes subscriptions (page size, poll interval).
	Subscription eventstore.CatchUpConfig
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 64 << 20
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = 64 << 20
	}
	if c.MaxGroupBytes <= 0 {
		c.MaxGroupBytes = 32 << 20
	}
	if c.MarkInterval <= 0 {
		c.MarkInterval = 200 * time.Millisecond
	}
}

// Store is the embedded event store.
type Store struct {
	db     *pebble.DB
	cache  *pebble.Cache
	cfg    Config
	log    *slog.Logger
	signal eventstore.HeadSignal

	head     atomic.Uint64 // last durable position
	mark     *ackMark
	markDone chan struct{}
	inflight sync.WaitGroup // groups prepared, not yet answered
	unacked  atomic.Int32   // the same count, readable
	reqs     chan *appendReq
	quit     chan struct{}
	done     chan struct{}
	mu       sync.RWMutex // guards closed against sends on reqs
	closed   bool
	failed   atomic.Pointer[error] // set when a commit failed: fail-stop

	// Writer-goroutine state.
	nextPos    eventstore.Position
	lastRec    time.Time
	maxID      [16]byte // greatest id in the id index: larger ids are new
	streamVers map[string]uint64
}

var _ eventstore.Store = (*Store)(nil)

type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedVersion
	events   []eventstore.EventData
	bytes    int
	done     chan appendResp
}

type appendResp struct {
	res eventstore.AppendResult
	err error
}

// ErrLocked is returned by Open when another process holds the directory.
var ErrLocked = errors.New("embedded: data directory is in use by another process")

// Open opens (creating if needed) the store in cfg.Dir and recovers it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("embedded: no data directory")
	}
	if cfg.FS == nil {
		if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("embedded: create %s: %w", cfg.Dir, err)
		}
	}
	s := &Store{
		cfg: cfg, log: cfg.Logger, markDone: make(chan struct{}),
		reqs: make(chan *appendReq, 1024), quit: make(chan struct{}), done: make(chan struct{}),
		streamVers: map[string]uint64{},
	}
	fs := cfg.FS
	if fs == nil {
		// The plain disk, not Pebble's default disk-health-checking wrapper,
		// whose ticker goroutine can outlive a DB closed right after Open.
		fs = vfs.Default
	}
	cache := pebble.NewCache(cfg.CacheSize)
	opts := &pebble.Options{
		Cache:              cache,
		MemTableSize:       cfg.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{cfg.Logger},
		FS:                 fs,
		// Pebble's default is to exit the process on corrupt data; instead
		// reads fail with ErrCorrupt and the store stops taking appends.
		EventListener: &pebble.EventListener{DataCorruption: s.onCorruption},
	}
	// Bloom filters on every level: the id index is probed for every event
	// id not known to be new, and most probes are misses.
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		cache.Unref()
		switch {
		case pebble.IsCorruptionError(err):
			return nil, fmt.Errorf("embedded: open %s: %v: %w", cfg.Dir, err, eventstore.ErrCorrupt)
		case isLockErr(err):
			return nil, fmt.Errorf("embedded: open %s: %w", cfg.Dir, ErrLocked)
		}
		return nil, fmt.Errorf("embedded: open %s: %w", cfg.Dir, err)
	}
	s.db, s.cache = db, cache
	mark, marked, err := openMark(fs, cfg.Dir)
	if err != nil {
		_ = db.Close()
		cache.Unref()
		return nil, err
	}
	s.mark = mark
	err = s.recover(ctx)
	if err == nil && eventstore.Position(s.head.Load()) < marked {
		err = fmt.Errorf("embedded: open %s: the log ends at position %d but position %d was acknowledged: "+
			"acknowledged events are missing (damaged write-ahead log?); if this directory was restored from "+
			"an older backup on purpose, delete %s: %w", cfg.Dir, s.head.Load(), marked, markPath(cfg.Dir), eventstore.ErrCorrupt)
	}
	if err != nil {
		_ = mark.close()
		_ = db.Close()
		cache.Unref()
		return nil, err
	}
	if s.nextPos == 1 {
		// A new store's first WAL is created before Pebble ratchets its
		// format to WAL sync chunks (which let recovery tell corruption from a
		// torn tail); rotate it so that every WAL holding events has them.
		if err := db.Flush(); err != nil {
			_ = mark.close()
			_ = db.Close()
			cache.Unref()
			return nil, fmt.Errorf("embedded: open %s: rotate the first WAL: %w", cfg.Dir, err)
		}
	}
	go s.writer()
	go s.markLoop()
	return s, nil
}

// onCorruption is Pebble's report of a damaged file: the read that found it
// fails with ErrCorrupt; the store refuses further appends (fail-stop).
func (s *Store) onCorruption(info pebble.DataCorruptionInfo) {
	err := fmt.Errorf("corrupt data in %s: %v: %w", info.Path, info.Details, eventstore.ErrCorrupt)
	s.failed.CompareAndSwap(nil, &err)
	s.log.Error("embedded store found corrupt data; appends are refused until it is repaired", "path", info.Path, "err", info.Details)
}

// markLoop keeps the acknowledged-position mark at most MarkInterval behind.
func (s *Store) markLoop() {
	defer close(s.markDone)
	t := time.NewTicker(s.cfg.MarkInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			if err := s.mark.write(eventstore.Position(s.head.Load())); err != nil {
				s.log.Error("cannot update the acknowledged-position mark", "err", err)
			}
		}
	}
}

func isLockErr(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}

// recover loads the head, the clock floor and the id-index maximum, and
// checks that the last chunk is intact and indexed.
func (s *Store) recover(ctx context.Context) error {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixLog}, UpperBound: []byte{prefixLog + 1}})
	if err != nil {
		return fmt.Errorf("embedded: recover: %w", err)
	}
	defer it.Close()
	s.nextPos = 1
	if it.Last() {
		pos := eventstore.Position(binary.BigEndian.Uint64(it.Key()[1:]))
		h, err := parseChunk(pos, it.Value(), "")
		if err != nil {
			return fmt.Errorf("embedded: recover last chunk: %w", err)
		}
		s.nextPos = pos + eventstore.Position(h.count)
		s.lastRec = h.recordedAt
		// The id index of the last chunk must be present: same batch.
		var d eventDecoder
		d.reset(pos, h)
		var ev eventstore.RecordedEvent
		for {
			ok, err := d.next(&ev)
			if err != nil {
				return fmt.Errorf("embedded: recover: %w", err)
			}
			if !ok {
				break
			}
			k := idKey(ev.ID)
			v, closer, err := s.db.Get(k[:])
			if err != nil {
				return fmt.Errorf("embedded: recover: id index misses event %s at %d: %v: %w", ev.ID, ev.Position, err, eventstore.ErrCorrupt)
			}
			got := binary.BigEndian.Uint64(v)
			closer.Close()
			if got != uint64(ev.Position) {
				return fmt.Errorf("embedded: recover: id index puts %s at %d, log at %d: %w", ev.ID, got, ev.Position, eventstore.ErrCorrupt)
			}
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("embedded: recover: %w", mapErr(err))
	}
	s.head.Store(uint64(s.nextPos - 1))

	idIt, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixID}, UpperBound: []byte{prefixID + 1}})
	if err != nil {
		return fmt.Errorf("embedded: recover: %w", err)
	}
	defer idIt.Close()
	if idIt.Last() {
		copy(s.maxID[:], idIt.Key()[1:])
	}
	return mapErr(idIt.Error())
}

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if pebble.IsCorruptionError(err) {
		return fmt.Errorf("%v: %w", err, eventstore.ErrCorrupt)
	}
	if errors.Is(err, pebble.ErrClosed) {
		return eventstore.ErrClosed
	}
	return err
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	req := &appendReq{ctx: ctx, stream: stream, expected: expected, events: events, done: make(chan appendResp, 1)}
	for i := range events {
		req.bytes += len(events[i].Data) + len(events[i].Metadata) + 64
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", stream, eventstore.ErrClosed)
	}
	if p := s.failed.Load(); p != nil {
		s.mu.RUnlock()
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: store stopped after a write failure (%v): %w", stream, *p, eventstore.ErrClosed)
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return eventstore.AppendResult{}, ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, the outcome is definite: wait for it even if ctx ends,
	// so that the caller never sees "cancelled" for an append that landed.
	r := <-req.done
	return r.res, r.err
}

// writer is the single goroutine that orders and checks appends and applies
// them to Pebble, one group at a time. It does not wait for a group's WAL
// sync: it hands the group to the acker and prepares the next one while the
// disk syncs (pipelined group commit; at most maxInflight groups in flight).
// Pebble applies batches in the order the writer submits them, and the
// acker acknowledges them in that order once synced, publishing the durable
// head that readers stop at.
func (s *Store) writer() {
	defer close(s.done)
	acks := make(chan *inflight, maxInflight)
	ackerDone := make(chan struct{})
	go s.acker(acks, ackerDone)
	defer func() {
		close(acks)
		<-ackerDone
	}()
	var group []*appendReq
	for {
		var first *appendReq
		select {
		case first = <-s.reqs:
		case <-s.quit:
			// Commit what was queued before Close took the lock.
			for {
				select {
				case r := <-s.reqs:
					s.prepareGroup([]*appendReq{r}, acks)
				default:
					return
				}
			}
		}
		group = append(group[:0], first)
		size := first.bytes
	drain:
		for size < s.cfg.MaxGroupBytes && len(group) < 4096 {
			select {
			case r := <-s.reqs:
				group = append(group, r)
				size += r.bytes
			default:
				break drain
			}
		}
		s.prepareGroup(slices.Clone(group), acks)
	}
}

// maxInflight bounds the groups applied but not yet synced.
const maxInflight = 4

// inflight is a group handed from the writer to the acker.
type inflight struct {
	group   []*appendReq
	resps   []appendResp
	written []bool
	batch   *pebble.Batch // nil when the group wrote nothing
	head    eventstore.Position
	wg      *sync.WaitGroup
}

// acker waits for each group's sync in order, publishes the durable head
// and answers the group's appends.
func (s *Store) acker(acks <-chan *inflight, done chan<- struct{}) {
	defer close(done)
	for g := range acks {
		s.ack(g)
	}
}

// ack waits for g's sync, publishes the durable head and answers g's
// appends. Groups are acked one at a time, in order.
func (s *Store) ack(g *inflight) {
	if g.batch != nil {
		err := g.batch.SyncWait()
		g.batch.Close()
		if err == nil {
			if p := s.failed.Load(); p != nil {
				err = *p // an earlier group failed: this one is not acknowledged
			}
		}
		if err != nil {
			err = mapErr(err)
			if s.failed.CompareAndSwap(nil, &err) {
				s.log.Error("embedded store commit failed; refusing further appends until reopened", "err", err)
			}
			for gi, r := range g.group {
				if g.written[gi] {
					g.resps[gi] = appendResp{err: fmt.Errorf("append to %q: commit: %w", r.stream, err)}
				}
			}
		} else {
			s.head.Store(uint64(g.head))
			s.signal.Notify()
		}
	}
	for gi, r := range g.group {
		r.done <- g.resps[gi]
	}
	s.unacked.Add(-1)
	g.wg.Done()
}

// handOff passes a prepared group on. When no group is syncing and no
// append is waiting, the writer waits for the sync itself (one goroutine
// hop less for a lone writer); otherwise the acker does, and the writer
// goes on preparing the next group while the disk syncs.
func (s *Store) handOff(g *inflight, acks chan<- *inflight) {
	// Counted only now, once prepared: preparing may wait for the groups
	// before it (eventByID), never for itself.
	s.inflight.Add(1)
	if s.unacked.Add(1) == 1 && len(s.reqs) == 0 {
		s.ack(g)
		return
	}
	acks <- g
}

// pendingEvent is an event written by an earlier append of the same group.
type pendingEvent struct {
	ev eventstore.RecordedEvent
}

// prepareGroup checks every append of the group against the stream
// versions and the id index (including groups still syncing), writes the
// accepted ones into one batch, applies it without waiting for the sync and
// hands it to the acker. Called by the writer only.
func (s *Store) prepareGroup(group []*appendReq, acks chan<- *inflight) {
	g := &inflight{group: group, resps: make([]appendResp, len(group)), written: make([]bool, len(group)), wg: &s.inflight}
	if p := s.failed.Load(); p != nil {
		for gi, r := range group {
			g.resps[gi].err = fmt.Errorf("append to %q: store stopped after a write failure (%v): %w", r.stream, *p, eventstore.ErrClosed)
		}
		s.handOff(g, acks)
		return
	}
	now := s.cfg.Now().UTC()
	if now.Before(s.lastRec) {
		now = s.lastRec
	}
	b := s.db.NewBatch()
	nextPos := s.nextPos
	maxID := s.maxID
	overlay := map[string]uint64{} // stream versions written by this group
	var pending map[uuid.UUID]*pendingEvent
	if len(group) > 1 {
		pending = map[uuid.UUID]*pendingEvent{}
	}
	wrote := false
	for gi, r := range group {
		if err := r.ctx.Err(); err != nil {
			g.resps[gi].err = err
			continue
		}
		// Idempotency first, whatever the expected version.
		stored := make([]*eventstore.RecordedEvent, len(r.events))
		found := false
		for i := range r.events {
			id := r.events[i].ID
			if pending != nil {
				if p := pending[id]; p != nil {
					stored[i], found = &p.ev, true
					continue
				}
			}
			if bytes.Compare(id[:], s.maxID[:]) > 0 {
				continue // greater than every id written before this group: new
			}
			ev, err := s.eventByID(r.ctx, id)
			if err != nil {
				g.resps[gi].err = fmt.Errorf("append to %q: look up event %s: %w", r.stream, id, err)
				break
			}
			if ev != nil {
				stored[i], found = ev, true
			}
		}
		if g.resps[gi].err != nil {
			continue
		}
		if found {
			res, dup, err := eventstore.CheckIdempotent(r.stream, r.events, stored)
			if err != nil {
				g.resps[gi].err = fmt.Errorf("append to %q: %w", r.stream, err)
				continue
			}
			if dup {
				g.resps[gi].res = res
				continue
			}
		}
		cur, ok := overlay[r.stream]
		if !ok {
			var err error
			if cur, err = s.streamVersion(r.ctx, r.stream); err != nil {
				g.resps[gi].err = fmt.Errorf("append to %q: %w", r.stream, err)
				continue
			}
		}
		if err := r.expected.Check(r.stream, cur); err != nil {
			g.resps[gi].err = err
			continue
		}
		if len(r.events) == 0 {
			g.resps[gi].res = eventstore.AppendResult{Version: cur, Position: nextPos - 1}
			continue
		}
		first := cur + 1 // NoVersion+1 == 0
		n := len(r.events)
		// The chunk, written straight into the batch.
		op := b.SetDeferred(9, chunkSize(r.stream, first, r.events))
		op.Key[0] = prefixLog
		binary.BigEndian.PutUint64(op.Key[1:], uint64(nextPos))
		encodeChunk(op.Value, r.stream, first, now, r.events)
		if err := op.Finish(); err != nil {
			g.resps[gi].err = fmt.Errorf("append to %q: %w", r.stream, err)
			continue
		}
		var sv [12]byte
		binary.BigEndian.PutUint64(sv[:8], uint64(nextPos))
		binary.BigEndian.PutUint32(sv[8:], uint32(n))
		if err := b.Set(streamKey(r.stream, first), sv[:], nil); err != nil {
			g.resps[gi].err = fmt.Errorf("append to %q: %w", r.stream, err)
			continue
		}
		for i := range r.events {
			id := r.events[i].ID
			k := idKey(id)
			var pv [8]byte
			binary.BigEndian.PutUint64(pv[:], uint64(nextPos)+uint64(i))
			_ = b.Set(k[:], pv[:], nil)
			if bytes.Compare(id[:], maxID[:]) > 0 {
				maxID = id
			}
			if pending != nil {
				e := &r.events[i]
				pending[id] = &pendingEvent{ev: eventstore.RecordedEvent{ID: id, Stream: r.stream, Type: e.Type,
					Version: first + uint64(i), Position: nextPos + eventstore.Position(i), RecordedAt: now, Data: e.Data, Metadata: e.Metadata}}
			}
		}
		last := first + uint64(n) - 1
		overlay[r.stream] = last
		nextPos += eventstore.Position(n)
		g.resps[gi].res = eventstore.AppendResult{Version: last, Position: nextPos - 1}
		g.written[gi] = true
		wrote = true
	}
	if !wrote {
		b.Close()
		s.handOff(g, acks)
		return
	}
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		err = mapErr(err)
		b.Close()
		if s.failed.CompareAndSwap(nil, &err) {
			s.log.Error("embedded store commit failed; refusing further appends until reopened", "err", err)
		}
		for gi, r := range group {
			if g.written[gi] {
				g.resps[gi] = appendResp{err: fmt.Errorf("append to %q: commit: %w", r.stream, err)}
			}
		}
		s.handOff(g, acks)
		return
	}
	// Applied (visible to Pebble iterators, not yet to readers, who stop at
	// the durable head): later groups build on it.
	g.batch, g.head = b, nextPos-1
	s.nextPos = nextPos
	s.maxID = maxID
	s.lastRec = now
	if len(s.streamVers) > 1<<16 {
		clear(s.streamVers) // bounded cache; versions reload from the index
	}
	for st, v := range overlay {
		s.streamVers[st] = v
	}
	s.handOff(g, acks)
}

// streamVersion returns the stream's last version, or NoVersion. Called by
// the writer only.
func (s *Store) streamVersion(ctx context.Context, stream string) (uint64, error) {
	if v, ok := s.streamVers[stream]; ok {
		return v, nil
	}
	lo := streamPrefix(stream)
	hi := append(slices.Clone(lo[:len(lo)-1]), 1)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	v := eventstore.NoVersion
	if it.Last() {
		first := binary.BigEndian.Uint64(it.Key()[len(lo):])
		count := binary.BigEndian.Uint32(it.Value()[8:])
		v = first + uint64(count) - 1
	}
	if err := it.Error(); err != nil {
		return 0, mapErr(err)
	}
	s.streamVers[stream] = v
	return v, nil
}

// eventByID returns the stored event with this id, or nil.
func (s *Store) eventByID(ctx context.Context, id uuid.UUID) (*eventstore.RecordedEvent, error) {
	k := idKey(id)
	v, closer, err := s.db.Get(k[:])
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err)
	}
	pos := eventstore.Position(binary.BigEndian.Uint64(v))
	closer.Close()
	if pos > eventstore.Position(s.head.Load()) {
		// Written by a group still syncing: wait for it, so that a retry is
		// answered only once the original is durable.
		s.inflight.Wait()
		if p := s.failed.Load(); p != nil {
			return nil, *p
		}
	}
	var evs []eventstore.RecordedEvent
	err = s.scanLocked(ctx, pos-1, eventstore.Filter{}, true, func(ev *eventstore.RecordedEvent) bool {
		evs = append(evs, *ev)
		return false
	})
	if err != nil {
		return nil, err
	}
	if len(evs) != 1 || evs[0].ID != id {
		return nil, fmt.Errorf("id index points %s at %d, which holds another event: %w", id, pos, eventstore.ErrCorrupt)
	}
	return &evs[0], nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	count := eventstore.ClampCount(opts.Count)
	out := make([]eventstore.RecordedEvent, 0, min(count, 1024))
	err := s.scan(ctx, opts.After, opts.Filter, true, func(ev *eventstore.RecordedEvent) bool {
		out = append(out, *ev)
		return len(out) < count
	})
	return out, err
}

// Scan calls fn for every event after position after that matches filter, in
// order, until fn returns false or the log ends. It is ReadAll without the
// slice and without copies: replay and verification use it to stream the
// whole log. The event's Data and Metadata point into Pebble's buffers and
// are valid only during the call: copy what you keep.
func (s *Store) Scan(ctx context.Context, after eventstore.Position, filter eventstore.Filter, fn func(*eventstore.RecordedEvent) bool) error {
	return s.scan(ctx, after, filter, false, fn)
}

func (s *Store) scan(ctx context.Context, after eventstore.Position, filter eventstore.Filter, keep bool, fn func(*eventstore.RecordedEvent) bool) error {
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	return s.scanLocked(ctx, after, filter, keep, fn)
}

// scanLocked walks the log. With keep, events' Data and Metadata are copied
// out of Pebble's buffers and may be retained; without it they are valid
// only during fn.
func (s *Store) scanLocked(ctx context.Context, after eventstore.Position, filter eventstore.Filter, keep bool, fn func(*eventstore.RecordedEvent) bool) error {
	// Pebble makes a batch visible before its WAL sync completes; readers
	// stop at the durable head (read before the iterator's snapshot), so
	// nothing that could still vanish in a crash is ever served.
	limit := eventstore.Position(s.head.Load())
	if after >= limit {
		return nil
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixLog}, UpperBound: []byte{prefixLog + 1}})
	if err != nil {
		return mapErr(err)
	}
	defer it.Close()
	// The chunk holding after+1 starts at or before it.
	valid := it.SeekLT(logKey(after + 2))
	if !valid {
		valid = it.First()
	}
	var d eventDecoder
	var ev eventstore.RecordedEvent
	lastStream := ""
	checked := 0
	for ; valid; valid = it.Next() {
		if checked++; checked%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		pos := eventstore.Position(binary.BigEndian.Uint64(it.Key()[1:]))
		if pos > limit {
			return nil
		}
		raw := it.Value()
		h, err := parseChunk(pos, raw, lastStream)
		if err != nil {
			return err
		}
		lastStream = h.stream
		end := pos + eventstore.Position(h.count) - 1
		if end <= after || !filter.MatchStream(h.stream) {
			continue
		}
		if keep {
			// Own the bytes: events handed out point into this copy.
			off := len(raw) - len(h.body)
			buf := slices.Clone(raw)
			h.body = buf[off:]
		}
		d.reset(pos, h)
		if after >= pos {
			if err := d.skip(int(after - pos + 1)); err != nil {
				return err
			}
		}
		for {
			ok, err := d.next(&ev)
			if err != nil {
				return err
			}
			if !ok || ev.Position > limit {
				break
			}
			if !filter.MatchType(ev.Type) {
				continue
			}
			if !fn(&ev) {
				return nil
			}
		}
	}
	return mapErr(it.Error())
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	count := eventstore.ClampCount(opts.Count)
	limit := eventstore.Position(s.head.Load()) // before the snapshot; see scanLocked
	lo := streamPrefix(stream)
	hi := append(slices.Clone(lo[:len(lo)-1]), 1)
	idx, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, mapErr(err)
	}
	defer idx.Close()
	if !idx.First() || eventstore.Position(binary.BigEndian.Uint64(idx.Value()[:8])) > limit {
		if err := idx.Error(); err != nil {
			return nil, mapErr(err)
		}
		return nil, fmt.Errorf("read %q: %w", stream, eventstore.ErrStreamNotFound)
	}
	var valid bool
	backwards := opts.Direction == eventstore.Backwards
	switch {
	case backwards && opts.FromEnd:
		valid = idx.Last()
	default:
		valid = idx.SeekLT(streamKey(stream, opts.From+1))
	}
	out := make([]eventstore.RecordedEvent, 0, min(count, 256))
	var d eventDecoder
	var ev eventstore.RecordedEvent
	for valid && len(out) < count {
		first := binary.BigEndian.Uint64(idx.Key()[len(lo):])
		pos := eventstore.Position(binary.BigEndian.Uint64(idx.Value()[:8]))
		if pos > limit {
			if backwards {
				valid = idx.Prev()
				continue
			}
			break
		}
		v, closer, err := s.db.Get(logKey(pos))
		if err != nil {
			return nil, fmt.Errorf("read %q: chunk at %d: %w", stream, pos, mapErr(err))
		}
		buf := slices.Clone(v)
		closer.Close()
		h, err := parseChunk(pos, buf, stream)
		if err != nil {
			return nil, err
		}
		if h.stream != stream || h.first != first {
			return nil, fmt.Errorf("read %q: index names chunk %d of %q: %w", stream, pos, h.stream, eventstore.ErrCorrupt)
		}
		d.reset(pos, h)
		chunk := make([]eventstore.RecordedEvent, 0, h.count)
		for {
			ok, err := d.next(&ev)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			chunk = append(chunk, ev)
		}
		if backwards {
			for i := len(chunk) - 1; i >= 0 && len(out) < count; i-- {
				if opts.FromEnd || chunk[i].Version <= opts.From {
					out = append(out, chunk[i])
				}
			}
			valid = idx.Prev()
		} else {
			for i := 0; i < len(chunk) && len(out) < count; i++ {
				if chunk[i].Version >= opts.From {
					out = append(out, chunk[i])
				}
			}
			valid = idx.Next()
		}
	}
	if err := idx.Error(); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	release, err := s.acquire()
	if err != nil {
		return 0, err
	}
	release()
	return eventstore.Position(s.head.Load()), ctx.Err()
}

// PositionAt implements eventstore.Store by binary search over the log,
// whose RecordedAt never decreases.
func (s *Store) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, bool, error) {
	release, err := s.acquire()
	if err != nil {
		return 0, false, err
	}
	defer release()
	head := eventstore.Position(s.head.Load())
	if head == 0 {
		return 0, false, nil
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixLog}, UpperBound: []byte{prefixLog + 1}})
	if err != nil {
		return 0, false, mapErr(err)
	}
	defer it.Close()
	// Every event of a chunk shares its recorded time.
	return eventstore.SearchPosition(ctx, head, t, func(_ context.Context, p eventstore.Position) (time.Time, error) {
		if !it.SeekLT(logKey(p + 1)) {
			return time.Time{}, fmt.Errorf("no chunk holds position %d: %w", p, eventstore.ErrCorrupt)
		}
		start := eventstore.Position(binary.BigEndian.Uint64(it.Key()[1:]))
		h, err := parseChunk(start, it.Value(), "")
		return h.recordedAt, err
	})
}

// Subscribe implements eventstore.Store.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	release()
	return eventstore.NewCatchUp(ctx, s, &s.signal, from, filter, s.cfg.Subscription), nil
}

// DiskUsage reports the bytes the store occupies on disk.
func (s *Store) DiskUsage(ctx context.Context) (int64, error) {
	release, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer release()
	return int64(s.db.Metrics().DiskSpaceUsage()), ctx.Err()
}

// Verify reads every chunk, checking its checksum, its events and that the
// id and stream indexes point at it. progress, if not nil, is called with
// the position reached about every 100,000 events.
func (s *Store) Verify(ctx context.Context, progress func(eventstore.Position)) error {
	var next eventstore.Position = 1
	var lastReport eventstore.Position
	var failure error
	err := s.scan(ctx, 0, eventstore.Filter{}, false, func(ev *eventstore.RecordedEvent) bool {
		if ev.Position != next {
			failure = fmt.Errorf("verify: expected position %d, found %d: %w", next, ev.Position, eventstore.ErrCorrupt)
			return false
		}
		next++
		k := idKey(ev.ID)
		v, closer, err := s.db.Get(k[:])
		if err != nil {
			failure = fmt.Errorf("verify: id index misses %s at %d: %v: %w", ev.ID, ev.Position, err, eventstore.ErrCorrupt)
			return false
		}
		got := eventstore.Position(binary.BigEndian.Uint64(v))
		closer.Close()
		if got != ev.Position {
			failure = fmt.Errorf("verify: id index puts %s at %d, log at %d: %w", ev.ID, got, ev.Position, eventstore.ErrCorrupt)
			return false
		}
		if progress != nil && ev.Position-lastReport >= 100000 {
			lastReport = ev.Position
			progress(ev.Position)
		}
		return true
	})
	if err != nil {
		return err
	}
	if failure != nil {
		return failure
	}
	if head := eventstore.Position(s.head.Load()); next-1 != head {
		return fmt.Errorf("verify: log ends at %d, head is %d: %w", next-1, head, eventstore.ErrCorrupt)
	}
	return nil
}

// acquire holds off Close for the duration of a read.
func (s *Store) acquire() (release func(), err error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, eventstore.ErrClosed
	}
	return s.mu.RUnlock, nil
}

// Close implements eventstore.Store: appends already queued are committed,
// later ones fail with ErrClosed, then Pebble is closed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	<-s.markDone
	s.signal.Notify()
	var errs []error
	if s.failed.Load() == nil {
		errs = append(errs, s.mark.write(eventstore.Position(s.head.Load())))
	}
	errs = append(errs, s.mark.close())
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("embedded: close: %w", err))
	}
	s.cache.Unref()
	return errors.Join(errs...)
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble", "fatal", true)
	fmt.Fprintf(os.Stderr, "pebble fatal: "+format+"\n", args...)
	os.Exit(70)
}
