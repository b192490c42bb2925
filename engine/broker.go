package engine

import (
	"context"

	"github.com/algoauto/algoauto/domain"
)

// Broker is the port the order router calls, one per trading account:
// adapters/paper in paper mode and in backtests, adapters/zerodha live.
//
// Place, Modify and Cancel answer with the broker's report of what
// happened: ACCEPTED or REJECTED for Place, MODIFIED or REJECTED for
// Modify, CANCELLED or REJECTED for Cancel. An error means the outcome is
// unknown (a timeout, a 5xx) unless it wraps domain.ErrOrderNotSent; the
// router then records SubmitOutcomeUnknown and resolves it with Lookup by
// the client order id. Orders are addressed by the engine's client order
// id throughout.
type Broker interface {
	Name() string
	Place(ctx context.Context, o domain.OrderIntentRecorded) (domain.ExecutionReport, error)
	Modify(ctx context.Context, clientOrderID string, ch domain.OrderChange) (domain.ExecutionReport, error)
	Cancel(ctx context.Context, clientOrderID string) (domain.ExecutionReport, error)
	// Lookup finds an order by client order id; ok is false when the
	// broker has no such order.
	Lookup(ctx context.Context, clientOrderID string) (o domain.BrokerOrder, ok bool, err error)
	Orders(ctx context.Context) ([]domain.BrokerOrder, error)
	Positions(ctx context.Context) ([]domain.BrokerPosition, error)
	Holdings(ctx context.Context) ([]domain.BrokerHolding, error)
}

// TickFiller is a simulated broker: it fills resting orders from the tick
// stream, in event time, and reports the executions. The engine hands it
// every tick in log order, before strategies see the tick.
type TickFiller interface {
	OnTick(t domain.Tick) []domain.ExecutionReport
}
