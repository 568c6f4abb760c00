package rfc2136

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// managedTypes are the RR types the provider reads and replaces at a
// service's record, in the order it queries them.
var managedTypes = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME}

// record is one published value in canonical form: an address as netip
// prints it, or a lower-case fully qualified name.
type record struct {
	typ   uint16
	value string
	ttl   uint32
}

func (r record) String() string {
	return fmt.Sprintf("%s %s ttl %d", dns.TypeToString[r.typ], r.value, r.ttl)
}

// rrset is the set of A, AAAA and CNAME records at one name, sorted by type
// and value, without duplicates.
type rrset struct {
	recs []record
}

func (s rrset) empty() bool { return len(s.recs) == 0 }

func (s rrset) String() string {
	parts := make([]string, len(s.recs))
	for i, r := range s.recs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

func compareRecords(a, b record) int {
	if c := cmp.Compare(a.typ, b.typ); c != 0 {
		return c
	}
	return strings.Compare(a.value, b.value)
}

// insert adds r unless the set already holds its type and value.
func (s *rrset) insert(r record) {
	i, found := slices.BinarySearchFunc(s.recs, r, compareRecords)
	if !found {
		s.recs = slices.Insert(s.recs, i, r)
	}
}

// add adds a record read from the server.
func (s *rrset) add(rr dns.RR) error {
	r := record{typ: rr.Header().Rrtype, ttl: rr.Header().Ttl}
	switch rr := rr.(type) {
	case *dns.A:
		a, ok := netip.AddrFromSlice(rr.A)
		if !ok {
			return fmt.Errorf("malformed A record %v", rr)
		}
		r.value = a.Unmap().String()
	case *dns.AAAA:
		a, ok := netip.AddrFromSlice(rr.AAAA)
		if !ok {
			return fmt.Errorf("malformed AAAA record %v", rr)
		}
		r.value = a.String()
	case *dns.CNAME:
		r.value = dns.CanonicalName(rr.Target)
	default:
		return fmt.Errorf("unexpected record %v", rr)
	}
	s.insert(r)
	return nil
}

// fromAnswer turns a target's answer into an rrset with TTL 0.
func fromAnswer(a dnsswitch.Answer) (rrset, error) {
	if len(a.Values) == 0 {
		return rrset{}, fmt.Errorf("the %s answer has no values", a.Type)
	}
	var s rrset
	switch strings.ToUpper(a.Type) {
	case "A", "AAAA":
		six := strings.EqualFold(a.Type, "AAAA")
		for _, v := range a.Values {
			addr, err := netip.ParseAddr(v)
			switch {
			case err != nil || addr.Zone() != "":
				return rrset{}, fmt.Errorf("value %q of the %s answer is not an IP address", v, a.Type)
			case six && !addr.Is6():
				return rrset{}, fmt.Errorf("value %q of the AAAA answer is not an IPv6 address", v)
			case !six && !addr.Is4():
				return rrset{}, fmt.Errorf("value %q of the A answer is not an IPv4 address", v)
			}
			typ := dns.TypeA
			if six {
				typ = dns.TypeAAAA
			}
			s.insert(record{typ: typ, value: addr.String()})
		}
	case "CNAME":
		if len(a.Values) != 1 {
			return rrset{}, fmt.Errorf("the CNAME answer has %d values, want 1", len(a.Values))
		}
		name := dns.Fqdn(a.Values[0])
		if _, ok := dns.IsDomainName(name); !ok || name == "." {
			return rrset{}, fmt.Errorf("value %q of the CNAME answer is not a domain name", a.Values[0])
		}
		s.insert(record{typ: dns.TypeCNAME, value: dns.CanonicalName(name)})
	default:
		return rrset{}, fmt.Errorf("answer type %q is not A, AAAA or CNAME", a.Type)
	}
	return s, nil
}

// withTTL returns a copy of s with every TTL set to ttl.
func (s rrset) withTTL(ttl int) rrset {
	out := rrset{recs: slices.Clone(s.recs)}
	for i := range out.recs {
		out.recs[i].ttl = uint32(ttl)
	}
	return out
}

// ofType returns the records of type t.
func (s rrset) ofType(t uint16) rrset {
	var out rrset
	for _, r := range s.recs {
		if r.typ == t {
			out.recs = append(out.recs, r)
		}
	}
	return out
}

// typ is the type of the first record: want, built from one answer, has one.
func (s rrset) typ() uint16 {
	if s.empty() {
		return dns.TypeNone
	}
	return s.recs[0].typ
}

// sameData reports whether s and o hold the same types and values, whatever
// their TTLs.
func (s rrset) sameData(o rrset) bool {
	return slices.EqualFunc(s.recs, o.recs, func(a, b record) bool { return compareRecords(a, b) == 0 })
}

// equal reports whether s and o hold the same records with the same TTLs.
func (s rrset) equal(o rrset) bool {
	return slices.Equal(s.recs, o.recs)
}

// rrs returns the records as RRs owned by name, for an UPDATE.
func (s rrset) rrs(name string) []dns.RR {
	out := make([]dns.RR, 0, len(s.recs))
	for _, r := range s.recs {
		h := dns.RR_Header{Name: name, Rrtype: r.typ, Class: dns.ClassINET, Ttl: r.ttl}
		switch r.typ {
		case dns.TypeA:
			out = append(out, &dns.A{Hdr: h, A: netip.MustParseAddr(r.value).AsSlice()})
		case dns.TypeAAAA:
			out = append(out, &dns.AAAA{Hdr: h, AAAA: netip.MustParseAddr(r.value).AsSlice()})
		case dns.TypeCNAME:
			out = append(out, &dns.CNAME{Hdr: h, Target: r.value})
		}
	}
	return out
}
