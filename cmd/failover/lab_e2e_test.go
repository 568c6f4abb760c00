package main

// The issue 5 proofs, run as a user would: the failover binary runs the lab,
// the real dig asks the built-in DNS server, and faults go in through the
// CLI. These tests need the lab's fixed addresses (127.0.10.1-3:18080), so
// they cannot run beside another lab.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/labtest"
)

// labProcess is a running `failover lab`.
type labProcess struct {
	bin, data, http, dns string
	cmd                  *exec.Cmd
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
}

// The binary is built once for the package's tests; TestMain removes it.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "failover-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "failover")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install %s); make test installs it", name, pkg)
		}
		t.Skipf("%s is missing: apt-get install %s", name, pkg)
	}
	return p
}

func startLab(t *testing.T) *labProcess {
	t.Helper()
	if testing.Short() {
		t.Skip("the lab runs in real time")
	}
	labtest.Lock(t, 8*time.Minute) // one lab at a time, across test binaries
	for _, addr := range []string{"127.0.10.1:18080", "127.0.10.2:18080", "127.0.10.3:18080"} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("%s is taken: another lab is running", addr)
		}
	}
	lp := &labProcess{bin: buildBinary(t), data: t.TempDir(), http: freePort(t, "tcp"), dns: freePort(t, "udp")}
	ctx, cancel := context.WithCancel(context.Background())
	lp.cmd = exec.CommandContext(ctx, lp.bin, "lab", "--data", lp.data, "--http", lp.http, "--dns", lp.dns)
	lp.cmd.Cancel = func() error { return lp.cmd.Process.Signal(os.Interrupt) }
	lp.cmd.WaitDelay = 15 * time.Second
	logf, err := os.Create(filepath.Join(t.TempDir(), "lab.log"))
	if err != nil {
		t.Fatal(err)
	}
	lp.cmd.Stderr = logf
	stdout, err := lp.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		err := lp.cmd.Wait()
		logf.Close()
		if t.Failed() || (err != nil && !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "interrupt")) {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("lab exit: %v\nlab log (tail):\n%s", err, b)
		}
	})
	banner := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "try:") {
				banner <- b.String()
			}
		}
	}()
	select {
	case s := <-banner:
		for _, want := range []string{"dashboard  http://" + lp.http + "/", "dns        " + lp.dns, "token      " + filepath.Join(lp.data, "operator.token")} {
			if !strings.Contains(s, want) {
				t.Errorf("banner lacks %q:\n%s", want, s)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the lab printed no banner within 30s")
	}
	return lp
}

// dig asks the lab's DNS server for www.lab.test with the real dig.
func (lp *labProcess) dig(t *testing.T) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(lp.dns)
	out, err := exec.Command("dig", "@"+host, "-p", port, "www.lab.test", "A", "+short", "+time=1", "+tries=1").Output()
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(string(out))
}

// waitFor polls cond every 100ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

func (lp *labProcess) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(lp.bin, args...)
	cmd.Env = append(os.Environ(), "FAILOVER_SERVER=http://"+lp.http, "FAILOVER_TOKEN_FILE="+filepath.Join(lp.data, "operator.token"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("failover %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// state is www's state, read through `failover status -o json`.
func (lp *labProcess) state(t *testing.T) string {
	t.Helper()
	var body struct {
		Services []struct{ Name, State string }
	}
	out := lp.cli(t, "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &body); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	for _, s := range body.Services {
		if s.Name == "www" {
			return s.State
		}
	}
	return ""
}

type labEvent struct {
	Type, From, To, Message string
}

func (lp *labProcess) events(t *testing.T) []labEvent {
	t.Helper()
	resp, err := http.Get("http://" + lp.http + "/api/v1/events?service=www&limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Events []labEvent }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Events
}

func dnsEvents(evs []labEvent) []labEvent {
	var out []labEvent
	for _, e := range evs {
		if e.Type == "dns" {
			out = append(out, e)
		}
	}
	return out
}

func TestLabFailoverAndBack(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	lp := startLab(t)
	if !waitFor(20*time.Second, func() bool { return lp.dig(t) == "127.0.10.1" }) {
		t.Fatalf("dig www.lab.test: %q, want 127.0.10.1", lp.dig(t))
	}

	// All vantages see the primary down: the answer moves to the backup
	// within fall × interval + warm-up max_wait + 1 s.
	start := time.Now()
	lp.cli(t, "lab", "fault", "primary", "down")
	const bound = 3*time.Second + 3*time.Second + time.Second
	if !waitFor(bound+5*time.Second, func() bool { return lp.dig(t) == "127.0.10.2" }) {
		t.Fatalf("after the fault, dig says %q, want 127.0.10.2\nevents: %+v", lp.dig(t), lp.events(t))
	}
	took := time.Since(start)
	t.Logf("fault to answer 127.0.10.2: %s (bound %s)", took.Round(10*time.Millisecond), bound)
	if took > bound {
		t.Errorf("failover took %s, more than %s", took, bound)
	}

	// Clear the fault: the ramp returns to the primary step by step.
	lp.cli(t, "lab", "fault", "primary", "ok")
	if !waitFor(60*time.Second, func() bool { return lp.state(t) == "healthy" && lp.dig(t) == "127.0.10.1" }) {
		t.Fatalf("no return to healthy on the primary; status:\n%s", lp.cli(t, "status"))
	}
	var steps []string
	for _, e := range dnsEvents(lp.events(t)) {
		steps = append(steps, e.Message)
	}
	joined := strings.Join(steps, "\n")
	for _, want := range []string{"primary 25", "primary 50", "primary 100"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the dns events lack the step %q:\n%s", want, joined)
		}
	}
}

func TestLabOneVantageFaultMovesNothing(t *testing.T) {
	needTool(t, "dig", "bind9-dnsutils")
	lp := startLab(t)
	if !waitFor(20*time.Second, func() bool { return lp.dig(t) == "127.0.10.1" }) {
		t.Fatalf("dig www.lab.test: %q, want 127.0.10.1", lp.dig(t))
	}
	before := len(dnsEvents(lp.events(t)))
	lp.cli(t, "lab", "fault", "primary", "down", "--vantage", "lab-a")
	// For 30 s the answer stays on the primary and no DNS change is made.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got := lp.dig(t); got != "127.0.10.1" {
			t.Fatalf("dig says %q during a one-vantage fault", got)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if after := dnsEvents(lp.events(t)); len(after) != before {
		t.Fatalf("DNS changed during a one-vantage fault: %+v", after[before:])
	}
	if !strings.Contains(lp.cli(t, "status"), "www") {
		t.Fatal("status does not show www")
	}
}
