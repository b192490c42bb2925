package domain

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Price is an exact amount of Indian rupees in paise (1 rupee = 100 paise).
// It is used for prices, P&L and charges. In JSON it is written as a decimal
// number of rupees with two places (24500.05) and read back exactly, never
// through a float.
type Price int64

// Rupees returns a Price of r whole rupees.
func Rupees(r int64) Price { return Price(r * 100) }

// ParsePrice parses a decimal rupee amount such as "24500.05", "-3", "0.5"
// exactly. More than two decimal places is an error, not a rounding.
func ParsePrice(s string) (Price, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty price")
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("price %q: no digits", s)
	}
	if len(frac) > 2 {
		// Allow trailing zeros beyond paise (e.g. 24500.0500) but nothing else.
		if strings.Trim(frac[2:], "0") != "" {
			return 0, fmt.Errorf("price %q: more precise than a paisa", s)
		}
		frac = frac[:2]
	}
	if hasDot && frac == "" && whole == "" {
		return 0, fmt.Errorf("price %q: no digits", s)
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("price %q: not a decimal number", s)
		}
	}
	var w int64
	if whole != "" {
		v, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || v > math.MaxInt64/100-1 {
			return 0, fmt.Errorf("price %q: out of range", s)
		}
		w = v
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	p := w*100 + f
	if neg {
		p = -p
	}
	return Price(p), nil
}

// String renders the price as rupees with two decimals: "24500.05".
func (p Price) String() string {
	v := int64(p)
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign = "-"
		u = uint64(-v)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// MarshalJSON writes the price as a JSON number of rupees: 24500.05.
func (p Price) MarshalJSON() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalJSON reads a JSON number (or a string holding one) of rupees
// exactly.
func (p *Price) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if strings.ContainsAny(s, "eE") {
		return fmt.Errorf("price %s: exponent notation is not accepted", s)
	}
	v, err := ParsePrice(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// RoundToTick rounds p to the nearest multiple of tick (in paise), half away
// from zero. A non-positive tick returns p unchanged.
func (p Price) RoundToTick(tick Price) Price {
	if tick <= 0 {
		return p
	}
	r := int64(p) % int64(tick)
	base := int64(p) - r
	if r < 0 {
		r = -r
		if 2*r >= int64(tick) {
			return Price(base - int64(tick))
		}
		return Price(base)
	}
	if 2*r >= int64(tick) {
		return Price(base + int64(tick))
	}
	return Price(base)
}
