package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/citygrid/citygrid/internal/grid"
)

// CreateAPIKey stores a new key (only its SHA-256 is kept) and returns the
// secret once: "cg_<prefix>_<secret>". town scopes the key to one town.
func (db *DB) CreateAPIKey(ctx context.Context, role, town, note string) (key string, err error) {
	defer wrap(&err, "CreateAPIKey(%q)", role)
	if !slices.Contains(grid.Roles(), role) {
		return "", grid.Errorf(grid.Invalid, "role %q: want one of %v", role, grid.Roles())
	}
	var townArg *string
	if town != "" {
		if !grid.ValidTownCode(town) {
			return "", grid.Errorf(grid.Invalid, "town %q: want a 9-digit town code", town)
		}
		var ok bool
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM town t JOIN grid_version v ON v.id = t.version_id AND v.active WHERE t.code = $1)`, town).Scan(&ok); err != nil {
			return "", err
		}
		if !ok {
			return "", grid.Errorf(grid.NotFound, "town %s is not in the active grid", town)
		}
		townArg = &town
	}
	buf := make([]byte, 26)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	prefix := hex.EncodeToString(buf[:6])
	secret := hex.EncodeToString(buf[6:])
	key = fmt.Sprintf("cg_%s_%s", prefix, secret)
	sum := sha256.Sum256([]byte(key))
	_, err = db.pool.Exec(ctx, `INSERT INTO api_key (prefix, hash, role, town_code, note) VALUES ($1, $2, $3, $4, $5)`,
		prefix, sum[:], role, townArg, note)
	if err != nil {
		return "", err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO audit_log (actor, action, object, detail) VALUES ('cli', 'api_key.create', $1, jsonb_build_object('role', $2::text, 'town', $3::text))`,
		prefix, role, town)
	return key, err
}

// Principal resolves an API key by its hash.
func (db *DB) Principal(ctx context.Context, key string) (p grid.Principal, err error) {
	defer wrap(&err, "Principal")
	sum := sha256.Sum256([]byte(key))
	var town *string
	err = db.pool.QueryRow(ctx, `SELECT role, town_code FROM api_key WHERE hash = $1 AND revoked_at IS NULL`, sum[:]).Scan(&p.Role, &town)
	if notFound(err) {
		return p, grid.Errorf(grid.Unauthorized, "unknown or revoked API key")
	}
	if err != nil {
		return p, db.classify(err)
	}
	if town != nil {
		p.Town = *town
	}
	return p, nil
}
