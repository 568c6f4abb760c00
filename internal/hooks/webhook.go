package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponseBody is how much of a webhook's response is kept in Output.
const maxResponseBody = 4 << 10

// minAttemptTimeout is the least time one delivery gets, when the hook's
// timeout allows it.
const minAttemptTimeout = time.Second

// webhook POSTs the event as JSON, signed per Standard Webhooks.
type webhook struct {
	name     string
	url      string
	redacted string // the URL without its path and query, for messages
	key      []byte
	retries  int
	timeout  time.Duration
	backoff  Backoff
	client   *http.Client
	now      func() time.Time
}

func newWebhook(name, rawURL string, key []byte, retries int, timeout time.Duration, o *Options) (*webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("url: must be an absolute http or https URL")
	}
	redacted := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		redacted += "/…" // a path or query may hold a token (Slack's do)
	}
	return &webhook{
		name:     name,
		url:      rawURL,
		redacted: redacted,
		key:      key,
		retries:  retries,
		timeout:  timeout,
		backoff:  o.backoff(),
		client: &http.Client{
			Transport: o.transport(),
			// A redirect of a signed POST is not followed: it is an answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: o.now(),
	}, nil
}

// attemptTimeout is how long one delivery may take: an equal share of the
// hook's timeout among its attempts, but at least minAttemptTimeout, so a
// hanging endpoint leaves time for retries and a slow one gets a fair try.
// The hook's own deadline bounds it in any case.
func (w *webhook) attemptTimeout() time.Duration {
	return max(w.timeout/time.Duration(w.retries+1), min(minAttemptTimeout, w.timeout))
}

// run delivers the event, retrying 5xx, 408, 429 and transport failures
// with jittered exponential backoff while retries and time remain. Every
// attempt carries the same webhook-id, with its own timestamp and
// signature.
func (w *webhook) run(ctx context.Context, ev Event, body []byte, res *Result) {
	id := messageID(ev.ID, w.name)
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		retry, wait, err := w.deliver(ctx, id, body, res)
		if err == nil {
			res.OK = true
			return
		}
		res.Error = err.Error()
		if !retry || ctx.Err() != nil {
			return
		}
		if attempt > w.retries {
			res.Error += fmt.Sprintf(" (after %d attempts)", attempt)
			return
		}
		wait = max(wait, w.backoff.delay(attempt))
		if !room(ctx, wait) {
			res.Error += fmt.Sprintf(" (after %d attempts; no time left for another)", attempt)
			return
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// messageID is the webhook-id of an event's delivery to one hook: the same
// for every retry, distinct per hook, so a receiver behind two hooks does
// not take the second delivery for a replay of the first.
func messageID(eventID, hook string) string {
	return eventID + "." + hook
}

// deliver makes one attempt. It returns whether a failure may be retried,
// and how long the endpoint asked us to wait (Retry-After), if it did.
func (w *webhook) deliver(ctx context.Context, id string, body []byte, res *Result) (retry bool, wait time.Duration, err error) {
	res.Timeout = false
	ctx, cancel := context.WithTimeout(ctx, w.attemptTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, 0, errors.New("webhook: cannot build the request")
	}
	now := w.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "failover-hooks/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(w.key, id, now, body))
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			res.Timeout = true
		}
		return true, 0, fmt.Errorf("webhook: POST %s: %s", w.redacted, transportError(err))
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	out, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	res.Output = strings.ToValidUTF8(string(out), "\uFFFD")
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return false, 0, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return true, retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("webhook: POST %s: HTTP %d", w.redacted, code)
	}
	return false, 0, fmt.Errorf("webhook: POST %s: HTTP %d, not retried", w.redacted, resp.StatusCode)
}

// transportError is the text of a client error without the URL, which
// may hold a token.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// retryAfter reads a Retry-After header given in seconds; 0 if absent or
// given as a date.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
