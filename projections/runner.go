package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
)

// Log is what the runner reads: the log and its live tail.
type Log interface {
	Head(ctx context.Context) (eventstore.Position, error)
	ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error)
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error)
}

// SnapshotStore keeps the latest snapshot of each projection.
type SnapshotStore interface {
	Load(ctx context.Context, name string) (Snapshot, error)
	Save(ctx context.Context, s Snapshot) error
	Delete(ctx context.Context, name string) error
}

// RunnerConfig tunes a Runner.
type RunnerConfig struct {
	Logger *slog.Logger
	// SnapshotEvery is how often a projection that moved is snapshotted
	// (also at stop). Default 30s.
	SnapshotEvery time.Duration
	// PageSize is how many events one replay read carries. Default 4096.
	PageSize int
	// ProgressEvery is how often catch-up progress is logged. Default 5s.
	ProgressEvery time.Duration
}

// Runner keeps projections up to date: each runs in its own goroutine,
// restored from its snapshot when the snapshot is valid (same code
// version, same log), then subscribed from that position.
type Runner struct {
	log     Log
	snaps   SnapshotStore
	cfg     RunnerConfig
	lg      *slog.Logger
	names   []string
	byNam   map[string]*entry
	running chan struct{} // closed when Run starts
	stopped chan struct{} // closed when Run has returned
	runOnce sync.Once
}

type entry struct {
	name      string
	factory   Factory
	rebuildMu sync.Mutex // one rebuild of this projection at a time

	mu          sync.Mutex
	cur         Projection
	cancelSub   context.CancelFunc // interrupts the live subscription (a swap happened)
	caughtUp    bool
	restoredAt  eventstore.Position // snapshot position the current instance started from
	snapAt      eventstore.Position // position of the last snapshot loaded or saved
	lastRebuild time.Time
	lastErr     string
}

func (e *entry) current() Projection {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur
}

// NewRunner returns a runner of the projections the factories make. Names
// must be distinct.
func NewRunner(log Log, snaps SnapshotStore, cfg RunnerConfig, factories ...Factory) (*Runner, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 30 * time.Second
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 4096
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
	r := &Runner{log: log, snaps: snaps, cfg: cfg, lg: cfg.Logger, byNam: map[string]*entry{},
		running: make(chan struct{}), stopped: make(chan struct{})}
	for _, f := range factories {
		p := f()
		name := p.Name()
		if _, dup := r.byNam[name]; dup {
			return nil, fmt.Errorf("projections: two projections named %q", name)
		}
		r.names = append(r.names, name)
		r.byNam[name] = &entry{name: name, factory: f, cur: p}
	}
	return r, nil
}

// Names lists the projections in registration order.
func (r *Runner) Names() []string { return append([]string(nil), r.names...) }

// Get returns the live instance of a projection. A rebuild replaces it, so
// callers fetch it per query rather than keeping it.
func (r *Runner) Get(name string) (Projection, bool) {
	e, ok := r.byNam[name]
	if !ok {
		return nil, false
	}
	return e.current(), true
}

// ErrUnknownProjection: no projection has the name.
var ErrUnknownProjection = errors.New("projections: unknown projection")

// ErrNotRunning: the runner is not running (not started, or stopped).
var ErrNotRunning = errors.New("projections: the runner is not running")

// Run restores and runs every projection until ctx is done, then saves a
// final snapshot of each that moved. It returns nil on cancellation. A
// Runner runs once.
func (r *Runner) Run(ctx context.Context) error {
	first := false
	r.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("projections: Run called twice")
	}
	close(r.running)
	defer close(r.stopped)
	var wg sync.WaitGroup
	for _, name := range r.names {
		e := r.byNam[name]
		wg.Go(func() { r.runOne(ctx, e) })
	}
	wg.Wait()
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// runOne keeps one projection up to date until ctx is done, retrying after
// store errors with a capped backoff.
func (r *Runner) runOne(ctx context.Context, e *entry) {
	lg := r.lg.With("projection", e.name)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.restore(ctx, e, lg)
		if err == nil || errors.Is(err, errUnusableSnapshot) {
			if err != nil {
				lg.Warn("snapshot not used; folding from the start of the log", "err", err)
			}
			break
		}
		if ctx.Err() == nil { // the store is unreachable: try again, the snapshot may be good
			lg.Warn("cannot check the snapshot yet; retrying", "err", err, "in", backoff)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
		}
	}
	backoff = 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.follow(ctx, e, lg)
		if ctx.Err() != nil {
			break
		}
		e.mu.Lock()
		e.lastErr = err.Error()
		e.caughtUp = false
		e.mu.Unlock()
		lg.Warn("projection stopped; retrying", "err", err, "in", backoff)
		sleep(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
	// Final snapshot, with a fresh context (ctx is done), only if the
	// projection moved past the snapshot it started from or last saved: a
	// stop during restore must not overwrite a good snapshot with nothing.
	e.mu.Lock()
	p, snapAt := e.cur, e.snapAt
	e.mu.Unlock()
	if p.Position() <= snapAt {
		return
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.snapshot(sctx, e, p); err != nil {
		lg.Warn("final snapshot failed", "err", err)
	}
}

// errUnusableSnapshot marks a snapshot that must not be used (another code
// version, another log, a bad checksum or state); other restore errors are
// the store's and worth retrying.
var errUnusableSnapshot = errors.New("unusable snapshot")

// restore loads the projection's snapshot if it belongs to this code
// version and this log.
func (r *Runner) restore(ctx context.Context, e *entry, lg *slog.Logger) error {
	s, err := r.snaps.Load(ctx, e.name)
	switch {
	case errors.Is(err, ErrNoSnapshot):
		return nil
	case errors.Is(err, ErrBadSnapshot):
		return fmt.Errorf("%w: %w", errUnusableSnapshot, err)
	case err != nil:
		return err
	}
	p := e.factory()
	if s.Version != p.Version() {
		return fmt.Errorf("%w: taken by code version %d, this build folds version %d", errUnusableSnapshot, s.Version, p.Version())
	}
	head, err := r.log.Head(ctx)
	if err != nil {
		return err
	}
	if eventstore.Position(s.Position) > head {
		return fmt.Errorf("%w: at position %d, beyond the log head %d (another log?)", errUnusableSnapshot, s.Position, head)
	}
	id, err := eventIDAt(ctx, r.log, eventstore.Position(s.Position))
	if err != nil {
		return err
	}
	if id != s.EventID {
		return fmt.Errorf("%w: at position %d it names event %s; the log has %s there (another log?)", errUnusableSnapshot, s.Position, s.EventID, id)
	}
	if err := p.UnmarshalState(s.State); err != nil {
		return fmt.Errorf("%w: %w", errUnusableSnapshot, err)
	}
	if p.Position() != eventstore.Position(s.Position) {
		return fmt.Errorf("%w: state at position %d, header says %d", errUnusableSnapshot, p.Position(), s.Position)
	}
	e.mu.Lock()
	e.cur, e.restoredAt, e.snapAt = p, p.Position(), p.Position()
	e.mu.Unlock()
	lg.Info("restored from snapshot", "position", s.Position)
	return nil
}

// eventIDAt returns the id of the event at position p (uuid.Nil for 0), or
// an error when the log has no event there.
func eventIDAt(ctx context.Context, log Log, p eventstore.Position) (uuid.UUID, error) {
	if p == 0 {
		return uuid.Nil, nil
	}
	evs, err := log.ReadAll(ctx, eventstore.ReadAllOptions{After: p - 1, Count: 1})
	if err != nil {
		return uuid.Nil, err
	}
	if len(evs) == 0 || evs[0].Position != p {
		return uuid.Nil, fmt.Errorf("%w: the log has no event at position %d", errUnusableSnapshot, p)
	}
	return evs[0].ID, nil
}

// follow subscribes from the projection's position and folds until ctx is
// done or the subscription fails. When a rebuild swaps in a new instance it
// cancels the subscription; follow then resubscribes from the new one.
func (r *Runner) follow(ctx context.Context, e *entry, lg *slog.Logger) error {
	for {
		sctx, cancel := context.WithCancel(ctx)
		e.mu.Lock()
		p := e.cur
		e.cancelSub = cancel
		e.mu.Unlock()
		sub, err := r.log.Subscribe(sctx, p.Position(), p.Filter())
		if err != nil {
			cancel()
			if ctx.Err() == nil && e.current() != p {
				continue // swapped while subscribing
			}
			return fmt.Errorf("subscribe: %w", err)
		}
		err = r.fold(sctx, e, p, sub, lg)
		cancel()
		_ = sub.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.current() != p {
			continue // a rebuild swapped the instance: follow the new one
		}
		return err
	}
}

// fold applies subscription messages to p until the subscription ends.
func (r *Runner) fold(ctx context.Context, e *entry, p Projection, sub eventstore.Subscription, lg *slog.Logger) error {
	lastSnap := time.Now()
	lastLog := time.Now()
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		if len(msg.Events) > 0 || msg.Position > p.Position() {
			p.Apply(msg.Events, max(msg.Position, p.Position()))
		}
		e.mu.Lock()
		first := msg.CaughtUp && !e.caughtUp
		if msg.CaughtUp {
			e.caughtUp = true
		}
		e.lastErr = ""
		snapAt := e.snapAt
		e.mu.Unlock()
		switch {
		case first:
			lg.Info("caught up", "position", p.Position())
		case !msg.CaughtUp && time.Since(lastLog) >= r.cfg.ProgressEvery:
			lastLog = time.Now()
			lg.Info("catching up", "position", p.Position())
		}
		if p.Position() > snapAt && time.Since(lastSnap) >= r.cfg.SnapshotEvery {
			if err := r.snapshot(ctx, e, p); err != nil && ctx.Err() == nil {
				lg.Warn("snapshot failed", "err", err)
			}
			lastSnap = time.Now()
		}
	}
}

// snapshot saves p's state and records its position, unless a rebuild has
// replaced p.
func (r *Runner) snapshot(ctx context.Context, e *entry, p Projection) error {
	if e.current() != p {
		return nil
	}
	pos, err := SaveSnapshot(ctx, r.log, r.snaps, p)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.cur == p {
		e.snapAt = pos
	}
	e.mu.Unlock()
	return nil
}

// SaveSnapshot saves p's state at the position it reflects, naming the
// event there so that the snapshot is only ever restored over the same log.
func SaveSnapshot(ctx context.Context, log Log, snaps SnapshotStore, p Projection) (eventstore.Position, error) {
	state, pos, err := p.MarshalState()
	if err != nil {
		return 0, err
	}
	id, err := eventIDAt(ctx, log, pos)
	if err != nil {
		return 0, err
	}
	err = snaps.Save(ctx, Snapshot{Name: p.Name(), Version: p.Version(), Position: uint64(pos), EventID: id, State: state})
	return pos, err
}

// Rebuild refolds a running projection from the start of the log while the
// current instance keeps answering queries (and following the log), then
// swaps the new one in, snapshots it, and returns. It fails with
// ErrNotRunning when the runner is not running.
func (r *Runner) Rebuild(ctx context.Context, name string) error {
	e, ok := r.byNam[name]
	if !ok {
		return fmt.Errorf("%q: %w", name, ErrUnknownProjection)
	}
	select {
	case <-r.running:
	default:
		return ErrNotRunning
	}
	select {
	case <-r.stopped:
		return ErrNotRunning
	default:
	}
	e.rebuildMu.Lock()
	defer e.rebuildMu.Unlock()
	start := time.Now()
	head, err := r.log.Head(ctx)
	if err != nil {
		return err
	}
	p, err := Replay(ctx, r.log, e.factory(), head, r.cfg.PageSize)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.cur, e.restoredAt, e.lastRebuild = p, 0, time.Now().UTC()
	if e.cancelSub != nil {
		e.cancelSub() // the follower moves to the new instance
	}
	e.mu.Unlock()
	r.lg.Info("rebuilt", "projection", name, "position", p.Position(), "took", time.Since(start).Round(time.Millisecond))
	if err := r.snapshot(ctx, e, p); err != nil {
		r.lg.Warn("snapshot after rebuild failed", "projection", name, "err", err)
	}
	return nil
}

// Replay folds a fresh instance of the named projection from the start of
// the log up to and including position upTo, exactly what the live
// projection held when it stood at upTo. upTo beyond the head is an error.
func (r *Runner) Replay(ctx context.Context, name string, upTo eventstore.Position) (Projection, error) {
	e, ok := r.byNam[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, ErrUnknownProjection)
	}
	return Replay(ctx, r.log, e.factory(), upTo, r.cfg.PageSize)
}

// ErrBeyondHead: a replay was asked for a position the log has not reached.
var ErrBeyondHead = errors.New("projections: position beyond the log head")

// Replay folds p (fresh) from the start of the log up to and including
// upTo, reading pages of pageSize events.
func Replay(ctx context.Context, log Log, p Projection, upTo eventstore.Position, pageSize int) (Projection, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return nil, err
	}
	if upTo > head {
		return nil, fmt.Errorf("position %d, head %d: %w", upTo, head, ErrBeyondHead)
	}
	if pageSize <= 0 {
		pageSize = 4096
	}
	after := p.Position()
	for after < upTo {
		evs, err := log.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: pageSize, Filter: p.Filter()})
		if err != nil {
			return nil, err
		}
		n := len(evs)
		for n > 0 && evs[n-1].Position > upTo {
			n--
		}
		if n == 0 {
			break
		}
		p.Apply(evs[:n], evs[n-1].Position)
		after = evs[n-1].Position
		if n < len(evs) || len(evs) < pageSize {
			break
		}
	}
	p.Apply(nil, upTo)
	return p, nil
}

// Status describes one projection for operators.
type Status struct {
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	Position    uint64    `json:"position"`
	Head        uint64    `json:"head"`
	Lag         uint64    `json:"lag"`
	CaughtUp    bool      `json:"caught_up"`
	Hash        string    `json:"hash"`
	RestoredAt  uint64    `json:"restored_from_snapshot_at,omitempty"`
	LastRebuild time.Time `json:"last_rebuild,omitzero"`
	Error       string    `json:"error,omitempty"`
}

// Status reports every projection, in registration order.
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	head, err := r.log.Head(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(r.names))
	for _, name := range r.names {
		e := r.byNam[name]
		e.mu.Lock()
		p, caught, restored, rebuilt, lastErr := e.cur, e.caughtUp, e.restoredAt, e.lastRebuild, e.lastErr
		e.mu.Unlock()
		hash, pos, err := HashAt(p)
		if err != nil {
			return nil, err
		}
		st := Status{Name: name, Version: p.Version(), Position: uint64(pos), Head: uint64(head), CaughtUp: caught,
			Hash: hash, RestoredAt: uint64(restored), LastRebuild: rebuilt, Error: lastErr}
		if head > pos {
			st.Lag = uint64(head - pos)
		}
		out = append(out, st)
	}
	return out, nil
}

// CaughtUp reports whether every projection has caught up with the log
// (and not failed since); the first one that has not is named.
func (r *Runner) CaughtUp() (bool, string) {
	for _, name := range r.names {
		e := r.byNam[name]
		e.mu.Lock()
		ok := e.caughtUp
		e.mu.Unlock()
		if !ok {
			return false, name
		}
	}
	return true, ""
}

// WaitFor polls until the named projection has folded position p, or ctx
// is done.
func (r *Runner) WaitFor(ctx context.Context, name string, p eventstore.Position) error {
	e, ok := r.byNam[name]
	if !ok {
		return fmt.Errorf("%q: %w", name, ErrUnknownProjection)
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for e.current().Position() < p {
		select {
		case <-ctx.Done():
			return fmt.Errorf("projection %s at %d, waiting for %d: %w", name, e.current().Position(), p, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Lags returns, per projection, how many positions it is behind the head
// (cheaper than Status: no state hashes).
func (r *Runner) Lags(ctx context.Context) (map[string]uint64, error) {
	head, err := r.log.Head(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(r.names))
	for _, name := range r.names {
		pos := r.byNam[name].current().Position()
		out[name] = 0
		if head > pos {
			out[name] = uint64(head - pos)
		}
	}
	return out, nil
}
