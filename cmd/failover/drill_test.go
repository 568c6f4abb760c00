package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/api"
)

// writeToken writes a token file and returns its path.
func writeToken(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDrill(t *testing.T) {
	f := newFakeAPI(t)
	f.token = "op-token"
	tf := writeToken(t, "op-token\n")
	code, out, errs := run(t, "drill", "www", "--to", "backup", "--for", "10m", "--reason", "game day",
		"--server", f.URL, "--token-file", tf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	r := f.last()
	if r.method != "POST" || r.path != "/api/v1/services/www/drill" || r.auth != "Bearer op-token" {
		t.Errorf("request %+v", r)
	}
	var req api.OverrideRequest
	if err := json.Unmarshal(r.body, &req); err != nil || req != (api.OverrideRequest{To: "backup", For: "10m0s", Reason: "game day"}) {
		t.Errorf("body %s (%v)", r.body, err)
	}
	re := regexp.MustCompile(`^www: drill to backup until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(in (9m5\d|10m00)s\), by ops: game day
state manual, routing primary=0 backup=100 origin=0
$`)
	if !re.MatchString(out) {
		t.Errorf("output:\n%s", out)
	}
	if strings.Contains(out+errs, "op-token") {
		t.Error("the token was printed")
	}
}

// A refused drill exits 1 with the controller's reason.
func TestDrillRefused(t *testing.T) {
	f := newFakeAPI(t)
	f.refuse = "drill refused: target backup is unhealthy"
	code, out, errs := run(t, "drill", "www", "--to", "backup", "--for", "10m", "--reason", "game day", "--server", f.URL)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if want := "failover: drill www: controller: 409: drill refused: target backup is unhealthy\n"; errs != want {
		t.Errorf("stderr %q, want %q", errs, want)
	}
	// --force is passed on.
	f.refuse = ""
	if code, _, errs := run(t, "drill", "www", "--to", "backup", "--for", "1m", "--reason", "x", "--force", "--server", f.URL); code != 0 {
		t.Fatalf("forced: exit %d: %s", code, errs)
	}
	if !strings.Contains(string(f.last().body), `"force":true`) {
		t.Errorf("force not sent: %s", f.last().body)
	}
}

func TestPinAndRelease(t *testing.T) {
	f := newFakeAPI(t)
	code, out, errs := run(t, "pin", "www", "--to", "origin", "--reason", "cdn contract", "--server", f.URL)
	if code != 0 {
		t.Fatalf("pin: exit %d: %s", code, errs)
	}
	if r := f.last(); r.path != "/api/v1/services/www/pin" || string(r.body) != `{"to":"origin","for":"","reason":"cdn contract","force":false}` {
		t.Errorf("pin request %s %s", r.path, r.body)
	}
	want := "www: pin to origin until released, by ops: cdn contract\n" +
		"state manual, routing primary=0 backup=100 origin=0 (desired primary=0 backup=0 origin=100)\n"
	if out != want {
		t.Errorf("pin output:\n%s\nwant:\n%s", out, want)
	}

	code, out, errs = run(t, "pin", "www", "--to", "origin", "--for", "1h", "--reason", "x", "--server", f.URL)
	if code != 0 || !strings.Contains(string(f.last().body), `"for":"1h0m0s"`) || !strings.Contains(out, "(in 59m5") && !strings.Contains(out, "(in 1h00m)") {
		t.Errorf("pin --for: exit %d, body %s, out %q, %s", code, f.last().body, out, errs)
	}

	code, out, errs = run(t, "release", "www", "--server", f.URL)
	if code != 0 {
		t.Fatalf("release: exit %d: %s", code, errs)
	}
	if r := f.last(); r.path != "/api/v1/services/www/release" || string(r.body) != "{}" {
		t.Errorf("release request %s %s", r.path, r.body)
	}
	if want := "www: released\nstate recovering, routing primary=0 backup=100 origin=0\n"; out != want {
		t.Errorf("release output %q, want %q", out, want)
	}

	code, _, errs = run(t, "release", "nope", "--server", f.URL)
	if code != 1 || errs != "failover: release nope: controller: 404: service nope not found\n" {
		t.Errorf("unknown service: exit %d, %q", code, errs)
	}
}

func TestWriteOverrideWithoutOverride(t *testing.T) {
	var b strings.Builder
	s := api.Service{Name: "www", State: "healthy", Routing: map[string]int{"a": 100}}
	if err := writeOverride(&b, "drill", s, time.Now()); err != nil {
		t.Fatal(err)
	}
	if b.String() != "www: drill accepted\nstate healthy, routing a=100\n" {
		t.Errorf("%q", b.String())
	}
}
