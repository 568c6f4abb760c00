package warmup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const site = "www.example.test"

var quiet = slog.New(slog.DiscardHandler)

// paths returns n object paths.
func paths(n int) []string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("/assets/%d", i)
	}
	return ps
}

// options is a warm-up of urls through the edge at e, with the defaults
// applied and no rate limit unless the test sets one.
func options(e *edge, urls []string) Options {
	w := config.DefaultWarmup()
	w.URLs = urls
	w.Rate = 0
	w.Concurrency = 8
	return Options{
		Service: "www",
		Target:  "backup",
		Logger:  quiet,
		Warmup:  w,
		Probe:   config.Probe{URL: "http://" + site + "/healthz", ConnectTo: e.addr},
	}
}

func run(t *testing.T, opts Options) Result {
	t.Helper()
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer w.Close()
	res, err := w.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// checkAccounted checks that every URL of a pass is accounted for once.
func checkAccounted(t *testing.T, name string, p Pass) {
	t.Helper()
	if got := p.OK + p.Failed + p.Aborted + p.NotStarted; got != p.URLs {
		t.Errorf("%s: ok %d + failed %d + aborted %d + not started %d = %d, want the %d URLs",
			name, p.OK, p.Failed, p.Aborted, p.NotStarted, got, p.URLs)
	}
	if got := p.Hits + p.Misses + p.Uncacheable + p.Unknown; got != p.OK {
		t.Errorf("%s: cache verdicts add up to %d, want ok %d", name, got, p.OK)
	}
}

func TestWarmupFillsTheCache(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{missDelay: 5 * time.Millisecond})
	dir := t.TempDir()
	file := filepath.Join(dir, "hot-urls.txt")
	var lines []string
	lines = append(lines, "# hot objects", "")
	for _, p := range paths(200)[100:] {
		lines = append(lines, p+"  # relative to the probe URL's origin")
	}
	lines = append(lines, "http://"+site+"/assets/0") // a duplicate of an inline URL
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	opts := options(e, paths(200)[:100])
	opts.Warmup.URLsFile = file
	opts.Warmup.Verify = true
	opts.Metrics = m
	res := run(t, opts)

	if res.URLs != 200 || res.Sources.Inline != 100 || res.Sources.File != 100 || res.Sources.Duplicates != 1 {
		t.Errorf("urls %d (inline %d, file %d, duplicates %d), want 200 (100, 100, 1)",
			res.URLs, res.Sources.Inline, res.Sources.File, res.Sources.Duplicates)
	}
	if res.OK != 200 || res.Failed != 0 || res.StoppedEarly != "" {
		t.Fatalf("warm pass: %s", res.Summary())
	}
	if res.Misses != 200 || res.HitRatio != 0 {
		t.Errorf("warm pass on a cold edge: %d misses, hit ratio %v, want 200 and 0", res.Misses, res.HitRatio)
	}
	if res.Verify == nil {
		t.Fatal("no verify pass")
	}
	checkAccounted(t, "warm", res.Pass)
	checkAccounted(t, "verify", *res.Verify)
	if res.VerifyHitRatio < 0.9 {
		t.Errorf("verify hit ratio %v, want at least 0.9: %s", res.VerifyHitRatio, res.Summary())
	}
	if res.Verify.Hits != 200 {
		t.Errorf("verify hits %d, want 200", res.Verify.Hits)
	}
	if res.Bytes != 200*512 {
		t.Errorf("bytes %d, want %d: the bodies are read to the end", res.Bytes, 200*512)
	}
	reqs := e.seenRequests()
	if len(reqs) != 400 {
		t.Errorf("the edge saw %d requests, want 400 (warm and verify)", len(reqs))
	}
	for _, r := range reqs {
		if r.host != site {
			t.Fatalf("Host %q, want %q: connect_to must keep the URL's host", r.host, site)
		}
	}
	if got := testutil.ToFloat64(m.urls.WithLabelValues("www", "backup", ResultMiss)); got != 200 {
		t.Errorf("failover_warmup_urls_total{result=miss} = %v, want 200 (verify fetches are not counted)", got)
	}
	if n := testutil.CollectAndCount(reg, "failover_warmup_urls_total"); n != 1 {
		t.Errorf("%d series, want 1", n)
	}
}

func TestConnectToKeepsHostAndSNI(t *testing.T) {
	cert, roots := selfSigned(t, site)
	good := startEdge(t, "127.0.0.3", edgeOptions{tls: cert})
	broken := startEdge(t, "127.0.0.4", edgeOptions{tls: cert, status: func(string) int { return 503 }})
	tests := []struct {
		name           string
		warmupConnect  string
		probeConnect   string
		wantOK, wantOn *edge
	}{
		{name: "probe connect_to", probeConnect: good.addr, wantOn: good},
		{name: "warmup connect_to wins", warmupConnect: good.addr, probeConnect: broken.addr, wantOn: good},
		{name: "to the broken edge", probeConnect: broken.addr, wantOn: broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.wantOn.seenRequests())
			opts := Options{
				Service: "www", Target: "backup", Logger: quiet,
				Warmup:  config.DefaultWarmup(),
				Probe:   config.Probe{URL: "https://" + site + "/healthz", ConnectTo: tt.probeConnect},
				RootCAs: roots,
			}
			opts.Warmup.URLs = []string{"/a", "/b", "https://" + site + "/c"}
			opts.Warmup.ConnectTo = tt.warmupConnect
			res := run(t, opts)
			reqs := tt.wantOn.seenRequests()[before:]
			if len(reqs) != 3 {
				t.Fatalf("the edge at %s saw %d requests, want 3", tt.wantOn.addr, len(reqs))
			}
			for _, r := range reqs {
				if r.host != site || r.sni != site {
					t.Errorf("%s: Host %q, SNI %q, want both %q", r.path, r.host, r.sni, site)
				}
			}
			if tt.wantOn == broken {
				if res.Failures["http_503"] != 3 {
					t.Errorf("failures %v, want http_503: 3", res.Failures)
				}
			} else if res.OK != 3 {
				t.Errorf("ok %d, want 3: %s", res.OK, res.Summary())
			}
		})
	}
	t.Run("certificate checked against the URL's host", func(t *testing.T) {
		_, otherRoots := selfSigned(t, site) // a different key: the edge's cert is not trusted
		opts := Options{
			Logger:  quiet,
			Warmup:  config.DefaultWarmup(),
			Probe:   config.Probe{URL: "https://" + site + "/healthz", ConnectTo: good.addr},
			RootCAs: otherRoots,
		}
		opts.Warmup.URLs = []string{"/a"}
		res := run(t, opts)
		if res.Failures["tls"] != 1 {
			t.Errorf("failures %v, want tls: 1", res.Failures)
		}
	})
}

func TestConnectionsAreReused(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{})
	opts := options(e, paths(200))
	opts.Warmup.Concurrency = 4
	res := run(t, opts)
	if res.OK != 200 {
		t.Fatalf("%s", res.Summary())
	}
	// Each worker keeps its connection; a pool that did not reuse would
	// open 200.
	if n := e.conns.Load(); n > 8 {
		t.Errorf("%d connections for 200 fetches at concurrency 4, want at most 8", n)
	}
}

func TestRateWithVirtualClock(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{})
	opts := options(e, paths(100))
	opts.Warmup.Rate = 50
	opts.Clock = newVirtualClock()
	res := run(t, opts)
	if res.OK != 100 {
		t.Fatalf("%s", res.Summary())
	}
	// 100 requests at 50/s with a burst of 1: the first at once, the
	// others 20ms apart.
	if want := 99 * 20 * time.Millisecond; res.Duration != want {
		t.Errorf("duration %s on the virtual clock, want %s", res.Duration, want)
	}
}

func TestRateWithRealClock(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{})
	opts := options(e, paths(30))
	opts.Warmup.Rate = 100
	start := time.Now()
	res := run(t, opts)
	elapsed := time.Since(start)
	if res.OK != 30 {
		t.Fatalf("%s", res.Summary())
	}
	// The limiter makes this a lower bound that cannot flake; the upper
	// bound only catches a limiter that waits far too long.
	if min := 29 * 10 * time.Millisecond; elapsed < min || elapsed > 10*time.Second {
		t.Errorf("30 fetches at 100/s took %s, want at least %s", elapsed, min)
	}
}

func TestMaxWaitStopsASlowEdge(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{hang: true})
	opts := options(e, paths(50))
	opts.Warmup.Concurrency = 4
	opts.Warmup.Timeout = time.Minute
	opts.Warmup.MaxWait = 200 * time.Millisecond
	start := time.Now()
	res := run(t, opts)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Run took %s with max_wait 200ms", elapsed)
	}
	if res.StoppedEarly != StopMaxWait {
		t.Errorf("stopped early %q, want %q", res.StoppedEarly, StopMaxWait)
	}
	// Every worker took a URL and waits on the edge, unless the machine
	// is so slow that some had not started in 200ms.
	if res.OK != 0 || res.Failed != 0 || res.Aborted < 1 || res.Aborted > 4 || res.Aborted+res.NotStarted != 50 {
		t.Errorf("ok %d failed %d aborted %d not started %d, want 0 0, 1 to 4 aborted and the rest not started",
			res.OK, res.Failed, res.Aborted, res.NotStarted)
	}
	if n := len(e.seenRequests()); n > 4 {
		t.Errorf("the edge saw %d requests, want at most 4", n)
	}
	checkAccounted(t, "warm", res.Pass)
}

func TestPerRequestTimeout(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{hang: true})
	opts := options(e, paths(3))
	opts.Warmup.Concurrency = 3
	opts.Warmup.Timeout = 200 * time.Millisecond
	opts.Warmup.MaxWait = 0
	start := time.Now()
	res := run(t, opts)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s with a 200ms request timeout", elapsed)
	}
	// Fewer than MinSample failures: no early stop, every URL tried.
	if res.Failed != 3 || res.Failures["timeout"] != 3 || res.StoppedEarly != "" || res.Aborted != 0 {
		t.Errorf("%s, aborted %d; want 3 timeouts and no early stop", res.Summary(), res.Aborted)
	}
}

func TestStopsEarlyOnErrors(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{status: func(string) int { return 503 }})
	opts := options(e, paths(300))
	opts.Warmup.Concurrency = 4
	opts.Warmup.MaxErrorRatio = 0.5
	opts.Warmup.Verify = true
	res := run(t, opts)
	if res.StoppedEarly != StopErrorRatio {
		t.Fatalf("stopped early %q, want %q: %s", res.StoppedEarly, StopErrorRatio, res.Summary())
	}
	if res.Failures["http_503"] < MinSample {
		t.Errorf("failures %v, want at least %d http_503", res.Failures, MinSample)
	}
	// At the MinSample-th result at most 4 fetches are under way and 4
	// results wait in the channel.
	if n := len(e.seenRequests()); n > MinSample+2*4 {
		t.Errorf("the edge saw %d requests, want at most %d", n, MinSample+8)
	}
	if res.Verify != nil {
		t.Error("a verify pass ran after the warm pass stopped early")
	}
	checkAccounted(t, "warm", res.Pass)
}

func TestFewErrorsDoNotStop(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{status: func(p string) int {
		if strings.HasSuffix(p, "0") {
			return 404
		}
		return 0
	}})
	opts := options(e, paths(100))
	opts.Warmup.MaxErrorRatio = 0.2
	opts.Warmup.Verify = true
	res := run(t, opts)
	if res.StoppedEarly != "" || res.Failed != 10 || res.Failures["http_404"] != 10 || res.OK != 90 {
		t.Errorf("%s, want 90 ok, 10 http_404, no early stop", res.Summary())
	}
	if res.Verify == nil || res.Verify.URLs != 90 || res.Verify.Hits != 90 {
		t.Errorf("verify %+v, want the 90 OK URLs, all hits", res.Verify)
	}
}

func TestLargeObjectsAreBounded(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{objectSize: MaxObjectBytes + 1<<20})
	res := run(t, options(e, paths(2)))
	if res.OK != 2 || res.Truncated != 2 || res.Bytes != 2*MaxObjectBytes {
		t.Errorf("ok %d truncated %d bytes %d, want 2, 2, %d", res.OK, res.Truncated, res.Bytes, 2*MaxObjectBytes)
	}
}

func TestProgress(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{})
	var got []Progress
	opts := options(e, paths(25))
	opts.Warmup.Verify = true
	opts.Progress = func(p Progress) { got = append(got, p) }
	run(t, opts)
	if len(got) != 2*26 {
		t.Fatalf("%d progress reports, want 52", len(got))
	}
	for i, p := range got {
		phase, done := PhaseWarm, i
		if i >= 26 {
			phase, done = PhaseVerify, i-26
		}
		if p != (Progress{Phase: phase, Done: done, Total: 25}) {
			t.Errorf("report %d: %+v, want %s %d/25", i, p, phase, done)
		}
	}
}

func TestNoURLs(t *testing.T) {
	e := startEdge(t, "127.0.0.2", edgeOptions{status: func(string) int { return 404 }})
	opts := options(e, nil)
	opts.Warmup.Sitemap = "http://" + site + "/sitemap.xml"
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err := w.Run(context.Background())
	if !errors.Is(err, ErrNoURLs) || !strings.Contains(err.Error(), "status 404") {
		t.Errorf("err %v, want ErrNoURLs and the sitemap's status", err)
	}
	if res.Sources.SitemapErrors != 1 {
		t.Errorf("sitemap errors %d, want 1", res.Sources.SitemapErrors)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"no source", func(o *Options) { o.Warmup.URLs = nil }, "needs urls"},
		{"path without probe url", func(o *Options) { o.Probe.URL = "" }, "urls[0]: a path needs"},
		{"ftp url", func(o *Options) { o.Warmup.URLs = []string{"ftp://x/y"} }, "urls[0]: scheme must be http or https"},
		{"bad connect_to", func(o *Options) { o.Warmup.ConnectTo = "nohost" }, "connect_to"},
		{"bad ratio", func(o *Options) { o.Warmup.MaxErrorRatio = 2 }, "max_error_ratio"},
		{"missing ca_file", func(o *Options) { o.Probe.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Warmup: config.DefaultWarmup(), Probe: config.Probe{URL: "https://" + site + "/"}}
			opts.Warmup.URLs = []string{"/a"}
			tt.modify(&opts)
			_, err := New(opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReadURLs(t *testing.T) {
	origin := mustOrigin(t, "https://"+site)
	tests := []struct {
		name    string
		in      string
		limit   int
		want    []string
		over    int
		wantErr string
	}{
		{
			name:  "paths, URLs and comments",
			in:    "# hot\n\n/a\nb   # no leading slash\n  https://other.test/c#frag\n/a\n",
			limit: 10,
			want:  []string{"https://" + site + "/a", "https://" + site + "/b", "https://other.test/c"},
		},
		{name: "max_urls", in: "/a\n/b\n/c\n", limit: 2, want: []string{"https://" + site + "/a", "https://" + site + "/b"}, over: 1},
		{name: "text after the URL", in: "/a\n/b extra\n", limit: 10, wantErr: "f:2: text after the URL"},
		{name: "bad scheme", in: "mailto:x@y\n", limit: 10, wantErr: "f:1: scheme must be http or https"},
		{name: "long line", in: "/" + strings.Repeat("a", maxLineBytes), limit: 10, wantErr: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src Sources
			set := newURLSet(tt.limit, &src)
			_, err := readURLs(strings.NewReader(tt.in), "f", origin, set)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(set.list, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %q, want %q", set.list, tt.want)
			}
			if src.OverMaxURLs != tt.over {
				t.Errorf("over max_urls %d, want %d", src.OverMaxURLs, tt.over)
			}
		})
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{Service: "www", URLs: 3, Pass: Pass{URLs: 3, OK: 3, Hits: 1, Misses: 2}, Duration: 1500 * time.Millisecond}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["duration_ms"] != 1500.0 || m["ok"] != 3.0 || m["hits"] != 1.0 || m["service"] != "www" {
		t.Errorf("JSON %s", b)
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	a.observe("s", "t", outcome{cache: CacheHit})
	b.observe("s", "t", outcome{failure: "refused"})
	if got := testutil.ToFloat64(a.urls.WithLabelValues("s", "t", ResultError)); got != 1 {
		t.Errorf("the second Metrics does not share the counter: error = %v", got)
	}
}

func TestErrorClasses(t *testing.T) {
	// A port that was open and is closed now refuses.
	l := startEdge(t, "127.0.0.5", edgeOptions{})
	addr := l.addr
	l.srv.Close()
	opts := Options{Logger: quiet, Warmup: config.DefaultWarmup(), Probe: config.Probe{URL: "http://" + site + "/", ConnectTo: addr}}
	opts.Warmup.URLs = []string{"/a"}
	res := run(t, opts)
	if res.Failures["refused"] != 1 {
		t.Errorf("failures %v, want refused: 1", res.Failures)
	}
	if c := errorClass(context.DeadlineExceeded); c != "timeout" {
		t.Errorf("deadline: %s", c)
	}
	if c := errorClass(fmt.Errorf("x: %w", http.ErrHandlerTimeout)); c != "other" {
		t.Errorf("other: %s", c)
	}
}
