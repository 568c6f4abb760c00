package route53

import (
	"context"
	"sync"
	"time"
)

// Limiter holds API calls to a request budget. Wait returns when the next
// call may go out, or with ctx's error when ctx ends first. Every request
// the provider sends, retries included, waits on it first.
type Limiter interface {
	Wait(ctx context.Context) error
}

// RateLimiter spaces calls at least 1/rate apart, with no burst: in any
// window of t seconds at most rate·t+1 calls go out. Route 53's budget is
// five requests per second per account, across every client of the
// account, so evenly spaced calls are the safe reading of it.
type RateLimiter struct {
	clock clock

	mu       sync.Mutex
	interval time.Duration
	next     time.Time // the earliest time the next call may go out
}

// NewRateLimiter returns a limiter for rate requests per second (rate > 0).
func NewRateLimiter(rate float64) *RateLimiter {
	return newRateLimiter(rate, realClock{})
}

func newRateLimiter(rate float64, c clock) *RateLimiter {
	return &RateLimiter{clock: c, interval: intervalOf(rate)}
}

func intervalOf(rate float64) time.Duration {
	return time.Duration(float64(time.Second) / rate)
}

// Wait reserves the next free slot and waits for it. A wait cut short by
// ctx hands its slot back when no later caller has reserved after it.
func (l *RateLimiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.clock.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()

	if !at.After(now) {
		return nil
	}
	if err := l.clock.SleepUntil(ctx, at); err != nil {
		l.mu.Lock()
		if l.next.Equal(at.Add(l.interval)) {
			l.next = at
		}
		l.mu.Unlock()
		return err
	}
	return nil
}

// Interval is the least time between two calls.
func (l *RateLimiter) Interval() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.interval
}

// atMost lowers the limiter's rate to rate when that is lower.
func (l *RateLimiter) atMost(rate float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if iv := intervalOf(rate); iv > l.interval {
		l.interval = iv
	}
}

// The account-wide budget. Route 53 counts requests per AWS account, so
// every provider in the process that talks to the same account through the
// same endpoint must draw from one limiter. Providers are keyed by
// Options.Account (empty: the process's default credentials) and
// Options.Endpoint (empty: AWS itself); the limiter keeps the lowest
// RateLimit any of them asked for.
var (
	sharedMu       sync.Mutex
	sharedLimiters = map[sharedKey]*RateLimiter{}
)

type sharedKey struct{ account, endpoint string }

// SharedLimiter returns the process-wide limiter for an account and
// endpoint, creating it at rate, or lowering its rate to rate when that is
// lower.
func SharedLimiter(account, endpoint string, rate float64) *RateLimiter {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	k := sharedKey{account: account, endpoint: endpoint}
	if l, ok := sharedLimiters[k]; ok {
		l.atMost(rate)
		return l
	}
	l := NewRateLimiter(rate)
	sharedLimiters[k] = l
	return l
}

// clock is what the limiter and the retry loop need of time; tests use a
// virtual one. SleepUntil returns at t, or with ctx's error when ctx ends
// first.
type clock interface {
	Now() time.Time
	SleepUntil(ctx context.Context, t time.Time) error
}

// sleep waits d on c.
func sleep(ctx context.Context, c clock, d time.Duration) error {
	return c.SleepUntil(ctx, c.Now().Add(d))
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
