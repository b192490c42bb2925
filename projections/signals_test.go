package projections_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/projections"
)

func TestSignals(t *testing.T) {
	b := newLog(t)
	raise := func(id, account string) {
		b.add(domain.SignalStream("n8n"), domain.SignalRaised{SignalID: id, Source: "n8n", Strategy: "orb", Account: account,
			Exchange: domain.ExchangeNFO, Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: 65, RaisedAt: b.clock, Reason: "breakout " + id})
	}
	raise("s1", "paper-1")
	raise("s2", "paper-2")
	raise("s3", "")
	b.add(domain.SignalStream("n8n"), domain.SignalAccepted{SignalID: "s1", OrderIDs: []string{"o1"}})
	b.add(domain.SignalStream("n8n"), domain.SignalRejected{SignalID: "s2", Rule: "max_order_lots", Reason: "2 lots > 1"})
	b.add(domain.SignalStream("n8n"), domain.SignalRejected{SignalID: "nope", Rule: "x", Reason: "y"})
	s := projections.NewSignals(reg)
	s.Apply(b.evs, b.evs[len(b.evs)-1].Position)

	all, pos := s.List(projections.SignalQuery{})
	if pos != 6 || len(all) != 3 || all[0].SignalID != "s3" || all[0].Status != projections.SignalPending ||
		all[1].Status != projections.SignalRejected || all[1].Rule != "max_order_lots" || all[2].OrderIDs[0] != "o1" {
		t.Fatalf("signals: %+v", all)
	}
	// Both reasons show: why it was raised and why it was refused.
	if js, _ := json.Marshal(all[1]); !strings.Contains(string(js), `"reason":"breakout s2"`) || !strings.Contains(string(js), `"reject_reason":"2 lots \u003e 1"`) {
		t.Fatalf("rejected signal as JSON: %s", js)
	}
	if got, _ := s.List(projections.SignalQuery{Accounts: []string{"paper-1"}}); len(got) != 2 || got[1].SignalID != "s1" {
		t.Fatalf("paper-1 sees %+v, want s3 (no account) and s1", got)
	}
	if got, _ := s.List(projections.SignalQuery{Status: projections.SignalRejected}); len(got) != 1 || got[0].SignalID != "s2" {
		t.Fatalf("rejected: %+v", got)
	}
	page, _ := s.List(projections.SignalQuery{Limit: 1})
	next, _ := s.List(projections.SignalQuery{Limit: 1, Before: page[0].Position})
	if len(next) != 1 || next[0].SignalID != "s2" {
		t.Fatalf("second page: %+v", next)
	}

	// Bounded: the oldest fall out; the state round-trips with its index.
	b2 := newLog(t)
	for i := range projections.MaxRecentSignals + 5 {
		b2.add(domain.SignalStream("x"), domain.SignalRaised{SignalID: fmt.Sprint(i), Source: "x", Exchange: "NFO", Symbol: "S",
			Side: domain.Sell, Quantity: 1, RaisedAt: b2.clock})
	}
	b2.add(domain.SignalStream("x"), domain.SignalAccepted{SignalID: "3", OrderIDs: []string{"o"}}) // fell out: an orphan
	big := projections.NewSignals(reg)
	big.Apply(b2.evs, b2.evs[len(b2.evs)-1].Position)
	st, _, _ := big.MarshalState()
	restored := projections.NewSignals(reg)
	if err := restored.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	b2.add(domain.SignalStream("x"), domain.SignalAccepted{SignalID: "9", OrderIDs: []string{"o9"}})
	last := b2.evs[len(b2.evs)-1:]
	big.Apply(last, last[0].Position)
	restored.Apply(last, last[0].Position)
	h1, _ := projections.Hash(big)
	h2, _ := projections.Hash(restored)
	got, _ := restored.List(projections.SignalQuery{})
	if h1 != h2 || len(got) != projections.MaxRecentSignals || got[len(got)-1].SignalID != "5" || got[len(got)-5].Status != projections.SignalAccepted {
		t.Fatalf("bounded signals: %d kept, oldest %s, hashes equal %v", len(got), got[len(got)-1].SignalID, h1 == h2)
	}
}
