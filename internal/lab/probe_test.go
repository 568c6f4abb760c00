package lab

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/probe"
)

// TestProbeClassesOfEachFault runs the real prober, from vantage source
// addresses, against each fault with the lab's max_latency (250ms,
// config/lab.yaml) and the default slow latency: every fault mode gives the
// failure class the controller expects, and only to the vantages it was set
// for. The probe timeout is 1s rather than the lab's 500ms so that a busy
// test machine cannot turn slow into timeout (TestDefaultsAreTheContractsLab
// checks that the default slow latency lies between the two).
func TestProbeClassesOfEachFault(t *testing.T) {
	l := startLab(t, Options{})
	probers := map[string]*probe.Prober{}
	for _, v := range []string{"lab-a", "lab-b"} {
		p, err := probe.New(probe.Options{SourceAddr: testVantages[v]})
		if err != nil {
			t.Fatal(err)
		}
		probers[v] = p
	}
	spec, err := probe.Compile(config.Probe{
		URL:    "http://" + l.Addr(Primary) + "/healthz",
		Expect: config.Expect{Status: []int{200}, MaxLatency: 250 * time.Millisecond},
	}, probe.Defaults{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode         string
		vantages     []string
		wantA, wantB probe.Class
	}{
		{ModeOK, nil, probe.ClassOK, probe.ClassOK},
		{ModeDown, nil, "refused", "refused"},
		{ModeDown, []string{"lab-a"}, "reset", probe.ClassOK},
		{ModeTimeout, []string{"lab-a"}, "timeout", probe.ClassOK},
		{ModeError, []string{"lab-a"}, "http_status", probe.ClassOK},
		{ModeSlow, []string{"lab-a"}, "slow", probe.ClassOK},
		{ModeError, nil, "http_status", "http_status"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.mode, tt.vantages), func(t *testing.T) {
			if err := l.SetFault(Primary, ModeOK, nil); err != nil {
				t.Fatal(err)
			}
			if err := l.SetFault(Primary, tt.mode, tt.vantages); err != nil {
				t.Fatal(err)
			}
			for v, want := range map[string]probe.Class{"lab-a": tt.wantA, "lab-b": tt.wantB} {
				r := probers[v].Probe(context.Background(), spec)
				if r.Class != want {
					t.Errorf("%s: class %s (%s, %.0fms), want %s", v, r.Class, r.Error, r.LatencyMs, want)
				}
			}
		})
	}
}
