package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/web"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// webServer serves dist as the web map with cfg; the API routes stay
// unused, so no database is needed.
func webServer(t *testing.T, dist fstest.MapFS, cfg httpapi.WebConfig) *httptest.Server {
	t.Helper()
	files, err := httpapi.WebFiles(dist, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Web: files}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// fetch GETs url with the given headers and no transparent decompression.
func fetch(t *testing.T, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestWebAppServing(t *testing.T) {
	t.Parallel()
	page := []byte(`<!doctype html><script type="module" src="/assets/index-abc123.js"></script>`)
	script := bytes.Repeat([]byte("console.log('citygrid');\n"), 200)
	dist := fstest.MapFS{
		"index.html":                         {Data: page},
		"assets/index-abc123.js":             {Data: script},
		"assets/index-abc123.js.gz":          {Data: gz(t, script)},
		"glyphs/Noto Sans Regular/0-255.pbf": {Data: []byte{0x0a, 0x00}},
		"source-hash.txt":                    {Data: []byte("x\n")},
	}
	srv := webServer(t, dist, httpapi.WebConfig{Basemap: "https://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}", BasemapCRS: "cgcs2000"})

	for _, path := range []string{"/", "/screen"} {
		resp, b := fetch(t, srv.URL+path)
		if resp.StatusCode != 200 || !bytes.Equal(b, page) {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, b)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: content type %q", path, ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", path, cc)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "https://t0.tianditu.gov.cn") {
			t.Errorf("%s: CSP %q does not admit only this origin and the basemap's", path, csp)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", path)
		}
		resp, b = fetch(t, srv.URL+path, "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified || len(b) != 0 {
			t.Errorf("%s revalidated: %d, %d bytes; want 304", path, resp.StatusCode, len(b))
		}
	}

	// Hashed assets: immutable; gzip only when accepted.
	resp, b := fetch(t, srv.URL+"/assets/index-abc123.js", "Accept-Encoding", "gzip, deflate, br")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("asset with gzip: %d, encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, script) {
		t.Errorf("gzip body does not decode to the script (%v)", err)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("asset Cache-Control %q", cc)
	}
	if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("asset Vary %q", resp.Header.Get("Vary"))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("asset content type %q", ct)
	}
	for _, ae := range []string{"", "identity", "gzip;q=0", "br"} {
		resp, b = fetch(t, srv.URL+"/assets/index-abc123.js", "Accept-Encoding", ae)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, script) {
			t.Errorf("Accept-Encoding %q: %d, encoding %q, %d bytes", ae, resp.StatusCode, resp.Header.Get("Content-Encoding"), len(b))
		}
	}

	// Glyphs: the first font of the stack that is shipped answers.
	resp, b = fetch(t, srv.URL+"/glyphs/Noto%20Sans%20Regular,Noto%20Sans%20Bold/0-255.pbf")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" || len(b) != 2 {
		t.Errorf("glyphs: %d %q %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
	}
	resp, b = fetch(t, srv.URL+"/glyphs/Comic%20Sans,Noto%20Sans%20Regular/0-255.pbf")
	if resp.StatusCode != 200 {
		t.Errorf("glyphs through the fallback font: %d %s", resp.StatusCode, b)
	}

	// The basemap setting, normalised.
	resp, b = fetch(t, srv.URL+"/config.json")
	var cfg map[string]string
	if err := json.Unmarshal(b, &cfg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("config.json: %d %s", resp.StatusCode, b)
	}
	if cfg["basemap_crs"] != "wgs84" || !strings.Contains(cfg["basemap"], "tianditu") {
		t.Errorf("config.json: %v", cfg)
	}

	for _, path := range []string{"/assets/missing.js", "/glyphs/Noto%20Sans%20Regular/65280-65535.pbf", "/glyphs/Comic%20Sans/0-255.pbf", "/assets/..%2Findex.html"} {
		resp, b := fetch(t, srv.URL+path)
		wantProblem(t, resp, b, 404, "")
	}
}

func TestWebFilesRejectsBadSettings(t *testing.T) {
	t.Parallel()
	dist := fstest.MapFS{"index.html": {Data: []byte("x")}}
	for _, c := range []struct {
		cfg     httpapi.WebConfig
		mention string
	}{
		{httpapi.WebConfig{BasemapCRS: "bd09"}, "bd09"},
		{httpapi.WebConfig{Basemap: "https://tiles.example/{z}/{x}.png"}, "{y}"},
		{httpapi.WebConfig{Basemap: "ftp://tiles.example/{z}/{x}/{y}.png"}, "http"},
		{httpapi.WebConfig{Basemap: "tiles/{z}/{x}/{y}.png"}, "http"},
	} {
		if _, err := httpapi.WebFiles(dist, c.cfg); err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.cfg, err, c.mention)
		}
	}
	files, err := httpapi.WebFiles(dist, httpapi.WebConfig{Basemap: "https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}", BasemapCRS: "gcj02"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Web: files}).Handler())
	defer srv.Close()
	_, b := fetch(t, srv.URL+"/config.json")
	if !strings.Contains(string(b), `"basemap_crs":"gcj02"`) {
		t.Errorf("config.json %s", b)
	}
}

// TestWebAppWithout: a server built without the web map says so at /.
func TestWebAppWithout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(httpapi.New(httpapi.Config{}).Handler())
	defer srv.Close()
	resp, b := fetch(t, srv.URL+"/")
	wantProblem(t, resp, b, 404, "without the web map")
}

// TestEmbeddedDist: the committed bundle is whole — index.html and every
// file it references are served, the scripts gzip-encoded.
func TestEmbeddedDist(t *testing.T) {
	t.Parallel()
	files, err := httpapi.WebFiles(web.Dist(), httpapi.WebConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Web: files}).Handler())
	defer srv.Close()
	resp, page := fetch(t, srv.URL+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("/: %d %s", resp.StatusCode, page)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d assets: %s", len(refs), page)
	}
	for _, r := range refs {
		resp, b := fetch(t, srv.URL+r[1], "Accept-Encoding", "gzip")
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d", r[1], resp.StatusCode)
		}
		if strings.HasSuffix(r[1], ".js") && resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s is not sent gzip-encoded", r[1])
		}
	}
	resp, b := fetch(t, srv.URL+"/glyphs/Noto%20Sans%20Regular/0-255.pbf")
	if resp.StatusCode != 200 || len(b) < 1000 {
		t.Errorf("shipped glyphs 0-255: %d, %d bytes", resp.StatusCode, len(b))
	}
}
