package httpapi

import "context"

// HoldExpensive takes one slot of s's bound on expensive queries, as a
// running analysis does, until release is called.
func HoldExpensive(s *Server) (release func()) {
	if err := s.limits.acquire(context.Background()); err != nil {
		panic("HoldExpensive: " + err.Error())
	}
	return s.limits.release
}

// OnExpensiveWait makes s call f whenever a request starts waiting for an
// expensive-query slot.
func OnExpensiveWait(s *Server, f func()) { s.limits.onWait.Store(&f) }
