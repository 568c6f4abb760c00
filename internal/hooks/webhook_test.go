package hooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

// newSecret returns a random secret in the whsec_ format.
func newSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// delivery is one request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver answers webhooks with the statuses given, in turn (the last one
// repeats), and records every delivery.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []delivery
	statuses []int
	headers  http.Header // extra response headers
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{header: req.Header.Clone(), body: body})
		status := r.statuses[min(len(r.got), len(r.statuses))-1]
		r.mu.Unlock()
		for k, v := range r.headers {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, "answer "+strconv.Itoa(status))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// stepClock is a Now that moves a second forward on every call.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// webhookRunner is a Runner with one webhook hook named "scale" and a fast
// backoff.
func webhookRunner(t *testing.T, url, secret string, retries int, timeout time.Duration, mod func(*Options)) *Runner {
	t.Helper()
	opts := Options{
		Hooks: []config.Hook{{Name: "scale", Type: config.HookWebhook, URL: url, SecretEnv: "HOOK_SECRET",
			Retries: retries, Timeout: timeout}},
		Secret: func(ref config.SecretRef) (string, error) {
			if ref.Env != "HOOK_SECRET" {
				t.Fatalf("resolved %s, want env HOOK_SECRET", ref)
			}
			return secret, nil
		},
		Backoff: Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
		Logger:  quiet,
	}
	if mod != nil {
		mod(&opts)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func testEvent() Event {
	return Event{
		ID:      "evt_1",
		Type:    EventGate,
		Service: "www",
		Target:  "origin",
		From:    "failed_over",
		To:      "failing_over",
		Routing: map[string]int{"primary": 0, "backup": 100, "origin": 0},
		Reason:  "both CDNs down",
		Time:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func TestWebhookIsSigned(t *testing.T) {
	secret := newSecret(t)
	rcv := newReceiver(t, 200)
	r := webhookRunner(t, rcv.srv.URL+"/scale?token=abc", secret, 3, 5*time.Second, nil)
	ev := testEvent()
	res := r.Run(context.Background(), []string{"scale"}, ev)[0]
	if !res.OK || res.Attempts != 1 || res.Status != 200 || res.Output != "answer 200" || res.Type != config.HookWebhook {
		t.Fatalf("result %+v", res)
	}
	got := rcv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	d := got[0]
	id, ts := d.header.Get(HeaderID), d.header.Get(HeaderTimestamp)
	if id != "evt_1.scale" {
		t.Errorf("webhook-id %q, want evt_1.scale", id)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
		t.Errorf("webhook-timestamp %q is not now in unix seconds", ts)
	}
	// An independent implementation: the HMAC by hand.
	if want := handSign(t, secret, id, sec, d.body); d.header.Get(HeaderSignature) != want {
		t.Errorf("webhook-signature %q, want %q", d.header.Get(HeaderSignature), want)
	}
	// And the verifier the docs show.
	if err := Verify(secret, d.header, d.body, time.Now(), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if ct := d.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var back Event
	if err := json.Unmarshal(d.body, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != ev.ID || back.Type != EventGate || back.Service != "www" || back.Target != "origin" ||
		back.Routing["backup"] != 100 || back.Reason != ev.Reason || !back.Time.Equal(ev.Time) || back.From != "failed_over" {
		t.Errorf("body %s does not carry the event", d.body)
	}
}

func TestWebhookRetriesKeepTheID(t *testing.T) {
	secret := newSecret(t)
	rcv := newReceiver(t, 503, 429, 408, 500, 204)
	clock := &stepClock{t: time.Now()}
	r := webhookRunner(t, rcv.srv.URL, secret, 4, 10*time.Second, func(o *Options) { o.Now = clock.now })
	res := r.Run(context.Background(), []string{"scale"}, testEvent())[0]
	if !res.OK || res.Attempts != 5 || res.Status != 204 || res.Error != "" {
		t.Fatalf("result %+v, want OK on the fifth attempt", res)
	}
	got := rcv.deliveries()
	if len(got) != 5 {
		t.Fatalf("%d deliveries, want 5", len(got))
	}
	replays := NewReplayCache(0, 0)
	seenTS := map[string]bool{}
	for i, d := range got {
		if id := d.header.Get(HeaderID); id != "evt_1.scale" {
			t.Errorf("attempt %d: webhook-id %q, want the same evt_1.scale on every retry", i+1, id)
		}
		ts := d.header.Get(HeaderTimestamp)
		if seenTS[ts] {
			t.Errorf("attempt %d reuses timestamp %s", i+1, ts)
		}
		seenTS[ts] = true
		sec, _ := strconv.ParseInt(ts, 10, 64)
		if want := handSign(t, secret, "evt_1.scale", sec, d.body); d.header.Get(HeaderSignature) != want {
			t.Errorf("attempt %d: signature does not match its own timestamp", i+1)
		}
		err := replays.Verify(secret, d.header, d.body, time.Unix(sec, 0), 0)
		if i == 0 && err != nil {
			t.Errorf("first attempt: %v", err)
		}
		// A receiver that handled the first attempt drops the retries.
		if i > 0 && err != ErrReplay {
			t.Errorf("attempt %d: %v, want ErrReplay for a retry of a message already accepted", i+1, err)
		}
	}
}

func TestWebhookFailures(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int
		retries      int
		wantAttempts int
		wantErr      string
	}{
		{"400 is permanent", []int{400}, 3, 1, "HTTP 400, not retried"},
		{"404 is permanent", []int{404}, 3, 1, "HTTP 404, not retried"},
		{"a redirect is not followed", []int{302}, 3, 1, "HTTP 302, not retried"},
		{"5xx until the retries run out", []int{502}, 2, 3, "HTTP 502 (after 3 attempts)"},
		{"no retries", []int{503}, 0, 1, "HTTP 503 (after 1 attempts)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, tt.statuses...)
			rcv.headers = http.Header{"Location": {"http://elsewhere.test/"}}
			r := webhookRunner(t, rcv.srv.URL, newSecret(t), tt.retries, 5*time.Second, nil)
			res := r.Run(context.Background(), []string{"scale"}, testEvent())[0]
			if res.OK || res.Attempts != tt.wantAttempts || !strings.Contains(res.Error, tt.wantErr) || res.Timeout {
				t.Errorf("result %+v, want %d attempts and %q", res, tt.wantAttempts, tt.wantErr)
			}
			if n := len(rcv.deliveries()); n != tt.wantAttempts {
				t.Errorf("%d deliveries, want %d", n, tt.wantAttempts)
			}
		})
	}
	t.Run("Retry-After longer than the time left", func(t *testing.T) {
		rcv := newReceiver(t, 429)
		rcv.headers = http.Header{"Retry-After": {"3600"}}
		r := webhookRunner(t, rcv.srv.URL, newSecret(t), 5, 2*time.Second, nil)
		start := time.Now()
		res := r.Run(context.Background(), []string{"scale"}, testEvent())[0]
		if res.OK || res.Attempts != 1 || !strings.Contains(res.Error, "no time left") || time.Since(start) > time.Second {
			t.Errorf("result %+v after %s, want one attempt and an early end", res, time.Since(start))
		}
	})
}

// deadEndpoints are webhook endpoints that are down, each its own way.
func deadEndpoints(t *testing.T) map[string]string {
	// A port that was open and is now closed refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/hook"
	l.Close()
	// A server that accepts and never answers.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hole.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return map[string]string{"refused": refused, "black hole": "http://" + hole.Addr().String() + "/hook"}
}

func TestWebhookDownReturnsWithinTimeout(t *testing.T) {
	for name, url := range deadEndpoints(t) {
		t.Run(name, func(t *testing.T) {
			const timeout = time.Second
			reg := prometheus.NewRegistry()
			r := webhookRunner(t, url, newSecret(t), 10, timeout, func(o *Options) {
				o.Backoff = Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}
				o.Registerer = reg
			})
			start := time.Now()
			res := r.Run(context.Background(), []string{"scale"}, testEvent())[0]
			elapsed := time.Since(start)
			if res.OK || res.Error == "" {
				t.Fatalf("result %+v, want a failure", res)
			}
			if elapsed > timeout+500*time.Millisecond {
				t.Errorf("took %s with a timeout of %s", elapsed, timeout)
			}
			switch name {
			case "refused":
				if res.Attempts < 2 || !strings.Contains(res.Error, "connection refused") {
					t.Errorf("result %+v, want retries of a refused connection", res)
				}
			case "black hole":
				if !res.Timeout || res.MetricResult() != ResultTimeout {
					t.Errorf("result %+v, want a timeout", res)
				}
				if got := testutil.ToFloat64(r.runs.WithLabelValues("scale", ResultTimeout)); got != 1 {
					t.Errorf("failover_hook_runs_total{result=timeout} = %v, want 1", got)
				}
			}
		})
	}
	t.Run("the caller's max_wait bounds a longer hook timeout", func(t *testing.T) {
		r := webhookRunner(t, deadEndpoints(t)["black hole"], newSecret(t), 3, time.Minute, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		res := r.Run(ctx, []string{"scale"}, testEvent())[0]
		if elapsed := time.Since(start); elapsed > 2*time.Second || res.OK || !res.Timeout {
			t.Errorf("result %+v after %s, want a timeout at about 300ms", res, elapsed)
		}
	})
}

func TestSecretsStayOut(t *testing.T) {
	secret := newSecret(t)
	key, _ := ParseSecret(secret)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rcv := newReceiver(t, 500)
	r := webhookRunner(t, rcv.srv.URL+"/services/T000/B000/XXXXsecretpath", secret, 1, 2*time.Second, func(o *Options) { o.Logger = logger })
	res := r.Run(context.Background(), []string{"scale"}, testEvent())
	out, _ := json.Marshal(res)
	for _, leak := range []string{secret, secret[len("whsec_"):], string(key), "XXXXsecretpath"} {
		if strings.Contains(string(out), leak) || strings.Contains(logs.String(), leak) {
			t.Errorf("a secret leaked into the result or the logs:\n%s\n%s", out, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "hook failed") {
		t.Errorf("no log line for the failure: %s", logs.String())
	}

	_, err := New(Options{
		Hooks:  []config.Hook{{Name: "scale", Type: config.HookWebhook, URL: rcv.srv.URL, SecretEnv: "S"}},
		Secret: func(config.SecretRef) (string, error) { return "whsec_%%%" + "topsecret", nil },
	})
	if err == nil || strings.Contains(err.Error(), "topsecret") || !strings.Contains(err.Error(), "env S") {
		t.Errorf("bad secret: %v, want an error naming env S and not the value", err)
	}
	t.Setenv("HOOK_TEST_UNSET", "")
	_, err = New(Options{Hooks: []config.Hook{{Name: "scale", Type: config.HookWebhook, URL: rcv.srv.URL, SecretEnv: "HOOK_TEST_UNSET"}}})
	if err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("unset secret: %v, want an error naming the hook", err)
	}
}
