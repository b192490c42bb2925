package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

func TestProjectionsRebuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openEmbedded(t, dir)
	reg := codec.NewRegistry()
	for i := range 50 {
		d, err := reg.Encode(uuid.New(), domain.Tick{Provider: "sim", Exchange: "NSE", Symbol: "NIFTY 50",
			ExchangeTime: time.Date(2026, 11, 20, 10, 0, i, 0, domain.IST()), LTP: domain.Rupees(26000 + int64(i))}, eventstore.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(context.Background(), "tick-NSE:NIFTY 50", eventstore.Any(), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	type line struct {
		Name     string `json:"name"`
		Position uint64 `json:"position"`
		Hash     string `json:"hash"`
	}
	parse := func(out string) []line {
		var ls []line
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var v line
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			ls = append(ls, v)
		}
		return ls
	}
	first := parse(runCLI(t, "", "--store", dir, "projections", "rebuild").must(t).stdout)
	if len(first) != 8 || first[0].Name != "quotes" || first[1].Name != "positions" || first[2].Name != "orders" || first[3].Name != "signals" ||
		first[4].Name != "pnl" || first[5].Name != "control" || first[6].Name != "providers" || first[7].Name != "options" || first[0].Position != 50 || len(first[0].Hash) != 64 {
		t.Fatalf("rebuild: %+v", first)
	}
	for _, n := range []string{"quotes", "positions"} {
		if _, err := os.Stat(filepath.Join(dir, "state", "snapshots", n+".snapshot")); err != nil {
			t.Errorf("snapshot of %s: %v", n, err)
		}
	}
	again := parse(runCLI(t, "", "--store", dir, "projections", "rebuild", "quotes").must(t).stdout)
	if len(again) != 1 || again[0] != first[0] {
		t.Fatalf("second rebuild of quotes %+v, first %+v", again, first[0])
	}
	state := t.TempDir()
	other := parse(runCLI(t, "", "--store", dir, "--state-dir", state, "projections", "rebuild", "positions").must(t).stdout)
	if len(other) != 1 || other[0] != first[1] {
		t.Fatalf("rebuild with --state-dir: %+v", other)
	}
	if _, err := os.Stat(filepath.Join(state, "snapshots", "positions.snapshot")); err != nil {
		t.Errorf("--state-dir not used: %v", err)
	}
	args := []string{"--store", dir, "projections", "rebuild", "nope"}
	wantOneLineError(t, runCLI(t, "", args...), 2, args)
}
