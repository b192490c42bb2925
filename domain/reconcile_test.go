package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

func TestReconciliationEventsValidate(t *testing.T) {
	snap := domain.BrokerSnapshotObserved{Account: "acc", Mode: domain.Live, Broker: "kite", OrdersSeen: 2, By: "engine", At: validAt}
	diff := domain.ReconciliationDiffFound{Account: "acc", Mode: domain.Live, Kind: domain.DiffPositionMismatch,
		Instrument: "NFO:NIFTY26NOVFUT", Product: domain.NRML, Ours: 0, Theirs: 75, Message: "differs"}
	adopted := domain.PositionAdopted{Account: "acc", Mode: domain.Live, Instrument: "NFO:NIFTY26NOVFUT", Product: domain.NRML,
		Quantity: 75, AvgPrice: 2450005, By: "root", Reason: "manual trade", At: validAt}
	for _, c := range []struct {
		name  string
		ev    domain.Event
		field string // "" valid
	}{
		{"snapshot", snap, ""},
		{"snapshot without a time", func() domain.Event { e := snap; e.At = time.Time{}; return e }(), "at"},
		{"snapshot with more orders than seen", func() domain.Event { e := snap; e.Orders = make([]domain.BrokerOrder, 3); return e }(), "orders_seen"},
		{"snapshot mode", func() domain.Event { e := snap; e.Mode = "demo"; return e }(), "mode"},
		{"position diff", diff, ""},
		{"position diff that agrees", func() domain.Event { e := diff; e.Theirs = 0; return e }(), "theirs"},
		{"position diff without instrument", func() domain.Event { e := diff; e.Instrument = ""; return e }(), "instrument"},
		{"unknown kind", func() domain.Event { e := diff; e.Kind = "other"; return e }(), "kind"},
		{"missing order without id", func() domain.Event { e := diff; e.Kind = domain.DiffMissingOrder; return e }(), "order_id"},
		{"unknown broker order without ids", func() domain.Event { e := diff; e.Kind = domain.DiffUnknownBrokerOrder; return e }(), "broker_order_id"},
		{"holding diff", func() domain.Event {
			e := diff
			e.Kind, e.Instrument, e.Product, e.Theirs = domain.DiffHoldingMismatch, "NSE:INFY", domain.CNC, 10
			return e
		}(), ""},
		{"holding diff of another product", func() domain.Event {
			e := diff
			e.Kind, e.Instrument, e.Theirs = domain.DiffHoldingMismatch, "NSE:INFY", 10
			return e
		}(), "product"},
		{"holding diff that agrees", func() domain.Event {
			e := diff
			e.Kind, e.Instrument, e.Product, e.Ours, e.Theirs = domain.DiffHoldingMismatch, "NSE:INFY", domain.CNC, 10, 10
			return e
		}(), "theirs"},
		{"snapshot with holdings", func() domain.Event {
			e := snap
			e.Holdings = []domain.BrokerHolding{{Account: "acc", Exchange: "NSE", Symbol: "INFY", Quantity: 10, AvgPrice: 150000}}
			return e
		}(), ""},
		{"broker unavailable", domain.ReconciliationDiffFound{Account: "acc", Mode: domain.Paper, Kind: domain.DiffBrokerUnavailable, Message: "timeout"}, ""},
		{"diff without message", func() domain.Event { e := diff; e.Message = ""; return e }(), "message"},
		{"adopted", adopted, ""},
		{"adopted flat", func() domain.Event { e := adopted; e.Quantity, e.Previous = 0, 75; return e }(), ""},
		{"adopted without reason", func() domain.Event { e := adopted; e.Reason = ""; return e }(), "reason"},
		{"adopted product", func() domain.Event { e := adopted; e.Product = ""; return e }(), "product"},
	} {
		err := c.ev.Validate()
		var fe *domain.FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field):
			t.Errorf("%s: %v, want a %s error", c.name, err, c.field)
		}
	}
	if d := (domain.PositionAdopted{Quantity: -25, Previous: 50}).Delta(); d != -75 {
		t.Errorf("delta %d", d)
	}
}

// TestReconciliationEvolve: a check's differences block; an adoption
// settles its instrument's; a new check starts over.
func TestReconciliationEvolve(t *testing.T) {
	var r domain.Reconciliation
	snap := domain.BrokerSnapshotObserved{Account: "acc", Mode: domain.Paper, Broker: "paper", By: "engine", At: validAt}
	diff := func(kind, inst string) domain.ReconciliationDiffFound {
		return domain.ReconciliationDiffFound{Account: "acc", Mode: domain.Paper, Kind: kind, Instrument: inst, Message: kind}
	}
	r.Evolve(snap)
	if !r.Checked || r.Blocked || r.Diffs == nil || !r.CheckedAt.Equal(validAt) {
		t.Fatalf("clean check: %+v", r)
	}
	r.Evolve(snap)
	r.Evolve(diff(domain.DiffPositionMismatch, "NFO:A"))
	r.Evolve(diff(domain.DiffMissingOrder, "NFO:A"))
	r.Evolve(diff(domain.DiffPositionMismatch, "NFO:B"))
	if !r.Blocked || len(r.Diffs) != 3 {
		t.Fatalf("three differences: %+v", r)
	}
	c := r.Clone()
	r.Evolve(domain.PositionAdopted{Account: "acc", Instrument: "NFO:A"})
	if !r.Blocked || len(r.Diffs) != 1 || r.Diffs[0].Instrument != "NFO:B" || r.Adopted != 1 {
		t.Fatalf("after adopting A: %+v", r)
	}
	if len(c.Diffs) != 3 {
		t.Fatalf("the clone changed: %+v", c)
	}
	r.Evolve(domain.PositionAdopted{Account: "acc", Instrument: "NFO:B"})
	if r.Blocked {
		t.Fatalf("after adopting B: %+v", r)
	}
	r.Evolve(snap)
	r.Evolve(diff(domain.DiffBrokerUnavailable, ""))
	r.Evolve(domain.PositionAdopted{Account: "acc", Instrument: "NFO:A"})
	if !r.Blocked {
		t.Fatalf("an adoption settled an unavailable broker: %+v", r)
	}
}
