package api

import (
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/algoauto/algoauto/domain"
)

// optionParams are the parameters GET /api/v1/options/greeks takes.
var optionParams = []string{"type", "spot", "strike", "days", "rate", "dividend", "vol", "premium"}

// handleOptionGreeks serves GET /api/v1/options/greeks: a Black-Scholes-
// Merton calculator (domain.OptionInputs) over the query
// type=CE|PE&spot=&strike=&days=&rate=&dividend= and vol= (to price the
// option) or premium= (to solve its implied volatility, then price at it).
// rate, dividend and vol are annual decimals (0.07 = 7 %); rate and
// dividend default to 0; days are calendar days, fractions allowed. It
// answers domain.OptionValue: theta per calendar day, vega and rho per 1 %.
//
// It reads no account data; like every /api/v1 route it needs a token when
// the server has auth. Every bad input is 400 naming the parameter,
// including an unknown or repeated one (a typo such as div= would
// otherwise price silently at the default).
func (s *Server) handleOptionGreeks(w http.ResponseWriter, r *http.Request) {
	in, premium, err := optionQuery(r.URL.Query())
	if err == nil && premium > 0 {
		in.Vol, err = in.ImpliedVol(premium)
	}
	var v domain.OptionValue
	if err == nil {
		v, err = in.Value()
	}
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		err = invalid(fe.Field, "%s", fe.Reason)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// optionQuery parses the calculator's query; premium is 0 when vol is
// given instead. Ranges are domain.OptionInputs' to check.
func optionQuery(q url.Values) (in domain.OptionInputs, premium float64, err error) {
	for _, n := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(optionParams, n):
			return in, 0, invalid(n, "unknown parameter; the calculator takes type, spot, strike, days, rate, dividend and vol or premium")
		case len(q[n]) > 1:
			return in, 0, invalid(n, "given %d times, want once", len(q[n]))
		}
	}
	switch t := domain.InstrumentType(q.Get("type")); {
	case !q.Has("type"):
		return in, 0, invalid("type", "required: CE (call) or PE (put)")
	case !t.IsOption():
		return in, 0, invalid("type", "must be CE (call) or PE (put), got %q", t)
	default:
		in.Type = t
	}
	for _, p := range []struct {
		name     string
		dst      *float64
		required bool
	}{
		{"spot", &in.Spot, true}, {"strike", &in.Strike, true}, {"days", &in.Days, true},
		{"rate", &in.Rate, false}, {"dividend", &in.Dividend, false},
		{"vol", &in.Vol, false}, {"premium", &premium, false},
	} {
		if !q.Has(p.name) {
			if p.required {
				return in, 0, invalid(p.name, "required")
			}
			continue
		}
		v := q.Get(p.name)
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return in, 0, invalid(p.name, "must be a finite decimal number, got %q", v)
		}
		*p.dst = f
	}
	switch {
	case q.Has("vol") && q.Has("premium"):
		return in, 0, invalid("vol", "give vol (to price the option) or premium (to solve its implied volatility), not both")
	case !q.Has("vol") && !q.Has("premium"):
		return in, 0, invalid("vol", "required, or premium= to solve the implied volatility")
	case q.Has("premium") && premium <= 0:
		return in, 0, invalid("premium", "must be > 0, got %s", q.Get("premium"))
	}
	return in, premium, nil
}
