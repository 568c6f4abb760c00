package cloudflare

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"strings"

	cf "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/load_balancers"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// load_balancer mode.
//
// The pool's origins are the service's targets. Apply sends the full origins
// list in one PATCH of the pool (origins is a list field: what is sent
// replaces it), each origin as it was read except for the enabled flag and
// the weight of those that must change. Fields this package does not manage
// (header, port, flatten_cname, virtual_network_id, and any added later)
// therefore go back as they came. The pool's own enabled flag is never sent.
//
// Cloudflare has no conditional write for pools, so an edit made by hand
// between our read and our PATCH is lost; the read-back after the write
// catches the routing side of that.

// weightEpsilon is how far a published weight may be from ours and still
// count as equal (Cloudflare's weights are decimals 0..1; ours are 1/100s).
const weightEpsilon = 0.0005

// originName is the name of the pool origin that stands for target a.
func originName(a dnsswitch.Answer) string {
	if a.Origin != "" {
		return a.Origin
	}
	return a.Target
}

// normAddress normalises an origin address: an IP in canonical form, a host
// name in lower case without the final dot.
func normAddress(v string) string {
	v = strings.TrimSpace(v)
	if a, err := netip.ParseAddr(v); err == nil {
		return a.String()
	}
	return strings.TrimSuffix(strings.ToLower(v), ".")
}

// poolTarget is what a pool origin must look like to stand for a target.
type poolTarget struct {
	target  string
	address string // normalised; "" when the answer has no value
}

// poolTargets maps origin names to targets.
func poolTargets(svc dnsswitch.Service) (map[string]poolTarget, error) {
	out := make(map[string]poolTarget, len(svc.Answers))
	for _, a := range svc.Answers {
		name := originName(a)
		if prev, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: targets %s and %s both map to pool origin %q", errConfig, prev.target, a.Target, name)
		}
		if len(a.Values) > 1 {
			return nil, fmt.Errorf("%w: target %s: a pool origin has one address, the answer has %d values",
				errConfig, a.Target, len(a.Values))
		}
		pt := poolTarget{target: a.Target}
		if len(a.Values) == 1 {
			pt.address = normAddress(a.Values[0])
		}
		out[name] = pt
	}
	return out, nil
}

// poolState is a pool as read, its origins mapped to targets.
type poolState struct {
	enabled bool
	origins []poolOrigin
}

type poolOrigin struct {
	raw     map[string]json.RawMessage // the origin's JSON object as read
	name    string
	target  string
	enabled bool
	weight  float64
}

// originFields are the fields of an origin this package looks at. Absent
// fields take Cloudflare's defaults: enabled, weight 1.
type originFields struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Enabled *bool    `json:"enabled"`
	Weight  *float64 `json:"weight"`
}

// fetchPool reads the pool and maps every origin to a target. An origin
// that stands for no target, or whose address is not the target's value, is
// an error wrapping dnsswitch.ErrForeign.
func (p *Provider) fetchPool(ctx context.Context, svc dnsswitch.Service) (poolState, error) {
	targets, err := poolTargets(svc)
	if err != nil {
		return poolState{}, err
	}
	var pool *load_balancers.Pool
	err = p.call(ctx, "get pool "+p.poolID, func(ctx context.Context) error {
		var err error
		pool, err = p.pools.Get(ctx, p.poolID, load_balancers.PoolGetParams{AccountID: cf.F(p.accountID)})
		return err
	})
	if err != nil {
		return poolState{}, err
	}
	st := poolState{enabled: pool.Enabled}
	seen := map[string]bool{}
	for i, o := range pool.Origins {
		raw := map[string]json.RawMessage{}
		if err := json.Unmarshal([]byte(o.JSON.RawJSON()), &raw); err != nil {
			return poolState{}, fmt.Errorf("pool %s: origin %d: %w", p.poolID, i, err)
		}
		var f originFields
		if err := json.Unmarshal([]byte(o.JSON.RawJSON()), &f); err != nil {
			return poolState{}, fmt.Errorf("pool %s: origin %d: %w", p.poolID, i, err)
		}
		t, ok := targets[f.Name]
		if !ok {
			return poolState{}, fmt.Errorf("%w: origin %q (%s) of pool %s stands for no target", dnsswitch.ErrForeign, f.Name, f.Address, p.poolID)
		}
		if t.address != "" && normAddress(f.Address) != t.address {
			return poolState{}, fmt.Errorf("%w: origin %q of pool %s has address %q, target %s publishes %q",
				dnsswitch.ErrForeign, f.Name, p.poolID, f.Address, t.target, t.address)
		}
		if seen[f.Name] {
			return poolState{}, fmt.Errorf("%w: pool %s has two origins named %q", errConfig, p.poolID, f.Name)
		}
		seen[f.Name] = true
		po := poolOrigin{raw: raw, name: f.Name, target: t.target, enabled: true, weight: 1}
		if f.Enabled != nil {
			po.enabled = *f.Enabled
		}
		if f.Weight != nil {
			po.weight = *f.Weight
		}
		st.origins = append(st.origins, po)
	}
	return st, nil
}

// routing is the share of traffic each target's origin gets: its weight
// among the enabled origins, in 1/100s.
func (st poolState) routing(order []string) dnsswitch.Routing {
	amount := map[string]float64{}
	for _, o := range st.origins {
		if o.enabled {
			amount[o.target] += o.weight
		}
	}
	return shares(amount, order)
}

func (p *Provider) readPool(ctx context.Context, svc dnsswitch.Service) (dnsswitch.Routing, error) {
	st, err := p.fetchPool(ctx, svc)
	if err != nil {
		return nil, err
	}
	return st.routing(svc.Order()), nil
}

// planOrigins is pure: the origins list to send so that each target's
// origin carries publish (weight w: enabled with weight w/100; weight 0:
// disabled with weight 0), and whether it differs from what is there. An
// origin that already carries its weight goes back untouched; a disabled
// one counts as carrying weight 0 whatever its weight.
func planOrigins(st poolState, publish dnsswitch.Routing) ([]json.RawMessage, bool, error) {
	out := make([]json.RawMessage, 0, len(st.origins))
	changed := false
	for _, o := range st.origins {
		w := publish[o.target]
		want := float64(w) / 100
		ok := (w > 0 && o.enabled && math.Abs(o.weight-want) < weightEpsilon) || (w == 0 && !o.enabled)
		raw := maps.Clone(o.raw)
		delete(raw, "disabled_at") // read-only, set by Cloudflare
		if !ok {
			changed = true
			raw["enabled"] = json.RawMessage(fmt.Sprint(w > 0))
			raw["weight"] = json.RawMessage(fmt.Sprint(want))
		}
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, false, err
		}
		out = append(out, b)
	}
	return out, changed, nil
}

func (p *Provider) applyPool(ctx context.Context, svc dnsswitch.Service, publish dnsswitch.Routing) (bool, error) {
	st, err := p.fetchPool(ctx, svc)
	if err != nil {
		return false, err
	}
	for _, target := range svc.Order() {
		if publish[target] == 0 {
			continue
		}
		found := false
		for _, o := range st.origins {
			found = found || o.target == target
		}
		if !found {
			ans, _ := svc.Answer(target)
			return false, fmt.Errorf("%w: pool %s has no origin %q for target %s", errConfig, p.poolID, originName(ans), target)
		}
	}
	origins, changed, err := planOrigins(st, publish)
	if err != nil || !changed {
		return false, err
	}
	err = p.call(ctx, "edit pool "+p.poolID, func(ctx context.Context) error {
		_, err := p.pools.Edit(ctx, p.poolID, load_balancers.PoolEditParams{
			AccountID: cf.F(p.accountID),
			Origins:   cf.Raw[[]load_balancers.OriginParam](origins),
		})
		return err
	})
	if err != nil {
		return false, err
	}

	// Read back.
	got, err := p.fetchPool(ctx, svc)
	if err != nil {
		return true, fmt.Errorf("read back: %w", err)
	}
	if r := got.routing(svc.Order()); !r.Equal(publish) {
		return true, fmt.Errorf("%w: pool %s reads {%v} after the write, want {%v}", dnsswitch.ErrVerify, p.poolID, r, publish)
	}
	if got.enabled != st.enabled {
		return true, fmt.Errorf("%w: pool %s: its enabled flag went from %v to %v", dnsswitch.ErrVerify, p.poolID, st.enabled, got.enabled)
	}
	return true, nil
}
