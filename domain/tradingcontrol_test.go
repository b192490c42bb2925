package domain_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

func codeOf(err error) string {
	var ce *domain.CommandError
	if errors.As(err, &ce) {
		return ce.Code
	}
	if err != nil {
		return "other"
	}
	return ""
}

// apply folds events into c, checking each is valid.
func apply(t *testing.T, c *domain.TradingControl, at time.Time, evs ...domain.Event) {
	t.Helper()
	for _, e := range evs {
		if err := e.Validate(); err != nil {
			t.Fatalf("%T: %v", e, err)
		}
		c.Evolve(e, at)
	}
}

func TestTradingControlTransitions(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, domain.IST())
	stopped := domain.NewTradingControl("paper-asha")
	running := stopped
	apply(t, &running, t0, domain.TradingStarted{ControlChange: domain.ControlChange{Account: "paper-asha", By: "asha"}})
	paused := running
	apply(t, &paused, t0, domain.TradingPaused{ControlChange: domain.ControlChange{Account: "paper-asha", By: "asha"}})
	killed := running
	apply(t, &killed, t0, domain.KillSwitchTriggered{Account: "paper-asha", Reason: "daily loss", By: "risk", Auto: true, Rule: "max_daily_loss"})
	withOrders := domain.ModeRequest{To: domain.Live, By: "root", Admin: true, Confirm: "LIVE", BrokerSession: true, OpenOrders: 1}
	live := domain.ModeRequest{To: domain.Live, By: "root", Admin: true, Confirm: "LIVE", BrokerSession: true}

	cases := []struct {
		name string
		run  func() ([]domain.Event, error)
		want string // event type, "" for none
		code string // error code, "" for none
	}{
		{"start from stopped", func() ([]domain.Event, error) { return stopped.Start("asha", "") }, domain.TypeTradingStarted, ""},
		{"start when running is a no-op", func() ([]domain.Event, error) { return running.Start("asha", "") }, "", ""},
		{"start when paused: resume instead", func() ([]domain.Event, error) { return paused.Start("asha", "") }, "", domain.CodeConflict},
		{"start with the kill switch on", func() ([]domain.Event, error) { return killed.Start("asha", "") }, "", domain.CodeConflict},
		{"pause running", func() ([]domain.Event, error) { return running.Pause("asha", "lunch") }, domain.TypeTradingPaused, ""},
		{"pause stopped", func() ([]domain.Event, error) { return stopped.Pause("asha", "") }, "", domain.CodeConflict},
		{"resume paused", func() ([]domain.Event, error) { return paused.Resume("asha", "") }, domain.TypeTradingResumed, ""},
		{"resume stopped", func() ([]domain.Event, error) { return stopped.Resume("asha", "") }, "", domain.CodeConflict},
		{"stop running", func() ([]domain.Event, error) { return running.Stop("asha", "", false) }, domain.TypeTradingStopped, ""},
		{"stop stopped is a no-op", func() ([]domain.Event, error) { return stopped.Stop("asha", "", false) }, "", ""},
		{"stop stopped with flatten", func() ([]domain.Event, error) { return stopped.Stop("asha", "", true) }, domain.TypeTradingStopped, ""},
		{"live needs admin", func() ([]domain.Event, error) { r := live; r.Admin = false; return stopped.SetMode(r) }, "", domain.CodeForbidden},
		{"live needs the confirmation", func() ([]domain.Event, error) { r := live; r.Confirm = "live"; return stopped.SetMode(r) }, "", domain.CodeInvalid},
		{"live needs a broker session", func() ([]domain.Event, error) { r := live; r.BrokerSession = false; return stopped.SetMode(r) }, "", domain.CodeConflict},
		{"no switch with open orders", func() ([]domain.Event, error) { return stopped.SetMode(withOrders) }, "", domain.CodeConflict},
		{"live", func() ([]domain.Event, error) { return stopped.SetMode(live) }, domain.TypeModeChanged, ""},
		{"paper when paper is a no-op", func() ([]domain.Event, error) {
			return stopped.SetMode(domain.ModeRequest{To: domain.Paper, By: "asha"})
		}, "", ""},
		{"bad mode", func() ([]domain.Event, error) { return stopped.SetMode(domain.ModeRequest{To: "demo", By: "asha"}) }, "", domain.CodeInvalid},
		{"kill a stopped account", func() ([]domain.Event, error) { return stopped.TriggerKill("manual", "asha", false, "", false) }, domain.TypeKillSwitchTriggered, ""},
		{"kill twice is a no-op", func() ([]domain.Event, error) { return killed.TriggerKill("again", "asha", false, "", false) }, "", ""},
		{"kill needs a reason", func() ([]domain.Event, error) { return running.TriggerKill("", "asha", false, "", false) }, "", domain.CodeInvalid},
		{"enable", func() ([]domain.Event, error) {
			return stopped.EnableStrategy("orb", json.RawMessage(`{"minutes":15}`), "asha")
		}, domain.TypeStrategyEnabled, ""},
		{"disable what is not enabled", func() ([]domain.Event, error) { return stopped.DisableStrategy("orb", "asha", "") }, "", ""},
		{"limits over SEBI's 10/s", func() ([]domain.Event, error) {
			return stopped.SetRiskLimits(domain.RiskLimits{MaxOrdersPerSec: 10}, "root")
		}, "", domain.CodeInvalid},
	}
	for _, c := range cases {
		evs, err := c.run()
		if got := codeOf(err); got != c.code {
			t.Errorf("%s: error %v (code %q), want code %q", c.name, err, got, c.code)
			continue
		}
		switch {
		case c.want == "" && len(evs) != 0:
			t.Errorf("%s: events %v, want none", c.name, evs)
		case c.want != "" && (len(evs) != 1 || evs[0].EventType() != c.want):
			t.Errorf("%s: events %v, want one %s", c.name, evs, c.want)
		}
		for _, e := range evs {
			if err := e.Validate(); err != nil {
				t.Errorf("%s: invalid event: %v", c.name, err)
			}
		}
	}
}

func TestKillSwitchReset(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, domain.IST())
	c := domain.NewTradingControl("paper-asha")
	apply(t, &c, t0, domain.TradingStarted{ControlChange: domain.ControlChange{Account: "paper-asha", By: "asha"}})
	evs, err := c.TriggerKill("manual", "asha", false, "", true)
	if err != nil || len(evs) != 2 || !evs[1].(domain.TradingStopped).Flatten {
		t.Fatalf("kill a running account: %v %v, want the trigger and a flattening stop", evs, err)
	}
	apply(t, &c, t0, evs...)
	ok := domain.KillResetRequest{By: "root", Admin: true, Confirm: "RESET", Reason: "reviewed", Now: t0.Add(5 * time.Minute), Cooldown: 5 * time.Minute}
	for _, tc := range []struct {
		name string
		mod  func(*domain.KillResetRequest)
		code string
	}{
		{"not an admin", func(r *domain.KillResetRequest) { r.Admin = false }, domain.CodeForbidden},
		{"no confirmation", func(r *domain.KillResetRequest) { r.Confirm = "" }, domain.CodeInvalid},
		{"no reason", func(r *domain.KillResetRequest) { r.Reason = "" }, domain.CodeInvalid},
		{"one second inside the cooldown", func(r *domain.KillResetRequest) { r.Now = t0.Add(5*time.Minute - time.Second) }, domain.CodeConflict},
		{"at the end of the cooldown", func(*domain.KillResetRequest) {}, ""},
	} {
		r := ok
		tc.mod(&r)
		evs, err := c.ResetKill(r)
		if codeOf(err) != tc.code || (tc.code == "") != (len(evs) == 1) {
			t.Errorf("%s: %v %v, want code %q", tc.name, evs, err, tc.code)
		}
	}
	evs, _ = c.ResetKill(ok)
	apply(t, &c, ok.Now, evs...)
	if c.Kill || c.State != domain.ControlStopped || c.CanTrade() {
		t.Errorf("after reset: %+v, want stopped until started again", c)
	}
	if _, err := c.ResetKill(ok); codeOf(err) != domain.CodeConflict {
		t.Errorf("reset when not active: %v", err)
	}
	if c.Version != 4 {
		t.Errorf("version %d, want 4 events folded", c.Version)
	}
}

func TestStrategiesStaySorted(t *testing.T) {
	c := domain.NewTradingControl("a")
	for _, s := range []string{"orb", "ma-crossover", "short-straddle", "orb"} {
		evs, err := c.EnableStrategy(s, json.RawMessage(`{"n":1}`), "x")
		if err != nil {
			t.Fatal(err)
		}
		apply(t, &c, time.Time{}, evs...)
	}
	if len(c.Strategies) != 3 || c.Strategies[0].Strategy != "ma-crossover" || c.Strategies[2].Strategy != "short-straddle" {
		t.Fatalf("strategies %+v", c.Strategies)
	}
	evs, _ := c.DisableStrategy("orb", "x", "")
	apply(t, &c, time.Time{}, evs...)
	if _, ok := c.Enabled("orb"); ok || len(c.Strategies) != 2 {
		t.Fatalf("after disable: %+v", c.Strategies)
	}
}
