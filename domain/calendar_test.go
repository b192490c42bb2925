package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

// at parses an RFC 3339 instant; it fails the test on a typo.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

func TestIST(t *testing.T) {
	t.Parallel()
	_, off := time.Date(2026, 1, 1, 0, 0, 0, 0, domain.IST()).Zone()
	if off != 19800 {
		t.Fatalf("IST offset = %d s, want 19800", off)
	}
}

func TestNSECalendarEmbedded(t *testing.T) {
	t.Parallel()
	hs := domain.NSECalendar().Holidays()
	if len(hs) != 29 {
		t.Fatalf("embedded holidays: got %d, want 29 (14 in 2025, 15 in 2026)", len(hs))
	}
	for i, h := range hs {
		if i > 0 && !hs[i-1].Date.Before(h.Date) {
			t.Errorf("holidays not sorted at %d: %v then %v", i, hs[i-1].Date, h.Date)
		}
		if h.Name == "" {
			t.Errorf("holiday %v has no name", h.Date)
		}
		if wd := h.Date.Weekday(); wd == time.Saturday || wd == time.Sunday {
			t.Errorf("holiday %v %q falls on a weekend", h.Date, h.Name)
		}
		if h.Date.Location() != domain.IST() || h.Date.Hour() != 0 {
			t.Errorf("holiday date %v is not IST midnight", h.Date)
		}
	}
	// Holidays returns a copy.
	hs[0].Name = "changed"
	if domain.NSECalendar().Holidays()[0].Name == "changed" {
		t.Error("Holidays exposes internal state")
	}
}

func TestIsHolidayAndTradingDay(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	tests := []struct {
		name    string
		t       string
		holiday string
		trading bool
	}{
		{"guru nanak 2026", "2026-11-24T12:00:00+05:30", "Prakash Gurpurb Sri Guru Nanak Dev", false},
		{"holiday by IST date from UTC evening before", "2026-11-23T19:00:00Z", "Prakash Gurpurb Sri Guru Nanak Dev", false},
		{"UTC date is the holiday but IST date is not", "2026-11-24T19:00:00Z", "", true},
		{"christmas 2025", "2025-12-25T10:00:00+05:30", "Christmas", false},
		{"ordinary monday", "2026-11-23T10:00:00+05:30", "", true},
		{"ordinary friday", "2026-11-20T10:00:00+05:30", "", true},
		{"saturday", "2026-11-21T10:00:00+05:30", "", false},
		{"sunday", "2026-11-22T10:00:00+05:30", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tm := at(t, tt.t)
			name, ok := cal.IsHoliday(tm)
			if name != tt.holiday || ok != (tt.holiday != "") {
				t.Errorf("IsHoliday = (%q, %v), want (%q, %v)", name, ok, tt.holiday, tt.holiday != "")
			}
			if got := cal.IsTradingDay(tm); got != tt.trading {
				t.Errorf("IsTradingDay = %v, want %v", got, tt.trading)
			}
		})
	}
}

func TestZeroCalendarHasOnlyWeekends(t *testing.T) {
	t.Parallel()
	var cal domain.Calendar
	if !cal.IsTradingDay(at(t, "2026-11-24T10:00:00+05:30")) {
		t.Error("zero calendar: 2026-11-24 should trade")
	}
	if cal.IsTradingDay(at(t, "2026-11-22T10:00:00+05:30")) {
		t.Error("zero calendar: Sunday should not trade")
	}
}

func TestSessionBounds(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	day := at(t, "2026-11-20T23:59:00+05:30")
	if got, want := cal.SessionOpen(day), at(t, "2026-11-20T09:15:00+05:30"); !got.Equal(want) || got.Location() != domain.IST() {
		t.Errorf("SessionOpen = %v, want %v in IST", got, want)
	}
	if got, want := cal.SessionClose(day), at(t, "2026-11-20T15:30:00+05:30"); !got.Equal(want) {
		t.Errorf("SessionClose = %v, want %v", got, want)
	}
}

func TestInSession(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	tests := []struct {
		t    string
		want bool
	}{
		{"2026-11-20T09:14:59+05:30", false},
		{"2026-11-20T09:15:00+05:30", true},
		{"2026-11-20T03:45:00Z", true}, // 09:15 IST given in UTC
		{"2026-11-20T12:00:00+05:30", true},
		{"2026-11-20T15:29:59+05:30", true},
		{"2026-11-20T15:30:00+05:30", false},
		{"2026-11-21T10:00:00+05:30", false}, // Saturday
		{"2026-11-24T10:00:00+05:30", false}, // holiday
	}
	for _, tt := range tests {
		t.Run(tt.t, func(t *testing.T) {
			t.Parallel()
			if got := cal.InSession(at(t, tt.t)); got != tt.want {
				t.Errorf("InSession(%s) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
	// Nanosecond precision at the bounds.
	open := at(t, "2026-11-20T09:15:00+05:30")
	if cal.InSession(open.Add(-time.Nanosecond)) {
		t.Error("1ns before open is in session")
	}
	if !cal.InSession(at(t, "2026-11-20T15:30:00+05:30").Add(-time.Nanosecond)) {
		t.Error("1ns before close is not in session")
	}
}

func TestNextSessionOpen(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	tests := []struct {
		name, t, want string
	}{
		{"friday evening to monday", "2026-11-20T16:00:00+05:30", "2026-11-23T09:15:00+05:30"},
		{"monday evening skips tuesday holiday", "2026-11-23T15:30:00+05:30", "2026-11-25T09:15:00+05:30"},
		{"friday evening skips monday holiday", "2026-09-11T16:00:00+05:30", "2026-09-15T09:15:00+05:30"},
		{"early morning same day", "2026-11-20T08:00:00+05:30", "2026-11-20T09:15:00+05:30"},
		{"exactly at open is that open", "2026-11-20T09:15:00+05:30", "2026-11-20T09:15:00+05:30"},
		{"inside session is next day's open", "2026-11-19T09:15:01+05:30", "2026-11-20T09:15:00+05:30"},
		{"saturday", "2026-11-21T10:00:00+05:30", "2026-11-23T09:15:00+05:30"},
		{"new year from UTC", "2026-12-31T12:00:00Z", "2027-01-01T09:15:00+05:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := cal.NextSessionOpen(at(t, tt.t))
			if want := at(t, tt.want); !got.Equal(want) || got.Location() != domain.IST() {
				t.Errorf("NextSessionOpen(%s) = %v, want %v in IST", tt.t, got, want)
			}
		})
	}
}

func TestLatestSessionOpen(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	tests := []struct {
		name, t, want string
	}{
		{"sunday to friday", "2026-11-22T10:00:00+05:30", "2026-11-20T09:15:00+05:30"},
		{"in session", "2026-11-20T11:00:00+05:30", "2026-11-20T09:15:00+05:30"},
		{"exactly at open", "2026-11-20T09:15:00+05:30", "2026-11-20T09:15:00+05:30"},
		{"after close same day", "2026-11-20T20:00:00+05:30", "2026-11-20T09:15:00+05:30"},
		{"before open is previous day", "2026-11-20T09:14:59+05:30", "2026-11-19T09:15:00+05:30"},
		{"holiday to monday", "2026-11-24T12:00:00+05:30", "2026-11-23T09:15:00+05:30"},
		{"monday pre-open to friday", "2026-11-23T08:00:00+05:30", "2026-11-20T09:15:00+05:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := cal.LatestSessionOpen(at(t, tt.t))
			if want := at(t, tt.want); !got.Equal(want) || got.Location() != domain.IST() {
				t.Errorf("LatestSessionOpen(%s) = %v, want %v in IST", tt.t, got, want)
			}
		})
	}
}

func TestMonthlyExpiry(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	tests := []struct {
		year  int
		month time.Month
		want  string
	}{
		{2026, time.November, "2026-11-23T15:30:00+05:30"}, // last Tue 24th is a holiday
		{2026, time.December, "2026-12-29T15:30:00+05:30"},
		{2026, time.March, "2026-03-30T15:30:00+05:30"}, // last Tue 31st is a holiday
		{2026, time.January, "2026-01-27T15:30:00+05:30"},
		{2025, time.September, "2025-09-30T15:30:00+05:30"}, // first Tuesday month
		{2025, time.August, "2025-08-28T15:30:00+05:30"},    // still last Thursday
		{2025, time.October, "2025-10-28T15:30:00+05:30"},
		{2026, time.June, "2026-06-30T15:30:00+05:30"}, // last day is the Tuesday
	}
	for _, tt := range tests {
		t.Run(tt.month.String()+"-"+tt.want[:4], func(t *testing.T) {
			t.Parallel()
			got := cal.MonthlyExpiry(tt.year, tt.month)
			if want := at(t, tt.want); !got.Equal(want) || got.Location() != domain.IST() {
				t.Errorf("MonthlyExpiry(%d, %s) = %v, want %v", tt.year, tt.month, got, want)
			}
		})
	}
}

func TestFutureExpiryOnAndSymbol(t *testing.T) {
	t.Parallel()
	cal := domain.NSECalendar()
	tests := []struct {
		name, t, want, symbol string
	}{
		{"early november", "2026-11-02T10:00:00+05:30", "2026-11-23T15:30:00+05:30", "NIFTY26NOVFUT"},
		{"expiry day before close", "2026-11-23T15:29:59+05:30", "2026-11-23T15:30:00+05:30", "NIFTY26NOVFUT"},
		{"expiry close rolls", "2026-11-23T15:30:00+05:30", "2026-12-29T15:30:00+05:30", "NIFTY26DECFUT"},
		{"after expiry", "2026-11-25T09:15:00+05:30", "2026-12-29T15:30:00+05:30", "NIFTY26DECFUT"},
		{"december rolls into next year", "2025-12-31T09:15:00+05:30", "2026-01-27T15:30:00+05:30", "NIFTY26JANFUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := cal.FutureExpiryOn(at(t, tt.t))
			if want := at(t, tt.want); !got.Equal(want) {
				t.Errorf("FutureExpiryOn(%s) = %v, want %v", tt.t, got, want)
			}
			if sym := domain.FutureSymbol("NIFTY", got); sym != tt.symbol {
				t.Errorf("FutureSymbol = %q, want %q", sym, tt.symbol)
			}
		})
	}
}

func TestFutureSymbol(t *testing.T) {
	t.Parallel()
	tests := []struct {
		underlying string
		expiry     time.Time
		want       string
	}{
		{"NIFTY", time.Date(2026, 11, 23, 15, 30, 0, 0, domain.IST()), "NIFTY26NOVFUT"},
		{"BANKNIFTY", time.Date(2026, 12, 29, 15, 30, 0, 0, domain.IST()), "BANKNIFTY26DECFUT"},
		{"NIFTY", time.Date(2025, 9, 30, 15, 30, 0, 0, domain.IST()), "NIFTY25SEPFUT"},
		// The month is the IST one: 31 Dec 20:00 UTC is already January in India.
		{"NIFTY", time.Date(2026, 12, 31, 20, 0, 0, 0, time.UTC), "NIFTY27JANFUT"},
	}
	for _, tt := range tests {
		if got := domain.FutureSymbol(tt.underlying, tt.expiry); got != tt.want {
			t.Errorf("FutureSymbol(%q, %v) = %q, want %q", tt.underlying, tt.expiry, got, tt.want)
		}
	}
}

func TestParseHolidays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; empty means success
		count   int
	}{
		{"ok with comments and blanks", "# c\n\ndate,name\n2026-01-26,Republic Day\n# x\n2026-12-25,\"Christmas, Day\"\n", "", 2},
		{"header only", "date,name\n", "", 0},
		{"header with spaces and case", " Date , Name \n2026-01-26, Republic Day \n", "", 1},
		{"empty input", "", "missing header", 0},
		{"only comments", "# nothing\n", "missing header", 0},
		{"wrong header", "day,name\n2026-01-26,x\n", "line 1", 0},
		{"bad date", "date,name\n2026-01-26,ok\n2026-13-01,bad\n", "line 3", 0},
		{"bad date format", "# c\ndate,name\n26/01/2026,x\n", "line 3", 0},
		{"empty name", "date,name\n2026-01-26,\n", "line 2", 0},
		{"three fields", "date,name\n2026-01-26,a,b\n", "line 2", 0},
		{"duplicate", "date,name\n2026-01-26,a\n2026-01-26,b\n", "line 3", 0},
		{"bad quoting", "date,name\n2026-01-26,\"a\n", "line 2", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cal, err := domain.ParseHolidays(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("want error containing %q, got nil", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := len(cal.Holidays()); got != tt.count {
				t.Fatalf("got %d holidays, want %d", got, tt.count)
			}
		})
	}
}

func TestParseHolidaysOverride(t *testing.T) {
	t.Parallel()
	cal, err := domain.ParseHolidays(strings.NewReader("date,name\n2026-11-20,Test Closure\n"))
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := cal.IsHoliday(at(t, "2026-11-20T10:00:00+05:30")); !ok || name != "Test Closure" {
		t.Errorf("IsHoliday = (%q, %v)", name, ok)
	}
	// Without the NSE list, 2026-11-24 trades, so November expires on the Tuesday.
	if got, want := cal.MonthlyExpiry(2026, time.November), at(t, "2026-11-24T15:30:00+05:30"); !got.Equal(want) {
		t.Errorf("MonthlyExpiry = %v, want %v", got, want)
	}
	if got, want := cal.NextSessionOpen(at(t, "2026-11-19T16:00:00+05:30")), at(t, "2026-11-23T09:15:00+05:30"); !got.Equal(want) {
		t.Errorf("NextSessionOpen = %v, want %v", got, want)
	}
}

func TestCalendarHasYear(t *testing.T) {
	c := domain.NSECalendar()
	for _, y := range []int{2025, 2026} {
		if !c.HasYear(y) {
			t.Errorf("the embedded list has no %d holidays", y)
		}
	}
	if c.HasYear(2031) {
		t.Error("the embedded list claims 2031")
	}
	if (&domain.Calendar{}).HasYear(2026) {
		t.Error("the zero calendar claims 2026")
	}
}
