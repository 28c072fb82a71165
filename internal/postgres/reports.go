package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// sideRow is one more row written in the statement that creates an
// incident: the statement createStatement made with a CTE that inserts
// from i, the new incident, and its own arguments, args (named sr_…,
// beside the incident's); via names the surface in the audit row ("" the
// JSON API).
type sideRow struct {
	statement string
	args      pgx.NamedArgs
	via       string
}

// serviceRequestCTE writes an Open311 request's side row, only when the
// incident itself was written; its occurred_at is the incident's own
// argument, so the partition key is the row's to the microsecond.
const serviceRequestCTE = `,
		s AS (
			INSERT INTO open311_request (incident_id, occurred_at, key_id, address, address_id, media_url, attributes,
				email, first_name, last_name, phone, device_id, account_id)
			SELECT i.id, @occurred_at::timestamptz, @sr_key_id::bigint, @sr_address::text, @sr_address_id::text,
				nullif(@sr_media_url::text, ''), @sr_attributes::jsonb,
				nullif(@sr_email::text, ''), nullif(@sr_first_name::text, ''), nullif(@sr_last_name::text, ''),
				nullif(@sr_phone::text, ''), nullif(@sr_device_id::text, ''), nullif(@sr_account_id::text, '')
			FROM i
		)`

// createServiceRequestSQL creates an incident and its Open311 side row.
var createServiceRequestSQL = createStatement(serviceRequestCTE)

// CreateServiceRequest stores an incident made through Open311 and its
// side row (the creating key, address, media, attributes, contact) in one
// statement, as CreateIncident stores an incident. A repeated external id
// returns the first incident with created == false when the same key made
// it through Open311, and Conflict otherwise.
func (db *DB) CreateServiceRequest(ctx context.Context, x *grid.Incident, r *grid.ServiceRequest, actor string) (created bool, err error) {
	if r.KeyID <= 0 {
		return false, grid.Errorf(grid.Invalid, "a service request needs the id of the key that creates it")
	}
	attrs := "{}"
	if len(r.Attributes) > 0 {
		b, err := json.Marshal(r.Attributes)
		if err != nil {
			return false, fmt.Errorf("CreateServiceRequest: %w", err)
		}
		attrs = string(b)
	}
	created, err = db.createIncident(ctx, x, actor, sideRow{statement: createServiceRequestSQL, via: "open311", args: pgx.NamedArgs{
		"sr_key_id": r.KeyID, "sr_address": r.Address, "sr_address_id": r.AddressID, "sr_media_url": r.MediaURL,
		"sr_attributes": attrs, "sr_email": r.Contact.Email, "sr_first_name": r.Contact.FirstName, "sr_last_name": r.Contact.LastName,
		"sr_phone": r.Contact.Phone, "sr_device_id": r.Contact.DeviceID, "sr_account_id": r.Contact.AccountID}})
	if err != nil || created {
		return created, err
	}
	defer wrap(&err, "CreateServiceRequest")
	var key int64
	err = db.pool.QueryRow(ctx, `SELECT key_id FROM open311_request WHERE incident_id = $1`, x.ID).Scan(&key)
	if notFound(err) || (err == nil && key != r.KeyID) {
		return false, grid.Errorf(grid.Conflict, "this idempotency key was used by another request")
	}
	if err != nil {
		return false, db.classify(err)
	}
	return false, nil
}

// FindServiceRequests lists incidents as Open311 shows them, newest first
// (by id, the order of receipt): with their Open311 side data when they
// came that way, the time of their last event and the last note of a
// lifecycle action. Contact columns are never read.
func (db *DB) FindServiceRequests(ctx context.Context, f grid.ServiceRequestFilter) (out []grid.ServiceRequestRecord, err error) {
	defer wrap(&err, "FindServiceRequests")
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	join := "LEFT JOIN"
	if f.KeyID > 0 {
		join = "JOIN"
		where = append(where, "r.key_id = "+arg(f.KeyID))
	}
	if f.Town != "" {
		where = append(where, "i.town_code = "+arg(f.Town))
	}
	if len(f.IDs) > 0 {
		where = append(where, "i.id = ANY("+arg(f.IDs)+")")
	} else {
		if len(f.Categories) > 0 {
			where = append(where, "i.category = ANY("+arg(f.Categories)+")")
		}
		if len(f.Statuses) > 0 {
			where = append(where, "i.status = ANY("+arg(f.Statuses)+")")
		}
		if !f.From.IsZero() {
			where = append(where, "i.occurred_at >= "+arg(f.From))
		}
		if !f.To.IsZero() {
			where = append(where, "i.occurred_at <= "+arg(f.To))
		}
	}
	limit := f.Limit
	if limit <= 0 || limit > grid.MaxServiceRequestPage {
		limit = grid.MaxServiceRequestPage
	}
	q := `SELECT i.id, i.category, i.status, i.description, ST_X(i.geom), ST_Y(i.geom), i.occurred_at, i.received_at, i.deadline,
			i.department_code, i.cell_code, i.community_code, i.town_code, i.grid_version,
			r.key_id, coalesce(r.address, ''), coalesce(r.address_id, ''), coalesce(r.media_url, ''),
			coalesce(last.at, i.received_at), coalesce(note.note, '')
		FROM incident i
		` + join + ` open311_request r ON r.incident_id = i.id AND r.occurred_at = i.occurred_at
		LEFT JOIN LATERAL (SELECT e.at FROM incident_event e WHERE e.incident_id = i.id ORDER BY e.id DESC LIMIT 1) last ON true
		LEFT JOIN LATERAL (SELECT e.note FROM incident_event e WHERE e.incident_id = i.id AND e.action <> '` + grid.EventCreate + `' AND e.note <> ''
			ORDER BY e.id DESC LIMIT 1) note ON true`
	if len(where) > 0 {
		q += "\n\t\tWHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf("\n\t\tORDER BY i.id DESC LIMIT %d", limit)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, db.classify(err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (grid.ServiceRequestRecord, error) {
		var rec grid.ServiceRequestRecord
		x := &rec.Incident
		var key *int64
		var sr grid.ServiceRequest
		err := row.Scan(&x.ID, &x.Category, &x.Status, &x.Description, &x.Point[0], &x.Point[1], &x.OccurredAt, &x.ReceivedAt, &x.Deadline,
			&x.Department, &x.CellCode, &x.CommunityCode, &x.TownCode, &x.GridVersion,
			&key, &sr.Address, &sr.AddressID, &sr.MediaURL, &rec.UpdatedAt, &rec.StatusNote)
		if key != nil {
			sr.KeyID = *key
			rec.Request = &sr
		}
		return rec, err
	})
}
