package domain

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ist is India Standard Time, UTC+05:30. India has no daylight saving, so a
// fixed zone is exact and needs no tzdata (no I/O at package load).
var ist = time.FixedZone("IST", 5*3600+1800)

// IST returns the India Standard Time location (a fixed UTC+05:30 zone). All
// calendar dates and session times of the Calendar are in this zone.
func IST() *time.Location { return ist }

// NSE normal-market session bounds (equity cash and F&O), IST.
const (
	sessionOpenHour   = 9
	sessionOpenMin    = 15
	sessionCloseHour  = 15
	sessionCloseMin   = 30
	tuesdayExpiryFrom = 2025*12 + int(time.September) - 1 // months counted from year 0
)

//go:embed nse_holidays.csv
var nseHolidaysCSV string

// Holiday is one exchange trading holiday. Date is midnight IST of the
// closed day.
type Holiday struct {
	Date time.Time
	Name string
}

// dateKey identifies an IST calendar date.
type dateKey int32

func keyOf(y int, m time.Month, d int) dateKey { return dateKey(y<<9 | int(m)<<5 | d) }

// Calendar is the NSE trading calendar: Monday–Friday sessions from 09:15 to
// 15:30 IST, except the listed holidays. All methods interpret their time
// arguments by their IST calendar date and wall-clock time, whatever the
// argument's location, and return times in IST.
//
// A Calendar is immutable after construction and safe for concurrent use.
// The zero value is a calendar without holidays (weekends only).
// Special sessions (Muhurat trading, ad-hoc Saturday sessions) are not
// modelled.
type Calendar struct {
	holidays map[dateKey]string
	list     []Holiday // sorted by date
}

// NSECalendar returns the calendar of the NSE holidays embedded in this
// package (nse_holidays.csv, 2025 and 2026). The embedded list must be
// updated every year from the NSE holiday circular; use ParseHolidays to
// load an override file instead.
//
// It panics if the embedded data does not parse, which the package tests
// rule out; it never panics on caller input.
func NSECalendar() *Calendar {
	c, err := ParseHolidays(strings.NewReader(nseHolidaysCSV))
	if err != nil {
		panic("domain: embedded nse_holidays.csv: " + err.Error())
	}
	return c
}

// ParseHolidays reads a holiday list in CSV: a header line "date,name"
// followed by one "YYYY-MM-DD,name" row per holiday. Lines starting with #
// and blank lines are ignored; fields may be quoted. Errors name the line
// number of the offending row. Duplicate dates are an error.
func ParseHolidays(r io.Reader) (*Calendar, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	c := &Calendar{holidays: make(map[dateKey]string)}
	header := false
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("holidays: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 2 {
			return nil, fmt.Errorf("holidays line %d: want 2 fields (date,name), got %d", line, len(rec))
		}
		f0, f1 := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if !header {
			if !strings.EqualFold(f0, "date") || !strings.EqualFold(f1, "name") {
				return nil, fmt.Errorf("holidays line %d: want header \"date,name\", got %q", line, f0+","+f1)
			}
			header = true
			continue
		}
		d, err := time.ParseInLocation(time.DateOnly, f0, ist)
		if err != nil {
			return nil, fmt.Errorf("holidays line %d: date %q: want YYYY-MM-DD", line, f0)
		}
		if f1 == "" {
			return nil, fmt.Errorf("holidays line %d: empty name for %s", line, f0)
		}
		k := keyOf(d.Date())
		if prev, dup := c.holidays[k]; dup {
			return nil, fmt.Errorf("holidays line %d: %s listed twice (%q and %q)", line, f0, prev, f1)
		}
		c.holidays[k] = f1
		c.list = append(c.list, Holiday{Date: d, Name: f1})
	}
	if !header {
		return nil, errors.New("holidays: missing header line \"date,name\"")
	}
	slices.SortFunc(c.list, func(a, b Holiday) int { return a.Date.Compare(b.Date) })
	return c, nil
}

// HasYear reports whether the calendar lists any holiday in year: NSE
// closes on a dozen or more weekdays every year, so a year with none is a
// year the list does not cover (each of its weekdays would count as a
// trading day).
func (c *Calendar) HasYear(year int) bool {
	for _, h := range c.list {
		if h.Date.Year() == year {
			return true
		}
	}
	return false
}

// Holidays returns a copy of the holidays, sorted by date.
func (c *Calendar) Holidays() []Holiday { return slices.Clone(c.list) }

// IsHoliday reports whether the IST calendar date of day is a listed
// holiday, and its name.
func (c *Calendar) IsHoliday(day time.Time) (string, bool) {
	name, ok := c.holidays[keyOf(day.In(ist).Date())]
	return name, ok
}

// IsTradingDay reports whether the IST date of day is a Monday–Friday that
// is not a holiday.
func (c *Calendar) IsTradingDay(day time.Time) bool {
	d := day.In(ist)
	if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	_, hol := c.holidays[keyOf(d.Date())]
	return !hol
}

// SessionOpen returns 09:15 IST of the IST date of day, whether or not that
// date is a trading day.
func (c *Calendar) SessionOpen(day time.Time) time.Time {
	y, m, d := day.In(ist).Date()
	return time.Date(y, m, d, sessionOpenHour, sessionOpenMin, 0, 0, ist)
}

// SessionClose returns 15:30 IST of the IST date of day, whether or not that
// date is a trading day. The session is the half-open interval
// [SessionOpen, SessionClose).
func (c *Calendar) SessionClose(day time.Time) time.Time {
	y, m, d := day.In(ist).Date()
	return time.Date(y, m, d, sessionCloseHour, sessionCloseMin, 0, 0, ist)
}

// InSession reports whether t falls in a normal-market session: its IST date
// is a trading day and SessionOpen <= t < SessionClose.
func (c *Calendar) InSession(t time.Time) bool {
	return c.IsTradingDay(t) && !t.Before(c.SessionOpen(t)) && t.Before(c.SessionClose(t))
}

// NextSessionOpen returns the first session open at or after t. If t is
// inside a session (after its open), that is the next trading day's open;
// if t is exactly a session open, it is t itself (in IST).
func (c *Calendar) NextSessionOpen(t time.Time) time.Time {
	y, m, d := t.In(ist).Date()
	// Terminates: the holiday list is finite, so a weekday that is not a
	// holiday always follows.
	for i := 0; ; i++ {
		open := time.Date(y, m, d+i, sessionOpenHour, sessionOpenMin, 0, 0, ist)
		if !open.Before(t) && c.IsTradingDay(open) {
			return open
		}
	}
}

// LatestSessionOpen returns the open of the session in progress at now, or
// else of the most recent session that opened at or before now. For a
// Sunday that is the preceding Friday's 09:15 (if Friday traded).
func (c *Calendar) LatestSessionOpen(now time.Time) time.Time {
	y, m, d := now.In(ist).Date()
	for i := 0; ; i-- {
		open := time.Date(y, m, d+i, sessionOpenHour, sessionOpenMin, 0, 0, ist)
		if !open.After(now) && c.IsTradingDay(open) {
			return open
		}
	}
}

// MonthlyExpiry returns the expiry of the monthly index derivative
// contracts of the given month: 15:30 IST of the last Tuesday of the month
// (the NSE rule for contracts from 1 Sep 2025), moved to the previous
// trading day if that Tuesday is not one. For months before September 2025
// it applies the earlier last-Thursday rule of NIFTY. The exchange's
// instrument master is authoritative: ad-hoc circulars can move expiries.
func (c *Calendar) MonthlyExpiry(year int, month time.Month) time.Time {
	want := time.Tuesday
	if year*12+int(month)-1 < tuesdayExpiryFrom {
		want = time.Thursday
	}
	// Day 0 of the next month is the last day of this month.
	last := time.Date(year, month+1, 0, sessionCloseHour, sessionCloseMin, 0, 0, ist)
	back := (int(last.Weekday()) - int(want) + 7) % 7
	day := last.AddDate(0, 0, -back)
	for !c.IsTradingDay(day) {
		day = day.AddDate(0, 0, -1)
	}
	return day
}

// FutureExpiryOn returns the expiry of the current-month (near) futures
// contract at t: this month's MonthlyExpiry if t is before it, else next
// month's.
func (c *Calendar) FutureExpiryOn(t time.Time) time.Time {
	y, m, _ := t.In(ist).Date()
	if e := c.MonthlyExpiry(y, m); t.Before(e) {
		return e
	}
	return c.MonthlyExpiry(y, m+1) // time.Date normalises month 13
}

// FutureSymbol returns the Kite tradingsymbol of the monthly futures
// contract of underlying expiring at expiry: underlying + YY + upper-case
// three-letter month + "FUT", e.g. "NIFTY26NOVFUT". The month is taken from
// the IST date of expiry.
func FutureSymbol(underlying string, expiry time.Time) string {
	e := expiry.In(ist)
	return underlying + e.Format("06") + strings.ToUpper(e.Format("Jan")) + "FUT"
}

// MarketPhase is where the NSE F&O market stands at an instant.
type MarketPhase string

// The phases MarketStatus reports.
const (
	PhasePreOpen MarketPhase = "pre-open" // 09:00-09:15 IST: futures call auction
	PhaseOpen    MarketPhase = "open"     // 09:15-15:30 IST, normal market
	PhaseClosed  MarketPhase = "closed"   // a trading day outside those hours
	PhaseHoliday MarketPhase = "holiday"  // a weekend or a listed holiday
)

// MarketStatus says what the market is doing at At and when the next
// session opens and the current one closes.
type MarketStatus struct {
	At       time.Time   `json:"at"`
	Phase    MarketPhase `json:"phase"`
	Holiday  string      `json:"holiday,omitempty"` // the holiday's name
	NextOpen time.Time   `json:"next_open"`
	Closes   time.Time   `json:"closes,omitzero"` // set while open
}

// Status returns the market status at t. The F&O pre-open call auction
// (09:00-09:15 IST on trading days, futures only) reports PhasePreOpen.
func (c *Calendar) Status(t time.Time) MarketStatus {
	t = t.In(ist)
	st := MarketStatus{At: t, NextOpen: c.NextSessionOpen(t)}
	y, m, d := t.Date()
	preOpen := time.Date(y, m, d, 9, 0, 0, 0, ist)
	switch {
	case !c.IsTradingDay(t):
		st.Phase = PhaseHoliday
		st.Holiday, _ = c.IsHoliday(t)
	case c.InSession(t):
		st.Phase = PhaseOpen
		st.Closes = c.SessionClose(t)
	case !t.Before(preOpen) && t.Before(c.SessionOpen(t)):
		st.Phase = PhasePreOpen
	default:
		st.Phase = PhaseClosed
	}
	return st
}
