package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/adapters/sim"
	"github.com/algoauto/algoauto/domain"
)

// TestSessionMasterFollowsTheDays: the engine's instruments master is the
// one of the day asked about, so weeklies listed after the feed started
// exist for it, and expired contracts are gone.
func TestSessionMasterFollowsTheDays(t *testing.T) {
	start := time.Date(2026, 11, 20, 9, 15, 0, 0, domain.IST())
	feed, err := sim.New(sim.Config{Seed: 1, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := newSessionMaster(feed)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Date(2027, 1, 18, 9, 15, 0, 0, domain.IST()) // eight weeks on
	wk, err := sm.at(later).NearestWeekly("NIFTY", later)
	if err != nil {
		t.Fatal(err)
	}
	if !wk.After(later.Add(-24 * time.Hour)) {
		t.Fatalf("nearest weekly on %v is %v: expired", later, wk)
	}
	if _, err := sm.at(start).NearestWeekly("NIFTY", later); err == nil {
		t.Fatal("the start day's master lists NIFTY options eight weeks on: this test no longer shows why a master per day is needed")
	}
	fut, err := sm.at(later).Future("NIFTY", later)
	if err != nil {
		t.Fatal(err)
	}
	if fut.Expiry.Before(later) {
		t.Fatalf("current future on %v expired on %v", later, fut.Expiry)
	}
	if _, ok := sm.at(later).Lookup("NFO:NIFTY26NOVFUT"); ok {
		t.Fatal("the November future (expired) is still listed in January")
	}
	if sm.at(time.Time{}) != sm.at(later) {
		t.Fatal("without an instant, lookups should use the latest day's master")
	}
	if sm.at(later.Add(time.Hour)) != sm.at(later) {
		t.Fatal("one master per day")
	}
}

// TestWarnUncoveredYears: serve warns about a year the holiday list does
// not cover, and about the next one in December.
func TestWarnUncoveredYears(t *testing.T) {
	cal := domain.NSECalendar() // 2025 and 2026
	for _, c := range []struct {
		from string
		want string
	}{
		{"2026-06-01T10:00:00+05:30", ""},
		{"2026-12-01T10:00:00+05:30", "year=2027"},
		{"2027-01-04T10:00:00+05:30", "year=2027"},
		{"2026-12-31T20:00:00Z", "year=2027"}, // already 2027 in IST
	} {
		var buf bytes.Buffer
		from, err := time.Parse(time.RFC3339, c.from)
		if err != nil {
			t.Fatal(err)
		}
		warnUncoveredYears(slog.New(slog.NewTextHandler(&buf, nil)), cal, from)
		got := buf.String()
		if c.want == "" && got != "" || c.want != "" && (!strings.Contains(got, c.want) || strings.Count(got, "\n") != 1) {
			t.Errorf("from %s: logged %q, want one warning with %q", c.from, got, c.want)
		}
	}
}
