package health

import (
	"time"

	"github.com/failoverhq/failover/internal/config"
)

// Defaults used by EffectivePolicy for zero policy fields. They are the values
// of the example configuration in CONTRACT §2.
const (
	DefaultFall             = 3
	DefaultRise             = 3
	DefaultQuorum           = 0.5
	DefaultMinVantages      = 2
	DefaultRecoverAfter     = 2 * time.Minute
	DefaultFailbackHold     = time.Minute
	DefaultMaxShiftsPerHour = 6
)

// DefaultFailbackSteps is used when failback.steps is empty.
var DefaultFailbackSteps = []int{10, 25, 50, 100}

// EffectivePolicy returns p with every zero (or out of range) field replaced
// by its default. Config validation normally rejects such values; the engine
// still never divides by zero or loops on them.
func EffectivePolicy(p config.Policy) config.Policy {
	if p.Fall < 1 {
		p.Fall = DefaultFall
	}
	if p.Rise < 1 {
		p.Rise = DefaultRise
	}
	if !(p.Quorum > 0 && p.Quorum <= 1) {
		p.Quorum = DefaultQuorum
	}
	if p.MinVantages < 1 {
		p.MinVantages = DefaultMinVantages
	}
	if p.RecoverAfter <= 0 {
		p.RecoverAfter = DefaultRecoverAfter
	}
	if p.Failback.Hold <= 0 {
		p.Failback.Hold = DefaultFailbackHold
	}
	if len(p.Failback.Steps) == 0 {
		p.Failback.Steps = DefaultFailbackSteps
	}
	p.Failback.Steps = append([]int(nil), p.Failback.Steps...)
	if p.MaxShiftsPerHour < 1 {
		p.MaxShiftsPerHour = DefaultMaxShiftsPerHour
	}
	return p
}
