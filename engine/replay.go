package engine

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
)

// Strategy replay. A strategy's state is not stored: it is what the
// strategy made of the ticks and fills it saw, so after a restart each
// enabled instance is rebuilt by handing it again, in the same order, what
// it saw live:
//
//   - every tick after the event that enabled it, with the timer beats;
//   - after each tick, the notes (fills, ends of legs) of the events that
//     tick's processing appended (their causation id is the tick's id), in
//     log order;
//   - a note of an event appended by a command (a cancel, a recovery) after
//     the first tick that follows it, as live, where commands' notes wait
//     for the next tick.
//
// What it raises is not raised again: its signals are in the log, and
// their ids (source@epoch + leg) tie the fills to its legs. A signal the
// replay raises that the log does not hold (the engine stopped between the
// tick and the append) is not sent late: the strategy is told its leg is
// done. Load folds the log first (the state of orders and signals is then
// final), collecting the notes; replayStrategies then reads the ticks a
// second time.

// replayStrategies replays the strategy instances enabled at the end of
// the log from the ticks after their epoch up to what Load folded, and
// leaves the notes of later events queued for the first live tick.
func (e *Engine) replayStrategies(ctx context.Context) error {
	e.mu.Lock()
	end := e.applied
	from := eventstore.Position(0)
	live := 0
	for _, rs := range e.runners {
		for _, r := range rs {
			if r.s == nil {
				continue
			}
			if live == 0 || r.epoch < from {
				from = r.epoch
			}
			live++
			r.replayed = map[string]strategy.Signal{}
		}
	}
	notes := e.fills
	e.fills = nil
	e.mu.Unlock()
	if live == 0 {
		return nil
	}
	rp := replay{caused: map[uuid.UUID][]fillNote{}}
	for _, n := range notes {
		if n.cause != uuid.Nil {
			rp.caused[n.cause] = append(rp.caused[n.cause], n)
		} else {
			rp.commands = append(rp.commands, n)
		}
	}
	ticks := 0
	err := e.scanLog(ctx, from, func(ev *eventstore.RecordedEvent) {
		if ev.Position > end || ev.Type != domain.TypeTickReceived {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		var t domain.Tick
		if err := e.tickDec.Decode(ev.Data, &t); err != nil {
			return // Load logged it
		}
		e.replayTickLocked(&rp, t, ev.Position, ev.ID)
		ticks++
	})
	if err != nil {
		return fmt.Errorf("engine: replay strategies: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fills = append(rp.commands, e.fills...) // appended after the last tick: live, they wait for the next
	for _, rs := range e.runners {
		for _, r := range rs {
			r.replayed = nil
		}
	}
	e.log.Info("strategies replayed", "instances", live, "from", from, "to", end, "ticks", ticks, "missing_signals", rp.missing)
	return nil
}

// replay is the state of one strategy replay.
type replay struct {
	caused   map[uuid.UUID][]fillNote // tick id -> the notes its processing produced
	commands []fillNote               // notes of commands' events, in log order
	missing  int                      // signals the replay raised that the log does not hold
}

// replayTickLocked hands one tick to the strategies, then the notes that
// followed it live. e.mu is held.
func (e *Engine) replayTickLocked(rp *replay, t domain.Tick, pos eventstore.Position, id uuid.UUID) {
	var late []fillNote // ends of legs whose signals the log does not hold
	raised := func(r *running, sigs []strategy.Signal) {
		for _, sig := range sigs {
			r.signals++
			sid := SignalID(r.source, sig.Leg)
			r.legs[sid] = sig.Leg
			r.replayed[sid] = sig
			if e.signals[sid] == nil {
				rp.missing++
				e.log.Warn("replayed strategy signal is not in the log: its leg is ended, not raised late",
					"account", r.account, "strategy", r.name, "leg", sig.Leg)
				late = append(late, fillNote{r: r, fill: strategy.Fill{Leg: sig.Leg, Exchange: sig.Exchange,
					Symbol: sig.Symbol, Side: sig.Side, At: sig.At, Done: true, Reason: "not recorded before a restart"}})
			}
		}
	}
	e.eachRunnerLocked(t, pos, raised)
	k := 0
	for k < len(rp.commands) && rp.commands[k].pos < pos {
		k++
	}
	q := append(rp.commands[:k:k], rp.caused[id]...)
	rp.commands = rp.commands[k:]
	delete(rp.caused, id)
	q = append(q, late...)
	for range 64 {
		if len(q) == 0 {
			return
		}
		late = nil
		for _, n := range q {
			r := n.r
			if r.s == nil || e.runners[r.account][r.name] != r {
				continue
			}
			f := n.fill
			if n.sigID != "" {
				leg, ok := r.legs[n.sigID]
				if !ok {
					continue // the replay did not raise it: nothing to tell
				}
				f.Leg = leg
				if sig, ok := r.replayed[n.sigID]; ok && n.fromSignal {
					f.Exchange, f.Symbol, f.Side, f.At = sig.Exchange, sig.Symbol, sig.Side, sig.At
				}
			}
			raised(r, r.s.OnFill(e.env, f))
		}
		q = late
	}
	e.log.Error("replay: strategy fills still queued after 64 rounds: dropped", "queued", len(q))
}
