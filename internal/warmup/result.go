package warmup

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// StopReason says why a warm-up ended before it had fetched every URL.
type StopReason string

// The stop reasons.
const (
	// StopMaxWait: the warm-up's max_wait passed.
	StopMaxWait StopReason = "max_wait"
	// StopErrorRatio: more than max_error_ratio of the fetches failed,
	// after at least MinSample of them.
	StopErrorRatio StopReason = "error_ratio"
	// StopCanceled: the caller's context ended.
	StopCanceled StopReason = "canceled"
)

// Phase is a pass of a warm-up.
type Phase string

// The phases.
const (
	PhaseWarm   Phase = "warm"
	PhaseVerify Phase = "verify"
)

// Progress is reported after every fetch, and once at the start of each
// pass with Done 0.
type Progress struct {
	Phase Phase
	Done  int // fetches completed, ok or failed
	Total int // URLs in this pass
}

// Pass counts the fetches of one pass over the URLs.
type Pass struct {
	// URLs is how many URLs the pass set out to fetch.
	URLs int `json:"urls"`
	// OK counts the fetches answered with a 2xx or 3xx status (redirects
	// are not followed: a cached redirect is what the edge serves).
	OK int `json:"ok"`
	// Failed counts the other completed fetches, and Failures breaks them
	// down by reason: http_<status> (http_404, http_503), or a transport
	// failure: dns, refused, timeout, reset, tls, other.
	Failed   int            `json:"failed"`
	Failures map[string]int `json:"failures,omitempty"`
	// Aborted counts the fetches that were under way when the pass
	// stopped early; they are neither ok nor failed.
	Aborted int `json:"aborted,omitempty"`
	// NotStarted counts the URLs never fetched because the pass stopped
	// early.
	NotStarted int `json:"not_started,omitempty"`
	// What the cache headers said of the OK fetches.
	Hits        int `json:"hits"`
	Misses      int `json:"misses"`
	Uncacheable int `json:"uncacheable,omitempty"`
	Unknown     int `json:"unknown,omitempty"`
	// Bytes is the body bytes read.
	Bytes int64 `json:"bytes"`
	// Truncated counts bodies larger than MaxObjectBytes, of which only
	// that much was read.
	Truncated int `json:"truncated,omitempty"`
}

// Done is the number of completed fetches.
func (p *Pass) Done() int { return p.OK + p.Failed }

// HitRatio is hits / (hits + misses): the share of cacheable objects that
// the edge served from its cache. Objects without a verdict or that the
// edge does not cache are left out, since no warm-up changes them. It is 0
// when there is no hit or miss at all.
func (p *Pass) HitRatio() float64 {
	if p.Hits+p.Misses == 0 {
		return 0
	}
	return float64(p.Hits) / float64(p.Hits+p.Misses)
}

// ErrorRatio is failed / done, 0 before the first completed fetch.
func (p *Pass) ErrorRatio() float64 {
	if p.Done() == 0 {
		return 0
	}
	return float64(p.Failed) / float64(p.Done())
}

func (p *Pass) add(o outcome) {
	switch {
	case o.aborted:
		p.Aborted++
		return
	case o.failure != "":
		p.Failed++
		if p.Failures == nil {
			p.Failures = map[string]int{}
		}
		p.Failures[o.failure]++
	default:
		p.OK++
		switch o.cache {
		case CacheHit:
			p.Hits++
		case CacheMiss:
			p.Misses++
		case CacheUncacheable:
			p.Uncacheable++
		default:
			p.Unknown++
		}
	}
	p.Bytes += o.bytes
	if o.truncated {
		p.Truncated++
	}
}

// Sources counts where the URLs came from and what was left out.
type Sources struct {
	Inline  int `json:"inline"`
	File    int `json:"file"`
	Sitemap int `json:"sitemap"`
	// SitemapsFetched counts the sitemap documents fetched, the
	// configured one and nested ones; SitemapErrors those that failed
	// (status, size, syntax, transport).
	SitemapsFetched int `json:"sitemaps_fetched,omitempty"`
	SitemapErrors   int `json:"sitemap_errors,omitempty"`
	// Foreign counts sitemap entries (URLs or nested sitemaps) on another
	// host than the sitemap's: skipped, never fetched.
	Foreign int `json:"foreign,omitempty"`
	// TooDeep counts nested sitemaps beyond MaxSitemapDepth, and
	// OverSitemapLimit those beyond MaxSitemaps: skipped.
	TooDeep          int `json:"too_deep,omitempty"`
	OverSitemapLimit int `json:"over_sitemap_limit,omitempty"`
	// Invalid counts sitemap entries that are not http(s) URLs.
	Invalid int `json:"invalid,omitempty"`
	// Duplicates counts URLs listed more than once; each is fetched once.
	Duplicates int `json:"duplicates,omitempty"`
	// OverMaxURLs is set when max_urls cut the list short: URLs beyond it
	// were not collected (a sitemap is not read further once the list is
	// full, so this is a lower bound).
	OverMaxURLs int `json:"over_max_urls,omitempty"`
	// Errors describes each source that failed, the first few of them.
	Errors []string `json:"errors,omitempty"`
}

// maxSourceErrors bounds Sources.Errors.
const maxSourceErrors = 10

func (s *Sources) errorf(format string, args ...any) {
	if len(s.Errors) < maxSourceErrors {
		s.Errors = append(s.Errors, fmt.Sprintf(format, args...))
	}
}

// Result is what a warm-up did. The embedded Pass is the warm pass.
type Result struct {
	Service string `json:"service"`
	Target  string `json:"target"`
	// URLs is the number of distinct URLs collected from the sources.
	URLs int `json:"urls"`
	Pass
	// HitRatio is Pass.HitRatio of the warm pass: what the edge had
	// cached before the warm-up touched it.
	HitRatio float64 `json:"hit_ratio"`
	// Verify is the verify pass, when the config asks for one and the
	// warm pass was not stopped early. It fetches again the URLs that
	// were fetched OK.
	Verify *Pass `json:"verify,omitempty"`
	// VerifyHitRatio is Verify.HitRatio, 0 without a verify pass.
	VerifyHitRatio float64 `json:"verify_hit_ratio"`
	// Duration is the whole run, URL collection included.
	Duration time.Duration `json:"-"`
	// StoppedEarly is empty when the warm-up ran to its end.
	StoppedEarly StopReason `json:"stopped_early,omitempty"`
	Sources      Sources    `json:"sources"`
}

// MarshalJSON adds duration_ms.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMs float64 `json:"duration_ms"`
	}{plain(r), float64(r.Duration) / float64(time.Millisecond)})
}

// Summary is a one-line account of the run, for logs and the CLI.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d URLs: %d ok, %d failed", r.URLs, r.OK, r.Failed)
	if len(r.Failures) > 0 {
		b.WriteString(" (")
		for i, k := range slices.Sorted(maps.Keys(r.Failures)) {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d", k, r.Failures[k])
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ", hit ratio %.2f (%d hits, %d misses)", r.HitRatio, r.Hits, r.Misses)
	if r.Verify != nil {
		fmt.Fprintf(&b, ", verify hit ratio %.2f (%d hits, %d misses)", r.VerifyHitRatio, r.Verify.Hits, r.Verify.Misses)
	}
	fmt.Fprintf(&b, ", %s", r.Duration.Round(time.Millisecond))
	if r.StoppedEarly != "" {
		fmt.Fprintf(&b, ", stopped early: %s", r.StoppedEarly)
	}
	return b.String()
}
