package simulate

import (
	"math"
	"testing"
	"time"
)

// trackOf builds a track from (seconds, primary, backup, origin, override)
// decisions.
func trackOf(ds ...[5]float64) *track {
	k := newTrack(lab)
	for _, d := range ds {
		w := []int{int(d[1]), int(d[2]), int(d[3])}
		k.set(time.Duration(d[0]*float64(time.Second)), w, "x", d[4] != 0)
	}
	return &k
}

func ptrs(vs ...float64) []*float64 {
	out := make([]*float64, len(vs))
	for i, v := range vs {
		if !math.IsNaN(v) {
			out[i] = &v
		}
	}
	return out
}

func sameList(a, b []*float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) || (a[i] != nil && math.Abs(*a[i]-*b[i]) > 1e-9) {
			return false
		}
	}
	return true
}

func TestMeasure(t *testing.T) {
	// Faults of the primary: [60s, 120s) and [200s, 300s); the backup is
	// down over [100s, 150s).
	w := testWorld(t, `
service: www
vantages: [a, b]
duration: 400s
timeline:
  - {at: 60s, until: 120s, target: primary, outcome: refused}
  - {at: 200s, until: 300s, target: primary, outcome: refused}
  - {at: 100s, until: 150s, target: backup, outcome: refused}
`)
	nan := math.NaN()
	cases := []struct {
		name      string
		k         *track
		detection []*float64
		recovery  []*float64
		shifts    int
		false_    int
		unhealthy float64
	}{
		{
			name:      "never moves",
			k:         trackOf(),
			detection: ptrs(nan, nan), recovery: ptrs(0, 0),
			unhealthy: 60 + 100,
		},
		{
			name: "moves, ramps back, moves again",
			k: trackOf(
				[5]float64{62, 0, 100, 0},
				[5]float64{130, 50, 50, 0},
				[5]float64{135, 100, 0, 0},
				[5]float64{202, 0, 100, 0},
				[5]float64{310, 100, 0, 0},
			),
			detection: ptrs(2, 2), recovery: ptrs(15, 10), shifts: 5,
			// 2 s on the dead primary, 20 s on the dead backup ([100, 120)
			// with the primary dead too, then [120, 130) alone), 5 s with
			// half on the dead backup, 2 s on the primary at 200.
			unhealthy: 2 + 30 + 2.5 + 2,
		},
		{
			name: "already off at the second fault, never back after it",
			k: trackOf(
				[5]float64{61, 0, 0, 100},
				[5]float64{150, 25, 0, 75},
				[5]float64{190, 0, 0, 100},
			),
			// The move at 190 takes weight off a healthy primary: false.
			detection: ptrs(1, 0), recovery: ptrs(nan, nan), shifts: 3, false_: 1,
			unhealthy: 1,
		},
		{
			name: "a move after the fault is not its detection",
			k: trackOf(
				[5]float64{125, 0, 100, 0},
				[5]float64{130, 100, 0, 0},
			),
			detection: ptrs(nan, nan), recovery: ptrs(0, 0), shifts: 2, false_: 1,
			unhealthy: 60 + 5 + 100,
		},
		{
			name: "an operator's move is never false",
			k: trackOf(
				[5]float64{10, 0, 100, 0, 1},
				[5]float64{20, 100, 0, 0, 1},
			),
			detection: ptrs(nan, nan), recovery: ptrs(0, 0), shifts: 2,
			unhealthy: 60 + 100,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := measure(w, c.k)
			if !sameList(m.DetectionS, c.detection) {
				t.Errorf("detection %s, want %s", fmtList(m.DetectionS), fmtList(c.detection))
			}
			if !sameList(m.RecoveryS, c.recovery) {
				t.Errorf("recovery %s, want %s", fmtList(m.RecoveryS), fmtList(c.recovery))
			}
			if m.Shifts != c.shifts || len(m.Decisions) != c.shifts {
				t.Errorf("%d shifts, %d decisions, want %d", m.Shifts, len(m.Decisions), c.shifts)
			}
			if m.FalseShifts != c.false_ {
				t.Errorf("%d false shifts, want %d", m.FalseShifts, c.false_)
			}
			if math.Abs(m.UnhealthySeconds-c.unhealthy) > 1e-9 {
				t.Errorf("%v unhealthy seconds, want %v", m.UnhealthySeconds, c.unhealthy)
			}
		})
	}
}

// Recovery is cut by the next fault: the relapse is measured on its own.
func TestRecoveryStopsAtTheNextFault(t *testing.T) {
	w := testWorld(t, `
service: www
vantages: [a]
duration: 400s
timeline:
  - {at: 60s, until: 100s, target: primary, outcome: refused}
  - {at: 110s, until: 200s, target: primary, outcome: refused}
`)
	m := measure(w, trackOf(
		[5]float64{62, 0, 100, 0},
		[5]float64{105, 25, 75, 0},
		[5]float64{111, 0, 100, 0},
		[5]float64{215, 100, 0, 0},
	))
	if want := ptrs(math.NaN(), 15); !sameList(m.RecoveryS, want) {
		t.Errorf("recovery %s, want %s", fmtList(m.RecoveryS), fmtList(want))
	}
	if want := ptrs(2, 1); !sameList(m.DetectionS, want) {
		t.Errorf("detection %s, want %s", fmtList(m.DetectionS), fmtList(want))
	}
}
