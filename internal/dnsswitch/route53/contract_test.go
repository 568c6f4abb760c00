package route53

import (
	"testing"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providertest"
	"github.com/failoverhq/failover/internal/dnsswitch/route53/r53fake"
)

// TestContract runs the shared provider suite on the fake, twice: CNAME
// targets waiting for INSYNC, and A targets read in pages of two.
func TestContract(t *testing.T) {
	variants := []struct {
		name string
		fake r53fake.Options
		mod  func(*Options)
		svc  func() dnsswitch.Service
	}{
		{"cname-insync", r53fake.Options{PendingPolls: 2}, func(o *Options) { o.WaitInsync = true }, cnameService},
		{"a-paged", r53fake.Options{PageSize: 2}, nil, aService},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			var cur *env
			providertest.Run(t, providertest.Harness{
				New: func(t *testing.T) (dnsswitch.Provider, dnsswitch.Service) {
					cur = newEnv(t, v.fake, func(o *Options) {
						o.MaxRetries = 2
						if v.mod != nil {
							v.mod(o)
						}
					})
					return cur.p, v.svc()
				},
				Inject: func(t *testing.T, kind providertest.Failure) bool {
					switch kind {
					case providertest.FailRetryable:
						// Outlasts the retries: the whole Apply fails.
						cur.fake.Fail(r53fake.OpChange, "Throttling", cur.p.maxRetries+1)
					case providertest.FailHard:
						cur.fake.Fail(r53fake.OpChange, "InvalidChangeBatch", 1)
					default:
						return false
					}
					return true
				},
				Writes: func() int { return cur.fake.Calls(r53fake.OpChange) },
				PutForeign: func(t *testing.T, svc dnsswitch.Service) {
					a := svc.Answers[0]
					if err := cur.fake.Put(zoneID, r53fake.RRSet{Name: svc.Record, Type: a.Type, TTL: int64(svc.TTL), Values: a.Values}); err != nil {
						t.Fatal(err)
					}
				},
			})
		})
	}
}
