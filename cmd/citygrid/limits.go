package main

import (
	"cmp"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/httpapi"
)

// limitOptions are serve's limits: the server's (rate limits, deadlines,
// expensive queries) and the database's statement timeout.
type limitOptions struct {
	httpapi.Limits
	StatementTimeout time.Duration
}

// Defaults of serve's limits that are not the server's own.
const (
	// defaultStatementTimeout bounds a statement on the request path: the
	// slowest planner query over 10 million incidents takes about a second.
	defaultStatementTimeout = 10 * time.Second
	// defaultRateExempt: a load generator or monitor on this host is not
	// rate-limited. Behind a proxy on this host, name it --trusted-proxy:
	// the client address is then the one it forwards.
	defaultRateExempt = "127.0.0.0/8,::1/128"
)

// limitFlags registers serve's limit flags on fs, each defaulting to its
// environment variable, else to the built-in default; the environment's
// values are checked as the flags' are.
func limitFlags(fs *flag.FlagSet) (*limitOptions, error) {
	o := &limitOptions{}
	o.ExpensiveWait = httpapi.DefaultExpensiveWait
	for _, f := range []struct {
		name, env, def, usage string
		set                   func(string) error
	}{
		{"rate-per-addr", "CITYGRID_RATE_PER_ADDR", strconv.Itoa(httpapi.DefaultRatePerAddr),
			"requests a second a client address may make on average, 0 for no limit", rateValue(&o.PerAddr.Rate)},
		{"burst-per-addr", "CITYGRID_BURST_PER_ADDR", strconv.Itoa(httpapi.DefaultBurstPerAddr),
			"requests a client address may make at once", countValue(&o.PerAddr.Burst)},
		{"rate-per-key", "CITYGRID_RATE_PER_KEY", strconv.Itoa(httpapi.DefaultRatePerKey),
			"requests a second an API key may make on average, 0 for no limit", rateValue(&o.PerKey.Rate)},
		{"burst-per-key", "CITYGRID_BURST_PER_KEY", strconv.Itoa(httpapi.DefaultBurstPerKey),
			"requests an API key may make at once", countValue(&o.PerKey.Burst)},
		{"trusted-proxy", "CITYGRID_TRUSTED_PROXY", "",
			"comma list of CIDRs of proxies whose X-Forwarded-For names the client address (none: the connection's peer is the client)", cidrValue(&o.TrustedProxies)},
		{"rate-exempt", "CITYGRID_RATE_EXEMPT", defaultRateExempt,
			"comma list of CIDRs of client addresses never rate-limited (\"\" for none)", cidrValue(&o.Exempt)},
		{"max-expensive", "CITYGRID_MAX_EXPENSIVE", strconv.Itoa(httpapi.DefaultExpensive()),
			"expensive queries (statistics, hot spots, heatmaps from SQL) run at once; more wait --expensive-wait, then 503", countValue(&o.Expensive)},
		{"expensive-wait", "CITYGRID_EXPENSIVE_WAIT", httpapi.DefaultExpensiveWait.String(),
			"how long an expensive query waits for a slot before a 503", durationValue(&o.ExpensiveWait, true)},
		{"request-timeout", "CITYGRID_REQUEST_TIMEOUT", httpapi.DefaultRequestTimeout.String(),
			"deadline of a request (past it: 504); the server's read and write timeouts follow it", durationValue(&o.RequestTimeout, false)},
		{"batch-timeout", "CITYGRID_BATCH_TIMEOUT", httpapi.DefaultBatchTimeout.String(),
			"deadline of POST /v1/locate and POST /v1/incidents/bulk, and of their connection's reads and writes", durationValue(&o.BatchTimeout, false)},
		{"statement-timeout", "CITYGRID_STATEMENT_TIMEOUT", defaultStatementTimeout.String(),
			"statement_timeout of the database connections on the request path, 0 for none (past it: 504)", durationValue(&o.StatementTimeout, true)},
	} {
		v, fromEnv := os.LookupEnv(f.env)
		if !fromEnv {
			v = f.def
		}
		if err := f.set(v); err != nil {
			return nil, fmt.Errorf("%s=%q: %w", f.env, v, err)
		}
		fs.Func(f.name, fmt.Sprintf("%s (default $%s, else %s)", f.usage, f.env, cmp.Or(f.def, "none")), f.set)
	}
	return o, nil
}

func rateValue(p *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0) || f > 1e9 {
			return fmt.Errorf("want requests a second, 0 or more")
		}
		*p = f
		return nil
	}
}

func countValue(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("want a whole number, 1 or more")
		}
		*p = n
		return nil
	}
}

// durationValue reads a Go duration (10s, 2m); zero only when zeroOK.
func durationValue(p *time.Duration, zeroOK bool) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || d < 0:
			return fmt.Errorf("want a duration such as 250ms, 10s or 2m")
		case d == 0 && !zeroOK:
			return fmt.Errorf("want a duration above 0")
		}
		*p = d
		return nil
	}
}

// cidrValue reads a comma list of CIDRs; a bare address is its own /32
// or /128.
func cidrValue(p *[]*net.IPNet) func(string) error {
	return func(v string) error {
		var out []*net.IPNet
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !strings.Contains(s, "/") {
				if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
					s += "/32"
				} else {
					s += "/128"
				}
			}
			_, n, err := net.ParseCIDR(s)
			if err != nil {
				return fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an address", s)
			}
			out = append(out, n)
		}
		*p = out
		return nil
	}
}

// serverTimeouts are the http.Server's: how long a client may take to
// send its headers and its request, how long the answer may take to
// write, how long an idle keep-alive connection stays open.
type serverTimeouts struct {
	Header, Read, Write, Idle time.Duration
	MaxHeaderBytes            int
}

// defaultServerTimeouts go with a request deadline (0: the default). 64
// KiB of headers hold the longest query strings (a CQL2 filter is at most
// 8 KiB, three times that encoded) and nothing much larger.
func defaultServerTimeouts(requestTimeout time.Duration) serverTimeouts {
	read, write := httpapi.ServerTimeouts(requestTimeout)
	return serverTimeouts{Header: min(10*time.Second, read), Read: read, Write: write, Idle: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// httpServer is serve's http.Server for h: a client that sends slowly, or
// reads slowly, or idles, is cut at these timeouts.
func httpServer(h http.Handler, t serverTimeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.Header, ReadTimeout: t.Read, WriteTimeout: t.Write,
		IdleTimeout: t.Idle, MaxHeaderBytes: t.MaxHeaderBytes}
}
