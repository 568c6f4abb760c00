package dnsswitch

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrInvalid marks a desired routing that no provider may publish: a weight
// outside 0..100, weights that do not sum to 100, or an unknown target. It is
// never retryable.
var ErrInvalid = errors.New("invalid routing")

// CheckRouting reports whether r is a routing that Apply may publish for svc:
// every target it names is one of svc's targets, every weight is in 0..100,
// and the weights sum to 100. Providers call it first in Apply, before they
// write anything. The error wraps ErrInvalid.
func CheckRouting(svc Service, r Routing) error {
	// Sorted, so that the first problem reported is the same every time.
	for _, name := range slices.Sorted(maps.Keys(r)) {
		if _, ok := svc.Answer(name); !ok {
			return fmt.Errorf("%w: service %s has no target %q", ErrInvalid, svc.Name, name)
		}
		if w := r[name]; w < 0 || w > 100 {
			return fmt.Errorf("%w: weight of %s is %d, want 0..100", ErrInvalid, name, w)
		}
	}
	if sum := r.Sum(); sum != 100 {
		return fmt.Errorf("%w: weights sum to %d, want 100 (%v)", ErrInvalid, sum, r)
	}
	return nil
}
