package builtin

import (
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkServeDNS measures the handler alone: an unpacked query in, the
// packed answer written to a reused buffer. Run with -benchmem.
func BenchmarkServeDNS(b *testing.B) {
	p := fuzzProvider(b)
	withEDNS := func(m *dns.Msg) *dns.Msg { m.SetEdns0(1232, false); return m }
	cases := []struct {
		name string
		q    *dns.Msg
		tcp  bool
	}{
		{"A/weighted", query("www.example.test.", dns.TypeA), false},
		{"A/edns", withEDNS(query("www.example.test.", dns.TypeA)), false},
		{"A/single", query("a.deep.example.test.", dns.TypeA), false},
		{"A/mixed-case", query("WWW.Example.Test.", dns.TypeA), false},
		{"AAAA", query("v6.example.test.", dns.TypeAAAA), false},
		{"NODATA", query("v6.example.test.", dns.TypeA), false},
		{"NXDOMAIN", query("nope.example.test.", dns.TypeA), false},
		{"REFUSED", query("www.example.net.", dns.TypeA), false},
		{"SOA", query("example.test.", dns.TypeSOA), false},
		{"big/truncated", query("big.example.test.", dns.TypeA), false},
		{"big/tcp", query("big.example.test.", dns.TypeA), true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := &recorder{tcp: c.tcp, out: make([]byte, 0, 4096)}
			b.ReportAllocs()
			for b.Loop() {
				p.ServeDNS(w, c.q)
			}
			if len(w.out) == 0 {
				b.Fatal("no answer")
			}
		})
	}
}

// BenchmarkHandlePacket is the whole UDP path but the two system calls:
// the query's bytes in, unpacked, answered and packed.
func BenchmarkHandlePacket(b *testing.B) {
	p := fuzzProvider(b)
	for _, c := range []struct {
		name string
		q    *dns.Msg
	}{
		{"A/weighted", query("www.example.test.", dns.TypeA)},
		{"A/edns", func() *dns.Msg { m := query("www.example.test.", dns.TypeA); m.SetEdns0(1232, false); return m }()},
		{"NXDOMAIN", query("nope.example.test.", dns.TypeA)},
	} {
		b.Run(c.name, func(b *testing.B) {
			pkt, err := c.q.Pack()
			if err != nil {
				b.Fatal(err)
			}
			rp := newReply()
			b.ReportAllocs()
			for b.Loop() {
				if p.handlePacket(pkt, rp) == nil {
					b.Fatal("no answer")
				}
			}
		})
	}
}
