// Package postgres is the PostgreSQL/PostGIS adapter: the stores of the grid
// model, reference data and incidents, migrations, COPY ingest and
// LISTEN/NOTIFY. It is the only package that speaks SQL.
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// DB is the pool every store method runs on.
type DB struct {
	pool *pgxpool.Pool
	// batch runs long work without the request path's statement timeout —
	// migrations and the rollup rebuild, loading the grid model or every
	// rollup row, bulk loads (bounded by their caller's deadline) — on a
	// few connections; the same pool when there is no statement timeout.
	batch *pgxpool.Pool
	feed  *rollupFeed
	exact *hexbin.Exact // the cells met by the rollups of this process's writes
	tiles *changeFeed   // which incidents writes changed and where: the statistics read model, the tile caches
	// recent remembers when the incidents this process wrote lately
	// occurred: a lifecycle action then locks the row in its own partition.
	recent *occurredCache
	named  namedStatements
	covers *coverCache // the H3 covers of recent boxes
}

// occurredCache maps ids to occurred_at, direct-mapped: an id's slot is
// its low bits, a newer id in the same slot replaces it. 1 MB. Safe for
// concurrent use.
type occurredCache struct {
	mu  sync.Mutex
	ids [1 << 16]int64
	at  [1 << 16]time.Time
}

func (c *occurredCache) remember(id int64, at time.Time) {
	s := id & (1<<16 - 1)
	c.mu.Lock()
	c.ids[s], c.at[s] = id, at
	c.mu.Unlock()
}

func (c *occurredCache) lookup(id int64) (time.Time, bool) {
	s := id & (1<<16 - 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids[s] == id && id != 0 {
		return c.at[s], true
	}
	return time.Time{}, false
}

// Options configure OpenWith.
type Options struct {
	// StatementTimeout bounds every statement on the pool's connections
	// (their statement_timeout); past it a statement is cancelled and its
	// store method fails with a Timeout error. 0: no bound. Batch work
	// (migrations, loading the grid model or every rollup row, bulk loads)
	// runs on a second, small pool without it.
	StatementTimeout time.Duration
	// ApplicationName names the connections in pg_stat_activity; "" is
	// "citygrid". (The soak of `citygrid bench` tells its server's
	// connections from the bench's own by it.)
	ApplicationName string
}

// Open connects a pool to url, without a statement timeout (the commands
// other than serve, and tests): OpenWith with no Options.
func Open(ctx context.Context, url string) (*DB, error) {
	return OpenWith(ctx, url, Options{})
}

// batchConns is the size of the batch pool: a few bulk loads at once per
// replica (each keeps cores busy), the rest wait for a connection.
const batchConns = 4

// OpenWith connects a pool to url. Request-path connections run without
// parallel query workers: they slow short queries on small machines.
func OpenWith(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, "database url: %v", err)
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["max_parallel_workers_per_gather"] = "0"
	cfg.ConnConfig.RuntimeParams["application_name"] = cmp.Or(opts.ApplicationName, "citygrid")
	// Writers wait on the WAL flush of their commit, not on the CPU: more
	// connections than cores let concurrent commits share a flush.
	if cfg.MaxConns < 24 {
		cfg.MaxConns = 24
	}
	batchCfg := cfg.Copy()
	if opts.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(opts.StatementTimeout.Milliseconds(), 1), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	batch := pool
	if opts.StatementTimeout > 0 {
		batchCfg.MaxConns = batchConns
		if batch, err = pgxpool.NewWithConfig(ctx, batchCfg); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open database: %w", err)
		}
	}
	return &DB{pool: pool, batch: batch, feed: newRollupFeed(), exact: &hexbin.Exact{}, tiles: &changeFeed{}, recent: &occurredCache{}, covers: &coverCache{}}, nil
}

// Close waits for background merges of busy rollup slices, sends the
// notifications still queued, then releases the pools.
func (db *DB) Close() {
	db.feed.merges.Wait()
	db.flushTiles() // incident changes queued for the other replicas
	db.flushNotify()
	db.pool.Close()
	if db.batch != db.pool {
		db.batch.Close()
	}
}

// Pool exposes the pool to tests and benchmarks in this module.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return grid.Wrap(grid.Unavailable, err, "database unreachable")
	}
	return nil
}

// Migrate applies every pending migration, under tern's advisory lock so
// replicas starting together migrate once.
func (db *DB) Migrate(ctx context.Context) error {
	return migrateWith(ctx, db.batch, db.exact)
}

// Migrate applies the embedded migrations on a connection from pool, then
// writes the rollup rows a migration left to the service (see
// rebuildRollups).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return migrateWith(ctx, pool, &hexbin.Exact{})
}

func migrateWith(ctx context.Context, pool *pgxpool.Pool, ex *hexbin.Exact) (err error) {
	defer wrap(&err, "migrate")
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return err
	}
	if err := m.Migrate(ctx); err != nil {
		return err
	}
	return rebuildRollups(ctx, pool, ex)
}

// wrap gives an error its context at the top of a store method (defer
// wrap(&err, …)). The chain is kept: a domain error keeps its kind, and a
// connection-level failure becomes Unavailable with the driver's error as
// its cause.
func wrap(errp *error, format string, args ...any) {
	if *errp == nil {
		return
	}
	*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), classify(*errp))
}

// classify turns statements cut by a time limit into Timeout errors and
// connection-level failures into Unavailable errors, both keeping the
// driver's error as their cause; other errors pass unchanged.
func classify(err error) error {
	var ge *grid.Error
	switch {
	case err == nil || errors.As(err, &ge):
		return err
	case isTimeout(err):
		return grid.Wrap(grid.Timeout, err, "the database did not finish within the time limit")
	case isUnavailable(err):
		return grid.Wrap(grid.Unavailable, err, "database unavailable")
	}
	return err
}

// queryCanceled is SQLSTATE 57014: a statement cancelled by its
// statement_timeout (or by a cancel request, which pgx sends only for a
// context that ended).
const queryCanceled = "57014"

// isTimeout reports work cut by a time limit, which callers see as 504: a
// statement past its statement_timeout, or the caller's deadline passing
// while the database worked or a connection was awaited.
func isTimeout(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == queryCanceled
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// isUnavailable reports connection-level failures, which callers see as
// 503: the server refusing or dropping connections (class 08), shutting
// down or out of resources (57 but for 57014, 53), a connection that could
// not be made (no socket, refused, reset), or lost.
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code[:2]
		return c == "08" || c == "57" || c == "53"
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// outcomeUnknown reports an error after which a write may have committed:
// it was sent, and no answer came back (the request's context ended, the
// connection broke). An error the server sent, a connection never made or
// a statement never sent means nothing was written.
func outcomeUnknown(err error) bool {
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	return err != nil && err != errDuplicate && !pgconn.SafeToRetry(err) &&
		!errors.As(err, &pgErr) && !errors.As(err, &connErr)
}

func notFound(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
