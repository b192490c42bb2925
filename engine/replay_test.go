package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/paper"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/engine/strategy"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/instruments"
)

// runningEngine is an engine following the rig's log with ma-crossover
// registered and a paper broker rebuilt from the log, as serve starts it.
type runningEngine struct {
	e      *engine.Engine
	cancel context.CancelFunc
	done   chan error
}

func (r *rig) startStrategyEngine(master *instruments.Master) *runningEngine {
	r.t.Helper()
	ctx := context.Background()
	reg, err := strategy.NewRegistry(strategy.Builtins()...)
	if err != nil {
		r.t.Fatal(err)
	}
	var e *engine.Engine
	var once sync.Once
	var b *paper.Broker
	e = engine.New(r.st, r.reg, engine.Config{
		Now:         func() time.Time { return e.EventTime() },
		Wall:        r.clock.Now,
		Strategies:  reg,
		StrategyEnv: engine.MasterEnv{master},
		Instrument:  func(ex, sym string) (domain.Instrument, bool) { return master.Lookup(ex + ":" + sym) },
		BrokerFor: func(account string, _ domain.Mode) (engine.Broker, error) {
			once.Do(func() {
				b, err = paper.New(paper.Config{Account: account, Now: e.EventTime, Seed: 7})
				if err != nil {
					return
				}
				evs, rerr := r.st.ReadAll(ctx, eventstore.ReadAllOptions{Filter: eventstore.Filter{StreamPrefix: "order-"}})
				if rerr != nil {
					err = rerr
					return
				}
				for i := range evs {
					de, derr := r.reg.Decode(&evs[i])
					if derr != nil {
						err = derr
						return
					}
					if aerr := b.Apply(de, evs[i].RecordedAt); aerr != nil {
						err = aerr
						return
					}
				}
			})
			return b, err
		}})
	if err := e.Load(ctx); err != nil {
		r.t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	re := &runningEngine{e: e, cancel: cancel, done: make(chan error, 1)}
	go func() { re.done <- e.Run(rctx) }()
	return re
}

func (re *runningEngine) stop(t *testing.T) {
	t.Helper()
	re.cancel()
	select {
	case err := <-re.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("engine did not stop")
	}
}

// niftyWalk is the simulated master of 2026-11-30 with its current NIFTY
// future and n ticks of it (walk).
func niftyWalk(t *testing.T, n int) (*instruments.Master, domain.Instrument, []domain.Tick) {
	t.Helper()
	master, err := instruments.Simulated(instruments.SimConfig{At: time.Date(2026, 11, 30, 9, 0, 0, 0, domain.IST())})
	if err != nil {
		t.Fatal(err)
	}
	fut, err := master.Future("NIFTY", time.Date(2026, 11, 30, 10, 0, 0, 0, domain.IST()))
	if err != nil {
		t.Fatal(err)
	}
	return master, fut, walk(fut.Symbol, n)
}

// startMA enables a quick ma-crossover (3/8 on ticks, shorts on a death
// cross) on paper-asha and starts trading.
func startMA(t *testing.T, e *engine.Engine) {
	t.Helper()
	if _, err := e.EnableStrategy(context.Background(), admin, "paper-asha", "ma-crossover",
		json.RawMessage(`{"fast":3,"slow":8,"bar_seconds":0,"death_cross":"short"}`)); err != nil {
		t.Fatal(err)
	}
	mustCmd(t, e, admin, engine.CmdStart)
}

// walk is a deterministic random walk of the NIFTY future, one tick every
// 200 ms of event time from 10:00 IST.
func walk(symbol string, n int) []domain.Tick {
	rnd := rand.New(rand.NewPCG(3, 4))
	open := time.Date(2026, 11, 30, 10, 0, 0, 0, domain.IST())
	px := domain.Rupees(26000)
	out := make([]domain.Tick, n)
	for i := range out {
		px += domain.Price(rnd.IntN(9)-4) * 5
		out[i] = domain.Tick{Provider: "sim", Exchange: domain.ExchangeNFO, Symbol: symbol,
			ExchangeTime: open.Add(time.Duration(i) * 200 * time.Millisecond), LTP: px, Bid: px - 5, Ask: px + 5, BidQty: 650, AskQty: 650}
	}
	return out
}

// feed appends ticks and waits until e has processed the last one (its
// strategies have seen it: the engine's event time is the tick's).
func (r *rig) feed(e *engine.Engine, ticks []domain.Tick) {
	r.t.Helper()
	for _, tk := range ticks {
		d, err := r.reg.Encode(uuidFor(r.t), tk, eventstore.Metadata{})
		if err != nil {
			r.t.Fatal(err)
		}
		if _, err := r.st.Append(context.Background(), tk.Stream(), eventstore.Any(), d); err != nil {
			r.t.Fatal(err)
		}
	}
	waitFor(r.t, "the engine to handle the ticks", func() bool { return r.idle(e) })
}

// idle reports whether the engine has handled everything in the log.
func (r *rig) idle(e *engine.Engine) bool {
	head, err := r.st.Head(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return e.Handled() >= head
}

// trail is what a run leaves in the log: every signal with its outcome and
// every fill, in log order.
func (r *rig) trail() []string {
	r.t.Helper()
	var out []string
	var after eventstore.Position
	for {
		evs, err := r.st.ReadAll(context.Background(), eventstore.ReadAllOptions{After: after, Count: 1000})
		if err != nil {
			r.t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for i := range evs {
			switch evs[i].Type {
			case domain.TypeSignalRaised, domain.TypeSignalAccepted, domain.TypeSignalRejected, domain.TypeOrderFilled:
				de, err := r.reg.Decode(&evs[i])
				if err != nil {
					r.t.Fatal(err)
				}
				b, _ := json.Marshal(de)
				out = append(out, evs[i].Type+" "+string(b))
			}
		}
		after = evs[len(evs)-1].Position
	}
}

// TestStrategyReplayAfterRestart: a strategy stopped mid-session and
// started again continues as if it had never stopped: the same signals,
// orders and fills, and the same state, as an uninterrupted run over the
// same ticks. (A fresh instance would have to warm its averages up again
// and would miss or move the crosses.)
func TestStrategyReplayAfterRestart(t *testing.T) {
	master, _, ticks := niftyWalk(t, 1200)
	params := json.RawMessage(`{"fast":3,"slow":8,"bar_seconds":0,"death_cross":"short"}`)
	ctx := context.Background()
	begin := func(r *rig, e *engine.Engine) {
		if _, err := e.EnableStrategy(ctx, admin, "paper-asha", "ma-crossover", params); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Command(ctx, admin, "paper-asha", engine.CmdStart, "test", false); err != nil {
			t.Fatal(err)
		}
	}
	state := func(e *engine.Engine) string {
		b, err := json.Marshal(e.Strategies(nil)[0])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// One run, no restart.
	ra := newRig(t)
	a := ra.startStrategyEngine(master)
	begin(ra, a.e)
	ra.feed(a.e, ticks[:600])
	ra.feed(a.e, ticks[600:])
	wantState, wantTrail := state(a.e), ra.trail()
	a.stop(t)
	if n := len(wantTrail); n < 10 {
		t.Fatalf("the walk raised too few signals to test a replay (%d events): %v", n, wantTrail)
	}

	// The same ticks with a restart in the middle.
	rb := newRig(t)
	b1 := rb.startStrategyEngine(master)
	begin(rb, b1.e)
	rb.feed(b1.e, ticks[:600])
	mid := state(b1.e)
	b1.stop(t)
	b2 := rb.startStrategyEngine(master)
	if got := state(b2.e); got != mid {
		t.Fatalf("after the restart the strategy is\n%s\nwant (as it was when stopped)\n%s", got, mid)
	}
	rb.feed(b2.e, ticks[600:])
	gotState, gotTrail := state(b2.e), rb.trail()
	b2.stop(t)
	if gotState != wantState {
		t.Errorf("final state with a restart\n%s\nwant\n%s", gotState, wantState)
	}
	for i := range min(len(wantTrail), len(gotTrail)) {
		if gotTrail[i] != wantTrail[i] {
			t.Fatalf("event %d with a restart:\n%s\nwant\n%s", i, gotTrail[i], wantTrail[i])
		}
	}
	if len(gotTrail) != len(wantTrail) {
		n := min(len(wantTrail), len(gotTrail)) - 2
		t.Fatalf("%d signal and fill events with a restart, %d without; ends\n%s\nwant\n%s", len(gotTrail), len(wantTrail),
			strings.Join(gotTrail[n:], "\n"), strings.Join(wantTrail[n:], "\n"))
	}
}

// TestStrategyReplayDoesNotSendLateSignals: ticks recorded while the
// engine was down are replayed to the strategy, but the signals it raises
// on them are not sent late (they are not in the log); their legs are
// ended, so the strategy does not wait for them.
func TestStrategyReplayDoesNotSendLateSignals(t *testing.T) {
	master, _, ticks := niftyWalk(t, 600)
	ctx := context.Background()
	r := newRig(t)
	e1 := r.startStrategyEngine(master)
	startMA(t, e1.e)
	r.feed(e1.e, ticks[:100])
	e1.stop(t)
	raised := func() int {
		n := 0
		for _, ev := range r.trail() {
			if strings.HasPrefix(ev, domain.TypeSignalRaised+" ") {
				n++
			}
		}
		return n
	}
	before := raised()

	// The feed goes on while the engine is down.
	for _, tk := range ticks[100:600] {
		d, err := r.reg.Encode(uuidFor(t), tk, eventstore.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.st.Append(ctx, tk.Stream(), eventstore.Any(), d); err != nil {
			t.Fatal(err)
		}
	}
	e2 := r.startStrategyEngine(master)
	defer e2.stop(t)
	waitFor(t, "the engine to catch up", func() bool { return r.idle(e2.e) })
	if got := raised(); got != before {
		t.Fatalf("%d signals in the log after the restart, %d before: the replay sent signals of ticks the engine never handled", got, before)
	}
	replayed := e2.e.Strategies(nil)[0].Signals
	if replayed <= int64(before) {
		t.Fatalf("the strategy raised %d signals (%d in the log): the walk should cross while the engine was down", replayed, before)
	}
	// The strategy was told those legs ended unsent (ma-crossover halts
	// after three unsent exits in a row: a person has to look).
	b, err := json.Marshal(e2.e.Strategies(nil)[0].State)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "not recorded before a restart") {
		t.Fatalf("the strategy was not told its unsent legs ended: %s", b)
	}
}

// TestStrategyBookClosedByKillFlatten: the kill switch's flattening order
// closes the strategy's position in its P&L too (it is not the strategy's
// order, but it closed the strategy's position), and a restart folds the
// same.
func TestStrategyBookClosedByKillFlatten(t *testing.T) {
	master, fut, ticks := niftyWalk(t, 1200)
	ctx := context.Background()
	r := newRig(t)
	re := r.startStrategyEngine(master)
	startMA(t, re.e)
	inst := "NFO:" + fut.Symbol
	i := 0
	for ; i < len(ticks); i += 10 {
		r.feed(re.e, ticks[i:i+10])
		if len(re.e.Strategies(nil)[0].PnL.Positions) > 0 {
			break
		}
	}
	if i >= len(ticks) {
		t.Fatal("the strategy never held a position")
	}
	if q, _ := engine.Position(re.e, "paper-asha", inst); q == 0 {
		t.Fatal("the strategy holds a position the account does not")
	}
	if _, err := re.e.Kill(ctx, admin, "paper-asha", "test"); err != nil {
		t.Fatal(err)
	}
	r.feed(re.e, ticks[i+10:i+20]) // the flattening order fills
	if q, _ := engine.Position(re.e, "paper-asha", inst); q != 0 {
		t.Fatalf("account position %d after the kill's flattening, want 0", q)
	}
	pnl := re.e.Strategies(nil)[0].PnL
	if len(pnl.Positions) != 0 || pnl.Unrealized != 0 || pnl.Realized == 0 {
		t.Fatalf("strategy P&L after the kill's flattening: %+v, want no position and a realised P&L", pnl)
	}
	// The strategy was told: it holds nothing and does not want it back.
	held := func(e *engine.Engine) string {
		b, err := json.Marshal(e.Strategies(nil)[0].State)
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Positions []strategy.PositionState }
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, p := range st.Positions {
			out += fmt.Sprintf("%s filled %d target %d pending %d/%d; ", p.Symbol, p.Filled, p.Target, p.PendingBuy, p.PendingSell)
		}
		return out
	}
	want := fmt.Sprintf("%s filled 0 target 0 pending 0/0; ", fut.Symbol)
	if got := held(re.e); got != want {
		t.Fatalf("the strategy after the kill's flattening: %s\nwant %s", got, want)
	}
	re.stop(t)
	again := r.startStrategyEngine(master)
	defer again.stop(t)
	if got := again.e.Strategies(nil)[0].PnL; got.Realized != pnl.Realized || len(got.Positions) != 0 {
		t.Fatalf("after a restart the strategy's P&L is %+v, want %+v", got, pnl)
	}
	if got := held(again.e); got != want {
		t.Fatalf("the strategy after a restart: %s\nwant %s", got, want)
	}
}

// TestStrategyRunsOnEventTime: a strategy's clock is the ticks' time, never
// the wall clock the store stamps events with: a replayed or simulated day
// recorded long after it happened trades as it did (fills carry the
// execution's time). Before, the first fill moved the strategy to the wall
// clock's day, out of session and onto the next month's contract.
func TestStrategyRunsOnEventTime(t *testing.T) {
	master, fut, ticks := niftyWalk(t, 1200)
	run := func(wallAhead time.Duration) ([]string, string) {
		r := newRig(t)
		r.clock.Advance(wallAhead)
		re := r.startStrategyEngine(master)
		defer re.stop(t)
		startMA(t, re.e)
		r.feed(re.e, ticks)
		b, err := json.Marshal(re.e.Strategies(nil)[0].State)
		if err != nil {
			t.Fatal(err)
		}
		return r.trail(), string(b)
	}
	sameDay, sameState := run(0)
	later, laterState := run(20 * 24 * time.Hour) // recorded 20 days on: past the contract's expiry
	if n := len(sameDay); n < 10 {
		t.Fatalf("the walk raised too few signals (%d events)", n)
	}
	if !strings.Contains(laterState, `"symbol":"`+fut.Symbol+`"`) {
		t.Fatalf("with the wall clock 20 days on the strategy trades %s", laterState)
	}
	if strings.Join(later, "\n") != strings.Join(sameDay, "\n") || laterState != sameState {
		t.Fatalf("with the wall clock 20 days on: %d events, state\n%s\nwant %d events, state\n%s", len(later), laterState, len(sameDay), sameState)
	}
}
