package strategy

import (
	"time"

	"github.com/algoauto/algoauto/domain"
)

// IST arithmetic without time.Location on the per-tick path. IST is a fixed
// UTC+05:30 (domain.IST; a test checks the two agree).
const (
	istOffset    = 5*3600 + 30*60
	daySeconds   = 86400
	sessionOpen  = 9*3600 + 15*60  // 09:15 IST
	sessionClose = 15*3600 + 30*60 // 15:30 IST
)

// istSplit returns the IST calendar day (days since 1970-01-01 IST) and the
// seconds after IST midnight of the Unix time u.
func istSplit(u int64) (day, sec int64) {
	v := u + istOffset
	day = v / daySeconds
	if v%daySeconds < 0 {
		day--
	}
	return day, v - day*daySeconds
}

// istUnix returns the Unix time of sec seconds after midnight IST of day.
func istUnix(day, sec int64) int64 { return day*daySeconds + sec - istOffset }

// inSession reports whether sec (after IST midnight) is within the NSE
// normal market, 09:15 to 15:30. Weekends and holidays have no ticks, so the
// weekday is not checked.
func inSession(sec int64) bool { return sec >= sessionOpen && sec < sessionClose }

// istDate returns day as "YYYYMMDD".
func istDate(day int64) string {
	y, m, d := time.Unix(day*daySeconds, 0).UTC().Date()
	b := make([]byte, 0, 8)
	b = appendPadded(b, int64(y), 4)
	b = appendPadded(b, int64(m), 2)
	b = appendPadded(b, int64(d), 2)
	return string(b)
}

// istDateISO returns day as "YYYY-MM-DD" (for State).
func istDateISO(day int64) string {
	return time.Unix(day*daySeconds, 0).UTC().Format(time.DateOnly)
}

func appendPadded(b []byte, v int64, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v > 0 || i == len(tmp) {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

// clock is a strategy's notion of now: the latest time it has been given.
type clock struct {
	t    time.Time
	unix int64
	day  int64 // IST day of t
	sec  int64 // seconds after IST midnight of t
}

// advance moves the clock to t unless t is zero or not later than the
// clock.
func (c *clock) advance(t time.Time) {
	if t.IsZero() || !t.After(c.t) {
		return
	}
	c.t = t
	c.unix = t.Unix()
	c.day, c.sec = istSplit(c.unix)
}

// at returns the clock's time in IST, for signals.
func (c *clock) at() time.Time { return c.t.In(domain.IST()) }

// legIDs makes the deterministic leg ids "<YYYYMMDD>-<seq>-<purpose>", the
// sequence counting the legs of one IST day from 01.
type legIDs struct {
	day int64
	seq int64
}

func (l *legIDs) next(day int64, purpose string) string {
	if day != l.day {
		l.day, l.seq = day, 0
	}
	l.seq++
	b := make([]byte, 0, 16+len(purpose))
	b = append(b, istDate(day)...)
	b = append(b, '-')
	b = appendPadded(b, l.seq, 2)
	b = append(b, '-')
	b = append(b, purpose...)
	return string(b)
}
