package projections_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

func TestControlStatus(t *testing.T) {
	b := newLog(t)
	cs := domain.ControlStream("paper-1")
	who := func(by, why string) domain.ControlChange {
		return domain.ControlChange{Account: "paper-1", By: by, Reason: why}
	}
	p := projections.NewControl(reg)
	steps := []struct {
		name  string
		event domain.Event
		check func(a projections.AccountControl) bool
	}{
		{"started", domain.TradingStarted{ControlChange: who("alice", "open")},
			func(a projections.AccountControl) bool {
				return a.State == projections.StateRunning && a.Mode == domain.Paper
			}},
		{"orb enabled", domain.StrategyEnabled{Account: "paper-1", Strategy: "orb", Params: json.RawMessage(`{"minutes":15}`), By: "alice"},
			func(a projections.AccountControl) bool {
				return len(a.Strategies) == 1 && a.Strategies[0].Strategy == "orb" && string(a.Strategies[0].Params) == `{"minutes":15}`
			}},
		{"straddle enabled", domain.StrategyEnabled{Account: "paper-1", Strategy: "atm-straddle", By: "bob"},
			func(a projections.AccountControl) bool {
				return len(a.Strategies) == 2 && a.Strategies[0].Strategy == "atm-straddle" && a.Strategies[1].Strategy == "orb"
			}},
		{"orb re-enabled with new params", domain.StrategyEnabled{Account: "paper-1", Strategy: "orb", Params: json.RawMessage(`{"minutes":30}`), By: "bob"},
			func(a projections.AccountControl) bool {
				return len(a.Strategies) == 2 && string(a.Strategies[1].Params) == `{"minutes":30}` && a.Strategies[1].By == "bob"
			}},
		{"limits", domain.RiskLimitsChanged{Account: "paper-1", Limits: domain.RiskLimits{MaxOrderLots: 4, MaxDailyLoss: domain.Rupees(5000)}, By: "carol"},
			func(a projections.AccountControl) bool {
				return a.RiskLimits.MaxOrderLots == 4 && a.RiskLimits.MaxDailyLoss == domain.Rupees(5000) && a.LimitsBy == "carol"
			}},
		{"paused", domain.TradingPaused{ControlChange: who("alice", "lunch")},
			func(a projections.AccountControl) bool {
				return a.State == projections.StatePaused && a.LastChange.Why == "lunch"
			}},
		{"kill switch", domain.KillSwitchTriggered{Account: "paper-1", Reason: "daily loss", By: "risk", Auto: true, Rule: "max_daily_loss"},
			func(a projections.AccountControl) bool {
				k := a.KillSwitch
				return k.Active && k.Reason == "daily loss" && k.Auto && k.Rule == "max_daily_loss" && !k.Since.IsZero() &&
					a.LastChange.Type == domain.TypeKillSwitchTriggered && a.LastChange.By == "risk"
			}},
		{"resumed", domain.TradingResumed{ControlChange: who("alice", "")},
			func(a projections.AccountControl) bool {
				return a.State == projections.StateRunning && a.KillSwitch.Active
			}},
		{"kill switch reset", domain.KillSwitchReset{Account: "paper-1", By: "alice", Reason: "reviewed"},
			func(a projections.AccountControl) bool {
				return !a.KillSwitch.Active && a.KillSwitch.Reason == "reviewed"
			}},
		{"live", domain.ModeChanged{Account: "paper-1", From: domain.Paper, To: domain.Live, By: "alice"},
			func(a projections.AccountControl) bool {
				return a.Mode == domain.Live && a.LastChange.Why == "paper to live"
			}},
		{"straddle disabled", domain.StrategyDisabled{Account: "paper-1", Strategy: "atm-straddle", By: "bob", Reason: "done"},
			func(a projections.AccountControl) bool {
				return len(a.Strategies) == 1 && a.Strategies[0].Strategy == "orb"
			}},
		{"stopped, flatten", domain.TradingStopped{ControlChange: who("alice", "close"), Flatten: true},
			func(a projections.AccountControl) bool {
				return a.State == projections.StateStopped && a.Flatten && a.Changes == 12 && a.LastChange.Why == "close"
			}},
	}
	for _, s := range steps {
		ev := b.add(cs, s.event)
		p.Apply(b.evs[len(b.evs)-1:], ev.Position)
		list, pos := p.List(nil)
		if len(list) != 1 || pos != ev.Position || !s.check(list[0]) {
			t.Fatalf("%s: %+v", s.name, list)
		}
		a := list[0]
		if a.LastChange.Position != uint64(ev.Position) || !a.LastChange.At.Equal(ev.RecordedAt) || a.LastChange.Type != ev.Type {
			t.Fatalf("%s: last change %+v, event %d at %s", s.name, a.LastChange, ev.Position, ev.RecordedAt)
		}
	}
	b.add(domain.ControlStream("paper-2"), domain.TradingStarted{ControlChange: domain.ControlChange{Account: "paper-2", By: "dan"}})
	p.Apply(b.evs[len(b.evs)-1:], b.evs[len(b.evs)-1].Position)
	if l, _ := p.List([]string{"paper-2"}); len(l) != 1 || l[0].Account != "paper-2" || l[0].State != projections.StateRunning {
		t.Fatalf("paper-2: %+v", l)
	}
	if l, _ := p.List([]string{}); len(l) != 0 {
		t.Fatalf("no accounts allowed: %+v", l)
	}
	// Determinism and snapshot round trip.
	st, _, _ := p.MarshalState()
	q := projections.NewControl(reg)
	if err := q.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	r := projections.NewControl(reg)
	r.Apply(b.evs, b.evs[len(b.evs)-1].Position)
	h1, _ := projections.Hash(p)
	h2, _ := projections.Hash(q)
	h3, _ := projections.Hash(r)
	if h1 != h2 || h1 != h3 {
		t.Fatalf("hashes differ: %s %s %s", h1, h2, h3)
	}
}

func TestProviderHealth(t *testing.T) {
	b := newLog(t)
	base := time.Date(2026, 11, 20, 4, 0, 0, 0, time.UTC)
	tick := func(provider string, at time.Time, symbol string) {
		b.add(domain.TickStream(domain.ExchangeNFO, symbol), domain.Tick{Provider: provider, Exchange: domain.ExchangeNFO, Symbol: symbol,
			ExchangeTime: at, LTP: domain.Rupees(100)})
	}
	// 90 ticks of sim, one every second from base, then 30 of truedata.
	for i := range 90 {
		tick("sim", base.Add(time.Duration(i)*time.Second), "NIFTY26NOVFUT")
	}
	for i := range 30 {
		tick("truedata", base.Add(time.Duration(i)*time.Second), "NIFTY26NOVFUT")
	}
	p := projections.NewProviders(reg)
	apply := func() { p.Apply(b.evs, b.evs[len(b.evs)-1].Position) }
	get := func(name string) projections.ProviderHealth {
		t.Helper()
		list, _ := p.List()
		for _, h := range list {
			if h.Provider == name {
				return h
			}
		}
		t.Fatalf("no provider %q in %+v", name, list)
		return projections.ProviderHealth{}
	}
	apply()
	// The last minute of sim's event time (base+29s, base+89s] has 60
	// ticks: 1/s; truedata's (base-31s, base+29s] has its 30: 0.5/s.
	if h := get("sim"); !h.Connected || h.Stale || h.Ticks != 90 || h.MsgsPerSec != 1 || !h.LastTickAt.Equal(base.Add(89*time.Second)) || h.Window != nil {
		t.Fatalf("sim: %+v", h)
	}
	if h := get("truedata"); h.MsgsPerSec != 0.5 {
		t.Fatalf("truedata: %+v", h)
	}

	ps := domain.ProviderStream("sim")
	detected := base.Add(100 * time.Second)
	b.add(ps, domain.FeedStale{Provider: "sim", LastTickAt: base.Add(89 * time.Second), Threshold: 10 * time.Second, DetectedAt: detected})
	b.add(ps, domain.FeedStale{Provider: "sim", Symbol: "NIFTY26NOV24000CE", Threshold: 10 * time.Second, DetectedAt: detected})
	b.add(ps, domain.FeedGap{Provider: "sim", Dropped: 12, From: base.Add(90 * time.Second), To: base.Add(95 * time.Second), Reason: "store behind"})
	b.add(ps, domain.FeedGap{Provider: "sim", Dropped: 3, From: base.Add(96 * time.Second), To: base.Add(97 * time.Second), Reason: "vendor gap"})
	// A tick stamped before the stale detection does not clear it.
	tick("sim", base.Add(99*time.Second), "NIFTY26NOVFUT")
	p = projections.NewProviders(reg)
	apply()
	h := get("sim")
	if h.Connected || !h.Stale || !h.StaleSince.Equal(detected) || len(h.StaleSymbols) != 1 || h.Gaps != 2 || h.Dropped != 15 ||
		h.LastGap == nil || h.LastGap.Dropped != 3 || h.LastGap.Reason != "vendor gap" || h.LastGap.Position != uint64(b.evs[len(b.evs)-2].Position) {
		t.Fatalf("sim after stale and gaps: %+v", h)
	}
	// 60 s window ending at base+99s: ticks at 40..89 and 99 = 51.
	if h.MsgsPerSec != 51.0/60 {
		t.Fatalf("rate %v, want 51/60", h.MsgsPerSec)
	}
	b.add(ps, domain.FeedResynced{Provider: "sim", Symbol: "NIFTY26NOV24000CE", ResumedAt: base.Add(101 * time.Second)})
	p = projections.NewProviders(reg)
	apply()
	if h := get("sim"); !h.Stale || len(h.StaleSymbols) != 0 || h.Resyncs != 1 {
		t.Fatalf("sim after a symbol resync: %+v", h)
	}
	b.add(ps, domain.FeedResynced{Provider: "sim", ResumedAt: base.Add(102 * time.Second)})
	p = projections.NewProviders(reg)
	apply()
	if h := get("sim"); h.Stale || !h.Connected || h.Resyncs != 2 || !h.ResyncedAt.Equal(base.Add(102*time.Second)) {
		t.Fatalf("sim after resync: %+v", h)
	}
	// Stale again, then a later tick clears it.
	b.add(ps, domain.FeedStale{Provider: "sim", Threshold: time.Second, DetectedAt: base.Add(110 * time.Second)})
	tick("sim", base.Add(111*time.Second), "NIFTY26NOVFUT")
	p = projections.NewProviders(reg)
	apply()
	if h := get("sim"); h.Stale || !h.Connected {
		t.Fatalf("sim after a fresh tick: %+v", h)
	}

	// Determinism and snapshot round trip: a fold in one-event batches
	// from a restored half equals the straight fold.
	h1, _ := projections.Hash(p)
	half := projections.NewProviders(reg)
	half.Apply(b.evs[:len(b.evs)/2], b.evs[len(b.evs)/2-1].Position)
	st, _, _ := half.MarshalState()
	rest := projections.NewProviders(reg)
	if err := rest.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	for i := len(b.evs) / 2; i < len(b.evs); i++ {
		rest.Apply(b.evs[i:i+1], b.evs[i].Position)
	}
	if h2, _ := projections.Hash(rest); h1 != h2 {
		t.Fatalf("restored fold hash %s, straight %s", h2, h1)
	}
}
