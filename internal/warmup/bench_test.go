package warmup

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

// BenchmarkWarmup warms b.N URLs at concurrency 64, without a rate limit,
// against a local edge that answers HIT with a 512-byte body. The edge runs
// in the same process, so allocs/op and the CPU include its side.
func BenchmarkWarmup(b *testing.B) {
	e := startEdge(b, "127.0.0.8", edgeOptions{})
	hot := paths(1000)
	for _, p := range hot {
		e.cached[p] = true
	}
	urls := make([]string, b.N)
	for i := range urls {
		urls[i] = hot[i%len(hot)] + "?v=" + strconv.Itoa(i)
	}
	wc := config.DefaultWarmup()
	wc.URLs = urls
	wc.Rate = 0
	wc.Concurrency = 64
	wc.MaxURLs = max(b.N, 1)
	wc.MaxWait = 0
	w, err := New(Options{
		Warmup: wc,
		Probe:  config.Probe{URL: "http://" + site + "/", ConnectTo: e.addr},
		Logger: quiet,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	res, err := w.Run(context.Background())
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.OK != b.N {
		b.Fatalf("%s", res.Summary())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "urls/s")
}
