package controller

import "errors"

// Errors of ValidateOverride.
var (
	// ErrInvalidOverride: the request itself is wrong (kind, target, reason,
	// duration).
	ErrInvalidOverride = errors.New("invalid override")
	// ErrTargetNotHealthy: the target is unhealthy or unknown and the request
	// is not forced.
	ErrTargetNotHealthy = errors.New("override target not healthy")
)
