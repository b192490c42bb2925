package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/risk"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// Store is the part of the event log the engine uses.
type Store interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error)
	ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error)
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error)
	Head(ctx context.Context) (eventstore.Position, error)
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error)
}

// Config configures an Engine; zero values take the defaults in brackets.
type Config struct {
	Logger *slog.Logger
	// Now is the clock of commands: manual orders and outside signals
	// happen at Now [time.Now]. Ticks carry their own event time. With a
	// simulated feed, serve makes Now the feed's time.
	Now func() time.Time
	// Wall is the clock the store stamps events with: the time the engine
	// folds its own events at (the kill switch's "since") and the
	// kill-switch cooldown is measured on, so that a restart, which folds
	// the log's recorded_at, sees the same times [Now].
	Wall func() time.Time
	// BrokerFor returns the broker of an account in a mode; required to
	// place orders.
	BrokerFor func(account string, mode domain.Mode) (Broker, error)
	// LiveSession reports whether an account has a valid live broker
	// session (switching to live needs one) [none has].
	LiveSession func(account string) bool
	// KillCooldown is how long after it tripped a kill switch can be reset
	// [15m]. KillFlatten closes positions when it trips [true].
	KillCooldown time.Duration
	KillFlatten  *bool
	// AlgoID is the exchange-approved algo id stamped on algo orders (SEBI).
	AlgoID string
	// Instrument looks up lot size, tick size, freeze quantity and type
	// for the risk gate [none: units, unchecked ticks, no slicing].
	Instrument func(exchange, symbol string) (domain.Instrument, bool)
	// Resolve turns the symbol of an order or a signal into an instrument
	// as of an instant: canonical "EXCHANGE:SYMBOL", bare tradingsymbols
	// and vendor aliases (NIFTY-I, TrueData option symbols) [none: symbols
	// are taken as given].
	Resolve func(name string, at time.Time) (domain.Instrument, error)
	// Risk configures the risk gate (calendar, stale-data limit, slices).
	Risk risk.Config
	// BreachesToTrip is how many consecutive loss or drawdown breaches
	// trip the kill switch [3].
	BreachesToTrip int
	// Strategies are the strategies accounts may enable, and StrategyEnv
	// what they may ask of the instruments master [none].
	Strategies  *strategy.Registry
	StrategyEnv strategy.Env
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Wall == nil {
		c.Wall = c.Now
	}
	if c.LiveSession == nil {
		c.LiveSession = func(string) bool { return false }
	}
	if c.KillCooldown <= 0 {
		c.KillCooldown = 15 * time.Minute
	}
	if c.KillFlatten == nil {
		t := true
		c.KillFlatten = &t
	}
}

// Actor is who issues a command: the authenticated user and what they may
// touch.
type Actor struct {
	User   string
	Admin  bool
	CanSee func(account string) bool // nil: every account
	Trader bool                      // may trade (admin or trader role)
}

func (a Actor) mayTouch(account string) error {
	if a.CanSee != nil && !a.CanSee(account) {
		return &domain.CommandError{Code: domain.CodeForbidden, Field: "account", Message: fmt.Sprintf("no access to account %q", account)}
	}
	if !a.Trader && !a.Admin {
		return &domain.CommandError{Code: domain.CodeForbidden, Message: "this role may not trade"}
	}
	return nil
}

// Engine decides and acts for every account: trading control, signals,
// orders through the broker, fills from simulated brokers. Its state is a
// fold of the log; each command appends events with the expected version
// of their stream, applies them at once, and ignores them when they come
// back through the log. It is safe for concurrent use: commands and the
// log follower serialise on one lock, so decisions see each other.
type Engine struct {
	st  Store
	reg *codec.Registry
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	versions   map[string]uint64 // stream -> events folded (its next expected version is this-1)
	controls   map[string]*domain.TradingControl
	orders     map[string]*order // by order id (= client order id)
	signals    map[string]*signalState
	ticks      map[string]domain.Tick // "EXCHANGE:SYMBOL" -> last tick
	byProd     map[prodKey]int64      // the same per product (MIS, NRML, CNC): what flattening closes
	flatten    map[string]int64       // accounts with positions left to flatten -> unix second of the last try
	brokers    map[brokerKey]Broker
	books      map[posKey]*book    // P&L per account and instrument, from fills
	holders    map[string][]string // instrument -> the accounts with a book of it, sorted
	stratBooks map[stratKey]*book  // the same per strategy (the intent's)
	risks      map[string]*accountRisk
	gate       *risk.Gate
	runners    map[string]map[string]*running // account -> strategy -> instance
	runOrder   []*running                     // the runners by account and name (nil: to be sorted again)
	fillers    []brokerKey                    // the brokers by account and mode (nil: to be sorted again)
	tickDec    codec.TickDecoder              // decodes the log's ticks (interning their names)
	keys       map[[2]string]string           // (exchange, symbol) -> "EXCHANGE:SYMBOL", made once
	fills      []fillNote                     // strategy fills not yet delivered
	env        strategy.Env
	rec        reconState          // reconciliation with the brokers (reconcile.go)
	applied    eventstore.Position // the log is folded up to here
	// foldPos and foldMeta are the position and metadata of the event
	// being folded (for an append, the position it landed at); loading is
	// true while Load folds the log, before the strategies' replay.
	foldPos  eventstore.Position
	foldMeta []byte
	loading  bool
	// cause is the id of the tick being processed: events appended
	// meanwhile carry it as their causation id, so a replay can hand a
	// strategy its fills after the tick that caused them.
	cause uuid.UUID
	// tickAt is the latest tick's exchange time, the engine's event
	// clock; atomic, because brokers read it while the engine holds mu.
	tickAt atomic.Int64 // unix nanoseconds; 0: none yet (no allocation per tick)
	// handled is the position of the last event Run has fully handled
	// (folded, and a tick's orders, fills and strategies done).
	handled atomic.Uint64
	// stratAt is the time of the tick the strategies are handling.
	stratAt atomic.Int64 // unix nanoseconds; 0: none yet
	// followed is the position of the last event the follower handled:
	// it resubscribes after it (applied may be further, when a command
	// caught a stream up).
	followed eventstore.Position
	// pollMu serialises polling brokers with recording what they report;
	// unrecorded keeps reports whose recording failed, for the next poll.
	pollMu     sync.Mutex
	unrecorded map[brokerKey][]domain.ExecutionReport
	// queues are the calls waiting for each remote broker (remote.go);
	// workers counts the goroutines making them, drained is closed when
	// that count falls to zero, and closing (set by Drain) stops new calls.
	queues  map[brokerKey]*callQueue
	workers int
	drained chan struct{}
	closing bool
}

type posKey struct{ account, instrument string }

type prodKey struct {
	posKey
	product domain.Product
}

type brokerKey struct {
	account string
	mode    domain.Mode
}

// New returns an engine over st; call Load, then Run.
func New(st Store, reg *codec.Registry, cfg Config) *Engine {
	cfg.defaults()
	return &Engine{st: st, reg: reg, cfg: cfg, log: cfg.Logger,
		versions: map[string]uint64{}, controls: map[string]*domain.TradingControl{}, orders: map[string]*order{},
		signals: map[string]*signalState{}, ticks: map[string]domain.Tick{}, brokers: map[brokerKey]Broker{},
		books: map[posKey]*book{}, stratBooks: map[stratKey]*book{}, risks: map[string]*accountRisk{}, gate: risk.NewGate(cfg.Risk),
		byProd: map[prodKey]int64{}, flatten: map[string]int64{},
		runners: map[string]map[string]*running{}, env: cfg.StrategyEnv}
}

// Load folds the whole log into the engine's state, then replays the
// enabled strategies (replay.go) so that they continue where they were.
func (e *Engine) Load(ctx context.Context) error {
	e.mu.Lock()
	e.loading = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.loading = false
		e.mu.Unlock()
	}()
	err := e.scanLog(ctx, 0, func(ev *eventstore.RecordedEvent) {
		e.mu.Lock()
		e.foldRecorded(ev)
		e.foldMeta = nil // Scan's bytes are valid only during the call
		e.mu.Unlock()
	})
	if err != nil {
		return fmt.Errorf("engine: load: %w", err)
	}
	e.mu.Lock()
	e.followed = e.applied
	e.handled.Store(uint64(e.applied))
	e.mu.Unlock()
	return e.replayStrategies(ctx)
}

// scanner is a store that streams the log without copying it (the
// embedded and PostgreSQL stores): an event's bytes are valid only during
// fn.
type scanner interface {
	Scan(ctx context.Context, after eventstore.Position, filter eventstore.Filter, fn func(*eventstore.RecordedEvent) bool) error
}

// scanLog calls fn for every event after position after, in order, up to
// the head when it started: with the store's Scan when it has one, else
// in pages of ReadAll.
func (e *Engine) scanLog(ctx context.Context, after eventstore.Position, fn func(*eventstore.RecordedEvent)) error {
	if sc, ok := e.st.(scanner); ok {
		return sc.Scan(ctx, after, eventstore.Filter{}, func(ev *eventstore.RecordedEvent) bool { fn(ev); return true })
	}
	for {
		evs, err := e.st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: 4096})
		if err != nil {
			return err
		}
		for i := range evs {
			fn(&evs[i])
		}
		if len(evs) < 4096 {
			return nil
		}
		after = evs[len(evs)-1].Position
	}
}

// Run follows the log after what Load folded: ticks go to the simulated
// brokers, whose executions become order events, and to the strategies,
// and events other processes appended (control changes, signals) are
// folded. A failed subscription is logged and resumed from the last event
// folded, after a pause that grows to 5 s. It returns nil when ctx ends or
// the store is closed.
func (e *Engine) Run(ctx context.Context) error {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		progressed, err := e.follow(ctx)
		if ctx.Err() != nil || errors.Is(err, eventstore.ErrClosed) {
			return nil
		}
		if progressed {
			backoff = minBackoff
		}
		e.log.Warn("engine: following the log failed; resubscribing", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// follow runs one subscription from the last event folded until it fails.
func (e *Engine) follow(ctx context.Context) (progressed bool, err error) {
	e.mu.Lock()
	from := e.followed
	e.mu.Unlock()
	sub, err := e.st.Subscribe(ctx, from, eventstore.Filter{})
	if err != nil {
		return false, fmt.Errorf("engine: subscribe: %w", err)
	}
	defer sub.Close()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return progressed, fmt.Errorf("engine: follow the log: %w", err)
		}
		for i := range m.Events {
			ev := &m.Events[i]
			e.mu.Lock()
			t, ok := e.foldRecorded(ev)
			if !ok {
				e.followed = max(e.followed, ev.Position)
			}
			e.mu.Unlock()
			progressed = true
			if ok {
				e.onTick(ctx, t, ev.Position, ev.ID) // moves followed when done
			}
			e.handled.Store(uint64(ev.Position))
		}
	}
}

// EventTime returns the exchange time of the latest tick folded: the clock
// of simulated brokers (zero before any tick). It never blocks: brokers
// call it while the engine is calling them.
func (e *Engine) EventTime() time.Time {
	return nanoTime(e.tickAt.Load())
}

// nanoTime is the IST time of unix nanoseconds n (zero for 0), as ticks
// carry it.
func nanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).In(domain.IST())
}

// Handled returns the position of the last event of the log the engine has
// fully handled: folded and, for a tick, its fills recorded and its
// strategies run. The distance to the store's head is the engine's lag.
func (e *Engine) Handled() eventstore.Position {
	return eventstore.Position(e.handled.Load())
}

// Tick returns the last tick of an instrument ("EXCHANGE:SYMBOL") the
// engine has folded.
func (e *Engine) Tick(instrument string) (domain.Tick, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.ticks[instrument]
	return t, ok
}

// foldRecorded applies one event of the log unless this engine applied it
// already when it appended it (its stream version says so). It returns the
// tick when the event is one. e.mu is held.
func (e *Engine) foldRecorded(ev *eventstore.RecordedEvent) (domain.Tick, bool) {
	if ev.Position > e.applied {
		e.applied = ev.Position
	}
	e.foldPos, e.foldMeta = ev.Position, ev.Metadata
	if ev.Type == domain.TypeTickReceived { // ticks are not versioned state: always the latest
		var t domain.Tick
		if err := e.tickDec.Decode(ev.Data, &t); err != nil {
			e.log.Warn("engine: undecodable tick skipped", "position", ev.Position, "err", err)
			return t, false
		}
		e.ticks[e.instrumentKey(t.Exchange, t.Symbol)] = t
		if n := t.ExchangeTime.UnixNano(); n > e.tickAt.Load() {
			e.tickAt.Store(n)
		}
		return t, true
	}
	if !e.reg.Known(ev.Type) {
		return domain.Tick{}, false
	}
	de, err := e.reg.Decode(ev)
	if err != nil {
		e.log.Warn("engine: undecodable event skipped", "type", ev.Type, "position", ev.Position, "err", err)
		return domain.Tick{}, false
	}
	if ev.Version+1 <= e.versions[ev.Stream] {
		return domain.Tick{}, false // appended (and applied) by this engine
	}
	e.versions[ev.Stream] = ev.Version + 1
	e.fold(ev.Stream, de, ev.RecordedAt)
	return domain.Tick{}, false
}

// instrumentKey returns "EXCHANGE:SYMBOL" without building it on every
// tick. e.mu is held.
func (e *Engine) instrumentKey(exchange, symbol string) string {
	k := [2]string{exchange, symbol}
	if s, ok := e.keys[k]; ok {
		return s
	}
	if e.keys == nil || len(e.keys) >= 1<<16 {
		e.keys = make(map[[2]string]string, 256)
	}
	s := exchange + ":" + symbol
	e.keys[k] = s
	return s
}

// fold applies a decoded event to the state. e.mu is held.
func (e *Engine) fold(stream string, de domain.Event, at time.Time) {
	switch ev := de.(type) {
	case domain.TradingStarted, domain.TradingPaused, domain.TradingResumed, domain.TradingStopped, domain.ModeChanged,
		domain.KillSwitchTriggered, domain.KillSwitchReset, domain.StrategyEnabled, domain.StrategyDisabled, domain.RiskLimitsChanged:
		acct, ok := controlAccount(stream)
		if !ok {
			return
		}
		c := e.controlLocked(acct)
		c.Evolve(ev, at)
		switch ev.(type) {
		case domain.StrategyEnabled, domain.StrategyDisabled:
			e.syncRunnersLocked(acct)
		}
	case domain.OrderIntentRecorded, domain.OrderSubmitted, domain.OrderAccepted, domain.OrderRejected,
		domain.OrderFilled, domain.OrderCancelled, domain.SubmitOutcomeUnknown:
		e.foldOrder(de, at)
	case domain.SignalRaised, domain.SignalAccepted, domain.SignalRejected:
		e.foldSignal(de)
	case domain.BrokerSnapshotObserved, domain.ReconciliationDiffFound, domain.PositionAdopted:
		e.foldReconcile(de)
	}
}

func controlAccount(stream string) (string, bool) {
	const p = "control-"
	if len(stream) <= len(p) || stream[:len(p)] != p {
		return "", false
	}
	return stream[len(p):], true
}

// controlLocked returns the account's control, creating it. e.mu is held.
func (e *Engine) controlLocked(account string) *domain.TradingControl {
	c := e.controls[account]
	if c == nil {
		n := domain.NewTradingControl(account)
		c = &n
		e.controls[account] = c
	}
	return c
}

// expected is the expected version for the next append to stream. e.mu is
// held.
func (e *Engine) expected(stream string) eventstore.ExpectedVersion {
	n := e.versions[stream]
	if n == 0 {
		return eventstore.NoStream()
	}
	return eventstore.Exact(n - 1)
}

// append appends evs to stream at the version the engine knows, and folds
// them. The ids are derived from idKey when it is not empty (a retry of the
// same decision appends nothing new), else random (UUIDv7). e.mu is held.
func (e *Engine) append(ctx context.Context, stream, idKey string, md eventstore.Metadata, evs ...domain.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if md.CausationID == "" && e.cause != uuid.Nil {
		md.CausationID = e.cause.String()
	}
	data := make([]eventstore.EventData, len(evs))
	for i, ev := range evs {
		var id uuid.UUID
		if idKey != "" {
			id = uuid.NewSHA1(eventNamespace, fmt.Appendf(nil, "%s|%s|%d|%s", stream, idKey, i, ev.EventType()))
		} else {
			var err error
			if id, err = uuid.NewV7(); err != nil {
				return fmt.Errorf("engine: event id: %w", err)
			}
		}
		d, err := e.reg.Encode(id, ev, md)
		if err != nil {
			return fmt.Errorf("engine: encode %s: %w", ev.EventType(), err)
		}
		data[i] = d
	}
	res, err := e.st.Append(ctx, stream, e.expected(stream), data...)
	if err != nil {
		return fmt.Errorf("engine: append to %s: %w", stream, err)
	}
	if res.Duplicate {
		return nil // a retry: folded the first time
	}
	at := e.cfg.Wall()
	// The position of the last event; exact for the events appended alone
	// whose position matters (StrategyEnabled).
	e.foldPos, e.foldMeta = res.Position, nil
	for _, ev := range evs {
		e.versions[stream]++
		e.fold(stream, ev, at)
	}
	return nil
}

// eventNamespace scopes the engine's deterministic event ids.
var eventNamespace = uuid.MustParse("6f1c2a4e-8d3b-4f7a-9c51-2e0b7d4a9f13")

// catchUpStream folds the events of stream the engine has not seen (another
// process appended them). e.mu is held.
func (e *Engine) catchUpStream(ctx context.Context, stream string) error {
	evs, err := e.st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: e.versions[stream], Count: 4096})
	if err != nil {
		return fmt.Errorf("engine: catch up %s: %w", stream, err)
	}
	for i := range evs {
		e.foldRecorded(&evs[i])
	}
	return nil
}

// decide runs a command's decision against stream: on a concurrency
// conflict (another process appended to the stream since the engine last
// saw it) it folds what it missed and decides again, up to 3 times. e.mu
// is held.
func (e *Engine) decide(ctx context.Context, stream string, run func() error) error {
	for attempt := 1; ; attempt++ {
		err := run()
		if attempt == 3 || !errors.Is(err, eventstore.ErrConcurrencyConflict) {
			return err
		}
		if cerr := e.catchUpStream(ctx, stream); cerr != nil {
			return cerr
		}
	}
}
