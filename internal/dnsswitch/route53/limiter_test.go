package route53

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/route53/r53fake"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// virtualClock is a clock under the test's control. When advance is set,
// SleepUntil moves time forward to its target at once (a sequential
// program sees time pass); otherwise time stands still and sleeps return
// at once. Either way every target is recorded. onSleep, when set, runs
// first and may fail the sleep.
type virtualClock struct {
	mu      sync.Mutex
	now     time.Time
	advance bool
	targets []time.Time
	onSleep func(ctx context.Context) error
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) SleepUntil(ctx context.Context, at time.Time) error {
	if c.onSleep != nil {
		if err := c.onSleep(ctx); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.targets = append(c.targets, at)
	if c.advance && at.After(c.now) {
		c.now = at
	}
	return nil
}

func (c *virtualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *virtualClock) sleeps() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.targets)
}

func TestRateLimiterSpacesCalls(t *testing.T) {
	c := &virtualClock{now: t0, advance: true}
	l := newRateLimiter(5, c)
	var at []time.Duration
	for range 11 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		at = append(at, c.Now().Sub(t0))
	}
	for i, d := range at {
		if want := time.Duration(i) * 200 * time.Millisecond; d != want {
			t.Errorf("call %d went out at %v, want %v", i, d, want)
		}
	}
	// Idle time earns no burst: after a pause, calls are spaced again.
	c.set(t0.Add(time.Minute))
	for i := range 3 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := c.Now().Sub(t0), time.Minute+time.Duration(i)*200*time.Millisecond; got != want {
			t.Errorf("after the pause, call %d went out at %v, want %v", i, got, want)
		}
	}
}

func TestRateLimiterConcurrentReservations(t *testing.T) {
	c := &virtualClock{now: t0} // time stands still: every caller reserves its own slot
	l := newRateLimiter(4, c)
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if err := l.Wait(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := c.sleeps()
	slices.SortFunc(got, func(a, b time.Time) int { return a.Compare(b) })
	if len(got) != 11 {
		t.Fatalf("%d callers slept, want 11 (the first goes at once)", len(got))
	}
	for i, at := range got {
		if want := t0.Add(time.Duration(i+1) * 250 * time.Millisecond); !at.Equal(want) {
			t.Errorf("slot %d at %v, want %v", i, at.Sub(t0), want.Sub(t0))
		}
	}
}

func TestRateLimiterCancelHandsSlotBack(t *testing.T) {
	c := &virtualClock{now: t0}
	l := newRateLimiter(5, c)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.onSleep = func(context.Context) error { cancel(); return context.Canceled }
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	c.onSleep = nil
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("an already cancelled Wait: %v", err)
	}
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []time.Time{t0.Add(200 * time.Millisecond), t0.Add(400 * time.Millisecond)}
	if got := c.sleeps(); !slices.Equal(got, want) {
		t.Errorf("slots %v, want %v (the cancelled one reused, none taken by the already cancelled one)", got, want)
	}
}

// accounts makes account names unique across repeated runs (-count), since
// the registry is process-wide.
var accounts atomic.Int64

func TestSharedLimiter(t *testing.T) {
	account := fmt.Sprintf("%s-%d", t.Name(), accounts.Add(1))
	a := SharedLimiter(account, "", 5)
	b := SharedLimiter(account, "", 10)
	if a != b || a.Interval() != 200*time.Millisecond {
		t.Errorf("same account: %p %p, interval %v; want one limiter at 5/s", a, b, a.Interval())
	}
	c := SharedLimiter(account, "", 2)
	if c != a || a.Interval() != 500*time.Millisecond {
		t.Errorf("a lower rate: interval %v, want 500ms", a.Interval())
	}
	if d := SharedLimiter(account, "http://127.0.0.1:1", 5); d == a {
		t.Error("another endpoint shares the limiter")
	}
	if e := SharedLimiter(account+"-other", "", 5); e == a {
		t.Error("another account shares the limiter")
	}

	// Two providers of one account draw on one budget.
	cfg := &aws.Config{Region: "us-east-1"}
	p1, err := New(context.Background(), Options{Name: "one", HostedZoneID: "Z1", Account: account + "-p", RateLimit: 5, AWSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := New(context.Background(), Options{Name: "two", HostedZoneID: "Z2", Account: account + "-p", RateLimit: 5, AWSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if p1.limiter != p2.limiter {
		t.Error("two providers of one account have separate limiters")
	}
}

// recordingLimiter notes the virtual time at which each call is let
// through.
type recordingLimiter struct {
	l     Limiter
	c     clock
	mu    sync.Mutex
	times []time.Time
}

func (r *recordingLimiter) Wait(ctx context.Context) error {
	if err := r.l.Wait(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.times = append(r.times, r.c.Now())
	return nil
}

// TestRateLimitHoldsEveryCall drives the provider, retries and INSYNC polls
// included, on a virtual clock: every request that reaches the API went
// through the limiter, and no two went out less than 1/rate apart.
func TestRateLimitHoldsEveryCall(t *testing.T) {
	c := &virtualClock{now: t0, advance: true}
	rec := &recordingLimiter{l: newRateLimiter(5, c), c: c}
	e := newEnv(t, r53fake.Options{PendingPolls: 2, PageSize: 2}, func(o *Options) {
		o.Limiter = rec
		o.clock = c
		o.Backoff = Backoff(10*time.Millisecond, 50*time.Millisecond) // shorter than the spacing
		o.WaitInsync = true
		o.PollInterval = 10 * time.Millisecond
		o.MaxRetries = 5
	})
	svc := aService()
	e.fake.Fail(r53fake.OpList, "Throttling", 2)
	e.fake.Fail(r53fake.OpChange, "PriorRequestNotComplete", 2)
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	e.fake.Fail(r53fake.OpAny, "Throttling", 3)
	e.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	e.mustRead(t, svc, dnsswitch.Routing{"backup": 100})

	calls := e.fake.Calls(r53fake.OpAny)
	if len(rec.times) != calls {
		t.Fatalf("%d calls passed the limiter, %d reached the API", len(rec.times), calls)
	}
	if calls < 20 {
		t.Fatalf("only %d calls: the scenario does not exercise the limiter", calls)
	}
	for i := 1; i < len(rec.times); i++ {
		if gap := rec.times[i].Sub(rec.times[i-1]); gap < 200*time.Millisecond {
			t.Errorf("calls %d and %d went out %v apart, want at least 200ms", i-1, i, gap)
		}
	}
	// In any one second, at most rate+1 calls.
	for i := range rec.times {
		n := 0
		for _, at := range rec.times[i:] {
			if at.Sub(rec.times[i]) < time.Second {
				n++
			}
		}
		if n > 6 {
			t.Errorf("%d calls in the second from call %d", n, i)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff(100*time.Millisecond, time.Second)
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := b(n)
			if d < want/2 || d > want {
				t.Fatalf("retry %d: %v, want in [%v, %v]", n, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("retry %d: only %d distinct waits in 200: no jitter", n, len(seen))
		}
	}
}
