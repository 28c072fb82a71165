package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/labstack/echo/v4"
)

// auditParams are the query parameters of GET /v1/audit.
var auditParams = []string{"key_id", "action", "target", "request_id", "from", "to", "limit", "after"}

// maxAuditText bounds a text filter: longer matches no row.
const maxAuditText = 200

func (s *Server) routesAudit(e *echo.Echo) {
	e.GET("/v1/audit", s.audit)
}

type auditDTO struct {
	ID        int64           `json:"id"`
	At        time.Time       `json:"at"`
	KeyID     *int64          `json:"key_id"`
	Role      string          `json:"role"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Town      *string         `json:"town"`
	Detail    json.RawMessage `json:"detail"`
	Addr      string          `json:"addr"`
	RequestID string          `json:"request_id"`
}

type auditPage struct {
	Entries []auditDTO `json:"entries"`
	Next    string     `json:"next,omitempty"` // the cursor of the next page: after=<next>
}

// auditCursor is the opaque cursor of the page after the row with id.
func auditCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("audit:" + strconv.FormatInt(id, 10)))
}

// auditAfter reads a cursor auditCursor made: the id it continues below.
func auditAfter(v string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), "audit:"); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, param.Invalid("after", "%q is not a cursor of this list (take next from the previous page)", v)
}

// audit: GET /v1/audit — the audit log, newest first, for admins
// (grid.Administer, the permission table). A key scoped to a town sees the
// rows of its town only; city-wide rows (grid imports, bulk loads by an
// unscoped key, the overdue sweep) are for unscoped admins.
func (s *Server) audit(c echo.Context) error {
	if s.cfg.Audit == nil {
		return grid.Errorf(grid.Unavailable, "the audit log is not configured")
	}
	q := c.QueryParams()
	for name := range q {
		if !slices.Contains(auditParams, name) {
			return param.Invalid(name, "unknown query parameter: the audit log takes %s", strings.Join(auditParams, ", "))
		}
	}
	var f grid.AuditFilter
	var err error
	if v := q.Get("key_id"); v != "" {
		if f.KeyID, err = strconv.ParseInt(v, 10, 64); err != nil || f.KeyID < 1 {
			return param.Invalid("key_id", "%q: want a key id (citygrid keys list)", v)
		}
	}
	for _, t := range []struct {
		name string
		dst  *string
	}{{"action", &f.Action}, {"target", &f.Target}, {"request_id", &f.RequestID}} {
		v := q.Get(t.name)
		if len(v) > maxAuditText || !utf8.ValidString(v) {
			return param.Invalid(t.name, "want UTF-8 text of at most %d bytes", maxAuditText)
		}
		if err := param.Text(t.name, v); err != nil {
			return err
		}
		*t.dst = v
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(t.name); v != "" {
			if *t.dst, err = param.Time(t.name, v); err != nil {
				return err
			}
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return param.Invalid("from", "must be before to")
	}
	if f.Limit, err = parseInt(c, "limit", grid.DefaultAuditPage, 1, grid.MaxAuditPage); err != nil {
		return err
	}
	if v := q.Get("after"); v != "" {
		if f.Before, err = auditAfter(v); err != nil {
			return err
		}
	}
	f.Town = principal(c).Town
	rows, err := s.cfg.Audit.Audit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	page := auditPage{Entries: make([]auditDTO, len(rows))}
	for i, r := range rows {
		d := auditDTO{ID: r.ID, At: r.At, Role: r.Role, Actor: r.Actor, Action: r.Action, Target: r.Target,
			Detail: json.RawMessage(r.Detail), Addr: r.Addr, RequestID: r.RequestID}
		if r.KeyID != 0 {
			d.KeyID = &r.KeyID
		}
		if r.Town != "" {
			d.Town = &r.Town
		}
		page.Entries[i] = d
	}
	if len(rows) == f.Limit {
		page.Next = auditCursor(rows[len(rows)-1].ID)
		nq := c.Request().URL.Query()
		nq.Set("after", page.Next)
		c.Response().Header().Set("Link", `</v1/audit?`+nq.Encode()+`>; rel="next"`)
	}
	return c.JSON(http.StatusOK, page)
}
