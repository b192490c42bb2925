//go:build !stress

package embedded_test

// crashCycles is how many kill -9 cycles ES-05 runs; `-tags stress` runs 1,000.
const crashCycles = 20

// powerLossCycles is how many simulated power cuts ES-06 runs.
const powerLossCycles = 40

// subscriptionCycles is how many random subscriber stops ES-14 runs.
const subscriptionCycles = 60
