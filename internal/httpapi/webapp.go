package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

// WebConfig is what the web map learns from /config.json.
type WebConfig struct {
	// Basemap is an optional raster XYZ template ({z}, {x}, {y} or {-y}),
	// e.g. Tianditu's with a key; empty: no outside basemap (the default,
	// the map works offline).
	Basemap string `json:"basemap,omitempty"`
	// BasemapCRS is the datum of the basemap's tiles: wgs84 (also CGCS2000,
	// Tianditu) or gcj02 (Amap, Tencent). The overlays stay in WGS84, so on
	// a gcj02 basemap they are drawn some 500 m off; the page says so.
	BasemapCRS string `json:"basemap_crs"`
	// BasemapAttribution is shown in the map's corner.
	BasemapAttribution string `json:"basemap_attribution,omitempty"`
}

// WebFiles is the built web map dist with /config.json made from cfg.
// Errors: grid.Invalid naming the setting that is wrong.
func WebFiles(dist fs.FS, cfg WebConfig) (fs.FS, error) {
	switch cfg.BasemapCRS {
	case "", "wgs84", "cgcs2000":
		cfg.BasemapCRS = "wgs84"
	case "gcj02":
	default:
		return nil, grid.Errorf(grid.Invalid, "basemap CRS %q: want wgs84 (CGCS2000, Tianditu) or gcj02 (Amap, Tencent); Baidu's BD-09 tiles use their own tiling and are not supported", cfg.BasemapCRS)
	}
	if cfg.Basemap != "" {
		u, err := url.Parse(cfg.Basemap)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, grid.Errorf(grid.Invalid, "basemap %q: want an http(s) URL template", cfg.Basemap)
		}
		if !strings.Contains(cfg.Basemap, "{z}") || !strings.Contains(cfg.Basemap, "{x}") ||
			(!strings.Contains(cfg.Basemap, "{y}") && !strings.Contains(cfg.Basemap, "{-y}")) {
			return nil, grid.Errorf(grid.Invalid, "basemap %q: want a raster XYZ template with {z}, {x} and {y} (or {-y})", cfg.Basemap)
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return withFile{FS: dist, name: "config.json", data: b}, nil
}

// withFile is an fs.FS with one more file in its root.
type withFile struct {
	fs.FS
	name string
	data []byte
}

func (w withFile) Open(name string) (fs.File, error) {
	if name == w.name {
		return &memFile{Reader: bytes.NewReader(w.data), name: name, size: int64(len(w.data))}, nil
	}
	return w.FS.Open(name)
}

type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f, nil }
func (f *memFile) Close() error               { return nil }
func (f *memFile) Name() string               { return f.name }
func (f *memFile) Size() int64                { return f.size }
func (f *memFile) Mode() fs.FileMode          { return 0o444 }
func (f *memFile) ModTime() time.Time         { return time.Time{} }
func (f *memFile) IsDir() bool                { return false }
func (f *memFile) Sys() any                   { return nil }

// webAsset is one file of the web map, read once at start for its tag and
// then from the dist at each request (the dist is in the binary; a copy
// on the heap would hold it twice).
type webAsset struct {
	dist   fs.FS
	name   string // "": none
	gzName string // the build's precompressed copy (name + ".gz"); "": none
	size   int64
	gzSize int64
	etag   string
	ctype  string
	cache  string
}

// routesWeb serves the web map from Config.Web: the page at / and /screen
// (the big screen), its hashed assets, the shipped glyphs and /config.json;
// and the public reference data it needs (categories). Without Config.Web
// the page routes answer 404.
func (s *Server) routesWeb(e *echo.Echo) {
	s.routesCategories(e)
	assets, csp, err := loadWeb(s.cfg.Web)
	if err != nil {
		// A dist that cannot be read is a build fault; the API still serves.
		s.log.Error("the web map is not served", "err", err)
		assets = nil
	}
	serve := func(name string) echo.HandlerFunc {
		return func(c echo.Context) error { return serveAsset(c, assets, name, csp) }
	}
	e.GET("/", serve("index.html"))
	e.GET("/screen", serve("index.html"))
	e.GET("/config.json", serve("config.json"))
	e.GET("/assets/:file", func(c echo.Context) error {
		return serveAsset(c, assets, "assets/"+c.Param("file"), csp)
	})
	e.GET("/glyphs/:fontstack/:range", func(c echo.Context) error {
		// MapLibre asks for a comma list of fonts; the first one shipped
		// answers (the others are fallbacks for text it lacks).
		for _, font := range strings.Split(c.Param("fontstack"), ",") {
			name := "glyphs/" + strings.TrimSpace(font) + "/" + c.Param("range")
			if _, ok := assets[name]; ok {
				return serveAsset(c, assets, name, csp)
			}
		}
		return grid.Errorf(grid.NotFound, "no glyphs %s for font stack %q", c.Param("range"), c.Param("fontstack"))
	})
}

// loadWeb reads every file of the web map and the page's content security
// policy: its own origin only, plus the configured basemap's.
func loadWeb(dist fs.FS) (map[string]*webAsset, string, error) {
	if dist == nil {
		return nil, "", nil
	}
	assets := map[string]*webAsset{}
	err := fs.WalkDir(dist, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(dist, p)
		if err != nil {
			return err
		}
		if base, ok := strings.CutSuffix(p, ".gz"); ok {
			a := assets[base]
			if a == nil {
				a = &webAsset{}
				assets[base] = a
			}
			a.dist, a.gzName, a.gzSize = dist, p, int64(len(data))
			return nil
		}
		a := assets[p]
		if a == nil {
			a = &webAsset{}
			assets[p] = a
		}
		sum := sha256.Sum256(data)
		a.dist, a.name, a.size, a.etag = dist, p, int64(len(data)), `"`+hex.EncodeToString(sum[:12])+`"`
		a.ctype = mime.TypeByExtension(path.Ext(p))
		switch {
		case strings.HasSuffix(p, ".pbf"):
			a.ctype = "application/x-protobuf"
		case a.ctype == "":
			a.ctype = "application/octet-stream"
		}
		switch {
		case strings.HasPrefix(p, "assets/"):
			// Vite names assets by their content hash: a new build is a new name.
			a.cache = "public, max-age=31536000, immutable"
		case strings.HasPrefix(p, "glyphs/"):
			a.cache = "public, max-age=86400"
		default:
			a.cache = "no-cache" // revalidated by ETag on every load
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	// WebFiles adds config.json to the root without listing it.
	if _, ok := assets["config.json"]; !ok {
		if data, err := fs.ReadFile(dist, "config.json"); err == nil {
			sum := sha256.Sum256(data)
			assets["config.json"] = &webAsset{dist: dist, name: "config.json", size: int64(len(data)), etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: "application/json", cache: "no-cache"}
		}
	}
	for p, a := range assets {
		if a.name == "" { // a .gz without its original
			delete(assets, p)
		}
	}
	if _, ok := assets["index.html"]; !ok {
		return nil, "", errors.New("web dist has no index.html: run make web")
	}
	extra := ""
	if _, ok := assets["config.json"]; ok {
		data, err := fs.ReadFile(dist, "config.json")
		if err != nil {
			return nil, "", fmt.Errorf("web config.json: %w", err)
		}
		var cfg WebConfig
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, "", fmt.Errorf("web config.json: %w", err)
		}
		if u, err := url.Parse(cfg.Basemap); err == nil && u.Host != "" {
			extra = " " + u.Scheme + "://" + u.Host
		}
	}
	csp := "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; child-src blob:; " +
		"img-src 'self' data: blob:" + extra + "; connect-src 'self'" + extra + "; font-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
	return assets, csp, nil
}

func serveAsset(c echo.Context, assets map[string]*webAsset, name, csp string) error {
	a, ok := assets[name]
	if !ok {
		if assets == nil {
			return grid.Errorf(grid.NotFound, "this server was built without the web map")
		}
		return grid.Errorf(grid.NotFound, "no file %s in the web map", name)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, a.ctype)
	h.Set("Cache-Control", a.cache)
	h.Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" {
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "same-origin")
	}
	if a.gzName != "" {
		h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	}
	file, size, etag := a.name, a.size, a.etag
	if a.gzName != "" && acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding)) {
		// Each encoding is its own representation, with its own tag.
		file, size, etag = a.gzName, a.gzSize, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		h.Set(echo.HeaderContentEncoding, "gzip")
	}
	h.Set("ETag", etag)
	if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		h.Del(echo.HeaderContentEncoding)
		return c.NoContent(http.StatusNotModified)
	}
	f, err := a.dist.Open(file)
	if err != nil {
		return fmt.Errorf("web map file %s: %w", file, err)
	}
	defer f.Close()
	h.Set(echo.HeaderContentLength, strconv.FormatInt(size, 10))
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), f)
	return err
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding: gzip listed without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
