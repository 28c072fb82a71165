package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
)

// benchOpen311 measures Open311's POST requests from 32 clients beside
// POST /v1/incidents in the same run, alternating two rounds of each: both
// go through the same assignment and write in one statement each; Open311
// adds its form, the attribute checks and the report's side row.
func benchOpen311(ctx context.Context, db *postgres.DB, cat *locate.Catalog, sel func(string) bool, progress io.Writer) ([]benchRow, error) {
	if !sel("open311-post") {
		return nil, nil
	}
	base, rm, stop, err := startBenchServer(ctx, db, cat)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := rm.loaded(ctx); err != nil {
		return nil, err
	}
	snap := cat.Current()
	pts := randomInside(rand.New(rand.NewPCG(41, 42)), snap, cityBound(snap), 20_000)
	app, err := db.CreateAPIKey(ctx, "app", "", "bench open311")
	if err != nil {
		return nil, err
	}
	dispatcher, err := db.CreateAPIKey(ctx, "dispatcher", "", "bench open311 baseline")
	if err != nil {
		return nil, err
	}
	const clients = 32
	client := &http.Client{Transport: benchTransport(2 * clients), Timeout: time.Minute}
	run := time.Now().UnixNano()
	var next atomic.Int64
	// The services a citizens' app reports most, with their attributes.
	forms := []func(url.Values){
		func(v url.Values) { v.Set("service_code", "E0505"); v.Set("attribute[plate]", "浙J12345") },
		func(v url.Values) { v.Set("service_code", "E0406"); v.Set("attribute[depth_cm]", "15") },
		func(v url.Values) { v.Set("service_code", "P0301"); v.Set("attribute[fill]", "overflowing") },
		func(v url.Values) { v.Set("service_code", "E0102") },
	}
	open311 := func() error {
		i := int(next.Add(1))
		p := pts[i%len(pts)]
		v := url.Values{"api_key": {app}, "lat": {strconv.FormatFloat(p[1], 'f', 7, 64)}, "long": {strconv.FormatFloat(p[0], 'f', 7, 64)},
			"description": {"路边发现问题，请尽快处理"}, "email": {"citizen@example.org"}}
		forms[i%len(forms)](v)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/open311/v2/requests.json", strings.NewReader(v.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d-%d", run, i))
		return expect(client.Do(req))
	}
	v1 := func() error {
		i := int(next.Add(1))
		p := pts[i%len(pts)]
		body := fmt.Sprintf(`{"category":"E0505","lon":%.7f,"lat":%.7f,"occurred_at":%q,"source":"app","description":"路边发现问题，请尽快处理","external_id":"bench-v1-%d-%d"}`,
			p[0], p[1], time.Now().Format(time.RFC3339), run, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/incidents", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+dispatcher)
		return expect(client.Do(req))
	}
	var ours, baseline []driveStats
	for round := range 2 {
		fmt.Fprintf(progress, "bench: POST /v1/incidents and Open311 POST requests at %d clients, round %d of 2 …\n", clients, round+1)
		st, err := drive(ctx, clients, time.Second, 5*time.Second, v1)
		if err != nil {
			return nil, err
		}
		baseline = append(baseline, st)
		if st, err = drive(ctx, clients, time.Second, 5*time.Second, open311); err != nil {
			return nil, err
		}
		ours = append(ours, st)
	}
	o, b := meanStats(ours), meanStats(baseline)
	return []benchRow{{"Open311 POST requests.json, 32 clients (form, attributes, idempotency key; incident and side row in one statement; mean of 2 rounds)",
		fmt.Sprintf("%s/s, p99 %.1f ms", thousands(o.rate), ms(o.p99)), fmt.Sprintf("%s/s POST /v1/incidents", thousands(b.rate)),
		fmt.Sprintf("%.2f×", o.rate/b.rate), "≥ 2,500/s", yesNo(o.rate >= 2500)}}, nil
}

// expect reads an answer through and wants a 200 or 201.
func expect(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	return nil
}

// meanStats averages the rates of several runs and keeps the worst p99.
func meanStats(ss []driveStats) driveStats {
	var m driveStats
	for _, s := range ss {
		m.rate += s.rate / float64(len(ss))
		m.p99 = max(m.p99, s.p99)
	}
	return m
}
