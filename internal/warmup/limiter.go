package warmup

import (
	"context"
	"sync"
	"time"
)

// Clock is the warm-up's source of time: the rate limiter waits on it and
// Result.Duration is measured with it. Deadlines (timeout, max_wait) are
// always real time, through contexts.
type Clock interface {
	Now() time.Time
	// SleepUntil returns once t has come, or with the context's cause as
	// soon as ctx ends.
	SleepUntil(ctx context.Context, t time.Time) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// SleepUntil waits on a timer.
func (RealClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// limiter is a token bucket, kept as the time at which the next request
// would be due if requests came at exactly the rate (GCRA). Each wait
// reserves its slot under the lock and then sleeps without it, so
// concurrent waiters are spaced one interval apart however they are
// scheduled, and at most burst requests go out at once after a pause.
type limiter struct {
	clock    Clock
	interval time.Duration // 0: no limit
	burst    int

	mu   sync.Mutex
	next time.Time
}

// newLimiter returns a limiter of rate requests per second; a rate of 0 or
// less means no limit.
func newLimiter(clock Clock, rate float64, burst int) *limiter {
	l := &limiter{clock: clock, burst: max(burst, 1)}
	if rate > 0 {
		l.interval = max(time.Duration(float64(time.Second)/rate), 1)
	}
	return l
}

// wait blocks until the caller may send one request, or until ctx ends.
// A slot reserved by a wait that is cut short is not given back: the run is
// stopping anyway.
func (l *limiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if l.interval == 0 {
		return nil
	}
	l.mu.Lock()
	now := l.clock.Now()
	due := l.next
	if due.Before(now) {
		due = now
	}
	at := due.Add(-time.Duration(l.burst-1) * l.interval)
	l.next = due.Add(l.interval)
	l.mu.Unlock()
	if !at.After(now) {
		return nil
	}
	return l.clock.SleepUntil(ctx, at)
}
