package projections

import (
	"github.com/algoauto/algoauto/domain"
)

// Charges on fills.
//
// A fill's charges are the broker's when the OrderFilled event carries them
// (Charges > 0). Otherwise they are computed with domain.DefaultChargeSchedule
// for the instrument's segment, decided from the intent's exchange and
// symbol (Kite tradingsymbols):
//
//   - exchange NFO or BFO and a symbol ending in "CE" or "PE": an option
//     (domain.SegmentIndexOption; stock options are charged alike), charged
//     on premium turnover;
//   - exchange NFO or BFO and a symbol ending in "FUT": a future
//     (domain.SegmentFuture), charged on contract turnover;
//   - anything else (cash equity, indices, unknown symbols): no computed
//     charges (0), since the schedule covers F&O only.
//
// The schedule charges brokerage per executed order, so charges are computed
// on the order's cumulative fill value: the charges of a fill are
// For(segment, side, 1, value after the fill) minus the same for the value
// before it (quantity 1 at price = turnover is exactly the turnover the
// schedule rates apply to). The fills of one order therefore add up to the
// charges of the whole order, brokerage counted once, each component rounded
// to the paisa as the schedule rounds it.

var chargeSchedule = domain.DefaultChargeSchedule()

// scheduleCharges returns the charges of an order of one segment and side
// whose fills so far have the turnover value (0 for no fills, or when the
// schedule does not apply).
func scheduleCharges(seg domain.ChargeSegment, side domain.Side, value domain.Price) domain.Price {
	if seg == "" || value <= 0 {
		return 0
	}
	c, err := chargeSchedule.For(seg, side, 1, value)
	if err != nil {
		return 0
	}
	return c.Total
}

// fillCharges returns the charges of one fill: reported (the broker's) when
// positive, otherwise the schedule's charges on the order's cumulative value
// after the fill (prior + this fill's value) less those on prior.
func fillCharges(reported domain.Price, seg domain.ChargeSegment, side domain.Side, prior, value domain.Price) domain.Price {
	if reported > 0 {
		return reported
	}
	return scheduleCharges(seg, side, prior+value) - scheduleCharges(seg, side, prior)
}
