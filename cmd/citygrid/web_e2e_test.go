package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestWebMap drives the web map in real headless Chromium against the whole
// service: the map reaches idle and draws the grid, a click in the centre
// shows the owning cell and, for a chosen category, the department that
// /v1/locate gives for the same point; the language toggles and back; the
// big screen shows its counters. Screenshots go to $CITYGRID_ARTIFACTS.
func TestWebMap(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bctx, stopBrowser, err := headlessChromium(ctx, 1280, 800)
	if errors.Is(err, errNoChromium) {
		if os.Getenv("CITYGRID_TESTDB") == "required" {
			t.Fatalf("%v (scripts/ensure-deps.sh installs chromium and fonts-noto-cjk)", err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer stopBrowser()
	artifacts := os.Getenv("CITYGRID_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", artifacts)

	dir := traversableDir(t)
	s := startService(t, dir)
	var r ready
	if code := getJSON(t, s.url+"/readyz", &r); code != 200 || r.Cells != 2213 {
		t.Fatalf("readyz: %d %+v", code, r)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"seed", "--incidents", "5000", "--data-dir", dir}, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("seed: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "create", "--role", "dispatcher", "--data-dir", dir}, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("keys create: %v", err)
	}
	key := strings.TrimSpace(out.String())

	tab, closeTab := chromedp.NewContext(bctx)
	defer closeTab()
	tctx, cancelTab := context.WithTimeout(tab, 3*time.Minute)
	defer cancelTab()
	exceptions := watchExceptions(tctx)
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(tctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	waitFor := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(tctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(time.Minute), chromedp.WithPollingInterval(25*time.Millisecond))); err != nil {
			shot("failed")
			t.Fatalf("waiting for %s (%s): %v", what, js, err)
		}
	}

	// The key is the dispatcher's; the language the default.
	if err := chromedp.Do(tctx, chromedp.Navigate(s.url+"/healthz")); err != nil {
		t.Fatal(err)
	}
	eval(fmt.Sprintf(`localStorage.setItem("citygrid.key", %q); localStorage.removeItem("citygrid.lang"); "ok"`, key))

	if err := chromedp.Do(tctx, chromedp.Navigate(s.url+"/#map=15/28.85/121.13")); err != nil {
		t.Fatal(err)
	}
	idle, err := waitMapIdle(tctx)
	if err != nil {
		shot("failed")
		t.Fatal(err)
	}
	t.Logf("first idle %v after navigation", idle)
	if lang := eval(`document.documentElement.lang`); lang != "zh-CN" {
		t.Errorf("default language %q, want zh-CN", lang)
	}
	if got := eval(`document.querySelector('[data-testid="tab-dispatch"]').textContent`); got != "调度" {
		t.Errorf("dispatch tab says %q, want 调度", got)
	}

	// The canvas: WebGL drew the style's background everywhere, and with
	// tiles the grid's lines over it.
	img := canvasImage(t, eval(`window.citygrid.map.getCanvas().toDataURL("image/png")`))
	bg := color.RGBA{0xee, 0xf1, 0xf5, 0xff}
	other, total := countOther(img, bg)
	if total == 0 {
		t.Fatal("empty canvas")
	}
	if frac := float64(other) / float64(total); frac < 0.01 {
		t.Errorf("only %.2f%% of the canvas differs from the background: the cells layer did not draw", 100*frac)
	}
	shot("map-z15")

	// Click the centre of the map: the panel shows the owning cell.
	rect := eval(`(() => { const r = window.citygrid.map.getCanvas().getBoundingClientRect(); return (r.left + r.width / 2) + "," + (r.top + r.height / 2); })()`)
	var x, y float64
	if _, err := fmt.Sscanf(rect, "%g,%g", &x, &y); err != nil {
		t.Fatalf("canvas centre %q: %v", rect, err)
	}
	if err := chromedp.Do(tctx, chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatal(err)
	}
	waitFor("the first locate", `document.body.dataset.locateSeq === "1" && !!document.getElementById("dispatch-cell-code")`)
	eval(`(() => { const s = document.getElementById("category-select"); s.value = "E0505"; s.dispatchEvent(new Event("change")); return s.value; })()`)
	waitFor("the locate with a category", `document.body.dataset.locateSeq === "2" && !!document.getElementById("dispatch-department")`)
	var lon, lat float64
	if _, err := fmt.Sscanf(eval(`window.citygrid.lastLocate.lon + "," + window.citygrid.lastLocate.lat`), "%g,%g", &lon, &lat); err != nil {
		t.Fatal(err)
	}
	if math.Abs(lon-121.13) > 0.001 || math.Abs(lat-28.85) > 0.001 {
		t.Errorf("the click at the centre located (%g, %g), want about (121.13, 28.85)", lon, lat)
	}
	var want struct {
		Cell       struct{ Code string }
		Department struct{ Code, Name string }
	}
	q := url.Values{"lon": {fmt.Sprint(lon)}, "lat": {fmt.Sprint(lat)}, "category": {"E0505"}}
	if code := getJSON(t, s.url+"/v1/locate?"+q.Encode(), &want); code != 200 {
		t.Fatalf("locate: %d", code)
	}
	if got := eval(`document.querySelector('[data-testid="cell-code"]').textContent`); got != want.Cell.Code {
		t.Errorf("the panel shows cell %q, /v1/locate says %q", got, want.Cell.Code)
	}
	if got := eval(`document.querySelector('[data-testid="department"]').dataset.code`); got != want.Department.Code {
		t.Errorf("the panel shows department %q, /v1/locate says %q", got, want.Department.Code)
	}
	if got := eval(`document.querySelector('[data-testid="department"]').textContent`); got != want.Department.Name {
		t.Errorf("the panel names the department %q, /v1/locate %q", got, want.Department.Name)
	}
	if n := eval(`String(document.querySelectorAll('[data-testid="cameras"] li').length)`); n != "5" {
		t.Errorf("%s nearest cameras listed, want 5", n)
	}
	shot("dispatcher")

	// English and back; the panel keeps its answer.
	toggle := func(wantLang, wantTab string) {
		t.Helper()
		if err := chromedp.Do(tctx, chromedp.Click(chromedp.CSS(`[data-testid="lang-toggle"]`))); err != nil {
			t.Fatal(err)
		}
		waitFor("language "+wantLang, fmt.Sprintf(`document.documentElement.lang === %q`, wantLang))
		if got := eval(`document.querySelector('[data-testid="tab-dispatch"]').textContent`); got != wantTab {
			t.Errorf("in %s the dispatch tab says %q, want %q", wantLang, got, wantTab)
		}
		if got := eval(`document.querySelector('[data-testid="cell-code"]').textContent`); got != want.Cell.Code {
			t.Errorf("in %s the panel lost its cell: %q", wantLang, got)
		}
	}
	toggle("en", "Dispatch")
	if got := eval(`localStorage.getItem("citygrid.lang")`); got != "en" {
		t.Errorf("language saved as %q", got)
	}
	shot("dispatcher-en")
	toggle("zh-CN", "调度")

	// A point pasted in GCJ-02 (Amap), latitude first: the server converts it.
	// Typed as keys into the focused field (chromedp's node-bound input
	// actions race with its DOM event handling under -race).
	eval(`(() => { const i = document.querySelector('#coord-input'); i.value = ''; i.focus(); document.querySelector('#coord-crs').value = 'gcj02'; return "ok"; })()`)
	if err := chromedp.Do(tctx,
		chromedp.KeyEvent("28.8473, 121.1346"),
		chromedp.Click(chromedp.CSS(`[data-testid="locate-btn"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor("the pasted point's locate", `document.body.dataset.locateSeq === "3" && !!document.getElementById("dispatch-department")`)
	q = url.Values{"lon": {"121.1346"}, "lat": {"28.8473"}, "crs": {"gcj02"}, "category": {"E0505"}}
	if code := getJSON(t, s.url+"/v1/locate?"+q.Encode(), &want); code != 200 {
		t.Fatalf("locate gcj02: %d", code)
	}
	if got := eval(`document.querySelector('[data-testid="cell-code"]').textContent + " " + document.querySelector('[data-testid="department"]').dataset.code`); got != want.Cell.Code+" "+want.Department.Code {
		t.Errorf("for the GCJ-02 point the panel shows %q, /v1/locate says %q", got, want.Cell.Code+" "+want.Department.Code)
	}
	shot("dispatcher-gcj02")

	// An incident: its details and trail, and its allowed actions as
	// buttons that act (the dispatcher's key).
	type incidentJSON struct {
		ID             int64
		Status         string
		AllowedActions []string `json:"allowed_actions"`
		Events         []struct{ Action, Actor string }
	}
	var list struct{ Incidents []incidentJSON }
	if code := getJSONKey(t, s.url+"/v1/incidents?limit=1&status=dispatched", key, &list); code != 200 || len(list.Incidents) == 0 {
		t.Fatalf("incidents: %d, %d listed", code, len(list.Incidents))
	}
	var before incidentJSON
	getJSONKey(t, fmt.Sprintf("%s/v1/incidents/%d", s.url, list.Incidents[0].ID), key, &before)
	eval(fmt.Sprintf(`window.citygrid.showIncident(%d); "ok"`, before.ID))
	waitFor("the incident panel", `!!document.querySelector('[data-testid="incident-detail"] .actions')`)
	if got := eval(`Array.from(document.querySelectorAll('[data-testid="incident-detail"] [data-action]')).map((b) => b.dataset.action).join(",")`); got != strings.Join(before.AllowedActions, ",") {
		t.Errorf("action buttons %q, allowed_actions %q", got, strings.Join(before.AllowedActions, ","))
	}
	if n := eval(`String(document.querySelectorAll('[data-testid="incident-detail"] .trail li').length)`); n != fmt.Sprint(len(before.Events)) {
		t.Errorf("the trail shows %s events, the incident has %d", n, len(before.Events))
	}
	shot("incident")
	if len(before.AllowedActions) == 0 {
		t.Fatalf("incident %d allows no action", before.ID)
	}
	act := before.AllowedActions[0]
	if slices.Contains(before.AllowedActions, "supervise") {
		act = "supervise"
	}
	if err := chromedp.Do(tctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="incident-detail"] [data-action=%q]`, act)))); err != nil {
		t.Fatal(err)
	}
	waitFor("the action's answer", `!!document.querySelector('[data-testid="incident-done"]')`)
	var after incidentJSON
	getJSONKey(t, fmt.Sprintf("%s/v1/incidents/%d", s.url, before.ID), key, &after)
	if len(after.Events) != len(before.Events)+1 || after.Events[len(after.Events)-1].Action != act || after.Events[len(after.Events)-1].Actor != "web" {
		t.Errorf("after the %s button the trail is %+v", act, after.Events)
	}

	// The big screen.
	for _, path := range []string{"/screen", "/#screen"} {
		if err := chromedp.Do(tctx, chromedp.Navigate(s.url+path)); err != nil {
			t.Fatal(err)
		}
		if _, err := waitMapIdle(tctx); err != nil {
			shot("failed")
			t.Fatalf("%s: %v", path, err)
		}
		waitFor("the screen's first refresh", `Number(document.body.dataset.screenRefreshed || 0) >= 1`)
		counters := map[string]string{}
		for _, id := range []string{"screen-new", "screen-closed", "screen-overdue", "screen-ontime"} {
			counters[id] = eval(fmt.Sprintf(`(document.querySelector('[data-testid=%q]') || {}).textContent ?? "missing"`, id))
		}
		var ov struct {
			Today struct{ New, Closed, Overdue int }
		}
		if code := getJSONKey(t, s.url+"/v1/overview?level=city", key, &ov); code != 200 {
			t.Fatalf("overview: %d", code)
		}
		for id, n := range map[string]int{"screen-new": ov.Today.New, "screen-closed": ov.Today.Closed, "screen-overdue": ov.Today.Overdue} {
			if strings.ReplaceAll(counters[id], ",", "") != fmt.Sprint(n) {
				t.Errorf("%s: %s shows %q, the overview says %d", path, id, counters[id], n)
			}
		}
		if got := counters["screen-ontime"]; got == "missing" || got == "" {
			t.Errorf("%s: the on-time closure rate shows %q", path, got)
		}
		if got := eval(`(document.querySelector('[data-testid="screen-notice"]') || {dataset: {}}).dataset.reason || "none"`); got != "none" {
			t.Errorf("%s: the screen shows a notice (%s) although the overview answers", path, got)
		}
		if bgc := eval(`getComputedStyle(document.body).backgroundColor`); bgc != "rgb(5, 13, 25)" {
			t.Errorf("%s: the big screen's background is %s, want the dark one", path, bgc)
		}
		shot(map[string]string{"/screen": "screen", "/#screen": "screen-hash"}[path])
	}

	if errs := exceptions(); len(errs) > 0 {
		t.Errorf("uncaught exceptions in the page:\n%s", strings.Join(errs, "\n"))
	}
}

func getJSONKey(t *testing.T, url, key string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

// watchExceptions collects the page's uncaught exceptions; the returned
// func lists those seen so far.
func watchExceptions(ctx context.Context) func() []string {
	var mu sync.Mutex
	var seen []string
	events := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func canvasImage(t *testing.T, dataURL string) image.Image {
	t.Helper()
	b64, ok := strings.CutPrefix(dataURL, "data:image/png;base64,")
	if !ok {
		t.Fatalf("canvas data URL starts %.40q", dataURL)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// countOther counts the pixels that differ from c by more than a rounding.
func countOther(img image.Image, c color.RGBA) (other, total int) {
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d >= -3 && d <= 3 }
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if !near(r, c.R) || !near(g, c.G) || !near(b, c.B) {
				other++
			}
			total++
		}
	}
	return other, total
}
