//go:build race

package main

// raceEnabled reports a -race build: Pebble then runs with its invariant
// checks (a stack trace per file reference), so scanning a large embedded
// store in-process is two orders of magnitude slower.
const raceEnabled = true
