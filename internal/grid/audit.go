package grid

import (
	"context"
	"strconv"
	"time"
)

// Who is who makes a change, as the audit log records it: every write
// and every admin action carries one, in its request's context (WithWho),
// and the store writes it with the change, in the same transaction.
type Who struct {
	KeyID     int64  // the API key that acts; 0 off HTTP (the command line, the service itself)
	Role      string // the key's role, RoleCLI from the command line, RoleSystem for the service's own work
	Actor     string // "api_key:<id>", the command line's OS user, or "system"
	Town      string // the acting key's town scope ("": every town)
	Addr      string // the client's address as the rate limiter sees it; "" off HTTP
	RequestID string // the HTTP request's X-Request-Id; "" off HTTP
}

// Roles that act without an API key, as the audit log names them.
const (
	RoleCLI    = "cli"    // the command line (citygrid keys, import, seed …)
	RoleSystem = "system" // the service's own work: the overdue sweep, the demo city at first start
)

// KeyWho is the Who of an HTTP request made with key p from addr.
func KeyWho(p Principal, addr, requestID string) Who {
	if p.Public() {
		return Who{Role: "public", Actor: "public", Addr: addr, RequestID: requestID}
	}
	return Who{KeyID: p.KeyID, Role: p.Role, Actor: "api_key:" + strconv.FormatInt(p.KeyID, 10), Town: p.Town,
		Addr: addr, RequestID: requestID}
}

// CLIWho is the Who of the command line run by OS user osUser.
func CLIWho(osUser string) Who {
	if osUser == "" {
		osUser = "unknown"
	}
	return Who{Role: RoleCLI, Actor: osUser}
}

// SystemWho is the Who of the service's own work.
func SystemWho() Who { return Who{Role: RoleSystem, Actor: RoleSystem} }

type whoKey struct{}

// WithWho is ctx carrying w: the writes made under it are recorded as w's.
func WithWho(ctx context.Context, w Who) context.Context { return context.WithValue(ctx, whoKey{}, w) }

// WhoOf is the Who that ctx carries; the service itself (SystemWho) when
// it carries none: a write no caller asked for is the service's own.
func WhoOf(ctx context.Context) Who {
	if w, ok := ctx.Value(whoKey{}).(Who); ok {
		return w
	}
	return SystemWho()
}

// Audit actions: what the audit log says was done. A row's target names
// what it was done to by kind and id: "incident:<id>",
// "grid_version:<id>", "api_key:<id>"; "" for many (a bulk load, the
// sweep: their ids are in the detail).
const (
	AuditIncidentCreate = "incident.create"  // one incident (the JSON API, Open311)
	AuditIncidentBulk   = "incident.bulk"    // one bulk load: its count and id ranges in the detail
	AuditOverdueSweep   = "incident.overdue" // the supervision sweep flagged overdue incidents (one row per batch)
	AuditGridImport     = "grid.import"      // a grid import: target the new version
	AuditGridActivate   = "grid.activate"    // a grid version made active
	AuditKeyCreate      = "api_key.create"
	AuditKeyRevoke      = "api_key.revoke"
)

// AuditLifecycle is the audit action of lifecycle action a
// ("incident.dispatch", …): target the incident.
func AuditLifecycle(a string) string { return "incident." + a }

// AuditEntry is one row of the audit log. Rows are never changed or
// removed (the database refuses it).
type AuditEntry struct {
	ID        int64
	At        time.Time
	KeyID     int64 // 0: no key
	Role      string
	Actor     string
	Action    string
	Target    string
	Town      string // the town the change belongs to; "" city-wide
	Detail    []byte // a JSON object
	Addr      string
	RequestID string
}

// Audit log pages.
const (
	DefaultAuditPage = 100
	MaxAuditPage     = 1000
)

// AuditFilter selects audit rows, newest first; zero fields select
// everything.
type AuditFilter struct {
	KeyID     int64
	Action    string
	Target    string
	RequestID string
	From, To  time.Time // at within [From, To)
	Town      string    // a town-scoped caller sees only its town's rows
	Before    int64     // keyset: rows with ids below this
	Limit     int       // 1…MaxAuditPage
}

// AuditStore reads the audit log.
type AuditStore interface {
	// Audit lists the rows f selects, newest (highest id) first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}
