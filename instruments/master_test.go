package instruments_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/instruments"
)

func TestChainQueries(t *testing.T) {
	t.Parallel()
	m := sample(t)
	morning := istTime(2026, time.March, 17, 9, 15, 0)
	mar17Close := istTime(2026, time.March, 17, 15, 30, 0)

	t.Run("Expiries", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name       string
			underlying string
			typ        domain.InstrumentType
			at         time.Time
			want       []time.Time
		}{
			{"futures", "NIFTY", domain.InstrumentFuture, morning,
				[]time.Time{istDate(2026, 3, 30), istDate(2026, 4, 28), istDate(2026, 5, 26)}},
			{"calls", "NIFTY", domain.InstrumentCall, morning,
				[]time.Time{istDate(2026, 3, 17), istDate(2026, 3, 24), istDate(2026, 3, 30)}},
			{"calls after the Mar 17 close", "NIFTY", domain.InstrumentCall, mar17Close,
				[]time.Time{istDate(2026, 3, 24), istDate(2026, 3, 30)}},
			{"puts", "NIFTY", domain.InstrumentPut, morning, []time.Time{istDate(2026, 3, 24)}},
			{"any type", "NIFTY", "", morning,
				[]time.Time{istDate(2026, 3, 17), istDate(2026, 3, 24), istDate(2026, 3, 30), istDate(2026, 4, 28), istDate(2026, 5, 26)}},
			{"zero at: all, incl. expired", "BANKNIFTY", domain.InstrumentCall, time.Time{},
				[]time.Time{istDate(2018, 1, 25), istDate(2026, 3, 30)}},
			{"unknown underlying", "FOO", domain.InstrumentFuture, morning, nil},
			{"all expired", "NIFTY", domain.InstrumentFuture, istTime(2026, 6, 1, 9, 15, 0), nil},
		}
		for _, tt := range tests {
			got := m.Expiries(tt.underlying, tt.typ, tt.at)
			if !slices.EqualFunc(got, tt.want, time.Time.Equal) {
				t.Errorf("%s: Expiries = %v, want %v", tt.name, got, tt.want)
			}
		}
	})

	t.Run("Future", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			at   time.Time
			want string
			err  error
		}{
			{morning, "NFO:NIFTY26MARFUT", nil},
			{istTime(2026, 3, 30, 15, 29, 59), "NFO:NIFTY26MARFUT", nil},
			{istTime(2026, 3, 30, 15, 30, 0), "NFO:NIFTY26APRFUT", nil},
			{istTime(2026, 5, 26, 15, 30, 0), "", instruments.ErrNotFound},
		}
		for _, tt := range tests {
			got, err := m.Future("NIFTY", tt.at)
			if !errors.Is(err, tt.err) || (err == nil && got.Key() != tt.want) {
				t.Errorf("Future(NIFTY, %v) = %s, %v; want %s, %v", tt.at, got.Key(), err, tt.want, tt.err)
			}
		}
		if _, err := m.Future("FOO", morning); !errors.Is(err, instruments.ErrNotFound) || !strings.Contains(err.Error(), "FOO") {
			t.Errorf("Future(FOO) error = %v", err)
		}
		fs := m.Futures("NIFTY", istTime(2026, 3, 30, 15, 30, 0))
		if len(fs) != 2 || fs[0].Symbol != "NIFTY26APRFUT" || fs[1].Symbol != "NIFTY26MAYFUT" {
			t.Errorf("Futures after the March close = %v", fs)
		}
	})

	t.Run("Option", func(t *testing.T) {
		t.Parallel()
		got, err := m.Option("NIFTY", istTime(2026, 3, 24, 20, 0, 0), domain.Rupees(23750), domain.InstrumentPut)
		if err != nil || got.Key() != "NFO:NIFTY2632423750PE" {
			t.Errorf("Option = %s, %v", got.Key(), err)
		}
		// The date is the IST date: 2026-03-23 20:00 UTC is 24 Mar IST.
		got, err = m.Option("NIFTY", time.Date(2026, 3, 23, 20, 0, 0, 0, time.UTC), domain.Rupees(23750), domain.InstrumentCall)
		if err != nil || got.Key() != "NFO:NIFTY2632423750CE" {
			t.Errorf("Option (UTC expiry) = %s, %v", got.Key(), err)
		}
		for _, bad := range []struct {
			strike domain.Price
			typ    domain.InstrumentType
		}{{domain.Rupees(23725), domain.InstrumentCall}, {domain.Rupees(23750), domain.InstrumentFuture}} {
			if _, err := m.Option("NIFTY", istDate(2026, 3, 24), bad.strike, bad.typ); !errors.Is(err, instruments.ErrNotFound) {
				t.Errorf("Option(%s %s) error = %v, want not found", bad.strike, bad.typ, err)
			}
		}
	})

	t.Run("Strikes and ATM", func(t *testing.T) {
		t.Parallel()
		exp := istDate(2026, 3, 24)
		want := []domain.Price{domain.Rupees(23700), domain.Rupees(23750), domain.Rupees(23800)}
		if got := m.Strikes("NIFTY", exp); !slices.Equal(got, want) {
			t.Fatalf("Strikes = %v, want %v", got, want)
		}
		tests := []struct {
			spot, want domain.Price
		}{
			{domain.Rupees(23760), domain.Rupees(23750)},
			{domain.Rupees(23776), domain.Rupees(23800)},
			{domain.Rupees(23775), domain.Rupees(23750)}, // halfway: the lower strike
			{domain.Rupees(23725), domain.Rupees(23700)}, // halfway: the lower strike
			{domain.Rupees(23725) + 1, domain.Rupees(23750)},
			{domain.Rupees(23750), domain.Rupees(23750)},
			{domain.Rupees(20000), domain.Rupees(23700)}, // below the chain
			{domain.Rupees(30000), domain.Rupees(23800)}, // above the chain
		}
		for _, tt := range tests {
			got, err := m.ATMStrike("NIFTY", exp, tt.spot)
			if err != nil || got != tt.want {
				t.Errorf("ATMStrike(%s) = %s, %v; want %s", tt.spot, got, err, tt.want)
			}
		}
		if _, err := m.ATMStrike("NIFTY", istDate(2026, 3, 25), domain.Rupees(23750)); !errors.Is(err, instruments.ErrNotFound) {
			t.Errorf("ATMStrike on a day without options: %v", err)
		}
	})

	t.Run("NearestWeekly", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			underlying string
			at         time.Time
			want       time.Time
		}{
			{"NIFTY", morning, istDate(2026, 3, 17)},
			{"NIFTY", mar17Close, istDate(2026, 3, 24)},
			{"NIFTY", istTime(2026, 3, 24, 15, 29, 0), istDate(2026, 3, 24)},
			{"NIFTY", istTime(2026, 3, 25, 9, 15, 0), istDate(2026, 3, 30)},
			{"BANKNIFTY", morning, istDate(2026, 3, 30)}, // monthly only
		}
		for _, tt := range tests {
			got, err := m.NearestWeekly(tt.underlying, tt.at)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("NearestWeekly(%s, %v) = %v, %v; want %v", tt.underlying, tt.at, got, err, tt.want)
			}
		}
		if _, err := m.NearestWeekly("NIFTY", istTime(2026, 3, 30, 15, 30, 0)); !errors.Is(err, instruments.ErrNotFound) {
			t.Errorf("NearestWeekly after the last expiry: %v", err)
		}
	})

	t.Run("Spot", func(t *testing.T) {
		t.Parallel()
		for u, want := range map[string]string{"NIFTY": "NSE:NIFTY 50", "BANKNIFTY": "NSE:NIFTY BANK", "RELIANCE": "NSE:RELIANCE"} {
			if got, err := m.Spot(u); err != nil || got.Key() != want {
				t.Errorf("Spot(%s) = %s, %v; want %s", u, got.Key(), err, want)
			}
		}
		if _, err := m.Spot("NIFTYNXT50"); !errors.Is(err, instruments.ErrNotFound) {
			t.Errorf("Spot(NIFTYNXT50) without its index: %v", err)
		}
	})

	if got, want := m.Underlyings(), []string{"BANKNIFTY", "NIFTY", "NIFTYNXT50"}; !slices.Equal(got, want) {
		t.Errorf("Underlyings = %v, want %v", got, want)
	}
}

func TestReturnedSlicesAreCopies(t *testing.T) {
	t.Parallel()
	m := sample(t)
	exp := istDate(2026, 3, 24)
	s := m.Strikes("NIFTY", exp)
	s[0] = 1
	e := m.Expiries("NIFTY", domain.InstrumentFuture, time.Time{})
	e[0] = time.Time{}
	all := m.Instruments()
	all[0].Symbol = "CHANGED"
	if m.Strikes("NIFTY", exp)[0] != domain.Rupees(23700) ||
		m.Expiries("NIFTY", domain.InstrumentFuture, time.Time{})[0].IsZero() ||
		m.Instruments()[0].Symbol == "CHANGED" {
		t.Fatal("a returned slice aliases the master")
	}
}

func TestByTokenLatestExpiryWins(t *testing.T) {
	t.Parallel()
	old := domain.Instrument{Token: 42, Exchange: "NFO", Symbol: "NIFTY26MARFUT", Name: "NIFTY", Type: domain.InstrumentFuture, Expiry: istDate(2026, 3, 30)}
	newer := domain.Instrument{Token: 42, Exchange: "NFO", Symbol: "NIFTY26JUNFUT", Name: "NIFTY", Type: domain.InstrumentFuture, Expiry: istDate(2026, 6, 30)}
	tie := domain.Instrument{Token: 42, Exchange: "NFO", Symbol: "BANKNIFTY26JUNFUT", Name: "BANKNIFTY", Type: domain.InstrumentFuture, Expiry: istDate(2026, 6, 30)}
	tests := []struct {
		name  string
		insts []domain.Instrument
		want  string
	}{
		{"later expiry given last", []domain.Instrument{old, newer}, "NFO:NIFTY26JUNFUT"},
		{"later expiry given first", []domain.Instrument{newer, old}, "NFO:NIFTY26JUNFUT"},
		{"tie: later position wins", []domain.Instrument{newer, tie}, "NFO:BANKNIFTY26JUNFUT"},
		{"tie: later position wins (swapped)", []domain.Instrument{tie, newer}, "NFO:NIFTY26JUNFUT"},
	}
	for _, tt := range tests {
		m, err := instruments.New(tt.insts, instruments.Options{})
		if err != nil {
			t.Fatalf("%s: New: %v", tt.name, err)
		}
		got, ok := m.ByToken(42)
		if !ok || got.Key() != tt.want {
			t.Errorf("%s: ByToken(42) = %s, %v; want %s", tt.name, got.Key(), ok, tt.want)
		}
	}
	if _, ok := sample(t).ByToken(7); ok {
		t.Error("ByToken of an unknown token found something")
	}
	if got, ok := sample(t).ByToken(256265); !ok || got.Key() != "NSE:NIFTY 50" {
		t.Errorf("ByToken(256265) = %s, %v", got.Key(), ok)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	fut := domain.Instrument{Exchange: "NFO", Symbol: "NIFTY26MARFUT", Type: domain.InstrumentFuture,
		Expiry: istTime(2026, 3, 30, 15, 30, 0)}
	m, err := instruments.New([]domain.Instrument{fut}, instruments.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	got, _ := m.Lookup("NFO:NIFTY26MARFUT")
	if !got.Expiry.Equal(istDate(2026, 3, 30)) || got.Name != "NIFTY" || got.FreezeQty != 1800 {
		t.Errorf("normalised = expiry %v, name %q, freeze %d", got.Expiry, got.Name, got.FreezeQty)
	}

	// Freeze limits: overridable, off with an empty map, never over an
	// explicit value, NFO only.
	custom := fut
	custom.FreezeQty = 1755
	bse := domain.Instrument{Exchange: "BFO", Symbol: "NIFTY26MARFUT", Name: "NIFTY", Type: domain.InstrumentFuture, Expiry: istDate(2026, 3, 30)}
	tests := []struct {
		name   string
		in     domain.Instrument
		limits map[string]int64
		want   int64
	}{
		{"default", fut, nil, 1800},
		{"override", fut, map[string]int64{"NIFTY": 1200}, 1200},
		{"none", fut, map[string]int64{}, 0},
		{"explicit kept", custom, map[string]int64{"NIFTY": 1200}, 1755},
		{"not NFO", bse, nil, 0},
	}
	for _, tt := range tests {
		m, err := instruments.New([]domain.Instrument{tt.in}, instruments.Options{FreezeLimits: tt.limits})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := m.Instruments()[0].FreezeQty; got != tt.want {
			t.Errorf("%s: FreezeQty = %d, want %d", tt.name, got, tt.want)
		}
	}
	d := instruments.DefaultFreezeLimits()
	d["NIFTY"] = 1
	if instruments.DefaultFreezeLimits()["NIFTY"] != 1800 {
		t.Error("DefaultFreezeLimits returns the shared table")
	}

	bad := []struct {
		name  string
		insts []domain.Instrument
		msg   string
	}{
		{"empty exchange", []domain.Instrument{{Symbol: "X"}}, "empty exchange"},
		{"empty symbol", []domain.Instrument{{Exchange: "NSE"}}, "empty tradingsymbol"},
		{"colon in exchange", []domain.Instrument{{Exchange: "N:SE", Symbol: "X"}}, "':'"},
		{"future without expiry", []domain.Instrument{{Exchange: "NFO", Symbol: "X", Type: domain.InstrumentFuture}}, "without an expiry"},
		{"duplicate", []domain.Instrument{{Exchange: "NSE", Symbol: "X", Token: 1}, {Exchange: "NSE", Symbol: "X", Token: 2}}, "duplicate instrument NSE:X"},
	}
	for _, tt := range bad {
		if _, err := instruments.New(tt.insts, instruments.Options{}); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: New error = %v, want %q", tt.name, err, tt.msg)
		}
	}
}

// TestConcurrentReads runs every query from many goroutines; run with
// -race.
func TestConcurrentReads(t *testing.T) {
	t.Parallel()
	m := sample(t)
	at := istTime(2026, 3, 17, 10, 0, 0)
	want := m.Instruments()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				name := []string{"NIFTY-I", "NIFTY26032423750CE", "NSE:NIFTY 50", "RELIANCE"}[(g+i)%4]
				_, _ = m.ResolveAt(name, at)
				_, _ = m.Future("NIFTY", at)
				_ = m.Expiries("NIFTY", domain.InstrumentCall, at)
				_, _ = m.ATMStrike("NIFTY", istDate(2026, 3, 24), domain.Rupees(23760))
				_, _ = m.NearestWeekly("NIFTY", at)
				_, _ = m.ByToken(256265)
				s := m.Strikes("NIFTY", istDate(2026, 3, 24))
				s[0] = 0 // callers may modify what they get
			}
		})
	}
	wg.Wait()
	if !reflect.DeepEqual(m.Instruments(), want) {
		t.Fatal("the master changed under concurrent reads")
	}
}
