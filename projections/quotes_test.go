package projections_test

import (
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/projections"
)

func TestQuotes(t *testing.T) {
	rs := domain.Rupees
	b := newLog(t)
	// Day 1 (2026-11-20 IST): NIFTY 50 opens 26000, highs 26100, closes 25900.
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26000))
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26100))
	b.tick(domain.ExchangeNFO, "NIFTY26NOVFUT", rs(26050))
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(25900))
	// Day 2: the next IST day (the clock jumps a day).
	b.clock = b.clock.Add(24 * time.Hour)
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26200))
	b.tick(domain.ExchangeNSE, "NIFTY 50", rs(26150))

	q := projections.NewQuotes()
	q.Apply(b.evs, b.evs[len(b.evs)-1].Position)

	n, ok := q.Quote("NSE:NIFTY 50")
	if !ok {
		t.Fatal("no NIFTY 50 quote")
	}
	if n.LTP != rs(26150) || n.Open != rs(26200) || n.High != rs(26200) || n.Low != rs(26150) || n.PrevClose != rs(25900) || n.Ticks != 5 || n.Position != 6 {
		t.Errorf("NIFTY 50 quote: %+v", n)
	}
	if ch, pct := n.Change(); ch != rs(250) || pct < 0.965 || pct > 0.966 {
		t.Errorf("change %v (%.4f%%), want 250.00 (0.9653%%)", ch, pct)
	}
	if f, ok := q.Quote("NIFTY26NOVFUT"); !ok || f.Exchange != domain.ExchangeNFO || f.PrevClose != 0 {
		t.Errorf("future by bare symbol: %+v %v", f, ok)
	}
	if idx, _ := q.Indices(); len(idx) != 1 || idx[0].Symbol != "NIFTY 50" {
		t.Errorf("indices: %+v", idx)
	}
	if all, _ := q.All(nil); len(all) != 2 || all[0].Exchange != "NFO" {
		t.Errorf("all: %+v", all)
	}
	if _, ok := q.Quote("BANKNIFTY"); ok {
		t.Error("quote for an instrument never seen")
	}

	// A bad payload is counted, not fatal; the state round-trips.
	bad := *b.tick(domain.ExchangeNSE, "NIFTY 50", rs(1))
	bad.Data = bad.Data[:3]
	q.Apply([]eventstore.RecordedEvent{bad}, bad.Position)
	st, _, err := q.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	q2 := projections.NewQuotes()
	if err := q2.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	h1, _ := projections.Hash(q)
	h2, _ := projections.Hash(q2)
	if h1 != h2 || q2.Position() != bad.Position {
		t.Errorf("state round trip: hash %s vs %s, position %d", h1, h2, q2.Position())
	}
	if n, _ := q2.Quote("NSE:NIFTY 50"); n.LTP != rs(26150) {
		t.Errorf("bad tick changed the quote: %v", n.LTP)
	}
}
