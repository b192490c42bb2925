package main

import (
	"strconv"
	"testing"
	"time"
)

func TestZZDebug(t *testing.T) {
	dir := t.TempDir()
	base, stderr, stop := serveInProcess(t, "--store", dir, "serve", "--addr", "127.0.0.1:0", "--speed", "0",
		"--sim-limit", strconv.Itoa(200000), "--sim-start", "2026-11-20T09:15:00+05:30")
	waitReady(t, base)
	t0 := time.Now()
	for i := 0; i < 40; i++ {
		t.Logf("%v head %d", time.Since(t0).Round(time.Millisecond), head(t, base))
		time.Sleep(time.Second)
	}
	stop()
	_ = stderr
}
