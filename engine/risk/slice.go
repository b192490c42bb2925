package risk

import "math"

// maxSliceQty is the largest quantity one slice may have: the largest
// multiple of lot not above freeze. Without a freeze quantity (freeze 0)
// there is no bound (MaxInt64); 0 means freeze is below one lot.
func maxSliceQty(lot, freeze int64) int64 {
	lot = max(lot, 1)
	if freeze <= 0 {
		return math.MaxInt64
	}
	return freeze / lot * lot
}

// slices cuts qty greedily into slices of maxSlice, the last one taking
// the remainder. maxSlice must be positive.
func slices(qty, maxSlice int64) []int64 {
	n := ceilDiv(qty, maxSlice)
	out := make([]int64, 0, n)
	for qty > maxSlice {
		out = append(out, maxSlice)
		qty -= maxSlice
	}
	return append(out, qty)
}

// Slices returns how an order of qty is cut at the exchange's freeze
// quantity: slices of the largest multiple of lot (0: 1) not above freeze,
// the last one taking the remainder; one slice when qty <= freeze or freeze
// is 0. It returns nil when qty is not positive, freeze is below one lot or
// more than maxSlices slices would be needed (maxSlices 0:
// DefaultMaxSlices), the cases Gate.Check refuses.
func Slices(qty, lot, freeze int64, maxSlices int) []int64 {
	if maxSlices <= 0 {
		maxSlices = DefaultMaxSlices
	}
	m := maxSliceQty(lot, freeze)
	if qty <= 0 || m == 0 || ceilDiv(qty, m) > int64(maxSlices) {
		return nil
	}
	return slices(qty, m)
}
