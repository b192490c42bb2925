package sim_test

import (
	"testing"

	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
)

// TestMasterListsFeedInstruments checks that the simulated master agrees
// with what the feed ticks: same keys, tokens, lots, ticks and expiry dates,
// across a holiday-shifted monthly expiry and its roll.
func TestMasterListsFeedInstruments(t *testing.T) {
	t.Parallel()
	f := mustNew(t, sim.Config{Start: at(t, "2026-03-02T09:15:00+05:30")})
	for _, s := range []string{
		"2026-03-02T09:15:00+05:30",
		"2026-03-30T15:29:59+05:30", // last moments of NIFTY26MARFUT (31 Mar is a holiday)
		"2026-03-30T15:30:00+05:30", // rolled to April
		"2026-11-23T10:00:00+05:30",
		"2026-12-31T09:15:00+05:30",
	} {
		now := at(t, s)
		m, err := f.Master(now)
		if err != nil {
			t.Fatalf("Master(%s): %v", s, err)
		}
		for _, in := range f.Instruments(now) {
			got, ok := m.Lookup(in.Exchange + ":" + in.Symbol)
			if !ok {
				t.Errorf("%s: %s:%s not in the master", s, in.Exchange, in.Symbol)
				continue
			}
			if got.Token != in.Token || got.LotSize != in.LotSize || got.TickSize != in.TickSize ||
				!got.ExpiresAt().Equal(in.Expiry) {
				t.Errorf("%s: master %+v, feed %+v", s, got, in)
			}
			if in.LotSize > 0 {
				cur, err := m.Future(got.Name, now)
				if err != nil || cur.Key() != got.Key() {
					t.Errorf("%s: master's current %s future = %s, %v; feed ticks %s", s, got.Name, cur.Key(), err, got.Key())
				}
			} else if got.Type != domain.InstrumentIndex {
				t.Errorf("%s: %s type %s, want INDEX", s, got.Key(), got.Type)
			}
		}
	}
}
