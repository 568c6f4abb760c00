package warmup

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// The values of the result label of failover_warmup_urls_total.
const (
	ResultHit         = "hit"
	ResultMiss        = "miss"
	ResultUncacheable = "uncacheable"
	ResultUnknown     = "unknown" // fetched OK, no cache verdict
	ResultError       = "error"
)

// Metrics counts warm-up fetches as
// failover_warmup_urls_total{service,target,result} (CONTRACT §5). Only the
// warm pass is counted; verify fetches and sitemap documents are not. A nil
// *Metrics counts nothing.
type Metrics struct {
	urls *prometheus.CounterVec
}

// NewMetrics creates the counter and registers it on reg. When reg already
// holds it (another Warmer's), that one is used.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "failover_warmup_urls_total",
		Help: "Warm-up fetches by service, target and result (hit, miss, uncacheable, unknown, error).",
	}, []string{"service", "target", "result"})
	if reg != nil {
		if err := reg.Register(cv); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, err
			}
			cv = existing
		}
	}
	return &Metrics{urls: cv}, nil
}

func (m *Metrics) observe(service, target string, o outcome) {
	if m == nil || o.aborted {
		return
	}
	result := ResultError
	if o.failure == "" {
		switch o.cache {
		case CacheHit:
			result = ResultHit
		case CacheMiss:
			result = ResultMiss
		case CacheUncacheable:
			result = ResultUncacheable
		default:
			result = ResultUnknown
		}
	}
	m.urls.WithLabelValues(service, target, result).Inc()
}
