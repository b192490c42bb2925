package zerodha

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

func TestParsePrice(t *testing.T) {
	cases := []struct {
		in    string
		want  domain.Price
		exact bool
	}{
		{"", 0, true},
		{"0", 0, true},
		{"100.05", 10005, true},
		{"24500", 2450000, true},
		{"24500.0500", 2450005, true},
		{"99.8333", 9983, false},
		{"582.666667", 58267, false},
		{"0.005", 1, false},   // half away from zero
		{"-0.005", -1, false}, // half away from zero
		{"0.0049", 0, false},
		{"-12.345", -1235, false},
		{"1e2", 10000, true},
		{"3.5999999999999943", 360, false},
	}
	for _, c := range cases {
		got, exact, err := parsePrice(json.Number(c.in))
		if err != nil || got != c.want || exact != c.exact {
			t.Errorf("parsePrice(%q) = %v, %v, %v; want %v, %v", c.in, got, exact, err, c.want, c.exact)
		}
	}
	for _, bad := range []string{"abc", "1/3x", "1e400"} {
		if _, _, err := parsePrice(json.Number(bad)); err == nil {
			t.Errorf("parsePrice(%q): no error", bad)
		}
	}
}

func TestParseQty(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "75": 75, "-150": -150, "75.0": 75, "1e3": 1000} {
		if got, err := parseQty(json.Number(in)); err != nil || got != want {
			t.Errorf("parseQty(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"75.5", "x"} {
		if _, err := parseQty(json.Number(bad)); err == nil {
			t.Errorf("parseQty(%q): no error", bad)
		}
	}
}

func TestKiteTime(t *testing.T) {
	var v struct {
		A, B, C, D, E kiteTime
	}
	err := json.Unmarshal([]byte(`{"A":"2026-11-23 09:15:01","B":"2026-11-23","C":null,"D":"garbage","E":"2026-11-23T09:15:01+05:30"}`), &v)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 23, 9, 15, 1, 0, domain.IST())
	if !v.A.Equal(want) || !v.B.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, domain.IST())) || !v.C.IsZero() || !v.D.IsZero() || !v.E.Equal(want) {
		t.Errorf("times %v", v)
	}
}

func TestValidTag(t *testing.T) {
	for s, want := range map[string]bool{"A234567ABCDEFGHIJKLM": true, "A234567ABCDEFGHIJKLMN": false, "": false, "ab-c": false, "abc": true} {
		if validTag(s) != want {
			t.Errorf("validTag(%q) = %v", s, !want)
		}
	}
}
