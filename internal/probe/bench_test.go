package probe

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

// BenchmarkProbeHTTP is one full probe per op: a fresh TCP connection, the
// request, the response and its checks, against a local server.
func BenchmarkProbeHTTP(b *testing.B) {
	srv := newHTTPServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cache", "HIT")
		fmt.Fprint(w, "ok")
	}))
	p := newProber(b, Options{})
	s := compile(b, config.Probe{
		URL:    srv.URL + "/healthz",
		Expect: config.Expect{Status: []int{200}, BodyContains: "ok", Headers: map[string]string{"X-Cache": "HIT"}},
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r := p.Probe(ctx, s); !r.OK {
			b.Fatalf("probe failed: %+v", r)
		}
	}
}

type nopChecker struct{}

func (nopChecker) Probe(context.Context, *Spec) Result { return Result{OK: true, Class: ClassOK} }

// BenchmarkSchedulerSpread runs 1,000 jobs at a 100ms interval on the real
// clock, one op per probe start, and reports the scheduler's own start lag
// (actual minus planned start, jitter included in the plan) and the rounds
// it skipped.
func BenchmarkSchedulerSpread(b *testing.B) {
	const jobs = 1000
	var (
		mu   sync.Mutex
		lags = make([]time.Duration, 0, b.N)
		done = make(chan struct{})
	)
	s, err := NewScheduler(SchedulerOptions{
		Interval: 100 * time.Millisecond,
		Checker:  nopChecker{},
		Deliver:  func(Result) {},
		OnStart: func(_ Key, planned, actual time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if len(lags) < b.N {
				lags = append(lags, actual.Sub(planned))
				if len(lags) == b.N {
					close(done)
				}
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	var js []Job
	spec := compile(b, config.Probe{Type: "tcp", ConnectTo: "127.0.0.1:1"})
	for i := range jobs {
		js = append(js, Job{Key: Key{"svc", fmt.Sprintf("t%d", i)}, Spec: spec})
	}
	if err := s.Update(js); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		defer close(stopped)
		if err := s.Run(ctx); err != nil {
			b.Error(err)
		}
	}()
	<-done
	b.StopTimer()
	cancel()
	<-stopped

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lags)
	q := func(p float64) float64 {
		return float64(lags[int(p*float64(len(lags)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(q(0.5), "lag-p50-µs")
	b.ReportMetric(q(0.99), "lag-p99-µs")
	b.ReportMetric(q(1), "lag-max-µs")
	b.ReportMetric(float64(s.Stats().Skipped)/float64(b.N), "skipped/op")
}
