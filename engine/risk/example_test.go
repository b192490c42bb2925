package risk_test

import (
	"fmt"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine/risk"
)

// A NIFTY option order of 50 lots is cut at the freeze quantity, then
// admitted by the OPS governor slice by slice.
func Example() {
	gate := risk.NewGate(risk.Config{}) // NSE calendar, 5 s stale limit
	gov, _ := risk.NewGovernor(0)       // 8 orders per second
	at := time.Date(2026, 3, 10, 10, 0, 0, 0, domain.IST())

	order := risk.Order{
		Account: "acc1", Exchange: "NFO", Symbol: "NIFTY26MAR24500CE", Instrument: domain.InstrumentCall,
		Side: domain.Buy, Quantity: 50 * 75, Type: domain.Limit, Price: domain.Rupees(100), Product: domain.NRML,
		LotSize: 75, TickSize: 5, FreezeQty: 1800, At: at,
	}
	state := risk.State{
		Limits:     domain.RiskLimits{MaxOrderLots: 60, PriceCollarBps: 200},
		LastPrice:  domain.Rupees(100),
		LastTickAt: at.Add(-300 * time.Millisecond), UnderlyingTickAt: at.Add(-100 * time.Millisecond),
	}
	d := gate.Check(order, state)
	fmt.Println(d.Allowed, d.Slices)
	if _, ok := gov.Admit(at, len(d.Slices)); ok {
		fmt.Println("sent", len(d.Slices), "orders")
	}

	state.Limits.MaxOrderLots = 40
	r, _ := gate.Check(order, state).Refusal()
	fmt.Println(r.Rule, r.Limit, r.Actual, r.Unit)
	// Output:
	// true [1800 1800 150]
	// sent 3 orders
	// max_order_lots 40 50 lots
}
