// Package pgtest gives each test a fresh, migrated PostGIS database cloned
// from a template, on a shared embedded cluster (or the server named by
// CITYGRID_TEST_DATABASE_URL). With CITYGRID_TESTDB=required a test that
// cannot reach PostGIS fails instead of skipping.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/citygrid/citygrid/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ClusterDir is where the shared test cluster lives unless
// CITYGRID_TEST_DATA_DIR says otherwise; `make test` stops it afterwards.
func ClusterDir() string {
	if d := os.Getenv("CITYGRID_TEST_DATA_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("citygrid-test-%d", os.Getuid()))
}

// server is the shared cluster of this test binary, started once.
type server struct {
	once    sync.Once
	err     error
	connFor func(db string) string
	cluster *pgembed.Cluster
}

var (
	shared  server // per test binary; holds no state that tests mutate
	counter atomic.Int64
)

func (s *server) start() {
	if u := os.Getenv("CITYGRID_TEST_DATABASE_URL"); u != "" {
		cfg, err := pgconn.ParseConfig(u)
		if err != nil {
			s.err = err
			return
		}
		s.connFor = func(db string) string {
			return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s", cfg.Host, cfg.Port, cfg.User, cfg.Password, db)
		}
		return
	}
	dir := ClusterDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.err = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgembed.Start(ctx, pgembed.Options{DataDir: dir, Database: "postgres", Fast: true})
	if err != nil {
		s.err = err
		return
	}
	s.cluster = c
	s.connFor = c.ConnStringFor
}

func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CITYGRID_TESTDB") == "required" {
		tb.Fatalf("PostGIS is required (CITYGRID_TESTDB=required) but unavailable: %v", err)
	}
	tb.Skipf("PostGIS unavailable (set CITYGRID_TESTDB=required to fail instead): %v", err)
}

// Kind of database a test starts from.
type Kind int

const (
	// Empty is migrated, with no grid loaded.
	Empty Kind = iota
	// Demo is migrated with the demo city loaded and active.
	Demo
)

// URL returns the connection string of a fresh database of the given kind,
// dropped when the test ends.
func URL(tb testing.TB, kind Kind) string {
	tb.Helper()
	shared.once.Do(shared.start)
	if shared.err != nil {
		unavailable(tb, shared.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tmpl, err := template(ctx, kind)
	if err != nil {
		tb.Fatalf("pgtest: template: %v", err)
	}
	name := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, counter.Add(1))
	admin, err := pgx.Connect(ctx, shared.connFor("postgres"))
	if err != nil {
		unavailable(tb, err)
	}
	defer admin.Close(ctx)
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tmpl))
		// Two clones of one template at the same instant: the second waits.
		if err == nil || attempt > 50 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, shared.connFor("postgres"))
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	})
	return shared.connFor(name)
}

// New opens a pool on a fresh database of the given kind, closed when the
// test ends.
func New(tb testing.TB, kind Kind) *postgres.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, URL(tb, kind))
	if err != nil {
		tb.Fatalf("pgtest: open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

// AdminURL is the connection string of the maintenance database of the
// shared server, for tests that create databases of their own.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	shared.once.Do(shared.start)
	if shared.err != nil {
		unavailable(tb, shared.err)
	}
	return shared.connFor("postgres")
}

// template returns the name of the template database of a kind, building it
// once per content hash of the migrations and the demo data (under an
// advisory lock, since test binaries run in parallel).
func template(ctx context.Context, kind Kind) (string, error) {
	h := sha256.New()
	for _, f := range []fs.FS{migrations.FS, geodata.Files()} {
		err := fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(f, p)
			h.Write([]byte(p))
			h.Write(b)
			return err
		})
		if err != nil {
			return "", err
		}
	}
	name := fmt.Sprintf("tmpl_%s_%d", hex.EncodeToString(h.Sum(nil))[:16], kind)
	admin, err := pgx.Connect(ctx, shared.connFor("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(727272)`); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock(727272)`) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_build"
	if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return "", err
	}
	db, err := postgres.Open(ctx, shared.connFor(building))
	if err != nil {
		return "", err
	}
	err = db.Migrate(ctx)
	if err == nil && kind == Demo {
		var city = geodata.MustLinhai()
		_, err = db.LoadCity(ctx, city, "demo: synthetic Linhai (geodata/linhai)")
	}
	db.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", err
	}
	_, err = admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s WITH IS_TEMPLATE true`, name))
	return name, err
}
