package tiles

import (
	"net/url"
	"time"
)

// Window is a half-open time range [From, To) in whole hours (UTC), the
// unit of the incident rollups.
type Window struct {
	From, To time.Time
}

// LastWindow is the relative window "the last d" at now, normalised to
// whole hours: To is the start of the next hour (the current hour counts
// in full), From is d before it, rounded down to an hour. Within one hour
// every request gets the same window, hence the same cache key; when the
// hour turns the key changes, so a cached tile never outlives its window
// (set the tile's Expires to To to drop it then rather than by LRU).
func LastWindow(now time.Time, d time.Duration) Window {
	to := now.UTC().Truncate(time.Hour).Add(time.Hour)
	return Window{From: to.Add(-d).Truncate(time.Hour), To: to}
}

// HourWindow normalises an absolute window to whole hours: From rounds
// down, To rounds up, as the rollups count.
func HourWindow(from, to time.Time) Window {
	from, to = from.UTC().Truncate(time.Hour), to.UTC()
	if t := to.Truncate(time.Hour); !t.Equal(to) {
		to = t.Add(time.Hour)
	}
	return Window{From: from, To: to}
}

// Key is the window's part of a cache key: an ISO 8601 interval in UTC,
// e.g. "2026-05-01T10:00:00Z/2026-05-31T11:00:00Z".
func (w Window) Key() string {
	return w.From.UTC().Format(time.RFC3339) + "/" + w.To.UTC().Format(time.RFC3339)
}

// FilterKey normalises query parameters for a cache key: parameters sorted
// by name, empty values dropped, URL-encoded. Give it only the parameters
// that change the tile, with lists already in a canonical order and a
// relative window replaced by its Window.Key; the result is "" when there
// are none.
func FilterKey(v url.Values) string {
	clean := url.Values{}
	for k, vs := range v {
		for _, s := range vs {
			if s != "" {
				clean.Add(k, s)
			}
		}
	}
	return clean.Encode()
}
