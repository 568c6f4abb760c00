// Package warmup fills a CDN's cache before traffic moves to it: it fetches
// a target's hot URLs through that target, so that a backup CDN answers
// from its cache rather than a cold one when the failover lands on it.
//
// The URLs come only from the config: the inline urls, a urls_file, and a
// sitemap fetched through the target (nested sitemap indexes followed,
// within MaxSitemapDepth, MaxSitemaps and MaxSitemapBytes; entries on a
// host other than the sitemap's are skipped). Every request dials the
// target (the warm-up's connect_to, else the probe's, else the URL's host)
// and keeps the URL's Host header and TLS server name, over a keep-alive
// pool that belongs to the target.
//
// A run fetches with bounded concurrency at a token-bucket rate, each
// request within the per-request timeout and the whole run within
// max_wait. It stops early when more than max_error_ratio of at least
// MinSample fetches failed. It reads every body to the end (up to
// MaxObjectBytes), because that is what makes the edge store the object,
// and reads the cache headers to count hits and misses. An optional verify
// pass fetches the URLs again to measure what the warm-up achieved.
package warmup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

// MinSample is how many fetches complete before the error ratio can stop a
// pass.
const MinSample = 20

// The defaults for settings left at zero.
const (
	DefaultConcurrency = 32
	DefaultTimeout     = 5 * time.Second
	DefaultMaxURLs     = 10_000
)

// ErrNoURLs is returned by Run when the sources yield no URL at all.
var ErrNoURLs = errors.New("warmup: no URLs to fetch")

// errMaxWait is the cause of the run's context when max_wait passes.
var errMaxWait = errors.New("warmup: max_wait passed")

// errTooManyErrors is the cause of a pass's context when the error ratio
// stops it.
var errTooManyErrors = errors.New("warmup: error ratio exceeded")

// Options configure a Warmer.
type Options struct {
	Service string
	Target  string
	// Warmup is the target's warmup section, defaults applied
	// (config.DefaultWarmup). A zero concurrency, timeout or max_urls
	// falls back to this package's defaults; a Rate of 0 or less means no
	// rate limit; a MaxWait of 0 leaves only ctx to bound the run. A
	// MaxErrorRatio of 0 stops at the first failure after MinSample
	// fetches, and 1 never stops.
	Warmup config.Warmup
	// Probe is the target's probe: paths resolve against the scheme and
	// host of its URL, its connect_to is the dial address when the warm-up
	// has none, and its ca_file, if any, is trusted.
	Probe config.Probe
	// RootCAs, when set, replaces the probe's ca_file and the system roots.
	RootCAs *x509.CertPool
	// Clock paces the rate limiter and measures Result.Duration. Nil means
	// RealClock.
	Clock Clock
	// Metrics counts the fetches; nil counts nothing.
	Metrics *Metrics
	// Logger gets one line per run; nil means slog.Default().
	Logger *slog.Logger
	// Progress, if set, is called at the start of each pass and after
	// every fetch, from one goroutine at a time; a slow Progress slows the
	// run.
	Progress func(Progress)
}

// Warmer warms one target. It holds the target's keep-alive pool across
// runs; Close releases it. A Warmer is safe for concurrent use.
type Warmer struct {
	service, target string
	cfg             config.Warmup
	origin          *url.URL // scheme and host of the probe URL; nil without one
	inline          []string
	sitemap         string
	addr            string // the dial address; "" dials the URL's host
	conc            int
	timeout         time.Duration
	maxURLs         int
	cacheHeaders    []string
	header          http.Header
	transport       *http.Transport
	clock           Clock
	metrics         *Metrics
	log             *slog.Logger
	progress        func(Progress)
}

// New checks the options and prepares the target's warm-up. Inline URLs and
// the sitemap URL are checked here; urls_file is read by each Run, so an
// edited file is picked up.
func New(opts Options) (*Warmer, error) {
	c := opts.Warmup
	w := &Warmer{
		service:      opts.Service,
		target:       opts.Target,
		cfg:          c,
		conc:         c.Concurrency,
		timeout:      c.Timeout,
		maxURLs:      c.MaxURLs,
		cacheHeaders: c.CacheHeaders,
		clock:        opts.Clock,
		metrics:      opts.Metrics,
		log:          opts.Logger,
		progress:     opts.Progress,
	}
	if w.conc <= 0 {
		w.conc = DefaultConcurrency
	}
	if w.timeout <= 0 {
		w.timeout = DefaultTimeout
	}
	if w.maxURLs <= 0 {
		w.maxURLs = DefaultMaxURLs
	}
	if len(w.cacheHeaders) == 0 {
		w.cacheHeaders = DefaultCacheHeaders
	}
	if w.clock == nil {
		w.clock = RealClock{}
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("service", opts.Service, "target", opts.Target)
	if c.MaxErrorRatio < 0 || c.MaxErrorRatio > 1 {
		return nil, fmt.Errorf("warmup: max_error_ratio: must be between 0 and 1, got %v", c.MaxErrorRatio)
	}
	if c.MaxWait < 0 {
		return nil, fmt.Errorf("warmup: max_wait: must not be negative, got %s", c.MaxWait)
	}

	if opts.Probe.URL != "" {
		u, err := url.Parse(opts.Probe.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("warmup: probe url %q is not an http(s) URL", opts.Probe.URL)
		}
		w.origin = &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	for i, raw := range c.URLs {
		u, err := resolveURL(raw, w.origin)
		if err != nil {
			return nil, fmt.Errorf("warmup: urls[%d]: %w", i, err)
		}
		w.inline = append(w.inline, u)
	}
	if c.Sitemap != "" {
		u, err := resolveURL(c.Sitemap, w.origin)
		if err != nil {
			return nil, fmt.Errorf("warmup: sitemap: %w", err)
		}
		w.sitemap = u
	}
	if len(c.URLs) == 0 && c.URLsFile == "" && c.Sitemap == "" {
		return nil, errors.New("warmup: needs urls, urls_file or sitemap")
	}

	w.addr = c.ConnectTo
	if w.addr == "" {
		w.addr = opts.Probe.ConnectTo
	}
	if w.addr != "" {
		host, port, err := net.SplitHostPort(w.addr)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("warmup: connect_to: %q is not host:port", w.addr)
		}
	}

	roots := opts.RootCAs
	if roots == nil && opts.Probe.CAFile != "" {
		pem, err := os.ReadFile(opts.Probe.CAFile)
		if err != nil {
			return nil, fmt.Errorf("warmup: probe ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("warmup: probe ca_file: no PEM certificates in %s", opts.Probe.CAFile)
		}
	}
	w.transport = newTransport(w.addr, w.conc, w.timeout, roots)
	w.header = http.Header{
		"User-Agent":      {userAgent},
		"Accept":          {"*/*"},
		"Accept-Encoding": {acceptEncoding},
	}
	return w, nil
}

// Close closes the idle connections of the pool. The Warmer stays usable.
func (w *Warmer) Close() { w.transport.CloseIdleConnections() }

// Run collects the URLs, warms them, and verifies them if the config asks
// for it, all within max_wait (0: only ctx bounds it). Stopping early (on
// max_wait, on the error ratio, or because ctx ended) is not an error: it
// is in Result.StoppedEarly, and the Result says what was done. Run returns
// an error only when there is nothing to fetch: ErrNoURLs, joined with the
// failures of the sources.
func (w *Warmer) Run(ctx context.Context) (Result, error) {
	start := w.clock.Now()
	res := Result{Service: w.service, Target: w.target}
	if w.cfg.MaxWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, w.cfg.MaxWait, errMaxWait)
		defer cancel()
	}
	lim := newLimiter(w.clock, w.cfg.Rate, 1)

	urls := w.collect(ctx, lim, &res.Sources)
	res.URLs = len(urls)
	if len(urls) == 0 {
		res.StoppedEarly = stopReason(ctx)
		res.Duration = w.clock.Now().Sub(start)
		errs := []error{ErrNoURLs}
		for _, e := range res.Sources.Errors {
			errs = append(errs, errors.New(e))
		}
		if res.StoppedEarly != "" {
			errs = append(errs, context.Cause(ctx))
		}
		return res, errors.Join(errs...)
	}

	pass, ok, stop := w.pass(ctx, lim, PhaseWarm, urls)
	res.Pass, res.HitRatio = pass, pass.HitRatio()
	if stop == "" && w.cfg.Verify && len(ok) > 0 {
		verify, _, vstop := w.pass(ctx, lim, PhaseVerify, ok)
		res.Verify, res.VerifyHitRatio = &verify, verify.HitRatio()
		stop = vstop
	}
	res.StoppedEarly = stop
	res.Duration = w.clock.Now().Sub(start)
	w.log.Info("warm-up done", "urls", res.URLs, "ok", res.OK, "failed", res.Failed,
		"hit_ratio", res.HitRatio, "verify_hit_ratio", res.VerifyHitRatio,
		"duration", res.Duration, "stopped_early", string(res.StoppedEarly))
	return res, nil
}

// stopReason says why ctx ended, or "" while it has not.
func stopReason(ctx context.Context) StopReason {
	switch {
	case ctx.Err() == nil:
		return ""
	case errors.Is(context.Cause(ctx), errMaxWait):
		return StopMaxWait
	}
	return StopCanceled
}

// collect gathers the URLs from the inline list, the urls_file and the
// sitemap, in that order, without duplicates and up to max_urls.
func (w *Warmer) collect(ctx context.Context, lim *limiter, src *Sources) []string {
	set := newURLSet(w.maxURLs, src)
	for _, u := range w.inline {
		if set.full() {
			src.OverMaxURLs++
			break
		}
		if set.add(u) {
			src.Inline++
		}
	}
	if w.cfg.URLsFile != "" && !set.full() {
		n, err := readURLsFile(w.cfg.URLsFile, w.origin, set)
		src.File = n
		if err != nil {
			src.errorf("%v", err)
		}
	}
	if w.sitemap != "" && !set.full() {
		w.collectSitemap(ctx, lim, w.sitemap, set)
	}
	return set.list
}

// pass fetches urls with the configured concurrency and rate until done,
// until ctx ends, or until the error ratio stops it. It returns the URLs
// that were fetched OK, in their order.
func (w *Warmer) pass(ctx context.Context, lim *limiter, phase Phase, urls []string) (Pass, []string, StopReason) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := Pass{URLs: len(urls)}
	w.report(phase, 0, len(urls))

	type done struct {
		i int
		o outcome
	}
	jobs := make(chan int)
	results := make(chan done, w.conc)
	var wg sync.WaitGroup
	for range min(w.conc, len(urls)) {
		wg.Go(func() {
			for i := range jobs {
				if lim.wait(ctx) != nil {
					results <- done{i, outcome{aborted: true}}
					continue
				}
				results <- done{i, w.fetch(ctx, urls[i])}
			}
		})
	}
	// started is written by the feeder before it closes jobs, which
	// happens before the workers end and results is closed.
	started := 0
	go func() {
		defer close(jobs)
		for i := range urls {
			select {
			case jobs <- i:
				started++
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	var stop StopReason
	ok := make([]bool, len(urls))
	for r := range results {
		p.add(r.o)
		ok[r.i] = !r.o.aborted && r.o.failure == ""
		if phase == PhaseWarm {
			w.metrics.observe(w.service, w.target, r.o)
		}
		w.report(phase, p.Done(), len(urls))
		if stop == "" && p.Done() >= MinSample && p.ErrorRatio() > w.cfg.MaxErrorRatio {
			stop = StopErrorRatio
			cancel(errTooManyErrors)
		}
	}
	p.NotStarted = len(urls) - started
	if stop == "" && (p.Aborted > 0 || p.NotStarted > 0) {
		stop = stopReason(ctx)
	}
	var okURLs []string
	for i, u := range urls {
		if ok[i] {
			okURLs = append(okURLs, u)
		}
	}
	return p, okURLs, stop
}

func (w *Warmer) report(phase Phase, done, total int) {
	if w.progress != nil {
		w.progress(Progress{Phase: phase, Done: done, Total: total})
	}
}
