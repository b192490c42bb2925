package domain_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/algoauto/algoauto/domain"
)

func TestParsePrice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    domain.Price
		wantErr string // substring of the error; "" means success
	}{
		{in: "0", want: 0},
		{in: "1", want: 100},
		{in: "0.01", want: 1},
		{in: "0.1", want: 10},
		{in: "24500.05", want: 2450005},
		{in: "24500.5", want: 2450050},
		{in: "-3", want: -300},
		{in: "-0.05", want: -5},
		{in: "+7.1", want: 710},
		{in: ".5", want: 50},
		{in: "-.5", want: -50},
		{in: "5.", want: 500},
		{in: "0.50", want: 50},
		{in: "1.0500", want: 105},
		{in: "1.00000000", want: 100},
		{in: " 42.10 ", want: 4210},
		{in: "92233720368547757.99", want: 9223372036854775799}, // the largest accepted
		{in: "-92233720368547757.99", want: -9223372036854775799},
		{in: "1.005", wantErr: "more precise than a paisa"},
		{in: "0.001", wantErr: "more precise than a paisa"},
		{in: "1.0501", wantErr: "more precise than a paisa"},
		{in: "1e5", wantErr: "not a decimal number"},
		{in: "1E5", wantErr: "not a decimal number"},
		{in: "abc", wantErr: "not a decimal number"},
		{in: "0x10", wantErr: "not a decimal number"},
		{in: "1,000", wantErr: "not a decimal number"},
		{in: "1_000", wantErr: "not a decimal number"},
		{in: "--3", wantErr: "not a decimal number"},
		{in: "+-3", wantErr: "not a decimal number"},
		{in: "1.5.5", wantErr: "price"},
		{in: "1.-5", wantErr: "not a decimal number"},
		{in: "", wantErr: "empty"},
		{in: "   ", wantErr: "empty"},
		{in: "-", wantErr: "no digits"},
		{in: ".", wantErr: "no digits"},
		{in: "-.", wantErr: "no digits"},
		{in: "92233720368547758", wantErr: "out of range"},
		{in: "-92233720368547758", wantErr: "out of range"},
		{in: "99999999999999999999", wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := domain.ParsePrice(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParsePrice(%q) = %d, want an error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePrice(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrice(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParsePrice(%q) = %d paise, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestPriceString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    domain.Price
		want string
	}{
		{0, "0.00"},
		{1, "0.01"},
		{10, "0.10"},
		{100, "1.00"},
		{2450005, "24500.05"},
		{-300, "-3.00"},
		{-5, "-0.05"},
		{domain.Rupees(24500), "24500.00"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("Price(%d).String() = %q, want %q", int64(tt.p), got, tt.want)
		}
	}
}

// TestPriceStringParseRoundTrip checks that String's output parses back to
// the same price over a spread of values.
func TestPriceStringParseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, p := range []domain.Price{0, 1, -1, 99, -99, 100, 2450005, -2450005, 9223372036854775799, -9223372036854775799} {
		got, err := domain.ParsePrice(p.String())
		if err != nil {
			t.Fatalf("ParsePrice(%q): %v", p.String(), err)
		}
		if got != p {
			t.Fatalf("ParsePrice(%q) = %d, want %d", p.String(), got, p)
		}
	}
}

func TestPriceJSON(t *testing.T) {
	t.Parallel()
	type holder struct {
		P domain.Price `json:"p"`
	}
	// Marshal writes a bare JSON number with two decimals.
	b, err := json.Marshal(holder{P: 2450005})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"p":24500.05}` {
		t.Fatalf("Marshal = %s, want {\"p\":24500.05}", b)
	}
	// Round trip over a spread of values.
	for _, p := range []domain.Price{0, 1, -1, 5, 50, 2450005, -2450005, domain.Rupees(1_00_00_000)} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal(%d): %v", p, err)
		}
		var got domain.Price
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if got != p {
			t.Fatalf("round trip of %d via %s = %d", p, b, got)
		}
	}

	unmarshal := []struct {
		in      string
		want    domain.Price
		wantErr string
	}{
		{in: `24500.05`, want: 2450005},
		{in: `"24500.05"`, want: 2450005},
		{in: `-3`, want: -300},
		{in: `"0.5"`, want: 50},
		{in: `1.0500`, want: 105},
		{in: `1e5`, wantErr: "exponent"},
		{in: `2.45E4`, wantErr: "exponent"},
		{in: `"1e5"`, wantErr: "exponent"},
		{in: `1.005`, wantErr: "more precise than a paisa"},
		{in: `"abc"`, wantErr: "not a decimal number"},
		{in: `""`, wantErr: "empty"},
		{in: `true`, wantErr: "price"},
		{in: `"\u0031"`, wantErr: "price"}, // escapes are not decoded: refused, not misread
	}
	for _, tt := range unmarshal {
		var h holder
		err := json.Unmarshal([]byte(`{"p":`+tt.in+`}`), &h)
		if tt.wantErr != "" {
			if err == nil {
				t.Errorf("Unmarshal(%s) = %d, want an error containing %q", tt.in, h.P, tt.wantErr)
			} else if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Unmarshal(%s) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if h.P != tt.want {
			t.Errorf("Unmarshal(%s) = %d, want %d", tt.in, h.P, tt.want)
		}
	}

	// null leaves the price as it was.
	h := holder{P: 123}
	if err := json.Unmarshal([]byte(`{"p":null}`), &h); err != nil {
		t.Fatalf("Unmarshal(null): %v", err)
	}
	if h.P != 123 {
		t.Fatalf("Unmarshal(null) changed the price to %d", h.P)
	}
}

func TestPriceRoundToTick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p, tick, want domain.Price
	}{
		// NSE F&O tick of 5 paise.
		{2450005, 5, 2450005},
		{2450000, 5, 2450000},
		{2450001, 5, 2450000},
		{2450002, 5, 2450000},
		{2450003, 5, 2450005},
		{2450004, 5, 2450005},
		{2450007, 5, 2450005},
		{2450008, 5, 2450010},
		{-2450002, 5, -2450000},
		{-2450003, 5, -2450005},
		{-2450008, 5, -2450010},
		// Exactly half way goes away from zero.
		{15, 10, 20},
		{25, 10, 30},
		{-15, 10, -20},
		{-25, 10, -30},
		{14, 10, 10},
		{-14, 10, -10},
		{16, 10, 20},
		{-16, 10, -20},
		{1, 2, 2},
		{-1, 2, -2},
		{0, 5, 0},
		{3, 5, 5},
		{-3, 5, -5},
		{2, 5, 0},
		{-2, 5, 0},
		// A non-positive tick leaves the price alone.
		{2450003, 0, 2450003},
		{2450003, -5, 2450003},
		{2450003, 1, 2450003},
	}
	for _, tt := range tests {
		if got := tt.p.RoundToTick(tt.tick); got != tt.want {
			t.Errorf("Price(%d).RoundToTick(%d) = %d, want %d", tt.p, tt.tick, got, tt.want)
		}
	}
}

func TestRupees(t *testing.T) {
	t.Parallel()
	if got := domain.Rupees(24500); got != 2450000 {
		t.Fatalf("Rupees(24500) = %d paise, want 2450000", got)
	}
	if got := domain.Rupees(-3); got != -300 {
		t.Fatalf("Rupees(-3) = %d paise, want -300", got)
	}
}
