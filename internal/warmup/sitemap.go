package warmup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// The bounds of a sitemap crawl.
const (
	// MaxSitemapDepth is how many levels of sitemaps are read: the
	// configured one is level 1, a sitemap listed in it level 2, and so
	// on. Sitemap indexes at the last level are not followed.
	MaxSitemapDepth = 3
	// MaxSitemaps bounds the sitemap documents fetched in one run.
	MaxSitemaps = 1000
	// MaxSitemapBytes bounds one sitemap document, after gzip
	// decompression if it is compressed.
	MaxSitemapBytes = 10 << 20
	// maxSitemapWorkers bounds the sitemaps fetched at once.
	maxSitemapWorkers = 8
)

// sitemapDoc is one parsed sitemap document: an index of sitemaps or a set
// of page URLs.
type sitemapDoc struct {
	index bool
	locs  []string
	err   error
}

// collectSitemap crawls the sitemap at root through the target, breadth
// first, and adds the page URLs it lists to set. Every entry must be on the
// host of the configured sitemap (the sitemaps.org rule): entries on
// another host are counted in Sources.Foreign and never fetched, whether
// they are pages or nested sitemaps, so a sitemap cannot point the warm-up
// anywhere the config did not.
func (w *Warmer) collectSitemap(ctx context.Context, lim *limiter, root string, set *urlSet) {
	src := set.src
	rootURL, err := url.Parse(root)
	if err != nil {
		src.errorf("sitemap %s: %v", root, err)
		return
	}
	host := canonicalHost(rootURL.Hostname())
	visited := map[string]bool{root: true}
	scheduled := 1
	level := []string{root}
	for depth := 1; len(level) > 0 && !set.full() && ctx.Err() == nil; depth++ {
		docs := w.fetchSitemaps(ctx, lim, level)
		var next []string
	docs:
		for i, doc := range docs {
			if doc.err != nil {
				if ctx.Err() == nil {
					src.SitemapsFetched++
					src.SitemapErrors++
					src.errorf("sitemap %s: %v", level[i], doc.err)
				}
				continue
			}
			src.SitemapsFetched++
			base, _ := url.Parse(level[i]) // parsed before it was fetched
			for _, loc := range doc.locs {
				u, ok := sitemapEntry(base, loc, host, src)
				if !ok {
					continue
				}
				if !doc.index {
					if set.full() {
						src.OverMaxURLs++
						break docs
					}
					if set.add(u) {
						src.Sitemap++
					}
					continue
				}
				switch {
				case visited[u]:
				case depth >= MaxSitemapDepth:
					src.TooDeep++
				case scheduled >= MaxSitemaps:
					src.OverSitemapLimit++
				default:
					visited[u] = true
					scheduled++
					next = append(next, u)
				}
			}
		}
		level = next
	}
}

// sitemapEntry resolves one <loc> of a sitemap against the sitemap's URL
// and checks it is an http(s) URL on host.
func sitemapEntry(base *url.URL, loc, host string, src *Sources) (string, bool) {
	u, err := base.Parse(strings.TrimSpace(loc))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		src.Invalid++
		return "", false
	}
	if canonicalHost(u.Hostname()) != host {
		src.Foreign++
		return "", false
	}
	u.Fragment = ""
	return u.String(), true
}

// canonicalHost lower-cases a host name and drops a trailing dot.
func canonicalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// fetchSitemaps fetches and parses the sitemaps of one level, a few at a
// time, and returns their documents in the order given.
func (w *Warmer) fetchSitemaps(ctx context.Context, lim *limiter, urls []string) []sitemapDoc {
	docs := make([]sitemapDoc, len(urls))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(len(urls), maxSitemapWorkers, w.conc) {
		wg.Go(func() {
			for i := range next {
				docs[i] = w.fetchSitemap(ctx, lim, urls[i])
			}
		})
	}
	for i := range urls {
		next <- i
	}
	close(next)
	wg.Wait()
	return docs
}

// fetchSitemap gets one sitemap through the target and parses it.
func (w *Warmer) fetchSitemap(ctx context.Context, lim *limiter, rawURL string) sitemapDoc {
	if err := lim.wait(ctx); err != nil {
		return sitemapDoc{err: err}
	}
	rctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return sitemapDoc{err: err}
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := w.transport.RoundTrip(req)
	if err != nil {
		return sitemapDoc{err: fmt.Errorf("%s: %w", errorClass(err), err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sitemapDoc{err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	body, err := readSitemapBody(resp.Body)
	if err != nil {
		return sitemapDoc{err: err}
	}
	index, locs, err := parseSitemap(body)
	return sitemapDoc{index: index, locs: locs, err: err}
}

var errSitemapTooLarge = fmt.Errorf("larger than %d bytes", MaxSitemapBytes)

// readSitemapBody reads a sitemap of at most MaxSitemapBytes, and
// decompresses it if it is gzip (a sitemap.xml.gz, served as is).
func readSitemapBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxSitemapBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errorClass(err), err)
	}
	if len(body) > MaxSitemapBytes {
		return nil, errSitemapTooLarge
	}
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		return body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	body, err = io.ReadAll(io.LimitReader(zr, MaxSitemapBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if len(body) > MaxSitemapBytes {
		return nil, errSitemapTooLarge
	}
	return body, nil
}

// parseSitemap reads a sitemaps.org document: a <urlset> of <url><loc>
// entries, a <sitemapindex> of <sitemap><loc> entries, or the text format
// (one URL per line). Namespaces are not checked, and any other element is
// ignored.
func parseSitemap(body []byte) (index bool, locs []string, err error) {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] != '<' {
		locs, err := textLocs(trimmed)
		return false, locs, err
	}
	d := xml.NewDecoder(bytes.NewReader(trimmed))
	var stack []string
	root := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, nil, fmt.Errorf("xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if len(stack) == 0 {
				if root {
					return false, nil, errors.New("xml: more than one root element")
				}
				root = true
				switch name {
				case "urlset":
				case "sitemapindex":
					index = true
				default:
					return false, nil, fmt.Errorf("not a sitemap: the root element is <%s>", name)
				}
			}
			if name == "loc" && len(stack) == 2 && (stack[1] == "url" || stack[1] == "sitemap") {
				var loc string
				if err := d.DecodeElement(&loc, &t); err != nil {
					return false, nil, fmt.Errorf("xml: %w", err)
				}
				locs = append(locs, loc)
				continue
			}
			stack = append(stack, name)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if !root {
		return false, nil, errors.New("not a sitemap: no root element")
	}
	return index, locs, nil
}

// textLocs reads the text sitemap format: one URL per line.
func textLocs(body []byte) ([]string, error) {
	var locs []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			locs = append(locs, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("text sitemap: %w", err)
	}
	return locs, nil
}
