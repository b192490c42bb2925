package instruments_test

import (
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/instruments"
)

// TestKiteOptionSymbol checks the examples of PROTOCOLS §4.5.
func TestKiteOptionSymbol(t *testing.T) {
	t.Parallel()
	tests := []struct {
		underlying string
		expiry     time.Time
		monthly    bool
		strike     domain.Price
		typ        domain.InstrumentType
		want       string
	}{
		{"BANKNIFTY", istDate(2018, 1, 25), true, domain.Rupees(23500), domain.InstrumentCall, "BANKNIFTY18JAN23500CE"},
		{"NIFTY", istDate(2023, 7, 27), true, domain.Rupees(20600), domain.InstrumentCall, "NIFTY23JUL20600CE"},
		{"BANKNIFTY", istDate(2023, 10, 26), true, domain.Rupees(38000), domain.InstrumentPut, "BANKNIFTY23OCT38000PE"},
		{"NIFTY", istDate(2023, 7, 13), false, domain.Rupees(17900), domain.InstrumentPut, "NIFTY2371317900PE"},
		{"BANKNIFTY", istDate(2023, 9, 20), false, domain.Rupees(38000), domain.InstrumentCall, "BANKNIFTY2392038000CE"},
		{"BANKNIFTY", istDate(2020, 2, 6), false, domain.Rupees(30900), domain.InstrumentCall, "BANKNIFTY2020630900CE"},
		{"NIFTY", istDate(2020, 12, 17), false, domain.Rupees(13600), domain.InstrumentCall, "NIFTY20D1713600CE"},
		{"NIFTY", istDate(2025, 10, 20), false, domain.Rupees(25000), domain.InstrumentPut, "NIFTY25O2025000PE"},
		{"NIFTY", istDate(2025, 11, 4), false, domain.Rupees(25000), domain.InstrumentPut, "NIFTY25N0425000PE"},
		{"NIFTY", istDate(2026, 3, 24), false, domain.Rupees(23750), domain.InstrumentCall, "NIFTY2632423750CE"},
		{"IDEA", istDate(2026, 3, 30), true, 750, domain.InstrumentCall, "IDEA26MAR7.5CE"},
		// The IST date counts: 18:30 UTC on 23 Mar is 24 Mar IST.
		{"NIFTY", time.Date(2026, 3, 23, 18, 30, 0, 0, time.UTC), false, domain.Rupees(23750), domain.InstrumentCall, "NIFTY2632423750CE"},
	}
	for _, tt := range tests {
		if got := instruments.KiteOptionSymbol(tt.underlying, tt.expiry, tt.monthly, tt.strike, tt.typ); got != tt.want {
			t.Errorf("KiteOptionSymbol(%s, %v, monthly=%v, %s, %s) = %q, want %q",
				tt.underlying, tt.expiry, tt.monthly, tt.strike, tt.typ, got, tt.want)
		}
	}
	// Futures follow domain.FutureSymbol (PROTOCOLS: NIFTY25SEPFUT).
	if got := domain.FutureSymbol("NIFTY", istDate(2025, 9, 30)); got != "NIFTY25SEPFUT" {
		t.Errorf("FutureSymbol = %q, want NIFTY25SEPFUT", got)
	}
}

// TestTrueDataOptionSymbol checks the examples of PROTOCOLS §2.6.
func TestTrueDataOptionSymbol(t *testing.T) {
	t.Parallel()
	tests := []struct {
		underlying string
		expiry     time.Time
		strike     domain.Price
		typ        domain.InstrumentType
		want       string
	}{
		{"BANKNIFTY", istDate(2020, 3, 5), domain.Rupees(12500), domain.InstrumentCall, "BANKNIFTY20030512500CE"},
		{"NIFTY", istDate(2026, 3, 24), domain.Rupees(23750), domain.InstrumentCall, "NIFTY26032423750CE"},
		{"IDEA", istDate(2026, 3, 30), 750, domain.InstrumentPut, "IDEA2603307.5PE"},
	}
	for _, tt := range tests {
		if got := instruments.TrueDataOptionSymbol(tt.underlying, tt.expiry, tt.strike, tt.typ); got != tt.want {
			t.Errorf("TrueDataOptionSymbol = %q, want %q", got, tt.want)
		}
	}
}
