package instruments_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/instruments"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	m := sample(t)
	expiryDay := istTime(2026, time.March, 30, 9, 15, 0) // NIFTY26MARFUT expires today (Mar 31 is a holiday)
	beforeClose := istTime(2026, time.March, 30, 15, 29, 59)
	atClose := istTime(2026, time.March, 30, 15, 30, 0)
	utcAfterClose := time.Date(2026, time.March, 30, 10, 0, 1, 0, time.UTC) // 15:30:01 IST
	tests := []struct {
		name string
		in   string
		at   time.Time
		want string // key; empty when an error is expected
		err  error
	}{
		{"canonical future", "NFO:NIFTY26MARFUT", time.Time{}, "NFO:NIFTY26MARFUT", nil},
		{"bare future", "NIFTY26MARFUT", time.Time{}, "NFO:NIFTY26MARFUT", nil},
		{"index name", "NIFTY 50", time.Time{}, "NSE:NIFTY 50", nil},
		{"bank index name", "NIFTY BANK", time.Time{}, "NSE:NIFTY BANK", nil},
		{"canonical index", "NSE:NIFTY 50", time.Time{}, "NSE:NIFTY 50", nil},
		{"lower case and spaces", "  nse:nifty bank ", time.Time{}, "NSE:NIFTY BANK", nil},
		{"bare symbol listed twice", "RELIANCE", time.Time{}, "", instruments.ErrAmbiguous},
		{"qualified disambiguates", "NSE:RELIANCE", time.Time{}, "NSE:RELIANCE", nil},
		{"truedata BSE suffix", "RELIANCE_BSE", time.Time{}, "BSE:RELIANCE", nil},
		{"truedata BSE suffix only", "ABB_BSE", time.Time{}, "BSE:ABB", nil},
		{"unknown", "NOSUCHTHING", time.Time{}, "", instruments.ErrNotFound},
		{"unknown qualified", "NFO:NIFTY26JUNFUT", time.Time{}, "", instruments.ErrNotFound},
		{"empty", "   ", time.Time{}, "", instruments.ErrNotFound},

		{"continuous needs time", "NIFTY-I", time.Time{}, "", instruments.ErrNeedsTime},
		{"NIFTY-I on expiry morning", "NIFTY-I", expiryDay, "NFO:NIFTY26MARFUT", nil},
		{"NIFTY-I a second before the close", "NIFTY-I", beforeClose, "NFO:NIFTY26MARFUT", nil},
		{"NIFTY-I rolls at 15:30 IST", "NIFTY-I", atClose, "NFO:NIFTY26APRFUT", nil},
		{"NIFTY-I rolls, time in UTC", "NIFTY-I", utcAfterClose, "NFO:NIFTY26APRFUT", nil},
		{"NIFTY-II before the roll", "NIFTY-II", beforeClose, "NFO:NIFTY26APRFUT", nil},
		{"NIFTY-II after the roll", "NIFTY-II", atClose, "NFO:NIFTY26MAYFUT", nil},
		{"NIFTY-III before the roll", "NIFTY-III", beforeClose, "NFO:NIFTY26MAYFUT", nil},
		{"NIFTY-III after the roll: none listed", "NIFTY-III", atClose, "", instruments.ErrNotFound},
		{"BANKNIFTY-I", "BANKNIFTY-I", expiryDay, "NFO:BANKNIFTY26MARFUT", nil},
		{"BANKNIFTY-I after its last expiry", "BANKNIFTY-I", atClose, "", instruments.ErrNotFound},
		{"continuous qualified", "NFO:NIFTY-I", expiryDay, "NFO:NIFTY26MARFUT", nil},
		{"continuous wrong exchange", "NSE:NIFTY-I", expiryDay, "", instruments.ErrNotFound},
		{"continuous unknown underlying", "FOO-I", expiryDay, "", instruments.ErrNotFound},
		{"continuous -IV is not an alias", "NIFTY-IV", expiryDay, "", instruments.ErrNotFound},

		{"truedata weekly option (PROTOCOLS example)", "NIFTY26032423750CE", time.Time{}, "NFO:NIFTY2632423750CE", nil},
		{"truedata weekly put", "NIFTY26032423750PE", time.Time{}, "NFO:NIFTY2632423750PE", nil},
		{"truedata monthly option", "NIFTY26033023750CE", time.Time{}, "NFO:NIFTY26MAR23750CE", nil},
		{"truedata zero-padded strike", "NIFTY260324023750CE", time.Time{}, "", instruments.ErrNotFound},
		{"truedata strike written .0", "NIFTY26032423750.0CE", time.Time{}, "NFO:NIFTY2632423750CE", nil},
		{"truedata underlying ending in digits", "NIFTYNXT5026033070000CE", time.Time{}, "NFO:NIFTYNXT5026MAR70000CE", nil},
		{"truedata option of derived name", "BANKNIFTY18012523500CE", time.Time{}, "NFO:BANKNIFTY18JAN23500CE", nil},
		{"truedata unlisted strike", "NIFTY26032499999CE", time.Time{}, "", instruments.ErrNotFound},
		{"truedata unlisted type", "NIFTY26032423700PE", time.Time{}, "", instruments.ErrNotFound},
		{"truedata bad date", "NIFTY26133023750CE", time.Time{}, "", instruments.ErrNotFound},
		{"truedata qualified", "NFO:NIFTY26032423750CE", time.Time{}, "NFO:NIFTY2632423750CE", nil},
		{"truedata lower case", "nifty26032423750ce", time.Time{}, "NFO:NIFTY2632423750CE", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := m.ResolveAt(tt.in, tt.at)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ResolveAt(%q) = %s, %v; want %v", tt.in, got.Key(), err, tt.err)
				}
				if sym := strings.TrimSpace(tt.in); sym != "" && !strings.Contains(err.Error(), sym) {
					t.Errorf("error %q does not name %q", err, sym)
				}
				return
			}
			if err != nil || got.Key() != tt.want {
				t.Fatalf("ResolveAt(%q) = %s, %v; want %s", tt.in, got.Key(), err, tt.want)
			}
			if tt.at.IsZero() {
				if r, err := m.Resolve(tt.in); err != nil || r.Key() != tt.want {
					t.Errorf("Resolve(%q) = %s, %v; want %s", tt.in, r.Key(), err, tt.want)
				}
			}
		})
	}
}

func TestResolveAmbiguousListsCandidates(t *testing.T) {
	t.Parallel()
	_, err := sample(t).Resolve("RELIANCE")
	if err == nil || !strings.Contains(err.Error(), "BSE:RELIANCE") || !strings.Contains(err.Error(), "NSE:RELIANCE") {
		t.Fatalf("error %v does not list both candidates", err)
	}
}

func FuzzResolve(f *testing.F) {
	m, err := instruments.LoadKiteCSVFile("testdata/kite_sample.csv")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"NIFTY-I", "NIFTY26032423750CE", "NSE:NIFTY 50", "RELIANCE_BSE", ":", "-I", "CE", "NIFTY2603242CE", "NIFTYNXT5026033070000CE"} {
		f.Add(s, int64(1774864800))
	}
	f.Fuzz(func(t *testing.T, name string, unix int64) {
		in, err := m.ResolveAt(name, time.Unix(unix, 0))
		if err != nil {
			if !errors.Is(err, instruments.ErrNotFound) && !errors.Is(err, instruments.ErrAmbiguous) && !errors.Is(err, instruments.ErrNeedsTime) {
				t.Fatalf("ResolveAt(%q): unexpected error %v", name, err)
			}
			return
		}
		if got, ok := m.Lookup(in.Key()); !ok || got != in {
			t.Fatalf("ResolveAt(%q) = %+v, not in the master", name, in)
		}
	})
}
