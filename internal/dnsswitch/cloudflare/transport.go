package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/option"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// Retry says how the provider retries a request that failed softly: an HTTP
// 429, a 5xx, or a transport error (a refused connection, a timeout). The
// SDK's own retries are off (option.WithMaxRetries(0)), so every retry is
// made here, waits as the server asks, and passes through the Budget.
type Retry struct {
	// Attempts is the number of tries of one request, the first included
	// (default 4). When the last one fails softly, the error wraps
	// dnsswitch.ErrRetryable.
	Attempts int
	// MaxWait bounds how long a Retry-After is honoured (default 60s). A
	// server that asks for a longer wait ends the retries at once with an
	// error wrapping dnsswitch.ErrRetryable: waiting less than it asks would
	// only earn another 429, and the controller's loop comes back anyway.
	MaxWait time.Duration
	// Backoff is the first wait after a 5xx, a transport error or a 429
	// without Retry-After (default 500ms). It doubles with every attempt, up
	// to 8s, with jitter.
	Backoff time.Duration
}

const maxBackoff = 8 * time.Second

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 60 * time.Second
	}
	if r.Backoff <= 0 {
		r.Backoff = 500 * time.Millisecond
	}
	return r
}

// backoff returns the wait before attempt+1: Backoff*2^(attempt-1), capped,
// of which the upper half is random.
func (r Retry) backoff(attempt int) time.Duration {
	d := r.Backoff << min(attempt-1, 16)
	if d <= 0 || d > maxBackoff {
		d = maxBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}

// ErrorDetail is one entry of the "errors" list of Cloudflare's envelope.
type ErrorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// APIError is an answer of the Cloudflare API that is not a success: an HTTP
// status of 400 or more, or {"success":false,...} with any status. It unwraps
// to dnsswitch.ErrAuth when the credential was rejected.
type APIError struct {
	Method     string
	Path       string // the URL path, without the query
	Status     int
	Errors     []ErrorDetail
	RetryAfter time.Duration // from a 429's Retry-After header; 0 if none
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cloudflare api: %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if len(e.Errors) == 0 {
		b.WriteString(": no error details")
	}
	for i, d := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "code %d: %s", d.Code, d.Message)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, dnsswitch.ErrAuth) true for a rejected
// credential.
func (e *APIError) Unwrap() error {
	if e.auth() {
		return dnsswitch.ErrAuth
	}
	return nil
}

// Has reports whether the error carries the given Cloudflare error code.
func (e *APIError) Has(code int) bool {
	for _, d := range e.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// Cloudflare error codes this package tells apart.
const (
	codeAuthentication  = 10000 // "Authentication error"
	codeInvalidToken    = 9109  // "Invalid access token"
	codeBadAuthHeader   = 6111  // "Invalid format for Authorization header"
	codeIdenticalRecord = 81058 // "An identical record already exists."
)

func (e *APIError) auth() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden ||
		e.Has(codeAuthentication) || e.Has(codeInvalidToken) || e.Has(codeBadAuthHeader)
}

// soft reports whether retrying may cure the error.
func (e *APIError) soft() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout ||
		e.Status >= http.StatusInternalServerError
}

// envelope is the part of Cloudflare's response envelope that tells success
// from failure.
type envelope struct {
	Success *bool         `json:"success"`
	Errors  []ErrorDetail `json:"errors"`
}

// middleware runs around every HTTP request the SDK sends. It takes a token
// from the budget first, then turns a failed answer into an *APIError, so
// that a {"success":false} envelope is an error even under a 2xx status
// (the SDK decodes only the result and would take it for a success).
func (p *Provider) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	if err := p.budget.Wait(req.Context()); err != nil {
		return nil, err
	}
	res, err := next(req)
	if err != nil {
		return res, err
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	_ = res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("cloudflare api: %s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))

	var env envelope
	jsonErr := json.Unmarshal(body, &env)
	failed := res.StatusCode >= 400 || (jsonErr == nil && env.Success != nil && !*env.Success)
	if !failed {
		return res, nil
	}
	apiErr := &APIError{Method: req.Method, Path: req.URL.Path, Status: res.StatusCode}
	for _, d := range env.Errors {
		d.Message = p.redact(d.Message)
		apiErr.Errors = append(apiErr.Errors, d)
	}
	if res.StatusCode == http.StatusTooManyRequests {
		apiErr.RetryAfter = retryAfter(res.Header.Get("Retry-After"), p.clock.Now())
	}
	return nil, apiErr
}

// retryAfter parses a Retry-After header: a number of seconds or an HTTP
// date. It returns 0 when the header is absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 24*3600 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// redact removes the API token from text that came from the network, in case
// a server (or a proxy in between) echoes it.
func (p *Provider) redact(s string) string {
	if len(p.token) < 8 {
		return s
	}
	return strings.ReplaceAll(s, p.token, "[redacted]")
}

// call runs one API request through fn, retrying soft failures as Retry
// says. A hard failure comes back at once; a soft one that outlasts the
// retries wraps dnsswitch.ErrRetryable. An error of ctx is wrapped as it is.
func (p *Provider) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			if errors.Is(err, ctxErr) {
				return fmt.Errorf("%s: %w", op, err)
			}
			return fmt.Errorf("%s: %w (%v)", op, ctxErr, p.redactErr(err))
		}
		wait, soft := p.classify(err, attempt)
		if !soft {
			return fmt.Errorf("%s: %w", op, p.redactErr(err))
		}
		if attempt >= p.retry.Attempts {
			return fmt.Errorf("%s: %w: gave up after %d attempts: %w", op, dnsswitch.ErrRetryable, attempt, p.redactErr(err))
		}
		if wait > p.retry.MaxWait {
			return fmt.Errorf("%s: %w: the server asks to wait %v, more than %v: %w",
				op, dnsswitch.ErrRetryable, wait, p.retry.MaxWait, p.redactErr(err))
		}
		p.log.Debug("cloudflare: retrying", "op", op, "attempt", attempt, "wait", wait, "error", p.redactErr(err))
		if err := p.clock.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}

// classify says whether err is soft and how long to wait before the next
// attempt.
func (p *Provider) classify(err error, attempt int) (time.Duration, bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		if !apiErr.soft() {
			return 0, false
		}
		if apiErr.RetryAfter > 0 {
			return apiErr.RetryAfter, true
		}
		return p.retry.backoff(attempt), true
	}
	// The HTTP client's errors (refused connections, resets) come as
	// *url.Error; the per-request timeout (Options.Timeout) as the SDK's
	// bare context.DeadlineExceeded, while the caller's context is still
	// alive (call checked). Anything else, such as an answer that does not
	// decode, will not get better by asking again.
	var urlErr *url.Error
	if errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) {
		return p.retry.backoff(attempt), true
	}
	return 0, false
}

// redactErr keeps the error chain (errors.Is still works) and makes sure the
// token is not in its text.
func (p *Provider) redactErr(err error) error {
	if len(p.token) < 8 || !strings.Contains(err.Error(), p.token) {
		return err
	}
	return redactedError{err: err, text: p.redact(err.Error())}
}

type redactedError struct {
	err  error
	text string
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.err }
