package cffake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "fake-token-0123456789"

// call sends a raw request to the fake and decodes the envelope.
func call(t *testing.T, s *Server, method, path, body, tok string) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.BaseURL()+strings.TrimPrefix(path, "/"), r)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env map[string]any
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		t.Fatalf("%s %s: the answer is not JSON: %v", method, path, err)
	}
	return res.StatusCode, res.Header, env
}

// code returns the first error code of an envelope, or 0.
func code(env map[string]any) int {
	errs, _ := env["errors"].([]any)
	if len(errs) == 0 {
		return 0
	}
	c, _ := errs[0].(map[string]any)["code"].(float64)
	return int(c)
}

func newServer(t *testing.T) *Server {
	s := New(t, token)
	s.AddZone("z1", "example.com")
	s.AddPool("a1", Pool{ID: "p1", Name: "pool", Enabled: true, Origins: []Origin{
		{Name: "one", Address: "192.0.2.1", Enabled: true, Weight: 1},
	}})
	return s
}

func TestRecordRules(t *testing.T) {
	s := newServer(t)
	create := func(body string) (int, int, string) {
		status, _, env := call(t, s, http.MethodPost, "zones/z1/dns_records", body, token)
		id := ""
		if res, ok := env["result"].(map[string]any); ok {
			id, _ = res["id"].(string)
		}
		return status, code(env), id
	}
	steps := []struct {
		name       string
		body       string
		status     int
		code       int
		wantResult bool
	}{
		{"an A", `{"name":"www.example.com","type":"A","content":"192.0.2.1","ttl":60}`, 200, 0, true},
		{"a second A", `{"name":"www.example.com","type":"A","content":"192.0.2.2","ttl":60}`, 200, 0, true},
		{"a duplicate", `{"name":"www.example.com","type":"A","content":"192.0.2.1","ttl":120}`, 400, 81058, false},
		{"a CNAME beside the As", `{"name":"www.example.com","type":"CNAME","content":"cdn.example.net","ttl":60}`, 400, 81053, false},
		{"an A that is not IPv4", `{"name":"api.example.com","type":"A","content":"2001:db8::1","ttl":60}`, 400, 9005, false},
		{"a TTL too short", `{"name":"api.example.com","type":"A","content":"192.0.2.1","ttl":5}`, 400, 9021, false},
		{"outside the zone", `{"name":"www.example.org","type":"A","content":"192.0.2.1","ttl":60}`, 400, 1004, false},
		{"a CNAME elsewhere", `{"name":"cdn.example.com","type":"CNAME","content":"cdn.example.net.","ttl":60}`, 200, 0, true},
		{"an A beside a CNAME", `{"name":"cdn.example.com","type":"A","content":"192.0.2.1","ttl":60}`, 400, 81054, false},
	}
	var ids []string
	for _, st := range steps {
		status, c, id := create(st.body)
		if status != st.status || c != st.code || (id != "") != st.wantResult {
			t.Fatalf("%s: status %d code %d id %q; want %d %d (result %v)", st.name, status, c, id, st.status, st.code, st.wantResult)
		}
		if id != "" {
			ids = append(ids, id)
		}
	}

	// Turning the second A into a CNAME clashes with the first.
	status, _, env := call(t, s, http.MethodPatch, "zones/z1/dns_records/"+ids[1], `{"type":"CNAME","content":"cdn.example.net"}`, token)
	if status != 400 || code(env) != 81053 {
		t.Fatalf("PATCH A->CNAME beside an A = %d %v, want 400 81053", status, env)
	}
	// Alone, it may.
	if status, _, env := call(t, s, http.MethodDelete, "zones/z1/dns_records/"+ids[0], "", token); status != 200 {
		t.Fatalf("DELETE = %d %v", status, env)
	}
	if status, _, env := call(t, s, http.MethodPatch, "zones/z1/dns_records/"+ids[1], `{"type":"CNAME","content":"cdn.example.net","proxied":true,"ttl":300}`, token); status != 200 {
		t.Fatalf("PATCH A->CNAME alone = %d %v", status, env)
	}
	recs := s.Records("z1")
	if len(recs) != 2 || recs[0].Type != "CNAME" || !recs[0].Proxied || recs[0].TTL != 1 {
		t.Fatalf("records = %+v, want the proxied CNAME (TTL 1) first", recs)
	}

	// A record that does not exist.
	for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		body := ""
		if m == http.MethodPatch || m == http.MethodPut {
			body = `{"name":"x.example.com","type":"A","content":"192.0.2.1"}`
		}
		status, _, env := call(t, s, m, "zones/z1/dns_records/"+ids[0], body, token)
		if status != 404 || code(env) != 81044 {
			t.Fatalf("%s of a deleted record = %d %v, want 404 81044", m, status, env)
		}
	}
	if n := s.Calls(http.MethodPost, RouteRecords); n != len(steps) {
		t.Fatalf("POSTs counted = %d, want %d", n, len(steps))
	}
}

func TestAuthentication(t *testing.T) {
	s := newServer(t)
	for _, tok := range []string{"", "wrong"} {
		status, _, env := call(t, s, http.MethodGet, "zones/z1/dns_records", "", tok)
		if status != 401 || code(env) != 10000 || env["success"] != false {
			t.Fatalf("token %q: %d %v, want 401 with code 10000", tok, status, env)
		}
	}
}

func TestListPagination(t *testing.T) {
	s := newServer(t)
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if _, err := s.AddRecord("z1", Record{Name: "www.example.com", Type: "A", Content: ip, TTL: 60}); err != nil {
			t.Fatal(err)
		}
	}
	s.SetPageSize(2)
	_, _, env := call(t, s, http.MethodGet, "zones/z1/dns_records?name.exact=www.example.com&page=2&per_page=100", "", token)
	info := env["result_info"].(map[string]any)
	if got := len(env["result"].([]any)); got != 1 || info["total_pages"] != 2.0 || info["total_count"] != 3.0 || info["page"] != 2.0 {
		t.Fatalf("page 2 = %d records, result_info %v; want 1 record of 3 on 2 pages", got, info)
	}
}

func TestPoolPutWithoutEnabledDisablesThePool(t *testing.T) {
	s := newServer(t)
	body := `{"name":"pool","origins":[{"name":"one","address":"192.0.2.1","weight":0.5}]}`
	if status, _, env := call(t, s, http.MethodPatch, "accounts/a1/load_balancers/pools/p1", body, token); status != 200 {
		t.Fatalf("PATCH = %d %v", status, env)
	}
	if p, _ := s.Pool("a1", "p1"); !p.Enabled || p.Origins[0].Weight != 0.5 {
		t.Fatalf("after a PATCH without enabled: %+v, want enabled, weight 0.5", p)
	}
	if status, _, env := call(t, s, http.MethodPut, "accounts/a1/load_balancers/pools/p1", body, token); status != 200 {
		t.Fatalf("PUT = %d %v", status, env)
	}
	if p, _ := s.Pool("a1", "p1"); p.Enabled {
		t.Fatalf("after a PUT without enabled: %+v, want the pool disabled", p)
	}
	if n := s.Calls(http.MethodPut, RoutePool); n != 1 {
		t.Fatalf("PUTs counted = %d, want 1", n)
	}
}

func TestPoolOriginRules(t *testing.T) {
	s := newServer(t)
	for _, c := range []struct {
		name   string
		origin string
	}{
		{"weight above 1", `{"name":"one","address":"192.0.2.1","weight":1.5}`},
		{"negative weight", `{"name":"one","address":"192.0.2.1","weight":-0.1}`},
		{"no address", `{"name":"one","weight":0.5}`},
	} {
		status, _, env := call(t, s, http.MethodPatch, "accounts/a1/load_balancers/pools/p1", `{"origins":[`+c.origin+`]}`, token)
		if status != 400 || code(env) != 1002 {
			t.Errorf("%s: %d %v, want 400 1002", c.name, status, env)
		}
	}
	if status, _, env := call(t, s, http.MethodGet, "accounts/a1/load_balancers/pools/nope", "", token); status != 404 {
		t.Errorf("GET of a missing pool = %d %v, want 404", status, env)
	}
}

func TestInjectedFaults(t *testing.T) {
	s := newServer(t)
	s.Inject(Fault{Status: 429, Code: 971, Message: "Please wait", RetryAfter: "3", Times: 2})
	s.Inject(Fault{Status: 200, Code: 1004, Message: "nope", Writes: true})
	for i := range 2 {
		status, h, env := call(t, s, http.MethodGet, "zones/z1/dns_records", "", token)
		if status != 429 || h.Get("Retry-After") != "3" || code(env) != 971 {
			t.Fatalf("call %d = %d %v %v, want 429 with Retry-After 3", i, status, h, env)
		}
	}
	if status, _, _ := call(t, s, http.MethodGet, "zones/z1/dns_records", "", token); status != 200 {
		t.Fatalf("third GET = %d, want 200: the fault was for two calls", status)
	}
	status, _, env := call(t, s, http.MethodPost, "zones/z1/dns_records", `{"name":"www.example.com","type":"A","content":"192.0.2.1"}`, token)
	if status != 200 || env["success"] != false || code(env) != 1004 {
		t.Fatalf("POST = %d %v, want success:false under a 200", status, env)
	}
	if len(s.Records("z1")) != 0 {
		t.Fatal("a write answered by a fault was made")
	}
	if s.Writes() != 1 || s.Total() != 4 {
		t.Fatalf("writes, total = %d, %d; want 1, 4", s.Writes(), s.Total())
	}
}
