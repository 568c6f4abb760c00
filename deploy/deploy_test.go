// Package deploy_test checks what deploy/ ships: the Prometheus rules and
// config with promtool, the Kubernetes manifests and systemd units by their
// content, and the Grafana dashboard against the real thing: the lab runs,
// Debian's Prometheus scrapes it while a failover happens, and every panel's
// query must return data through the Prometheus HTTP API.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/failoverhq/failover/internal/labtest"
)

// metricNames are the metrics of CONTRACT §5.
var metricNames = []string{
	"failover_probe_results_total", "failover_probe_duration_seconds", "failover_target_healthy",
	"failover_route_weight", "failover_service_state", "failover_transitions_total",
	"failover_dns_changes_total", "failover_dns_apply_duration_seconds", "failover_warmup_urls_total",
	"failover_hook_runs_total", "failover_vantage_live", "failover_leader",
	"failover_config_reload_total", "failover_results_dropped_total",
}

// metricRe finds metric names in PromQL and templates. Histogram series
// (_bucket, _sum, _count) count as their histogram.
var metricRe = regexp.MustCompile(`\bfailover_[a-z_]+`)

func baseMetric(name string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok && slices.Contains(metricNames, b) {
			return b
		}
	}
	return name
}

var binDir string // where TestMain builds the failover binary, once

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "failover-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// failoverBin builds ../cmd/failover on first use.
func failoverBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "failover")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/failover").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install %s); make test installs it", name, pkg)
		}
		t.Skipf("%s is missing: apt-get install -y %s (or make deps)", name, pkg)
	}
	return p
}

// run runs a command with a deadline and returns its combined output.
func run(t *testing.T, d time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// ---- Prometheus rules and config ----

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The alerts the issue asks for, at least.
var wantAlerts = []string{
	"FailoverFrozen", "FailoverFailedOver", "FailoverVantageDown", "FailoverVantageImpaired",
	"FailoverDNSApplyErrors", "FailoverConfigReloadErrors", "FailoverResultsDropped", "FailoverHookFailures",
	"FailoverNoLeader",
}

func alertCount(t *testing.T) int {
	var rf ruleFile
	readYAML(t, "prometheus/alerts.yml", &rf)
	n := 0
	for _, g := range rf.Groups {
		n += len(g.Rules)
	}
	return n
}

func TestAlertRules(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	if out, err := run(t, time.Minute, promtool, "check", "rules", "prometheus/alerts.yml"); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// The unit tests fire each alert from synthetic series and compare
	// labels and rendered annotations.
	if out, err := run(t, time.Minute, promtool, "test", "rules", "prometheus/alerts_test.yml"); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	var rf ruleFile
	readYAML(t, "prometheus/alerts.yml", &rf)
	var names []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", r.Alert)
			}
			for _, m := range metricRe.FindAllString(r.Expr, -1) {
				if !slices.Contains(metricNames, baseMetric(m)) {
					t.Errorf("%s: %s is not a metric of CONTRACT §5", r.Alert, m)
				}
			}
		}
	}
	for _, w := range wantAlerts {
		if !slices.Contains(names, w) {
			t.Errorf("alerts.yml lacks %s", w)
		}
	}
}

func TestPrometheusConfig(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	// promtool checks that the files the config names exist: check a copy
	// whose secret files are placeholders in a temp dir.
	dir := t.TempDir()
	cfg, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	const secrets = "/etc/prometheus/secrets/"
	cfg = bytes.ReplaceAll(cfg, []byte(secrets), []byte(filepath.Join(dir, "secrets")+"/"))
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:credentials_file|ca_file|cert_file|key_file):\s*(\S+)`).FindAllSubmatch(cfg, -1) {
		p := string(m[1])
		if !strings.HasPrefix(p, dir) {
			t.Errorf("prometheus.yml names %s, outside %s", p, secrets)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("placeholder\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range map[string][]byte{"prometheus.yml": cfg, "alerts.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := run(t, time.Minute, promtool, "check", "config", filepath.Join(dir, "prometheus.yml"))
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	if !strings.Contains(out, "SUCCESS: 1 rule files found") {
		t.Errorf("the config does not load alerts.yml:\n%s", out)
	}
}

// ---- Grafana dashboard ----

type gTarget struct {
	Expr       string `json:"expr"`
	RefID      string `json:"refId"`
	Instant    bool   `json:"instant"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
}

type gPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []gTarget                `json:"targets"`
	Panels  []gPanel                 `json:"panels"`
}

type dashboard struct {
	Inputs []struct {
		Name, Type, PluginID string
	} `json:"__inputs"`
	Annotations struct {
		List []struct {
			Name string `json:"name"`
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
	Panels        []gPanel `json:"panels"`
	SchemaVersion int      `json:"schemaVersion"`
	UID           string   `json:"uid"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
			Query      any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) (dashboard, []gPanel) {
	t.Helper()
	b, err := os.ReadFile("grafana/failover.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana/failover.json: %v", err)
	}
	var panels []gPanel
	var walk func([]gPanel)
	walk = func(ps []gPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels) // a collapsed row holds its panels
				continue
			}
			panels = append(panels, p)
		}
	}
	walk(d.Panels)
	return d, panels
}

// The panels the issue asks for, by title.
var wantPanels = []string{
	"Routing weights", "Current state", "State history", "Target health", "Probe success ratio by vantage",
	"Probe latency p95", "DNS changes by result", "DNS apply duration", "Hook runs by result",
	"Warm-up URLs by result", "Live vantages", "Transitions", "Config reloads", "Results dropped",
}

func TestGrafanaDashboard(t *testing.T) {
	d, panels := loadDashboard(t)
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs: %+v, want the one datasource input DS_PROMETHEUS", d.Inputs)
	}
	if d.SchemaVersion < 36 || d.UID == "" {
		t.Errorf("schemaVersion %d, uid %q", d.SchemaVersion, d.UID)
	}
	var hasService bool
	for _, v := range d.Templating.List {
		if v.Name == "service" && v.Type == "query" && strings.Contains(v.Definition, "label_values(failover_service_state, service)") {
			hasService = true
		}
	}
	if !hasService {
		t.Error("no template variable service from label_values(failover_service_state, service)")
	}
	ids := map[int]bool{}
	titles := map[string]bool{}
	used := map[string]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		titles[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("%q: datasource %+v, want uid ${DS_PROMETHEUS}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${DS_PROMETHEUS}" || tg.Expr == "" {
				t.Errorf("%q %s: datasource %q, expr %q", p.Title, tg.RefID, tg.Datasource.UID, tg.Expr)
			}
			for _, m := range metricRe.FindAllString(tg.Expr, -1) {
				if !slices.Contains(metricNames, baseMetric(m)) {
					t.Errorf("%q: %s is not a metric of CONTRACT §5", p.Title, m)
				}
				used[baseMetric(m)] = true
			}
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%q: gridPos %+v out of the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if o, ok := taken[cell{x, y}]; ok {
					t.Fatalf("%q overlaps %q", p.Title, o)
				}
				taken[cell{x, y}] = p.Title
			}
		}
	}
	for _, w := range wantPanels {
		if !titles[w] {
			t.Errorf("no panel %q", w)
		}
	}
	for _, m := range metricNames {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// ---- Kubernetes and systemd ----

func TestKubernetesManifests(t *testing.T) {
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, "kubernetes/kustomization.yaml", &kust)
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range kust.Resources {
		if !slices.Contains(files, filepath.Join("kubernetes", r)) {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}
	kinds := map[string]map[string]any{} // kind/name -> object
	var configYAML string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if obj == nil {
				continue
			}
			kind, _ := obj["kind"].(string)
			meta, _ := obj["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			if obj["apiVersion"] == nil || kind == "" || name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
				continue
			}
			kinds[kind+"/"+name] = obj
			if kind == "ConfigMap" && name == "failover-config" {
				data, _ := obj["data"].(map[string]any)
				configYAML, _ = data["config.yaml"].(string)
			}
			if kind == "Deployment" || kind == "DaemonSet" || kind == "StatefulSet" {
				checkPodSpec(t, f+" "+kind+"/"+name, obj)
			}
		}
	}
	for _, want := range []string{"Namespace/failover", "ConfigMap/failover-config", "Deployment/failover",
		"Service/failover", "Deployment/failover-agent", "PersistentVolumeClaim/failover-data", "Secret/failover-tokens"} {
		if kinds[want] == nil {
			t.Errorf("no %s in deploy/kubernetes", want)
		}
	}
	if dep := kinds["Deployment/failover"]; dep != nil {
		spec := dep["spec"].(map[string]any)
		strategy, _ := spec["strategy"].(map[string]any)
		if spec["replicas"] != 1 || strategy["type"] != "Recreate" {
			t.Errorf("the controller Deployment: replicas %v, strategy %v; want 1 and Recreate (election none)", spec["replicas"], strategy)
		}
	}

	// The controller's config validates.
	if configYAML == "" {
		t.Fatal("the ConfigMap failover-config has no config.yaml")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		return // the rest builds the binary
	}
	out, err := run(t, 5*time.Minute, failoverBin(t), "validate", "--config", cfg)
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("failover validate on the ConfigMap's config.yaml: %v\n%s", err, out)
	}
}

// checkPodSpec checks a workload's pod: non-root, read-only root file
// system, no privilege escalation, no capabilities, a memory limit.
func checkPodSpec(t *testing.T, what string, obj map[string]any) {
	t.Helper()
	get := func(m any, keys ...string) any {
		for _, k := range keys {
			mm, ok := m.(map[string]any)
			if !ok {
				return nil
			}
			m = mm[k]
		}
		return m
	}
	pod := get(obj, "spec", "template", "spec")
	if get(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", what)
	}
	if get(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("%s: no RuntimeDefault seccomp profile", what)
	}
	if get(pod, "automountServiceAccountToken") != false {
		t.Errorf("%s: mounts a ServiceAccount token it does not need", what)
	}
	containers, _ := get(pod, "containers").([]any)
	if len(containers) == 0 {
		t.Errorf("%s: no containers", what)
	}
	for _, c := range containers {
		name := get(c, "name")
		if get(c, "securityContext", "readOnlyRootFilesystem") != true ||
			get(c, "securityContext", "allowPrivilegeEscalation") != false {
			t.Errorf("%s container %v: want readOnlyRootFilesystem true, allowPrivilegeEscalation false", what, name)
		}
		if drop, _ := get(c, "securityContext", "capabilities", "drop").([]any); !slices.Contains(drop, any("ALL")) {
			t.Errorf("%s container %v: capabilities are not all dropped", what, name)
		}
		if get(c, "resources", "limits", "memory") == nil {
			t.Errorf("%s container %v: no memory limit", what, name)
		}
		if img, _ := get(c, "image").(string); !strings.Contains(img, "failover") {
			t.Errorf("%s container %v: image %q", what, name, img)
		}
	}
}

func TestSystemdUnits(t *testing.T) {
	units := map[string][]string{
		"systemd/failover.service": {"ExecStart=/usr/local/bin/failover run --config ", "ExecReload=/bin/kill -HUP $MAINPID",
			"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=failover", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n"},
		"systemd/failover-agent@.service": {"failover probe ", "--vantage %i", "DynamicUser=yes", "ProtectSystem=strict"},
	}
	for f, wants := range units {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", f, w)
			}
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is missing: the units are not verified")
		return
	}
	// verify parses the units; the binary is not installed here, which is
	// the one complaint to ignore.
	dir := t.TempDir()
	for f := range units {
		name := filepath.Base(f)
		if strings.HasSuffix(name, "@.service") {
			name = strings.Replace(name, "@.", "@test.", 1)
		}
		b, _ := os.ReadFile(f)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := run(t, time.Minute, sa, "verify", "--man=no", p)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" && !strings.Contains(line, "is not executable") {
				t.Errorf("systemd-analyze verify %s: %s", name, line)
			}
		}
	}
}

// ---- The dashboard against the lab ----

// start runs a command until the test ends, then stops it with SIGINT (and
// kills it if it has not exited 10 s later). Its stderr goes to a log that
// is shown when the test fails; its stdout is returned.
func start(t *testing.T, name string, args ...string) *bufio.Scanner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		err := cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s exit: %v\nlog (tail):\n%s", filepath.Base(name), err, b)
		}
	})
	return bufio.NewScanner(stdout)
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startLab runs `failover lab` and waits for its banner.
func startLab(t *testing.T, bin, data, httpAddr, dnsAddr string) {
	t.Helper()
	for _, addr := range []string{"127.0.10.1:18080", "127.0.10.2:18080", "127.0.10.3:18080"} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("%s is taken: another lab is running", addr)
		}
	}
	sc := start(t, bin, "lab", "--data", data, "--http", httpAddr, "--dns", dnsAddr)
	banner := make(chan struct{})
	go func() {
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "try:") {
				close(banner)
				break
			}
		}
		for sc.Scan() { // keep draining
		}
	}()
	select {
	case <-banner:
	case <-time.After(30 * time.Second):
		t.Fatal("the lab printed no banner within 30s")
	}
}

// prom is a client of the Prometheus HTTP API.
type prom struct{ base string }

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

func (p prom) get(ctx context.Context, path string, q url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", p.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: status %d: %w", path, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// query runs an instant query.
func (p prom) query(ctx context.Context, expr string) ([]promSample, error) {
	var d struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &d)
	if err == nil && d.ResultType != "vector" {
		err = fmt.Errorf("result type %s, want vector", d.ResultType)
	}
	return d.Result, err
}

// queryRange runs a range query with a 1 s step.
func (p prom) queryRange(ctx context.Context, expr string, from, to time.Time) ([]promSample, error) {
	var d struct {
		Result []promSample `json:"result"`
	}
	err := p.get(ctx, "/api/v1/query_range", url.Values{"query": {expr},
		"start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(to.Unix()+1, 10)}, "step": {"1"}}, &d)
	return d.Result, err
}

func sampleValue(v [2]any) float64 {
	s, _ := v[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// waitQuery polls expr until it returns at least one series, or fails the
// test at the deadline.
func (p prom) waitQuery(t *testing.T, what, expr string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var last string
	for {
		r, err := p.query(ctx, expr)
		if err == nil && len(r) > 0 {
			return
		}
		last = fmt.Sprintf("%d series, err %v", len(r), err)
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s returned no data within %s (%s)", what, expr, d, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// grafanaVar matches Grafana's variable syntaxes: $name, ${name},
// ${name:format}, [[name]].
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// substitute replaces template variables with concrete values, as Grafana
// would with the service www selected, a 1 s scrape interval and a time
// range of rangeDur.
func substitute(expr string, rangeDur time.Duration) (string, error) {
	secs := int(math.Ceil(rangeDur.Seconds()))
	vars := map[string]string{
		"service": "www",
		// Grafana: max(4 × scrape interval, $__interval + scrape interval).
		"__rate_interval": "4s",
		"__interval":      "1s",
		"__interval_ms":   "1000",
		"__range":         fmt.Sprintf("%ds", secs),
		"__range_s":       strconv.Itoa(secs),
		"__range_ms":      strconv.Itoa(secs * 1000),
	}
	var missing []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sm := grafanaVar.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown template variables %v", missing)
	}
	return out, nil
}

// rangeWant is data a panel must have shown during the lab's failover: a
// series whose labels include labels reached at least min.
type rangeWant struct {
	panel, ref string
	labels     map[string]string
	min        float64
}

var failoverWants = []rangeWant{
	{"Routing weights", "A", map[string]string{"target": "backup"}, 100},
	{"Routing weights", "A", map[string]string{"target": "origin"}, 100},
	{"State history", "A", map[string]string{"service": "www"}, 3}, // failed_over
	{"Probe failures by class", "A", map[string]string{"target": "primary", "class": "refused"}, 0.5},
	{"Transitions", "A", map[string]string{"to": "failing_over"}, 1}, // from healthy or degraded
	{"Transitions", "A", map[string]string{"to": "failed_over"}, 1},
	{"DNS changes by result", "A", map[string]string{"result": "ok"}, 1},
	{"Warm-up URLs by result", "A", map[string]string{"target": "backup"}, 1},
	{"Hook runs by result", "A", map[string]string{"hook": "scale-origin", "result": "ok"}, 1},
	{"DNS apply duration", "C", map[string]string{"provider": "edge"}, 2}, // the first write and the failovers
}

func TestDashboardAgainstLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab and Prometheus in real time")
	}
	promBin := needTool(t, "prometheus", "prometheus")
	needTool(t, "promtool", "prometheus")
	waited := time.Now()
	labtest.Lock(t, 8*time.Minute) // one lab at a time, across test binaries
	built := time.Now()
	bin := failoverBin(t)
	began := time.Now()

	data, pdir := t.TempDir(), t.TempDir()
	labHTTP, labDNS, promAddr := freePort(t, "tcp"), freePort(t, "udp"), freePort(t, "tcp")
	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: failover
    static_configs:
      - targets: [%q]
`, rules, labHTTP)
	cfgFile := filepath.Join(pdir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Prometheus first: it waits for the lab's /metrics by itself.
	out := start(t, promBin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(pdir, "data"),
		"--web.listen-address="+promAddr, "--storage.tsdb.retention.time=1h", "--log.level=warn")
	go func() {
		for out.Scan() { // Prometheus logs to stderr; drain stdout anyway
		}
	}()
	startLab(t, bin, data, labHTTP, labDNS)
	labUp := time.Now()
	p := prom{base: "http://" + promAddr}

	// Scraped: the three vantages are live and every rule has run.
	p.waitQuery(t, "scrape", `count(failover_vantage_live == 1) == 3`, 30*time.Second)
	fault := func(target, mode string) {
		t.Helper()
		out, err := run(t, 30*time.Second, bin, "lab", "fault", target, mode,
			"--server", "http://"+labHTTP, "--token-file", filepath.Join(data, "operator.token"))
		if err != nil {
			t.Fatalf("failover lab fault %s %s: %v\n%s", target, mode, err, out)
		}
	}
	// The primary goes down: DNS changes, a warm-up of the backup and
	// transitions; then the backup goes down too and the origin's
	// before_shift hook runs.
	fault("primary", "down")
	p.waitQuery(t, "failover to the backup",
		`failover_route_weight{service="www",target="backup"} == 100 and on () failover_warmup_urls_total`, 30*time.Second)
	fault("backup", "down")
	p.waitQuery(t, "failover to the origin",
		`failover_route_weight{service="www",target="origin"} == 100 and on () failover_hook_runs_total`, 30*time.Second)
	afterFailover := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The rules loaded and evaluate without errors.
	checkRules(ctx, t, p)

	// Every query of the dashboard returns data now (as Grafana's instant
	// queries and the last point of its range queries would).
	d, panels := loadDashboard(t)
	rangeDur := time.Since(labUp) + 5*time.Second
	type q struct{ panel, ref, expr string }
	var queries []q
	for _, pn := range panels {
		for _, tg := range pn.Targets {
			queries = append(queries, q{pn.Title, tg.RefID, tg.Expr})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			queries = append(queries, q{"annotation " + a.Name, "", a.Expr})
		}
	}
	results := map[string][]promSample{}
	for _, qq := range queries {
		expr, err := substitute(qq.expr, rangeDur)
		if err != nil {
			t.Errorf("%q %s: %v", qq.panel, qq.ref, err)
			continue
		}
		if strings.HasPrefix(qq.panel, "annotation ") {
			// Annotations mark events: they must have marked the failover.
			r, err := p.queryRange(ctx, expr, labUp, afterFailover)
			if err != nil || len(r) == 0 {
				t.Errorf("%s: %d series over the failover, err %v\n%s", qq.panel, len(r), err, expr)
			}
			continue
		}
		r, err := p.query(ctx, expr)
		if err != nil {
			t.Errorf("panel %q %s: %v\n%s", qq.panel, qq.ref, err, expr)
			continue
		}
		numbers := 0
		for _, s := range r {
			if !math.IsNaN(sampleValue(s.Value)) {
				numbers++
			}
		}
		if len(r) == 0 || numbers == 0 {
			t.Errorf("panel %q %s shows no data: %d series, %d numbers\n%s", qq.panel, qq.ref, len(r), numbers, expr)
		}
		t.Logf("panel %-32q %s: %2d series", qq.panel, qq.ref, len(r))

		// Over the failover, as the panel's time series.
		if rr, err := p.queryRange(ctx, expr, labUp, afterFailover); err == nil {
			results[qq.panel+"/"+qq.ref] = rr
		} else {
			t.Errorf("panel %q %s: range query: %v", qq.panel, qq.ref, err)
		}
	}

	// The panels showed the failover itself.
	for _, w := range failoverWants {
		best := math.Inf(-1)
		for _, s := range results[w.panel+"/"+w.ref] {
			if !hasLabels(s.Metric, w.labels) {
				continue
			}
			for _, v := range s.Values {
				if f := sampleValue(v); f > best {
					best = f
				}
			}
		}
		if best < w.min {
			t.Errorf("panel %q %s: series %v reached %v during the failover, want at least %v",
				w.panel, w.ref, w.labels, best, w.min)
		}
	}

	// The service variable lists www.
	var values []string
	if err := p.get(ctx, "/api/v1/label/service/values", url.Values{"match[]": {"failover_service_state"}}, &values); err != nil || !slices.Contains(values, "www") {
		t.Errorf("the service variable's values: %v, err %v", values, err)
	}

	// The alerts that must be on their way during this failover.
	checkAlerts(ctx, t, p)
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	t.Logf("lab lock %s, build %s, lab up %s, failover (primary, then backup) %s, queries %s",
		r(built.Sub(waited)), r(began.Sub(built)), r(labUp.Sub(began)), r(afterFailover.Sub(labUp)), r(time.Since(afterFailover)))
}

func hasLabels(m, want map[string]string) bool {
	for k, v := range want {
		if m[k] != v {
			return false
		}
	}
	return true
}

// checkRules polls /api/v1/rules until every rule of alerts.yml has been
// evaluated, and fails if any is not healthy.
func checkRules(ctx context.Context, t *testing.T, p prom) {
	t.Helper()
	want := alertCount(t)
	type rule struct {
		Name      string `json:"name"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
	}
	var rules []rule
	for {
		var d struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []rule `json:"rules"`
			} `json:"groups"`
		}
		err := p.get(ctx, "/api/v1/rules", url.Values{"type": {"alert"}}, &d)
		rules = rules[:0]
		for _, g := range d.Groups {
			rules = append(rules, g.Rules...)
		}
		ok := err == nil && len(rules) == want
		for _, r := range rules {
			ok = ok && r.Health == "ok"
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			for _, r := range rules {
				if r.Health != "ok" {
					t.Errorf("rule %s: health %q, %s", r.Name, r.Health, r.LastError)
				}
			}
			t.Fatalf("rules: %d loaded, want %d healthy (err %v)", len(rules), want, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkAlerts asserts that the alerts of an ongoing failover are pending
// (their for: is longer than the test) for the right labels.
func checkAlerts(ctx context.Context, t *testing.T, p prom) {
	t.Helper()
	want := map[string]map[string]string{
		"FailoverFailedOver":      {"service": "www", "state": "failed_over"},
		"FailoverTargetUnhealthy": {"service": "www", "target": "primary"},
	}
	var d struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := p.get(ctx, "/api/v1/alerts", nil, &d); err != nil {
		t.Errorf("alerts: %v", err)
		return
	}
	var got []string
	for _, a := range d.Alerts {
		got = append(got, a.Labels["alertname"]+"/"+a.State)
		if l, ok := want[a.Labels["alertname"]]; ok && hasLabels(a.Labels, l) {
			delete(want, a.Labels["alertname"])
		}
	}
	sort.Strings(got)
	for name, l := range want {
		t.Errorf("alert %s %v is neither pending nor firing; alerts: %v", name, l, got)
	}
	for _, g := range got {
		if strings.HasPrefix(g, "FailoverDNSApplyErrors/") || strings.HasPrefix(g, "FailoverConfigReloadErrors/") ||
			strings.HasPrefix(g, "FailoverHookFailures/") {
			t.Errorf("alert %s during a clean lab failover", g)
		}
	}
}
