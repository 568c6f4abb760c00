package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/api"
)

// syncBuffer is a bytes.Buffer safe for the agent's log goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `failover probe` pulls its plan, probes a local target and pushes the
// results until it is stopped.
func TestProbeCommand(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer target.Close()
	f := newFakeAPI(t)
	f.token = "agent-token"
	f.plan = api.ProbePlan{Vantage: "eu-1", Interval: "20ms", Timeout: "1s", Generation: 1,
		Checks: []api.PlanItem{{Service: "www", Target: "primary", Probe: map[string]any{"url": target.URL + "/healthz"}}}}
	tf := writeToken(t, "agent-token\n")

	var out, errs syncBuffer
	root := newRootCmd(&out, &errs)
	// The first URL is down: the agent moves on to the second.
	root.SetArgs([]string{"probe", "--controller", "http://" + closedAddr(t) + "," + f.URL, "--vantage", "eu-1", "--token-file", tf})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		f.mu.Lock()
		n := 0
		for _, b := range f.got {
			n += len(b.Results)
		}
		f.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no results; log:\n%s", errs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("probe did not stop")
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.got {
		if b.Vantage != "eu-1" {
			t.Errorf("batch from vantage %q", b.Vantage)
		}
		for _, r := range b.Results {
			if r.Service != "www" || r.Target != "primary" || !r.OK || r.Status != 200 {
				t.Errorf("result %+v", r)
			}
		}
	}
	for _, r := range f.reqs {
		if r.auth != "Bearer agent-token" {
			t.Errorf("%s %s with Authorization %q", r.method, r.path, r.auth)
		}
	}
	log := errs.String()
	for _, want := range []string{"probe agent starting", "plan in force", "probe agent stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log+out.String(), "agent-token") {
		t.Error("the token was logged")
	}
}
