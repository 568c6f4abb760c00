package route53

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// maxChanges is the most changes failover sends in one batch. Route 53
// takes up to 1,000; a service with more than a few dozen targets is a
// configuration mistake, and a batch this size is still one atomic write.
const maxChanges = 100

// routingTypes are the record types that route traffic. Other types at the
// record's name (TXT, CAA, ...) are left alone: they neither carry a target
// nor stop one from being published.
var routingTypes = map[types.RRType]bool{types.RRTypeA: true, types.RRTypeAaaa: true, types.RRTypeCname: true}

// checkService checks what Read and Apply need of a service: a record
// name, a TTL Route 53 takes, and targets that all publish one record type
// (the sets of one weighted group share a type, and a CNAME shares its name
// with nothing) with values of that type.
func checkService(svc dnsswitch.Service) error {
	var problems []string
	if svc.Record == "" {
		problems = append(problems, "no record name")
	}
	if svc.TTL < 0 || int64(svc.TTL) > 2147483647 {
		problems = append(problems, fmt.Sprintf("ttl %d out of range [0, 2147483647]", svc.TTL))
	}
	if len(svc.Answers) == 0 {
		problems = append(problems, "no targets")
	}
	seen := map[string]bool{}
	for _, a := range svc.Answers {
		switch {
		case a.Target == "":
			problems = append(problems, "a target without a name")
		case len(a.Target) > 128:
			problems = append(problems, fmt.Sprintf("target %q: name longer than a SetIdentifier (128)", a.Target))
		case seen[a.Target]:
			problems = append(problems, fmt.Sprintf("target %q listed twice", a.Target))
		}
		seen[a.Target] = true
		if !routingTypes[types.RRType(a.Type)] {
			problems = append(problems, fmt.Sprintf("target %q: type %q, want A, AAAA or CNAME", a.Target, a.Type))
			continue
		}
		if a.Type != svc.Answers[0].Type {
			problems = append(problems, fmt.Sprintf("target %q: type %s differs from %s of %q: one weighted set holds one type",
				a.Target, a.Type, svc.Answers[0].Type, svc.Answers[0].Target))
		}
		if len(a.Values) == 0 {
			problems = append(problems, fmt.Sprintf("target %q: no values", a.Target))
		}
		if a.Type == "CNAME" && len(a.Values) > 1 {
			problems = append(problems, fmt.Sprintf("target %q: a CNAME has one value, got %d", a.Target, len(a.Values)))
		}
		for _, v := range a.Values {
			if a.Type == "CNAME" {
				continue
			}
			ip, err := netip.ParseAddr(v)
			if err != nil || (a.Type == "A") != ip.Is4() || ip.Is4In6() {
				problems = append(problems, fmt.Sprintf("target %q: %q is not an %s value", a.Target, v, a.Type))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("route53: service %q: %s", svc.Name, strings.Join(problems, "; "))
	}
	return nil
}

// checkRouting checks desired against the service: known targets, weights
// 0..100 that sum to 100.
func checkRouting(svc dnsswitch.Service, desired dnsswitch.Routing) error {
	var problems []string
	for _, name := range sortedKeys(desired) {
		w := desired[name]
		if _, ok := svc.Answer(name); !ok {
			problems = append(problems, fmt.Sprintf("unknown target %q", name))
		}
		if w < 0 || w > 100 {
			problems = append(problems, fmt.Sprintf("target %q: weight %d out of range [0, 100]", name, w))
		}
	}
	if s := desired.Sum(); s != 100 {
		problems = append(problems, fmt.Sprintf("weights sum to %d, want 100", s))
	}
	if len(problems) > 0 {
		return fmt.Errorf("route53: service %q: routing %s: %s", svc.Name, desired, strings.Join(problems, "; "))
	}
	return nil
}

func sortedKeys(r dnsswitch.Routing) []string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ownSets sorts the sets listed at the service's name: the weighted sets
// whose SetIdentifier names a target are the service's, by target; any
// other set of a routing type there (simple, alias, another routing policy,
// an unknown identifier) is foreign, and an error wrapping
// dnsswitch.ErrForeign names them all.
func ownSets(svc dnsswitch.Service, sets []types.ResourceRecordSet) (map[string][]types.ResourceRecordSet, error) {
	record := canonicalName(svc.Record)
	own := map[string][]types.ResourceRecordSet{}
	var foreign []string
	for _, s := range sets {
		if canonicalName(aws.ToString(s.Name)) != record || !routingTypes[s.Type] {
			continue
		}
		id := aws.ToString(s.SetIdentifier)
		switch {
		case s.SetIdentifier == nil:
			foreign = append(foreign, fmt.Sprintf("a simple %s set", s.Type))
		case s.Weight == nil:
			foreign = append(foreign, fmt.Sprintf("%s set %q with a routing policy other than weighted", s.Type, id))
		case s.AliasTarget != nil:
			foreign = append(foreign, fmt.Sprintf("%s set %q is an alias", s.Type, id))
		default:
			if _, ok := svc.Answer(id); !ok {
				foreign = append(foreign, fmt.Sprintf("%s set %q names no target", s.Type, id))
				continue
			}
			own[id] = append(own[id], s)
		}
	}
	if len(foreign) > 0 {
		return nil, fmt.Errorf("route53: %s: %w: %s", svc.Record, dnsswitch.ErrForeign, strings.Join(foreign, "; "))
	}
	return own, nil
}

// routingFrom reads the weights of the service's own sets. A target counts
// only when its set publishes exactly its answer (type, values, TTL):
// a set left with an old value or TTL reads as weight 0, so the plan shows
// a change and Apply rewrites it.
func routingFrom(svc dnsswitch.Service, own map[string][]types.ResourceRecordSet) dnsswitch.Routing {
	r := dnsswitch.Routing{}
	for _, a := range svc.Answers {
		for _, s := range own[a.Target] {
			if w := aws.ToInt64(s.Weight); w > 0 && publishes(s, svc, a) {
				r[a.Target] = int(w)
			}
		}
	}
	return r
}

// publishes reports whether s carries a's answer with the service's TTL.
func publishes(s types.ResourceRecordSet, svc dnsswitch.Service, a dnsswitch.Answer) bool {
	if string(s.Type) != a.Type || aws.ToInt64(s.TTL) != int64(svc.TTL) || s.AliasTarget != nil {
		return false
	}
	have := make([]string, len(s.ResourceRecords))
	for i, r := range s.ResourceRecords {
		have[i] = aws.ToString(r.Value)
	}
	return slices.Equal(normalValues(a.Type, have), normalValues(a.Type, a.Values))
}

// normalValues puts values in a form that compares: addresses in their
// canonical text, names fully qualified in lower case; sorted.
func normalValues(typ string, values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		if typ == "CNAME" {
			out[i] = canonicalName(v)
		} else if ip, err := netip.ParseAddr(v); err == nil {
			out[i] = ip.String()
		} else {
			out[i] = v
		}
	}
	slices.Sort(out)
	return out
}

// wantSet is the set that publishes target a at weight w. It keeps the
// health check of the set it replaces, if an operator attached one.
func wantSet(svc dnsswitch.Service, a dnsswitch.Answer, w int, old *types.ResourceRecordSet) types.ResourceRecordSet {
	s := types.ResourceRecordSet{
		Name:          aws.String(svc.Record),
		Type:          types.RRType(a.Type),
		SetIdentifier: aws.String(a.Target),
		Weight:        aws.Int64(int64(w)),
		TTL:           aws.Int64(int64(svc.TTL)),
	}
	for _, v := range a.Values {
		if a.Type == "CNAME" && !strings.HasSuffix(v, ".") {
			v += "."
		}
		s.ResourceRecords = append(s.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	if old != nil {
		s.HealthCheckId = old.HealthCheckId
	}
	return s
}

// sameSet reports whether have already is want.
func sameSet(have, want types.ResourceRecordSet) bool {
	if have.Type != want.Type || aws.ToInt64(have.TTL) != aws.ToInt64(want.TTL) ||
		aws.ToInt64(have.Weight) != aws.ToInt64(want.Weight) || have.AliasTarget != nil {
		return false
	}
	hv := make([]string, len(have.ResourceRecords))
	for i, r := range have.ResourceRecords {
		hv[i] = aws.ToString(r.Value)
	}
	wv := make([]string, len(want.ResourceRecords))
	for i, r := range want.ResourceRecords {
		wv[i] = aws.ToString(r.Value)
	}
	return slices.Equal(normalValues(string(have.Type), hv), normalValues(string(want.Type), wv))
}

// planChanges is pure: the changes that take the service's own sets to
// desired. Every target keeps a set, weight 0 for those that get no
// traffic. A set whose type differs from its target's answer is deleted as
// it was listed (a DELETE must match exactly) and its replacement created;
// every other new or changed set is an UPSERT. The DELETEs come first, so
// the batch never holds two types under the name mid-way.
func planChanges(svc dnsswitch.Service, desired dnsswitch.Routing, own map[string][]types.ResourceRecordSet) []types.Change {
	var deletes, writes []types.Change
	for _, a := range svc.Answers {
		var (
			keep        *types.ResourceRecordSet
			typeChanged bool
		)
		for _, s := range own[a.Target] {
			if string(s.Type) == a.Type {
				keep = &s
				continue
			}
			deletes = append(deletes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: &s})
			typeChanged = true
		}
		want := wantSet(svc, a, desired[a.Target], keep)
		switch {
		case keep == nil && typeChanged:
			writes = append(writes, types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: &want})
		case keep == nil || !sameSet(*keep, want):
			writes = append(writes, types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: &want})
		}
	}
	return append(deletes, writes...)
}

// canonicalName makes a name comparable: \ooo escapes (which Route 53 uses
// for characters such as '*') resolved, lower case, fully qualified.
func canonicalName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '\\' && i+3 < len(name) && isOctal(name[i+1]) && isOctal(name[i+2]) && isOctal(name[i+3]) {
			b.WriteByte((name[i+1]-'0')<<6 | (name[i+2]-'0')<<3 | (name[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(c)
	}
	out := strings.ToLower(b.String())
	if !strings.HasSuffix(out, ".") {
		out += "."
	}
	return out
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// errTooManyChanges is returned when a batch would exceed maxChanges.
var errTooManyChanges = errors.New("too many changes for one batch")
