package grid

import (
	"errors"
	"fmt"
)

// Error kinds. The HTTP adapter maps each to one status in one place.
const (
	Invalid      = "invalid"      // the caller sent something malformed (400)
	Rejected     = "rejected"     // well-formed, but breaks a rule of the domain: a grid import that fails validation (422)
	NotFound     = "not_found"    // no such thing, or a point outside the city (404)
	Conflict     = "conflict"     // not allowed in the current state (409)
	Unauthorized = "unauthorized" // no or bad credentials (401)
	Forbidden    = "forbidden"    // credentials lack the right (403)
	Unavailable  = "unavailable"  // a dependency is down or not ready (503)
	Timeout      = "timeout"      // the work ran past its time limit (504)
	Internal     = "internal"     // a bug or an unexpected failure (500)
)

// Error is the one error type of the domain: a kind and a message safe to
// show to a client. Details, when present, carry per-item problems
// (e.g. every bad polygon of an import, with its code). Cause is what went
// wrong underneath (a driver error, a context error, a *TransitionError):
// errors.Is and errors.As reach it, clients never see it.
type Error struct {
	Kind    string
	Message string
	Details []string
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds an *Error of the given kind.
func Errorf(kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error of the given kind around cause, with a client-safe
// message.
func Wrap(kind string, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// KindOf returns the kind of err: the kind of the first *Error in its chain,
// or Internal.
func KindOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// MessageOf returns the client-safe message of err, or a generic one for
// internal errors.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
