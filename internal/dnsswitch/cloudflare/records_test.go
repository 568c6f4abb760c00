package cloudflare

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/cloudflare/cffake"
)

// published lists the fake's records under www.example.com as
// "TYPE content proxied=B ttl=N", sorted.
func published(fake *cffake.Server) []string {
	var out []string
	for _, r := range fake.Records(testZone) {
		if r.Name == "www.example.com" {
			out = append(out, fmt.Sprintf("%s %s proxied=%v ttl=%d", r.Type, r.Content, r.Proxied, r.TTL))
		}
	}
	slices.Sort(out)
	return out
}

func mustAdd(t *testing.T, fake *cffake.Server, r cffake.Record) string {
	t.Helper()
	id, err := fake.AddRecord(testZone, r)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func calls(fake *cffake.Server, method string) int {
	route := cffake.RouteRecord
	if method == http.MethodPost {
		route = cffake.RouteRecords
	}
	return fake.Calls(method, route)
}

func TestRecordCreatedWhenMissing(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	svc := webService()

	if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{}) {
		t.Fatalf("Read before any record = %v, want empty", got)
	}
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	want := []string{"A 192.0.2.1 proxied=false ttl=60", "A 192.0.2.2 proxied=false ttl=60"}
	if diff := cmp.Diff(want, published(fake)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if n := calls(fake, http.MethodPost); n != 2 {
		t.Errorf("POSTs = %d, want 2", n)
	}
	if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{"primary": 100}) {
		t.Fatalf("Read = %v, want primary=100", got)
	}
}

func TestRecordUpdatedInPlace(t *testing.T) {
	fake := newFake(t)
	id := mustAdd(t, fake, cffake.Record{Name: "www.example.com", Type: "A", Content: "192.0.2.1", TTL: 60})
	f := newFixture(t, fake, ModeDNSRecord, nil)
	svc := dnsswitch.Service{Name: "www", Record: "www.example.com.", TTL: 60, Answers: []dnsswitch.Answer{
		{Target: "primary", Type: "A", Values: []string{"192.0.2.1"}},
		{Target: "backup", Type: "A", Values: []string{"198.51.100.1"}},
	}}

	f.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	recs := fake.Records(testZone)
	if len(recs) != 1 || recs[0].ID != id || recs[0].Content != "198.51.100.1" {
		t.Fatalf("records = %+v, want the one record %s edited to 198.51.100.1", recs, id)
	}
	if p, post, d := calls(fake, http.MethodPatch), calls(fake, http.MethodPost), calls(fake, http.MethodDelete); p != 1 || post != 0 || d != 0 {
		t.Errorf("PATCH/POST/DELETE = %d/%d/%d, want 1/0/0", p, post, d)
	}
	if n := calls(fake, http.MethodPut); n != 0 {
		t.Errorf("PUTs = %d, want 0 (edits are PATCHes)", n)
	}
}

// Switching between two A records and a CNAME must respect the rule that a
// CNAME shares its name with no other record; the fake refuses otherwise.
func TestRecordSwitchesBetweenAAndCNAME(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	svc := webService()

	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	ids := []string{fake.Records(testZone)[0].ID, fake.Records(testZone)[1].ID}

	f.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	if diff := cmp.Diff([]string{"CNAME www.example.com.cdn.example.net proxied=false ttl=60"}, published(fake)); diff != "" {
		t.Fatalf("after the switch to the CNAME (-want +got):\n%s", diff)
	}
	if got := fake.Records(testZone)[0].ID; !slices.Contains(ids, got) {
		t.Errorf("the CNAME is record %s, want one of the A records edited in place %v", got, ids)
	}
	if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{"backup": 100}) {
		t.Fatalf("Read = %v, want backup=100", got)
	}

	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	want := []string{"A 192.0.2.1 proxied=false ttl=60", "A 192.0.2.2 proxied=false ttl=60"}
	if diff := cmp.Diff(want, published(fake)); diff != "" {
		t.Fatalf("after the switch back (-want +got):\n%s", diff)
	}

	f.mustApply(t, svc, dnsswitch.Routing{"origin": 100})
	if diff := cmp.Diff([]string{"AAAA 2001:db8::7 proxied=false ttl=60"}, published(fake)); diff != "" {
		t.Fatalf("after the switch to AAAA (-want +got):\n%s", diff)
	}
}

func TestRecordProxiedFlag(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	svc := webService()
	svc.Answers[0].Proxied = boolPtr(true)

	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	want := []string{"A 192.0.2.1 proxied=true ttl=1", "A 192.0.2.2 proxied=true ttl=1"}
	if diff := cmp.Diff(want, published(fake)); diff != "" {
		t.Fatalf("proxied records (-want +got):\n%s", diff)
	}

	// The same again writes nothing, though a proxied record's TTL (1) is
	// not the service's.
	before := fake.Writes()
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	if n := fake.Writes() - before; n != 0 {
		t.Fatalf("re-Apply wrote %d times, want 0", n)
	}

	// Unset, the flag is left as it is.
	svc.Answers[0].Proxied = nil
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	if n := fake.Writes() - before; n != 0 {
		t.Fatalf("Apply with the flag unset wrote %d times, want 0", n)
	}

	// Turned off, the records are edited and get the service's TTL back.
	svc.Answers[0].Proxied = boolPtr(false)
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	want = []string{"A 192.0.2.1 proxied=false ttl=60", "A 192.0.2.2 proxied=false ttl=60"}
	if diff := cmp.Diff(want, published(fake)); diff != "" {
		t.Fatalf("unproxied records (-want +got):\n%s", diff)
	}
	if n := calls(fake, http.MethodPatch); n != 2 {
		t.Errorf("PATCHes = %d, want 2", n)
	}
}

// A target with several values is published as exactly that set: missing
// values are added, stray ones edited or removed.
func TestRecordReconcilesMultipleValues(t *testing.T) {
	svc := dnsswitch.Service{Name: "www", Record: "www.example.com.", TTL: 300, Answers: []dnsswitch.Answer{
		{Target: "primary", Type: "A", Values: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
		{Target: "backup", Type: "A", Values: []string{"198.51.100.1"}},
	}}
	for _, c := range []struct {
		name    string
		have    []string
		publish string
		want    []string
	}{
		{"add the missing ones", []string{"192.0.2.1"}, "primary",
			[]string{"A 192.0.2.1 proxied=false ttl=300", "A 192.0.2.2 proxied=false ttl=300", "A 192.0.2.3 proxied=false ttl=300"}},
		{"many to one", []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, "backup",
			[]string{"A 198.51.100.1 proxied=false ttl=300"}},
		{"one to many", []string{"198.51.100.1"}, "primary",
			[]string{"A 192.0.2.1 proxied=false ttl=300", "A 192.0.2.2 proxied=false ttl=300", "A 192.0.2.3 proxied=false ttl=300"}},
		{"a half-done switch", []string{"192.0.2.1", "198.51.100.1"}, "primary",
			[]string{"A 192.0.2.1 proxied=false ttl=300", "A 192.0.2.2 proxied=false ttl=300", "A 192.0.2.3 proxied=false ttl=300"}},
		{"a stray value", []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "203.0.113.9"}, "primary",
			[]string{"A 192.0.2.1 proxied=false ttl=300", "A 192.0.2.2 proxied=false ttl=300", "A 192.0.2.3 proxied=false ttl=300"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake(t)
			for _, v := range c.have {
				mustAdd(t, fake, cffake.Record{Name: "www.example.com", Type: "A", Content: v, TTL: 300})
			}
			// Records of other types under the name are not the service's.
			mustAdd(t, fake, cffake.Record{Name: "www.example.com", Type: "TXT", Content: "v=verify", TTL: 300})
			f := newFixture(t, fake, ModeDNSRecord, nil)
			f.mustApply(t, svc, dnsswitch.Routing{c.publish: 100})
			want := append(slices.Clone(c.want), "TXT v=verify proxied=false ttl=300")
			slices.Sort(want)
			if diff := cmp.Diff(want, published(fake)); diff != "" {
				t.Fatalf("records (-want +got):\n%s", diff)
			}
			if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{c.publish: 100}) {
				t.Fatalf("Read = %v, want %s=100", got, c.publish)
			}
		})
	}
}

func TestRecordIdempotent(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	svc := webService()
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	before := fake.Writes()
	for _, r := range []dnsswitch.Routing{
		{"primary": 100},
		{"primary": 100, "backup": 0, "origin": 0},
		{"primary": 60, "backup": 40}, // a single-target provider publishes primary
	} {
		f.mustApply(t, svc, r)
	}
	if n := fake.Writes() - before; n != 0 {
		t.Fatalf("re-Applies wrote %d times, want 0", n)
	}
}

func TestRecordReadsPagesAndForeignRecords(t *testing.T) {
	fake := newFake(t)
	fake.SetPageSize(2)
	svc := webService()
	svc.Answers[0].Values = []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}
	for _, v := range svc.Answers[0].Values {
		mustAdd(t, fake, cffake.Record{Name: "www.example.com", Type: "A", Content: v, TTL: 60})
	}
	// Another name in the zone is none of the service's business.
	mustAdd(t, fake, cffake.Record{Name: "api.example.com", Type: "A", Content: "203.0.113.1", TTL: 60})
	f := newFixture(t, fake, ModeDNSRecord, nil)

	if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{"primary": 100}) {
		t.Fatalf("Read over 3 pages = %v, want primary=100", got)
	}
	if n := fake.Calls(http.MethodGet, cffake.RouteRecords); n != 3 {
		t.Errorf("list calls = %d, want 3 (pages of 2)", n)
	}
	before := fake.Writes()
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	if n := fake.Writes() - before; n != 0 {
		t.Errorf("Apply of what is published wrote %d times, want 0", n)
	}

	mustAdd(t, fake, cffake.Record{Name: "www.example.com", Type: "A", Content: "203.0.113.99", TTL: 60})
	_, err := f.p.Read(ctx(t), svc)
	if !errors.Is(err, dnsswitch.ErrForeign) || !strings.Contains(err.Error(), "203.0.113.99") {
		t.Fatalf("Read with a foreign record = %v, want ErrForeign naming 203.0.113.99", err)
	}
}

func TestRecordRouting(t *testing.T) {
	svc := webService()
	a := func(v string) rr { return rr{key: rrKey{"A", v}} }
	for _, c := range []struct {
		name    string
		recs    []rr
		want    dnsswitch.Routing
		foreign bool
	}{
		{"none", nil, dnsswitch.Routing{}, false},
		{"all of primary", []rr{a("192.0.2.1"), a("192.0.2.2")}, dnsswitch.Routing{"primary": 100}, false},
		{"part of primary", []rr{a("192.0.2.2")}, dnsswitch.Routing{"primary": 100}, false},
		{"cname, any case and dot", []rr{{key: rrKey{"CNAME", normContent("CNAME", "WWW.example.com.CDN.example.net.")}}}, dnsswitch.Routing{"backup": 100}, false},
		{"ipv6 spelled long", []rr{{key: rrKey{"AAAA", normContent("AAAA", "2001:0db8:0000::0007")}}}, dnsswitch.Routing{"origin": 100}, false},
		{"two targets", []rr{a("192.0.2.1"), a("192.0.2.2"), {key: rrKey{"AAAA", "2001:db8::7"}}}, dnsswitch.Routing{"primary": 67, "origin": 33}, false},
		{"foreign", []rr{a("192.0.2.1"), a("203.0.113.1")}, nil, true},
		{"right value, wrong type", []rr{{key: rrKey{"AAAA", "192.0.2.1"}}}, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := recordRouting(svc, c.recs)
			if c.foreign {
				if !errors.Is(err, dnsswitch.ErrForeign) {
					t.Fatalf("recordRouting = %v, %v; want ErrForeign", got, err)
				}
				return
			}
			if err != nil || !got.Equal(c.want) {
				t.Fatalf("recordRouting = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func TestPlanRecords(t *testing.T) {
	a := func(id, v string) rr { return rr{id: id, key: rrKey{"A", v}, ttl: 60} }
	cname := rr{id: "c", key: rrKey{"CNAME", "cdn.example.net"}, ttl: 60}
	for _, c := range []struct {
		name    string
		cur     []rr
		want    []rrKey
		proxied *bool
		ops     []string
	}{
		{"nothing to do", []rr{a("1", "192.0.2.1")}, []rrKey{{"A", "192.0.2.1"}}, nil, nil},
		{"create", nil, []rrKey{{"A", "192.0.2.1"}}, nil, []string{"create A 192.0.2.1"}},
		{"edit in place", []rr{a("1", "192.0.2.1")}, []rrKey{{"A", "192.0.2.9"}}, nil, []string{"edit A 192.0.2.1 -> A 192.0.2.9"}},
		{"to a cname: delete first", []rr{a("1", "192.0.2.1"), a("2", "192.0.2.2")}, []rrKey{{"CNAME", "cdn.example.net"}}, nil,
			[]string{"delete A 192.0.2.2", "edit A 192.0.2.1 -> CNAME cdn.example.net"}},
		{"from a cname: create last", []rr{cname}, []rrKey{{"A", "192.0.2.1"}, {"A", "192.0.2.2"}}, nil,
			[]string{"edit CNAME cdn.example.net -> A 192.0.2.1", "create A 192.0.2.2"}},
		{"keep, edit and delete", []rr{a("1", "192.0.2.1"), a("2", "192.0.2.7"), a("3", "192.0.2.8")}, []rrKey{{"A", "192.0.2.1"}, {"A", "192.0.2.2"}}, nil,
			[]string{"delete A 192.0.2.8", "edit A 192.0.2.7 -> A 192.0.2.2"}},
		{"proxied flag", []rr{a("1", "192.0.2.1")}, []rrKey{{"A", "192.0.2.1"}}, boolPtr(true), []string{"edit A 192.0.2.1 -> A 192.0.2.1"}},
		{"ttl", []rr{{id: "1", key: rrKey{"A", "192.0.2.1"}, ttl: 300}}, []rrKey{{"A", "192.0.2.1"}}, nil, []string{"edit A 192.0.2.1 -> A 192.0.2.1"}},
		{"proxied ignores ttl", []rr{{id: "1", key: rrKey{"A", "192.0.2.1"}, ttl: 1, proxied: true}}, []rrKey{{"A", "192.0.2.1"}}, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, o := range planRecords(c.cur, c.want, c.proxied, 60) {
				got = append(got, o.String())
			}
			if diff := cmp.Diff(c.ops, got); diff != "" {
				t.Fatalf("planRecords (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordRejectsWhatItCannotPublish(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	for _, c := range []struct {
		name string
		ans  dnsswitch.Answer
	}{
		{"MX", dnsswitch.Answer{Target: "primary", Type: "MX", Values: []string{"mail.example.com."}}},
		{"no values", dnsswitch.Answer{Target: "primary", Type: "A"}},
		{"two CNAMEs", dnsswitch.Answer{Target: "primary", Type: "CNAME", Values: []string{"a.example.net.", "b.example.net."}}},
		{"IPv6 in an A", dnsswitch.Answer{Target: "primary", Type: "A", Values: []string{"2001:db8::1"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			svc := dnsswitch.Service{Name: "www", Record: "www.example.com.", TTL: 60, Answers: []dnsswitch.Answer{c.ans}}
			err := f.apply(t, svc, dnsswitch.Routing{"primary": 100})
			if !errors.Is(err, errConfig) || errors.Is(err, dnsswitch.ErrRetryable) {
				t.Fatalf("Apply = %v, want a hard configuration error", err)
			}
			if n := fake.Writes(); n != 0 {
				t.Fatalf("writes = %d, want 0", n)
			}
		})
	}
}
