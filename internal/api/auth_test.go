package api

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failoverhq/failover/internal/config"
)

// endpoint is one route with a request that succeeds when authorized.
type endpoint struct {
	name   string
	req    req
	access access
	ok     int // the status when authorized
}

func endpoints(lab bool) []endpoint {
	eps := []endpoint{
		{"healthz", req{method: "GET", path: "/healthz"}, accessPublic, 200},
		{"readyz", req{method: "GET", path: "/readyz"}, accessPublic, 200},
		{"dashboard", req{method: "GET", path: "/"}, accessPublic, 200},
		{"dashboard script", req{method: "GET", path: "/ui/app.js"}, accessPublic, 200},
		{"metrics", req{method: "GET", path: "/metrics"}, accessRead, 200},
		{"services", req{method: "GET", path: "/api/v1/services"}, accessRead, 200},
		{"service", req{method: "GET", path: "/api/v1/services/www"}, accessRead, 200},
		{"events", req{method: "GET", path: "/api/v1/events?service=www&since=1h&limit=5"}, accessRead, 200},
		{"drill", req{method: "POST", path: "/api/v1/services/www/drill", body: `{"to":"backup","for":"10m","reason":"game day"}`}, accessOperate, 200},
		{"pin", req{method: "POST", path: "/api/v1/services/www/pin", body: `{"to":"backup","reason":"maintenance"}`}, accessOperate, 200},
		{"release", req{method: "POST", path: "/api/v1/services/www/release", body: `{}`}, accessOperate, 200},
		{"plan", req{method: "GET", path: "/api/v1/plan?vantage=lab-a"}, accessAgent, 200},
		{"results", req{method: "POST", path: "/api/v1/results", body: okBatch}, accessAgent, 202},
	}
	if lab {
		eps = append(eps, endpoint{"lab fault", req{method: "POST", path: "/api/v1/lab/faults", body: `{"target":"primary","mode":"down","vantages":["lab-a"]}`}, accessOperate, 200})
	}
	return eps
}

const okBatch = `{"vantage":"eu-1","results":[{"service":"www","target":"primary","time":"2025-03-01T11:59:59Z","ok":true,"class":"ok","status":200,"latency_ms":12.5,"phases":{"dns_ms":0,"connect_ms":1,"tls_ms":0,"ttfb_ms":11}}]}`

// TestAuthMatrix runs every endpoint with every kind of credential, with
// and without open_read. The expectations are written out per access
// class, as the contract states them.
func TestAuthMatrix(t *testing.T) {
	creds := []struct{ name, token string }{
		{"none", ""},
		{"wrong", "not-a-token-at-all"},
		{"prefix of a token", operatorToken[:10]},
		{"viewer", viewerToken},
		{"operator", operatorToken},
		{"agent", agentToken},
	}
	// want[access][cred] without and with open_read; "ok" means the
	// endpoint's success status.
	want := map[bool]map[access]map[string]string{
		false: {
			accessPublic:  {"none": "ok", "wrong": "ok", "prefix of a token": "ok", "viewer": "ok", "operator": "ok", "agent": "ok"},
			accessRead:    {"none": "401", "wrong": "401", "prefix of a token": "401", "viewer": "ok", "operator": "ok", "agent": "403"},
			accessOperate: {"none": "401", "wrong": "401", "prefix of a token": "401", "viewer": "403", "operator": "ok", "agent": "403"},
			accessAgent:   {"none": "401", "wrong": "401", "prefix of a token": "401", "viewer": "403", "operator": "403", "agent": "ok"},
		},
		true: {
			accessPublic:  {"none": "ok", "wrong": "ok", "prefix of a token": "ok", "viewer": "ok", "operator": "ok", "agent": "ok"},
			accessRead:    {"none": "ok", "wrong": "401", "prefix of a token": "401", "viewer": "ok", "operator": "ok", "agent": "ok"},
			accessOperate: {"none": "401", "wrong": "401", "prefix of a token": "401", "viewer": "403", "operator": "ok", "agent": "403"},
			accessAgent:   {"none": "401", "wrong": "401", "prefix of a token": "401", "viewer": "403", "operator": "403", "agent": "ok"},
		},
	}
	for _, openRead := range []bool{false, true} {
		for _, ep := range endpoints(true) {
			for _, c := range creds {
				name := ep.name + "/" + c.name
				if openRead {
					name += "/open_read"
				}
				t.Run(name, func(t *testing.T) {
					fx := newFixture(t, func(o *Options) {
						o.OpenRead = openRead
						o.Lab = true
						o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
							_, _ = w.Write([]byte("failover_leader 1\n"))
						})
					})
					r := ep.req
					r.token = c.token
					w := fx.do(t, r)
					exp := want[openRead][ep.access][c.name]
					if exp == "ok" {
						if w.Code != ep.ok {
							t.Fatalf("status = %d, want %d; body %s", w.Code, ep.ok, w.Body)
						}
						return
					}
					if wantCode := map[string]int{"401": 401, "403": 403}[exp]; w.Code != wantCode {
						t.Fatalf("status = %d, want %d; body %s", w.Code, wantCode, w.Body)
					}
					msg := errorOf(t, w)
					if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
					if c.token != "" && strings.Contains(msg, c.token) {
						t.Errorf("error %q repeats the token", msg)
					}
					if calls := fx.fake.callsMade(); len(calls) != 0 {
						t.Errorf("a refused request reached the backend: %+v", calls)
					}
				})
			}
		}
	}
}

func TestAuthHeaderForms(t *testing.T) {
	fx := newFixture(t, nil)
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"bearer", "Bearer " + viewerToken, 200},
		{"lower-case scheme", "bearer " + viewerToken, 200},
		{"extra spaces", "Bearer   " + viewerToken + "  ", 200},
		{"basic", "Basic " + viewerToken, 401},
		{"no scheme", viewerToken, 401},
		{"empty bearer", "Bearer ", 401},
		{"token with suffix", "Bearer " + viewerToken + "x", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fx.do(t, req{method: "GET", path: "/api/v1/services", header: http.Header{"Authorization": {tc.header}}})
			if w.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.want, w.Body)
			}
		})
	}
}

func TestActorReachesBackend(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "POST", path: "/api/v1/services/www/drill", token: operatorToken,
		body: `{"to":"backup","for":"10m","reason":"game day","force":true}`})
	if w.Code != 200 {
		t.Fatalf("drill: %d %s", w.Code, w.Body)
	}
	calls := fx.fake.callsMade()
	want := call{Method: "Drill", Service: "www", Req: OverrideRequest{To: "backup", For: "10m", Reason: "game day", Force: true},
		By: Actor{Name: "ops", Role: RoleOperator}}
	if len(calls) != 1 || calls[0].Method != want.Method || calls[0].Service != want.Service || calls[0].Req != want.Req || calls[0].By != want.By {
		t.Fatalf("backend calls = %+v, want [%+v]", calls, want)
	}
}

func TestKeyringLookup(t *testing.T) {
	k, err := newKeyring(testTokens)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range testTokens {
		a, ok := k.lookup(tok.Secret)
		if !ok || a.Name != tok.Name || a.Role != tok.Role {
			t.Errorf("lookup(%s) = %+v, %v", tok.Name, a, ok)
		}
	}
	for _, bad := range []string{"", "x", viewerToken[:len(viewerToken)-1], viewerToken + viewerToken, strings.ToUpper(viewerToken)} {
		if a, ok := k.lookup(bad); ok {
			t.Errorf("lookup(%q) = %+v, want no match", bad, a)
		}
	}
}

func TestKeyringTrimsSecrets(t *testing.T) {
	k, err := newKeyring([]Token{{Name: "a", Role: RoleViewer, Secret: " padded-secret-0123456789\t"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.lookup("padded-secret-0123456789"); !ok {
		t.Fatal("a secret with surrounding space does not match its trimmed form, which is what bearer presents")
	}
}

func TestNewRejectsBadTokens(t *testing.T) {
	const secret = "s3cr3t-value-never-shown"
	for _, tc := range []struct {
		name   string
		tokens []Token
		want   string
	}{
		{"no name", []Token{{Role: RoleViewer, Secret: secret}}, "needs a name"},
		{"bad role", []Token{{Name: "a", Role: "admin", Secret: secret}}, `role must be viewer, operator or agent, got "admin"`},
		{"empty secret", []Token{{Name: "a", Role: RoleViewer, Secret: "  "}}, "(a): empty secret"},
		{"duplicate name", []Token{{Name: "a", Role: RoleViewer, Secret: secret}, {Name: "a", Role: RoleAgent, Secret: secret + "2"}}, "(a): duplicate name"},
		{"shared secret", []Token{{Name: "a", Role: RoleViewer, Secret: secret}, {Name: "b", Role: RoleOperator, Secret: secret}}, "(b): same secret as token a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Backend: newFake(), Tokens: tc.tokens})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q contains the secret", err)
			}
		})
	}
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "no backend") {
		t.Errorf("New without a backend: %v", err)
	}
	if _, err := New(Options{Backend: newFake(), MaxBodyBytes: -1}); err == nil {
		t.Error("New with a negative MaxBodyBytes: no error")
	}
}

func TestTokensFromConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ops.token")
	if err := os.WriteFile(file, []byte("from-a-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VIEW_TOKEN": "from-env-0123456789"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	got, err := TokensFromConfig(config.Auth{Tokens: []config.Token{
		{Name: "view", Role: "viewer", TokenEnv: "VIEW_TOKEN"},
		{Name: "ops", Role: "operator", TokenFile: file},
	}}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{{Name: "view", Role: "viewer", Secret: "from-env-0123456789"}, {Name: "ops", Role: "operator", Secret: "from-a-file-0123456789"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("tokens = %+v, want %+v", got, want)
	}
	if s := got[0].String(); strings.Contains(s, "from-env") {
		t.Errorf("Token.String() = %q shows the secret", s)
	}

	_, err = TokensFromConfig(config.Auth{Tokens: []config.Token{
		{Name: "view", Role: "viewer", TokenEnv: "MISSING_TOKEN"},
		{Name: "ops", Role: "operator", TokenFile: filepath.Join(dir, "absent")},
		{Name: "fine", Role: "operator", TokenEnv: "VIEW_TOKEN"},
	}}, lookup)
	if err == nil {
		t.Fatal("no error for missing secrets")
	}
	for _, want := range []string{"auth.tokens[0] (view)", "MISSING_TOKEN", "auth.tokens[1] (ops)", "absent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "from-env") || strings.Contains(err.Error(), "[2]") {
		t.Errorf("error %q shows a secret or blames a good token", err)
	}
}
