package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

func TestMarketStatus(t *testing.T) {
	cal := domain.NSECalendar()
	ist := domain.IST()
	cases := []struct {
		at    time.Time
		phase domain.MarketPhase
	}{
		{time.Date(2026, 11, 20, 8, 59, 59, 0, ist), domain.PhaseClosed},
		{time.Date(2026, 11, 20, 9, 0, 0, 0, ist), domain.PhasePreOpen},
		{time.Date(2026, 11, 20, 9, 15, 0, 0, ist), domain.PhaseOpen},
		{time.Date(2026, 11, 20, 15, 29, 59, 0, ist), domain.PhaseOpen},
		{time.Date(2026, 11, 20, 15, 30, 0, 0, ist), domain.PhaseClosed},
		{time.Date(2026, 11, 21, 10, 0, 0, 0, ist), domain.PhaseHoliday}, // Saturday
	}
	for _, c := range cases {
		st := cal.Status(c.at)
		if st.Phase != c.phase {
			t.Errorf("%s: phase %s, want %s", c.at, st.Phase, c.phase)
		}
		if !st.NextOpen.After(c.at) && st.Phase != domain.PhaseOpen || st.NextOpen.Hour() != 9 || st.NextOpen.Minute() != 15 {
			t.Errorf("%s: next open %s", c.at, st.NextOpen)
		}
		if (st.Phase == domain.PhaseOpen) != !st.Closes.IsZero() {
			t.Errorf("%s: closes %s in phase %s", c.at, st.Closes, st.Phase)
		}
	}
	// A listed holiday carries its name.
	h := cal.Holidays()[0]
	st := cal.Status(time.Date(h.Date.Year(), h.Date.Month(), h.Date.Day(), 11, 0, 0, 0, ist))
	if st.Phase != domain.PhaseHoliday || (h.Date.Weekday() != time.Saturday && h.Date.Weekday() != time.Sunday && st.Holiday == "") {
		t.Errorf("holiday %v: %+v", h, st)
	}
}

func TestIntentLotSize(t *testing.T) {
	i := domain.OrderIntentRecorded{OrderID: "o", ClientOrderID: "c", Account: "a", Mode: domain.Paper, Exchange: "NFO",
		Symbol: "NIFTY26NOVFUT", Side: domain.Buy, Quantity: 100, Type: domain.Market, Product: domain.NRML, LotSize: 65}
	if err := i.Validate(); err == nil || !strings.Contains(err.Error(), "quantity") {
		t.Fatalf("100 is not whole lots of 65: %v", err)
	}
	i.Quantity = 130
	if err := i.Validate(); err != nil {
		t.Fatal(err)
	}
}
