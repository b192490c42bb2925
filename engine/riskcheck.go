package engine

import (
	"context"
	"slices"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/risk"
	"github.com/algoauto/algoauto/eventstore"
)

// book is the engine's running P&L of one account and instrument: the
// holding at weighted-average cost (domain.Holding, as the positions read
// model and the paper broker keep it) and the P&L realised so far.
type book struct {
	domain.Holding
	realized domain.Price
}

// fill books one execution (qty signed: buys positive).
func (b *book) fill(qty int64, price domain.Price) { b.realized += b.Holding.Fill(qty, price) }

// netLocked is the account's net quantity in an instrument. e.mu is held.
func (e *Engine) netLocked(k posKey) int64 {
	if b := e.books[k]; b != nil {
		return b.Qty
	}
	return 0
}

// bookLocked returns the book of k, creating it. e.mu is held.
func (e *Engine) bookLocked(k posKey) *book {
	b := e.books[k]
	if b == nil {
		b = &book{}
		e.books[k] = b
		// Keep the instrument's holders sorted by account: the P&L check
		// runs on each of its ticks.
		hs := append(e.holders[k.instrument], k.account)
		slices.Sort(hs)
		if e.holders == nil {
			e.holders = map[string][]string{}
		}
		e.holders[k.instrument] = hs
	}
	return b
}

// accountRisk is an account's risk state: its governor, its breaker and
// its P&L peak.
type accountRisk struct {
	gov     *risk.Governor
	breaker *risk.Breaker
	limits  domain.RiskLimits
	peak    domain.Price
}

// riskLocked returns the account's risk state, reconfigured for its
// current limits. e.mu is held.
func (e *Engine) riskLocked(account string) *accountRisk {
	lim := e.controlLocked(account).Limits
	ar := e.risks[account]
	if ar == nil {
		gov, err := risk.NewGovernor(lim.MaxOrdersPerSec)
		if err != nil { // limits are validated before they are recorded
			gov, _ = risk.NewGovernor(0)
		}
		ar = &accountRisk{gov: gov, breaker: risk.NewBreaker(lim, e.cfg.BreachesToTrip), limits: lim}
		e.risks[account] = ar
	} else if ar.limits != lim {
		_ = ar.gov.Reconfigure(lim.MaxOrdersPerSec)
		ar.breaker.SetLimits(lim)
		ar.limits = lim
	}
	return ar
}

// pnlLocked returns the account's P&L (realised plus marked to the last
// price) and its drawdown from the highest P&L seen. e.mu is held.
func (e *Engine) pnlLocked(account string) (pnl, drawdown domain.Price) {
	for k, b := range e.books {
		if k.account != account {
			continue
		}
		pnl += b.realized
		if t, ok := e.ticks[k.instrument]; ok {
			pnl += b.Unrealized(t.LTP)
		}
	}
	ar := e.risks[account]
	if ar == nil {
		return pnl, 0
	}
	ar.peak = max(ar.peak, pnl)
	return pnl, ar.peak - pnl
}

// checkLocked runs the risk gate on an order about to be sent. e.mu is
// held.
func (e *Engine) checkLocked(in domain.OrderIntentRecorded, at time.Time, flatten bool) risk.Decision {
	inst, _ := e.instrument(in.Exchange, in.Symbol)
	key := in.Exchange + ":" + in.Symbol
	st := risk.State{Limits: e.controlLocked(in.Account).Limits, Position: e.netLocked(posKey{in.Account, key}),
		KillSwitch: e.controlLocked(in.Account).Kill}
	for _, o := range e.orders {
		if o.intent.Account != in.Account || !o.open() {
			continue
		}
		st.OpenOrders++
		if o.intent.Exchange+":"+o.intent.Symbol == key {
			if o.intent.Side == domain.Buy {
				st.OpenBuyQty += o.intent.Quantity - o.filled
			} else {
				st.OpenSellQty += o.intent.Quantity - o.filled
			}
		}
	}
	if t, ok := e.ticks[key]; ok {
		st.LastPrice, st.LastTickAt = t.LTP, t.ExchangeTime
	}
	if inst.Type.IsOption() {
		if u, ok := e.ticks[underlyingIndex(inst.Name)]; ok {
			st.UnderlyingTickAt = u.ExchangeTime
		}
	}
	e.riskLocked(in.Account)
	st.DayPnL, st.Drawdown = e.pnlLocked(in.Account)
	return e.gate.Check(risk.Order{Account: in.Account, Exchange: in.Exchange, Symbol: in.Symbol, Instrument: inst.Type,
		Side: in.Side, Quantity: in.Quantity, Type: in.Type, Price: in.Price, TriggerPrice: in.TriggerPrice, Product: in.Product,
		LotSize: inst.LotSize, TickSize: inst.TickSize, FreezeQty: inst.FreezeQty, At: at, Flatten: flatten}, st)
}

// underlyingIndex is the instrument key of an underlying's spot index.
func underlyingIndex(name string) string {
	switch name {
	case "NIFTY":
		return "NSE:NIFTY 50"
	case "BANKNIFTY":
		return "NSE:NIFTY BANK"
	case "FINNIFTY":
		return "NSE:NIFTY FIN SERVICE"
	}
	return "NSE:" + name
}

// instrument looks an instrument up in the configured master.
func (e *Engine) instrument(exchange, symbol string) (domain.Instrument, bool) {
	if e.cfg.Instrument == nil {
		return domain.Instrument{Exchange: exchange, Symbol: symbol}, false
	}
	return e.cfg.Instrument(exchange, symbol)
}

// admitLocked asks the account's governor for n orders at at; refused
// reports a refusal (rule ops_governor). e.mu is held.
func (e *Engine) admitLocked(account string, at time.Time, n int) (ref risk.Refusal, refused bool) {
	ref, ok := e.riskLocked(account).gov.Admit(at, n)
	return ref, !ok
}

// observeLocked feeds the account's P&L at a tick to its breaker and trips
// the kill switch after enough consecutive breaches. e.mu is held.
func (e *Engine) observeLocked(ctx context.Context, account string, at time.Time) {
	c := e.controlLocked(account)
	if c.Kill || (c.Limits.MaxDailyLoss == 0 && c.Limits.MaxDrawdown == 0) {
		return
	}
	ar := e.riskLocked(account)
	pnl, dd := e.pnlLocked(account)
	trip := ar.breaker.Observe(risk.Observation{At: at, DayPnL: pnl, Drawdown: dd})
	if !trip.Trip {
		return
	}
	r := trip.Refusal
	evs, err := c.TriggerKill(r.Message, "risk", true, string(r.Rule), *e.cfg.KillFlatten)
	if err != nil || len(evs) == 0 {
		return
	}
	if k, ok := evs[0].(domain.KillSwitchTriggered); ok {
		k.Limit, k.Actual, k.Unit = r.Limit, r.Actual, string(r.Unit)
		evs[0] = k
	}
	md := eventstore.Metadata{User: "risk", Account: account, Source: "kill-switch"}
	if err := e.append(ctx, domain.ControlStream(account), "", md, evs...); err != nil {
		e.log.Error("tripping the kill switch failed", "account", account, "err", err)
		return
	}
	e.log.Warn("kill switch tripped automatically", "account", account, "rule", r.Rule, "limit", r.Limit, "actual", r.Actual)
	if err := e.cancelOpenLocked(ctx, account, "kill switch: "+r.Message, md); err != nil {
		e.log.Error("cancelling after the kill switch failed", "account", account, "err", err)
	}
	if *e.cfg.KillFlatten {
		if err := e.flattenLocked(ctx, account, md); err != nil {
			e.log.Error("flattening after the kill switch failed", "account", account, "err", err)
		}
	}
}
