package projections_test

import (
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

// TestControlReconciliation: the control read model shows each account's
// reconciliation: blocked by the differences of its last check, until a
// check finds none or an adoption settles them; reconciliation events do
// not count as control changes, and only their own streams are folded.
func TestControlReconciliation(t *testing.T) {
	b := newLog(t)
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	rs := domain.ReconcileStream("paper-1")
	snap := func(diffs int) domain.BrokerSnapshotObserved {
		return domain.BrokerSnapshotObserved{Account: "paper-1", Mode: domain.Paper, Broker: "paper", Diffs: diffs, By: "engine", At: at,
			Orders: []domain.BrokerOrder{}, Positions: []domain.BrokerPosition{}}
	}
	mismatch := domain.ReconciliationDiffFound{Account: "paper-1", Mode: domain.Paper, Kind: domain.DiffPositionMismatch,
		Instrument: "NFO:NIFTY26DECFUT", Product: domain.NRML, Ours: 0, Theirs: 65, Message: "the broker holds 65, the engine 0"}
	unavailable := domain.ReconciliationDiffFound{Account: "paper-1", Mode: domain.Paper, Kind: domain.DiffBrokerUnavailable, Message: "timeout"}
	p := projections.NewControl(reg)
	applied := 0
	get := func() projections.AccountControl {
		t.Helper()
		p.Apply(b.evs[applied:], b.evs[len(b.evs)-1].Position)
		applied = len(b.evs)
		l, _ := p.List([]string{"paper-1"})
		if len(l) != 1 {
			t.Fatalf("accounts %+v", l)
		}
		return l[0]
	}
	b.add(domain.ControlStream("paper-1"), domain.TradingStarted{ControlChange: domain.ControlChange{Account: "paper-1", By: "alice"}})
	if a := get(); a.Reconciliation.Checked || a.Reconciliation.Blocked || a.Reconciliation.Diffs == nil {
		t.Fatalf("before any check: %+v", a.Reconciliation)
	}
	b.add(rs, snap(1))
	b.add(rs, mismatch)
	// A reconciliation type on another stream is not folded.
	b.add(domain.ControlStream("paper-1"), unavailable)
	a := get()
	if r := a.Reconciliation; !r.Checked || !r.Blocked || len(r.Diffs) != 1 || r.Diffs[0].Theirs != 65 || !r.CheckedAt.Equal(at) || r.Broker != "paper" {
		t.Fatalf("after a check with a difference: %+v", r)
	}
	if a.Changes != 1 || a.LastChange.Type != domain.TypeTradingStarted || a.State != projections.StateRunning {
		t.Fatalf("reconciliation events counted as control changes: %+v", a)
	}
	b.add(rs, domain.PositionAdopted{Account: "paper-1", Mode: domain.Paper, Instrument: "NFO:NIFTY26DECFUT", Product: domain.NRML,
		Quantity: 65, AvgPrice: domain.Rupees(24000), By: "root", Reason: "bought by hand", At: at})
	if r := get().Reconciliation; r.Blocked || len(r.Diffs) != 0 || r.Adopted != 1 {
		t.Fatalf("after the adoption: %+v", r)
	}
	b.add(rs, snap(1))
	b.add(rs, unavailable)
	if r := get().Reconciliation; !r.Blocked || r.Diffs[0].Kind != domain.DiffBrokerUnavailable {
		t.Fatalf("broker unavailable: %+v", r)
	}
	b.add(rs, snap(0))
	if r := get().Reconciliation; r.Blocked || len(r.Diffs) != 0 {
		t.Fatalf("a clean check: %+v", r)
	}
	// Snapshot round trip and replay give the same state.
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
	if f := p.Filter(); f.StreamPrefix != "" || len(f.Types) != 13 {
		t.Fatalf("filter %+v", f)
	}
}
