package hooks

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"
)

// Result is one hook's run for one event: what the caller writes as an
// event and counts in failover_hook_runs_total. It never holds a secret.
type Result struct {
	Hook string `json:"hook"`
	Type string `json:"type"` // webhook | exec | aws_autoscaling
	OK   bool   `json:"ok"`
	// Duration is the whole run, retries and waits included.
	Duration time.Duration `json:"-"`
	// Attempts counts webhook deliveries or exec runs; an aws_autoscaling
	// hook makes one attempt (the SDK retries its own calls).
	Attempts int `json:"attempts"`
	// Timeout is set when the hook's timeout (or the caller's deadline)
	// ended it.
	Timeout bool   `json:"timeout,omitempty"`
	Error   string `json:"error,omitempty"`
	// Output is the start of the webhook's last response body, the exec
	// hook's stdout, or what the aws_autoscaling hook did.
	Output string `json:"output,omitempty"`
	// Stderr is the exec hook's stderr.
	Stderr string `json:"stderr,omitempty"`
	// Status is the webhook's last HTTP status, 0 if none came.
	Status int `json:"status,omitempty"`
	// ExitCode is the exec hook's last exit code, -1 when a signal ended
	// it; nil if it never started.
	ExitCode *int `json:"exit_code,omitempty"`
}

// The values of the result label of failover_hook_runs_total.
const (
	ResultOK      = "ok"
	ResultTimeout = "timeout"
	ResultError   = "error"
)

// MetricResult is the result label for this run: ok, timeout or error.
func (r *Result) MetricResult() string {
	switch {
	case r.OK:
		return ResultOK
	case r.Timeout:
		return ResultTimeout
	}
	return ResultError
}

// MarshalJSON adds duration_ms.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMs float64 `json:"duration_ms"`
	}{plain(r), float64(r.Duration) / float64(time.Millisecond)})
}

// Backoff spaces the retries of a hook: the wait before retry n is drawn
// at random between half and all of min(Max, Min × 2^(n-1)), so that
// hooks failing together do not retry in step.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff is used when Options.Backoff is zero.
var DefaultBackoff = Backoff{Min: 250 * time.Millisecond, Max: 5 * time.Second}

// delay is the wait before retry n (1 for the first retry).
func (b Backoff) delay(n int) time.Duration {
	d := b.Min
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or less if ctx ends first; it reports whether the whole
// wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// room reports whether ctx leaves more than d before its deadline.
func room(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}
