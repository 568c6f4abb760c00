package cloudflare

import (
	"net/http"
	"testing"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/cloudflare/cffake"
	"github.com/failoverhq/failover/internal/dnsswitch/providertest"
)

// inject arms the fake with a fault on every write from now on: a 429 that
// outlasts the provider's retries, or a validation error.
func inject(fake *cffake.Server, kind providertest.Failure) bool {
	switch kind {
	case providertest.FailRetryable:
		fake.Inject(cffake.Fault{Status: http.StatusTooManyRequests, Code: rateLimitCode, Message: "Please wait", RetryAfter: "1", Writes: true, Times: -1})
	case providertest.FailHard:
		fake.Inject(cffake.Fault{Status: http.StatusBadRequest, Code: 1004, Message: "DNS Validation Error", Writes: true, Times: -1})
	default:
		return false
	}
	return true
}

func TestContractDNSRecord(t *testing.T) {
	var fake *cffake.Server // the most recent, as the suite requires
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) (dnsswitch.Provider, dnsswitch.Service) {
			fake = newFake(t)
			return newFixture(t, fake, ModeDNSRecord, nil).p, webService()
		},
		Inject: func(t *testing.T, kind providertest.Failure) bool { return inject(fake, kind) },
		Writes: func() int { return fake.Writes() },
		PutForeign: func(t *testing.T, svc dnsswitch.Service) {
			mustAdd(t, fake, cffake.Record{Name: recordName(svc), Type: "A", Content: "203.0.113.99", TTL: 60})
		},
	})
}

func TestContractLoadBalancer(t *testing.T) {
	var fake *cffake.Server
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) (dnsswitch.Provider, dnsswitch.Service) {
			fake = newFake(t)
			// A fresh pool: the service's origins, none of them enabled.
			pool := lbPool()
			for i := range pool.Origins {
				pool.Origins[i].Enabled = false
			}
			fake.AddPool(testAccount, pool)
			t.Cleanup(func() {
				if p, ok := fake.Pool(testAccount, testPool); !ok || !p.Enabled {
					t.Error("the pool is disabled or gone")
				}
				if n := fake.Calls(http.MethodPut, cffake.RoutePool); n != 0 {
					t.Errorf("PUTs = %d, want 0", n)
				}
			})
			return newFixture(t, fake, ModeLoadBalancer, nil).p, lbService()
		},
		Inject: func(t *testing.T, kind providertest.Failure) bool { return inject(fake, kind) },
		Writes: func() int { return fake.Writes() },
		PutForeign: func(t *testing.T, svc dnsswitch.Service) {
			pool, _ := fake.Pool(testAccount, testPool)
			pool.Origins = append(pool.Origins, cffake.Origin{Name: "stranger", Address: "203.0.113.99", Enabled: true, Weight: 1})
			fake.AddPool(testAccount, pool)
		},
	})
}
