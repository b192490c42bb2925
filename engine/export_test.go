package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/instruments"
)

// MasterEnv is the strategies' view of an instruments master, for the
// tests and benchmarks of both test packages.
type MasterEnv struct{ *instruments.Master }

// Instrument implements strategy.Env.
func (m MasterEnv) Instrument(ex, sym string) (domain.Instrument, error) {
	if in, ok := m.Lookup(ex + ":" + sym); ok {
		return in, nil
	}
	return domain.Instrument{}, fmt.Errorf("no %s:%s", ex, sym)
}

// Position returns the engine's net quantity and book of an account and
// instrument ("EXCHANGE:SYMBOL"): what the risk gate and flattening see.
func Position(e *Engine, account, instrument string) (qty, bookQty int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.netLocked(posKey{account, instrument})
	return q, q
}

// Recheck runs one periodic reconciliation check of an account, as
// RunReconciliation does at each interval.
func Recheck(e *Engine, account string, timeout time.Duration) {
	e.recheck(context.Background(), account, timeout)
}

// PendingCalls is how many calls wait in the queues of the account's
// remote brokers (not counting those being made).
func PendingCalls(e *Engine, account string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for k, q := range e.queues {
		if k.account == account {
			n += len(q.calls)
		}
	}
	return n
}
