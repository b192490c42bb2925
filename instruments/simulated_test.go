package instruments_test

import (
	"hash/fnv"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/instruments"
)

func mustSimulated(t testing.TB, cfg instruments.SimConfig) *instruments.Master {
	t.Helper()
	m, err := instruments.Simulated(cfg)
	if err != nil {
		t.Fatalf("Simulated: %v", err)
	}
	return m
}

func TestSimulatedConfigErrors(t *testing.T) {
	t.Parallel()
	at := istTime(2026, 3, 2, 9, 15, 0)
	tests := []struct {
		name string
		cfg  instruments.SimConfig
		msg  string
	}{
		{"no time", instruments.SimConfig{}, "at must be set"},
		{"negative strikes", instruments.SimConfig{At: at, StrikesEachSide: -1}, "strikes each side"},
		{"too many strikes", instruments.SimConfig{At: at, StrikesEachSide: instruments.MaxSimStrikes + 1}, "strikes each side"},
		{"too many weeklies", instruments.SimConfig{At: at, WeeklyExpiries: 61}, "weekly expiries"},
		{"negative monthlies", instruments.SimConfig{At: at, MonthlyExpiries: -2}, "monthly expiries"},
		{"unknown spot", instruments.SimConfig{At: at, Spots: map[string]domain.Price{"FINNIFTY": 1}}, "FINNIFTY"},
		{"negative spot", instruments.SimConfig{At: at, Spots: map[string]domain.Price{"NIFTY": -1}}, "spot for NIFTY"},
	}
	for _, tt := range tests {
		if _, err := instruments.Simulated(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.msg)
		}
	}
	// Every problem at once.
	_, err := instruments.Simulated(instruments.SimConfig{StrikesEachSide: -1, WeeklyExpiries: -1})
	if err == nil || !strings.Contains(err.Error(), "at must be set") || !strings.Contains(err.Error(), "weekly") {
		t.Errorf("joined error = %v", err)
	}
}

// optionSymbols returns "symbol@expiry" of the call nearest 26000 of each
// expiry of underlying live at at.
func optionSymbols(t *testing.T, m *instruments.Master, underlying string, at time.Time) []string {
	t.Helper()
	var out []string
	for _, e := range m.Expiries(underlying, domain.InstrumentCall, at) {
		atm, err := m.ATMStrike(underlying, e, domain.Rupees(26000))
		if err != nil {
			t.Fatal(err)
		}
		in, err := m.Option(underlying, e, atm, domain.InstrumentCall)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, in.Symbol+"@"+in.Expiry.Format(time.DateOnly))
	}
	return out
}

func TestSimulatedExpiriesAndSymbols(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		at       time.Time
		weeklies int
		futures  []string // NIFTY futures symbol@expiry
		nifty    []string // NIFTY ATM (26000) call symbol@expiry per expiry
	}{
		{
			// Holi on Tue 3 Mar 2026: the weekly moves to Mon 2 Mar. Mahavir
			// Jayanti on Tue 31 Mar: the monthly moves to Mon 30 Mar.
			name: "March 2026 holidays", at: istTime(2026, 3, 2, 9, 15, 0), weeklies: 5,
			futures: []string{"NIFTY26MARFUT@2026-03-30", "NIFTY26APRFUT@2026-04-28"},
			nifty: []string{"NIFTY2630226000CE@2026-03-02", "NIFTY2631026000CE@2026-03-10", "NIFTY2631726000CE@2026-03-17",
				"NIFTY2632426000CE@2026-03-24", "NIFTY26MAR26000CE@2026-03-30"},
		},
		{
			name: "after the 2 Mar close", at: istTime(2026, 3, 2, 15, 30, 0), weeklies: 2,
			futures: []string{"NIFTY26MARFUT@2026-03-30", "NIFTY26APRFUT@2026-04-28"},
			nifty:   []string{"NIFTY2631026000CE@2026-03-10", "NIFTY2631726000CE@2026-03-17"},
		},
		{
			name: "futures roll at the monthly close", at: istTime(2026, 3, 30, 15, 30, 0), weeklies: 2,
			futures: []string{"NIFTY26APRFUT@2026-04-28", "NIFTY26MAYFUT@2026-05-26"},
			nifty:   []string{"NIFTY2640726000CE@2026-04-07", "NIFTY2641326000CE@2026-04-13"}, // 14 Apr is a holiday
		},
		{
			// Guru Nanak Jayanti on Tue 24 Nov 2026: monthly on Mon 23 Nov;
			// weekly month codes N and D.
			name: "November 2026", at: istTime(2026, 11, 16, 9, 15, 0), weeklies: 4,
			futures: []string{"NIFTY26NOVFUT@2026-11-23", "NIFTY26DECFUT@2026-12-29"},
			nifty: []string{"NIFTY26N1726000CE@2026-11-17", "NIFTY26NOV26000CE@2026-11-23",
				"NIFTY26D0126000CE@2026-12-01", "NIFTY26D0826000CE@2026-12-08"},
		},
		{
			// Diwali on Tue 21 Oct 2025: weekly on Mon 20 Oct, month code O.
			name: "October 2025", at: istTime(2025, 10, 17, 9, 15, 0), weeklies: 2,
			futures: []string{"NIFTY25OCTFUT@2025-10-28", "NIFTY25NOVFUT@2025-11-25"},
			nifty:   []string{"NIFTY25O2026000CE@2025-10-20", "NIFTY25OCT26000CE@2025-10-28"},
		},
		{
			// Thursday expiries until 28 Aug 2025, Tuesday from 2 Sep.
			name: "Thursday to Tuesday", at: istTime(2025, 8, 18, 9, 15, 0), weeklies: 4,
			futures: []string{"NIFTY25AUGFUT@2025-08-28", "NIFTY25SEPFUT@2025-09-30"},
			nifty: []string{"NIFTY2582126000CE@2025-08-21", "NIFTY25AUG26000CE@2025-08-28",
				"NIFTY2590226000CE@2025-09-02", "NIFTY2590926000CE@2025-09-09"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mustSimulated(t, instruments.SimConfig{At: tt.at, WeeklyExpiries: tt.weeklies, StrikesEachSide: 2})
			var futs []string
			for _, f := range m.Futures("NIFTY", time.Time{}) {
				futs = append(futs, f.Symbol+"@"+f.Expiry.Format(time.DateOnly))
			}
			if !slices.Equal(futs, tt.futures) {
				t.Errorf("NIFTY futures = %v, want %v", futs, tt.futures)
			}
			if got := optionSymbols(t, m, "NIFTY", time.Time{}); !slices.Equal(got, tt.nifty) {
				t.Errorf("NIFTY options =\n %v\nwant\n %v", got, tt.nifty)
			}
		})
	}
}

func TestSimulatedContents(t *testing.T) {
	t.Parallel()
	at := istTime(2026, 3, 17, 9, 15, 0)
	m := mustSimulated(t, instruments.SimConfig{At: at})

	// 2 indices + 4 futures + NIFTY 4 weeklies and BANKNIFTY 2 monthlies,
	// 41 strikes x 2 types each.
	if want := 2 + 4 + (4+2)*41*2; m.Len() != want {
		t.Errorf("Len = %d, want %d", m.Len(), want)
	}
	idx, ok := m.Lookup("NSE:NIFTY 50")
	if !ok || idx.Type != domain.InstrumentIndex || idx.Token != 256265 || idx.Segment != "INDICES" {
		t.Errorf("NIFTY 50 = %+v", idx)
	}
	if b, err := m.Resolve("NIFTY BANK"); err != nil || b.Token != 260105 {
		t.Errorf("NIFTY BANK = %+v, %v", b, err)
	}
	for _, tt := range []struct {
		key      string
		lot      int64
		freeze   int64
		segment  string
		expiry   time.Time
		strike   domain.Price
		typ      domain.InstrumentType
		tickSize domain.Price
	}{
		{"NFO:NIFTY26MARFUT", 65, 1800, "NFO-FUT", istDate(2026, 3, 30), 0, domain.InstrumentFuture, 5},
		{"NFO:BANKNIFTY26APRFUT", 30, 600, "NFO-FUT", istDate(2026, 4, 28), 0, domain.InstrumentFuture, 5},
		{"NFO:NIFTY2631726000PE", 65, 1800, "NFO-OPT", istDate(2026, 3, 17), domain.Rupees(26000), domain.InstrumentPut, 5},
		{"NFO:NIFTY26MAR25000CE", 65, 1800, "NFO-OPT", istDate(2026, 3, 30), domain.Rupees(25000), domain.InstrumentCall, 5},
		{"NFO:BANKNIFTY26MAR59000CE", 30, 600, "NFO-OPT", istDate(2026, 3, 30), domain.Rupees(59000), domain.InstrumentCall, 5},
		{"NFO:BANKNIFTY26APR61000PE", 30, 600, "NFO-OPT", istDate(2026, 4, 28), domain.Rupees(61000), domain.InstrumentPut, 5},
	} {
		in, ok := m.Lookup(tt.key)
		if !ok {
			t.Errorf("%s missing", tt.key)
			continue
		}
		if in.LotSize != tt.lot || in.FreezeQty != tt.freeze || in.Segment != tt.segment || !in.Expiry.Equal(tt.expiry) ||
			in.Strike != tt.strike || in.Type != tt.typ || in.TickSize != tt.tickSize || in.Exchange != "NFO" {
			t.Errorf("%s = %+v", tt.key, in)
		}
	}
	// BANKNIFTY has no weeklies; NIFTY's strikes step 50, BANKNIFTY's 100.
	if got := m.Expiries("BANKNIFTY", domain.InstrumentPut, at); !slices.EqualFunc(got, []time.Time{istDate(2026, 3, 30), istDate(2026, 4, 28)}, time.Time.Equal) {
		t.Errorf("BANKNIFTY option expiries = %v", got)
	}
	ns := m.Strikes("NIFTY", istDate(2026, 3, 24))
	if len(ns) != 41 || ns[0] != domain.Rupees(25000) || ns[40] != domain.Rupees(27000) || ns[1]-ns[0] != domain.Rupees(50) {
		t.Errorf("NIFTY strikes = %v", ns)
	}
	bs := m.Strikes("BANKNIFTY", istDate(2026, 3, 30))
	if len(bs) != 41 || bs[0] != domain.Rupees(57000) || bs[1]-bs[0] != domain.Rupees(100) {
		t.Errorf("BANKNIFTY strikes = %v", bs)
	}

	// Tokens: unique, nonzero; futures use adapters/sim's FNV-1a of the key.
	seen := make(map[uint32]string)
	for _, in := range m.Instruments() {
		if in.Token == 0 {
			t.Errorf("%s has token 0", in.Key())
		}
		if prev, dup := seen[in.Token]; dup {
			t.Errorf("token %d shared by %s and %s", in.Token, prev, in.Key())
		}
		seen[in.Token] = in.Key()
		if got, ok := m.ByToken(in.Token); !ok || got.Key() != in.Key() {
			t.Errorf("ByToken(%d) = %s, want %s", in.Token, got.Key(), in.Key())
		}
		if in.Type == domain.InstrumentFuture {
			h := fnv.New32a()
			h.Write([]byte(in.Key()))
			if in.Token != h.Sum32() {
				t.Errorf("%s token %d, want FNV-1a %d", in.Key(), in.Token, h.Sum32())
			}
		}
		// Every option resolves from its TrueData symbol.
		if in.Type.IsOption() {
			td := instruments.TrueDataOptionSymbol(in.Name, in.Expiry, in.Strike, in.Type)
			if got, err := m.Resolve(td); err != nil || got.Key() != in.Key() {
				t.Errorf("Resolve(%s) = %s, %v; want %s", td, got.Key(), err, in.Key())
			}
		}
	}

	// Deterministic.
	if !reflect.DeepEqual(m.Instruments(), mustSimulated(t, instruments.SimConfig{At: at}).Instruments()) {
		t.Error("two Simulated calls differ")
	}
}

func TestSimulatedSpotsAndLimits(t *testing.T) {
	t.Parallel()
	at := istTime(2026, 3, 17, 9, 15, 0)
	m := mustSimulated(t, instruments.SimConfig{
		At:              at,
		Spots:           map[string]domain.Price{"NIFTY": 2376130, "BANKNIFTY": 5204999},
		StrikesEachSide: 3, WeeklyExpiries: 1, MonthlyExpiries: 1,
		FreezeLimits: map[string]int64{"NIFTY": 1755},
	})
	exp, err := m.NearestWeekly("NIFTY", at)
	if err != nil || !exp.Equal(istDate(2026, 3, 17)) {
		t.Fatalf("NearestWeekly = %v, %v", exp, err)
	}
	if got, want := m.Strikes("NIFTY", exp), []domain.Price{
		domain.Rupees(23600), domain.Rupees(23650), domain.Rupees(23700), domain.Rupees(23750),
		domain.Rupees(23800), domain.Rupees(23850), domain.Rupees(23900),
	}; !slices.Equal(got, want) {
		t.Errorf("NIFTY strikes around 23761.30 = %v, want %v", got, want)
	}
	if atm, err := m.ATMStrike("NIFTY", exp, 2376130); err != nil || atm != domain.Rupees(23750) {
		t.Errorf("ATMStrike = %s, %v", atm, err)
	}
	if atm, err := m.ATMStrike("BANKNIFTY", istDate(2026, 3, 30), 5204999); err != nil || atm != domain.Rupees(52000) {
		t.Errorf("BANKNIFTY ATMStrike = %s, %v", atm, err)
	}
	if got := m.Expiries("BANKNIFTY", domain.InstrumentCall, at); len(got) != 1 {
		t.Errorf("BANKNIFTY expiries = %v, want one", got)
	}
	f, _ := m.Future("NIFTY", at)
	b, _ := m.Future("BANKNIFTY", at)
	if f.FreezeQty != 1755 || b.FreezeQty != 0 {
		t.Errorf("freeze = %d, %d; want 1755, 0 (overridden table)", f.FreezeQty, b.FreezeQty)
	}
	// Futures are always current and next month.
	if got := m.Futures("BANKNIFTY", at); len(got) != 2 {
		t.Errorf("BANKNIFTY futures = %d, want 2", len(got))
	}
	// The current-month alias on the simulated master rolls at the close.
	cur, err := m.ResolveAt("NIFTY-I", istTime(2026, 3, 30, 15, 29, 59))
	if err != nil || cur.Symbol != "NIFTY26MARFUT" {
		t.Errorf("NIFTY-I before the close = %s, %v", cur.Key(), err)
	}
	next, err := m.ResolveAt("NIFTY-I", istTime(2026, 3, 30, 15, 30, 0))
	if err != nil || next.Symbol != "NIFTY26APRFUT" {
		t.Errorf("NIFTY-I at the close = %s, %v", next.Key(), err)
	}
}
