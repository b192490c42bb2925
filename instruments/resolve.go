package instruments

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// trueDataBSESuffix marks a BSE equity in TrueData ("ABB_BSE").
const trueDataBSESuffix = "_BSE"

// Resolve returns the instrument a name denotes, for names that do not
// depend on the time: a canonical key ("NFO:NIFTY26NOVFUT",
// "NSE:NIFTY 50"), a bare tradingsymbol that one exchange lists
// ("NIFTY 50", "NIFTY BANK"), a TrueData BSE equity ("ABB_BSE") or a
// TrueData option symbol ("NIFTY26032423750CE"). Continuous futures such
// as "NIFTY-I" fail with ErrNeedsTime: use ResolveAt. Errors name the
// symbol and wrap ErrNotFound or ErrAmbiguous.
func (m *Master) Resolve(name string) (domain.Instrument, error) {
	return m.ResolveAt(name, time.Time{})
}

// ResolveAt is Resolve with an as-of time, which must be event time, never
// the wall clock. It also accepts TrueData's continuous futures:
// "NIFTY-I" is the current-month future at at (see Future: it rolls at
// 15:30 IST on expiry day), "NIFTY-II" the next, "NIFTY-III" the one after.
// A zero at means no as-of time, as in Resolve.
func (m *Master) ResolveAt(name string, at time.Time) (domain.Instrument, error) {
	s := strings.TrimSpace(name)
	if s == "" {
		return domain.Instrument{}, fmt.Errorf("instruments: empty instrument name: %w", ErrNotFound)
	}
	in, err := m.resolve(s, at)
	if errors.Is(err, ErrNotFound) {
		if up := strings.ToUpper(s); up != s {
			if in2, err2 := m.resolve(up, at); !errors.Is(err2, ErrNotFound) {
				return in2, err2
			}
		}
	}
	return in, err
}

func (m *Master) resolve(s string, at time.Time) (domain.Instrument, error) {
	if i, ok := m.byKey[s]; ok {
		return m.insts[i], nil
	}
	exch, sym, qualified := strings.Cut(s, ":")
	if qualified && exch != "" && sym != "" && !strings.ContainsRune(sym, ':') {
		in, err := m.resolveBare(sym, exch, at)
		if err != nil {
			if errors.Is(err, ErrNotFound) && (exch == "CDS" || exch == "BCD") {
				return in, fmt.Errorf("instruments: %q: currency derivatives are not loaded (prices finer than a paisa): %w", s, ErrNotFound)
			}
			return in, err
		}
		return in, nil
	}
	return m.resolveBare(s, "", at)
}

// resolveBare resolves a name without an exchange prefix; exch, if not
// empty, restricts the result to that exchange.
func (m *Master) resolveBare(s, exch string, at time.Time) (domain.Instrument, error) {
	label := s // the name as given, for errors
	if exch != "" {
		label = exch + ":" + s
	}
	var idx []int
	for _, i := range m.bySym[s] {
		if exch == "" || m.insts[i].Exchange == exch {
			idx = append(idx, i)
		}
	}
	if len(idx) > 0 {
		return m.one(fmt.Sprintf("%q", label), idx)
	}
	if base, ok := strings.CutSuffix(s, trueDataBSESuffix); ok && base != "" && (exch == "" || exch == "BSE") {
		if i, ok := m.byKey["BSE:"+base]; ok {
			return m.insts[i], nil
		}
	}
	if u, n, ok := continuousFuture(s); ok && m.chains[u] != nil {
		if at.IsZero() {
			return domain.Instrument{}, fmt.Errorf("instruments: %q: %w", label, ErrNeedsTime)
		}
		in, err := m.nthFuture(u, n, at)
		if err != nil {
			return in, fmt.Errorf("instruments: %q: %w", label, err)
		}
		if exch != "" && in.Exchange != exch {
			return domain.Instrument{}, fmt.Errorf("instruments: %q: %s is not on %s: %w", label, in.Key(), exch, ErrNotFound)
		}
		return in, nil
	}
	if idx := m.trueDataOption(s, exch); len(idx) > 0 {
		return m.one(fmt.Sprintf("%q", label), idx)
	}
	return domain.Instrument{}, fmt.Errorf("instruments: %q: %w", label, ErrNotFound)
}

// continuousFuture parses TrueData's continuous-future alias
// "<UNDERLYING>-I", "-II" or "-III".
func continuousFuture(s string) (underlying string, n int, ok bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", 0, false
	}
	switch s[i+1:] {
	case "I":
		n = 1
	case "II":
		n = 2
	case "III":
		n = 3
	default:
		return "", 0, false
	}
	return s[:i], n, true
}

// trueDataOption returns the options whose TrueData symbol is s
// (<UNDERLYING><YYMMDD><STRIKE><CE|PE>), on exchange exch if not empty.
// Underlyings are matched as prefixes of s, so names ending in digits
// (NIFTYNXT50) parse too; every reading that names a listed contract
// counts.
func (m *Master) trueDataOption(s, exch string) []int {
	if len(s) < 2 {
		return nil
	}
	typ := domain.InstrumentType(s[len(s)-2:])
	if !typ.IsOption() {
		return nil
	}
	body := s[:len(s)-2]
	var out []int
	for _, u := range m.names {
		rest, ok := strings.CutPrefix(body, u)
		if !ok || len(rest) < 7 {
			continue
		}
		date, strike := rest[:6], rest[6:]
		// The strike starts with a non-zero digit: TrueData writes no
		// padding, so "0…" is not a strike.
		if !allDigits(date) || strike[0] < '1' || strike[0] > '9' {
			continue
		}
		e, err := time.ParseInLocation("060102", date, domain.IST())
		if err != nil {
			continue
		}
		k, err := domain.ParsePrice(strike)
		if err != nil || k <= 0 {
			continue
		}
		for _, i := range m.options[optKey{u, dayOf(e), k, typ}] {
			if exch == "" || m.insts[i].Exchange == exch {
				out = append(out, i)
			}
		}
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// spotKeys maps an index underlying to the key of its index.
var spotKeys = map[string]string{
	"NIFTY":      "NSE:NIFTY 50",
	"BANKNIFTY":  "NSE:NIFTY BANK",
	"FINNIFTY":   "NSE:NIFTY FIN SERVICE",
	"MIDCPNIFTY": "NSE:NIFTY MID SELECT",
	"NIFTYNXT50": "NSE:NIFTY NEXT 50",
	"SENSEX":     "BSE:SENSEX",
	"BANKEX":     "BSE:BANKEX",
}

// Spot returns the instrument whose price is the spot of a derivatives
// underlying: the index for index underlyings ("NIFTY" -> "NSE:NIFTY 50",
// "BANKNIFTY" -> "NSE:NIFTY BANK", also FINNIFTY, MIDCPNIFTY, NIFTYNXT50,
// SENSEX, BANKEX), otherwise the NSE cash instrument of the same name
// ("RELIANCE" -> "NSE:RELIANCE").
func (m *Master) Spot(underlying string) (domain.Instrument, error) {
	key, ok := spotKeys[underlying]
	if !ok {
		key = domain.ExchangeNSE + ":" + underlying
	}
	if i, ok := m.byKey[key]; ok {
		return m.insts[i], nil
	}
	return domain.Instrument{}, fmt.Errorf("instruments: spot of %q (%s): %w", underlying, key, ErrNotFound)
}
