package lab

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/hooks"
)

// sign is a Standard Webhooks signer independent of package hooks: v1,base64(HMAC-SHA256(key,
// "id.timestamp.body")).
func sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

var (
	hookKey    = []byte("lab-scale-key-0123456789abcdef!!")
	hookSecret = "whsec_" + base64.StdEncoding.EncodeToString(hookKey)
)

// postScale sends POST /lab/scale to the origin with the given headers.
func postScale(t *testing.T, l *Lab, target string, headers map[string]string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+l.Addr(target)+"/lab/scale", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client(t, "", false, 5*time.Second).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func signed(key []byte, id string, ts int64, body []byte) map[string]string {
	return map[string]string{
		"webhook-id":        id,
		"webhook-timestamp": strconv.FormatInt(ts, 10),
		"webhook-signature": sign(key, id, ts, body),
	}
}

func TestScaleBySignedWebhook(t *testing.T) {
	clk := newFakeClock(true)
	l := startLab(t, Options{Clock: clk, OriginCapacity: 2, WebhookSecret: hookSecret})
	c := client(t, "lab-a", false, 5*time.Second)
	if err := l.SetLoad(Origin, 2); err != nil { // the origin is full
		t.Fatal(err)
	}
	if s, _, _ := mustGet(t, c, l, Origin, "/healthz"); s != http.StatusServiceUnavailable {
		t.Fatalf("full origin: %d, want 503", s)
	}
	body := []byte(`{"event":"before_shift","service":"www","target":"origin"}`)
	now := clk.Now().Unix()
	status, out := postScale(t, l, Origin, signed(hookKey, "msg_1", now, body), body)
	if status != http.StatusOK || out["capacity"] != float64(20) {
		t.Fatalf("signed scale: %d %v, want 200 capacity 20", status, out)
	}
	if s, _, _ := mustGet(t, c, l, Origin, "/healthz"); s != 200 {
		t.Errorf("scaled origin with load 2 of 20: %d", s)
	}
	// A retry with the same id (and a second signature in the header, as
	// during a key rotation) is accepted and changes nothing.
	h := signed(hookKey, "msg_1", now, body)
	h["webhook-signature"] = "v1,AAAA " + h["webhook-signature"]
	if status, out := postScale(t, l, Origin, h, body); status != http.StatusOK || out["capacity"] != float64(20) {
		t.Errorf("retried scale: %d %v", status, out)
	}
	// An explicit capacity.
	req := signed(hookKey, "msg_2", now, nil)
	resp, err := http.NewRequest(http.MethodPost, "http://"+l.Addr(Origin)+"/lab/scale?capacity=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req {
		resp.Header.Set(k, v)
	}
	r, err := client(t, "", false, 5*time.Second).Do(resp)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || edgeState(t, l, Origin).Capacity != 7 {
		t.Errorf("scale to 7: %d, capacity %d", r.StatusCode, edgeState(t, l, Origin).Capacity)
	}
}

func TestScaleRejectsBadSignatures(t *testing.T) {
	clk := newFakeClock(true)
	l := startLab(t, Options{Clock: clk, OriginCapacity: 2, WebhookSecret: hookSecret})
	body := []byte(`{"event":"before_shift"}`)
	now := clk.Now().Unix()
	tests := []struct {
		name    string
		headers map[string]string
		body    []byte
		want    string
	}{
		{"no headers", nil, body, hooks.ErrMissingHeader.Error()},
		{"wrong key", signed([]byte("another key"), "msg_1", now, body), body, hooks.ErrNoMatchingSignature.Error()},
		{"tampered body", signed(hookKey, "msg_1", now, body), []byte(`{"event":"before_shift","x":1}`), hooks.ErrNoMatchingSignature.Error()},
		{"other id", func() map[string]string {
			h := signed(hookKey, "msg_1", now, body)
			h["webhook-id"] = "msg_2"
			return h
		}(), body, hooks.ErrNoMatchingSignature.Error()},
		{"stale", signed(hookKey, "msg_1", now-600, body), body, hooks.ErrStaleTimestamp.Error()},
		{"future", signed(hookKey, "msg_1", now+600, body), body, hooks.ErrFutureTimestamp.Error()},
		{"bad timestamp", func() map[string]string {
			h := signed(hookKey, "msg_1", now, body)
			h["webhook-timestamp"] = "yesterday"
			return h
		}(), body, hooks.ErrBadTimestamp.Error()},
		{"other version", func() map[string]string {
			h := signed(hookKey, "msg_1", now, body)
			h["webhook-signature"] = "v2" + h["webhook-signature"][2:]
			return h
		}(), body, hooks.ErrNoMatchingSignature.Error()},
		{"not base64", func() map[string]string {
			h := signed(hookKey, "msg_1", now, body)
			h["webhook-signature"] = "v1,!!!"
			return h
		}(), body, hooks.ErrNoMatchingSignature.Error()},
		{"raw secret instead of decoded key", signed([]byte(hookSecret), "msg_1", now, body), body, hooks.ErrNoMatchingSignature.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := postScale(t, l, Origin, tt.headers, tt.body)
			if status != http.StatusUnauthorized || !bytes.Contains([]byte(fmt.Sprint(out["error"])), []byte(tt.want)) {
				t.Errorf("got %d %v, want 401 with %q", status, out, tt.want)
			}
		})
	}
	if got := edgeState(t, l, Origin).Capacity; got != 2 {
		t.Errorf("capacity after rejected scales = %d, want 2", got)
	}
	// Within the tolerance is fine.
	if status, _ := postScale(t, l, Origin, signed(hookKey, "msg_9", now-60, body), body); status != http.StatusOK {
		t.Errorf("a signature 60s old: %d, want 200", status)
	}
}

func TestScaleEndpointRules(t *testing.T) {
	l := startLab(t, Options{OriginCapacity: 2}) // no secret: unsigned calls are accepted
	if status, out := postScale(t, l, Primary, nil, nil); status != http.StatusNotFound {
		t.Errorf("scale on a CDN edge: %d %v, want 404", status, out)
	}
	c := client(t, "", false, 5*time.Second)
	if s, _, _ := mustGet(t, c, l, Origin, "/lab/scale"); s != http.StatusMethodNotAllowed {
		t.Errorf("GET /lab/scale: %d, want 405", s)
	}
	if status, out := postScale(t, l, Origin, nil, bytes.Repeat([]byte("x"), maxScaleBody+1)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %v", status, out)
	}
	for _, q := range []string{"0", "-3", "many"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+l.Addr(Origin)+"/lab/scale?capacity="+q, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("capacity=%s: %d, want 400", q, resp.StatusCode)
		}
	}
	if status, out := postScale(t, l, Origin, nil, []byte(`{}`)); status != http.StatusOK || out["capacity"] != float64(20) {
		t.Errorf("unsigned scale without a secret: %d %v", status, out)
	}
}

func TestScaleWithRawSecretAndDelay(t *testing.T) {
	clk := newFakeClock(false)
	logs := newLogWatcher("lab: capacity")
	l := startLab(t, Options{Clock: clk, OriginCapacity: 4, ScaledCapacity: 50, ScaleDelay: 2 * time.Second,
		WebhookSecret: "plain-secret", Logger: logs.logger()})
	now := clk.Now().Unix()
	status, out := postScale(t, l, Origin, signed([]byte("plain-secret"), "msg_1", now, nil), nil)
	if status != http.StatusAccepted || out["capacity"] != float64(4) || out["scaling_in"] != "2s" {
		t.Fatalf("delayed scale: %d %v, want 202 with capacity 4 scaling in 2s", status, out)
	}
	clk.awaitWaiters(t, 1)
	clk.Advance(time.Second)
	if got := edgeState(t, l, Origin).Capacity; got != 4 {
		t.Errorf("capacity 1s into a 2s scale-up = %d, want 4", got)
	}
	clk.Advance(time.Second)
	logs.await(t)
	if got := edgeState(t, l, Origin).Capacity; got != 50 {
		t.Errorf("capacity after the scale-up = %d, want 50", got)
	}
}

// TestScaleDelayCancelledByStop: a scale-up still pending when the lab stops
// ends with it (goleak checks the goroutine).
func TestScaleDelayCancelledByStop(t *testing.T) {
	clk := newFakeClock(false)
	l := startLab(t, Options{Clock: clk, ScaleDelay: time.Hour})
	if status, _ := postScale(t, l, Origin, nil, nil); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	clk.awaitWaiters(t, 1)
}
