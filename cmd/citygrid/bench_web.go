package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
)

// errNoChromium says the system has no Chromium to drive.
var errNoChromium = errors.New("no chromium: install Debian's chromium (make test does)")

// chromiumPath finds the system's Chromium ($CITYGRID_CHROMIUM first); the
// browser is Debian's package, never a download.
func chromiumPath() (string, error) {
	for _, p := range []string{os.Getenv("CITYGRID_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", errNoChromium
}

// headlessChromium starts a headless Chromium with WebGL through SwiftShader
// (no GPU here), nothing fetched from outside (no component updates, sync
// or background requests) and a width × height window. Cancel stops it.
func headlessChromium(ctx context.Context, width, height int) (context.Context, context.CancelFunc, error) {
	path, err := chromiumPath()
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-gpu", false), // the default list disables it; WebGL needs SwiftShader behind it
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.Flag("ignore-gpu-blocklist", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		cancelBrowser()
		cancelAlloc()
		return nil, nil, fmt.Errorf("starting %s: %w", path, err)
	}
	return bctx, func() { cancelBrowser(); cancelAlloc() }, nil
}

// waitMapIdle waits for the web map's first idle event and returns how long
// after navigation it came, as the page measured it (performance.now()).
func waitMapIdle(ctx context.Context) (time.Duration, error) {
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.body && document.body.dataset.mapIdle === "1"`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
	if err != nil {
		return 0, fmt.Errorf("waiting for the map's first idle: %w", err)
	}
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.mapIdleMs`))
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(ms)
	if err != nil {
		return 0, fmt.Errorf("mapIdleMs %q: %w", ms, err)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// benchWeb measures the web map's load: navigation to the map's first idle
// (every tile of the view drawn) at zoom 15 in the city centre, in headless
// Chromium with the HTTP cache off, so each run fetches the bundle, the
// glyphs and the tiles anew.
func benchWeb(ctx context.Context, db *postgres.DB, cat *locate.Catalog, sel func(string) bool, progress io.Writer) ([]benchRow, error) {
	if !sel("web-first-idle") {
		return nil, nil
	}
	fmt.Fprintln(progress, "bench: web map first idle …")
	const workload = "web map: navigation to first idle, /#map=15/28.85/121.13, cache off (headless Chromium, SwiftShader; median of 5)"
	bctx, stopBrowser, err := headlessChromium(ctx, 1280, 800)
	if errors.Is(err, errNoChromium) {
		return []benchRow{{workload, "not run: " + err.Error(), "—", "—", "< 2 s", "—"}}, nil
	}
	if err != nil {
		return nil, err
	}
	defer stopBrowser()
	base, rm, stop, err := startBenchServer(ctx, db, cat)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := rm.loaded(ctx); err != nil {
		return nil, err
	}
	var took []time.Duration
	for range 5 {
		d, err := firstIdle(bctx, base+"/#map=15/28.85/121.13")
		if err != nil {
			return nil, fmt.Errorf("bench: web: %w", err)
		}
		took = append(took, d)
	}
	med := percentile(took, 0.5)
	return []benchRow{{workload, fmt.Sprintf("%d ms (max %d ms)", med.Milliseconds(), percentile(took, 1).Milliseconds()),
		"—", "—", "< 2 s", yesNo(med < 2*time.Second)}}, nil
}

// firstIdle opens url in a new tab with the cache off and waits for the
// map's first idle.
func firstIdle(bctx context.Context, url string) (time.Duration, error) {
	tab, cancel := chromedp.NewContext(bctx)
	defer cancel()
	tctx, cancelT := context.WithTimeout(tab, time.Minute)
	defer cancelT()
	if _, err := chromedp.Call(tctx, network.Enable, network.EnableParams{}); err != nil {
		return 0, err
	}
	if _, err := chromedp.Call(tctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		return 0, err
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(url)); err != nil {
		return 0, err
	}
	return waitMapIdle(tctx)
}
