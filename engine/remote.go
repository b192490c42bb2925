package engine

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// A remote broker is one that is not a TickFiller: a live REST broker,
// whose calls take milliseconds to seconds. The engine never calls it
// while holding e.mu, so a slow broker delays nobody's ticks, signals or
// commands but its own orders'. Each remote broker has one queue of calls,
// made in the order the engine decided them by one goroutine that exists
// while the queue is not empty: an order's cancel or change waits for its
// placing, and the slices of a signal reach the broker in leg order.
//
// The decision is recorded before the call is queued (OrderIntentRecorded
// and OrderSubmitted), and what the broker answered is recorded when it
// answers, so a stop in between leaves an order that Recover looks up by
// its client order id, as after any crash between call and answer.
// Simulated brokers (adapters/paper) are called in line, under e.mu: they
// answer at once and deterministically, which backtests and replays need.

// callKind is what a queued call asks of the broker.
type callKind int

const (
	callPlace   callKind = iota // Place, then Lookup when the outcome is unknown
	callResolve                 // Lookup of an order of unknown outcome
	callCancel
	callModify
	callBarrier // nothing: answered when the calls queued before it are
)

func (k callKind) String() string {
	switch k {
	case callPlace:
		return "place"
	case callResolve:
		return "lookup"
	case callCancel:
		return "cancel"
	case callModify:
		return "modify"
	}
	return "barrier"
}

// brokerCall is one queued call. in is the order's intent as it was when
// the call was queued (the worker reads it without e.mu).
type brokerCall struct {
	kind   callKind
	o      *order
	in     domain.OrderIntentRecorded
	md     eventstore.Metadata
	reason string               // callCancel: the reason recorded
	change domain.OrderChange   // callModify: what the broker is asked
	mod    domain.OrderModified // callModify: recorded when the broker takes it
	done   chan error           // buffered; nil when nobody waits
	// settled (callPlace, callResolve) is closed when the answer is
	// recorded; it is o.settled until another call replaces it.
	settled chan struct{}
}

type callQueue struct {
	calls   []brokerCall
	running bool
}

// remote reports whether b is called outside e.mu.
func remote(b Broker) bool {
	_, simulated := b.(TickFiller)
	return !simulated
}

// enqueueLocked queues a call to the remote broker of k and starts its
// worker if none runs; after Drain began it refuses (errStopping). The
// calls outlive ctx's cancellation (an HTTP request may end first) but
// keep its values. e.mu is held.
func (e *Engine) enqueueLocked(ctx context.Context, k brokerKey, b Broker, c brokerCall) error {
	if e.closing {
		return errStopping
	}
	if e.queues == nil {
		e.queues = map[brokerKey]*callQueue{}
	}
	q := e.queues[k]
	if q == nil {
		q = &callQueue{}
		e.queues[k] = q
	}
	if c.kind == callPlace || c.kind == callResolve {
		c.settled = make(chan struct{})
		c.o.settled = c.settled
	}
	q.calls = append(q.calls, c)
	if !q.running {
		q.running = true
		if e.workers == 0 {
			e.drained = make(chan struct{})
		}
		e.workers++
		go e.drainCalls(context.WithoutCancel(ctx), b, q)
	}
	return nil
}

// drainCalls makes the queued calls of one broker in order, until the
// queue is empty.
func (e *Engine) drainCalls(ctx context.Context, b Broker, q *callQueue) {
	for {
		e.mu.Lock()
		if len(q.calls) == 0 {
			q.running = false
			if e.workers--; e.workers == 0 {
				close(e.drained)
			}
			e.mu.Unlock()
			return
		}
		c := q.calls[0]
		q.calls[0] = brokerCall{}
		q.calls = q.calls[1:]
		e.mu.Unlock()
		err := e.perform(ctx, b, c)
		if c.settled != nil {
			close(c.settled)
		}
		if c.done != nil {
			c.done <- err
		} else if err != nil {
			e.log.Error("a broker call failed", "broker", b.Name(), "order", c.in.OrderID, "call", c.kind, "err", err)
		}
	}
}

// perform makes one call without e.mu and records the answer with it.
func (e *Engine) perform(ctx context.Context, b Broker, c brokerCall) error {
	switch c.kind {
	case callPlace:
		rep, perr := guard(e, b, "place", func() (domain.ExecutionReport, error) { return b.Place(ctx, c.in) })
		e.mu.Lock()
		unknown, err := e.afterPlaceLocked(ctx, c.o, b, c.md, rep, perr)
		e.mu.Unlock()
		if err != nil || !unknown {
			return err
		}
		fallthrough
	case callResolve:
		l, lerr := guard(e, b, "lookup", func() (lookedUp, error) {
			bo, found, err := b.Lookup(ctx, c.in.ClientOrderID)
			return lookedUp{bo: bo, found: found}, err
		})
		bo, found := l.bo, l.found
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.afterLookupLocked(ctx, c.o, c.md, bo, found, lerr)
	case callCancel:
		e.mu.Lock()
		open, status := c.o.open(), c.o.status
		e.mu.Unlock()
		if !open { // rejected, or filled or cancelled meanwhile
			if c.done == nil {
				return nil // a stop or the kill switch: nothing left to cancel
			}
			return &domain.CommandError{Code: domain.CodeConflict, Message: fmt.Sprintf("order %s is %s", c.in.OrderID, status)}
		}
		rep, cerr := guard(e, b, "cancel", func() (domain.ExecutionReport, error) { return b.Cancel(ctx, c.in.ClientOrderID) })
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.afterCancelLocked(ctx, c.o, rep, cerr, c.reason, c.md)
	case callModify:
		rep, merr := guard(e, b, "modify", func() (domain.ExecutionReport, error) { return b.Modify(ctx, c.in.ClientOrderID, c.change) })
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.afterModifyLocked(ctx, c.o, rep, merr, c.mod, c.md)
	case callBarrier:
		return nil
	}
	return fmt.Errorf("engine: unknown broker call %d", c.kind)
}

// guard makes one broker call, turning a panic in the adapter into an
// error: for a placing an unknown outcome, looked up by client order id
// like a timeout, and the engine and the queue go on.
func guard[T any](e *Engine, b Broker, call string, f func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("the broker adapter panicked; the call's outcome is unknown", "broker", b.Name(), "call", call,
				"panic", p, "stack", string(debug.Stack()))
			var zero T
			v, err = zero, fmt.Errorf("engine: the broker adapter panicked in %s: %v", call, p)
		}
	}()
	return f()
}

// settleLocked waits, without e.mu, until the calls queued so far to the
// account's remote brokers are answered and recorded, or ctx ends: a stop
// or a kill answers with its cancels (and flattening orders) settled.
// Their failures are logged by the worker; the status shows what is still
// open. e.mu is held on entry and on return.
func (e *Engine) settleLocked(ctx context.Context, account string) {
	var waits []chan error
	for k, q := range e.queues {
		if k.account == account && q.running {
			done := make(chan error, 1)
			q.calls = append(q.calls, brokerCall{kind: callBarrier, done: done})
			waits = append(waits, done)
		}
	}
	if len(waits) == 0 {
		return
	}
	e.mu.Unlock()
	defer e.mu.Lock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return
		}
	}
}

// Drain stops the engine sending new orders to remote brokers (they are
// recorded as rejected, not sent: the server is stopping) and waits until
// the calls already queued are made and their answers recorded, or ctx
// ends. serve drains before it closes the store, so that an order sent at
// shutdown has its answer in the log.
func (e *Engine) Drain(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	for {
		e.mu.Lock()
		n, ch := e.workers, e.drained
		e.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("engine: %d broker queue(s) still in flight: %w", n, ctx.Err())
		}
	}
}

// errStopping refuses a call to a remote broker once Drain has begun.
var errStopping = &domain.CommandError{Code: domain.CodeUnavailable, Message: "the server is stopping: nothing more is sent to the broker"}

// waitSettled waits, without e.mu, until the placing of o (when one is in
// flight) is answered or ctx ends; either way the caller reports the
// order's status as it then is. ch is o.settled, read under e.mu.
func waitSettled(ctx context.Context, ch chan struct{}) {
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// waitCall waits, without e.mu, for a queued call's answer. An ended ctx
// leaves the call to finish on its own.
func waitCall(ctx context.Context, done chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return &domain.CommandError{Code: domain.CodeUnavailable,
			Message: "the broker has not answered yet; the call goes on and its answer will be recorded: " + ctx.Err().Error()}
	}
}
