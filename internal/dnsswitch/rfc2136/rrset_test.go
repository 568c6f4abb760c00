package rfc2136

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

func TestFromAnswer(t *testing.T) {
	cases := []struct {
		name    string
		answer  dnsswitch.Answer
		want    string // rrset.String() of the result
		wantErr string
	}{
		{"A", dnsswitch.Answer{Type: "A", Values: []string{"192.0.2.2", "192.0.2.1"}}, "A 192.0.2.1 ttl 0, A 192.0.2.2 ttl 0", ""},
		{"A lower-case type, duplicate value", dnsswitch.Answer{Type: "a", Values: []string{"192.0.2.1", "192.0.2.1"}}, "A 192.0.2.1 ttl 0", ""},
		{"AAAA canonical form", dnsswitch.Answer{Type: "AAAA", Values: []string{"2001:DB8:0:0::1"}}, "AAAA 2001:db8::1 ttl 0", ""},
		{"AAAA v4-mapped", dnsswitch.Answer{Type: "AAAA", Values: []string{"::ffff:192.0.2.1"}}, "AAAA ::ffff:192.0.2.1 ttl 0", ""},
		{"CNAME made canonical", dnsswitch.Answer{Type: "CNAME", Values: []string{"Origin-LB.Example.NET"}}, "CNAME origin-lb.example.net. ttl 0", ""},
		{"A with an IPv6 value", dnsswitch.Answer{Type: "A", Values: []string{"2001:db8::1"}}, "", `value "2001:db8::1" of the A answer is not an IPv4 address`},
		{"AAAA with an IPv4 value", dnsswitch.Answer{Type: "AAAA", Values: []string{"192.0.2.1"}}, "", `value "192.0.2.1" of the AAAA answer is not an IPv6 address`},
		{"A not an address", dnsswitch.Answer{Type: "A", Values: []string{"cdn.example.net."}}, "", "is not an IP address"},
		{"AAAA with a zone", dnsswitch.Answer{Type: "AAAA", Values: []string{"fe80::1%eth0"}}, "", "is not an IP address"},
		{"CNAME with two values", dnsswitch.Answer{Type: "CNAME", Values: []string{"a.example.", "b.example."}}, "", "the CNAME answer has 2 values, want 1"},
		{"CNAME to the root", dnsswitch.Answer{Type: "CNAME", Values: []string{"."}}, "", "is not a domain name"},
		{"no values", dnsswitch.Answer{Type: "A"}, "", "the A answer has no values"},
		{"MX", dnsswitch.Answer{Type: "MX", Values: []string{"10 mx.example."}}, "", `answer type "MX" is not A, AAAA or CNAME`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := fromAnswer(c.answer)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("fromAnswer = {%v}, %v; want an error containing %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got.String() != c.want {
				t.Fatalf("fromAnswer = {%v}, %v; want {%s}", got, err, c.want)
			}
		})
	}
}

// rrs parses zone-file lines.
func rrs(t *testing.T, lines ...string) rrset {
	t.Helper()
	var s rrset
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if err := s.add(rr); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestMatch(t *testing.T) {
	svc := testService("www.example.test.")
	p, err := New(Options{Name: "t", Server: "127.0.0.1:53", Zone: testZone, KeyName: "k.", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	answers, err := p.answers(svc)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		published   []string
		want        dnsswitch.Routing
		wantForeign bool
	}{
		{"nothing", nil, dnsswitch.Routing{}, false},
		{"A, any order", []string{"www.example.test. 60 IN A 192.0.2.2", "www.example.test. 60 IN A 192.0.2.1"}, dnsswitch.Routing{"primary": 100}, false},
		{"A, stale TTL reads as weight 0", []string{"www.example.test. 5 IN A 192.0.2.2", "www.example.test. 5 IN A 192.0.2.1"}, dnsswitch.Routing{}, false},
		{"AAAA", []string{"www.example.test. 60 IN AAAA 2001:db8:0::2"}, dnsswitch.Routing{"backup": 100}, false},
		{"CNAME in other case", []string{"www.example.test. 60 IN CNAME ORIGIN-LB.example.net."}, dnsswitch.Routing{"origin": 100}, false},
		{"part of an answer", []string{"www.example.test. 60 IN A 192.0.2.1"}, nil, true},
		{"an answer and more", []string{"www.example.test. 60 IN A 192.0.2.1", "www.example.test. 60 IN A 192.0.2.2", "www.example.test. 60 IN A 192.0.2.3"}, nil, true},
		{"two answers at once", []string{"www.example.test. 60 IN A 192.0.2.1", "www.example.test. 60 IN A 192.0.2.2", "www.example.test. 60 IN AAAA 2001:db8::2"}, nil, true},
		{"unknown address", []string{"www.example.test. 60 IN A 198.51.100.1"}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := match(svc, answers, rrs(t, c.published...))
			if c.wantForeign {
				if !errors.Is(err, dnsswitch.ErrForeign) {
					t.Fatalf("match = {%v}, %v; want ErrForeign", got, err)
				}
				return
			}
			if err != nil || !got.Equal(c.want) {
				t.Fatalf("match = {%v}, %v; want {%v}", got, err, c.want)
			}
		})
	}
}

// TestUpdateMsg checks the one UPDATE per switch: no prerequisites, every
// deletion before any insertion (a CNAME must never meet other data), the
// other types always deleted, and the target's RRset rewritten only when it
// differs.
func TestUpdateMsg(t *testing.T) {
	const name = "www.example.test."
	primary := rrs(t, "www.example.test. 60 IN A 192.0.2.1", "www.example.test. 60 IN A 192.0.2.2")
	origin := rrs(t, "www.example.test. 60 IN CNAME origin-lb.example.net.")
	cases := []struct {
		name       string
		have, want rrset
		update     []string
	}{
		{"A to CNAME", primary, origin, []string{
			"delete A", "delete AAAA",
			"delete CNAME", "add 60 CNAME origin-lb.example.net.",
		}},
		{"nothing to A", rrset{}, primary, []string{
			"delete AAAA", "delete CNAME",
			"delete A", "add 60 A 192.0.2.1", "add 60 A 192.0.2.2",
		}},
		{"A kept, foreign AAAA dropped", rrs(t, "www.example.test. 60 IN A 192.0.2.1", "www.example.test. 60 IN A 192.0.2.2", "www.example.test. 60 IN AAAA 2001:db8::99"), primary, []string{
			"delete AAAA", "delete CNAME",
		}},
		{"new TTL", primary.withTTL(300), primary, []string{
			"delete AAAA", "delete CNAME",
			"delete A", "add 60 A 192.0.2.1", "add 60 A 192.0.2.2",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := updateMsg(testZone, name, c.have, c.want)
			if m.Opcode != dns.OpcodeUpdate || len(m.Question) != 1 || m.Question[0].Name != testZone || m.Question[0].Qtype != dns.TypeSOA {
				t.Fatalf("header/zone section: %v", m)
			}
			if len(m.Answer) != 0 {
				t.Errorf("prerequisites %v, want none", m.Answer)
			}
			var got []string
			for _, rr := range m.Ns {
				h := rr.Header()
				switch {
				case h.Name != name:
					got = append(got, "wrong name "+rr.String())
				case h.Class == dns.ClassANY && h.Ttl == 0:
					got = append(got, "delete "+dns.TypeToString[h.Rrtype])
				case h.Class == dns.ClassINET:
					f := strings.Fields(rr.String()) // name ttl class type rdata
					got = append(got, "add "+strings.Join(append([]string{f[1]}, f[3:]...), " "))
				default:
					got = append(got, "unexpected "+rr.String())
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.update, "\n") {
				t.Errorf("update section:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.update, "\n"))
			}
		})
	}
}
