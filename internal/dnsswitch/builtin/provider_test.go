package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// answerTarget maps an answer to the target of wwwService that it comes
// from, failing on anything that is not exactly one target's whole RRset.
func answerTarget(t testing.TB, resp *dns.Msg) string {
	t.Helper()
	var got []string
	for _, rr := range resp.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			got = append(got, rr.A.String())
		case *dns.CNAME:
			got = append(got, rr.Target)
		default:
			t.Fatalf("unexpected RR %v", rr)
		}
	}
	for _, a := range wwwService().Answers {
		if strings.Join(a.Values, ",") == strings.Join(got, ",") {
			return a.Target
		}
	}
	t.Fatalf("answer %v is no target's whole RRset", got)
	return ""
}

func TestWeightDistribution(t *testing.T) {
	const queries = 4000
	tests := []struct {
		name    string
		routing dnsswitch.Routing
	}{
		{"25/75", dnsswitch.Routing{"primary": 25, "backup": 75, "origin": 0}},
		{"10/30/60", dnsswitch.Routing{"primary": 10, "backup": 30, "origin": 60}},
		{"1/99", dnsswitch.Routing{"primary": 1, "backup": 99}},
		{"all on origin", dnsswitch.Routing{"origin": 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t)
			opts.Rand = rand.NewPCG(1, 2)
			p := newProvider(t, opts)
			svc := wwwService()
			mustApply(t, p, svc, tt.routing)
			counts := map[string]int{}
			for i := range queries {
				q := query("www.example.test.", dns.TypeA)
				q.Id = uint16(i)
				counts[answerTarget(t, serve(t, p, q, false))]++
			}
			for _, target := range svc.Order() {
				w := tt.routing[target]
				if w == 0 {
					if counts[target] != 0 {
						t.Errorf("%s has weight 0 but was answered %d times", target, counts[target])
					}
					continue
				}
				// Within 5 standard deviations of the binomial mean.
				p := float64(w) / 100
				mean := queries * p
				tol := 5 * math.Sqrt(queries*p*(1-p))
				if d := math.Abs(float64(counts[target]) - mean); d > tol {
					t.Errorf("%s (weight %d) answered %d of %d, want %.0f±%.0f", target, w, counts[target], queries, mean, tol)
				}
			}
		})
	}
}

// TestSwapIsAtomic queries concurrently, over the handler and over UDP,
// while Apply flips the routing. Every answer must be one target's whole
// RRset with that target's TTL, and the other service must not move.
func TestSwapIsAtomic(t *testing.T) {
	opts := testOptions(t)
	opts.StateFile = "" // the swap is in memory; fsyncs would only slow the flips
	p := newProvider(t, opts)
	addr := startProvider(t, p)
	svc := wwwService()
	other := oneTarget("api", "api.example.test.", "A", "192.0.2.77")
	mustApply(t, p, other, dnsswitch.Routing{"primary": 100})
	routings := []dnsswitch.Routing{
		{"primary": 100},
		{"backup": 100},
		{"primary": 50, "backup": 50},
		{"origin": 100},
	}
	mustApply(t, p, svc, routings[0])

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	worker := func(ask func(*dns.Msg) *dns.Msg) {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			q := query("www.example.test.", dns.TypeA)
			resp := ask(q)
			if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0 {
				t.Errorf("www: rcode %s answer %v", dns.RcodeToString[resp.Rcode], resp.Answer)
				return
			}
			for _, rr := range resp.Answer {
				if rr.Header().Ttl != 30 {
					t.Errorf("TTL %d, want 30", rr.Header().Ttl)
				}
			}
			target := answerTarget(t, resp)
			mu.Lock()
			seen[target]++
			mu.Unlock()
			if i%8 == 0 {
				resp := ask(query("api.example.test.", dns.TypeA))
				if len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.77" {
					t.Errorf("api moved: %v", resp.Answer)
					return
				}
			}
		}
	}
	for range 4 {
		wg.Go(func() { worker(func(q *dns.Msg) *dns.Msg { return serve(t, p, q, false) }) })
	}
	wg.Go(func() {
		c := &dns.Client{Net: "udp"}
		worker(func(q *dns.Msg) *dns.Msg {
			resp, _, err := c.Exchange(q, addr)
			if err != nil {
				t.Errorf("udp: %v", err)
				return &dns.Msg{}
			}
			return resp
		})
	})
	for i := range 400 {
		if err := p.Apply(t.Context(), svc, routings[i%len(routings)], dnsswitch.ApplyOptions{Generation: uint64(i)}); err != nil {
			t.Errorf("Apply: %v", err)
			break
		}
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, target := range svc.Order() {
		if seen[target] == 0 {
			t.Errorf("no query saw %s during the flips (seen %v)", target, seen)
		}
	}
}

func TestApplyLeavesOtherServices(t *testing.T) {
	p := newProvider(t, testOptions(t))
	www := wwwService()
	api := dnsswitch.Service{Name: "api", Record: "api.example.test.", TTL: 5, Answers: []dnsswitch.Answer{
		{Target: "primary", Type: "A", Values: []string{"192.0.2.50"}},
		{Target: "backup", Type: "AAAA", Values: []string{"2001:db8::50"}},
	}}
	mustApply(t, p, api, dnsswitch.Routing{"primary": 40, "backup": 60})
	mustApply(t, p, www, dnsswitch.Routing{"primary": 100})
	mustApply(t, p, www, dnsswitch.Routing{"origin": 100})
	got, err := p.Read(t.Context(), api)
	if err != nil {
		t.Fatal(err)
	}
	if want := (dnsswitch.Routing{"primary": 40, "backup": 60}); !got.Equal(want) {
		t.Errorf("api after applying www = {%v}, want {%v}", got, want)
	}
	// A and AAAA targets each answer their own type.
	if resp := serve(t, p, query("api.example.test.", dns.TypeA), false); len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.50" {
		t.Errorf("api A = %v", resp.Answer)
	}
	if resp := serve(t, p, query("api.example.test.", dns.TypeAAAA), true); len(resp.Answer) != 1 || resp.Answer[0].(*dns.AAAA).AAAA.String() != "2001:db8::50" {
		t.Errorf("api AAAA = %v", resp.Answer)
	}
}

func TestSerialIncreases(t *testing.T) {
	p := newProvider(t, testOptions(t))
	svc := wwwService()
	prev := p.Serial()
	for i, r := range []dnsswitch.Routing{{"primary": 100}, {"backup": 100}, {"primary": 100}} {
		mustApply(t, p, svc, r)
		if s := p.Serial(); int32(s-prev) <= 0 {
			t.Fatalf("apply %d: serial %d, not after %d", i, s, prev)
		}
		prev = p.Serial()
		soa := serve(t, p, query("example.test.", dns.TypeSOA), false).Answer[0].(*dns.SOA)
		if soa.Serial != prev {
			t.Fatalf("served serial %d, want %d", soa.Serial, prev)
		}
	}
	mustApply(t, p, svc, dnsswitch.Routing{"primary": 100})
	if p.Serial() != prev {
		t.Errorf("serial moved on a no-op apply: %d -> %d", prev, p.Serial())
	}
}

func TestNextSerial(t *testing.T) {
	tests := []struct {
		cur  uint32
		now  int64
		want uint32
	}{
		{0, 1_700_000_000, 1_700_000_000},
		{1_700_000_000, 1_700_000_000, 1_700_000_001},
		{1_700_000_005, 1_700_000_000, 1_700_000_006},  // many changes in one second
		{math.MaxUint32, 1_700_000_000, 1_700_000_000}, // after the wrap, time is ahead again
		{math.MaxUint32, 5, 5},
	}
	for _, tt := range tests {
		if got := nextSerial(tt.cur, tt.now); got != tt.want {
			t.Errorf("nextSerial(%d, %d) = %d, want %d", tt.cur, tt.now, got, tt.want)
		}
	}
}

func TestRestartWithStateFile(t *testing.T) {
	opts := testOptions(t)
	svc := wwwService()
	routing := dnsswitch.Routing{"primary": 25, "backup": 75}

	p1 := newProvider(t, opts)
	addr1 := startProvider(t, p1)
	mustApply(t, p1, svc, routing)
	mustApply(t, p1, oneTarget("cdn", "cdn.example.test.", "CNAME", "www.example.net."), dnsswitch.Routing{"primary": 100})
	serial := p1.Serial()
	before := exchange(t, "udp", addr1, query("cdn.example.test.", dns.TypeA))
	if err := p1.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	p2 := newProvider(t, opts)
	got, err := p2.Read(t.Context(), svc)
	if err != nil {
		t.Fatalf("Read after restart: %v", err)
	}
	if !got.Equal(routing) {
		t.Errorf("Read after restart = {%v}, want {%v}", got, routing)
	}
	if p2.Serial() != serial {
		t.Errorf("serial after restart %d, want %d", p2.Serial(), serial)
	}
	addr2 := startProvider(t, p2)
	after := exchange(t, "udp", addr2, query("cdn.example.test.", dns.TypeA))
	if diff := cmp.Diff(rrStrings(before.Answer), rrStrings(after.Answer)); diff != "" {
		t.Errorf("answer changed across the restart (-before +after):\n%s", diff)
	}
	// Idempotent across the restart: nothing to write.
	writes := p2.writes.Load()
	mustApply(t, p2, svc, routing)
	if p2.writes.Load() != writes {
		t.Error("re-applying the routing read from the state file wrote again")
	}
	mustApply(t, p2, svc, dnsswitch.Routing{"primary": 100})
	if int32(p2.Serial()-serial) <= 0 {
		t.Errorf("serial %d after a change, want after %d", p2.Serial(), serial)
	}
	// No temporary files are left beside the state file.
	entries, err := os.ReadDir(filepath.Dir(opts.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("state dir holds %v, want only the state file", names)
	}
}

func TestStateFileChangedAnswers(t *testing.T) {
	// The config moved primary to a new address while the old one stays
	// published: Read says so, and Apply replaces it.
	opts := testOptions(t)
	svc := wwwService()
	mustApply(t, newProvider(t, opts), svc, dnsswitch.Routing{"primary": 100})
	svc.Answers[0].Values = []string{"192.0.2.100"}
	p := newProvider(t, opts)
	if _, err := p.Read(t.Context(), svc); !errors.Is(err, dnsswitch.ErrForeign) {
		t.Fatalf("Read = %v, want ErrForeign", err)
	}
	mustApply(t, p, svc, dnsswitch.Routing{"primary": 100})
	if got, err := p.Read(t.Context(), svc); err != nil || !got.Equal(dnsswitch.Routing{"primary": 100}) {
		t.Fatalf("Read = {%v}, %v after Apply", got, err)
	}
}

func TestStateFileBad(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{"not JSON", "{", "unexpected EOF"},
		{"unknown field", `{"version":1,"serial":1,"records":{},"extra":1}`, `unknown field "extra"`},
		{"other version", `{"version":2,"serial":1,"records":{}}`, "version 2, want 1"},
		{"bad weights", `{"version":1,"serial":1,"records":{"www.example.test.":{"service":"www","ttl":5,"answers":[{"target":"a","type":"A","values":["192.0.2.1"],"weight":60}]}}}`, "weights sum to 60"},
		{"bad name", `{"version":1,"serial":1,"records":{"a..b.example.test.":{"service":"www","ttl":5,"answers":[]}}}`, `record "a..b.example.test."`},
		{"duplicate name", `{"version":1,"serial":1,"records":{"www.example.test.":{"service":"www","ttl":5,"answers":[{"target":"a","type":"A","values":["192.0.2.1"],"weight":100}]},"WWW.example.test":{"service":"www","ttl":5,"answers":[{"target":"a","type":"A","values":["192.0.2.1"],"weight":100}]}}}`, "appears twice"},
		{"bad address", `{"version":1,"serial":1,"records":{"www.example.test.":{"service":"www","ttl":5,"answers":[{"target":"a","type":"A","values":["2001:db8::1"],"weight":100}]}}}`, "is not an IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t)
			if err := os.WriteFile(opts.StateFile, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := New(opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStateFileOutsideZoneDropped(t *testing.T) {
	opts := testOptions(t)
	content := `{"version":1,"serial":7,"records":{
		"www.example.test.":{"service":"www","ttl":30,"answers":[{"target":"primary","type":"A","values":["192.0.2.1"],"weight":100}]},
		"www.old.test.":{"service":"www","ttl":30,"answers":[{"target":"primary","type":"A","values":["192.0.2.1"],"weight":100}]}}}`
	if err := os.WriteFile(opts.StateFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	p := newProvider(t, opts)
	if !strings.Contains(logs.String(), "record=www.old.test.") {
		t.Errorf("no warning about the dropped record; logs:\n%s", logs.String())
	}
	if got, err := p.Read(t.Context(), wwwService()); err != nil || !got.Equal(dnsswitch.Routing{"primary": 100}) {
		t.Errorf("Read = {%v}, %v", got, err)
	}
}

func TestApplyRejects(t *testing.T) {
	p := newProvider(t, testOptions(t))
	svc := wwwService()
	tests := []struct {
		name    string
		svc     func() dnsswitch.Service
		routing dnsswitch.Routing
		wantErr string
	}{
		{"record outside the zone", func() dnsswitch.Service { s := svc; s.Record = "www.example.net."; return s },
			dnsswitch.Routing{"primary": 100}, "outside zone"},
		{"CNAME at the apex", func() dnsswitch.Service { s := svc; s.Record = "example.test."; return s },
			dnsswitch.Routing{"origin": 100}, "CNAME cannot be at the zone apex"},
		{"A with an IPv6 address", func() dnsswitch.Service {
			return oneTarget("x", "x.example.test.", "A", "2001:db8::1")
		}, dnsswitch.Routing{"primary": 100}, "not an IPv4 address"},
		{"AAAA with an IPv4 address", func() dnsswitch.Service {
			return oneTarget("x", "x.example.test.", "AAAA", "192.0.2.1")
		}, dnsswitch.Routing{"primary": 100}, "not an IPv6 address"},
		{"two CNAME values", func() dnsswitch.Service {
			return oneTarget("x", "x.example.test.", "CNAME", "a.example.net.", "b.example.net.")
		}, dnsswitch.Routing{"primary": 100}, "exactly one value"},
		{"MX", func() dnsswitch.Service {
			return oneTarget("x", "x.example.test.", "MX", "10 mail.example.net.")
		}, dnsswitch.Routing{"primary": 100}, "unsupported answer type"},
		{"no values", func() dnsswitch.Service { return oneTarget("x", "x.example.test.", "A") },
			dnsswitch.Routing{"primary": 100}, "no values"},
		{"negative TTL", func() dnsswitch.Service {
			s := oneTarget("x", "x.example.test.", "A", "192.0.2.1")
			s.TTL = -1
			return s
		},
			dnsswitch.Routing{"primary": 100}, "ttl -1 out of range"},
		{"weights", func() dnsswitch.Service { return svc }, dnsswitch.Routing{"primary": 99}, "weights sum to 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writes := p.writes.Load()
			err := p.Apply(t.Context(), tt.svc(), tt.routing, dnsswitch.ApplyOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Apply = %v, want an error containing %q", err, tt.wantErr)
			}
			if errors.Is(err, dnsswitch.ErrRetryable) {
				t.Errorf("Apply = %v: must not be retryable", err)
			}
			if p.writes.Load() != writes {
				t.Error("a rejected Apply wrote")
			}
		})
	}
}

func TestApplyAtApex(t *testing.T) {
	p := newProvider(t, testOptions(t))
	svc := oneTarget("apex", "example.test.", "A", "192.0.2.8")
	mustApply(t, p, svc, dnsswitch.Routing{"primary": 100})
	if resp := serve(t, p, query("example.test.", dns.TypeA), false); len(resp.Answer) != 1 {
		t.Errorf("apex A = %v", resp.Answer)
	}
	if resp := serve(t, p, query("example.test.", dns.TypeSOA), false); len(resp.Answer) != 1 {
		t.Errorf("apex SOA = %v", resp.Answer)
	}
}

func TestCanonicalValues(t *testing.T) {
	tests := []struct {
		typ     string
		values  []string
		want    []string
		wantErr string
	}{
		{"A", []string{"192.0.2.2", "192.0.2.1", "192.0.2.2"}, []string{"192.0.2.1", "192.0.2.2"}, ""},
		{"a", []string{"192.0.2.1"}, []string{"192.0.2.1"}, ""},
		{"AAAA", []string{"2001:DB8:0::1"}, []string{"2001:db8::1"}, ""},
		{"AAAA", []string{"::ffff:192.0.2.1"}, nil, "not an IPv6 address"},
		{"AAAA", []string{"fe80::1%eth0"}, nil, "not an IPv6 address"},
		{"A", []string{"192.0.2.256"}, nil, "192.0.2.256"},
		{"CNAME", []string{"Edge.Example.NET"}, []string{"edge.example.net."}, ""},
		{"CNAME", []string{"a..b."}, nil, "not a valid domain name"},
		{"TXT", []string{"x"}, nil, "unsupported answer type"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.typ, tt.values), func(t *testing.T) {
			got, err := canonicalValues(tt.typ, tt.values)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	base := Options{Zone: "Example.Test", NS: []string{"NS1.example.test"}}
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no zone", func(o *Options) { o.Zone = "" }, "zone: required"},
		{"bad zone", func(o *Options) { o.Zone = "a..b" }, "zone:"},
		{"no ns", func(o *Options) { o.NS = nil }, "at least one name server"},
		{"bad ns", func(o *Options) { o.NS = []string{"ok.", "bad name"} }, "ns[1]:"},
		{"udp size", func(o *Options) { o.MaxUDPSize = 100 }, "max_udp_size: 100 is out of range"},
		{"udp sockets", func(o *Options) { o.UDPSockets = 300 }, "udp_sockets: 300 is out of range [1, 256]"},
		{"negative ttl", func(o *Options) { o.NegativeTTL = 10 * 1e6 }, "negative_ttl: 10ms is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			got, err := o.normalize()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("normalize = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Options{Name: "builtin", Listen: "127.0.0.1:8053", Zone: "example.test.", NS: []string{"ns1.example.test."},
				Mbox: "hostmaster.example.test.", Refresh: DefaultRefresh, Retry: DefaultRetry, Expire: DefaultExpire,
				NegativeTTL: DefaultNegativeTTL, MaxUDPSize: DefaultMaxUDPSize, UDPSockets: runtime.GOMAXPROCS(0)}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b rand.Source) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCancelledContext(t *testing.T) {
	p := newProvider(t, testOptions(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Apply(ctx, wwwService(), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply = %v, want context.Canceled", err)
	}
}
