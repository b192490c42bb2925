package sim

import (
	"math"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/instruments"
)

// Master returns the instruments master of the simulated market at t (see
// instruments.Simulated), built with the feed's calendar: the two indices,
// NIFTY and BANKNIFTY futures of the current and next month, NIFTY weekly
// and BANKNIFTY monthly options with 50 strikes each side of the strike
// nearest the feed's start level of the index (NIFTY ±2,500, BANKNIFTY
// ±5,000 rupees), so that the feed's at-the-money window stays listed as
// the index drifts. Every instrument Instruments(t) returns, and every
// option the feed ticks at t (Config.Options), is in it with the same
// token, lot size, tick size and expiry date. t is simulated (event) time.
// The result depends only on the feed's configuration and t.
func (f *Feed) Master(t time.Time) (*instruments.Master, error) {
	r := f.newRun() // the start levels, from the seed
	spots := make(map[string]domain.Price, len(r.legs))
	for _, l := range r.legs {
		spots[l.u.root] = toPrice(math.Exp(l.logS))
	}
	return instruments.Simulated(instruments.SimConfig{At: t, Calendar: f.cal, Spots: spots, StrikesEachSide: masterStrikes})
}
