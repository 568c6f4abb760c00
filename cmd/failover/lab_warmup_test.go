package main

// The issue 6 proofs in the lab, run as a user would (see lab_e2e_test.go
// for the helpers): a failover lands on a warm backup; with both CDNs down
// the origin is scaled by its before_shift webhook before it takes weight,
// takes it in its steps and never answers 503 to the probes; a webhook that
// never answers holds the shift no longer than the gate's bound, and the
// origin it did not scale then answers 503 under the simulated traffic.
// Like the other lab tests they need the lab's fixed addresses and do not
// run in parallel. Each lab costs a build of the binary, so one lab run
// covers both CDNs going down.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	examples "github.com/failoverhq/failover/config"
	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/client"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/lab"
	"github.com/failoverhq/failover/internal/store"
)

// labTarget returns a target of www in the built-in lab config.
func labTarget(t *testing.T, name string) config.Target {
	t.Helper()
	cfg, _, err := config.Parse(examples.Lab, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cfg.Services {
		if s.Name != "www" {
			continue
		}
		for _, tg := range s.Targets {
			if tg.Name == name {
				return tg
			}
		}
	}
	t.Fatalf("the lab config has no target %s in www", name)
	return config.Target{}
}

// apiClient is a client of the lab's API (GET needs no token: open_read).
func (lp *labProcess) apiClient(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{Servers: []string{"http://" + lp.http}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func www(t *testing.T, c *client.Client) api.Service {
	t.Helper()
	s, err := c.Service(context.Background(), "www")
	if err != nil {
		t.Fatalf("GET www: %v", err)
	}
	return s
}

func wwwEvents(t *testing.T, c *client.Client) []store.Event {
	t.Helper()
	evs, err := c.Events(context.Background(), client.EventQuery{Service: "www", Limit: 1000})
	if err != nil {
		t.Fatalf("GET events: %v", err)
	}
	return evs
}

// edgeState reads GET /lab/state of a lab edge.
func edgeState(t *testing.T, target string) lab.EdgeState {
	t.Helper()
	resp, err := http.Get("http://" + lab.DefaultAddrs[target] + ":" + strconv.Itoa(lab.DefaultPort) + "/lab/state")
	if err != nil {
		t.Fatalf("lab state of %s: %v", target, err)
	}
	defer resp.Body.Close()
	var st lab.EdgeState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("lab state of %s: %v", target, err)
	}
	return st
}

// waitHealthy waits for www to be healthy with all weight on the primary
// in DNS.
func waitHealthy(t *testing.T, c *client.Client) {
	t.Helper()
	if !waitFor(30*time.Second, func() bool {
		s := www(t, c)
		return s.State == "healthy" && s.Routing["primary"] == 100
	}) {
		t.Fatalf("www is not healthy on the primary: %+v", www(t, c))
	}
}

// weightOf returns target's weight in a routing as Routing.Format writes
// it ("primary 50, origin 50"); 0 when absent.
func weightOf(routing, target string) int {
	for part := range strings.SplitSeq(routing, ", ") {
		name, w, ok := strings.Cut(part, " ")
		if ok && name == target {
			n, _ := strconv.Atoi(w)
			return n
		}
	}
	return 0
}

func describeEvents(evs []store.Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Type == store.TypeVantage {
			continue
		}
		fmt.Fprintf(&b, "%s %-8s %s -> %s: %s\n", e.Time.Format("15:04:05.000"), e.Type, e.From, e.To, e.Message)
	}
	return b.String()
}

// firstOriginWeight is the index of the first dns event that gives the
// origin weight (a routing change or a routing applied), -1 if none.
func firstOriginWeight(evs []store.Event) int {
	return slices.IndexFunc(evs, func(e store.Event) bool {
		return e.Type == store.TypeDNS && weightOf(e.To, lab.Origin) > 0
	})
}

// Both CDNs go down, one after the other, as in
// config/scenarios/backup-also-down.yaml.
//
// The primary first: the failover lands on a warm backup. Its hot set (the
// warm-up URLs of lab.yaml), fetched from the backup edge right after the
// shift, is at least 90% HIT although the backup started cold, and the
// warm-up event reports its result.
//
// Then the backup: the scale-origin webhook raises the origin's capacity
// before the origin takes any weight, the weight moves onto it in its
// steps, and under the simulated traffic that follows the weight (three
// times the unscaled capacity at 100%) no probe ever gets a 503 from it.
func TestLabWarmBackupThenScaledOrigin(t *testing.T) {
	hot := labTarget(t, lab.Backup).Warmup.URLs
	if len(hot) == 0 {
		t.Fatal("the lab's backup has no warm-up URLs")
	}
	steps := labTarget(t, lab.Origin).Steps
	if len(steps) < 2 || steps[len(steps)-1] != 100 {
		t.Fatalf("the lab's origin steps are %v, want several ending at 100", steps)
	}
	lp := startLab(t)
	c := lp.apiClient(t)
	waitHealthy(t, c)
	if st := edgeState(t, lab.Backup); st.Cache == nil || st.Cache.Objects != 0 {
		t.Fatalf("the backup does not start cold: %+v", st.Cache)
	}
	if st := edgeState(t, lab.Origin); st.Capacity != lab.DefaultOriginCapacity || st.Load != 0 {
		t.Fatalf("origin before the outage: capacity %d load %d, want %d and 0", st.Capacity, st.Load, lab.DefaultOriginCapacity)
	}

	lp.cli(t, "lab", "fault", "primary", "down")
	if !waitFor(20*time.Second, func() bool { return www(t, c).Routing[lab.Backup] == 100 }) {
		t.Fatalf("no failover to the backup: %+v\n%s", www(t, c), describeEvents(wwwEvents(t, c)))
	}
	checkWarmBackup(t, c, hot)

	lp.cli(t, "lab", "fault", "backup", "down")
	checkScaledOriginRamp(t, c, steps)
}

// checkWarmBackup fetches the hot set from the backup edge, each URL once
// as a client would (a first fetch caches it), and checks the warm-up's
// event.
func checkWarmBackup(t *testing.T, c *client.Client, hot []string) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	hits := 0
	for _, u := range hot {
		resp, err := hc.Get("http://" + lab.DefaultAddrs[lab.Backup] + ":" + strconv.Itoa(lab.DefaultPort) + u)
		if err != nil {
			t.Fatalf("GET %s from the backup: %v", u, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s from the backup: %s", u, resp.Status)
		}
		if resp.Header.Get("X-Cache") == "HIT" {
			hits++
		}
	}
	ratio := float64(hits) / float64(len(hot))
	t.Logf("backup hot set right after the failover: %d of %d HIT (hit ratio %.2f)", hits, len(hot), ratio)
	if ratio < 0.9 {
		t.Errorf("hit ratio %.2f after the failover, want at least 0.90", ratio)
	}

	// The warm-up event reports its result, and it came before the shift.
	evs := wwwEvents(t, c)
	done := slices.IndexFunc(evs, func(e store.Event) bool {
		return e.Type == store.TypeWarmup && e.To == controller.WarmupStatusDone && e.Evidence["target"] == lab.Backup
	})
	if done < 0 {
		t.Fatalf("no warm-up of the backup done:\n%s", describeEvents(evs))
	}
	var res struct {
		URLs           int     `json:"urls"`
		OK             int     `json:"ok"`
		Failed         int     `json:"failed"`
		Hits           int     `json:"hits"`
		Misses         int     `json:"misses"`
		VerifyHitRatio float64 `json:"verify_hit_ratio"`
	}
	b, err := json.Marshal(evs[done].Evidence["result"])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("warm-up result %s: %v", b, err)
	}
	t.Logf("warm-up event: %s", evs[done].Message)
	if res.URLs != len(hot) || res.OK != len(hot) || res.Failed != 0 || res.Misses != len(hot) || res.Hits != 0 {
		t.Errorf("warm-up result %s, want %d URLs fetched OK, all of them a MISS on the cold backup", b, len(hot))
	}
	if res.VerifyHitRatio < 0.9 {
		t.Errorf("the warm-up's verify pass reports a hit ratio of %.2f, want at least 0.90", res.VerifyHitRatio)
	}
	shift := slices.IndexFunc(evs, func(e store.Event) bool { return e.Type == store.TypeDNS && weightOf(e.To, lab.Backup) > 0 })
	if shift < done {
		t.Errorf("the backup got weight (event %d) before its warm-up was done (event %d):\n%s", shift, done, describeEvents(evs))
	}
}

// checkScaledOriginRamp watches the origin's vantages through its ramp and
// a few probe rounds at full weight, then checks the origin edge and the
// order of the events.
func checkScaledOriginRamp(t *testing.T, c *client.Client, steps []int) {
	t.Helper()
	var seen, other []string // 503s the vantages reported; other failures
	full := time.Time{}
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) && (full.IsZero() || time.Since(full) < 2500*time.Millisecond) {
		s := www(t, c)
		for _, tg := range s.Targets {
			if tg.Name != lab.Origin {
				continue
			}
			for v, vv := range tg.Vantages {
				r := fmt.Sprintf("%s %s at %s", v, vv.Class, vv.At.Format("15:04:05.000"))
				switch vv.Class {
				case "http_status":
					seen = append(seen, r)
				case "", "ok":
				default:
					other = append(other, r)
				}
			}
		}
		if full.IsZero() && s.Routing[lab.Origin] == 100 {
			full = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	evs := wwwEvents(t, c)
	if full.IsZero() {
		t.Fatalf("the origin never got all the weight: %+v\n%s", www(t, c), describeEvents(evs))
	}
	if len(seen) > 0 {
		t.Errorf("the origin answered the probes with an HTTP error during the ramp: %q", slices.Compact(seen))
	}
	if len(other) > 0 {
		t.Logf("other probe failures of the origin (not its answers): %q", slices.Compact(other))
	}
	st := edgeState(t, lab.Origin)
	t.Logf("origin at 100%%: capacity %d, simulated load %d, requests %d, rejected %d", st.Capacity, st.Load, st.Requests, st.Rejected)
	if st.Capacity <= lab.DefaultOriginCapacity {
		t.Errorf("origin capacity %d, want it raised above %d by the webhook", st.Capacity, lab.DefaultOriginCapacity)
	}
	if st.Load != labPeakOriginLoad || st.Load <= lab.DefaultOriginCapacity {
		t.Errorf("origin load %d at 100%% of the weight, want %d (above the unscaled capacity %d)", st.Load, labPeakOriginLoad, lab.DefaultOriginCapacity)
	}
	if st.Rejected != 0 {
		t.Errorf("the origin answered %d requests with 503 (over capacity)", st.Rejected)
	}

	// Event order: the webhook ran and succeeded before any dns event gave
	// the origin weight, and the origin's weight took its steps.
	hook := slices.IndexFunc(evs, func(e store.Event) bool {
		return e.Type == store.TypeHook && e.From == "gate" && e.Evidence["hook"] == "scale-origin"
	})
	first := firstOriginWeight(evs)
	if hook < 0 || first < 0 {
		t.Fatalf("hook event %d, first origin weight %d:\n%s", hook, first, describeEvents(evs))
	}
	if evs[hook].To != "ok" {
		t.Errorf("the scale-origin webhook: %s", evs[hook].Message)
	}
	if hook > first {
		t.Errorf("the origin got weight (event %d) before the scale-origin webhook ran (event %d):\n%s", first, hook, describeEvents(evs))
	}
	var applied []int
	for _, e := range evs {
		if e.Type == store.TypeDNS && e.From == "" && strings.HasPrefix(e.Message, "routing applied") {
			if w := weightOf(e.To, lab.Origin); w > 0 && (len(applied) == 0 || applied[len(applied)-1] != w) {
				applied = append(applied, w)
			}
		}
	}
	if !slices.Equal(applied, steps) {
		t.Errorf("the origin's weight in DNS went %v, want its steps %v:\n%s", applied, steps, describeEvents(evs))
	}
	t.Logf("event order:\n%s", describeEvents(evs[hook:]))
}

// hangingServer accepts connections and never answers, until the test ends.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A scale-origin webhook that never answers holds the shift to the origin
// no longer than the gate's bound, and the origin it did not scale answers
// 503 under the traffic that follows its weight: the control case of
// TestLabWarmBackupThenScaledOrigin.
func TestLabHangingWebhookDoesNotHoldTheShift(t *testing.T) {
	hook := hangingServer(t)
	// The webhook's own timeout (retries included) is longer than the
	// gate's bound, so the bound is what lets the shift go.
	path := rewriteConfig(t, "../../config/lab.yaml",
		"url: http://127.0.10.3:18080/lab/scale", "url: http://"+hook+"/lab/scale",
		"timeout: 5s\n    retries: 2", "timeout: 30s\n    retries: 2")
	t.Setenv("FAILOVER_CONFIG", path) // --config of `failover lab`
	lp := startLab(t)
	c := lp.apiClient(t)
	waitHealthy(t, c)

	// The backup first: the primary's failover then goes straight to the
	// origin.
	lp.cli(t, "lab", "fault", "backup", "down")
	lp.cli(t, "lab", "fault", "primary", "down")
	const slack = 2 * time.Second
	if !waitFor(3*time.Second+controller.DefaultGateWait+2*slack, func() bool { return www(t, c).Routing[lab.Origin] > 0 }) {
		t.Fatalf("the origin got no weight: %+v\n%s", www(t, c), describeEvents(wwwEvents(t, c)))
	}
	evs := wwwEvents(t, c)
	first := firstOriginWeight(evs)
	gate := -1 // the failing_over that led to the origin
	for i := range max(first, 0) {
		if evs[i].Type == store.TypeState && evs[i].To == "failing_over" {
			gate = i
		}
	}
	if first < 0 || gate < 0 {
		t.Fatalf("failing_over at event %d, origin weight at %d:\n%s", gate, first, describeEvents(evs))
	}
	held := evs[first].Time.Sub(evs[gate].Time)
	t.Logf("the hanging webhook held the shift to the origin %s (gate bound %s)", held.Round(time.Millisecond), controller.DefaultGateWait)
	if held > controller.DefaultGateWait+slack {
		t.Errorf("the shift waited %s for a webhook that never answers, more than %s + %s", held, controller.DefaultGateWait, slack)
	}
	if held < controller.DefaultGateWait-slack {
		t.Errorf("the shift waited %s: not the gate's bound of %s (did the webhook hang?)", held, controller.DefaultGateWait)
	}
	for _, e := range evs[:first] {
		if e.Type == store.TypeHook && e.To == "ok" {
			t.Fatalf("a hook succeeded before the shift: %s", e.Message)
		}
	}

	// Unscaled, the origin cannot carry its share of the traffic.
	if !waitFor(10*time.Second, func() bool {
		for _, tg := range www(t, c).Targets {
			for _, vv := range tg.Vantages {
				if tg.Name == lab.Origin && vv.Class == "http_status" {
					return true
				}
			}
		}
		return false
	}) {
		t.Fatalf("no probe saw the unscaled origin answer 503: %+v\norigin %+v", www(t, c), edgeState(t, lab.Origin))
	}
	st := edgeState(t, lab.Origin)
	t.Logf("unscaled origin: capacity %d, load %d, rejected %d; the probes see http_status", st.Capacity, st.Load, st.Rejected)
	if st.Capacity != lab.DefaultOriginCapacity || st.Rejected == 0 {
		t.Errorf("origin capacity %d rejected %d, want %d and some", st.Capacity, st.Rejected, lab.DefaultOriginCapacity)
	}
}

// The simulated traffic puts load on the origin edge in proportion to its
// applied weight; an unscaled origin answers 503 under the full load and a
// scaled one does not. An unreadable routing leaves the load as it was.
func TestLabTrafficLoadsTheOrigin(t *testing.T) {
	for w, want := range map[int]int{0: 0, 25: 15, 50: 30, 100: 60} {
		if got := originLoad([]api.Service{{Routing: map[string]int{"primary": 100 - w, lab.Origin: w}}}); got != want {
			t.Errorf("origin weight %d: load %d, want %d", w, got, want)
		}
	}
	l, err := lab.New(lab.Options{Port: lab.AnyPort})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	wg.Go(func() {
		if err := l.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	var weight atomic.Int64
	var broken atomic.Bool
	services := func(context.Context) ([]api.Service, error) {
		if broken.Load() {
			return nil, errors.New("the API is away")
		}
		w := int(weight.Load())
		return []api.Service{{Name: "www", Routing: map[string]int{"backup": 100 - w, lab.Origin: w}}}, nil
	}
	wg.Go(func() { simulateTraffic(ctx, services, l, 10*time.Millisecond, slog.New(slog.DiscardHandler)) })

	healthz := func() int {
		resp, err := http.Get("http://" + l.Addr(lab.Origin) + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	load := func(want int64) {
		t.Helper()
		if !waitFor(5*time.Second, func() bool { return l.State()[2].Load == want }) {
			t.Fatalf("origin load %d, want %d", l.State()[2].Load, want)
		}
	}
	load(0)
	if code := healthz(); code != http.StatusOK {
		t.Fatalf("idle origin: %d", code)
	}
	weight.Store(100)
	load(labPeakOriginLoad)
	if code := healthz(); code != http.StatusServiceUnavailable {
		t.Fatalf("unscaled origin under the full load: %d, want 503", code)
	}
	if err := l.Scale(lab.Origin, 0); err != nil {
		t.Fatal(err)
	}
	if code := healthz(); code != http.StatusOK {
		t.Fatalf("scaled origin under the full load: %d, want 200", code)
	}
	weight.Store(50)
	load(labPeakOriginLoad / 2)
	broken.Store(true)
	weight.Store(0)
	time.Sleep(100 * time.Millisecond) // ten rounds that cannot read the routing
	if got := l.State()[2].Load; got != labPeakOriginLoad/2 {
		t.Fatalf("origin load %d while the routing is unreadable, want it kept at %d", got, labPeakOriginLoad/2)
	}
	broken.Store(false)
	load(0)
}
