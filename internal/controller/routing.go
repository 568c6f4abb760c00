package controller

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Routing maps a target name to its weight, 0..100. A valid Routing names
// every target of its service and its weights sum to 100.
type Routing map[string]int

// ErrInvalidRouting is wrapped by Validate's errors.
var ErrInvalidRouting = errors.New("controller: invalid routing")

// Validate checks that r covers exactly targets, with weights in 0..100 that
// sum to 100.
func (r Routing) Validate(targets []string) error {
	sum := 0
	for _, t := range targets {
		w, ok := r[t]
		if !ok {
			return fmt.Errorf("%w: no weight for target %q", ErrInvalidRouting, t)
		}
		if w < 0 || w > 100 {
			return fmt.Errorf("%w: weight %d of %q out of 0..100", ErrInvalidRouting, w, t)
		}
		sum += w
	}
	if len(r) != len(targets) {
		for name := range r {
			if !contains(targets, name) {
				return fmt.Errorf("%w: unknown target %q", ErrInvalidRouting, name)
			}
		}
	}
	if sum != 100 {
		return fmt.Errorf("%w: weights sum to %d, want 100", ErrInvalidRouting, sum)
	}
	return nil
}

// Clone returns a copy of r.
func (r Routing) Clone() Routing {
	if r == nil {
		return nil
	}
	out := make(Routing, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}

// Equal reports whether r and o give every target the same weight (a missing
// target weighs 0). Two nil routings are equal; nil never equals a non-nil one.
func (r Routing) Equal(o Routing) bool {
	if (r == nil) != (o == nil) {
		return false
	}
	for k, v := range r {
		if o[k] != v {
			return false
		}
	}
	for k, v := range o {
		if r[k] != v {
			return false
		}
	}
	return true
}

// Format renders r in the given target order, for example
// "primary 25, backup 75", leaving out targets with no weight.
func (r Routing) Format(order []string) string {
	var b strings.Builder
	for _, t := range order {
		if r[t] == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(r[t]))
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// holder returns the target with the most weight, ties going to the earlier
// one in order.
func (r Routing) holder(order []string) string {
	best, bw := "", -1
	for _, t := range order {
		if r[t] > bw {
			best, bw = t, r[t]
		}
	}
	return best
}

// AllOn returns the routing that gives all weight to target.
func AllOn(targets []string, target string) Routing {
	r := make(Routing, len(targets))
	for _, t := range targets {
		r[t] = 0
	}
	r[target] = 100
	return r
}

// Blend returns prev with target's weight raised to w and the other targets
// scaled down in proportion to their weight in prev, so the sum stays 100.
// Rounding uses the largest remainder, ties going to the earlier target in
// order; no other target gains weight. w is clamped to prev[target]..100.
func Blend(order []string, prev Routing, target string, w int) Routing {
	w = max(min(w, 100), prev[target], 0)
	rest := 100 - w
	others := 0
	for _, t := range order {
		if t != target {
			others += max(prev[t], 0)
		}
	}
	out := make(Routing, len(order))
	for _, t := range order {
		out[t] = 0
	}
	if others == 0 || rest == 0 {
		out[target] = 100
		return out
	}
	out[target] = w
	type rem struct {
		t string
		r int
	}
	var rems []rem
	given := 0
	for _, t := range order {
		if t == target || prev[t] <= 0 {
			continue
		}
		num := prev[t] * rest
		out[t] = num / others
		given += out[t]
		rems = append(rems, rem{t, num % others})
	}
	for left := rest - given; left > 0; left-- {
		bi := 0
		for i := range rems {
			if rems[i].r > rems[bi].r {
				bi = i
			}
		}
		out[rems[bi].t]++
		rems[bi].r = -1
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
