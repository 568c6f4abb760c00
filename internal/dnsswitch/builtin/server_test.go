package builtin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// zoneFixture is a running server with a few services published:
//
//	www.example.test.      A 192.0.2.1 (primary, all the weight)
//	v6.example.test.       AAAA 2001:db8::1
//	cdn.example.test.      CNAME www.example.net.
//	a.deep.example.test.   A 192.0.2.9 (deep.example.test. is an empty non-terminal)
//	big.example.test.      A with 100 addresses (does not fit 512 bytes)
type zoneFixture struct {
	p    *Provider
	addr string
}

func bigService() dnsswitch.Service {
	var vals []string
	for i := 1; i <= 100; i++ {
		vals = append(vals, fmt.Sprintf("198.51.100.%d", i))
	}
	return dnsswitch.Service{Name: "big", Record: "big.example.test.", TTL: 10, Answers: []dnsswitch.Answer{
		{Target: "primary", Type: "A", Values: vals},
		{Target: "backup", Type: "A", Values: []string{"192.0.2.2"}},
	}}
}

func oneTarget(name, record, typ string, values ...string) dnsswitch.Service {
	return dnsswitch.Service{Name: name, Record: record, TTL: 20, Answers: []dnsswitch.Answer{
		{Target: "primary", Type: typ, Values: values},
	}}
}

func newZoneFixture(t *testing.T) *zoneFixture {
	t.Helper()
	p := newProvider(t, testOptions(t))
	mustApply(t, p, wwwService(), dnsswitch.Routing{"primary": 100})
	mustApply(t, p, oneTarget("v6", "v6.example.test.", "AAAA", "2001:db8::1"), dnsswitch.Routing{"primary": 100})
	mustApply(t, p, oneTarget("cdn", "cdn.example.test.", "CNAME", "www.example.net."), dnsswitch.Routing{"primary": 100})
	mustApply(t, p, oneTarget("deep", "a.deep.example.test.", "A", "192.0.2.9"), dnsswitch.Routing{"primary": 100})
	mustApply(t, p, bigService(), dnsswitch.Routing{"primary": 100})
	return &zoneFixture{p: p, addr: startProvider(t, p)}
}

// want describes an expected answer.
type want struct {
	rcode     int
	aa        bool
	answer    []string // RRs in presentation form, in order
	authority string   // "SOA" when the SOA must be in the authority section
}

func rrStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = strings.ReplaceAll(rr.String(), "\t", " ")
	}
	return out
}

func check(t *testing.T, resp *dns.Msg, w want, serial uint32) {
	t.Helper()
	if resp.Rcode != w.rcode {
		t.Errorf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[w.rcode])
	}
	if !resp.Response {
		t.Error("QR bit not set")
	}
	if resp.Authoritative != w.aa {
		t.Errorf("AA = %v, want %v", resp.Authoritative, w.aa)
	}
	if resp.RecursionAvailable {
		t.Error("RA set by an authoritative-only server")
	}
	if got := rrStrings(resp.Answer); !slices.Equal(got, w.answer) {
		t.Errorf("answer =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(w.answer, "\n  "))
	}
	switch w.authority {
	case "SOA":
		if len(resp.Ns) != 1 {
			t.Fatalf("authority = %v, want the SOA", resp.Ns)
		}
		soa, ok := resp.Ns[0].(*dns.SOA)
		if !ok {
			t.Fatalf("authority = %v, want the SOA", resp.Ns)
		}
		// RFC 2308: the negative TTL is min(SOA TTL, SOA minimum).
		want := fmt.Sprintf("example.test. 60 IN SOA ns1.example.test. hostmaster.example.test. %d 3600 600 604800 60", serial)
		if got := strings.ReplaceAll(soa.String(), "\t", " "); got != want {
			t.Errorf("authority SOA = %s, want %s", got, want)
		}
	case "":
		if len(resp.Ns) != 0 {
			t.Errorf("authority = %v, want none", resp.Ns)
		}
	}
}

func TestServeAnswers(t *testing.T) {
	f := newZoneFixture(t)
	serial := f.p.Serial()
	soa := fmt.Sprintf("example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. %d 3600 600 604800 60", serial)
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  want
	}{
		{"A", "www.example.test.", dns.TypeA, want{aa: true, answer: []string{"www.example.test. 30 IN A 192.0.2.1"}}},
		{"A any case", "WwW.ExAmPlE.TeSt.", dns.TypeA, want{aa: true, answer: []string{"www.example.test. 30 IN A 192.0.2.1"}}},
		{"AAAA", "v6.example.test.", dns.TypeAAAA, want{aa: true, answer: []string{"v6.example.test. 20 IN AAAA 2001:db8::1"}}},
		{"CNAME for A", "cdn.example.test.", dns.TypeA, want{aa: true, answer: []string{"cdn.example.test. 20 IN CNAME www.example.net."}}},
		{"CNAME for AAAA", "cdn.example.test.", dns.TypeAAAA, want{aa: true, answer: []string{"cdn.example.test. 20 IN CNAME www.example.net."}}},
		{"CNAME for CNAME", "cdn.example.test.", dns.TypeCNAME, want{aa: true, answer: []string{"cdn.example.test. 20 IN CNAME www.example.net."}}},
		{"CNAME for MX", "cdn.example.test.", dns.TypeMX, want{aa: true, answer: []string{"cdn.example.test. 20 IN CNAME www.example.net."}}},
		{"SOA at apex", "example.test.", dns.TypeSOA, want{aa: true, answer: []string{soa}}},
		{"NS at apex", "example.test.", dns.TypeNS, want{aa: true, answer: []string{
			"example.test. 3600 IN NS ns1.example.test.", "example.test. 3600 IN NS ns2.example.test."}}},
		{"ANY at apex", "example.test.", dns.TypeANY, want{aa: true, answer: []string{soa}}},
		{"ANY at a record", "www.example.test.", dns.TypeANY, want{aa: true, answer: []string{"www.example.test. 30 IN A 192.0.2.1"}}},
		{"NODATA AAAA of an A record", "www.example.test.", dns.TypeAAAA, want{aa: true, authority: "SOA"}},
		{"NODATA A of an AAAA record", "v6.example.test.", dns.TypeA, want{aa: true, authority: "SOA"}},
		{"NODATA TXT", "www.example.test.", dns.TypeTXT, want{aa: true, authority: "SOA"}},
		{"NODATA A at apex", "example.test.", dns.TypeA, want{aa: true, authority: "SOA"}},
		{"NODATA empty non-terminal", "deep.example.test.", dns.TypeA, want{aa: true, authority: "SOA"}},
		{"below an empty non-terminal", "a.deep.example.test.", dns.TypeA, want{aa: true, answer: []string{"a.deep.example.test. 20 IN A 192.0.2.9"}}},
		{"NXDOMAIN", "nope.example.test.", dns.TypeA, want{rcode: dns.RcodeNameError, aa: true, authority: "SOA"}},
		{"NXDOMAIN below a record", "x.www.example.test.", dns.TypeA, want{rcode: dns.RcodeNameError, aa: true, authority: "SOA"}},
		{"NXDOMAIN name server without glue", "ns1.example.test.", dns.TypeA, want{rcode: dns.RcodeNameError, aa: true, authority: "SOA"}},
		{"REFUSED outside the zone", "www.example.net.", dns.TypeA, want{rcode: dns.RcodeRefused}},
		{"REFUSED parent of the zone", "test.", dns.TypeSOA, want{rcode: dns.RcodeRefused}},
		{"REFUSED suffix that is not a label", "badexample.test.", dns.TypeA, want{rcode: dns.RcodeRefused}},
		{"REFUSED root", ".", dns.TypeNS, want{rcode: dns.RcodeRefused}},
		{"REFUSED zone transfer", "example.test.", dns.TypeAXFR, want{rcode: dns.RcodeRefused}},
		{"REFUSED incremental zone transfer", "example.test.", dns.TypeIXFR, want{rcode: dns.RcodeRefused}},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				q := query(tt.qname, tt.qtype)
				resp := exchange(t, network, f.addr, q)
				check(t, resp, tt.want, serial)
				if len(resp.Question) != 1 || resp.Question[0] != q.Question[0] {
					t.Errorf("question = %v, want %v echoed as sent", resp.Question, q.Question)
				}
				if resp.IsEdns0() != nil {
					t.Error("OPT in the answer to a query without EDNS0")
				}
			})
		}
	}
}

func TestServeRejects(t *testing.T) {
	f := newZoneFixture(t)
	tests := []struct {
		name  string
		msg   func() *dns.Msg
		rcode int
	}{
		{"opcode NOTIFY", func() *dns.Msg {
			m := query("example.test.", dns.TypeSOA)
			m.Opcode = dns.OpcodeNotify
			return m
		}, dns.RcodeNotImplemented},
		{"opcode UPDATE", func() *dns.Msg {
			m := new(dns.Msg)
			m.SetUpdate("example.test.")
			m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 5)}})
			return m
		}, dns.RcodeNotImplemented},
		{"opcode STATUS", func() *dns.Msg {
			m := query("example.test.", dns.TypeSOA)
			m.Opcode = dns.OpcodeStatus
			return m
		}, dns.RcodeNotImplemented},
		{"class CH", func() *dns.Msg {
			m := query("version.bind.", dns.TypeTXT)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}, dns.RcodeRefused},
		{"class CH in zone", func() *dns.Msg {
			m := query("www.example.test.", dns.TypeA)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}, dns.RcodeRefused},
		{"no question", func() *dns.Msg {
			m := query("www.example.test.", dns.TypeA)
			m.Question = nil
			return m
		}, dns.RcodeFormatError},
		{"two questions", func() *dns.Msg {
			m := query("www.example.test.", dns.TypeA)
			m.Question = append(m.Question, dns.Question{Name: "v6.example.test.", Qtype: dns.TypeAAAA, Qclass: dns.ClassINET})
			return m
		}, dns.RcodeFormatError},
		{"question of type OPT", func() *dns.Msg { return query("www.example.test.", dns.TypeOPT) }, dns.RcodeFormatError},
		{"MAILB", func() *dns.Msg { return query("www.example.test.", dns.TypeMAILB) }, dns.RcodeNotImplemented},
		{"two OPT records", func() *dns.Msg {
			m := query("www.example.test.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.SetEdns0(1232, false)
			m.Extra = append(m.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}})
			return m
		}, dns.RcodeFormatError},
		{"EDNS version 1", func() *dns.Msg {
			m := query("www.example.test.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}, dns.RcodeBadVers},
		{"TSIG we hold no key for", func() *dns.Msg {
			m := query("www.example.test.", dns.TypeA)
			m.SetTsig("key.example.test.", dns.HmacSHA256, 300, time.Now().Unix())
			return m
		}, dns.RcodeNotAuth},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				m := tt.msg()
				m.Id = dns.Id()
				b, err := m.Pack()
				if err != nil {
					t.Fatalf("pack: %v", err)
				}
				resp := exchangeRaw(t, network, f.addr, b)
				if resp.Id != m.Id || !resp.Response {
					t.Fatalf("answer id %d response %v, want id %d response true", resp.Id, resp.Response, m.Id)
				}
				if resp.Rcode != tt.rcode {
					t.Errorf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				if len(resp.Answer) != 0 {
					t.Errorf("answer = %v, want none", resp.Answer)
				}
				if resp.Rcode == dns.RcodeRefused && resp.Authoritative {
					t.Error("AA set on REFUSED")
				}
			})
		}
	}
}

// exchangeRaw sends packed bytes, which the dns.Client would refuse to
// build or check, and unpacks the answer. The answer's id is checked by the
// caller.
func exchangeRaw(t *testing.T, network, addr string, b []byte) *dns.Msg {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	dc := &dns.Conn{Conn: conn, UDPSize: 65535}
	if _, err := dc.Write(b); err != nil {
		t.Fatal(err)
	}
	resp, err := dc.ReadMsg()
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp
}

func TestServeMalformedGetsFormErr(t *testing.T) {
	f := newZoneFixture(t)
	// A header announcing one question, then half a name.
	pkt := []byte{0xbe, 0xef, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 3, 'w', 'w'}
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			resp := exchangeRaw(t, network, f.addr, pkt)
			if resp.Id != 0xbeef || resp.Rcode != dns.RcodeFormatError {
				t.Fatalf("answer id %#x rcode %s, want id 0xbeef FORMERR", resp.Id, dns.RcodeToString[resp.Rcode])
			}
		})
	}
}

func TestAcceptMsgDropsResponses(t *testing.T) {
	if got := acceptMsg(dns.Header{Bits: 1 << 15, Qdcount: 1}); got != dns.MsgIgnore {
		t.Errorf("acceptMsg(response) = %v, want MsgIgnore", got)
	}
	if got := acceptMsg(dns.Header{Qdcount: 5, Ancount: 9}); got != dns.MsgAccept {
		t.Errorf("acceptMsg(odd query) = %v, want MsgAccept (ServeDNS decides)", got)
	}
}

func TestServeEDNS(t *testing.T) {
	f := newZoneFixture(t)
	for _, network := range []string{"udp", "tcp"} {
		for _, do := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/do=%v", network, do), func(t *testing.T) {
				q := query("www.example.test.", dns.TypeA)
				q.SetEdns0(4096, do)
				resp := exchange(t, network, f.addr, q)
				opt := resp.IsEdns0()
				if opt == nil {
					t.Fatal("no OPT in the answer to an EDNS0 query")
				}
				if opt.UDPSize() != DefaultMaxUDPSize || opt.Version() != 0 || opt.Do() != do {
					t.Errorf("OPT size %d version %d DO %v, want %d 0 %v", opt.UDPSize(), opt.Version(), opt.Do(), DefaultMaxUDPSize, do)
				}
				if len(resp.Answer) != 1 || resp.Rcode != dns.RcodeSuccess {
					t.Errorf("answer %v rcode %s", resp.Answer, dns.RcodeToString[resp.Rcode])
				}
			})
		}
	}
}

func TestServeTruncation(t *testing.T) {
	f := newZoneFixture(t)
	tests := []struct {
		name    string
		network string
		edns    uint16 // 0: no EDNS0
		maxLen  int
		tc      bool
	}{
		{"udp without EDNS0 truncates at 512", "udp", 0, 512, true},
		{"udp with a small EDNS0 buffer truncates at 512", "udp", 300, 512, true},
		{"udp with EDNS0 4096 truncates at our 1232", "udp", 4096, 1232, true},
		{"tcp carries it all", "tcp", 0, 65535, false},
		{"tcp with EDNS0 carries it all", "tcp", 1232, 65535, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := query("big.example.test.", dns.TypeA)
			if tt.edns > 0 {
				q.SetEdns0(tt.edns, false)
			}
			b, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			resp, n := exchangeRawLen(t, tt.network, f.addr, b)
			if n > tt.maxLen {
				t.Errorf("answer is %d bytes, want at most %d", n, tt.maxLen)
			}
			if resp.Truncated != tt.tc {
				t.Errorf("TC = %v, want %v", resp.Truncated, tt.tc)
			}
			if tt.tc {
				if len(resp.Answer) >= 100 {
					t.Errorf("truncated answer has all %d records", len(resp.Answer))
				}
			} else if len(resp.Answer) != 100 {
				t.Errorf("answer has %d records, want 100", len(resp.Answer))
			}
			if (tt.edns > 0) != (resp.IsEdns0() != nil) {
				t.Errorf("OPT in answer = %v, want %v", resp.IsEdns0() != nil, tt.edns > 0)
			}
		})
	}

	// The client's fallback: a truncated UDP answer, then the same query
	// over TCP gets everything.
	t.Run("fallback", func(t *testing.T) {
		q := query("big.example.test.", dns.TypeA)
		if resp := exchange(t, "udp", f.addr, q); !resp.Truncated {
			t.Fatal("UDP answer not truncated")
		}
		resp := exchange(t, "tcp", f.addr, q)
		if resp.Truncated || len(resp.Answer) != 100 {
			t.Fatalf("TCP answer TC %v with %d records, want all 100", resp.Truncated, len(resp.Answer))
		}
		var got []string
		for _, rr := range resp.Answer {
			got = append(got, rr.(*dns.A).A.String())
		}
		want := slices.Clone(bigService().Answers[0].Values)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("TCP answer %v, want %v", got, want)
		}
	})
}

// exchangeRawLen is exchangeRaw that also returns the answer's size.
func exchangeRawLen(t *testing.T, network, addr string, b []byte) (*dns.Msg, int) {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	dc := &dns.Conn{Conn: conn, UDPSize: 65535}
	if _, err := dc.Write(b); err != nil {
		t.Fatal(err)
	}
	raw, err := dc.ReadMsgHeader(nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(raw); err != nil {
		t.Fatalf("unpack answer: %v", err)
	}
	return resp, len(raw)
}

func TestRunStopsOnCancel(t *testing.T) {
	opts := testOptions(t)
	listening := make(chan string, 1)
	opts.Logger = slog.New(&listenHandler{addr: listening})
	p := newProvider(t, opts)
	mustApply(t, p, wwwService(), dnsswitch.Routing{"primary": 100})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()

	var addr string
	select {
	case addr = <-listening:
	case err := <-errc:
		t.Fatalf("Run returned before listening: %v", err)
	}
	if addr != p.Addr() {
		t.Errorf("logged address %q, Addr() = %q", addr, p.Addr())
	}
	if resp := exchange(t, "udp", addr, query("www.example.test.", dns.TypeA)); len(resp.Answer) != 1 {
		t.Fatalf("answer %v", resp.Answer)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if p.Addr() != "" {
		t.Errorf("Addr = %q after Run returned, want empty", p.Addr())
	}
}

// listenHandler is a slog.Handler that reports the address of the
// "listening" line.
type listenHandler struct{ addr chan<- string }

func (h *listenHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *listenHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *listenHandler) WithGroup(string) slog.Handler            { return h }
func (h *listenHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "builtin: listening" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			h.addr <- a.Value.String()
		}
		return true
	})
	return nil
}

func TestStartTwiceAndShutdownIdle(t *testing.T) {
	p := newProvider(t, testOptions(t))
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown before Start = %v, want nil", err)
	}
	startProvider(t, p)
	if err := p.Start(t.Context()); err == nil {
		t.Fatal("second Start = nil, want an error")
	}
}

func TestStartPortInUse(t *testing.T) {
	a := newProvider(t, testOptions(t))
	addr := startProvider(t, a)
	opts := testOptions(t)
	opts.Listen = addr
	b := newProvider(t, opts)
	err := b.Start(t.Context())
	if err == nil {
		_ = b.Shutdown(t.Context())
		t.Fatal("Start on an address in use = nil, want an error")
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("Start = %v, want a *net.OpError inside", err)
	}
}

// TestServeWildcardAddress covers UDP on a wildcard address, which the
// miekg/dns server reads so that answers leave from the address each query
// came to.
func TestServeWildcardAddress(t *testing.T) {
	opts := testOptions(t)
	opts.Listen = "0.0.0.0:0"
	p := newProvider(t, opts)
	mustApply(t, p, wwwService(), dnsswitch.Routing{"primary": 100})
	mustApply(t, p, bigService(), dnsswitch.Routing{"primary": 100})
	_, port, err := net.SplitHostPort(startProvider(t, p))
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			resp := exchange(t, network, addr, query("www.example.test.", dns.TypeA))
			check(t, resp, want{aa: true, answer: []string{"www.example.test. 30 IN A 192.0.2.1"}}, p.Serial())
			resp = exchange(t, network, addr, query("nope.example.test.", dns.TypeA))
			check(t, resp, want{rcode: dns.RcodeNameError, aa: true, authority: "SOA"}, p.Serial())
			resp = exchange(t, network, addr, query("big.example.test.", dns.TypeA))
			if resp.Truncated != (network == "udp") {
				t.Errorf("big: TC = %v over %s", resp.Truncated, network)
			}
			bad := exchangeRaw(t, network, addr, []byte{0xbe, 0xef, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 3, 'w', 'w'})
			if bad.Id != 0xbeef || bad.Rcode != dns.RcodeFormatError {
				t.Errorf("malformed: id %#x rcode %s, want FORMERR", bad.Id, dns.RcodeToString[bad.Rcode])
			}
		})
	}
}

func TestServeSingleUDPSocket(t *testing.T) {
	opts := testOptions(t)
	opts.UDPSockets = 1
	p := newProvider(t, opts)
	mustApply(t, p, wwwService(), dnsswitch.Routing{"backup": 100})
	addr := startProvider(t, p)
	resp := exchange(t, "udp", addr, query("www.example.test.", dns.TypeA))
	check(t, resp, want{aa: true, answer: []string{"www.example.test. 30 IN A 192.0.2.2", "www.example.test. 30 IN A 192.0.2.3"}}, p.Serial())
}

// TestServeUDPBurst sends bursts from several sockets at once, so that the
// server reads many packets per system call, and checks that every socket
// gets exactly the answers to its own queries.
func TestServeUDPBurst(t *testing.T) {
	f := newZoneFixture(t)
	const clients, perClient = 4, 64
	conns := make([]net.Conn, clients)
	for c := range conns {
		conn, err := net.Dial("udp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		conns[c] = conn
	}
	names := []string{"www.example.test.", "nope.example.test.", "v6.example.test."}
	for i := range perClient {
		for c, conn := range conns {
			q := query(names[i%len(names)], dns.TypeA)
			q.Id = uint16(c<<8 | i)
			b, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for c, conn := range conns {
		seen := map[uint16]bool{}
		buf := make([]byte, 4096)
		for len(seen) < perClient {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("client %d: read after %d answers: %v", c, len(seen), err)
			}
			resp := new(dns.Msg)
			if err := resp.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			i := int(resp.Id & 0xff)
			if int(resp.Id>>8) != c || i >= perClient || seen[resp.Id] {
				t.Fatalf("client %d got answer id %#x", c, resp.Id)
			}
			seen[resp.Id] = true
			if want := names[i%len(names)]; resp.Question[0].Name != want {
				t.Fatalf("client %d id %#x: question %s, want %s", c, resp.Id, resp.Question[0].Name, want)
			}
			wantRcode := dns.RcodeSuccess
			if i%len(names) == 1 {
				wantRcode = dns.RcodeNameError
			}
			if resp.Rcode != wantRcode {
				t.Fatalf("client %d id %#x: rcode %s", c, resp.Id, dns.RcodeToString[resp.Rcode])
			}
		}
	}
}

func TestServeEscapedNames(t *testing.T) {
	p := fuzzProvider(t)
	long := strings.Repeat(`\001`, 60) + ".example.test."
	tests := []struct {
		name  string
		qname string
		rcode int
	}{
		{"escaped dot is not a label boundary", `www\.example.test.`, dns.RcodeRefused},
		{"escaped label in the zone", `w\001w.example.test.`, dns.RcodeNameError},
		{"long escaped label in the zone", long, dns.RcodeNameError},
		{"long escaped label outside", strings.Repeat(`\001`, 60) + ".example.net.", dns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serve(t, p, query(tt.qname, dns.TypeA), false)
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
		})
	}
}
