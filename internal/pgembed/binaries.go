package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNotInstalled is wrapped by the errors of FindBinaries and Start when the
// PostgreSQL server binaries or the PostGIS extension are missing.
var ErrNotInstalled = errors.New("PostgreSQL with PostGIS is not installed")

// installHint says what to install when nothing usable is found.
const installHint = "install postgresql-15 and postgresql-15-postgis-3 (apt-get install postgresql-15-postgis-3)"

// install is one PostgreSQL installation: its binaries, its share directory
// (where extension control files live) and its major version.
type install struct {
	binDir   string
	shareDir string
	major    int
}

func (in install) postgisControl() string {
	return filepath.Join(in.shareDir, "extension", "postgis.control")
}

func (in install) hasPostGIS() bool { return isFile(in.postgisControl()) }

func (in install) bin(name string) string { return filepath.Join(in.binDir, name) }

// FindBinaries returns the directory holding the PostgreSQL server binaries
// (initdb, pg_ctl, postgres). It asks `pg_config --bindir` first, then looks
// at /usr/lib/postgresql/*/bin (newest first), then at initdb on PATH. It also
// checks that the PostGIS extension is installed for that server, and its
// error says exactly which package to install when something is missing.
func FindBinaries() (dir string, err error) {
	in, err := findInstall()
	if err != nil {
		return "", err
	}
	return in.binDir, nil
}

func findInstall() (install, error) {
	cands := candidates()
	if len(cands) == 0 {
		return install{}, fmt.Errorf("pgembed: %w: no PostgreSQL server binaries (initdb, pg_ctl, postgres) found via pg_config --bindir or in /usr/lib/postgresql/*/bin: %s",
			ErrNotInstalled, installHint)
	}
	for _, in := range cands {
		if in.hasPostGIS() {
			return in, nil
		}
	}
	in := cands[0]
	ver := "15"
	if in.major > 0 {
		ver = strconv.Itoa(in.major)
	}
	return install{}, fmt.Errorf("pgembed: %w: PostgreSQL %s server found in %s, but the PostGIS extension is not (no %s): install postgresql-%s-postgis-3 (apt-get install postgresql-%s-postgis-3)",
		ErrNotInstalled, ver, in.binDir, in.postgisControl(), ver, ver)
}

// candidates lists usable installations, preferred first: the one pg_config
// names, then /usr/lib/postgresql/<ver>/bin newest first, then initdb's
// directory on PATH.
func candidates() []install {
	var out []install
	seen := map[string]bool{}
	add := func(binDir, shareDir string, major int) {
		binDir = filepath.Clean(binDir)
		if seen[binDir] || !hasServerBinaries(binDir) {
			return
		}
		seen[binDir] = true
		if major == 0 {
			major = serverMajor(binDir)
		}
		if shareDir == "" {
			shareDir = guessShareDir(binDir, major)
		}
		out = append(out, install{binDir: binDir, shareDir: shareDir, major: major})
	}

	if pgc, err := exec.LookPath("pg_config"); err == nil {
		if bin := pgConfig(pgc, "--bindir"); bin != "" {
			add(bin, pgConfig(pgc, "--sharedir"), 0)
		}
	}

	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	type verDir struct {
		ver int
		dir string
	}
	var vds []verDir
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		vds = append(vds, verDir{v, d})
	}
	sort.Slice(vds, func(i, j int) bool { return vds[i].ver > vds[j].ver })
	for _, vd := range vds {
		add(vd.dir, "", vd.ver)
	}

	if initdb, err := exec.LookPath("initdb"); err == nil {
		add(filepath.Dir(initdb), "", 0)
	}
	return out
}

func hasServerBinaries(dir string) bool {
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if !isFile(filepath.Join(dir, b)) {
			return false
		}
	}
	return true
}

func guessShareDir(binDir string, major int) string {
	if pgc := filepath.Join(binDir, "pg_config"); isFile(pgc) {
		if s := pgConfig(pgc, "--sharedir"); s != "" {
			return s
		}
	}
	var tries []string
	if major > 0 {
		tries = append(tries, filepath.Join("/usr/share/postgresql", strconv.Itoa(major)))
	}
	tries = append(tries,
		filepath.Join(filepath.Dir(binDir), "share", "postgresql"),
		filepath.Join(filepath.Dir(binDir), "share"))
	for _, t := range tries {
		if isDir(filepath.Join(t, "extension")) {
			return t
		}
	}
	return tries[0]
}

func pgConfig(pgc, flag string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pgc, flag).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\)\s+(\d+)`)

// serverMajor asks `postgres --version` for the major version; 0 if unknown.
func serverMajor(binDir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return 0
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// ClientProgram returns the path of a PostgreSQL client program (pg_dump,
// pg_restore, psql): from the installation FindBinaries picks, so that it
// is the embedded server's own version, else from the newest installation
// under /usr/lib/postgresql that has it, else from PATH. Its error, wrapping
// ErrNotInstalled, says which package to install.
func ClientProgram(name string) (string, error) {
	if in, err := findInstall(); err == nil && isFile(in.bin(name)) {
		return in.bin(name), nil
	}
	for _, in := range candidates() {
		if isFile(in.bin(name)) {
			return in.bin(name), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if p := filepath.Join(d, name); isFile(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("pgembed: %w: no %s found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH): install postgresql-client-15 (apt-get install postgresql-client-15)",
		ErrNotInstalled, name)
}

// versionOf reads the major version from /usr/lib/postgresql/<ver>/bin; 0 if none.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}
