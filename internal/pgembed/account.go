package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// account is the OS user that owns the cluster directory and runs initdb,
// pg_ctl and the postmaster. PostgreSQL refuses to run as root, so when this
// process is root the account is another user (normally "postgres") and
// commands are started with its credentials.
type account struct {
	name   string
	uid    int
	gid    int
	groups []uint32 // supplementary groups, including gid
	home   string
	setuid bool // commands run with these credentials instead of ours
}

// serverAccount picks the account for the cluster in clusterDir: ourselves
// when not root; when root, the owner of an existing cluster directory if that
// is not root, else the "postgres" user.
func serverAccount(clusterDir string) (*account, error) {
	if os.Geteuid() != 0 {
		a := &account{uid: os.Geteuid(), gid: os.Getegid()}
		if u, err := user.Current(); err == nil {
			a.name, a.home = u.Username, u.HomeDir
		}
		return a, nil
	}
	if fi, err := os.Stat(clusterDir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
				return accountFor(u)
			}
			return &account{name: strconv.Itoa(int(st.Uid)), uid: int(st.Uid), gid: int(st.Gid),
				groups: []uint32{st.Gid}, setuid: true}, nil
		}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgembed: running as root, and PostgreSQL refuses to run as root, but there is no \"postgres\" OS user to run it as (%v): %s, which creates that user, or run citygrid as a non-root user",
			err, installHint)
	}
	return accountFor(u)
}

func accountFor(u *user.User) (*account, error) {
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("pgembed: OS user %q: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("pgembed: OS user %q: gid %q: %w", u.Username, u.Gid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("pgembed: OS user %q has uid 0; PostgreSQL refuses to run as root", u.Username)
	}
	a := &account{name: u.Username, uid: uid, gid: gid, home: u.HomeDir, setuid: true}
	a.groups = []uint32{uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil && g != gid {
				a.groups = append(a.groups, uint32(g))
			}
		}
	}
	return a, nil
}

func (a *account) String() string {
	return fmt.Sprintf("%q (uid %d)", a.name, a.uid)
}

// chown gives path to the account when commands run as another user.
func (a *account) chown(path string) error {
	if !a.setuid {
		return nil
	}
	if err := os.Lchown(path, a.uid, a.gid); err != nil {
		return fmt.Errorf("pgembed: chown %s to %s: %w", path, a, err)
	}
	return nil
}

// writeFile writes data to path with mode and hands it to the account.
func (a *account) writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pgembed: %w", err)
	}
	if err := a.chown(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pgembed: %w", err)
	}
	return nil
}

// mkdir creates dir (and missing parents) and hands dir itself to the
// account with the given mode.
func (a *account) mkdir(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	return a.chown(dir)
}

// canTraverse reports whether the account may search (x) the directory fi.
// ACLs are not consulted.
func (a *account) canTraverse(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == a.uid:
		return perm&0o100 != 0
	case a.inGroup(st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

func (a *account) inGroup(gid uint32) bool {
	if int(gid) == a.gid {
		return true
	}
	for _, g := range a.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// checkTraversable verifies that the account can reach dir: dir and every
// parent up to / must be searchable by it.
func (a *account) checkTraversable(dir string) error {
	if !a.setuid {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
		if !a.canTraverse(fi) {
			return fmt.Errorf("pgembed: directory %s (mode %v) is not traversable by OS user %s, which runs PostgreSQL because PostgreSQL refuses to run as root; "+
				"make it searchable (chmod o+x %s) or use a data dir whose parent directories all are (e.g. under /var/lib or /tmp)",
				d, fi.Mode().Perm(), a, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// command prepares one PostgreSQL program to run as the account, from /, with
// a clean environment (no PG* variables, C messages so logs can be parsed).
func (a *account) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = "/"
	cmd.WaitDelay = 5 * time.Second
	env := []string{
		"PATH=" + filepath.Dir(path) + ":/usr/local/bin:/usr/bin:/bin",
		"LANG=C",
		"LC_MESSAGES=C",
		"TZ=UTC",
	}
	if a.home != "" {
		env = append(env, "HOME="+a.home)
	}
	if a.name != "" {
		env = append(env, "USER="+a.name, "LOGNAME="+a.name)
	}
	cmd.Env = env
	if a.setuid {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid:    uint32(a.uid),
			Gid:    uint32(a.gid),
			Groups: a.groups,
		}}
	}
	return cmd
}

// run runs a PostgreSQL program as the account; its error names the command
// and carries the tail of its output.
func (a *account) run(ctx context.Context, path string, args ...string) (string, error) {
	cmd := a.command(ctx, path, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", err, ctxErr)
		}
		return out.String(), &cmdError{cmd: filepath.Base(path) + " " + strings.Join(args, " "), err: err, output: tailLines(out.String(), 20)}
	}
	return out.String(), nil
}

// cmdError is a failed PostgreSQL program with the tail of what it and the
// server logged.
type cmdError struct {
	cmd    string
	err    error
	output string
	log    string
}

func (e *cmdError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pgembed: %s: %v", e.cmd, e.err)
	if s := strings.TrimSpace(e.output); s != "" {
		b.WriteString("\n--- output ---\n")
		b.WriteString(s)
	}
	if s := strings.TrimSpace(e.log); s != "" {
		b.WriteString("\n--- server log ---\n")
		b.WriteString(s)
	}
	return b.String()
}

func (e *cmdError) Unwrap() error { return e.err }

// tailLines returns at most the last n lines of s.
func tailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
