package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
)

// running is one strategy enabled on an account.
type running struct {
	account, name string
	params        json.RawMessage
	s             strategy.Strategy
	source        string                     // signal source: "strategy:<account>:<name>@<epoch>"
	epoch         eventstore.Position        // the position of the StrategyEnabled that built it: it sees the ticks after
	legs          map[string]string          // signal id -> leg
	replayed      map[string]strategy.Signal // while it is replayed: the signals it raised again, by id
	beat          int64                      // unix second of the last timer beat
	signals       int64                      // signals raised since it was built
	err           string                     // why it could not be built, or its last failure
}

// fillNote is an execution (or the end) of a strategy's order, queued for
// the strategy's OnFill once the engine is done with the report.
//
// cause is the id of the tick whose processing produced the note (nil for
// a command's or a polled broker's) and pos where its event is in the log:
// a tick's notes are delivered after that tick, the others after the first
// tick that follows their event, live and on replay alike. While the log
// is loaded, notes wait for the strategy's replay (replay.go): the leg is
// not known yet, so sigID names the signal; fromSignal marks the end of a
// signal the risk gate rejected (its fields come from the replayed signal).
type fillNote struct {
	r          *running
	fill       strategy.Fill
	sigID      string
	cause      uuid.UUID
	pos        eventstore.Position
	fromSignal bool
}

// syncRunnersLocked builds, rebuilds or drops the account's strategy
// instances to match its control. e.mu is held.
func (e *Engine) syncRunnersLocked(account string) {
	if e.cfg.Strategies == nil {
		return
	}
	e.runOrder = nil
	c := e.controlLocked(account)
	rs := e.runners[account]
	if rs == nil {
		rs = map[string]*running{}
		e.runners[account] = rs
	}
	for name, r := range rs {
		if _, ok := c.Enabled(name); !ok {
			delete(rs, name)
			_ = r
		}
	}
	for _, run := range c.Strategies {
		if r := rs[run.Strategy]; r != nil && string(r.params) == string(run.Params) {
			continue
		}
		// The instance sees the ticks after the event that enabled it,
		// live and on replay alike, and its signal source carries that
		// position: its leg ids (and so its signal and order ids) are its
		// own, apart from an earlier instance's.
		r := &running{account: account, name: run.Strategy, params: run.Params, legs: map[string]string{},
			epoch: e.foldPos, source: fmt.Sprintf("strategy:%s:%s@%d", account, run.Strategy, e.foldPos)}
		s, err := e.cfg.Strategies.New(run.Strategy, run.Params)
		if err != nil {
			r.err = err.Error()
			e.log.Error("strategy cannot run", "account", account, "strategy", run.Strategy, "err", err)
		}
		r.s = s
		rs[run.Strategy] = r
	}
}

// EnableStrategy enables a strategy on an account with its parameters
// (validated, defaults filled in; the complete set is what is recorded).
func (e *Engine) EnableStrategy(ctx context.Context, a Actor, account, name string, raw json.RawMessage) (ControlStatus, error) {
	if err := a.mayTouch(account); err != nil {
		return ControlStatus{}, err
	}
	if e.cfg.Strategies == nil {
		return ControlStatus{}, &domain.CommandError{Code: domain.CodeConflict, Message: "no strategies are registered"}
	}
	def, ok := e.cfg.Strategies.Lookup(name)
	if !ok {
		return ControlStatus{}, &domain.CommandError{Code: domain.CodeInvalid, Field: "strategy", Message: fmt.Sprintf("unknown strategy %q", name)}
	}
	p, err := def.Resolve(raw)
	if err != nil {
		return ControlStatus{}, &domain.CommandError{Code: domain.CodeInvalid, Field: "params", Message: err.Error()}
	}
	if _, err := def.Build(p); err != nil {
		return ControlStatus{}, &domain.CommandError{Code: domain.CodeInvalid, Field: "params", Message: err.Error()}
	}
	resolved, err := json.Marshal(p)
	if err != nil {
		return ControlStatus{}, fmt.Errorf("engine: encode params: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	stream := domain.ControlStream(account)
	err = e.decide(ctx, stream, func() error {
		evs, err := e.controlLocked(account).EnableStrategy(name, resolved, a.User)
		if err != nil {
			return err
		}
		return e.append(ctx, stream, "", eventstore.Metadata{User: a.User, Account: account, Source: "control"}, evs...)
	})
	if err != nil {
		return ControlStatus{}, err
	}
	return e.statusLocked(account), nil
}

// DisableStrategy disables a strategy on an account (its open orders and
// positions stay: stop or flatten the account to close them).
func (e *Engine) DisableStrategy(ctx context.Context, a Actor, account, name, reason string) (ControlStatus, error) {
	if err := a.mayTouch(account); err != nil {
		return ControlStatus{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	stream := domain.ControlStream(account)
	err := e.decide(ctx, stream, func() error {
		evs, err := e.controlLocked(account).DisableStrategy(name, a.User, reason)
		if err != nil {
			return err
		}
		return e.append(ctx, stream, "", eventstore.Metadata{User: a.User, Account: account, Source: "control"}, evs...)
	})
	if err != nil {
		return ControlStatus{}, err
	}
	return e.statusLocked(account), nil
}

// StrategyStatus is one strategy running on an account.
type StrategyStatus struct {
	Account string          `json:"account"`
	Name    string          `json:"strategy"`
	Params  json.RawMessage `json:"params,omitempty"`
	State   any             `json:"state,omitempty"`
	Signals int64           `json:"signals"`
	PnL     StrategyPnL     `json:"pnl"`
	Error   string          `json:"error,omitempty"`
}

// StrategyPnL is what a strategy's orders on an account made, from their
// fills (weighted-average cost, gross of charges; every instance of the
// strategy on the account, since the log began), valued at the last tick.
type StrategyPnL struct {
	Realized   domain.Price       `json:"realized"`
	Unrealized domain.Price       `json:"unrealized"`
	Total      domain.Price       `json:"total"`
	Positions  []StrategyPosition `json:"positions"`
}

// StrategyPosition is a strategy's open position in one instrument.
type StrategyPosition struct {
	Instrument string       `json:"instrument"`
	Quantity   int64        `json:"quantity"`
	AvgPrice   domain.Price `json:"avg_price"`
	LastPrice  domain.Price `json:"last_price,omitempty"`
}

// stratKey is a strategy's book of one instrument on one account.
type stratKey struct{ account, strategy, instrument string }

// strategyPnLLocked sums the strategy's books on the account. e.mu is
// held.
func (e *Engine) strategyPnLLocked(account, name string) StrategyPnL {
	p := StrategyPnL{Positions: []StrategyPosition{}}
	for k, b := range e.stratBooks {
		if k.account != account || k.strategy != name {
			continue
		}
		p.Realized += b.realized
		if b.Qty == 0 {
			continue
		}
		sp := StrategyPosition{Instrument: k.instrument, Quantity: b.Qty, AvgPrice: b.Avg()}
		if t, ok := e.ticks[k.instrument]; ok && t.LTP > 0 {
			sp.LastPrice = t.LTP
			p.Unrealized += b.Unrealized(t.LTP)
		}
		p.Positions = append(p.Positions, sp)
	}
	slices.SortFunc(p.Positions, func(a, b StrategyPosition) int { return compare(a.Instrument, b.Instrument) })
	p.Total = p.Realized + p.Unrealized
	return p
}

// Strategies returns the strategies running on the accounts see accepts
// (nil: every account), sorted by account and name.
func (e *Engine) Strategies(see func(account string) bool) []StrategyStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []StrategyStatus
	for acct, rs := range e.runners {
		if see != nil && !see(acct) {
			continue
		}
		for _, r := range rs {
			st := StrategyStatus{Account: acct, Name: r.name, Params: r.params, Signals: r.signals, Error: r.err,
				PnL: e.strategyPnLLocked(acct, r.name)}
			if r.s != nil {
				st.State = r.s.State()
			}
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b StrategyStatus) int {
		if a.Account != b.Account {
			return compare(a.Account, b.Account)
		}
		return compare(a.Name, b.Name)
	})
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Definitions lists the strategies the engine can run.
func (e *Engine) Definitions() []strategy.Definition {
	if e.cfg.Strategies == nil {
		return nil
	}
	return e.cfg.Strategies.List()
}

// runStrategiesLocked feeds the tick at log position pos (and, once per
// second of event time, a timer beat) to every strategy, in account and
// name order, and raises their signals. e.mu is held.
func (e *Engine) runStrategiesLocked(ctx context.Context, t domain.Tick, pos eventstore.Position) {
	e.eachRunnerLocked(t, pos, func(r *running, sigs []strategy.Signal) { e.raiseLocked(ctx, r, sigs) })
}

// eachRunnerLocked hands the tick at pos to every strategy instance built
// before it, in account and name order, with a timer beat when the tick
// starts a new second of event time, and passes on what each answers.
// e.mu is held.
func (e *Engine) eachRunnerLocked(t domain.Tick, pos eventstore.Position, raise func(*running, []strategy.Signal)) {
	if e.cfg.Strategies == nil || len(e.runners) == 0 {
		return
	}
	if e.runOrder == nil {
		for _, rs := range e.runners {
			for _, r := range rs {
				e.runOrder = append(e.runOrder, r)
			}
		}
		slices.SortFunc(e.runOrder, func(a, b *running) int {
			if c := compare(a.account, b.account); c != 0 {
				return c
			}
			return compare(a.name, b.name)
		})
	}
	sec := t.ExchangeTime.Unix()
	e.stratAt.Store(t.ExchangeTime.UnixNano())
	for _, r := range e.runOrder {
		if r.s == nil || pos <= r.epoch || e.runners[r.account][r.name] != r {
			continue
		}
		sigs := r.s.OnTick(e.env, t)
		if sec > r.beat {
			r.beat = sec
			sigs = append(sigs, r.s.OnTimer(e.env, time.Unix(sec, 0).In(domain.IST()))...)
		}
		raise(r, sigs)
	}
}

// raiseLocked turns a strategy's signals into SignalRaised events through
// the same path as outside signals (risk gate, orders). A rejected signal
// is reported back to the strategy as a done leg. e.mu is held.
func (e *Engine) raiseLocked(ctx context.Context, r *running, sigs []strategy.Signal) {
	for _, sig := range sigs {
		r.signals++
		req := SignalRequest{Source: r.source, IdempotencyKey: sig.Leg, Account: r.account, Strategy: r.name,
			Exchange: sig.Exchange, Symbol: sig.Symbol, Side: sig.Side, Quantity: sig.Quantity, OrderType: sig.OrderType,
			Price: sig.Price, Product: sig.Product, Reason: sig.Reason}
		id := SignalID(r.source, sig.Leg)
		r.legs[id] = sig.Leg
		res, err := e.submitLocked(ctx, Actor{User: r.source, Trader: true}, req, sig.At)
		if err != nil {
			r.err = err.Error()
			e.log.Error("strategy signal failed", "account", r.account, "strategy", r.name, "leg", sig.Leg, "err", err)
			e.queueNoteLocked(fillNote{r: r, fill: strategy.Fill{Leg: sig.Leg, Exchange: sig.Exchange, Symbol: sig.Symbol,
				Side: sig.Side, At: sig.At, Done: true, Reason: err.Error()}})
			continue
		}
		if res.Status == SignalRejected && res.Rule != "broker" { // a broker rejection ends the leg through its order
			e.queueNoteLocked(fillNote{r: r, fill: strategy.Fill{Leg: sig.Leg, Exchange: sig.Exchange, Symbol: sig.Symbol,
				Side: sig.Side, At: sig.At, Done: true, Reason: res.Rule + ": " + res.Reason}})
		}
	}
}

// noteOrderLocked queues, for the strategy that raised the order's signal,
// a fill (qty > 0) or the end of the leg (when every order of the signal
// is final). e.mu is held.
func (e *Engine) noteOrderLocked(o *order, qty int64, price domain.Price, at time.Time, reason string) {
	if o.intent.SignalID == "" || o.intent.Strategy == "" {
		return
	}
	rs := e.runners[o.intent.Account]
	r := rs[o.intent.Strategy]
	if r == nil {
		return
	}
	leg, ok := r.legs[o.intent.SignalID]
	if !ok && !(e.loading && e.raisedBy(r, o.intent.SignalID)) {
		return
	}
	done := true
	if s := e.signals[o.intent.SignalID]; s != nil {
		for _, id := range s.orderIDs {
			if so := e.orders[id]; so != nil && so.open() {
				done = false
			}
		}
		if len(s.orderIDs) == 0 && o.open() { // accepted is recorded after the first order is routed
			done = false
		}
	} else if o.open() {
		done = false
	}
	if qty == 0 && !done {
		return
	}
	e.queueNoteLocked(fillNote{r: r, sigID: o.intent.SignalID, fill: strategy.Fill{Leg: leg, Exchange: o.intent.Exchange,
		Symbol: o.intent.Symbol, Side: o.intent.Side, Quantity: qty, Price: price, At: at, Done: done, Reason: reason}})
}

// queueNoteLocked queues a note for its strategy, stamped with the tick
// that caused it (live, the tick being processed; on load, the event's
// causation id) and its event's position. e.mu is held.
func (e *Engine) queueNoteLocked(n fillNote) {
	n.pos, n.cause = e.foldPos, e.cause
	if e.loading && len(e.foldMeta) > 0 {
		if md, err := eventstore.DecodeMetadata(e.foldMeta); err == nil && md.CausationID != "" {
			n.cause, _ = uuid.Parse(md.CausationID)
		}
	}
	e.fills = append(e.fills, n)
}

// raisedBy reports whether the signal was raised by the instance r. e.mu
// is held.
func (e *Engine) raisedBy(r *running, signalID string) bool {
	s := e.signals[signalID]
	return s != nil && s.raised.Source == r.source
}

// deliverFillsLocked hands the queued notes that are due after the tick at
// pos (id cause) to their strategies, and raises what they answer, until
// none is due (bounded, in case of a strategy that answers every fill with
// a signal that fails at once). Due are the tick's own notes and those of
// events before it; a note of a later event (a command's, appended while
// the engine follows behind the log) waits for a later tick. e.mu is held.
func (e *Engine) deliverFillsLocked(ctx context.Context, pos eventstore.Position, cause uuid.UUID) {
	for range 64 {
		var q, later []fillNote
		for _, n := range e.fills {
			if n.cause == cause && cause != uuid.Nil || n.cause == uuid.Nil && n.pos < pos {
				q = append(q, n)
			} else {
				later = append(later, n)
			}
		}
		e.fills = later
		if len(q) == 0 {
			return
		}
		for _, n := range q {
			if n.r.s == nil || e.runners[n.r.account][n.r.name] != n.r {
				continue
			}
			e.raiseLocked(ctx, n.r, n.r.s.OnFill(e.env, n.fill))
		}
	}
	e.log.Error("strategy fills still queued after 64 rounds: dropped", "queued", len(e.fills))
	e.fills = nil
}

// StrategyTime is the time of the tick the strategies are handling, live
// or replayed: the instant their instrument lookups are for (zero before
// the first).
func (e *Engine) StrategyTime() time.Time {
	return nanoTime(e.stratAt.Load())
}
