package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultsAreTheContractsLab(t *testing.T) {
	want := map[string]string{Primary: "127.0.10.1", Backup: "127.0.10.2", Origin: "127.0.10.3"}
	if diff := cmp.Diff(want, DefaultAddrs); diff != "" {
		t.Errorf("DefaultAddrs (-contract +got):\n%s", diff)
	}
	wantV := map[string]string{"lab-a": "127.0.20.1", "lab-b": "127.0.20.2", "lab-c": "127.0.20.3"}
	if diff := cmp.Diff(wantV, DefaultVantages); diff != "" {
		t.Errorf("DefaultVantages (-contract +got):\n%s", diff)
	}
	if DefaultPort != 18080 {
		t.Errorf("DefaultPort = %d", DefaultPort)
	}
	// Slow must be above the lab's max_latency (250ms) and below its probe
	// timeout (500ms) to be classified slow.
	if DefaultSlowLatency <= 250*time.Millisecond || DefaultSlowLatency >= 500*time.Millisecond {
		t.Errorf("DefaultSlowLatency = %s, want in (250ms, 500ms)", DefaultSlowLatency)
	}
}

func TestEdgesServeHealthzAndCatalogue(t *testing.T) {
	l := startLab(t, Options{Clock: newFakeClock(true), Catalogue: 100, ObjectSize: 3000})
	c := client(t, "", false, 5*time.Second)
	for _, target := range l.Targets() {
		status, h, body := mustGet(t, c, l, target, "/healthz")
		if status != 200 || body != "ok\n" || h.Get("X-Served-By") != target {
			t.Errorf("%s /healthz = %d %q served by %q", target, status, body, h.Get("X-Served-By"))
		}
		status, _, body = mustGet(t, c, l, target, "/assets/42")
		if status != 200 || len(body) != 3000 || !strings.HasPrefix(body, "asset 42\n") {
			t.Errorf("%s /assets/42 = %d, %d bytes starting %q", target, status, len(body), body[:min(len(body), 12)])
		}
		if _, _, again := mustGet(t, c, l, target, "/assets/42"); again != body {
			t.Errorf("%s: /assets/42 differs between fetches", target)
		}
		if _, _, other := mustGet(t, c, l, target, "/assets/43"); other == body {
			t.Errorf("%s: /assets/43 has the body of /assets/42", target)
		}
		for _, path := range []string{"/assets/100", "/assets/-1", "/assets/x", "/assets/07", "/assets/", "/nope"} {
			if status, _, _ := mustGet(t, c, l, target, path); status != http.StatusNotFound {
				t.Errorf("%s %s = %d, want 404", target, path, status)
			}
		}
		resp, err := c.Post("http://"+l.Addr(target)+"/healthz", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s POST /healthz = %d, want 405", target, resp.StatusCode)
		}
	}
	// All edges share one port on distinct addresses.
	for _, target := range l.Targets() {
		host, port, _ := net.SplitHostPort(l.Addr(target))
		if host != testAddrs[target] || port != fmt.Sprint(l.Port()) {
			t.Errorf("Addr(%s) = %s", target, l.Addr(target))
		}
	}
}

func TestCacheMissThenHitAndColdBackup(t *testing.T) {
	clk := newFakeClock(true)
	l := startLab(t, Options{Clock: clk, OriginLatency: 20 * time.Millisecond})
	c := client(t, "lab-a", true, 5*time.Second)
	clk.Delays()

	// The backup is cold: a MISS that costs the origin latency.
	_, h, _ := mustGet(t, c, l, Backup, "/assets/7")
	if h.Get("X-Cache") != "MISS" || h.Get("Age") != "" {
		t.Errorf("first fetch: X-Cache %q Age %q, want MISS without Age", h.Get("X-Cache"), h.Get("Age"))
	}
	if diff := cmp.Diff([]time.Duration{20 * time.Millisecond}, clk.Delays()); diff != "" {
		t.Errorf("MISS delays (-want +got):\n%s", diff)
	}
	clk.Advance(7 * time.Second)
	_, h, _ = mustGet(t, c, l, Backup, "/assets/7")
	if h.Get("X-Cache") != "HIT" || h.Get("Age") != "7" {
		t.Errorf("second fetch: X-Cache %q Age %q, want HIT, 7", h.Get("X-Cache"), h.Get("Age"))
	}
	if d := clk.Delays(); len(d) != 0 {
		t.Errorf("a HIT waited %v", d)
	}
	// Each CDN edge has its own cache: the primary is cold for this object
	// too; the origin does not cache.
	if _, h, _ = mustGet(t, c, l, Primary, "/assets/7"); h.Get("X-Cache") != "MISS" {
		t.Errorf("primary first fetch: X-Cache %q", h.Get("X-Cache"))
	}
	for range 2 {
		if _, h, _ = mustGet(t, c, l, Origin, "/assets/7"); h.Get("X-Cache") != "" {
			t.Errorf("origin: X-Cache %q", h.Get("X-Cache"))
		}
	}
	if diff := cmp.Diff([]time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}, clk.Delays()); diff != "" {
		t.Errorf("primary MISS and origin delays (-want +got):\n%s", diff)
	}
	st := edgeState(t, l, Backup)
	if st.Cache == nil || *st.Cache != (CacheStats{Hits: 1, Misses: 1, Objects: 1}) {
		t.Errorf("backup cache = %+v", st.Cache)
	}
	if edgeState(t, l, Origin).Cache != nil {
		t.Error("the origin reports a cache")
	}
	// Purge makes it cold again.
	if err := l.Purge(Backup); err != nil {
		t.Fatal(err)
	}
	if _, h, _ = mustGet(t, c, l, Backup, "/assets/7"); h.Get("X-Cache") != "MISS" {
		t.Errorf("after Purge: X-Cache %q, want MISS", h.Get("X-Cache"))
	}
}

// outcome classifies what a vantage sees.
func outcome(status int, err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return fmt.Sprint(status)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "other: " + err.Error()
	}
}

func TestFaultModes(t *testing.T) {
	const slow = 250 * time.Millisecond
	l := startLab(t, Options{SlowLatency: slow})
	tests := []struct {
		mode     string
		vantages []string
		// what lab-a, lab-b and a non-vantage source see
		wantA, wantB, wantOther string
		listening               bool
	}{
		{ModeDown, nil, "refused", "refused", "refused", false},
		{ModeDown, []string{"lab-a"}, "reset", "200", "200", true},
		{ModeDown, []string{"lab-a", "lab-b"}, "reset", "reset", "200", true},
		{ModeTimeout, nil, "timeout", "timeout", "timeout", true},
		{ModeTimeout, []string{"lab-a"}, "timeout", "200", "200", true},
		{ModeError, nil, "503", "503", "503", true},
		{ModeError, []string{"lab-a"}, "503", "200", "200", true},
		{ModeSlow, nil, "slow", "slow", "slow", true},
		{ModeSlow, []string{"lab-a"}, "slow", "200", "200", true},
		{ModeOK, nil, "200", "200", "200", true},
	}
	for _, tt := range tests {
		for _, target := range []string{Primary, Origin} {
			t.Run(fmt.Sprintf("%s/%s/%v", target, tt.mode, tt.vantages), func(t *testing.T) {
				if err := l.SetFault(target, tt.mode, tt.vantages); err != nil {
					t.Fatal(err)
				}
				if st := edgeState(t, l, target); st.Listening != tt.listening {
					t.Errorf("listening = %v, want %v", st.Listening, tt.listening)
				}
				// The three sources ask at the same time.
				type seen struct{ who, got, want string }
				results := make(chan seen, 3)
				for who, want := range map[string]string{"lab-a": tt.wantA, "lab-b": tt.wantB, "": tt.wantOther} {
					c := client(t, who, false, 6*slow)
					go func() {
						start := time.Now()
						status, h, _, err := get(t, c, l, target, "/healthz")
						got := outcome(status, err)
						if got == "200" && h.Get("X-Lab-Fault") == ModeSlow {
							got = "slow"
							if took := time.Since(start); took < slow {
								got = fmt.Sprintf("slow after only %s", took)
							}
						}
						results <- seen{who, got, want}
					}()
				}
				for range 3 {
					if r := <-results; r.got != r.want {
						t.Errorf("from %q: %s, want %s", r.who, r.got, r.want)
					}
				}
				// Clearing restores every source.
				if err := l.SetFault(target, ModeOK, nil); err != nil {
					t.Fatal(err)
				}
				for _, who := range []string{"lab-a", "lab-b", ""} {
					if status, _, _, err := get(t, client(t, who, false, 5*time.Second), l, target, "/healthz"); err != nil || status != 200 {
						t.Errorf("after clearing, from %q: %d, %v", who, status, err)
					}
				}
			})
		}
	}
}

func TestDownResetsOpenConnections(t *testing.T) {
	l := startLab(t, Options{})
	a := client(t, "lab-a", true, 5*time.Second)
	b := client(t, "lab-b", true, 5*time.Second)
	for _, c := range []*http.Client{a, b} {
		mustGet(t, c, l, Primary, "/healthz") // leaves an idle keep-alive connection
	}
	if err := l.SetFault(Primary, ModeDown, []string{"lab-a"}); err != nil {
		t.Fatal(err)
	}
	if status, _, _, err := get(t, a, l, Primary, "/healthz"); outcome(status, err) != "reset" {
		t.Errorf("lab-a on its old connection: %s, want reset", outcome(status, err))
	}
	if status, _, _ := mustGet(t, b, l, Primary, "/healthz"); status != 200 {
		t.Errorf("lab-b: %d", status)
	}
	// Down for everyone closes the listener and the open connections.
	if err := l.SetFault(Primary, ModeDown, nil); err != nil {
		t.Fatal(err)
	}
	if status, _, _, err := get(t, b, l, Primary, "/healthz"); err == nil {
		t.Errorf("lab-b after down for all: %d", status)
	}
	if status, _, _, err := get(t, b, l, Primary, "/healthz"); outcome(status, err) != "refused" {
		t.Errorf("lab-b reconnecting: %s, want refused", outcome(status, err))
	}
}

func TestDownWithAVantageSpared(t *testing.T) {
	l := startLab(t, Options{})
	if err := l.SetFault(Backup, ModeDown, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.SetFault(Backup, ModeOK, []string{"lab-c"}); err != nil {
		t.Fatal(err)
	}
	want := []Fault{
		{Target: Backup, Mode: ModeDown},
		{Target: Backup, Mode: ModeOK, Vantages: []string{"lab-c"}},
	}
	if diff := cmp.Diff(want, l.Faults(), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Since" }, cmp.Ignore())); diff != "" {
		t.Errorf("Faults (-want +got):\n%s", diff)
	}
	for who, want := range map[string]string{"lab-a": "reset", "lab-c": "200", "": "reset"} {
		status, _, _, err := get(t, client(t, who, false, 5*time.Second), l, Backup, "/healthz")
		if got := outcome(status, err); got != want {
			t.Errorf("from %q: %s, want %s", who, got, want)
		}
	}
	st := edgeState(t, l, Backup)
	if !st.Listening || st.Fault.Mode != ModeDown || st.Fault.Vantages["lab-c"] != ModeOK {
		t.Errorf("state = %+v", st)
	}
	// Setting lab-c down too makes it down for all: the listener closes.
	if err := l.SetFault(Backup, ModeDown, []string{"lab-c"}); err != nil {
		t.Fatal(err)
	}
	if status, _, _, err := get(t, client(t, "lab-c", false, 5*time.Second), l, Backup, "/healthz"); outcome(status, err) != "refused" {
		t.Errorf("lab-c: %s, want refused", outcome(status, err))
	}
}

func TestFaultsListing(t *testing.T) {
	l := startLab(t, Options{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.SetFault(Primary, ModeError, []string{"lab-b", "lab-a"}))
	must(l.SetFault(Primary, ModeSlow, []string{"lab-c"}))
	must(l.SetFault(Origin, ModeFlap, nil))
	want := []Fault{
		{Target: Primary, Mode: ModeError, Vantages: []string{"lab-a", "lab-b"}},
		{Target: Primary, Mode: ModeSlow, Vantages: []string{"lab-c"}},
		{Target: Origin, Mode: ModeFlap},
	}
	ignoreSince := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Since" }, cmp.Ignore())
	if diff := cmp.Diff(want, l.Faults(), ignoreSince); diff != "" {
		t.Errorf("Faults (-want +got):\n%s", diff)
	}
	// ok for one vantage removes it; ok for all clears the target.
	must(l.SetFault(Primary, ModeOK, []string{"lab-b"}))
	must(l.SetFault(Origin, ModeOK, nil))
	want = []Fault{
		{Target: Primary, Mode: ModeError, Vantages: []string{"lab-a"}},
		{Target: Primary, Mode: ModeSlow, Vantages: []string{"lab-c"}},
	}
	if diff := cmp.Diff(want, l.Faults(), ignoreSince); diff != "" {
		t.Errorf("Faults after clearing (-want +got):\n%s", diff)
	}
	must(l.SetFault(Primary, ModeOK, nil))
	if f := l.Faults(); len(f) != 0 {
		t.Errorf("Faults after clearing all = %+v", f)
	}
}

func TestSetFaultValidation(t *testing.T) {
	l := startLab(t, Options{})
	tests := []struct {
		target, mode string
		vantages     []string
		want         error
		msg          string
	}{
		{"cdn", ModeDown, nil, ErrUnknownTarget, `unknown target "cdn" (targets: [primary backup origin])`},
		{Primary, "broken", nil, ErrUnknownMode, `unknown fault mode "broken" (modes: [ok down timeout error slow flap])`},
		{Primary, ModeDown, []string{"lab-a", "lab-z"}, ErrUnknownVantage, `unknown vantage "lab-z" (vantages: [lab-a lab-b lab-c])`},
	}
	for _, tt := range tests {
		err := l.SetFault(tt.target, tt.mode, tt.vantages)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("SetFault(%q, %q, %v) = %v, want %v with %q", tt.target, tt.mode, tt.vantages, err, tt.want, tt.msg)
		}
	}
	if f := l.Faults(); len(f) != 0 {
		t.Errorf("rejected SetFaults changed the faults: %+v", f)
	}
	if err := l.Scale("nope", 1); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("Scale: %v", err)
	}
	if err := l.SetLoad(Origin, -1); !errors.Is(err, ErrBadValue) {
		t.Errorf("SetLoad(-1): %v", err)
	}
}

func TestFlapAlternatesEachSecond(t *testing.T) {
	clk := newFakeClock(true)
	l := startLab(t, Options{Clock: clk})
	if err := l.SetFault(Primary, ModeFlap, []string{"lab-a"}); err != nil {
		t.Fatal(err)
	}
	a, b := client(t, "lab-a", true, 5*time.Second), client(t, "lab-b", true, 5*time.Second)
	var gotA, gotB []int
	for range 6 {
		s, _, _ := mustGet(t, a, l, Primary, "/healthz")
		gotA = append(gotA, s)
		s, _, _ = mustGet(t, b, l, Primary, "/healthz")
		gotB = append(gotB, s)
		clk.Advance(500 * time.Millisecond)
	}
	if diff := cmp.Diff([]int{503, 503, 200, 200, 503, 503}, gotA); diff != "" {
		t.Errorf("lab-a every 500ms (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{200, 200, 200, 200, 200, 200}, gotB); diff != "" {
		t.Errorf("lab-b (-want +got):\n%s", diff)
	}
}

func TestOriginCapacity(t *testing.T) {
	clk := newFakeClock(false)
	l := startLab(t, Options{Clock: clk, OriginCapacity: 3, OriginLatency: 20 * time.Millisecond})
	c := client(t, "lab-a", false, 10*time.Second)
	type result struct {
		status int
		err    error
	}
	results := make(chan result, 3)
	for i := range 3 {
		go func() {
			status, _, _, err := get(t, c, l, Origin, fmt.Sprintf("/assets/%d", i))
			results <- result{status, err}
		}()
	}
	clk.awaitWaiters(t, 3) // three requests are in flight, waiting on the origin latency
	status, h, _ := mustGet(t, c, l, Origin, "/healthz")
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" {
		t.Errorf("fourth concurrent request: %d (Retry-After %q), want 503", status, h.Get("Retry-After"))
	}
	st := edgeState(t, l, Origin)
	if st.InFlight != 3 || st.Rejected != 1 || st.Capacity != 3 {
		t.Errorf("state with three in flight: %+v", st)
	}
	// CDN edges have no capacity limit.
	if s, _, _ := mustGet(t, c, l, Primary, "/healthz"); s != 200 {
		t.Errorf("primary: %d", s)
	}
	clk.Advance(20 * time.Millisecond)
	for range 3 {
		if r := <-results; r.err != nil || r.status != 200 {
			t.Errorf("in-flight request: %d, %v", r.status, r.err)
		}
	}
	if s, _, _ := mustGet(t, c, l, Origin, "/healthz"); s != 200 {
		t.Errorf("after they finished: %d", s)
	}
	// Simulated load occupies the capacity the same way.
	if err := l.SetLoad(Origin, 3); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := mustGet(t, c, l, Origin, "/healthz"); s != http.StatusServiceUnavailable {
		t.Errorf("with load 3 of 3: %d, want 503", s)
	}
	if err := l.Scale(Origin, 0); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := mustGet(t, c, l, Origin, "/healthz"); s != 200 {
		t.Errorf("with load 3 of 30 after Scale: %d, want 200", s)
	}
	if got := edgeState(t, l, Origin).Capacity; got != 30 {
		t.Errorf("capacity after Scale = %d, want 30", got)
	}
}

func TestStateEndpoint(t *testing.T) {
	l := startLab(t, Options{Clock: newFakeClock(true)})
	if err := l.SetFault(Origin, ModeError, []string{"lab-b"}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLoad(Origin, 2); err != nil {
		t.Fatal(err)
	}
	c := client(t, "", false, 5*time.Second)
	mustGet(t, c, l, Backup, "/assets/1")
	for _, target := range l.Targets() {
		status, h, body := mustGet(t, c, l, target, "/lab/state")
		if status != 200 || h.Get("Content-Type") != "application/json" {
			t.Fatalf("%s /lab/state: %d %s", target, status, h.Get("Content-Type"))
		}
		var got EdgeState
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(edgeState(t, l, target), got); diff != "" {
			t.Errorf("%s /lab/state (-State() +endpoint):\n%s", target, diff)
		}
	}
	var raw map[string]any
	_, _, body := mustGet(t, c, l, Origin, "/lab/state")
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"mode": "ok", "vantages": map[string]any{"lab-b": "error"}}
	if diff := cmp.Diff(want, raw["fault"]); diff != "" {
		t.Errorf("origin fault JSON (-want +got):\n%s", diff)
	}
	if raw["capacity"] != float64(DefaultOriginCapacity) || raw["load"] != float64(2) {
		t.Errorf("origin state JSON: %s", body)
	}
	// The control paths are not faulted (except by down).
	if err := l.SetFault(Origin, ModeError, nil); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := mustGet(t, c, l, Origin, "/lab/state"); status != 200 {
		t.Errorf("/lab/state under an error fault: %d", status)
	}
}

func TestRunLifecycle(t *testing.T) {
	l, err := New(Options{Addrs: testAddrs, Vantages: testVantages, Port: AnyPort})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	// A request held by a timeout fault must not keep Run from returning.
	if err := l.SetFault(Primary, ModeTimeout, nil); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	c := client(t, "", false, 0)
	go func() {
		_, _, _, err := get(t, c, l, Primary, "/healthz")
		held <- err
	}()
	for edgeState(t, l, Primary).Faulted == 0 {
		select {
		case err := <-held:
			t.Fatalf("the held request ended early: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if err := <-held; err == nil {
		t.Error("the held request got an answer")
	}
	if err := l.Run(context.Background()); err == nil {
		t.Error("a second Run did not fail")
	}
	// Everything is released: the addresses bind again.
	for _, target := range l.Targets() {
		ln, err := net.Listen("tcp", l.Addr(target))
		if err != nil {
			t.Errorf("%s still bound after Run: %v", target, err)
			continue
		}
		ln.Close()
	}
	if st := edgeState(t, l, Primary); st.Listening {
		t.Error("State says listening after Run")
	}
}

func TestCloseWithoutRun(t *testing.T) {
	l, err := New(Options{Addrs: testAddrs, Vantages: testVantages, Port: AnyPort})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", l.Addr(Origin))
	if err != nil {
		t.Fatalf("address still bound after Close: %v", err)
	}
	ln.Close()
	if err := l.Run(context.Background()); err == nil {
		t.Error("Run after Close did not fail")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.110.9:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"bad address", Options{Addrs: map[string]string{Primary: "localhost"}}, `primary: address "localhost"`},
		{"shared address", Options{Addrs: map[string]string{Primary: "127.0.110.1", Backup: "127.0.110.1", Origin: "127.0.110.3"}}, "primary and backup share the address 127.0.110.1"},
		{"unknown target", Options{Addrs: map[string]string{"edge": "127.0.110.4"}}, `unknown target "edge"`},
		{"bad vantage name", Options{Vantages: map[string]string{"Lab A": "127.0.120.1"}}, `vantage name "Lab A" is not valid`},
		{"bad vantage address", Options{Vantages: map[string]string{"lab-a": "x"}}, `vantage lab-a: address "x"`},
		{"shared vantage address", Options{Vantages: map[string]string{"lab-a": "127.0.120.1", "lab-b": "127.0.120.1"}}, "share the address 127.0.120.1"},
		{"bad port", Options{Port: 70000}, "port 70000 out of range"},
		{"negative capacity", Options{OriginCapacity: -1}, "origin capacity -1 is negative"},
		{"negative scale delay", Options{ScaleDelay: -time.Second}, "scale delay -1s is negative"},
		{"bad webhook secret", Options{WebhookSecret: "whsec_!!"}, "webhook secret: webhook: bad secret"},
		{"port in use", Options{Addrs: map[string]string{Primary: "127.0.110.7", Backup: "127.0.110.8", Origin: "127.0.110.9"}, Port: busyPort}, "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Addrs == nil {
				opts.Addrs = testAddrs
			}
			if opts.Port == 0 {
				opts.Port = AnyPort
			}
			l, err := New(opts)
			if err == nil {
				l.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// rawConn connects to target's edge from a vantage's address.
func rawConn(t *testing.T, l *Lab, vantage, target string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(testVantages[vantage])}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", l.Addr(target))
	if err != nil {
		t.Fatalf("dial from %s: %v", vantage, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDownResetsAtAccept: a connection from a vantage that is down is reset
// as soon as it is accepted, before any request, and an idle connection
// opened before the fault is reset when the fault is set.
func TestDownResetsAtAcceptAndIdle(t *testing.T) {
	l := startLab(t, Options{})
	idle := rawConn(t, l, "lab-a", Primary)
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("before the fault: %v %v", resp, err)
	}
	resp.Body.Close()

	if err := l.SetFault(Primary, ModeDown, []string{"lab-a"}); err != nil {
		t.Fatal(err)
	}
	readOutcome := func(c net.Conn) string {
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		_, err := c.Read(make([]byte, 1))
		return outcome(0, err)
	}
	if got := readOutcome(idle); got != "reset" {
		t.Errorf("idle connection from lab-a: %s, want reset", got)
	}
	// A new connection is reset as soon as it is accepted: the reset may
	// even reach the dialler before its connect returns.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(testVantages["lab-a"])}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", l.Addr(Primary))
	got := outcome(0, err)
	if err == nil {
		got = readOutcome(c)
		c.Close()
	}
	if got != "reset" {
		t.Errorf("new connection from lab-a without a request: %s, want reset", got)
	}
	// lab-b's raw connection is untouched: it waits for a request.
	other := rawConn(t, l, "lab-b", Primary)
	if err := other.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Read(make([]byte, 1)); outcome(0, err) != "timeout" {
		t.Errorf("lab-b raw connection: %v, want it left open", err)
	}
}
