package httpapi

import "context"

// Permission is a row of the permission table, for the test that
// enforces it.
type Permission = permission

// Permissions is the permission table.
func Permissions() []Permission { return permissions() }

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
