package grid

import (
	"sort"
	"time"
)

// Calendar is a working calendar: working days are Monday to Friday unless
// listed as holidays, plus weekend days listed as make-up working days
// (调休); working hours are the day's periods, in the calendar's location.
type Calendar struct {
	Loc      *time.Location
	Periods  [][2]time.Duration // offsets from midnight, e.g. 08:30–12:00, 13:30–17:30
	Holidays map[Date]bool      // no work on these days
	Workdays map[Date]bool      // weekend days that are worked (调休)
}

// Date is a calendar day.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the calendar day of t in t's location.
func DateOf(t time.Time) Date { return Date{t.Year(), t.Month(), t.Day()} }

// Time is the day's midnight, UTC.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// ParseDate reads "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, Errorf(Invalid, "date %q: want YYYY-MM-DD", s)
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// ChinaOffset is China Standard Time's offset from UTC in seconds: UTC+8,
// with no daylight saving (Asia/Shanghai has kept it since 1991).
const ChinaOffset = 8 * 3600

// ChinaTime is China Standard Time: the zone of working calendars, rollup
// days, statistics and every local day or hour the service speaks of.
func ChinaTime() *time.Location { return time.FixedZone("CST", ChinaOffset) }

// DefaultCalendar works 08:30–12:00 and 13:30–17:30 China time, Monday to Friday.
func DefaultCalendar() *Calendar {
	loc := ChinaTime()
	return &Calendar{
		Loc: loc,
		Periods: [][2]time.Duration{
			{8*time.Hour + 30*time.Minute, 12 * time.Hour},
			{13*time.Hour + 30*time.Minute, 17*time.Hour + 30*time.Minute},
		},
		Holidays: map[Date]bool{},
		Workdays: map[Date]bool{},
	}
}

// IsWorkday reports whether the date of t (in the calendar's location) is worked.
func (c *Calendar) IsWorkday(t time.Time) bool {
	t = t.In(c.Loc)
	if len(c.Workdays)+len(c.Holidays) > 0 {
		y, m, d := t.Date()
		key := Date{y, m, d}
		if c.Workdays[key] {
			return true
		}
		if c.Holidays[key] {
			return false
		}
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

func (c *Calendar) workPerDay() time.Duration {
	var d time.Duration
	for _, p := range c.Periods {
		d += p[1] - p[0]
	}
	return d
}

// AddWorking returns the instant when the given amount of working time has
// elapsed after start. Time outside working periods does not count.
func (c *Calendar) AddWorking(start time.Time, d time.Duration) time.Time {
	t := start.In(c.Loc)
	periods := c.Periods
	if !sort.SliceIsSorted(periods, func(i, j int) bool { return periods[i][0] < periods[j][0] }) {
		periods = append([][2]time.Duration(nil), periods...)
		sort.Slice(periods, func(i, j int) bool { return periods[i][0] < periods[j][0] })
	}
	for guard := 0; guard < 3660; guard++ {
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.Loc)
		if c.IsWorkday(day) {
			for _, p := range periods {
				ps, pe := day.Add(p[0]), day.Add(p[1])
				if !t.Before(pe) {
					continue
				}
				if t.Before(ps) {
					t = ps
				}
				if left := pe.Sub(t); d <= left {
					return t.Add(d)
				} else {
					d -= left
					t = pe
				}
			}
		}
		t = day.AddDate(0, 0, 1)
	}
	return t
}

// Deadline computes the handling deadline of a category's time limit from
// the moment a case starts: working hours on the calendar, or working days
// (each a full working day's hours).
func (c *Calendar) Deadline(start time.Time, limit int, unit string) time.Time {
	switch unit {
	case WorkingDays:
		return c.AddWorking(start, time.Duration(limit)*c.workPerDay())
	default:
		return c.AddWorking(start, time.Duration(limit)*time.Hour)
	}
}
