package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A caching edge: the first fetch of a path is a MISS, later ones HIT.
func cachingEdge(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hit := seen[r.URL.Path]
		seen[r.URL.Path] = true
		mu.Unlock()
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		if hit {
			w.Header().Set("X-Cache", "HIT")
		} else {
			w.Header().Set("X-Cache", "MISS")
		}
		fmt.Fprintf(w, "object %s\n", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func warmupConfig(t *testing.T, edge string, urls []string) string {
	t.Helper()
	cfg := fmt.Sprintf(`dns:
  providers:
    - {name: edge, type: builtin, listen: 127.0.0.1:0, zone: lab.test., ns: [ns1.lab.test.]}
services:
  - name: www
    record: www.lab.test.
    provider: edge
    targets:
      - {name: primary, role: primary, answer: {type: A, values: [127.0.10.1]}, probe: {url: "http://127.0.10.1:18080/healthz"}}
      - name: backup
        role: backup
        answer: {type: A, values: [127.0.10.2]}
        probe: {url: "%s/healthz"}
        warmup: {urls: [%s], concurrency: 4, rate: 1000, max_wait: 10s, verify: true}
`, edge, strings.Join(urls, ", "))
	path := filepath.Join(t.TempDir(), "warm.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWarmupCommand(t *testing.T) {
	edge := cachingEdge(t)
	var urls []string
	for i := range 20 {
		urls = append(urls, fmt.Sprintf("/assets/%d", i))
	}
	path := warmupConfig(t, edge.URL, append(urls, "/missing"))
	code, out, errs := run(t, "warmup", "--config", path, "--service", "www", "--target", "backup")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"warm-up www/backup: ",
		"  urls       21\n",
		"  ok         20\n",
		"  failed     1 (http_404=1)\n",
		"  hit ratio  0.00 (0 hits, 20 misses)\n",
		"  verify     1.00 hit ratio on a second pass\n",
		"  duration   ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// Not a terminal: no progress bar.
	if strings.Contains(errs, "[#") {
		t.Errorf("progress bar drawn on a non-terminal: %q", errs)
	}
}

func TestWarmupCommandErrors(t *testing.T) {
	edge := cachingEdge(t)
	path := warmupConfig(t, edge.URL, []string{"/a"})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--service", "www"}, "--service and --target are required"},
		{[]string{"--service", "nope", "--target", "backup"}, `no service "nope"`},
		{[]string{"--service", "www", "--target", "nope"}, `no target "nope"`},
		{[]string{"--service", "www", "--target", "primary"}, "target primary has no warmup section"},
	} {
		code, _, errs := run(t, append([]string{"warmup", "--config", path}, tt.args...)...)
		if code == 0 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tt.args, code, errs, tt.want)
		}
	}
}
