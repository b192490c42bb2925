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
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		e.PollBrokers(ctx)
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
		reps, err := p.p.Poll(ctx)
		if err != nil {
			e.log.Warn("polling the broker failed; trying again", "account", p.k.account, "broker", p.b.Name(), "err", err)
			continue
		}
		if len(reps) == 0 {
			continue
		}
		e.mu.Lock()
		md := eventstore.Metadata{Account: p.k.account, Source: "broker:" + p.b.Name()}
		for _, r := range reps {
			if err := e.recordFrom(ctx, p.b, p.k, r, md); err != nil {
				e.log.Error("recording a broker report failed", "client_order_id", r.ClientOrderID, "kind", r.Kind, "err", err)
			}
		}
		e.mu.Unlock()
	}
}
