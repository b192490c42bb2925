package instruments

import "maps"

// defaultFreezeLimits is the built-in table behind DefaultFreezeLimits. It
// is never modified.
//
// Source: NSE circular "Quantity freeze limits for indices" of 31 Oct 2025,
// effective 3 Nov 2025, as summarised by third parties (the circular text
// itself was not available): BANKNIFTY 600, NIFTY 1800, FINNIFTY 1800,
// MIDCPNIFTY 2800, NIFTYNXT50 600. The previous circular (29 Aug 2025,
// effective 1 Sep 2025) had BANKNIFTY at 900 and the others unchanged.
// PROTOCOLS.md states no figure.
var defaultFreezeLimits = map[string]int64{
	"NIFTY":      1800,
	"BANKNIFTY":  600,
	"FINNIFTY":   1800,
	"MIDCPNIFTY": 2800,
	"NIFTYNXT50": 600,
}

// DefaultFreezeLimits returns a copy of the built-in NSE quantity freeze
// limits of the index derivatives, in units (not lots) per order, keyed by
// underlying: NIFTY 1800, BANKNIFTY 600, FINNIFTY 1800, MIDCPNIFTY 2800,
// NIFTYNXT50 600, from the NSE circular of 31 Oct 2025 (effective 3 Nov
// 2025). An order above the limit is rejected by the exchange and must be
// sliced; a slice must also be a whole number of lots, so the largest
// slice is the limit rounded down to the lot size.
//
// NSE revises these limits by circular, often more than once a year. They
// must be checked against the latest NSE circular before live trading and
// overridden through Options.FreezeLimits (or SimConfig.FreezeLimits) when
// they differ. Stock derivatives are not in the table.
func DefaultFreezeLimits() map[string]int64 { return maps.Clone(defaultFreezeLimits) }
