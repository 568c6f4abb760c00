package warmup

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"
)

// sitemaps serves documents by path.
type sitemaps map[string][]byte

func (s sitemaps) body(path string) ([]byte, bool) {
	b, ok := s[path]
	return b, ok
}

func index(locs ...string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
	for _, l := range locs {
		fmt.Fprintf(&b, "<sitemap><loc>%s</loc><lastmod>2026-01-01</lastmod></sitemap>\n", l)
	}
	b.WriteString(`</sitemapindex>`)
	return []byte(b.String())
}

func urlset(locs ...string) []byte {
	var b strings.Builder
	b.WriteString(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"` +
		` xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">`)
	for _, l := range locs {
		// An image extension with its own <loc> that is not a page.
		fmt.Fprintf(&b, "<url>\n  <loc> %s </loc>\n  <image:image><image:loc>https://%s/img.png</image:loc></image:image>\n</url>\n", l, site)
	}
	b.WriteString(`</urlset>`)
	return []byte(b.String())
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func abs(path string) string { return "https://" + site + path }

func plain(path string) string { return "http://" + site + path }

func TestSitemapNesting(t *testing.T) {
	const foreign = "https://evil.test"
	docs := sitemaps{
		// Level 1: the configured sitemap, listing itself too.
		"/sitemap.xml": index(abs("/s/a.xml"), abs("/s/b.xml"), foreign+"/s/evil.xml", abs("/sitemap.xml")),
		// Level 2: an index and a urlset.
		"/s/a.xml": index(abs("/s/a1.xml.gz"), "/s/a2.txt", abs("/s/a3.xml.gz")),
		"/s/b.xml": urlset(abs("/p/b1"), abs("/p/b2"), foreign+"/p/evil", abs("/p/b1"), "javascript:alert(1)"),
		// Level 3, the last one read: a text sitemap, a gzipped urlset,
		// and a gzipped index, which is not followed.
		"/s/a2.txt":     []byte("https://" + site + "/p/a2-1\n\nhttps://" + site + "/p/a2-2\n"),
		"/s/deeper.xml": urlset(abs("/p/never")),
	}
	docs["/s/a1.xml.gz"] = gzipped(t, index(abs("/s/deeper.xml")))
	docs["/s/a3.xml.gz"] = gzipped(t, urlset(abs("/p/a3")))

	cert, roots := selfSigned(t, site)
	tlsEdge := startEdge(t, "127.0.0.7", edgeOptions{body: docs.body, tls: cert})
	opts := options(tlsEdge, nil)
	opts.Probe.URL = "https://" + site + "/healthz"
	opts.RootCAs = roots
	opts.Warmup.Sitemap = abs("/sitemap.xml")
	res := run(t, opts)

	want := []string{"/p/b1", "/p/b2", "/p/a2-1", "/p/a2-2", "/p/a3"}
	if res.URLs != len(want) || res.OK != len(want) {
		t.Fatalf("%s; sources %+v", res.Summary(), res.Sources)
	}
	s := res.Sources
	checks := []struct {
		name      string
		got, want int
	}{
		{"sitemap URLs", s.Sitemap, 5},
		{"sitemaps fetched", s.SitemapsFetched, 6}, // sitemap.xml, a, b, a1, a2, a3
		{"sitemap errors", s.SitemapErrors, 0},
		{"foreign", s.Foreign, 2},
		{"too deep", s.TooDeep, 1},
		{"invalid", s.Invalid, 1},
		{"duplicates", s.Duplicates, 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d (sources %+v)", c.name, c.got, c.want, s)
		}
	}
	fetched := map[string]int{}
	for _, r := range tlsEdge.seenRequests() {
		if r.host != site {
			t.Errorf("a request for %s went out with Host %q", r.path, r.host)
		}
		fetched[r.path]++
	}
	for _, p := range want {
		if fetched[p] != 1 {
			t.Errorf("%s fetched %d times, want 1", p, fetched[p])
		}
	}
	for _, p := range []string{"/p/never", "/s/deeper.xml", "/s/evil.xml", "/p/evil", "/img.png"} {
		if fetched[p] != 0 {
			t.Errorf("%s was fetched; it must not be", p)
		}
	}
	if fetched["/sitemap.xml"] != 1 {
		t.Errorf("the sitemap that lists itself was fetched %d times, want 1", fetched["/sitemap.xml"])
	}
}

func TestSitemapBounds(t *testing.T) {
	t.Run("at most MaxSitemaps documents", func(t *testing.T) {
		const children = MaxSitemaps + 200
		docs := sitemaps{}
		var locs []string
		for i := range children {
			p := fmt.Sprintf("/s/%d.xml", i)
			locs = append(locs, plain(p))
			docs[p] = urlset(plain(fmt.Sprintf("/p/%d", i)))
		}
		docs["/sitemap.xml"] = index(locs...)
		e := startEdge(t, "127.0.0.6", edgeOptions{body: docs.body})
		opts := options(e, nil)
		opts.Probe.URL = "https://" + site + "/"
		opts.Warmup.Sitemap = "http://" + site + "/sitemap.xml"
		opts.Warmup.Concurrency = 32
		res := run(t, opts)
		if res.Sources.SitemapsFetched != MaxSitemaps || res.Sources.OverSitemapLimit != children-(MaxSitemaps-1) {
			t.Errorf("fetched %d sitemaps, %d over the limit; want %d and %d",
				res.Sources.SitemapsFetched, res.Sources.OverSitemapLimit, MaxSitemaps, children-(MaxSitemaps-1))
		}
		if n := e.countPath("/s/") + e.countPath("/sitemap.xml"); n != MaxSitemaps {
			t.Errorf("the edge served %d sitemaps, want %d", n, MaxSitemaps)
		}
		if res.URLs != MaxSitemaps-1 || res.OK != MaxSitemaps-1 {
			t.Errorf("%s, want %d URLs", res.Summary(), MaxSitemaps-1)
		}
	})
	t.Run("a sitemap over the size limit", func(t *testing.T) {
		big := append(urlset(plain("/p/ok")), bytes.Repeat([]byte(" "), MaxSitemapBytes)...)
		bomb := gzipped(t, append(urlset(plain("/p/ok")), bytes.Repeat([]byte(" "), MaxSitemapBytes)...))
		docs := sitemaps{
			"/sitemap.xml": index(plain("/big.xml"), plain("/bomb.xml.gz"), plain("/small.xml")),
			"/big.xml":     big,
			"/bomb.xml.gz": bomb,
			"/small.xml":   urlset(plain("/p/small")),
		}
		e := startEdge(t, "127.0.0.6", edgeOptions{body: docs.body})
		opts := options(e, nil)
		opts.Warmup.Sitemap = plain("/sitemap.xml")
		res := run(t, opts)
		if res.Sources.SitemapErrors != 2 || res.URLs != 1 {
			t.Errorf("sitemap errors %d, URLs %d, want 2 and 1 (%v)", res.Sources.SitemapErrors, res.URLs, res.Sources.Errors)
		}
		for _, e := range res.Sources.Errors {
			if !strings.Contains(e, "larger than") {
				t.Errorf("error %q, want it to say the sitemap is too large", e)
			}
		}
	})
	t.Run("max_urls stops the crawl", func(t *testing.T) {
		var locs []string
		for i := range 100 {
			locs = append(locs, plain(fmt.Sprintf("/p/%d", i)))
		}
		docs := sitemaps{
			"/sitemap.xml": index(plain("/s/1.xml"), plain("/s/2.xml")),
			"/s/1.xml":     urlset(locs...),
			"/s/2.xml":     urlset(plain("/p/other")),
		}
		e := startEdge(t, "127.0.0.6", edgeOptions{body: docs.body})
		opts := options(e, []string{"/inline"})
		opts.Warmup.Sitemap = plain("/sitemap.xml")
		opts.Warmup.MaxURLs = 30
		res := run(t, opts)
		if res.URLs != 30 || res.Sources.Inline != 1 || res.Sources.Sitemap != 29 || res.Sources.OverMaxURLs == 0 {
			t.Errorf("urls %d, sources %+v; want 30 (1 inline, 29 from the sitemap) and some over max_urls", res.URLs, res.Sources)
		}
	})
	t.Run("broken documents", func(t *testing.T) {
		docs := sitemaps{
			"/sitemap.xml": index(plain("/html.xml"), plain("/bad.xml"), plain("/empty.xml"), plain("/missing.xml"), plain("/ok.xml")),
			"/html.xml":    []byte("<!DOCTYPE html><html><body>sorry</body></html>"),
			"/bad.xml":     []byte("<urlset><url><loc>https://" + site + "/p/x</loc></url>"),
			"/empty.xml":   []byte(""),
			"/ok.xml":      urlset(plain("/p/ok")),
		}
		e := startEdge(t, "127.0.0.6", edgeOptions{body: docs.body, status: func(p string) int {
			if p == "/missing.xml" {
				return 404
			}
			return 0
		}})
		opts := options(e, nil)
		opts.Warmup.Sitemap = plain("/sitemap.xml")
		res := run(t, opts)
		if res.URLs != 1 || res.Sources.SitemapErrors != 4 || len(res.Sources.Errors) != 4 {
			t.Errorf("urls %d, sitemap errors %d %q; want 1 and 4", res.URLs, res.Sources.SitemapErrors, res.Sources.Errors)
		}
	})
}

func TestParseSitemap(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantIndex bool
		want      []string
		wantErr   string
	}{
		{name: "urlset", in: string(urlset("https://a/1", "https://a/2")), want: []string{" https://a/1 ", " https://a/2 "}},
		{name: "index", in: string(index("https://a/s.xml")), wantIndex: true, want: []string{"https://a/s.xml"}},
		{name: "bom and text", in: "\xef\xbb\xbfhttps://a/1\r\nhttps://a/2\n", want: []string{"https://a/1", "https://a/2"}},
		{name: "empty urlset", in: "<urlset/>", want: nil},
		{name: "wrong root", in: "<rss><channel/></rss>", wantErr: "root element is <rss>"},
		{name: "nothing", in: "<?xml version=\"1.0\"?>", wantErr: "no root element"},
		{name: "truncated", in: "<urlset><url><loc>x", wantErr: "xml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index, locs, err := parseSitemap([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if index != tt.wantIndex || strings.Join(locs, "|") != strings.Join(tt.want, "|") {
				t.Errorf("index %v locs %q, want %v %q", index, locs, tt.wantIndex, tt.want)
			}
		})
	}
}
