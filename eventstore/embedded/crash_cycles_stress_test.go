//go:build stress

package embedded_test

const crashCycles = 1000

const powerLossCycles = 1000

// subscriptionCycles is how many random subscriber stops ES-14 runs.
const subscriptionCycles = 1000
