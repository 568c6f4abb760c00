package builtin

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// fuzzProvider serves a zone with every kind of answer.
func fuzzProvider(tb testing.TB) *Provider {
	tb.Helper()
	opts := Options{Zone: testZone, NS: []string{"ns1.example.test."}}
	p, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range []struct {
		svc dnsswitch.Service
		r   dnsswitch.Routing
	}{
		{wwwService(), dnsswitch.Routing{"primary": 30, "backup": 30, "origin": 40}},
		{oneTarget("v6", "v6.example.test.", "AAAA", "2001:db8::1"), dnsswitch.Routing{"primary": 100}},
		{oneTarget("deep", "a.deep.example.test.", "A", "192.0.2.9"), dnsswitch.Routing{"primary": 100}},
		{bigService(), dnsswitch.Routing{"primary": 100}},
	} {
		if err := p.Apply(tb.Context(), s.svc, s.r, dnsswitch.ApplyOptions{}); err != nil {
			tb.Fatal(err)
		}
	}
	return p
}

func FuzzHandler(f *testing.F) {
	p := fuzzProvider(f)
	seed := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	for _, name := range []string{"www.example.test.", "WWW.example.test.", "example.test.", "v6.example.test.",
		"deep.example.test.", "a.deep.example.test.", "nope.example.test.", "big.example.test.", "other.test.", "."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeSOA, dns.TypeNS, dns.TypeANY, dns.TypeTXT, dns.TypeAXFR} {
			seed(query(name, qtype))
		}
	}
	edns := query("big.example.test.", dns.TypeA)
	edns.SetEdns0(700, true)
	seed(edns)
	badvers := query("www.example.test.", dns.TypeA)
	badvers.SetEdns0(4096, false)
	badvers.IsEdns0().SetVersion(3)
	seed(badvers)
	notify := query("example.test.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	seed(notify)
	chaos := query("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	seed(chaos)
	tsig := query("www.example.test.", dns.TypeA)
	tsig.SetTsig("k.", dns.HmacSHA256, 300, 0)
	seed(tsig)
	f.Add([]byte{0xbe, 0xef, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w'}, false)
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}, false) // a pointer loop
	f.Add([]byte{}, false)

	rp := newReply()
	f.Fuzz(func(t *testing.T, b []byte, tcp bool) {
		// UDP: the server's own path, from the packet. TCP: ServeDNS,
		// after miekg/dns has unpacked the query.
		var out []byte
		if tcp {
			req := new(dns.Msg)
			if len(b) < 12 || b[2]&0x80 != 0 || req.Unpack(b) != nil {
				return // miekg/dns drops or answers these itself
			}
			w := &recorder{tcp: true}
			p.ServeDNS(w, req)
			out = w.out
		} else {
			out = p.handlePacket(b, rp)
		}
		if len(b) < 12 || b[2]&0x80 != 0 {
			if out != nil {
				t.Fatalf("answered a packet without a header or a response: % x", out)
			}
			return
		}
		if out == nil {
			t.Fatal("a query got no answer")
		}
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			// FORMERR with the id, QR, the opcode and RD.
			want := []byte{b[0], b[1], 0x80 | b[2]&0x79, dns.RcodeFormatError, 0, 0, 0, 0, 0, 0, 0, 0}
			if !bytes.Equal(out, want) {
				t.Fatalf("answer to an unpackable query % x, want % x", out, want)
			}
			return
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatalf("the answer does not unpack: %v", err)
		}
		if resp.Id != req.Id || !resp.Response || resp.Opcode != req.Opcode {
			t.Fatalf("answer header %+v for query header %+v", resp.MsgHdr, req.MsgHdr)
		}
		limit := dns.MaxMsgSize
		if !tcp {
			limit = dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				limit = max(limit, min(int(opt.UDPSize()), DefaultMaxUDPSize))
			}
		}
		if len(out) > limit {
			t.Fatalf("answer of %d bytes over a limit of %d", len(out), limit)
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeRefused, dns.RcodeFormatError,
			dns.RcodeNotImplemented, dns.RcodeBadVers, dns.RcodeNotAuth:
		default:
			t.Fatalf("unexpected rcode %s", dns.RcodeToString[resp.Rcode])
		}
		if resp.Rcode == dns.RcodeSuccess && len(resp.Answer) == 0 && len(resp.Ns) == 0 {
			t.Fatal("NOERROR with neither answer nor SOA")
		}
		if (resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError) &&
			(len(resp.Question) != 1 || resp.Question[0] != req.Question[0]) {
			t.Fatalf("question %v, want %v echoed", resp.Question, req.Question)
		}
	})
}
