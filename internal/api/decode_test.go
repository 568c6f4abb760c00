package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestBodies runs bad drill and pin bodies through the handler and
// checks the status and the exact message.
func TestRequestBodies(t *testing.T) {
	fx := newFixture(t, nil)
	const drill = "/api/v1/services/www/drill"
	const pin = "/api/v1/services/www/pin"
	for _, tc := range []struct {
		name, path, body, ctype string
		code                    int
		msg                     string
	}{
		{"no content type, JSON body", drill, `{"to":"backup","for":"10m","reason":"r"}`, "-", 200, ""},
		{"curl -d: form content type, JSON body", drill, `{"to":"backup","for":"10m","reason":"r"}`, "application/x-www-form-urlencoded", 200, ""},
		{"form content type, form body", drill, `to=backup`, "application/x-www-form-urlencoded", 400, "malformed JSON at byte 2: invalid character 'o' in literal true (expecting 'r')"},
		{"text content type", drill, `{"to":"backup","for":"10m","reason":"r"}`, "text/plain", 415, `content type must be application/json, got "text/plain"`},
		{"text content type", drill, `{"to":"backup","for":"10m","reason":"r"}`, "text/plain", 415, `content type must be application/json, got "text/plain"`},
		{"json with charset", drill, `{"to":"backup","for":"10m","reason":"r"}`, "application/json; charset=utf-8", 200, ""},
		{"empty", drill, ``, "application/json", 400, "body is empty; want a JSON object"},
		{"malformed", drill, `{"to":"backup",}`, "", 400, "malformed JSON at byte 16: invalid character '}' looking for beginning of object key string"},
		{"cut short", drill, `{"to":"backup"`, "", 400, "malformed JSON: the body ends early"},
		{"not an object", drill, `["backup"]`, "", 400, "body must be a JSON object, got array"},
		{"unknown field", drill, `{"to":"backup","for":"10m","reason":"r","when":"now"}`, "", 400, `unknown field "when"`},
		{"two values", drill, `{"to":"backup","for":"10m","reason":"r"}{"to":"origin"}`, "", 400, "body must hold a single JSON value"},
		{"trailing garbage", drill, `{"to":"backup","for":"10m","reason":"r"} x`, "", 400, "body must hold a single JSON value"},
		{"wrong type", drill, `{"to":"backup","for":600,"reason":"r"}`, "", 400, "for: must be a string, got number"},
		{"wrong bool", drill, `{"to":"backup","for":"1m","reason":"r","force":"yes"}`, "", 400, "force: must be true or false, got string"},
		{"bad duration", drill, `{"to":"backup","for":"10x","reason":"r"}`, "", 400, `for: invalid duration "10x"`},
		{"negative duration", drill, `{"to":"backup","for":"-5m","reason":"r"}`, "", 400, `for: must be positive, got "-5m"`},
		{"zero duration", drill, `{"to":"backup","for":"0s","reason":"r"}`, "", 400, `for: must be positive, got "0s"`},
		{"drill too long", drill, `{"to":"backup","for":"25h","reason":"r"}`, "", 400, `for: a drill lasts at most 24h0m0s, got "25h"`},
		{"drill of 24h", drill, `{"to":"backup","for":"24h","reason":"r"}`, "", 200, ""},
		{"drill without for", drill, `{"to":"backup","reason":"r"}`, "", 400, "for: required for a drill (at most 24h0m0s)"},
		{"no to", drill, `{"for":"10m","reason":"r"}`, "", 400, "to: required"},
		{"bad to", drill, `{"to":"../etc","for":"10m","reason":"r"}`, "", 400, `to: must be a target name matching ^[a-z0-9][a-z0-9-]{0,62}$, got "../etc"`},
		{"no reason", drill, `{"to":"backup","for":"10m"}`, "", 400, "reason: required"},
		{"blank reason", drill, `{"to":"backup","for":"10m","reason":" \t "}`, "", 400, "reason: required"},
		{"control in reason", drill, `{"to":"backup","for":"10m","reason":"a\u0007b"}`, "", 400, "reason: must be printable text"},
		{"long reason", drill, `{"to":"backup","for":"10m","reason":"` + strings.Repeat("x", MaxReasonBytes+1) + `"}`, "", 400, "reason: at most 1000 bytes, got 1001"},
		{"oversized", drill, `{"to":"backup","for":"10m","reason":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "", 413, "body is larger than 65536 bytes"},
		{"pin bad duration", pin, `{"to":"backup","for":"forever","reason":"r"}`, "", 400, `for: invalid duration "forever"`},
		{"pin without reason", pin, `{"to":"backup"}`, "", 400, "reason: required"},
		{"release with a field", "/api/v1/services/www/release", `{"reason":"done"}`, "", 400, `unknown field "reason"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fx.do(t, req{method: "POST", path: tc.path, token: operatorToken, body: tc.body, contentType: tc.ctype})
			if w.Code != tc.code {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.code, w.Body)
			}
			if tc.msg != "" {
				if got := errorOf(t, w); got != tc.msg {
					t.Fatalf("error = %q, want %q", got, tc.msg)
				}
			}
		})
	}
	// The exact answer of the brief's example.
	w := fx.do(t, req{method: "POST", path: drill, token: operatorToken, body: `{"to":"backup","for":"10x","reason":"r"}`})
	if got := strings.TrimSpace(w.Body.String()); got != `{"error":"for: invalid duration \"10x\""}` {
		t.Errorf("answer = %s", got)
	}
}

// TestOversizedWithoutLength sends a body larger than the limit without a
// Content-Length, so that only the reader's limit can catch it.
func TestOversizedWithoutLength(t *testing.T) {
	fx := newFixture(t, nil)
	body := `{"to":"backup","for":"10m","reason":"` + strings.Repeat("x", 2*MaxBodyBytes) + `"}`
	r := httptest.NewRequest("POST", "/api/v1/services/www/drill", io.NopCloser(strings.NewReader(body)))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+operatorToken)
	w := httptest.NewRecorder()
	fx.srv.Handler().ServeHTTP(w, r)
	if w.Code != 413 || errorOf(t, w) != "body is larger than 65536 bytes" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// A body just over the limit whose excess is white space after the
	// value is still too large.
	body = `{"to":"backup","for":"10m","reason":"r"}` + strings.Repeat(" ", MaxBodyBytes)
	r = httptest.NewRequest("POST", "/api/v1/services/www/drill", io.NopCloser(strings.NewReader(body)))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+operatorToken)
	w = httptest.NewRecorder()
	fx.srv.Handler().ServeHTTP(w, r)
	if w.Code != 413 {
		t.Fatalf("trailing space over the limit: %d %s", w.Code, w.Body)
	}
	if n := len(fx.fake.callsMade()); n != 0 {
		t.Fatalf("%d oversized requests reached the backend", n)
	}
}

// decodeTargets are the bodies FuzzDecodeBody decodes.
var decodeTargets = []func() any{
	func() any { return new(OverrideRequest) },
	func() any { return new(ResultsBatch) },
	func() any { return new(Fault) },
	func() any { return new(releaseRequest) },
}

// FuzzDecodeBody feeds arbitrary bodies to decodeBody and to the POST
// endpoints: nothing panics, every refusal is a 4xx with an {"error"}
// body, and what decodeBody accepts is one JSON value that re-encodes.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"to":"backup","for":"10m","reason":"game day"}`,
		`{"to":"backup","for":"10x","reason":"r"}`,
		`{"to":"backup","for":"9999999999h","reason":"r"}`,
		`{"to":"backup","reason":"r","force":true}`,
		okBatch,
		`{"vantage":"eu-1","results":[{"class":"ok","ok":true,"time":"2025-03-01T11:59:59Z","service":"www","target":"primary","latency_ms":1e308}]}`,
		`{"vantage":"eu-1","results":[{"time":"0000-00-00"}]}`,
		`{"target":"primary","mode":"down","vantages":["lab-a"]}`,
		`{}`, ``, `null`, `[]`, `"x"`, `{"a":1}`, `{"to":"\ud800"}`, `{"to":"backup"}{}`, `{{`,
		`{"reason":"` + strings.Repeat("é", 600) + `"}`,
	} {
		for i := range 6 {
			f.Add(uint8(i), []byte(seed))
		}
	}
	fx := newFixture(f, func(o *Options) { o.Lab = true; o.MaxBodyBytes = 8 << 10 })
	paths := []struct{ path, token string }{
		{"/api/v1/services/www/drill", operatorToken},
		{"/api/v1/services/www/pin", operatorToken},
		{"/api/v1/services/www/release", operatorToken},
		{"/api/v1/results", agentToken},
		{"/api/v1/lab/faults", operatorToken},
		{"/api/v1/services/www/drill", operatorToken},
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		// decodeBody itself.
		dst := decodeTargets[int(which)%len(decodeTargets)]()
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		err := decodeBody(httptest.NewRecorder(), r, 4<<10, which%2 == 0, dst)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 || ae.msg == "" {
				t.Fatalf("decodeBody(%q) = %v, want a 4xx *apiError", body, err)
			}
		} else {
			if !json.Valid(body) && len(bytes.TrimSpace(body)) > 0 {
				t.Fatalf("decodeBody accepted invalid JSON %q", body)
			}
			if _, err := json.Marshal(dst); err != nil {
				t.Fatalf("accepted value does not re-encode: %v", err)
			}
		}

		// A whole endpoint.
		p := paths[int(which)%len(paths)]
		hr := httptest.NewRequest("POST", p.path, bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Authorization", "Bearer "+p.token)
		w := httptest.NewRecorder()
		fx.srv.Handler().ServeHTTP(w, hr)
		switch {
		case w.Code == http.StatusOK || w.Code == http.StatusAccepted:
		case w.Code >= 400 && w.Code <= 499:
			var e errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %q: %d with body %q", p.path, body, w.Code, w.Body)
			}
		default:
			t.Fatalf("%s %q: status %d, body %s", p.path, body, w.Code, w.Body)
		}
	})
}
