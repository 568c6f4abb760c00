package lab

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The tests use their own loopback addresses and a free port, so that they
// do not collide with a lab running on the machine.
var (
	testAddrs    = map[string]string{Primary: "127.0.110.1", Backup: "127.0.110.2", Origin: "127.0.110.3"}
	testVantages = map[string]string{"lab-a": "127.0.120.1", "lab-b": "127.0.120.2", "lab-c": "127.0.120.3"}
)

// startLab runs a lab with opts (test addresses unless set) until the test
// ends, and checks that Run returns cleanly.
func startLab(t *testing.T, opts Options) *Lab {
	t.Helper()
	if opts.Addrs == nil {
		opts.Addrs = testAddrs
	}
	if opts.Vantages == nil {
		opts.Vantages = testVantages
	}
	if opts.Port == 0 {
		opts.Port = AnyPort
	}
	l, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return 10s after its context ended")
		}
	})
	return l
}

// client returns an HTTP client whose connections come from the vantage's
// source address ("" for 127.0.0.1, not a vantage).
func client(t *testing.T, vantage string, keepAlive bool, timeout time.Duration) *http.Client {
	t.Helper()
	src := "127.0.0.1"
	if vantage != "" {
		src = testVantages[vantage]
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

// get fetches path from target's edge and returns the status, headers and
// body, or the error.
func get(t *testing.T, c *http.Client, l *Lab, target, path string) (int, http.Header, string, error) {
	t.Helper()
	resp, err := c.Get("http://" + l.Addr(target) + path)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, "", err
	}
	return resp.StatusCode, resp.Header, string(b), nil
}

func mustGet(t *testing.T, c *http.Client, l *Lab, target, path string) (int, http.Header, string) {
	t.Helper()
	status, h, body, err := get(t, c, l, target, path)
	if err != nil {
		t.Fatalf("GET %s %s: %v", target, path, err)
	}
	return status, h, body
}

func edgeState(t *testing.T, l *Lab, target string) EdgeState {
	t.Helper()
	for _, st := range l.State() {
		if st.Target == target {
			return st
		}
	}
	t.Fatalf("no state for %s", target)
	return EdgeState{}
}

// fakeClock is a manual clock. In auto mode every After advances the clock
// by its duration and fires at once (a delay costs no real time but shows
// in Now); otherwise After fires when Advance passes its deadline.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	auto    bool
	waiters []fakeWaiter
	delays  []time.Duration
	// registered receives a value for every After in manual mode.
	registered chan time.Duration
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(auto bool) *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), auto: auto, registered: make(chan time.Duration, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delays = append(c.delays, d)
	ch := make(chan time.Time, 1)
	if c.auto {
		c.now = c.now.Add(d)
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.registered <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// Delays returns the durations asked of After so far, and forgets them.
func (c *fakeClock) Delays() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.delays
	c.delays = nil
	return d
}

// awaitWaiters blocks until n more Afters were registered.
func (c *fakeClock) awaitWaiters(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-c.registered:
		case <-time.After(10 * time.Second):
			t.Fatalf("a request did not reach its delay within 10s")
		}
	}
}

// logWatcher is a slog handler that sends every message containing a
// substring to a channel.
type logWatcher struct {
	substr string
	ch     chan string
}

func newLogWatcher(substr string) *logWatcher {
	return &logWatcher{substr: substr, ch: make(chan string, 100)}
}

func (w *logWatcher) logger() *slog.Logger { return slog.New(w) }

func (w *logWatcher) Enabled(context.Context, slog.Level) bool { return true }
func (w *logWatcher) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, w.substr) {
		w.ch <- r.Message
	}
	return nil
}
func (w *logWatcher) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *logWatcher) WithGroup(string) slog.Handler      { return w }

func (w *logWatcher) await(t *testing.T) {
	t.Helper()
	select {
	case <-w.ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no log message containing %q within 10s", w.substr)
	}
}
