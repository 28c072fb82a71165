package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// KeyRevokedChannel carries the prefix of a revoked API key, so every
// replica forgets it at once.
const KeyRevokedChannel = "citygrid_key_revoked"

// CreateAPIKey stores a new key (only its SHA-256 is kept) and returns the
// secret once: "cg_<prefix>_<secret>". town scopes the key to one town.
func (db *DB) CreateAPIKey(ctx context.Context, role, town, note string) (key string, err error) {
	return db.CreateAPIKeyUntil(ctx, role, town, note, time.Time{})
}

// CreateAPIKeyUntil is CreateAPIKey for a key that expires at expires
// (zero: never). An expiry in the past is Invalid.
func (db *DB) CreateAPIKeyUntil(ctx context.Context, role, town, note string, expires time.Time) (key string, err error) {
	defer wrap(&err, "CreateAPIKey(%q)", role)
	if !slices.Contains(grid.Roles(), role) {
		return "", grid.Errorf(grid.Invalid, "role %q: want one of %v", role, grid.Roles())
	}
	var expiresArg *time.Time
	if !expires.IsZero() {
		if !expires.After(time.Now()) {
			return "", grid.Errorf(grid.Invalid, "expiry %s is not in the future", expires.Format(time.RFC3339))
		}
		expiresArg = &expires
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
	// The key and its audit row, in one statement: both or neither.
	args := pgx.NamedArgs{"prefix": prefix, "hash": sum[:], "role": role, "town": townArg, "note": note, "expires": expiresArg,
		"action": grid.AuditKeyCreate}
	auditArgs(ctx, args)
	_, err = db.pool.Exec(ctx, `WITH k AS (
			INSERT INTO api_key (prefix, hash, role, town_code, note, expires_at) VALUES (@prefix, @hash, @role, @town, @note, @expires)
			RETURNING id, prefix, town_code
		)
		INSERT INTO audit_log (`+auditColumns+`, action, target, town_code, detail)
		SELECT `+auditValues+`, @action, 'api_key:' || k.id, k.town_code,
			jsonb_build_object('prefix', k.prefix, 'role', @role::text, 'town', coalesce(@town::text, ''), 'expires_at', @expires::timestamptz)
		FROM k`, args)
	if err != nil {
		return "", err
	}
	return key, nil
}

// APIKey is what is known of a stored key: never its secret.
type APIKey struct {
	ID        int64
	Prefix    string
	Role      string
	Town      string
	Note      string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// APIKeys lists every key, oldest first.
func (db *DB) APIKeys(ctx context.Context) (ks []APIKey, err error) {
	defer wrap(&err, "APIKeys")
	rows, err := db.pool.Query(ctx, `SELECT id, prefix, role, coalesce(town_code, ''), note, created_at, expires_at, revoked_at
		FROM api_key ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (k APIKey, err error) {
		return k, r.Scan(&k.ID, &k.Prefix, &k.Role, &k.Town, &k.Note, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt)
	})
}

// RevokeAPIKey revokes the key with this id or prefix, records it in the
// audit log (as grid.WhoOf(ctx)) and tells every replica (NOTIFY), all in
// one transaction. NotFound when no such key is there; revoking a revoked
// key again is a no-op that returns the key, and records nothing.
func (db *DB) RevokeAPIKey(ctx context.Context, idOrPrefix string) (k APIKey, err error) {
	defer wrap(&err, "RevokeAPIKey(%q)", idOrPrefix)
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var now time.Time
		err := tx.QueryRow(ctx, `UPDATE api_key SET revoked_at = coalesce(revoked_at, now())
			WHERE id::text = $1 OR prefix = $1
			RETURNING id, prefix, role, coalesce(town_code, ''), note, created_at, expires_at, revoked_at, now()`, idOrPrefix).
			Scan(&k.ID, &k.Prefix, &k.Role, &k.Town, &k.Note, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &now)
		if notFound(err) {
			return grid.Errorf(grid.NotFound, "no API key %q (give its id or prefix: citygrid keys list)", idOrPrefix)
		}
		if err != nil {
			return err
		}
		if k.RevokedAt.Equal(now) { // revoked now, not before
			if err := insertAudit(ctx, tx, grid.AuditKeyRevoke, "api_key:"+strconv.FormatInt(k.ID, 10), k.Town,
				map[string]any{"prefix": k.Prefix, "role": k.Role}); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, KeyRevokedChannel, k.Prefix)
		return err
	})
	return k, err
}

// ListenKeyRevocations calls onRevoke with the prefix of every key revoked
// anywhere, and onConnect after every (re)connect: revocations sent while
// the listener was away are lost, so a replica then forgets every cached
// key. It returns when ctx ends.
func (db *DB) ListenKeyRevocations(ctx context.Context, onRevoke func(prefix string), onConnect func(), log *slog.Logger) {
	db.listen(ctx, KeyRevokedChannel, onRevoke, onConnect, log)
}

// Principal resolves an API key by its hash: Unauthorized when it is
// unknown, revoked or expired.
func (db *DB) Principal(ctx context.Context, key string) (p grid.Principal, err error) {
	defer wrap(&err, "Principal")
	sum := sha256.Sum256([]byte(key))
	var town *string
	err = db.pool.QueryRow(ctx, `SELECT id, role, town_code, expires_at FROM api_key
		WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`, sum[:]).Scan(&p.KeyID, &p.Role, &town, &p.Expires)
	if notFound(err) {
		return p, grid.Errorf(grid.Unauthorized, "unknown, revoked or expired API key")
	}
	if err != nil {
		return p, db.classify(err)
	}
	if town != nil {
		p.Town = *town
	}
	return p, nil
}
