package simulate

import (
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

// testConfig is a stand-in for config/lab.yaml's service www (CONTRACT §6's
// lab policy), built from literals so the package's unit tests do not depend
// on the loader.
func testConfig() *config.Config {
	return &config.Config{
		Controller: config.Controller{EvaluateEvery: 500 * time.Millisecond},
		Probes:     config.Probes{Interval: time.Second, Timeout: 500 * time.Millisecond},
		Services: []config.Service{{
			Name: "www", Record: "www.lab.test.", Provider: "edge", TTL: 5,
			Targets: []config.Target{
				{Name: "primary", Role: config.RolePrimary},
				{Name: "backup", Role: config.RoleBackup, Warmup: &config.Warmup{URLs: []string{"/assets/1"}, MaxWait: 3 * time.Second}},
				{Name: "origin", Role: config.RoleOrigin, BeforeShift: []string{"scale-origin"}},
			},
			Policy: config.Policy{
				Fall: 3, Rise: 3, Quorum: 0.5, MinVantages: 2,
				RecoverAfter:     5 * time.Second,
				Failback:         config.Failback{Steps: []int{25, 50, 100}, Hold: 3 * time.Second},
				MaxShiftsPerHour: 30,
			},
		}},
	}
}

func mustParse(t testing.TB, src string) *Scenario {
	t.Helper()
	sc, err := ParseScenario([]byte(src))
	if err != nil {
		t.Fatalf("ParseScenario: %v", err)
	}
	return sc
}

func mustRun(t testing.TB, src string) *Report {
	t.Helper()
	rep, err := Run(testConfig(), mustParse(t, src))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}
