package warmup

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestCacheStatus(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string][]string
		names   []string
		want    CacheStatus
	}{
		{"x-cache hit", map[string][]string{"X-Cache": {"HIT"}}, nil, CacheHit},
		{"x-cache miss", map[string][]string{"X-Cache": {"MISS"}}, nil, CacheMiss},
		{"fastly shield missed, edge hit", map[string][]string{"X-Cache": {"MISS, HIT"}}, nil, CacheHit},
		{"shield hit, edge missed", map[string][]string{"X-Cache": {"HIT, MISS"}}, nil, CacheMiss},
		{"chain over two lines", map[string][]string{"X-Cache": {"MISS", "HIT"}}, nil, CacheHit},
		{"cloudfront hit", map[string][]string{"X-Cache": {"Hit from cloudfront"}}, nil, CacheHit},
		{"cloudfront refresh", map[string][]string{"X-Cache": {"RefreshHit from cloudfront"}}, nil, CacheHit},
		{"cloudfront miss", map[string][]string{"X-Cache": {"Miss from cloudfront"}}, nil, CacheMiss},
		{"squid", map[string][]string{"X-Cache": {"TCP_MEM_HIT"}}, nil, CacheHit},
		{"cloudfront error falls through to Age", map[string][]string{"X-Cache": {"Error from cloudfront"}, "Age": {"12"}}, nil, CacheHit},
		{"cf hit", map[string][]string{"Cf-Cache-Status": {"HIT"}}, nil, CacheHit},
		{"cf expired", map[string][]string{"Cf-Cache-Status": {"EXPIRED"}}, nil, CacheMiss},
		{"cf revalidated", map[string][]string{"Cf-Cache-Status": {"REVALIDATED"}}, nil, CacheHit},
		{"cf stale", map[string][]string{"Cf-Cache-Status": {"STALE"}}, nil, CacheHit},
		{"cf dynamic", map[string][]string{"Cf-Cache-Status": {"DYNAMIC"}}, nil, CacheUncacheable},
		{"cf bypass", map[string][]string{"Cf-Cache-Status": {"BYPASS"}}, nil, CacheUncacheable},
		{"cf none falls through", map[string][]string{"Cf-Cache-Status": {"NONE"}}, nil, CacheUnknown},
		{"age positive", map[string][]string{"Age": {"5"}}, nil, CacheHit},
		{"age zero", map[string][]string{"Age": {"0"}}, nil, CacheMiss},
		{"age garbage", map[string][]string{"Age": {"soon"}}, nil, CacheUnknown},
		{"order: x-cache before age", map[string][]string{"X-Cache": {"MISS"}, "Age": {"100"}}, nil, CacheMiss},
		{"no headers", nil, nil, CacheUnknown},
		{"configured header only", map[string][]string{"X-Cache": {"HIT"}, "X-Cache-Status": {"MISS"}}, []string{"X-Cache-Status"}, CacheMiss},
		{"rfc 9211 hit", map[string][]string{"Cache-Status": {"Origin; fwd=uri-miss, Edge; hit; ttl=30"}}, []string{"Cache-Status"}, CacheHit},
		{"rfc 9211 miss", map[string][]string{"Cache-Status": {"Edge; fwd=uri-miss; stored"}}, []string{"Cache-Status"}, CacheMiss},
		{"rfc 9211 bypass", map[string][]string{"Cache-Status": {"Edge; fwd=bypass"}}, []string{"Cache-Status"}, CacheUncacheable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, vs := range tt.headers {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
			names := tt.names
			if names == nil {
				names = DefaultCacheHeaders
			}
			if got := cacheStatus(h, names); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		rate  float64
		burst int
		n     int
		want  time.Duration
	}{
		{"burst 1", 10, 1, 11, time.Second},
		{"burst 5", 10, 5, 15, time.Second},
		{"no limit", 0, 1, 1000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newVirtualClock()
			start := c.Now()
			l := newLimiter(c, tt.rate, tt.burst)
			for range tt.n {
				if err := l.wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.Now().Sub(start); got != tt.want {
				t.Errorf("%d waits took %s, want %s", tt.n, got, tt.want)
			}
		})
	}
	t.Run("idle time refills only the burst", func(t *testing.T) {
		c := newVirtualClock()
		l := newLimiter(c, 10, 2)
		for range 2 {
			l.wait(ctx)
		}
		c.SleepUntil(ctx, c.Now().Add(time.Hour))
		start := c.Now()
		for range 4 {
			l.wait(ctx)
		}
		// Two at once from the refilled bucket, then 100ms apart.
		if got := c.Now().Sub(start); got != 200*time.Millisecond {
			t.Errorf("after an idle hour 4 waits took %s, want 200ms", got)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		l := newLimiter(RealClock{}, 1, 1)
		l.wait(ctx)
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := l.wait(ctx); err == nil {
			t.Error("a wait on a cancelled context returned nil")
		}
	})
	t.Run("real clock waits", func(t *testing.T) {
		l := newLimiter(RealClock{}, 20, 1)
		start := time.Now()
		for range 3 {
			if err := l.wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := time.Since(start); got < 100*time.Millisecond {
			t.Errorf("3 waits at 20/s took %s, want at least 100ms", got)
		}
	})
}

func mustOrigin(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
