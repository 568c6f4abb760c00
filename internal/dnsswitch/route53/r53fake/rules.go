package r53fake

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// validType are the RRType values of the API.
var validType = map[string]bool{
	"SOA": true, "A": true, "TXT": true, "NS": true, "CNAME": true, "MX": true, "NAPTR": true,
	"PTR": true, "SRV": true, "SPF": true, "AAAA": true, "CAA": true, "DS": true, "TLSA": true,
	"SSHFP": true, "SVCB": true, "HTTPS": true,
}

func (s RRSet) key() setKey { return setKey{name: s.Name, typ: s.Type, id: s.SetIdentifier} }

// describe names a set the way Route 53's messages do.
func (s RRSet) describe() string {
	d := fmt.Sprintf("[name='%s', type='%s'", escapeName(s.Name), s.Type)
	if s.SetIdentifier != "" {
		d += fmt.Sprintf(", set-identifier='%s'", s.SetIdentifier)
	}
	return d + "]"
}

func cloneSet(s RRSet) RRSet {
	s.Values = slices.Clone(s.Values)
	if s.Weight != nil {
		w := *s.Weight
		s.Weight = &w
	}
	if s.Alias != nil {
		a := *s.Alias
		s.Alias = &a
	}
	return s
}

// sameContent reports whether a DELETE's set matches the stored one
// exactly: TTL, weight, values, health check and alias.
func sameContent(a, b RRSet) bool {
	if a.TTL != b.TTL || a.HealthCheckID != b.HealthCheckID {
		return false
	}
	if (a.Weight == nil) != (b.Weight == nil) || (a.Weight != nil && *a.Weight != *b.Weight) {
		return false
	}
	if (a.Alias == nil) != (b.Alias == nil) || (a.Alias != nil && *a.Alias != *b.Alias) {
		return false
	}
	av, bv := slices.Clone(a.Values), slices.Clone(b.Values)
	slices.Sort(av)
	slices.Sort(bv)
	return slices.Equal(av, bv)
}

func (s RRSet) toXML() xmlRRSet {
	x := xmlRRSet{Name: escapeName(s.Name), Type: s.Type, SetIdentifier: s.SetIdentifier,
		Weight: s.Weight, HealthCheckID: s.HealthCheckID}
	if s.Alias != nil {
		x.AliasTarget = &xmlAlias{HostedZoneID: s.Alias.HostedZoneID, DNSName: s.Alias.DNSName,
			EvaluateTargetHealth: s.Alias.EvaluateTargetHealth}
		return x
	}
	ttl := s.TTL
	x.TTL = &ttl
	x.ResourceRecords = &xmlRecords{}
	for _, v := range s.Values {
		x.ResourceRecords.Records = append(x.ResourceRecords.Records, xmlRecord{Value: v})
	}
	return x
}

// fromXML checks the shape of one change's set, as the API's input
// validation does (InvalidInput), and converts it.
func fromXML(action string, x *xmlRRSet) (RRSet, *apiError) {
	if x == nil {
		return RRSet{}, invalidInput("Invalid request: Missing field 'ResourceRecordSet' in Change with [Action=%s]", action)
	}
	where := fmt.Sprintf("Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=%s]",
		action, x.Name, x.Type, x.SetIdentifier)
	switch {
	case x.Name == "":
		return RRSet{}, invalidInput("Invalid request: Missing field 'Name' in %s", where)
	case !validType[x.Type]:
		return RRSet{}, invalidInput("Invalid request: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set in %s", x.Type, where)
	case x.Region != "" || x.Failover != "" || x.MultiValue != nil || x.GeoLocation != nil ||
		x.GeoProximity != nil || x.CidrRouting != nil || x.TrafficPolicyID != "":
		return RRSet{}, invalidInput("r53fake: only simple and weighted routing are supported, in %s", where)
	case x.Weight != nil && x.SetIdentifier == "":
		return RRSet{}, invalidInput("Invalid request: Missing field 'SetIdentifier' in %s", where)
	case x.SetIdentifier != "" && x.Weight == nil:
		return RRSet{}, invalidInput("Invalid request: Missing field 'Weight' in %s", where)
	case x.Weight != nil && (*x.Weight < 0 || *x.Weight > 255):
		return RRSet{}, invalidInput("Invalid request: Weight %d is not in [0, 255] in %s", *x.Weight, where)
	case len(x.SetIdentifier) > 128:
		return RRSet{}, invalidInput("Invalid request: SetIdentifier is longer than 128 characters in %s", where)
	}
	set := RRSet{Name: canonicalName(x.Name), Type: x.Type, SetIdentifier: x.SetIdentifier,
		HealthCheckID: x.HealthCheckID}
	if x.Weight != nil {
		w := *x.Weight
		set.Weight = &w
	}
	hasRecords := x.ResourceRecords != nil && len(x.ResourceRecords.Records) > 0
	if x.AliasTarget != nil {
		if x.TTL != nil || x.ResourceRecords != nil {
			return RRSet{}, invalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in %s", where)
		}
		set.Alias = &Alias{HostedZoneID: x.AliasTarget.HostedZoneID, DNSName: canonicalName(x.AliasTarget.DNSName),
			EvaluateTargetHealth: x.AliasTarget.EvaluateTargetHealth}
		return set, nil
	}
	if x.TTL == nil || !hasRecords {
		return RRSet{}, invalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in %s", where)
	}
	if *x.TTL < 0 || *x.TTL > 2147483647 {
		return RRSet{}, invalidInput("Invalid request: TTL %d is not in [0, 2147483647] in %s", *x.TTL, where)
	}
	set.TTL = *x.TTL
	for _, r := range x.ResourceRecords.Records {
		set.Values = append(set.Values, r.Value)
	}
	return set, nil
}

// parseBatch checks a batch's shape and size.
func (z *zone) parseBatch(b xmlChangeBatch, maxChanges int) ([]Change, *apiError) {
	if len(b.Changes) == 0 {
		return nil, invalidInput("1 validation error detected: Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null")
	}
	if len(b.Comment) > 256 {
		return nil, invalidInput("Invalid request: the comment is longer than 256 characters")
	}
	if len(b.Changes) > maxChanges {
		return nil, invalidBatch([]string{fmt.Sprintf("Number of records limit of %d exceeded.", maxChanges)})
	}
	out := make([]Change, 0, len(b.Changes))
	for _, c := range b.Changes {
		switch c.Action {
		case "CREATE", "DELETE", "UPSERT":
		default:
			return nil, invalidInput("Invalid request: Value '%s' at 'changeBatch.changes.action' failed to satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]", c.Action)
		}
		set, e := fromXML(c.Action, c.ResourceRecordSet)
		if e != nil {
			return nil, e
		}
		out = append(out, Change{Action: c.Action, Set: set})
	}
	return out, nil
}

// applyBatch applies changes in order to a copy of the zone's sets and
// checks the result. It returns the new sets, or every problem found;
// either way the zone itself is untouched.
func (z *zone) applyBatch(changes []Change) (map[setKey]RRSet, []string) {
	next := z.copySets()
	touched := map[string]bool{}
	var msgs []string
	for _, c := range changes {
		set := c.Set
		if m := z.checkSet(set); len(m) > 0 {
			msgs = append(msgs, m...)
			continue
		}
		touched[set.Name] = true
		cur, exists := next[set.key()]
		switch c.Action {
		case "CREATE":
			if exists {
				msgs = append(msgs, fmt.Sprintf("Tried to create resource record set %s but it already exists", set.describe()))
				continue
			}
			next[set.key()] = cloneSet(set)
		case "DELETE":
			switch {
			case !exists:
				msgs = append(msgs, fmt.Sprintf("Tried to delete resource record set %s but it was not found", set.describe()))
			case !sameContent(cur, set):
				msgs = append(msgs, fmt.Sprintf("Tried to delete resource record set %s but the values provided do not match the current values", set.describe()))
			case set.Type == "SOA" || (set.Type == "NS" && set.Name == z.origin):
				msgs = append(msgs, fmt.Sprintf("A HostedZone must contain at least one NS record and exactly one SOA record for the zone itself: cannot delete %s", set.describe()))
			default:
				delete(next, set.key())
			}
		case "UPSERT":
			next[set.key()] = cloneSet(set)
		}
	}
	msgs = append(msgs, z.checkNames(next, touched)...)
	return next, msgs
}

// checkSet checks one set on its own: the name lies in the zone and the
// values suit the type.
func (z *zone) checkSet(s RRSet) []string {
	if s.Name != z.origin && !strings.HasSuffix(s.Name, "."+z.origin) {
		return []string{fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", escapeName(s.Name), z.origin)}
	}
	var msgs []string
	seen := map[string]bool{}
	for _, v := range s.Values {
		if seen[v] {
			msgs = append(msgs, fmt.Sprintf("Duplicate Resource Record: '%s'", v))
		}
		seen[v] = true
		switch s.Type {
		case "A":
			if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
				msgs = append(msgs, fmt.Sprintf("ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '%s'", v))
			}
		case "AAAA":
			if a, err := netip.ParseAddr(v); err != nil || !a.Is6() || a.Is4In6() {
				msgs = append(msgs, fmt.Sprintf("AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address) encountered with '%s'", v))
			}
		}
	}
	if s.Type == "CNAME" && len(s.Values) > 1 {
		msgs = append(msgs, fmt.Sprintf("RRSet of type CNAME with DNS name %s has more than one resource record", escapeName(s.Name)))
	}
	return msgs
}

// checkNames checks the rules that hold between the sets under each
// touched name.
func (z *zone) checkNames(sets map[setKey]RRSet, touched map[string]bool) []string {
	names := make([]string, 0, len(touched))
	for n := range touched {
		names = append(names, n)
	}
	sort.Strings(names)
	var msgs []string
	for _, name := range names {
		groups := map[string][]RRSet{} // by type
		for k, s := range sets {
			if k.name == name {
				groups[k.typ] = append(groups[k.typ], s)
			}
		}
		types := make([]string, 0, len(groups))
		for t := range groups {
			types = append(types, t)
		}
		sort.Strings(types)
		if len(groups["CNAME"]) > 0 {
			if name == z.origin {
				msgs = append(msgs, fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted at apex in zone %s", escapeName(name), z.origin))
			}
			for _, t := range types {
				if t != "CNAME" {
					msgs = append(msgs, fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone %s", t, escapeName(name), z.origin))
				}
			}
		}
		for _, t := range types {
			simple, weighted := 0, 0
			for _, s := range groups[t] {
				if s.SetIdentifier == "" {
					simple++
				} else {
					weighted++
				}
			}
			if simple > 0 && weighted > 0 {
				msgs = append(msgs, fmt.Sprintf("RRSet with DNS name %s, type %s cannot be created as a non-weighted set exists with the same name and type", escapeName(name), t))
			}
		}
	}
	return msgs
}

func (z *zone) copySets() map[setKey]RRSet {
	out := make(map[setKey]RRSet, len(z.sets))
	for k, v := range z.sets {
		out[k] = v
	}
	return out
}

// sorted returns the zone's sets in listing order.
func (z *zone) sorted() []RRSet {
	out := make([]RRSet, 0, len(z.sets))
	for _, s := range z.sets {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return compareKeys(out[i].key(), out[j].key()) < 0 })
	return out
}

// compareKeys orders sets as ListResourceRecordSets does: by name with
// the labels reversed (example.com. < a.example.com. < b.example.com.),
// then by type, then by set identifier. A missing type or identifier in a
// start key sorts before every value.
func compareKeys(a, b setKey) int {
	if c := compareNames(a.name, b.name); c != 0 {
		return c
	}
	if c := strings.Compare(a.typ, b.typ); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

func compareNames(a, b string) int {
	la := strings.Split(strings.TrimSuffix(a, "."), ".")
	lb := strings.Split(strings.TrimSuffix(b, "."), ".")
	slices.Reverse(la)
	slices.Reverse(lb)
	return slices.Compare(la, lb)
}
