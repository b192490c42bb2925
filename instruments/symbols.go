package instruments

import (
	"strconv"
	"strings"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// KiteOptionSymbol returns Kite's tradingsymbol of an option (PROTOCOLS
// §4.5). Monthly contracts (the expiry of the month's last-Tuesday
// contract, and every contract in that expiry's week) are
// <UNDERLYING><YY><MMM><STRIKE><CE|PE>, e.g. BANKNIFTY18JAN23500CE; weekly
// ones are <UNDERLYING><YY><M><DD><STRIKE><CE|PE> with M = 1-9 for
// January-September and O, N, D for October-December, e.g.
// NIFTY2371317900PE. Dates are the IST date of expiry; the strike is
// written without decimals when integral.
//
// It is for the simulator and tests: live code looks symbols up in the
// day's master instead of building them.
func KiteOptionSymbol(underlying string, expiry time.Time, monthly bool, strike domain.Price, typ domain.InstrumentType) string {
	return underlying + kiteOptionDate(expiry, monthly) + strikeText(strike) + string(typ)
}

// kiteOptionDate is the date part of a Kite option tradingsymbol.
func kiteOptionDate(expiry time.Time, monthly bool) string {
	e := expiry.In(domain.IST())
	if monthly {
		return e.Format("06") + strings.ToUpper(e.Format("Jan"))
	}
	return e.Format("06") + string(weeklyMonth(e.Month())) + e.Format("02")
}

// weeklyMonth is the one-character month of Kite's weekly symbols.
func weeklyMonth(m time.Month) byte {
	switch m {
	case time.October:
		return 'O'
	case time.November:
		return 'N'
	case time.December:
		return 'D'
	}
	return byte('0' + int(m))
}

// TrueDataOptionSymbol returns TrueData's symbol of an option (PROTOCOLS
// §2.6): <UNDERLYING><YYMMDD><STRIKE><CE|PE> for weekly and monthly
// contracts alike, e.g. NIFTY26032423750CE. The date is the IST date of
// expiry; the strike is written without decimals when integral.
func TrueDataOptionSymbol(underlying string, expiry time.Time, strike domain.Price, typ domain.InstrumentType) string {
	return underlying + expiry.In(domain.IST()).Format("060102") + strikeText(strike) + string(typ)
}

// strikeText writes a strike in rupees, without decimals when integral
// ("23500") and without trailing zeros otherwise ("112.5").
func strikeText(p domain.Price) string {
	if p%100 == 0 {
		return strconv.FormatInt(int64(p/100), 10)
	}
	return strings.TrimRight(p.String(), "0")
}

// underlyingOf returns the underlying a future's or option's Kite
// tradingsymbol implies, given its expiry, strike and type: the symbol
// minus the suffix Kite's format puts after the underlying. It returns ""
// when the symbol does not follow the format.
func underlyingOf(in domain.Instrument) string {
	var suffixes []string
	switch {
	case in.Type == domain.InstrumentFuture:
		suffixes = []string{kiteOptionDate(in.Expiry, true) + "FUT"}
	case in.Type.IsOption():
		tail := strikeText(in.Strike) + string(in.Type)
		suffixes = []string{kiteOptionDate(in.Expiry, true) + tail, kiteOptionDate(in.Expiry, false) + tail}
	}
	for _, s := range suffixes {
		if u, ok := strings.CutSuffix(in.Symbol, s); ok && u != "" {
			return u
		}
	}
	return ""
}
