package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/jackc/pgx/v5"
)

// Backups are PostgreSQL's custom-format dumps (pg_dump -Fc) of the whole
// database — schema, data, the PostGIS extension and tern's schema_version
// — made and restored by the system's client programs, of the version
// pgembed runs. pg_dump reads one snapshot without blocking writers, so a
// backup of a serving database is consistent. A restore goes into an empty
// database in one transaction, without the dump's owners and grants (so it
// can move between the embedded cluster and another server), and ends with
// ANALYZE; the next serve migrates it if the binary is newer.

func cmdBackup(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	dataDir := dataDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: citygrid backup [--data-dir DIR] FILE")
	}
	file := fs.Arg(0)
	if err := checkWritableDir(file); err != nil {
		return err
	}
	pgDump, err := pgembed.ClientProgram("pg_dump")
	if err != nil {
		return err
	}
	dsn, cluster, err := databaseURL(ctx, *dataDir, log)
	if err != nil {
		return err
	}
	defer stopIfStarted(cluster)
	version, err := schemaVersion(ctx, dsn)
	if err != nil {
		return err
	}
	conn, env, err := libpqConn(dsn)
	if err != nil {
		return err
	}
	// The dump is written beside the file and renamed into place when
	// complete: an interrupted backup never leaves a truncated FILE.
	tmp := file + ".partial"
	defer os.Remove(tmp)
	// It holds key hashes and reporters' contact details: owner only.
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	start := time.Now()
	if err := runClient(ctx, env, pgDump, "--format=custom", "--no-password", "--file="+tmp, "--dbname="+conn); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	toc, err := backupTOC(ctx, tmp)
	if err != nil {
		return fmt.Errorf("backup: the dump just written does not read back: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "backup %s: %s, schema version %d, %d tables and partitions, in %s\n", file, byteSize(fi.Size()), version,
		toc.tables, time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdRestore(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	dataDir := dataDirFlag(fs)
	force := fs.Bool("force", false, "replace what the database holds (every table, schema and extension in it) with the backup")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: citygrid restore [--force] [--data-dir DIR] FILE")
	}
	file := fs.Arg(0)
	pgRestore, err := pgembed.ClientProgram("pg_restore")
	if err != nil {
		return err
	}
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	toc, err := backupTOC(ctx, file)
	if err != nil {
		return fmt.Errorf("restore: %s is not a backup made by citygrid backup (a pg_dump -Fc file): %w", file, err)
	}
	if !toc.citygrid {
		return fmt.Errorf("restore: %s is a PostgreSQL dump, but not of a citygrid database (no schema_version and incident tables)", file)
	}
	dsn, cluster, err := databaseURL(ctx, *dataDir, log)
	if err != nil {
		return err
	}
	defer stopIfStarted(cluster)
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("restore: connect: %w", err)
	}
	defer db.Close(context.Background())
	name := databaseName(ctx, db)
	if others, err := otherSessionsSettled(ctx, db); err != nil {
		return err
	} else if others != "" {
		return fmt.Errorf("restore: %s is in use (%s): stop every serve and client of it first", name, others)
	}
	held, err := describeContents(ctx, db)
	if err != nil {
		return err
	}
	if held != "" && !*force {
		return fmt.Errorf("restore: %s is not empty: %s; restore --force replaces all of it with the backup", name, held)
	}
	if held != "" {
		if err := clearDatabase(ctx, db); err != nil {
			return fmt.Errorf("restore --force: emptying %s: %w", name, err)
		}
		log.Info("emptied the database for the restore", "database", name, "held", held)
	}
	conn, env, err := libpqConn(dsn)
	if err != nil {
		return err
	}
	list, err := os.CreateTemp("", "citygrid-restore-*.list")
	if err != nil {
		return err
	}
	defer os.Remove(list.Name())
	_, err = list.WriteString(toc.restoreList())
	if cerr := list.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	start := time.Now()
	// One transaction: a failed restore leaves the database as it was.
	if err := runClient(ctx, env, pgRestore, "--no-password", "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
		"--use-list="+list.Name(), "--dbname="+conn, file); err != nil {
		return fmt.Errorf("restore: nothing was restored: %w", err)
	}
	if _, err := db.Exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("restore: ANALYZE: %w", err)
	}
	version, err := schemaVersion(ctx, dsn)
	if err != nil {
		return err
	}
	var incidents, grids int64
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM incident), (SELECT count(*) FROM grid_version)`).Scan(&incidents, &grids); err != nil {
		return fmt.Errorf("restore: reading the restored database: %w", err)
	}
	fmt.Fprintf(out, "restored %s into %s: schema version %d, %d grid versions, %d incidents, in %s\n",
		file, name, version, grids, incidents, time.Since(start).Round(time.Millisecond))
	return nil
}

// stopIfStarted stops the embedded cluster if this command started it.
func stopIfStarted(c *pgembed.Cluster) {
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.Stop(ctx)
}

// checkWritableDir makes sure the backup's directory exists, before any
// database is started for it.
func checkWritableDir(file string) error {
	dir := filepath.Dir(file)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("backup: %s is not a directory", dir)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// runClient runs a PostgreSQL client program; its error carries what the
// program said.
func runClient(ctx context.Context, env []string, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 4000 {
			msg = "…" + msg[len(msg)-4000:]
		}
		return fmt.Errorf("%s: %v: %s", filepath.Base(prog), err, msg)
	}
	return nil
}

// cleanEnv is the environment without PG* variables, which would add to or
// override the connection string given.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			out = append(out, kv)
		}
	}
	return out
}

// libpqConn turns a connection string pgx accepts into one for libpq's
// programs: the password moves to PGPASSWORD (so it is not on a command
// line that every local user can read), and pgx's own settings are dropped.
func libpqConn(dsn string) (conn string, env []string, err error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", nil, fmt.Errorf("database url: %w", err)
		}
		if u.User != nil {
			if pw, ok := u.User.Password(); ok {
				env = append(env, "PGPASSWORD="+pw)
			}
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		if pw := q.Get("password"); pw != "" {
			env = append(env, "PGPASSWORD="+pw)
		}
		q.Del("password")
		for k := range q {
			if pgxOnly(k) {
				q.Del(k)
			}
		}
		u.RawQuery = q.Encode()
		return u.String(), env, nil
	}
	// key=value pairs; values may be single-quoted with backslash escapes.
	pairs, err := splitKeyValues(dsn)
	if err != nil {
		return "", nil, err
	}
	var kept []string
	for _, kv := range pairs {
		switch {
		case kv[0] == "password":
			env = append(env, "PGPASSWORD="+kv[1])
		case pgxOnly(kv[0]):
		default:
			kept = append(kept, kv[0]+"='"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[1])+"'")
		}
	}
	return strings.Join(kept, " "), env, nil
}

// pgxOnly names the settings pgx and pgxpool take that libpq refuses.
func pgxOnly(key string) bool {
	switch key {
	case "statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode", "min_read_buffer_size":
		return true
	}
	return strings.HasPrefix(key, "pool_")
}

func splitKeyValues(s string) ([][2]string, error) {
	var out [][2]string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("database url: %q is neither a URL nor key=value pairs", s)
		}
		key := strings.TrimSpace(s[i : i+eq])
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, errors.New("database url: unterminated quoted value")
			}
			i++
		} else {
			for ; i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
		}
		out = append(out, [2]string{key, val.String()})
	}
}

// dumpTOC is what a dump holds, from pg_restore --list.
type dumpTOC struct {
	lines    []string
	tables   int
	citygrid bool // it has citygrid's schema_version and incident tables
}

func parseTOC(list string) dumpTOC {
	var t dumpTOC
	var version, incident bool
	sc := bufio.NewScanner(strings.NewReader(list))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t.lines = append(t.lines, line)
		if strings.HasPrefix(line, ";") {
			continue
		}
		if strings.Contains(line, " TABLE public ") {
			t.tables++
		}
		version = version || strings.Contains(line, " TABLE public schema_version ")
		incident = incident || strings.Contains(line, " TABLE public incident ")
	}
	t.citygrid = version && incident
	return t
}

func backupTOC(ctx context.Context, file string) (dumpTOC, error) {
	pgRestore, err := pgembed.ClientProgram("pg_restore")
	if err != nil {
		return dumpTOC{}, err
	}
	cmd := exec.CommandContext(ctx, pgRestore, "--list", file)
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return dumpTOC{}, fmt.Errorf("pg_restore --list: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parseTOC(string(b)), nil
}

// restoreList is the TOC to restore: everything but the comment on an
// extension, which only the extension's owner may set (a database where
// PostGIS was created by an administrator refuses it) and which the
// extension's own script writes anyway.
func (t dumpTOC) restoreList() string {
	var b strings.Builder
	for _, line := range t.lines {
		if !strings.HasPrefix(line, ";") && strings.Contains(line, " COMMENT - EXTENSION ") {
			b.WriteString(";")
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// schemaVersion is tern's migration version of the database at dsn.
func schemaVersion(ctx context.Context, dsn string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	var v int64
	if err := conn.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("the database has no citygrid schema (schema_version: %w)", err)
	}
	return v, nil
}

func databaseName(ctx context.Context, db *pgx.Conn) string {
	var name string
	if err := db.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		return "the database"
	}
	return fmt.Sprintf("database %q", name)
}

// otherSessionsSettled is otherSessions once the sessions that are ending
// have gone: a client that has just closed its connection stays in
// pg_stat_activity a moment longer, so sessions are looked for again, for
// up to two seconds, before they count.
func otherSessionsSettled(ctx context.Context, db *pgx.Conn) (string, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		others, err := otherSessions(ctx, db)
		if err != nil || others == "" || time.Now().After(deadline) {
			return others, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// otherSessions describes the other client sessions on the database; "" if
// none.
func otherSessions(ctx context.Context, db *pgx.Conn) (string, error) {
	var n int
	var apps string
	err := db.QueryRow(ctx, `SELECT count(*), coalesce(string_agg(DISTINCT coalesce(nullif(application_name, ''), 'unnamed'), ', '), '')
		FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&n, &apps)
	if err != nil {
		return "", fmt.Errorf("restore: listing sessions: %w", err)
	}
	if n == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d other sessions, from %s", n, apps), nil
}

// userRelations selects what a database holds beyond extensions: its
// tables, views and sequences outside the system schemas, and its schemas
// other than public.
const userRelations = `
	SELECT n.nspname, c.relname, c.relkind::text
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition
	  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
	  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
	ORDER BY 1, 2`

// describeContents says what the database holds beyond extensions: "" when
// it is empty, else its schema version, how many tables and the rows of
// citygrid's main ones.
func describeContents(ctx context.Context, db *pgx.Conn) (string, error) {
	rows, err := db.Query(ctx, userRelations)
	if err != nil {
		return "", fmt.Errorf("restore: listing tables: %w", err)
	}
	tables := map[string]bool{}
	var nTables, nOther int
	for rows.Next() {
		var schema, name, kind string
		if err := rows.Scan(&schema, &name, &kind); err != nil {
			return "", err
		}
		if kind == "r" || kind == "p" {
			nTables++
			if schema == "public" {
				tables[name] = true
			}
		} else {
			nOther++
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("restore: listing tables: %w", err)
	}
	var schemas []string
	if err := db.QueryRow(ctx, `SELECT coalesce(array_agg(nspname ORDER BY nspname), '{}') FROM pg_namespace n
		WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\_%'
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')`).Scan(&schemas); err != nil {
		return "", fmt.Errorf("restore: listing schemas: %w", err)
	}
	if nTables == 0 && nOther == 0 && len(schemas) == 0 {
		return "", nil
	}
	var parts []string
	if tables["schema_version"] {
		var v int64
		if err := db.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err == nil {
			parts = append(parts, fmt.Sprintf("citygrid schema version %d", v))
		}
	}
	parts = append(parts, fmt.Sprintf("%d tables, %d views and sequences", nTables, nOther))
	for _, t := range []string{"grid_version", "incident", "incident_event", "open311_request", "api_key", "audit_log"} {
		if !tables[t] {
			continue
		}
		var n int64
		if err := db.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{"public", t}.Sanitize()).Scan(&n); err != nil {
			return "", fmt.Errorf("restore: counting %s: %w", t, err)
		}
		parts = append(parts, fmt.Sprintf("%s %d rows", t, n))
	}
	if len(schemas) > 0 {
		parts = append(parts, "schemas "+strings.Join(schemas, ", "))
	}
	return strings.Join(parts, ", "), nil
}

// clearDatabase drops every schema but the system's — public with the
// extensions in it — and makes public again as a new database has it.
func clearDatabase(ctx context.Context, db *pgx.Conn) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	var schemas []string
	if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(nspname), '{}') FROM pg_namespace
		WHERE nspname NOT IN ('information_schema') AND nspname NOT LIKE 'pg\_%'`).Scan(&schemas); err != nil {
		return err
	}
	for _, s := range schemas {
		if _, err := tx.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
			return err
		}
	}
	var serverVersion int
	if err := tx.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&serverVersion); err != nil {
		return err
	}
	recreate := `CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO PUBLIC; COMMENT ON SCHEMA public IS 'standard public schema'`
	if serverVersion >= 150000 {
		recreate = `CREATE SCHEMA public AUTHORIZATION pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC; COMMENT ON SCHEMA public IS 'standard public schema'`
	}
	if _, err := tx.Exec(ctx, recreate); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
