package ws

import (
	"context"
	"strings"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/projections"
)

// ReadModels is what snapshots read: the projection runner.
type ReadModels interface {
	Get(name string) (projections.Projection, bool)
	WaitFor(ctx context.Context, name string, p eventstore.Position) error
}

// View is implemented by read models that render a room's state for a
// user themselves: accounts nil means every account.
type View interface {
	View(accounts []string) (any, eventstore.Position)
}

// Snapshots serves SNAPSHOT messages and state-room views from the read
// models.
type Snapshots struct {
	models ReadModels
	// MaxItems caps list snapshots (orders, trades, signals) [500].
	MaxItems int
}

// NewSnapshots returns snapshots over models.
func NewSnapshots(models ReadModels) *Snapshots { return &Snapshots{models: models, MaxItems: 500} }

// roomModel names the projection behind each room.
func roomModel(room string) string {
	switch {
	case strings.HasPrefix(room, prefixMarket), strings.HasPrefix(room, prefixOptions):
		return "quotes"
	case room == RoomTrades:
		return "orders"
	}
	return room
}

// Snapshot implements SnapshotFunc. It waits up to ctx's deadline for the
// read model to reach minPos, then answers as it is (the hub replays log
// rooms from the snapshot's position, so nothing is lost either way).
func (s *Snapshots) Snapshot(ctx context.Context, room string, id Identity, minPos uint64) (any, uint64, bool, error) {
	name := roomModel(room)
	p, ok := s.models.Get(name)
	if !ok || room == RoomEvents {
		return nil, 0, false, nil
	}
	if p.Position() < eventstore.Position(minPos) {
		_ = s.models.WaitFor(ctx, name, eventstore.Position(minPos)) // best effort
		if p, ok = s.models.Get(name); !ok {
			return nil, 0, false, nil
		}
	}
	var accounts []string
	if !id.Admin {
		accounts = append([]string{}, id.Accounts...) // non-nil: only these
	}
	var (
		data any
		pos  eventstore.Position
	)
	switch m := p.(type) {
	case *projections.Quotes:
		if u, isOpt := strings.CutPrefix(room, prefixOptions); isOpt {
			data, pos = m.All(func(q *projections.Quote) bool {
				und, ok := optionUnderlying(q.Exchange, q.Symbol)
				return ok && und == u
			})
			break
		}
		key := strings.TrimPrefix(room, prefixMarket)
		ex, sym, hasEx := strings.Cut(key, ":")
		if !hasEx {
			ex, sym = "", key
		}
		data, pos = m.All(func(q *projections.Quote) bool { return q.Symbol == sym && (ex == "" || q.Exchange == ex) })
	case *projections.Positions:
		data, pos = m.List(projections.PositionQuery{Accounts: accounts})
	case *projections.Orders:
		if room == RoomTrades {
			data, pos = m.Trades(projections.OrderQuery{Accounts: accounts, Limit: s.MaxItems})
		} else {
			data, pos = m.List(projections.OrderQuery{Accounts: accounts, Limit: s.MaxItems})
		}
	case *projections.Signals:
		data, pos = m.List(projections.SignalQuery{Accounts: accounts, Limit: s.MaxItems})
	case *projections.PnL:
		sums, day, at, err := m.Summaries(projections.PnLQuery{Accounts: accounts})
		if err != nil {
			return nil, 0, false, err
		}
		data, pos = map[string]any{"day": day, "summaries": sums}, at
	case *projections.Control:
		data, pos = m.List(accounts)
	case *projections.Providers:
		data, pos = m.List()
	case View:
		data, pos = m.View(accounts)
	default:
		return nil, 0, false, nil
	}
	return data, uint64(pos), true, nil
}
