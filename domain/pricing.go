package domain

import "math"

// This file prices European options with Black-Scholes-Merton under a
// continuous dividend yield q (cost of carry b = r - q) and inverts the
// price for the implied volatility. It is the one float64 corner of the
// domain: Greeks, IV and statistics are not money.
//
//	d1 = [ln(S/K) + (r - q + σ²/2)T] / (σ√T),  d2 = d1 - σ√T
//	call = S e^{-qT} N(d1) - K e^{-rT} N(d2)
//	put  = K e^{-rT} N(-d2) - S e^{-qT} N(-d1)
//
// T is Days/365 (calendar days). The Greeks follow the convention of
// Greeks on ticks: theta per calendar day (per year / 365), vega and rho
// per 1 % (per 1.00 / 100). N is computed with math.Erfc, which keeps its
// relative accuracy far into both tails.

// Pricing constants and the ranges OptionInputs accepts.
const (
	// DaysPerYear converts calendar days to the T of the formulas and the
	// per-year theta to per day.
	DaysPerYear = 365.0
	// MinVol and MaxVol bound Vol (0.01 % to 1000 %) and the implied
	// volatility search.
	MinVol = 1e-4
	MaxVol = 10.0
	// MaxOptionDays bounds Days (ten years; listed index options run five).
	MaxOptionDays = 3650.0
	// MaxRate bounds the absolute Rate and Dividend (100 %).
	MaxRate = 1.0
)

const pricingType = "OptionInputs"

// OptionInputs are the inputs of a European option's value. Rate, Dividend
// and Vol are continuously compounded annual decimals (0.07 = 7 %).
type OptionInputs struct {
	Type     InstrumentType // InstrumentCall or InstrumentPut
	Spot     float64        // underlying price, > 0
	Strike   float64        // > 0
	Days     float64        // calendar days to expiry, fractions allowed: (0, MaxOptionDays]
	Rate     float64        // risk-free rate r, in [-MaxRate, MaxRate]
	Dividend float64        // dividend yield q, in [-MaxRate, MaxRate]
	Vol      float64        // volatility σ, in [MinVol, MaxVol]; ignored by ImpliedVol
}

// OptionValue is an option's price and Greeks. Greeks.IV is the volatility
// the value was computed at (the input Vol, or the one implied by a
// premium); theta is per calendar day, vega and rho per 1 %.
type OptionValue struct {
	Price float64 `json:"price"`
	Greeks
}

// Value prices the option and its Greeks. It returns a *FieldError naming
// "type", "spot", "strike", "days", "rate", "dividend" or "vol" when an
// input is missing, not finite or out of range.
func (in OptionInputs) Value() (OptionValue, error) {
	if err := in.validate(); err != nil {
		return OptionValue{}, err
	}
	if err := checkRange("vol", in.Vol, MinVol, MaxVol); err != nil {
		return OptionValue{}, err
	}
	v := in.value()
	for _, x := range []float64{v.Price, v.Delta, v.Gamma, v.Theta, v.Vega, v.Rho} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return OptionValue{}, fieldErr(pricingType, "spot", "spot %g and strike %g are outside the range the model can price", in.Spot, in.Strike)
		}
	}
	return v, nil
}

// ImpliedVol returns the volatility at which the option is worth premium
// (in.Vol is ignored), to about 1e-12 where the price responds to it.
//
// It returns a *FieldError naming an input of Value but "vol", or
// "premium" when the premium is not positive and finite, is below the
// no-arbitrage lower bound (the discounted intrinsic value
// max(0, ±(S e^{-qT} - K e^{-rT}))), is at or above the upper bound
// (S e^{-qT} for a call, K e^{-rT} for a put), has no time value the model
// can resolve (it implies a volatility below MinVol) or implies one above
// MaxVol.
func (in OptionInputs) ImpliedVol(premium float64) (float64, error) {
	if err := in.validate(); err != nil {
		return 0, err
	}
	if math.IsNaN(premium) || math.IsInf(premium, 0) || premium <= 0 {
		return 0, fieldErr(pricingType, "premium", "must be a finite number > 0, got %g", premium)
	}
	T := in.Days / DaysPerYear
	fwdS := in.Spot * math.Exp(-in.Dividend*T) // S e^{-qT}
	pvK := in.Strike * math.Exp(-in.Rate*T)    // K e^{-rT}
	call := in.Type == InstrumentCall
	lower, upper := math.Max(0, pvK-fwdS), pvK
	if call {
		lower, upper = math.Max(0, fwdS-pvK), fwdS
	}
	if premium < lower {
		return 0, fieldErr(pricingType, "premium", "%g is below the no-arbitrage lower bound %g (the discounted intrinsic value)", premium, lower)
	}
	if premium >= upper {
		what := "S·e^(-qT)"
		if !call {
			what = "K·e^(-rT)"
		}
		return 0, fieldErr(pricingType, "premium", "%g is at or above the no-arbitrage upper bound %g (%s)", premium, upper, what)
	}
	// Solve on the out-of-the-money side (put-call parity: a call and a put
	// of one strike share their volatility); its price has no intrinsic
	// part to cancel, so small time values keep their precision.
	otm := in
	target := premium
	switch {
	case call && fwdS > pvK:
		otm.Type, target = InstrumentPut, premium-(fwdS-pvK)
	case !call && pvK > fwdS:
		otm.Type, target = InstrumentCall, premium-(pvK-fwdS)
	}
	f := func(vol float64) float64 {
		otm.Vol = vol
		return otm.price() - target
	}
	flo, fhi := f(MinVol), f(MaxVol)
	switch {
	case flo >= 0:
		return 0, fieldErr(pricingType, "premium", "%g has no time value over the lower bound %g that a volatility of at least %g%% explains", premium, lower, MinVol*100)
	case fhi < 0:
		return 0, fieldErr(pricingType, "premium", "%g implies a volatility above %g%%", premium, MaxVol*100)
	}
	vol, ok := brent(f, MinVol, MaxVol, flo, fhi, 1e-13)
	if !ok { // cannot happen: bisection halves the bracket at worst
		return 0, fieldErr(pricingType, "premium", "%g: the implied volatility search did not converge", premium)
	}
	return vol, nil
}

// validate checks every input but Vol.
func (in OptionInputs) validate() error {
	if !in.Type.IsOption() {
		return fieldErr(pricingType, "type", "must be %s or %s, got %q", InstrumentCall, InstrumentPut, in.Type)
	}
	for _, c := range []struct {
		field string
		v     float64
	}{{"spot", in.Spot}, {"strike", in.Strike}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) || c.v <= 0 {
			return fieldErr(pricingType, c.field, "must be a finite number > 0, got %g", c.v)
		}
	}
	if math.IsNaN(in.Days) || in.Days <= 0 || in.Days > MaxOptionDays {
		return fieldErr(pricingType, "days", "must be in (0, %g] (calendar days to expiry), got %g", MaxOptionDays, in.Days)
	}
	if err := checkRange("rate", in.Rate, -MaxRate, MaxRate); err != nil {
		return err
	}
	if err := checkRange("dividend", in.Dividend, -MaxRate, MaxRate); err != nil {
		return err
	}
	T := in.Days / DaysPerYear
	if x := in.Spot * math.Exp(-in.Dividend*T); math.IsInf(x, 0) || x == 0 {
		return fieldErr(pricingType, "spot", "%g is outside the range the model can price", in.Spot)
	}
	if x := in.Strike * math.Exp(-in.Rate*T); math.IsInf(x, 0) || x == 0 {
		return fieldErr(pricingType, "strike", "%g is outside the range the model can price", in.Strike)
	}
	return nil
}

func checkRange(field string, v, lo, hi float64) error {
	if math.IsNaN(v) || v < lo || v > hi {
		return fieldErr(pricingType, field, "must be in [%g, %g], got %g", lo, hi, v)
	}
	return nil
}

// normCDF is the standard normal distribution function.
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// normPDF is the standard normal density.
func normPDF(x float64) float64 { return math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi) }

// terms are the shared parts of the formulas.
type terms struct {
	T, sqrtT, fwdS, pvK, d1, d2 float64 // fwdS = S e^{-qT}, pvK = K e^{-rT}
}

func (in OptionInputs) terms() terms {
	T := in.Days / DaysPerYear
	sqrtT := math.Sqrt(T)
	sigT := in.Vol * sqrtT
	d1 := (math.Log(in.Spot/in.Strike) + (in.Rate-in.Dividend+0.5*in.Vol*in.Vol)*T) / sigT
	return terms{T: T, sqrtT: sqrtT, fwdS: in.Spot * math.Exp(-in.Dividend*T), pvK: in.Strike * math.Exp(-in.Rate*T),
		d1: d1, d2: d1 - sigT}
}

// price is the option's price, never below the no-arbitrage lower bound
// (rounding can take a deep option's closed form a few ulps under it).
func (in OptionInputs) price() float64 {
	t := in.terms()
	if in.Type == InstrumentCall {
		return math.Max(t.fwdS*normCDF(t.d1)-t.pvK*normCDF(t.d2), math.Max(0, t.fwdS-t.pvK))
	}
	return math.Max(t.pvK*normCDF(-t.d2)-t.fwdS*normCDF(-t.d1), math.Max(0, t.pvK-t.fwdS))
}

// value is Value without the checks.
func (in OptionInputs) value() OptionValue {
	t := in.terms()
	pdf := normPDF(t.d1)
	v := OptionValue{Price: in.price()}
	v.IV = in.Vol
	v.Gamma = t.fwdS / in.Spot * pdf / (in.Spot * in.Vol * t.sqrtT)
	v.Vega = t.fwdS * pdf * t.sqrtT / 100
	decay := -t.fwdS * pdf * in.Vol / (2 * t.sqrtT) // the σ part of theta, per year
	if in.Type == InstrumentCall {
		nd1, nd2 := normCDF(t.d1), normCDF(t.d2)
		v.Delta = t.fwdS / in.Spot * nd1
		v.Theta = (decay - in.Rate*t.pvK*nd2 + in.Dividend*t.fwdS*nd1) / DaysPerYear
		v.Rho = t.pvK * t.T * nd2 / 100
	} else {
		nd1, nd2 := normCDF(-t.d1), normCDF(-t.d2)
		v.Delta = -t.fwdS / in.Spot * nd1
		v.Theta = (decay + in.Rate*t.pvK*nd2 - in.Dividend*t.fwdS*nd1) / DaysPerYear
		v.Rho = -t.pvK * t.T * nd2 / 100
	}
	return v
}

// brent finds a root of f in [a, b], where fa = f(a) and fb = f(b) have
// opposite signs (or one is zero), by Brent's method: inverse quadratic
// interpolation or secant steps, falling back to bisection whenever they
// would not shrink the bracket fast enough, so it always converges. It
// stops when the bracket is narrower than about tol; ok is false if 200
// steps did not get there (it then returns the best estimate).
func brent(f func(float64) float64, a, b, fa, fb, tol float64) (root float64, ok bool) {
	const eps = 0x1p-52
	c, fc := b, fb
	var d, e float64
	for range 200 {
		if (fb > 0) == (fc > 0) && fb != 0 && fc != 0 {
			c, fc = a, fa
			d = b - a
			e = d
		}
		if math.Abs(fc) < math.Abs(fb) {
			a, b, c = b, c, b
			fa, fb, fc = fb, fc, fb
		}
		tol1 := 2*eps*math.Abs(b) + 0.5*tol
		xm := 0.5 * (c - b)
		if math.Abs(xm) <= tol1 || fb == 0 {
			return b, true
		}
		if math.Abs(e) >= tol1 && math.Abs(fa) > math.Abs(fb) {
			s := fb / fa
			var p, q float64
			if a == c { // secant
				p = 2 * xm * s
				q = 1 - s
			} else { // inverse quadratic interpolation
				q = fa / fc
				r := fb / fc
				p = s * (2*xm*q*(q-r) - (b-a)*(r-1))
				q = (q - 1) * (r - 1) * (s - 1)
			}
			if p > 0 {
				q = -q
			}
			p = math.Abs(p)
			if 2*p < math.Min(3*xm*q-math.Abs(tol1*q), math.Abs(e*q)) {
				e = d
				d = p / q
			} else {
				d = xm
				e = d
			}
		} else {
			d = xm
			e = d
		}
		a, fa = b, fb
		if math.Abs(d) > tol1 {
			b += d
		} else {
			b += math.Copysign(tol1, xm)
		}
		fb = f(b)
	}
	return b, false
}
