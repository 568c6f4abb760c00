package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/health"
	"github.com/failoverhq/failover/internal/probe"
)

// labService is the lab policy of CONTRACT §6.
func labService() config.Service {
	svc := testService()
	svc.Policy = config.Policy{Fall: 3, Rise: 3, Quorum: 0.5, MinVantages: 2, RecoverAfter: 5 * time.Second,
		Failback: config.Failback{Steps: []int{25, 50, 100}, Hold: 3 * time.Second}, MaxShiftsPerHour: 6}
	svc.Targets[1].Warmup.MaxWait = 3 * time.Second
	return svc
}

// world runs the real tracker and engine together: probes every second from
// each vantage, evaluation every 500ms, warm-ups and gates reported at the
// next evaluation, DNS applied at once.
type world struct {
	t        *testing.T
	tr       *health.Tracker
	e        *Engine
	st       State
	reports  []Report
	changes  []change
	notices  []string
	vantages []string
	// fault returns the class vantage v sees for target at second s.
	fault func(v, target string, s int) probe.Class
}

type change struct {
	at      time.Duration
	routing string
	phase   Phase
}

func newWorld(t *testing.T, fault func(v, target string, s int) probe.Class, edit ...func(*config.Service)) *world {
	svc := labService()
	for _, f := range edit {
		f(&svc)
	}
	w := &world{t: t, tr: health.NewTracker(svc, time.Second), e: newEngine(t, svc),
		vantages: []string{"lab-a", "lab-b", "lab-c"}, fault: fault}
	w.st = w.e.Initial(t0)
	return w
}

func (w *world) run(until time.Duration) {
	for at := time.Duration(0); at <= until; at += 500 * time.Millisecond {
		now := t0.Add(at)
		if at%time.Second == 0 {
			s := int(at / time.Second)
			for _, v := range w.vantages {
				for _, tg := range targets {
					class := w.fault(v, tg, s)
					if class == "missing" {
						continue
					}
					r := probe.Result{Service: "www", Target: tg, Time: now, OK: class == probe.ClassOK, Class: class}
					if err := w.tr.Observe(v, r); err != nil {
						w.t.Fatal(err)
					}
				}
			}
		}
		st, acts := w.e.Step(w.st, Input{Verdicts: w.tr.Evaluate(now), Reports: w.reports}, now)
		w.reports = nil
		for _, a := range acts {
			switch a := a.(type) {
			case SetRouting:
				w.reports = append(w.reports, Report{Kind: DNSApplied, Routing: a.Routing})
				w.changes = append(w.changes, change{at: at, routing: a.Routing.Format(targets), phase: st.Phase})
			case Event:
				if a.Type == EventVantage {
					w.notices = append(w.notices, a.From+">"+a.To+" "+a.Evidence["vantage"].(string))
				}
			case StartWarmup:
				w.reports = append(w.reports, Report{Kind: WarmupDone, Target: a.Target})
			case RunHooks:
				if a.Gate {
					w.reports = append(w.reports, Report{Kind: HooksDone, Target: a.Target})
				}
			}
		}
		w.st = st
	}
}

func TestEndToEnd(t *testing.T) {
	t.Run("an all-vantage outage is detected within fall x interval and recovered through the ramp", func(t *testing.T) {
		w := newWorld(t, func(v, target string, s int) probe.Class {
			if target == "primary" && s >= 10 && s < 30 {
				return probe.ClassRefused
			}
			return probe.ClassOK
		})
		w.run(60 * time.Second)
		if len(w.changes) == 0 {
			t.Fatal("no routing change")
		}
		first := w.changes[0]
		// Results at 10s, 11s and 12s fail: down at 12s; the backup was warmed
		// from the degraded state at 11s.
		if first.routing != "backup 100" || first.at > 10*time.Second+3*time.Second+500*time.Millisecond {
			t.Fatalf("first change %+v, want backup 100 within fall x interval + 0.5s of 10s", first)
		}
		last := w.changes[len(w.changes)-1]
		if last.routing != "primary 100" || w.st.Phase != Healthy {
			t.Fatalf("last change %+v, state %s: want back on the primary", last, w.st.Phase)
		}
		// Up again at 32s (rise 3), recover_after 5s, then 25, 50, 100 every 3s.
		want := []string{"backup 100", "primary 25, backup 75", "primary 50, backup 50", "primary 100"}
		if len(w.changes) != len(want) {
			t.Fatalf("changes %+v, want %v", w.changes, want)
		}
		for i := range want {
			if w.changes[i].routing != want[i] {
				t.Fatalf("change %d: %+v, want %s", i, w.changes[i], want[i])
			}
		}
		t.Logf("changes: %+v", w.changes)
	})

	t.Run("a probe-side fault at one vantage moves nothing", func(t *testing.T) {
		// At quorum 0.3 one vantage of three is quorum: counted, lab-c's
		// broken network would take the primary down.
		w := newWorld(t, func(v, target string, s int) probe.Class {
			if v == "lab-c" && s >= 10 && s < 40 {
				return probe.ClassConnectTimeout
			}
			return probe.ClassOK
		}, func(svc *config.Service) { svc.Policy.Quorum = 0.3 })
		w.run(60 * time.Second)
		if len(w.changes) != 0 || w.st.Phase != Healthy {
			t.Fatalf("changes %+v, state %s: want none", w.changes, w.st.Phase)
		}
		if want := []string{"live>impaired lab-c", "impaired>live lab-c"}; !slices.Equal(w.notices, want) {
			t.Fatalf("vantage events %v, want %v", w.notices, want)
		}
	})

	t.Run("a one-vantage outage of the primary moves nothing", func(t *testing.T) {
		w := newWorld(t, func(v, target string, s int) probe.Class {
			if v == "lab-a" && target == "primary" && s >= 10 && s < 40 {
				return probe.ClassRefused
			}
			return probe.ClassOK
		})
		w.run(60 * time.Second)
		if len(w.changes) != 0 {
			t.Fatalf("changes %+v: want none", w.changes)
		}
	})

	t.Run("agents dying below min_vantages freeze without writes", func(t *testing.T) {
		w := newWorld(t, func(v, target string, s int) probe.Class {
			if v != "lab-a" && s >= 10 {
				return "missing"
			}
			if target == "primary" && s >= 10 {
				return probe.ClassRefused
			}
			return probe.ClassOK
		})
		w.run(40 * time.Second)
		if len(w.changes) != 0 || w.st.Phase != Frozen {
			t.Fatalf("changes %+v, state %s: want frozen without changes", w.changes, w.st.Phase)
		}
	})
}
