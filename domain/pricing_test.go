package domain_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/algoauto/algoauto/domain"
)

// years builds inputs from T in years, as the reference tables give it.
func years(typ domain.InstrumentType, s, k, t, r, q, vol float64) domain.OptionInputs {
	return domain.OptionInputs{Type: typ, Spot: s, Strike: k, Days: t * domain.DaysPerYear, Rate: r, Dividend: q, Vol: vol}
}

func mustValue(t *testing.T, in domain.OptionInputs) domain.OptionValue {
	t.Helper()
	v, err := in.Value()
	if err != nil {
		t.Fatalf("%+v: %v", in, err)
	}
	return v
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func stdNormCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// check is one reference value: got is read from the value, want is the
// reference, tol the tolerance.
type check struct {
	name      string
	got       func(domain.OptionValue) float64
	want, tol float64
}

var (
	price = func(v domain.OptionValue) float64 { return v.Price }
	delta = func(v domain.OptionValue) float64 { return v.Delta }
	gamma = func(v domain.OptionValue) float64 { return v.Gamma }
	// The per-year and per-1.00 figures of the tables, from ours.
	thetaYear = func(v domain.OptionValue) float64 { return v.Theta * 365 }
	thetaDay  = func(v domain.OptionValue) float64 { return v.Theta }
	vegaOne   = func(v domain.OptionValue) float64 { return v.Vega * 100 }
	vegaPct   = func(v domain.OptionValue) float64 { return v.Vega }
	rhoOne    = func(v domain.OptionValue) float64 { return v.Rho * 100 }
	rhoPct    = func(v domain.OptionValue) float64 { return v.Rho }
)

// TestBlackScholesReferenceValues checks every row of PROTOCOLS.md §5:
// published values to 1e-4 (or half their last digit when the source
// rounds coarser), the "computed" column to 1e-6.
func TestBlackScholesReferenceValues(t *testing.T) {
	t.Parallel()
	const pub, comp = 1e-4, 1e-6
	r1c := years(domain.InstrumentCall, 42, 40, 0.5, 0.10, 0, 0.20)
	r1p := years(domain.InstrumentPut, 42, 40, 0.5, 0.10, 0, 0.20)
	r2 := years(domain.InstrumentCall, 49, 50, 0.3846, 0.05, 0, 0.20)
	r3 := years(domain.InstrumentPut, 49, 50, 0.3846, 0.05, 0, 0.20)
	for _, c := range []struct {
		row    string
		in     domain.OptionInputs
		checks []check
	}{
		{"1 call (Hull 13.6)", r1c, []check{
			// Published d1 = 0.7693, d2 = 0.6278: Δc = N(d1), ρc = K T e^{-rT} N(d2).
			{"delta = N(d1)", delta, stdNormCDF(0.7693), pub},
			{"N(d2) from rho", func(v domain.OptionValue) float64 { return v.Rho * 100 / (40 * 0.5 * math.Exp(-0.05)) }, stdNormCDF(0.6278), pub},
			{"price", price, 4.759422, comp}, {"price (textbook 4.76)", price, 4.76, 5e-3},
			{"delta", delta, 0.779131, comp}, {"gamma", gamma, 0.049963, comp}, {"vega", vegaOne, 8.813415, comp},
		}},
		{"1 put (Hull 13.6)", r1p, []check{
			{"delta = N(d1) - 1", delta, stdNormCDF(0.7693) - 1, pub},
			{"price", price, 0.808599, comp}, {"price (textbook 0.81)", price, 0.81, 5e-3},
			{"delta", delta, -0.220869, comp}, {"gamma", gamma, 0.049963, comp}, {"vega", vegaOne, 8.813415, comp},
		}},
		{"2 call (Hull 17.1-17.7)", r2, []check{
			// Hull's text rounds: half a unit of its last digit.
			{"delta (Hull)", delta, 0.522, 5e-4}, {"gamma (Hull)", gamma, 0.066, 5e-4},
			{"theta/yr (Hull)", thetaYear, -4.31, 5e-3}, {"vega per 1% (Hull)", vegaPct, 0.121, 5e-4},
			{"rho per 1% (Hull)", rhoPct, 0.0891, 5e-5},
			{"price", price, 2.400461, comp}, {"delta", delta, 0.521602, comp}, {"gamma", gamma, 0.065545, comp},
			{"theta/yr", thetaYear, -4.305390, comp}, {"theta/day", thetaDay, -0.011796, comp},
			{"vega/1.00", vegaOne, 12.105243, comp}, {"vega/1%", vegaPct, 0.121052, comp},
			{"rho/1.00", rhoOne, 8.906574, comp}, {"rho/1%", rhoPct, 0.089066, comp},
		}},
		{"3 put (py_vollib theta)", r3, []check{
			{"theta/yr (published)", thetaYear, -1.8530056722, comp},
			{"price", price, 2.448147, comp}, {"delta", delta, -0.478398, comp},
			{"theta/yr", thetaYear, -1.853006, comp}, {"rho/1.00", rhoOne, -9.957166, comp},
		}},
		{"11 call (py_vollib)", years(domain.InstrumentCall, 100, 90, 0.5, 0.01, 0, 0.20), []check{
			{"price", price, 12.111581435, comp},
		}},
		{"11 put (py_vollib)", years(domain.InstrumentPut, 100, 90, 0.5, 0.01, 0, 0.20), []check{
			{"price", price, 1.66270456231, comp},
		}},
		{"12 call (py_vollib IV)", years(domain.InstrumentCall, 100, 100, 0.5, 0.01, 0, 0.20), []check{
			{"price", price, 5.87602423383, comp},
		}},
		// QuantLib/Haug, b = r - q = 0: the ATM-forward call and put are equal.
		{"QuantLib call b=0", years(domain.InstrumentCall, 100, 100, 0.5, 0.10, 0.10, 0.25), []check{
			{"price", price, 6.6997, pub},
		}},
		{"QuantLib put b=0", years(domain.InstrumentPut, 100, 100, 0.5, 0.10, 0.10, 0.25), []check{
			{"price", price, 6.6997, pub},
		}},
	} {
		v := mustValue(t, c.in)
		if v.IV != c.in.Vol {
			t.Errorf("row %s: iv %v, want the input vol %v", c.row, v.IV, c.in.Vol)
		}
		for _, ch := range c.checks {
			if got := ch.got(v); !near(got, ch.want, ch.tol) {
				t.Errorf("row %s: %s = %.10f, want %.10f ± %g", c.row, ch.name, got, ch.want, ch.tol)
			}
		}
	}
}

// TestImpliedVolReferenceValues inverts the reference premiums.
func TestImpliedVolReferenceValues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		in        domain.OptionInputs
		premium   float64
		want, tol float64
	}{
		{"row 12 (py_vollib)", years(domain.InstrumentCall, 100, 100, 0.5, 0.01, 0, 0), 5.87602423383, 0.2, 1e-6},
		{"row 1 call at 2 dp", years(domain.InstrumentCall, 42, 40, 0.5, 0.10, 0, 0), 4.76, 0.200066, 1e-6},
		{"row 1 put at 2 dp", years(domain.InstrumentPut, 42, 40, 0.5, 0.10, 0, 0), 0.81, 0.200159, 1e-6},
		{"row 1 call at 2 dp vs 0.2", years(domain.InstrumentCall, 42, 40, 0.5, 0.10, 0, 0), 4.76, 0.2, 1e-3},
		{"row 1 put at 2 dp vs 0.2", years(domain.InstrumentPut, 42, 40, 0.5, 0.10, 0, 0), 0.81, 0.2, 1e-3},
		{"row 2 call", years(domain.InstrumentCall, 49, 50, 0.3846, 0.05, 0, 0), 2.400461, 0.2, 1e-5},
		{"row 3 put", years(domain.InstrumentPut, 49, 50, 0.3846, 0.05, 0, 0), 2.448147, 0.2, 1e-5},
		{"row 11 call", years(domain.InstrumentCall, 100, 90, 0.5, 0.01, 0, 0), 12.111581435, 0.2, 1e-8},
		{"row 11 put", years(domain.InstrumentPut, 100, 90, 0.5, 0.01, 0, 0), 1.66270456231, 0.2, 1e-8},
		{"QuantLib b=0", years(domain.InstrumentPut, 100, 100, 0.5, 0.10, 0.10, 0), 6.6997, 0.25, 1e-4},
	} {
		iv, err := c.in.ImpliedVol(c.premium)
		if err != nil || !near(iv, c.want, c.tol) {
			t.Errorf("%s: IV(%v) = %.8f, %v; want %.8f ± %g", c.name, c.premium, iv, err, c.want, c.tol)
		}
	}
}

// TestGreeksScaling checks the units against finite differences of the
// price, with a dividend yield: theta is the change per calendar day (as
// expiry approaches), vega and rho per 1 % (0.01) of vol and rate.
func TestGreeksScaling(t *testing.T) {
	t.Parallel()
	for _, in := range []domain.OptionInputs{
		{Type: domain.InstrumentCall, Spot: 24350, Strike: 24500, Days: 9.5, Rate: 0.065, Dividend: 0.012, Vol: 0.14},
		{Type: domain.InstrumentPut, Spot: 24350, Strike: 24500, Days: 9.5, Rate: 0.065, Dividend: 0.012, Vol: 0.14},
		{Type: domain.InstrumentCall, Spot: 100, Strike: 80, Days: 200, Rate: 0.03, Dividend: 0.05, Vol: 0.35},
		{Type: domain.InstrumentPut, Spot: 100, Strike: 130, Days: 700, Rate: -0.01, Dividend: 0.02, Vol: 0.5},
	} {
		v := mustValue(t, in)
		at := func(f func(*domain.OptionInputs)) float64 {
			x := in
			f(&x)
			return mustValue(t, x).Price
		}
		diff := func(h float64, f func(*domain.OptionInputs, float64)) float64 {
			up := at(func(x *domain.OptionInputs) { f(x, h) })
			down := at(func(x *domain.OptionInputs) { f(x, -h) })
			return (up - down) / (2 * h)
		}
		hs := in.Spot * 1e-4
		fd := map[string][2]float64{
			"delta": {v.Delta, diff(hs, func(x *domain.OptionInputs, h float64) { x.Spot += h })},
			"gamma": {v.Gamma, (at(func(x *domain.OptionInputs) { x.Spot += hs }) - 2*v.Price + at(func(x *domain.OptionInputs) { x.Spot -= hs })) / (hs * hs)},
			// Theta per calendar day: minus the change per day of Days.
			"theta": {v.Theta, -diff(1e-3, func(x *domain.OptionInputs, h float64) { x.Days += h })},
			"vega":  {v.Vega, diff(1e-5, func(x *domain.OptionInputs, h float64) { x.Vol += h }) * 0.01},
			"rho":   {v.Rho, diff(1e-5, func(x *domain.OptionInputs, h float64) { x.Rate += h }) * 0.01},
		}
		for name, g := range fd {
			if !near(g[0], g[1], 1e-5*math.Max(1, math.Abs(g[1]))) {
				t.Errorf("%+v: %s = %.9g, finite difference %.9g", in, name, g[0], g[1])
			}
		}
	}
}

// TestPutCallParity checks parity of prices and Greeks with carry.
func TestPutCallParity(t *testing.T) {
	t.Parallel()
	for _, s := range []float64{50, 95, 100, 105, 250} {
		for _, days := range []float64{0.2, 3, 30, 365, 1500} {
			for _, rq := range [][2]float64{{0, 0}, {0.07, 0}, {0.065, 0.015}, {0.02, 0.08}, {-0.005, 0}} {
				call := domain.OptionInputs{Type: domain.InstrumentCall, Spot: s, Strike: 100, Days: days, Rate: rq[0], Dividend: rq[1], Vol: 0.3}
				put := call
				put.Type = domain.InstrumentPut
				c, p := mustValue(t, call), mustValue(t, put)
				T := days / 365
				fwdS, pvK := s*math.Exp(-rq[1]*T), 100*math.Exp(-rq[0]*T)
				for _, ch := range []struct {
					name      string
					got, want float64
				}{
					{"C - P", c.Price - p.Price, fwdS - pvK},
					{"Δc - Δp", c.Delta - p.Delta, math.Exp(-rq[1] * T)},
					{"Γc - Γp", c.Gamma - p.Gamma, 0},
					{"vega c - p", c.Vega - p.Vega, 0},
					{"Θc - Θp", c.Theta - p.Theta, (rq[1]*fwdS - rq[0]*pvK) / 365},
					{"ρc - ρp", c.Rho - p.Rho, pvK * T / 100},
				} {
					if !near(ch.got, ch.want, 1e-10*s) {
						t.Errorf("%+v: %s = %.12g, want %.12g", call, ch.name, ch.got, ch.want)
					}
				}
			}
		}
	}
}

// vegaNegligible reports whether the price barely moves with vol: vega per
// 1.00 below 1e-8 of the spot, where float64 rounding of the price hides σ
// (above it, σ resolves to better than 1e-7).
func vegaNegligible(in domain.OptionInputs, v domain.OptionValue) bool {
	return v.Vega*100 < 1e-8*in.Spot
}

// checkRoundTrip prices in and inverts the price. Where the vega is not
// negligible the IV is the input vol to 1e-6; elsewhere IV either reprices
// to the premium or is refused as a premium without resolvable time value.
// It reports whether the vol was checked.
func checkRoundTrip(t *testing.T, in domain.OptionInputs) bool {
	t.Helper()
	v := mustValue(t, in)
	iv, err := in.ImpliedVol(v.Price)
	if !vegaNegligible(in, v) {
		if err != nil || !near(iv, in.Vol, 1e-6) {
			t.Errorf("%+v (price %.17g, vega %g): IV %.12f, %v", in, v.Price, v.Vega, iv, err)
		}
		return true
	}
	var fe *domain.FieldError
	switch {
	case errors.As(err, &fe) && fe.Field == "premium":
	case err != nil:
		t.Errorf("%+v (price %.17g): IV error %v, want a premium error", in, v.Price, err)
	default:
		x := in
		x.Vol = iv
		if re := mustValue(t, x).Price; !near(re, v.Price, 1e-9*in.Spot) {
			t.Errorf("%+v: IV %g reprices %.17g, premium %.17g", in, iv, re, v.Price)
		}
	}
	return false
}

// TestImpliedVolRoundTrip inverts prices over strikes from deep in to deep
// out of the money, vols from 1 % to 500 % and expiries from an hour to
// ten years, with and without carry.
func TestImpliedVolRoundTrip(t *testing.T) {
	t.Parallel()
	checked, total := 0, 0
	for _, typ := range []domain.InstrumentType{domain.InstrumentCall, domain.InstrumentPut} {
		for _, k := range []float64{10000, 18000, 22000, 23900, 24000, 24100, 26000, 30000, 48000} {
			for _, vol := range []float64{0.01, 0.05, 0.12, 0.2, 0.45, 1, 2.5, 5} {
				for _, days := range []float64{1.0 / 24, 0.5, 1, 2, 7, 30, 91, 365, 3650} {
					for _, rq := range [][2]float64{{0, 0}, {0.07, 0}, {0.065, 0.013}} {
						in := domain.OptionInputs{Type: typ, Spot: 24000, Strike: k, Days: days, Rate: rq[0], Dividend: rq[1], Vol: vol}
						total++
						if checkRoundTrip(t, in) {
							checked++
						}
					}
				}
			}
		}
	}
	// Most of the grid has a vega to resolve; the rest is deep in or out
	// of the money close to expiry or at low vols.
	if checked < total/2 {
		t.Errorf("only %d of %d grid points had a non-negligible vega", checked, total)
	}
	t.Logf("%d of %d grid points checked to 1e-6", checked, total)
}

// FuzzImpliedVolRoundTrip: IV(price(σ)) = σ to 1e-6 wherever the vega is
// not negligible, for any inputs in range.
func FuzzImpliedVolRoundTrip(f *testing.F) {
	f.Add(false, 24000.0, 1.0, 7.0, 0.07, 0.0, 0.15)
	f.Add(true, 49.0, 50.0/49, 140.0, 0.05, 0.0, 0.2)
	f.Add(false, 100.0, 0.5, 0.1, 0.0, 0.0, 0.3)
	f.Add(true, 100.0, 1.8, 3000.0, -0.01, 0.05, 2.0)
	f.Fuzz(func(t *testing.T, put bool, spot, moneyness, days, rate, div, vol float64) {
		for _, x := range []float64{spot, moneyness, days, rate, div, vol} {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Skip()
			}
		}
		// Fold each input into its range.
		spot = 1 + math.Mod(math.Abs(spot), 1e6)
		in := domain.OptionInputs{
			Type: domain.InstrumentCall, Spot: spot, Strike: spot * (0.2 + math.Mod(math.Abs(moneyness), 4.8)),
			Days: 0.01 + math.Mod(math.Abs(days), domain.MaxOptionDays-0.01),
			Rate: math.Mod(rate, 0.3), Dividend: math.Mod(div, 0.2), Vol: 0.005 + math.Mod(math.Abs(vol), 5),
		}
		if put {
			in.Type = domain.InstrumentPut
		}
		checkRoundTrip(t, in)
	})
}

func TestPricingErrors(t *testing.T) {
	t.Parallel()
	good := domain.OptionInputs{Type: domain.InstrumentCall, Spot: 100, Strike: 100, Days: 30, Rate: 0.07, Vol: 0.2}
	with := func(f func(*domain.OptionInputs)) domain.OptionInputs {
		in := good
		f(&in)
		return in
	}
	for _, c := range []struct {
		name  string
		in    domain.OptionInputs
		field string
	}{
		{"no type", with(func(in *domain.OptionInputs) { in.Type = "" }), "type"},
		{"future", with(func(in *domain.OptionInputs) { in.Type = domain.InstrumentFuture }), "type"},
		{"zero spot", with(func(in *domain.OptionInputs) { in.Spot = 0 }), "spot"},
		{"negative spot", with(func(in *domain.OptionInputs) { in.Spot = -1 }), "spot"},
		{"NaN spot", with(func(in *domain.OptionInputs) { in.Spot = math.NaN() }), "spot"},
		{"infinite strike", with(func(in *domain.OptionInputs) { in.Strike = math.Inf(1) }), "strike"},
		{"zero strike", with(func(in *domain.OptionInputs) { in.Strike = 0 }), "strike"},
		{"expired (T = 0)", with(func(in *domain.OptionInputs) { in.Days = 0 }), "days"},
		{"T < 0", with(func(in *domain.OptionInputs) { in.Days = -1 }), "days"},
		{"NaN days", with(func(in *domain.OptionInputs) { in.Days = math.NaN() }), "days"},
		{"too long", with(func(in *domain.OptionInputs) { in.Days = domain.MaxOptionDays + 1 }), "days"},
		{"rate 150%", with(func(in *domain.OptionInputs) { in.Rate = 1.5 }), "rate"},
		{"NaN rate", with(func(in *domain.OptionInputs) { in.Rate = math.NaN() }), "rate"},
		{"dividend -150%", with(func(in *domain.OptionInputs) { in.Dividend = -1.5 }), "dividend"},
		{"zero vol", with(func(in *domain.OptionInputs) { in.Vol = 0 }), "vol"},
		{"negative vol", with(func(in *domain.OptionInputs) { in.Vol = -0.2 }), "vol"},
		{"vol above max", with(func(in *domain.OptionInputs) { in.Vol = domain.MaxVol * 1.01 }), "vol"},
		{"NaN vol", with(func(in *domain.OptionInputs) { in.Vol = math.NaN() }), "vol"},
		{"spot overflows", with(func(in *domain.OptionInputs) { in.Spot, in.Dividend, in.Days = math.MaxFloat64, -1, 3650 }), "spot"},
	} {
		_, err := c.in.Value()
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Type != "OptionInputs" {
			t.Errorf("%s: Value error %v, want a FieldError on %s", c.name, err, c.field)
		}
		if c.field == "vol" {
			continue // ImpliedVol ignores vol
		}
		_, err = c.in.ImpliedVol(1)
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: ImpliedVol error %v, want a FieldError on %s", c.name, err, c.field)
		}
	}

	// Premiums outside the no-arbitrage bounds, or that no vol in range
	// explains.
	itm := domain.OptionInputs{Type: domain.InstrumentCall, Spot: 120, Strike: 100, Days: 30, Rate: 0.07, Dividend: 0.01}
	T := 30.0 / 365
	fwdS, pvK := 120*math.Exp(-0.01*T), 100*math.Exp(-0.07*T)
	itmPut := itm
	itmPut.Type, itmPut.Spot = domain.InstrumentPut, 80
	fwdS80 := 80 * math.Exp(-0.01*T)
	otm := good
	otm.Strike = 150
	for _, c := range []struct {
		name    string
		in      domain.OptionInputs
		premium float64
		want    string // in the reason
	}{
		{"zero", good, 0, "> 0"},
		{"negative", good, -1, "> 0"},
		{"NaN", good, math.NaN(), "> 0"},
		{"Inf", good, math.Inf(1), "> 0"},
		{"call below discounted intrinsic", itm, (fwdS - pvK) * 0.999, "lower bound"},
		{"call below intrinsic, above discounted", itm, 20 - 1e-3, "lower bound"},
		{"put below discounted intrinsic", itmPut, (pvK - fwdS80) - 0.01, "lower bound"},
		{"call at its upper bound", itm, fwdS, "upper bound"},
		{"call above the spot", itm, 121, "upper bound"},
		{"put at its upper bound", itmPut, pvK, "upper bound"},
		{"call with no time value", itm, fwdS - pvK, "no time value"},
		{"OTM call implying > 1000%", otm, 99.5, "above 1000%"},
	} {
		iv, err := c.in.ImpliedVol(c.premium)
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != "premium" || !strings.Contains(fe.Reason, c.want) {
			t.Errorf("%s: ImpliedVol(%v) = %v, %v; want a premium error with %q", c.name, c.premium, iv, err, c.want)
		}
	}
}

// TestOptionValueJSON: the API answers an OptionValue as it marshals.
func TestOptionValueJSON(t *testing.T) {
	t.Parallel()
	v := domain.OptionValue{Price: 1, Greeks: domain.Greeks{IV: 2, Delta: 3, Gamma: 4, Theta: 5, Vega: 6, Rho: 7}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"price":1,"iv":2,"delta":3,"gamma":4,"theta":5,"vega":6,"rho":7}`; string(b) != want {
		t.Errorf("%s, want %s", b, want)
	}
}
