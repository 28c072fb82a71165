package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sourceRoots are the inputs of the bundle, as web/scripts/sourcehash.mjs
// lists them.
var sourceRoots = []string{"index.html", "package.json", "package-lock.json", "scripts", "src", "vite.config.js"}

// sourceHash is web/scripts/sourcehash.mjs in Go: the SHA-256 of lines
// "<sha256 of file>  <path>\n" over the sources, paths in byte order.
func sourceHash(root string) (string, error) {
	var paths []string
	for _, r := range sourceRoots {
		err := filepath.WalkDir(filepath.Join(root, r), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			paths = append(paths, filepath.ToSlash(rel))
			return err
		})
		if err != nil {
			return "", err
		}
	}
	slices.Sort(paths)
	all := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(all, "%s  %s\n", hex.EncodeToString(sum[:]), p)
	}
	return hex.EncodeToString(all.Sum(nil)), nil
}

// TestDistIsFresh fails when the committed bundle was built from other
// sources than those in the tree.
func TestDistIsFresh(t *testing.T) {
	want, err := sourceHash(".")
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.ReadFile(Dist(), "source-hash.txt")
	if err != nil {
		t.Fatalf("web/dist has no source-hash.txt (%v): run make web", err)
	}
	if h := strings.TrimSpace(string(got)); h != want {
		t.Fatalf("web/dist was built from other sources (dist %s, sources %s): run make web and commit web/dist", h, want)
	}
}

// TestDistIsWhole: the embedded bundle has its page, scripts and glyphs.
func TestDistIsWhole(t *testing.T) {
	page, err := fs.ReadFile(Dist(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte(`src="/assets/`)) {
		t.Errorf("index.html loads no script from /assets/: %s", page)
	}
	for _, p := range []string{"glyphs/Noto Sans Regular/0-255.pbf", "glyphs/Noto Sans Bold/0-255.pbf"} {
		if _, err := fs.Stat(Dist(), p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
