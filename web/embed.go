// Package web holds citygrid's web map, built by Vite (make web) into
// dist and embedded here, so the Go build needs no Node.
package web

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Dist is the built web map: index.html at its root, hashed files under
// assets/, glyph PBFs under glyphs/, each large one beside its .gz.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path: fs.Sub cannot fail on it
	}
	return sub
}
