package health

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/probe"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const interval = time.Second

func service(targets ...string) config.Service {
	svc := config.Service{
		Name:   "www",
		Policy: config.Policy{Fall: 3, Rise: 3, Quorum: 0.5, MinVantages: 2},
	}
	for i, name := range targets {
		role := config.RoleBackup
		if i == 0 {
			role = config.RolePrimary
		}
		svc.Targets = append(svc.Targets, config.Target{Name: name, Role: role})
	}
	return svc
}

func result(target string, at time.Time, class probe.Class) probe.Result {
	r := probe.Result{Service: "www", Target: target, Time: at, OK: class == probe.ClassOK, Class: class}
	if !r.OK {
		r.Error = "probe failed: " + string(class)
	}
	return r
}

// round feeds one probe round: every vantage probes every target of outcome
// at time at. Outcome maps vantage -> target -> class; a missing target is ok.
type round map[string]map[string]probe.Class

func feed(t *testing.T, tr *Tracker, at time.Time, vantages []string, targets []string, faults round) {
	t.Helper()
	for _, v := range vantages {
		for _, tg := range targets {
			class := probe.ClassOK
			if c, ok := faults[v][tg]; ok {
				class = c
			}
			if err := tr.Observe(v, result(tg, at, class)); err != nil {
				t.Fatalf("observe %s/%s: %v", v, tg, err)
			}
		}
	}
}

func TestRiseFall(t *testing.T) {
	tests := []struct {
		name string
		seq  string // o = ok, x = failed
		want VantageState
	}{
		{"fresh vantage is pending", "", StatePending},
		{"fewer good rounds than rise stay pending", "oo", StatePending},
		{"rise good rounds make a fresh vantage up", "ooo", StateUp},
		{"fewer failed rounds than fall stay pending", "xx", StatePending},
		{"fall failed rounds make a fresh vantage down", "xxx", StateDown},
		{"up stays up below fall", "oooxx", StateUp},
		{"up goes down at fall", "oooxxx", StateDown},
		{"a good round resets the failing run", "oooxxoxx", StateUp},
		{"down stays down below rise", "xxxoo", StateDown},
		{"down comes up at rise", "xxxooo", StateUp},
		{"a failed round resets the good run", "xxxooxoo", StateDown},
		{"flapping never settles from pending", "oxoxoxox", StatePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service("primary", "backup")
			tr := NewTracker(svc, interval)
			at := t0
			for i, c := range tt.seq {
				at = t0.Add(time.Duration(i) * interval)
				class := probe.ClassOK
				if c == 'x' {
					class = probe.ClassRefused
				}
				for _, v := range []string{"a", "b", "c"} {
					if err := tr.Observe(v, result("primary", at, class)); err != nil {
						t.Fatal(err)
					}
				}
			}
			v := tr.Evaluate(at)
			pv, _ := v.Target("primary")
			for _, e := range pv.Vantages {
				if e.State != tt.want {
					t.Errorf("vantage %s: state %s, want %s", e.Vantage, e.State, tt.want)
				}
			}
			if len(tt.seq) > 0 && len(pv.Vantages) != 3 {
				t.Errorf("got %d vantages of evidence, want 3", len(pv.Vantages))
			}
		})
	}
}

func TestQuorum(t *testing.T) {
	// Each row gives the rise/fall history per vantage for one target.
	tests := []struct {
		name    string
		quorum  float64
		minV    int
		seqs    map[string]string // vantage -> o/x sequence, newest last
		want    Status
		suspect bool
		up      int
		down    int
		counted int
	}{
		{name: "all up", quorum: 0.5, minV: 2, seqs: map[string]string{"a": "ooo", "b": "ooo", "c": "ooo"},
			want: Healthy, up: 3, counted: 3},
		{name: "one of three down is no quorum but suspect", quorum: 0.5, minV: 2,
			seqs: map[string]string{"a": "xxx", "b": "ooo", "c": "ooo"},
			want: Healthy, suspect: true, up: 2, down: 1, counted: 3},
		{name: "two of three down is quorum", quorum: 0.5, minV: 2,
			seqs: map[string]string{"a": "xxx", "b": "xxx", "c": "ooo"},
			want: Unhealthy, up: 1, down: 2, counted: 3},
		{name: "half of four down is quorum at 0.5", quorum: 0.5, minV: 2,
			seqs: map[string]string{"a": "xxx", "b": "xxx", "c": "ooo", "d": "ooo"},
			want: Unhealthy, up: 2, down: 2, counted: 4},
		{name: "quorum 1 needs everyone down", quorum: 1, minV: 2,
			seqs: map[string]string{"a": "xxx", "b": "xxx", "c": "ooo"},
			want: Healthy, suspect: true, up: 1, down: 2, counted: 3},
		{name: "quorum 1 all down", quorum: 1, minV: 2,
			seqs: map[string]string{"a": "xxx", "b": "xxx"},
			want: Unhealthy, down: 2, counted: 2},
		{name: "split with a pending vantage is unknown", quorum: 0.5, minV: 2,
			seqs: map[string]string{"a": "xxx", "b": "ooo", "c": "oo"},
			want: Unknown, suspect: true, up: 1, down: 1, counted: 3},
		{name: "fewer live vantages than min_vantages is unknown", quorum: 0.5, minV: 2,
			seqs: map[string]string{"a": "ooo"},
			want: Unknown, up: 1, counted: 1},
		{name: "all pending is unknown", quorum: 0.5, minV: 2,
			seqs: map[string]string{"a": "o", "b": "o"},
			want: Unknown, counted: 2},
		{name: "failing at quorum but not yet fall rounds is suspect", quorum: 0.5, minV: 2,
			seqs: map[string]string{"a": "oooxx", "b": "oooxx", "c": "ooooo"},
			want: Healthy, suspect: true, up: 3, counted: 3},
		{name: "one lost probe at quorum is not suspect", quorum: 0.5, minV: 2,
			seqs: map[string]string{"a": "ooox", "b": "ooox", "c": "oooo"},
			want: Healthy, up: 3, counted: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service("primary", "backup")
			svc.Policy.Quorum, svc.Policy.MinVantages = tt.quorum, tt.minV
			tr := NewTracker(svc, interval)
			longest := 0
			for _, s := range tt.seqs {
				longest = max(longest, len(s))
			}
			// Align every sequence so that its newest result is at the last round.
			for v, seq := range tt.seqs {
				for i, c := range seq {
					at := t0.Add(time.Duration(longest-len(seq)+i) * interval)
					class := probe.ClassOK
					if c == 'x' {
						class = probe.ClassHTTPStatus
					}
					if err := tr.Observe(v, result("primary", at, class)); err != nil {
						t.Fatal(err)
					}
				}
			}
			now := t0.Add(time.Duration(longest-1) * interval)
			pv, ok := tr.Evaluate(now).Target("primary")
			if !ok {
				t.Fatal("no verdict for primary")
			}
			got := []any{pv.Status, pv.Suspect, pv.Up, pv.Down, pv.Counted}
			want := []any{tt.want, tt.suspect, tt.up, tt.down, tt.counted}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status, suspect, up, down, counted (-want +got):\n%s\nreason: %s", diff, pv.Reason)
			}
			if pv.Reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

func TestStaleVantages(t *testing.T) {
	svc := service("primary", "backup")
	tr := NewTracker(svc, interval)
	targets := []string{"primary", "backup"}
	for i := range 3 {
		feed(t, tr, t0.Add(time.Duration(i)*interval), []string{"a", "b", "c"}, targets, nil)
	}
	// c stops reporting after round 2; a and b go on.
	for i := 3; i < 8; i++ {
		feed(t, tr, t0.Add(time.Duration(i)*interval), []string{"a", "b"}, targets, nil)
	}
	tests := []struct {
		name    string
		at      time.Duration
		live    int
		counted int
	}{
		{"c fresh at exactly 3 intervals", 5 * interval, 3, 3},
		{"c stale after 3 intervals", 5*interval + time.Millisecond, 2, 2},
		{"all stale long after", 20 * interval, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tr.Evaluate(t0.Add(tt.at))
			pv, _ := v.Target("primary")
			if v.Live != tt.live || pv.Counted != tt.counted {
				t.Errorf("live %d counted %d, want %d %d", v.Live, pv.Counted, tt.live, tt.counted)
			}
			if tt.counted < 2 && pv.Status != Unknown {
				t.Errorf("status %s with %d counted vantages, want unknown", pv.Status, pv.Counted)
			}
		})
	}
}

func TestObserveRejects(t *testing.T) {
	tr := NewTracker(service("primary", "backup"), interval)
	if err := tr.Observe("a", result("primary", t0, probe.ClassOK)); err != nil {
		t.Fatal(err)
	}
	other := result("primary", t0.Add(time.Second), probe.ClassOK)
	other.Service = "api"
	tests := []struct {
		name    string
		vantage string
		r       probe.Result
		want    error
	}{
		{"unknown target", "a", result("nope", t0.Add(time.Second), probe.ClassOK), ErrUnknownTarget},
		{"another service", "a", other, ErrWrongService},
		{"replay of the same time", "a", result("primary", t0, probe.ClassRefused), ErrReplay},
		{"older result", "a", result("primary", t0.Add(-time.Second), probe.ClassRefused), ErrReplay},
		{"empty vantage", "", result("primary", t0.Add(time.Second), probe.ClassOK), ErrNoVantage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tr.Observe(tt.vantage, tt.r); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// None of the rejected results changed the pair.
	pv, _ := tr.Evaluate(t0).Target("primary")
	if len(pv.Vantages) != 1 || !pv.Vantages[0].OK || pv.Vantages[0].OKRun != 1 || !pv.Vantages[0].At.Equal(t0) {
		t.Errorf("rejected results changed the evidence: %+v", pv.Vantages)
	}
	// Another vantage's result at the same time is not a replay.
	if err := tr.Observe("b", result("primary", t0, probe.ClassOK)); err != nil {
		t.Errorf("same time, other vantage: %v", err)
	}
}

func TestEvidence(t *testing.T) {
	tr := NewTracker(service("primary", "backup"), interval)
	targets := []string{"primary", "backup"}
	vs := []string{"a", "b", "c"}
	for i := range 3 {
		feed(t, tr, t0.Add(time.Duration(i)*interval), vs, targets, nil)
	}
	faults := round{"a": {"primary": probe.ClassRefused}, "b": {"primary": probe.ClassTimeout}}
	for i := 3; i < 6; i++ {
		feed(t, tr, t0.Add(time.Duration(i)*interval), vs, targets, faults)
	}
	now := t0.Add(5 * interval)
	pv, _ := tr.Evaluate(now).Target("primary")
	if pv.Status != Unhealthy {
		t.Fatalf("status %s, want unhealthy (%s)", pv.Status, pv.Reason)
	}
	got := map[string]any{
		"down":          pv.Names(StateDown),
		"up":            pv.Names(StateUp),
		"failing":       pv.FailingVantages(),
		"classes":       pv.Classes(),
		"failing_since": pv.FailingSince,
		"last_error":    pv.LastError,
	}
	want := map[string]any{
		"down":          []string{"a", "b"},
		"up":            []string{"c"},
		"failing":       []string{"a", "b"},
		"classes":       map[probe.Class]int{probe.ClassRefused: 1, probe.ClassTimeout: 1},
		"failing_since": t0.Add(3 * interval),
		"last_error":    "refused: probe failed: refused",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("evidence (-want +got):\n%s", diff)
	}
	bv, _ := tr.Evaluate(now).Target("backup")
	if bv.Status != Healthy || bv.Classes() != nil || !bv.FailingSince.IsZero() {
		t.Errorf("backup: %s classes %v since %v", bv.Status, bv.Classes(), bv.FailingSince)
	}
}

func TestImpairedVantage(t *testing.T) {
	targets := []string{"primary", "backup", "origin"}
	vs := []string{"a", "b", "c", "e"}
	everything := map[string]probe.Class{"primary": probe.ClassTimeout, "backup": probe.ClassTimeout, "origin": probe.ClassTimeout}

	t.Run("a vantage failing every target is impaired and excluded, then recovers", func(t *testing.T) {
		tr := NewTracker(service(targets...), interval)
		for i := range 3 {
			feed(t, tr, t0.Add(time.Duration(i)*interval), vs, targets, nil)
		}
		// Round 3: e fails everything.
		at := t0.Add(3 * interval)
		feed(t, tr, at, vs, targets, round{"e": everything})
		v := tr.Evaluate(at)
		if len(v.Notices) != 1 || v.Notices[0].Vantage != "e" || !v.Notices[0].Impaired {
			t.Fatalf("notices %+v, want e impaired", v.Notices)
		}
		if diff := cmp.Diff([]string{"primary", "backup", "origin"}, v.Notices[0].Targets); diff != "" {
			t.Errorf("notice targets (-want +got):\n%s", diff)
		}
		if v.Live != 3 || !cmp.Equal(v.Impaired, []string{"e"}) {
			t.Errorf("live %d impaired %v, want 3 [e]", v.Live, v.Impaired)
		}
		// e keeps failing for many rounds: it is excluded from every quorum.
		for i := 4; i < 10; i++ {
			at = t0.Add(time.Duration(i) * interval)
			feed(t, tr, at, vs, targets, round{"e": everything})
			v = tr.Evaluate(at)
			if len(v.Notices) != 0 {
				t.Fatalf("round %d: unexpected notices %+v", i, v.Notices)
			}
			for _, vd := range v.Targets {
				if vd.Status != Healthy || vd.Counted != 3 || vd.Suspect {
					t.Fatalf("round %d: %s %s counted %d suspect %v", i, vd.Target, vd.Status, vd.Counted, vd.Suspect)
				}
			}
		}
		// e sees the origin again: it recovers and starts from pending.
		at = t0.Add(10 * interval)
		feed(t, tr, at, vs, targets, round{"e": {"primary": probe.ClassTimeout, "backup": probe.ClassTimeout}})
		v = tr.Evaluate(at)
		if len(v.Notices) != 1 || v.Notices[0].Impaired || !cmp.Equal(v.Notices[0].Targets, []string{"origin"}) {
			t.Fatalf("notices %+v, want e recovered on origin", v.Notices)
		}
		pv, _ := v.Target("primary")
		for _, e := range pv.Vantages {
			if e.Vantage == "e" && (e.State != StatePending || e.Impaired || !e.Counts()) {
				t.Errorf("e after recovery: %+v, want pending and counted", e)
			}
		}
		if pv.Counted != 4 || pv.Status != Healthy {
			t.Errorf("primary: counted %d status %s, want 4 healthy", pv.Counted, pv.Status)
		}
	})

	t.Run("two vantages of two cannot tell which side is broken without others", func(t *testing.T) {
		tr := NewTracker(service(targets...), interval)
		for i := range 6 {
			at := t0.Add(time.Duration(i) * interval)
			feed(t, tr, at, []string{"a", "b"}, targets, round{"a": everything, "b": everything})
			if v := tr.Evaluate(at); len(v.Notices) != 0 || len(v.Impaired) != 0 {
				t.Fatalf("round %d: %+v impaired %v", i, v.Notices, v.Impaired)
			}
		}
	})

	t.Run("a real outage seen by every vantage impairs nobody", func(t *testing.T) {
		tr := NewTracker(service(targets...), interval)
		for i := range 3 {
			feed(t, tr, t0.Add(time.Duration(i)*interval), vs, targets, nil)
		}
		all := round{}
		for _, v := range vs {
			all[v] = everything
		}
		for i := 3; i < 8; i++ {
			at := t0.Add(time.Duration(i) * interval)
			feed(t, tr, at, vs, targets, all)
			v := tr.Evaluate(at)
			if len(v.Impaired) != 0 {
				t.Fatalf("round %d: impaired %v", i, v.Impaired)
			}
			if i >= 5 && v.Targets[0].Status != Unhealthy {
				t.Fatalf("round %d: primary %s, want unhealthy", i, v.Targets[0].Status)
			}
		}
	})

	t.Run("an outage reaching the vantages one after the other impairs nobody", func(t *testing.T) {
		tr := NewTracker(service(targets...), interval)
		for i := range 3 {
			feed(t, tr, t0.Add(time.Duration(i)*interval), vs, targets, nil)
		}
		// From round 3 on every target fails, but each vantage's results
		// arrive 100ms after the previous one's and the tracker is evaluated
		// after each arrival.
		for i := 3; i < 8; i++ {
			for k, v := range vs {
				at := t0.Add(time.Duration(i)*interval + time.Duration(k)*100*time.Millisecond)
				feed(t, tr, at, []string{v}, targets, round{v: everything})
				if got := tr.Evaluate(at); len(got.Impaired) != 0 {
					t.Fatalf("round %d after %s: impaired %v", i, v, got.Impaired)
				}
			}
		}
	})

	t.Run("failing one target only is a target fault, not a probe fault", func(t *testing.T) {
		tr := NewTracker(service(targets...), interval)
		for i := range 6 {
			at := t0.Add(time.Duration(i) * interval)
			feed(t, tr, at, vs, targets, round{"e": {"primary": probe.ClassRefused}})
			if v := tr.Evaluate(at); len(v.Impaired) != 0 {
				t.Fatalf("round %d: impaired %v", i, v.Impaired)
			}
		}
	})

	t.Run("a vantage probing a single target is never impaired", func(t *testing.T) {
		tr := NewTracker(service(targets...), interval)
		for i := range 6 {
			at := t0.Add(time.Duration(i) * interval)
			feed(t, tr, at, []string{"a", "b", "c"}, targets, nil)
			feed(t, tr, at, []string{"e"}, []string{"primary"}, round{"e": everything})
			if v := tr.Evaluate(at); len(v.Impaired) != 0 {
				t.Fatalf("round %d: impaired %v", i, v.Impaired)
			}
		}
	})

	t.Run("an impaired vantage does not make the primary suspect", func(t *testing.T) {
		// With a, b and e at quorum 0.5, e alone is not quorum, but counted
		// it would make the primary suspect (down on one vantage).
		tr := NewTracker(service(targets...), interval)
		for i := range 3 {
			feed(t, tr, t0.Add(time.Duration(i)*interval), []string{"a", "b", "e"}, targets, nil)
		}
		for i := 3; i < 8; i++ {
			at := t0.Add(time.Duration(i) * interval)
			feed(t, tr, at, []string{"a", "b", "e"}, targets, round{"e": everything})
			v := tr.Evaluate(at)
			if pv, _ := v.Target("primary"); pv.Suspect || pv.Down != 0 {
				t.Fatalf("round %d: primary suspect %v down %d: the impaired vantage was counted", i, pv.Suspect, pv.Down)
			}
		}
	})
}

func TestEffectivePolicy(t *testing.T) {
	got := EffectivePolicy(config.Policy{Quorum: 1.5})
	want := config.Policy{Fall: 3, Rise: 3, Quorum: 0.5, MinVantages: 2, RecoverAfter: 2 * time.Minute,
		Failback: config.Failback{Steps: []int{10, 25, 50, 100}, Hold: time.Minute}, MaxShiftsPerHour: 6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	kept := config.Policy{Fall: 1, Rise: 2, Quorum: 1, MinVantages: 1, RecoverAfter: time.Second,
		Failback: config.Failback{Steps: []int{50, 100}, Hold: time.Second}, MaxShiftsPerHour: 1}
	if diff := cmp.Diff(kept, EffectivePolicy(kept)); diff != "" {
		t.Errorf("set fields changed (-want +got):\n%s", diff)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	targets := []string{"primary", "backup", "origin"}
	tr := NewTracker(service(targets...), interval)
	vs := []string{"v1", "v2", "v3", "v4", "v5"}
	at := t0
	for i := range 10 {
		at = t0.Add(time.Duration(i) * interval)
		for j, v := range vs {
			for _, tg := range targets {
				class := probe.ClassOK
				if j == 0 && tg == "primary" && i%2 == 0 {
					class = probe.ClassSlow
				}
				if err := tr.Observe(v, result(tg, at, class)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		v := tr.Evaluate(at)
		if len(v.Targets) != 3 {
			b.Fatal(fmt.Sprint(len(v.Targets)))
		}
	}
}
