package cloudflare

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Cloudflare's API allows 1,200 requests per five minutes per user (and per
// API token), across every client of that user. These are the defaults of the
// request budget.
const (
	DefaultBudgetRequests = 1200
	DefaultBudgetPer      = 5 * time.Minute
	DefaultBudgetBurst    = 10
)

// Clock is the time source of the budget and of the waits between retries.
// Tests inject a fake one so that nothing sleeps for real.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done, in which case it returns
	// ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
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

// Budget is a token bucket that every HTTP request to the Cloudflare API
// passes through, retries included: a request waits for a token before it
// is sent.
//
// The bucket holds at most burst tokens and refills at (requests-burst)/per.
// In any window of length per it therefore hands out at most
// burst + (requests-burst) = requests tokens, so the limit holds exactly
// rather than only on average. With the defaults (1,200 per 5 minutes, burst
// 10) that is a refill of 1,190/300 s, just under 4 requests a second.
//
// Cloudflare counts the limit per user, so providers that share one API
// token should share one Budget (Options.Budget).
type Budget struct {
	clock Clock
	rate  float64 // tokens per second
	burst float64

	mu     sync.Mutex
	tokens float64 // may go negative: tokens promised to waiting requests
	last   time.Time
	taken  int64 // tokens handed out, for tests
}

// NewBudget returns a budget of requests per window per, with the given
// burst. A nil clock is the wall clock.
func NewBudget(requests int, per time.Duration, burst int, clock Clock) (*Budget, error) {
	if requests <= 0 || per <= 0 || burst <= 0 || burst >= requests {
		return nil, fmt.Errorf("cloudflare: budget of %d requests per %v with burst %d: want requests > burst > 0 and per > 0",
			requests, per, burst)
	}
	if clock == nil {
		clock = realClock{}
	}
	return &Budget{
		clock:  clock,
		rate:   float64(requests-burst) / per.Seconds(),
		burst:  float64(burst),
		tokens: float64(burst),
		last:   clock.Now(),
	}, nil
}

// Wait takes one token, waiting until one is available or ctx is done.
func (b *Budget) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	now := b.clock.Now()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	b.tokens--
	b.taken++
	var wait time.Duration
	if b.tokens < 0 {
		// Rounded up, so that the request never leaves before its token
		// exists.
		wait = time.Duration(math.Ceil(-b.tokens / b.rate * float64(time.Second)))
	}
	b.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	if err := b.clock.Sleep(ctx, wait); err != nil {
		// The request is not sent: hand the promised token back.
		b.mu.Lock()
		b.tokens = min(b.burst, b.tokens+1)
		b.taken--
		b.mu.Unlock()
		return err
	}
	return nil
}
