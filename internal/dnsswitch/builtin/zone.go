package builtin

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// snapshot is what the server answers from: a published state compiled into
// ready-made resource records. It is immutable once built, so queries read
// it without locks while Apply builds the next one and swaps it in whole.
type snapshot struct {
	state *state
	zone  string
	// names maps every canonical name that exists in the zone to its node:
	// the apex, the service records and the empty non-terminals between.
	names map[string]*node
	// negative is the authority section of NXDOMAIN and NODATA answers:
	// the SOA with the negative TTL (RFC 2308).
	negative []dns.RR
}

// node is one name of the zone. Its fields are nil when the name has no
// such data; a node with none at all is an empty non-terminal.
type node struct {
	soa, ns []dns.RR // the apex only
	// Weighted answers by query type. a and aaaa include the CNAME
	// targets, which answer every type; cname holds only those.
	a, aaaa, cname, any chooser
}

// chooser picks one RRset by weight.
type chooser struct {
	cum  []uint32   // cumulative weights, all > 0
	sets [][]dns.RR // RRsets, one per weight
}

func (c *chooser) add(weight int, rrs []dns.RR) {
	var prev uint32
	if n := len(c.cum); n > 0 {
		prev = c.cum[n-1]
	}
	c.cum = append(c.cum, prev+uint32(weight))
	c.sets = append(c.sets, rrs)
}

// pick returns an RRset chosen with probability proportional to its
// weight, or nil when there is none.
func (c *chooser) pick(rnd func() uint64) []dns.RR {
	switch len(c.cum) {
	case 0:
		return nil
	case 1:
		return c.sets[0]
	}
	x := uint32(rnd() % uint64(c.cum[len(c.cum)-1]))
	for i, cum := range c.cum {
		if x < cum {
			return c.sets[i]
		}
	}
	return c.sets[len(c.sets)-1] // unreachable: x < the last cum
}

// lookup returns the answer for qtype at n, or nil for NODATA.
func (n *node) lookup(qtype uint16, rnd func() uint64) []dns.RR {
	switch qtype {
	case dns.TypeSOA:
		return n.soa
	case dns.TypeNS:
		return n.ns
	case dns.TypeA:
		return n.a.pick(rnd)
	case dns.TypeAAAA:
		return n.aaaa.pick(rnd)
	case dns.TypeANY:
		// RFC 8482: answer with one RRset.
		if n.soa != nil {
			return n.soa
		}
		return n.any.pick(rnd)
	default:
		// A CNAME answers for every type (RFC 1034 section 3.6.2).
		return n.cname.pick(rnd)
	}
}

// compile builds the snapshot of st for the zone opts describe. It fails on
// anything that cannot be served; Apply compiles before it writes anything.
func compile(opts Options, st *state) (*snapshot, error) {
	zone := opts.Zone
	s := &snapshot{state: st, zone: zone, names: map[string]*node{}}
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: apexTTL},
		Ns:      opts.NS[0],
		Mbox:    opts.Mbox,
		Serial:  st.Serial,
		Refresh: seconds(opts.Refresh),
		Retry:   seconds(opts.Retry),
		Expire:  seconds(opts.Expire),
		Minttl:  seconds(opts.NegativeTTL),
	}
	neg := *soa
	neg.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	s.negative = []dns.RR{&neg}
	apex := &node{soa: []dns.RR{soa}}
	for _, ns := range opts.NS {
		apex.ns = append(apex.ns, &dns.NS{
			Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: apexTTL},
			Ns:  ns,
		})
	}
	s.names[zone] = apex

	for name, rec := range st.Records {
		if !inZone(name, zone) {
			return nil, fmt.Errorf("record %s is outside zone %s", name, zone)
		}
		n := s.names[name]
		if n == nil {
			n = &node{}
			s.names[name] = n
		}
		if err := n.addRecord(name, rec); err != nil {
			return nil, fmt.Errorf("record %s: %w", name, err)
		}
		if n.soa != nil && len(n.cname.cum) > 0 {
			return nil, fmt.Errorf("record %s: a CNAME cannot be at the zone apex", name)
		}
		// The names between the record and the apex exist too (empty
		// non-terminals): they answer NODATA, not NXDOMAIN.
		for p := parent(name); p != "" && p != zone && inZone(p, zone); p = parent(p) {
			if s.names[p] == nil {
				s.names[p] = &node{}
			}
		}
	}
	return s, nil
}

// addRecord compiles rec's answers into n's choosers.
func (n *node) addRecord(name string, rec record) error {
	total := 0
	for _, a := range rec.Answers {
		if a.Weight <= 0 || a.Weight > 100 {
			return fmt.Errorf("target %s: weight %d out of range 1..100", a.Target, a.Weight)
		}
		total += a.Weight
		rrs, err := buildRRs(name, rec.TTL, a)
		if err != nil {
			return fmt.Errorf("target %s: %w", a.Target, err)
		}
		n.any.add(a.Weight, rrs)
		switch a.Type {
		case "A":
			n.a.add(a.Weight, rrs)
		case "AAAA":
			n.aaaa.add(a.Weight, rrs)
		case "CNAME":
			n.a.add(a.Weight, rrs)
			n.aaaa.add(a.Weight, rrs)
			n.cname.add(a.Weight, rrs)
		}
	}
	if total != 100 {
		return fmt.Errorf("weights sum to %d, want 100", total)
	}
	return nil
}

// buildRRs makes the resource records of one published answer.
func buildRRs(name string, ttl uint32, a answer) ([]dns.RR, error) {
	vals, err := canonicalValues(a.Type, a.Values)
	if err != nil {
		return nil, err
	}
	rrs := make([]dns.RR, 0, len(vals))
	for _, v := range vals {
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
		switch a.Type {
		case "A":
			hdr.Rrtype = dns.TypeA
			rrs = append(rrs, &dns.A{Hdr: hdr, A: net.ParseIP(v).To4()})
		case "AAAA":
			hdr.Rrtype = dns.TypeAAAA
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(v)})
		case "CNAME":
			hdr.Rrtype = dns.TypeCNAME
			rrs = append(rrs, &dns.CNAME{Hdr: hdr, Target: v})
		default:
			return nil, fmt.Errorf("unsupported answer type %q", a.Type)
		}
	}
	return rrs, nil
}

// parent returns the canonical name one label up, or "" above the root.
func parent(name string) string {
	if name == "." {
		return ""
	}
	i := strings.IndexByte(name, '.')
	if i == len(name)-1 {
		return "."
	}
	return name[i+1:]
}

func seconds(d time.Duration) uint32 { return uint32(d / time.Second) }
