package controller

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoutingValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Routing
		ok   bool
	}{
		{"all on one", Routing{"primary": 100, "backup": 0, "origin": 0}, true},
		{"split", Routing{"primary": 10, "backup": 65, "origin": 25}, true},
		{"sum below 100", Routing{"primary": 50, "backup": 0, "origin": 0}, false},
		{"sum above 100", Routing{"primary": 100, "backup": 10, "origin": 0}, false},
		{"negative weight", Routing{"primary": 110, "backup": -10, "origin": 0}, false},
		{"missing target", Routing{"primary": 100, "backup": 0}, false},
		{"unknown target", Routing{"primary": 100, "backup": 0, "origin": 0, "akamai": 0}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate(targets)
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidRouting) {
				t.Errorf("error %v does not wrap ErrInvalidRouting", err)
			}
		})
	}
}

func TestBlend(t *testing.T) {
	tests := []struct {
		name   string
		prev   Routing
		target string
		w      int
		want   Routing
	}{
		{"first ramp step", Routing{"primary": 0, "backup": 100, "origin": 0}, "primary", 10,
			Routing{"primary": 10, "backup": 90, "origin": 0}},
		{"origin step over a dead primary", Routing{"primary": 100, "backup": 0, "origin": 0}, "origin", 25,
			Routing{"primary": 75, "backup": 0, "origin": 25}},
		{"rest shared in proportion", Routing{"primary": 50, "backup": 50, "origin": 0}, "origin", 25,
			Routing{"primary": 38, "backup": 37, "origin": 25}},
		{"uneven rest by largest remainder", Routing{"primary": 20, "backup": 70, "origin": 10}, "origin", 40,
			Routing{"primary": 13, "backup": 47, "origin": 40}},
		{"to 100", Routing{"primary": 50, "backup": 50, "origin": 0}, "primary", 100,
			Routing{"primary": 100, "backup": 0, "origin": 0}},
		{"never lowers the target", Routing{"primary": 60, "backup": 40, "origin": 0}, "primary", 25,
			Routing{"primary": 60, "backup": 40, "origin": 0}},
		{"clamps above 100", Routing{"primary": 0, "backup": 100, "origin": 0}, "primary", 150,
			Routing{"primary": 100, "backup": 0, "origin": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Blend(targets, tt.prev, tt.target, tt.w)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestBlendProperties: for any valid routing and step, Blend gives a valid
// routing in which only the target gains weight.
func TestBlendProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 5000 {
		a := rng.IntN(101)
		b := rng.IntN(101 - a)
		prev := Routing{"primary": a, "backup": b, "origin": 100 - a - b}
		target := targets[rng.IntN(3)]
		w := rng.IntN(101)
		got := Blend(targets, prev, target, w)
		if err := got.Validate(targets); err != nil {
			t.Fatalf("case %d: Blend(%v, %s, %d) = %v: %v", i, prev, target, w, got, err)
		}
		for _, tg := range targets {
			if tg != target && got[tg] > prev[tg] {
				t.Fatalf("case %d: Blend(%v, %s, %d) = %v raises %s", i, prev, target, w, got, tg)
			}
		}
		if got[target] != max(w, prev[target]) {
			t.Fatalf("case %d: Blend(%v, %s, %d) gives the target %d", i, prev, target, w, got[target])
		}
	}
}

func TestRoutingFormatAndEqual(t *testing.T) {
	r := Routing{"primary": 25, "backup": 75, "origin": 0}
	if got := r.Format(targets); got != "primary 25, backup 75" {
		t.Errorf("Format = %q", got)
	}
	if !r.Equal(Routing{"primary": 25, "backup": 75}) || r.Equal(AllOn(targets, "primary")) || r.Equal(nil) {
		t.Error("Equal is wrong")
	}
}
