package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/store"
)

// frame is one server-sent event as it came over the wire: its fields, and
// the comment lines before it.
type frame struct {
	Event, ID, Data, Retry, Comment string
}

// sseClient reads a stream's frames in the background.
type sseClient struct {
	resp   *http.Response
	frames chan frame
	cancel context.CancelFunc
}

// openStream opens GET /api/v1/stream with the given headers (and token)
// and fails unless it answers 200 with an event stream.
func openStream(t *testing.T, ts *httptest.Server, path, token string, header http.Header) *sseClient {
	t.Helper()
	resp, cancel := get(t, ts, path, token, header)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("stream Cache-Control %q", cc)
	}
	c := &sseClient{resp: resp, frames: make(chan frame, 100), cancel: cancel}
	go c.read()
	t.Cleanup(c.close)
	return c
}

// newServer serves h on 127.0.0.1 until the test ends; registered before
// the streams' cleanups, it closes after them.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, ts *httptest.Server, path, token string, header http.Header) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, "GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		r.Header[k] = vs
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.Client().Do(r)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return resp, cancel
}

func (c *sseClient) read() {
	defer close(c.frames)
	sc := bufio.NewScanner(c.resp.Body)
	var f frame
	var any bool
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if any {
				c.frames <- f
			}
			f, any = frame{}, false
			continue
		}
		any = true
		field, val, _ := strings.Cut(line, ":")
		val = strings.TrimPrefix(val, " ")
		switch field {
		case "":
			f.Comment = val
		case "event":
			f.Event = val
		case "id":
			f.ID = val
		case "data":
			f.Data = val
		case "retry":
			f.Retry = val
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
	for range c.frames { // drain until the reader is done
	}
}

// next returns the next frame that is not a heartbeat. The timeout only
// turns a hang into a failure.
func (c *sseClient) next(t *testing.T) frame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatal("the stream ended")
			}
			if f.Comment == "heartbeat" {
				continue
			}
			return f
		case <-timeout:
			t.Fatal("no frame within 10s")
		}
	}
}

// ended waits for the stream to end.
func (c *sseClient) ended(t *testing.T) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return
			}
			if f.Comment != "heartbeat" {
				t.Fatalf("frame %+v, want the end of the stream", f)
			}
		case <-timeout:
			t.Fatal("the stream did not end within 10s")
		}
	}
}

// expectService reads a service frame and returns its Service.
func expectService(t *testing.T, c *sseClient) Service {
	t.Helper()
	f := c.next(t)
	if f.Event != "service" || f.ID != "" {
		t.Fatalf("frame %+v, want a service message without an id", f)
	}
	var s Service
	if err := json.Unmarshal([]byte(f.Data), &s); err != nil {
		t.Fatalf("service data %q: %v", f.Data, err)
	}
	return s
}

// expectEvent reads an event frame and checks that its id is id.
func expectEvent(t *testing.T, c *sseClient, id uint64) store.Event {
	t.Helper()
	f := c.next(t)
	want := store.FormatID(id)
	if f.Event != "event" || f.ID != want {
		t.Fatalf("frame %+v, want event %s", f, want)
	}
	var ev store.Event
	if err := json.Unmarshal([]byte(f.Data), &ev); err != nil {
		t.Fatalf("event data %q: %v", f.Data, err)
	}
	if ev.ID != want {
		t.Fatalf("event data id %q, want %q", ev.ID, want)
	}
	return ev
}

// opened reads the frames a stream opens with: the retry hint and one
// service message per service.
func opened(t *testing.T, c *sseClient) Service {
	t.Helper()
	if f := c.next(t); f.Retry != "3000" {
		t.Fatalf("first frame %+v, want retry: 3000", f)
	}
	return expectService(t, c)
}

func TestStreamServiceAndEvent(t *testing.T) {
	fx := newFixture(t, nil)
	ts := newServer(t, fx.srv.Handler())

	c := openStream(t, ts, "/api/v1/stream", viewerToken, nil)
	if s := opened(t, c); s.Name != "www" || s.Routing["primary"] != 100 {
		t.Fatalf("snapshot %+v", s)
	}

	fx.fake.setService(wwwService(map[string]int{"primary": 0, "backup": 100, "origin": 0}))
	if s := expectService(t, c); s.Routing["backup"] != 100 || s.Routing["primary"] != 0 {
		t.Fatalf("update %+v", s.Routing)
	}
	fx.fake.addEvent(store.Event{Service: "www", Type: store.TypeDNS, From: "primary=100", To: "backup=100", Message: "applied"})
	if ev := expectEvent(t, c, 1); ev.Message != "applied" || ev.Type != "dns" || ev.Evidence == nil {
		t.Fatalf("event %+v", ev)
	}
}

func TestStreamAuth(t *testing.T) {
	fx := newFixture(t, nil)
	ts := newServer(t, fx.srv.Handler())
	for _, tc := range []struct {
		token string
		code  int
	}{{"", 401}, {"nope", 401}, {agentToken, 403}} {
		resp, cancel := get(t, ts, "/api/v1/stream", tc.token, nil)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != tc.code {
			t.Errorf("token %q: %d, want %d", tc.token, resp.StatusCode, tc.code)
		}
	}
	if n := fx.fake.subscribers(); n != 0 {
		t.Errorf("%d subscriptions for refused streams", n)
	}

	open := newFixture(t, func(o *Options) { o.OpenRead = true })
	ts2 := newServer(t, open.srv.Handler())
	c := openStream(t, ts2, "/api/v1/stream", "", nil)
	opened(t, c)
}

func TestStreamResume(t *testing.T) {
	fx := newFixture(t, nil)
	for i := range 5 {
		fx.fake.addEvent(store.Event{Service: "www", Type: store.TypeState, Message: "e" + string(rune('1'+i))})
	}
	ts := newServer(t, fx.srv.Handler())

	t.Run("header", func(t *testing.T) {
		c := openStream(t, ts, "/api/v1/stream", viewerToken, http.Header{"Last-Event-ID": {store.FormatID(2)}})
		opened(t, c)
		for id := uint64(3); id <= 5; id++ {
			expectEvent(t, c, id)
		}
		// A repeat of an event already sent is skipped; the next is not.
		ev4 := fx.fake.events[3]
		fx.fake.publish(StreamMessage{Type: "event", ID: ev4.ID, Data: ev4})
		fx.fake.addEvent(store.Event{Service: "www", Type: store.TypeDNS, Message: "six"})
		if ev := expectEvent(t, c, 6); ev.Message != "six" {
			t.Fatalf("event %+v", ev)
		}
	})
	t.Run("query and unpadded id", func(t *testing.T) {
		c := openStream(t, ts, "/api/v1/stream?last_event_id=5", viewerToken, nil)
		opened(t, c)
		expectEvent(t, c, 6)
	})
	t.Run("paged replay", func(t *testing.T) {
		for range replayPage + 10 {
			fx.fake.mu.Lock()
			id := store.FormatID(uint64(len(fx.fake.events) + 1))
			fx.fake.events = append(fx.fake.events, store.Event{ID: id, Time: t0, Service: "www", Type: store.TypeState})
			fx.fake.mu.Unlock()
		}
		c := openStream(t, ts, "/api/v1/stream", viewerToken, http.Header{"Last-Event-ID": {"6"}})
		opened(t, c)
		for id := uint64(7); id <= uint64(6+replayPage+10); id++ {
			expectEvent(t, c, id)
		}
	})
	t.Run("bad id", func(t *testing.T) {
		resp, cancel := get(t, ts, "/api/v1/stream", viewerToken, http.Header{"Last-Event-ID": {"abc"}})
		defer cancel()
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || strings.TrimSpace(string(b)) != `{"error":"Last-Event-ID: must be an event id, got \"abc\""}` {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
}

func TestStreamHead(t *testing.T) {
	fx := newFixture(t, nil)
	ts := newServer(t, fx.srv.Handler())
	r, err := http.NewRequest("HEAD", ts.URL+"/api/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := ts.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	// Close returns only once the handler has: a HEAD does not stream.
	closed := make(chan struct{})
	go func() { ts.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the HEAD handler is still running")
	}
}

func TestStreamHeartbeat(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.heartbeat = 20 * time.Millisecond
	ts := newServer(t, fx.srv.Handler())
	c := openStream(t, ts, "/api/v1/stream", viewerToken, nil)
	opened(t, c)
	timeout := time.After(10 * time.Second)
	for beats := 0; beats < 2; {
		select {
		case f := <-c.frames:
			if f.Comment != "heartbeat" || f.Event != "" || f.Data != "" {
				t.Fatalf("frame %+v, want a heartbeat comment", f)
			}
			beats++
		case <-timeout:
			t.Fatal("no heartbeats")
		}
	}
}

// TestStreamMessages sends the Backend's message forms: pointers, values,
// an unknown type and an id that would break the framing.
func TestStreamMessages(t *testing.T) {
	fx := newFixture(t, nil)
	ts := newServer(t, fx.srv.Handler())
	c := openStream(t, ts, "/api/v1/stream", viewerToken, nil)
	opened(t, c)

	svc := wwwService(map[string]int{"primary": 50, "backup": 50})
	ev := store.Event{ID: store.FormatID(9), Service: "www", Type: store.TypeHook, Message: "scaled"}
	fx.fake.publish(StreamMessage{Type: "mystery", Data: 1})
	fx.fake.publish(StreamMessage{Type: "service", Data: &svc})
	fx.fake.publish(StreamMessage{Type: "event", Data: &ev})
	fx.fake.publish(StreamMessage{Type: "event", ID: "10\ndata: injected", Data: store.Event{Service: "www", Type: store.TypeHook}})

	if s := expectService(t, c); s.Routing["backup"] != 50 {
		t.Fatalf("service %+v", s)
	}
	if got := expectEvent(t, c, 9); got.Message != "scaled" {
		t.Fatalf("event %+v", got)
	}
	if f := c.next(t); f.Event != "event" || f.ID != "" || strings.Contains(f.Data, "injected") {
		t.Fatalf("frame %+v, want an event without the bad id", f)
	}
	log := fx.log.String()
	if !strings.Contains(log, "unknown type") || !strings.Contains(log, "invalid event id") {
		t.Errorf("log: %s", log)
	}
}

func TestStreamLimit(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.streams = make(chan struct{}, 1)
	ts := newServer(t, fx.srv.Handler())
	c := openStream(t, ts, "/api/v1/stream", viewerToken, nil)
	opened(t, c)
	resp, cancel := get(t, ts, "/api/v1/stream", viewerToken, nil)
	resp.Body.Close()
	cancel()
	if resp.StatusCode != 503 {
		t.Fatalf("second stream: %d, want 503", resp.StatusCode)
	}
	c.close()
	ts.Close() // waits for the first stream's handler to return
	ts2 := newServer(t, fx.srv.Handler())
	opened(t, openStream(t, ts2, "/api/v1/stream", viewerToken, nil))
}

// TestStreamEndsOnCancel checks that a client that leaves ends the stream
// and everything it started, the Backend's subscription included.
func TestStreamEndsOnCancel(t *testing.T) {
	fx := newFixture(t, nil)
	ts := newServer(t, fx.srv.Handler())
	c := openStream(t, ts, "/api/v1/stream", viewerToken, nil)
	opened(t, c)
	if n := fx.fake.subscribers(); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	c.cancel()
	c.ended(t)
	ts.Close() // returns once the handler has
	goleak.VerifyNone(t)
	if n := fx.fake.subscribers(); n != 0 {
		t.Fatalf("%d subscribers after the client left", n)
	}
}

// TestStreamEndsOnClose checks that Server.Close ends open streams (which
// http.Server.Shutdown would wait for) and refuses new ones.
func TestStreamEndsOnClose(t *testing.T) {
	fx := newFixture(t, nil)
	ts := newServer(t, fx.srv.Handler())
	c := openStream(t, ts, "/api/v1/stream", viewerToken, nil)
	opened(t, c)
	fx.srv.Close()
	c.ended(t)
	resp, cancel := get(t, ts, "/api/v1/stream", viewerToken, nil)
	defer cancel()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "shutting down") {
		t.Fatalf("stream after Close: %d %s", resp.StatusCode, b)
	}
	if w := fx.do(t, req{method: "GET", path: "/api/v1/services", token: viewerToken}); w.Code != 200 {
		t.Fatalf("services after Close: %d", w.Code)
	}
}

// TestStreamEndsWithBackend: when the Backend ends the subscription (it is
// stopping), the stream ends too.
func TestStreamEndsWithBackend(t *testing.T) {
	fx := newFixture(t, nil)
	ts := newServer(t, fx.srv.Handler())
	c := openStream(t, ts, "/api/v1/stream", viewerToken, nil)
	opened(t, c)
	fx.fake.endSubscriptions()
	c.ended(t)
}
