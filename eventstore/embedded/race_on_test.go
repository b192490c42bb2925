//go:build race

package embedded_test

// raceEnabled scales the crash tests down under the race detector, which
// slows Pebble (and the child processes, built from the same binary) ~25x.
const raceEnabled = true
