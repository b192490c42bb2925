package sim

import (
	"time"

	"github.com/algoauto/algoauto/instruments"
)

// Master returns the instruments master of the simulated market at t (see
// instruments.Simulated), built with the feed's calendar: the two indices,
// NIFTY and BANKNIFTY futures of the current and next month, NIFTY weekly
// and BANKNIFTY monthly options around the simulator's typical levels.
// Every instrument Instruments(t) returns is in it with the same token,
// lot size, tick size and expiry date. t is simulated (event) time; the
// feed itself ticks only the indices and futures.
func (f *Feed) Master(t time.Time) (*instruments.Master, error) {
	return instruments.Simulated(instruments.SimConfig{At: t, Calendar: f.cal})
}
