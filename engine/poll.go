package engine

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// Poller is a broker whose executions are not in the tick stream (a live
// REST broker): Poll reports what happened to its orders since the last
// call. A report may repeat (the engine ignores a fill it has by trade id,
// and an end of an order already ended); none may be lost.
type Poller interface {
	Poll(ctx context.Context) ([]domain.ExecutionReport, error)
}

// RunPolling polls, every interval, each broker the engine has opened that
// is a Poller, and records what it reports, until ctx ends. The broker is
// called without the engine's lock: a slow broker delays only its own
// reports. A failed poll is logged and tried again at the next interval.
func (e *Engine) RunPolling(ctx context.Context, every time.Duration) error {
	repeat(ctx, every, e.PollBrokers)
	return nil
}

// repeat calls fn every interval until ctx ends.
func repeat(ctx context.Context, every time.Duration, fn func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
}

// PollBrokers polls every Poller broker once and records its reports.
func (e *Engine) PollBrokers(ctx context.Context) {
	type polled struct {
		k brokerKey
		b Broker
		p Poller
	}
	e.mu.Lock()
	var ps []polled
	for k, b := range e.brokers {
		if p, ok := b.(Poller); ok {
			ps = append(ps, polled{k, b, p})
		}
	}
	e.mu.Unlock()
	slices.SortFunc(ps, func(a, b polled) int {
		if c := strings.Compare(a.k.account, b.k.account); c != 0 {
			return c
		}
		return strings.Compare(string(a.k.mode), string(b.k.mode))
	})
	for _, p := range ps {
		if err := e.pollOnce(ctx, p.k, p.b, p.p); err != nil {
			e.log.Warn("polling the broker failed; trying again", "account", p.k.account, "broker", p.b.Name(), "err", err)
		}
	}
}

// maxUnrecorded bounds the reports kept for a later try per broker.
const maxUnrecorded = 10_000

// pollOnce polls one broker and records what it reports, after the
// reports an earlier poll could not record (a store error, a shutdown):
// a report the broker gave once is not given again, so none is dropped
// until it is recorded (recording is idempotent). Polls and their
// recording are serialised, so reports are recorded in the order the
// broker gave them. The broker is called without e.mu, which must not be
// held.
func (e *Engine) pollOnce(ctx context.Context, k brokerKey, b Broker, p Poller) error {
	e.pollMu.Lock()
	defer e.pollMu.Unlock()
	reps, err := p.Poll(ctx)
	e.mu.Lock()
	queued := append(e.unrecorded[k], reps...)
	delete(e.unrecorded, k)
	var strangers []string // orders the engine does not know: looked up without e.mu
	for _, r := range queued {
		if e.orders[r.ClientOrderID] == nil && !slices.Contains(strangers, r.ClientOrderID) {
			strangers = append(strangers, r.ClientOrderID)
		}
	}
	e.mu.Unlock()
	looked := make(map[string]lookedUp, len(strangers))
	for _, cid := range strangers {
		var l lookedUp
		l.bo, l.found, l.err = b.Lookup(ctx, cid)
		looked[cid] = l
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	md := eventstore.Metadata{Account: k.account, Source: "broker:" + b.Name()}
	var failed []domain.ExecutionReport
	for _, r := range queued {
		if rerr := e.recordFrom(ctx, b, k, r, md, looked); rerr != nil {
			e.log.Error("recording a broker report failed; it is tried again at the next poll",
				"client_order_id", r.ClientOrderID, "kind", r.Kind, "err", rerr)
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		if len(failed) > maxUnrecorded {
			e.log.Error("too many broker reports could not be recorded: the oldest are dropped (a check against the broker will show them)",
				"dropped", len(failed)-maxUnrecorded)
			failed = failed[len(failed)-maxUnrecorded:]
		}
		if e.unrecorded == nil {
			e.unrecorded = map[brokerKey][]domain.ExecutionReport{}
		}
		e.unrecorded[k] = failed
	}
	return err
}
