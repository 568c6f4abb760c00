// Package client is a small client of the controller's HTTP API (CONTRACT
// §4). The CLI commands (status, drill, pin, release, report, lab fault) and
// the probe agent use it. It speaks the view types of package api, so the
// wire shapes are written down once.
//
// A Client knows one or more controller URLs. A request goes to the one that
// answered last and, when it cannot be reached (a connection error, a
// timeout, or a 502/503/504 from a proxy or a standby), to the others in
// the order given. A 4xx or another 5xx is an answer: it is returned as an
// *Error and never retried elsewhere.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/store"
)

// Defaults and limits.
const (
	// DefaultTimeout bounds one attempt of a request at one server.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxResponseBytes bounds a successful response body.
	DefaultMaxResponseBytes = 32 << 20
	// maxErrorBytes bounds how much of an error body is read.
	maxErrorBytes = 64 << 10
	// maxMessage bounds an error message taken from a non-JSON body.
	maxMessage = 200
)

// ErrUnreachable is wrapped by the error of a request that no server
// answered: every one refused the connection, timed out or was unavailable.
var ErrUnreachable = errors.New("no controller reachable")

// Error is an answer with a 4xx or 5xx status. Message is the body's
// "error" field verbatim (or, for a body that is not the API's JSON, the
// status text and the start of the body).
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("controller: %d: %s", e.Status, e.Message)
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Options configure a Client.
type Options struct {
	// Servers are the controller base URLs, for example
	// http://127.0.0.1:8080. A URL without a scheme gets http://.
	// At least one is required.
	Servers []string
	// Token is the bearer token; empty sends none (enough for GET
	// endpoints when the controller has auth.open_read).
	Token string
	// HTTPClient makes the requests. Nil means a client with a transport
	// of its own, which Close releases.
	HTTPClient *http.Client
	// Timeout bounds one attempt at one server; DefaultTimeout when zero.
	Timeout time.Duration
	// MaxResponseBytes bounds a successful response body;
	// DefaultMaxResponseBytes when zero.
	MaxResponseBytes int64
	// UserAgent is sent with every request; "failover" when empty.
	UserAgent string
}

// Client calls the controller's API. It is safe for concurrent use.
type Client struct {
	servers []*url.URL
	token   string
	hc      *http.Client
	own     *http.Transport // nil when the caller gave the HTTPClient
	timeout time.Duration
	maxBody int64
	ua      string

	mu        sync.Mutex
	preferred int // the server that answered last
}

// New returns a Client.
func New(o Options) (*Client, error) {
	if len(o.Servers) == 0 {
		return nil, errors.New("client: no controller URL")
	}
	c := &Client{
		token:   o.Token,
		hc:      o.HTTPClient,
		timeout: o.Timeout,
		maxBody: o.MaxResponseBytes,
		ua:      o.UserAgent,
	}
	for _, s := range o.Servers {
		u, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		c.servers = append(c.servers, u)
	}
	if strings.ContainsAny(c.token, " \t\r\n") || hasControl(c.token) {
		return nil, errors.New("client: the token contains whitespace or control characters")
	}
	if c.hc == nil {
		c.own = http.DefaultTransport.(*http.Transport).Clone()
		c.hc = &http.Client{Transport: c.own}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.ua == "" {
		c.ua = "failover"
	}
	return c, nil
}

func parseServer(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("client: empty controller URL")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("client: controller URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: controller URL %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: controller URL %q has no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: controller URL %q: only scheme, host and path are allowed", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// Servers returns the controller URLs, in the order given.
func (c *Client) Servers() []string {
	out := make([]string, len(c.servers))
	for i, u := range c.servers {
		out[i] = u.String()
	}
	return out
}

// Close releases the idle connections of the Client's own transport.
func (c *Client) Close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// ServiceList is the answer of GET /api/v1/services.
type ServiceList struct {
	Services []api.Service `json:"services"`
}

// EventList is the answer of GET /api/v1/events.
type EventList struct {
	Events []store.Event `json:"events"`
}

// EventQuery selects events. Zero fields do not filter.
type EventQuery struct {
	Service string
	Since   time.Time
	Limit   int
}

// Services returns every service.
func (c *Client) Services(ctx context.Context) ([]api.Service, error) {
	var l ServiceList
	if err := c.Get(ctx, "/api/v1/services", nil, &l); err != nil {
		return nil, err
	}
	return l.Services, nil
}

// Service returns one service.
func (c *Client) Service(ctx context.Context, name string) (api.Service, error) {
	var s api.Service
	err := c.Get(ctx, "/api/v1/services/"+url.PathEscape(name), nil, &s)
	return s, err
}

// Events returns the events that q selects, oldest first.
func (c *Client) Events(ctx context.Context, q EventQuery) ([]store.Event, error) {
	v := url.Values{}
	if q.Service != "" {
		v.Set("service", q.Service)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var l EventList
	if err := c.Get(ctx, "/api/v1/events", v, &l); err != nil {
		return nil, err
	}
	return l.Events, nil
}

// Drill starts a drill on service and returns the service as it is then.
func (c *Client) Drill(ctx context.Context, service string, req api.OverrideRequest) (api.Service, error) {
	var s api.Service
	err := c.Post(ctx, "/api/v1/services/"+url.PathEscape(service)+"/drill", req, &s)
	return s, err
}

// Pin pins service to a target and returns the service as it is then.
func (c *Client) Pin(ctx context.Context, service string, req api.OverrideRequest) (api.Service, error) {
	var s api.Service
	err := c.Post(ctx, "/api/v1/services/"+url.PathEscape(service)+"/pin", req, &s)
	return s, err
}

// Release ends a drill or pin and returns the service as it is then.
func (c *Client) Release(ctx context.Context, service string) (api.Service, error) {
	var s api.Service
	err := c.Post(ctx, "/api/v1/services/"+url.PathEscape(service)+"/release", struct{}{}, &s)
	return s, err
}

// Plan returns the probe plan of a vantage.
func (c *Client) Plan(ctx context.Context, vantage string) (api.ProbePlan, error) {
	var p api.ProbePlan
	err := c.Get(ctx, "/api/v1/plan", url.Values{"vantage": {vantage}}, &p)
	return p, err
}

// PushResults sends a batch of probe results.
func (c *Client) PushResults(ctx context.Context, b api.ResultsBatch) (api.ResultsAck, error) {
	var ack api.ResultsAck
	err := c.Post(ctx, "/api/v1/results", b, &ack)
	return ack, err
}

// LabFault sets a lab fault.
func (c *Client) LabFault(ctx context.Context, f api.Fault) error {
	return c.Post(ctx, "/api/v1/lab/faults", f, nil)
}

// Get sends a GET to path (with query) and decodes the JSON answer into
// out; a *json.RawMessage receives the body as it is.
func (c *Client) Get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, nil, out)
}

// Post sends in as JSON to path and decodes the JSON answer into out (nil:
// the body is discarded).
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("client: encode request: %w", err)
	}
	return c.do(ctx, http.MethodPost, path, nil, body, out)
}

// do sends the request to the servers in turn, starting with the one that
// answered last, until one answers.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	c.mu.Lock()
	first := c.preferred
	c.mu.Unlock()
	var (
		unreachable []string
		unavailable error
	)
	for k := range c.servers {
		i := (first + k) % len(c.servers)
		err := c.attempt(ctx, c.servers[i], method, path, query, body, out)
		if err == nil || !failOver(err) {
			if err == nil || StatusOf(err) != 0 {
				c.mu.Lock()
				c.preferred = i
				c.mu.Unlock()
			}
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("controller: %w", ctx.Err())
		}
		if StatusOf(err) != 0 {
			if unavailable == nil {
				unavailable = err
			}
			continue
		}
		unreachable = append(unreachable, err.Error())
	}
	if unavailable != nil {
		return unavailable
	}
	return fmt.Errorf("controller: %w: %s", ErrUnreachable, strings.Join(unreachable, "; "))
}

// failOver reports whether err means the server could not be reached, so
// that another may be tried.
func failOver(err error) bool {
	switch StatusOf(err) {
	case 0:
		var te *transportError
		return errors.As(err, &te)
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// transportError is a failure to get an answer from one server.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (c *Client) attempt(ctx context.Context, base *url.URL, method, path string, query url.Values, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *base
	u.Path = base.Path + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &transportError{err}
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode >= 400 {
		return readError(resp)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Error{Status: resp.StatusCode, Message: "unexpected status " + resp.Status}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return &transportError{fmt.Errorf("%s %s: reading the answer: %w", method, u.Redacted(), err)}
	}
	if int64(len(data)) > c.maxBody {
		return fmt.Errorf("controller: %s %s: answer larger than %d bytes", method, path, c.maxBody)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("controller: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// readError turns a 4xx/5xx answer into an *Error.
func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && strings.TrimSpace(e.Error) != "" {
		return &Error{Status: resp.StatusCode, Message: oneLine(e.Error, 0)}
	}
	msg := http.StatusText(resp.StatusCode)
	if msg == "" {
		msg = "status " + strconv.Itoa(resp.StatusCode)
	}
	if s := oneLine(string(data), maxMessage); s != "" {
		msg += ": " + s
	}
	return &Error{Status: resp.StatusCode, Message: msg}
}

// oneLine folds s onto one line and, when max > 0, shortens it to max
// bytes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
