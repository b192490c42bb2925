package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// StreamReader reads one stream; the deriver uses it to find the account of
// an order or signal whose first event it has not seen.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error)
}

// Deriver turns recorded events into room updates. The live publisher and
// the resume path use the same Deriver code, so a client that resumes from
// the log sees exactly what a live client saw. It is safe for concurrent
// use.
type Deriver struct {
	reg     *codec.Registry
	streams StreamReader

	mu       sync.Mutex
	accounts map[string]string // order or signal stream -> account
}

// maxAccountCache bounds the stream -> account cache; it is cleared when
// full (lookups then read the stream's first event again).
const maxAccountCache = 100_000

// NewDeriver returns a Deriver decoding with reg; streams may be nil (then
// order events whose intent was not seen carry no account and only admins
// see them).
func NewDeriver(reg *codec.Registry, streams StreamReader) *Deriver {
	return &Deriver{reg: reg, streams: streams, accounts: make(map[string]string)}
}

// Derive returns the room updates of one event: always one for the "events"
// room, and one per read-model room the event changes.
func (d *Deriver) Derive(ctx context.Context, ev *eventstore.RecordedEvent) ([]bus.Update, error) {
	env, err := d.reg.Envelope(ev)
	if err != nil {
		return nil, fmt.Errorf("ws: derive %s@%d: %w", ev.Type, ev.Position, err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("ws: derive %s@%d: %w", ev.Type, ev.Position, err)
	}
	pos := uint64(ev.Position)
	ups := []bus.Update{{Room: RoomEvents, Position: pos, Kind: ev.Type, Key: ev.Stream, Data: raw}}
	if !d.reg.Known(ev.Type) {
		return ups, nil
	}
	de, err := d.reg.Decode(ev)
	if err != nil {
		return ups, nil // the events room still shows it; read models skip it too
	}
	change := func(room, account, key string) bus.Update {
		return bus.Update{Room: room, Account: account, Position: pos, Kind: ev.Type, Key: key, Data: env.Data}
	}
	switch e := de.(type) {
	case domain.Tick:
		q, _ := json.Marshal(e)
		ups = append(ups, bus.Update{Room: "market:" + e.Symbol, Position: pos, Kind: ev.Type, Key: e.Exchange + ":" + e.Symbol, Data: q})
		if u, ok := optionUnderlying(e.Exchange, e.Symbol); ok {
			ups = append(ups, bus.Update{Room: "options:" + u, Position: pos, Kind: ev.Type, Key: e.Exchange + ":" + e.Symbol, Data: q})
		}
	case domain.FeedStale, domain.FeedGap, domain.FeedResynced:
		ups = append(ups, change(RoomProviders, "", ev.Stream))
	case domain.OrderIntentRecorded:
		d.remember(ev.Stream, e.Account)
		ups = append(ups, change(RoomOrders, e.Account, e.OrderID))
	case domain.OrderFilled:
		acct := d.accountOf(ctx, ev.Stream, "account")
		ups = append(ups, change(RoomOrders, acct, e.OrderID), change(RoomTrades, acct, e.OrderID),
			change(RoomPositions, acct, ""), change(RoomPnL, acct, ""))
	case domain.OrderSubmitted, domain.OrderAccepted, domain.OrderRejected, domain.OrderCancelled, domain.SubmitOutcomeUnknown, domain.OrderModified:
		ups = append(ups, change(RoomOrders, d.accountOf(ctx, ev.Stream, "account"), strings.TrimPrefix(ev.Stream, "order-")))
	case domain.SignalRaised:
		d.remember("signal:"+e.SignalID, e.Account)
		ups = append(ups, change(RoomSignals, e.Account, e.SignalID))
	case domain.SignalAccepted, domain.SignalRejected:
		var id struct {
			SignalID string `json:"signal_id"`
		}
		_ = json.Unmarshal(env.Data, &id)
		d.mu.Lock()
		acct := d.accounts["signal:"+id.SignalID]
		d.mu.Unlock()
		ups = append(ups, change(RoomSignals, acct, id.SignalID))
	default:
		if strings.HasPrefix(ev.Stream, "control-") {
			var a struct {
				Account string `json:"account"`
			}
			_ = json.Unmarshal(env.Data, &a)
			ups = append(ups, change(RoomControl, a.Account, a.Account))
		}
	}
	return ups, nil
}

func (d *Deriver) remember(key, account string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.accounts) >= maxAccountCache {
		clear(d.accounts)
	}
	d.accounts[key] = account
}

// accountOf returns the account of an order stream: from the cache, or
// from the stream's first event (its intent). "" when unknown.
func (d *Deriver) accountOf(ctx context.Context, stream, _ string) string {
	d.mu.Lock()
	acct, ok := d.accounts[stream]
	d.mu.Unlock()
	if ok || d.streams == nil {
		return acct
	}
	evs, err := d.streams.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Count: 1})
	if err != nil || len(evs) == 0 {
		return ""
	}
	de, err := d.reg.Decode(&evs[0])
	if err != nil {
		return ""
	}
	if in, ok := de.(domain.OrderIntentRecorded); ok {
		d.remember(stream, in.Account)
		return in.Account
	}
	return ""
}

// optionUnderlying reports whether an instrument is an index or stock
// option (NFO, trading symbol ending in CE or PE) and its underlying: the
// leading letters of the trading symbol ("NIFTY26D0124000CE" -> "NIFTY").
func optionUnderlying(exchange, symbol string) (string, bool) {
	if exchange != domain.ExchangeNFO || !(strings.HasSuffix(symbol, "CE") || strings.HasSuffix(symbol, "PE")) {
		return "", false
	}
	i := strings.IndexFunc(symbol, func(r rune) bool { return r >= '0' && r <= '9' })
	if i <= 0 {
		return "", false
	}
	return symbol[:i], true
}
