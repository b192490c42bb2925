//go:build stress

package embedded_test

const crashCycles = 1000

const powerLossCycles = 1000
