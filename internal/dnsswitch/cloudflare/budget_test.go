package cloudflare

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestNewBudgetRejectsNonsense(t *testing.T) {
	for _, c := range []struct {
		name            string
		requests, burst int
		per             time.Duration
	}{
		{"no requests", 0, 1, time.Minute},
		{"no window", 10, 1, 0},
		{"no burst", 10, 0, time.Minute},
		{"burst as large as the limit", 10, 10, time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewBudget(c.requests, c.per, c.burst, newFakeClock()); err == nil {
				t.Fatal("NewBudget = nil error, want one")
			}
		})
	}
}

// The default budget hands out its burst at once, then one token every
// 300s/1190 (just under 4 a second).
func TestBudgetBurstThenRate(t *testing.T) {
	clk := newFakeClock()
	b, err := NewBudget(DefaultBudgetRequests, DefaultBudgetPer, DefaultBudgetBurst, clk)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range DefaultBudgetBurst {
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
	}
	if s := clk.Sleeps(); len(s) != 0 {
		t.Fatalf("the burst waited: %v", s)
	}
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want := time.Duration(math.Ceil(300.0 / 1190 * float64(time.Second)))
	if s := clk.Sleeps(); len(s) != 1 || s[0] != want {
		t.Fatalf("the request after the burst waited %v, want [%v]", s, want)
	}
}

// However requests arrive, no window of 5 minutes sees more than 1,200.
func TestBudgetNeverExceedsTheLimit(t *testing.T) {
	clk := newFakeClock()
	b, err := NewBudget(DefaultBudgetRequests, DefaultBudgetPer, DefaultBudgetBurst, clk)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sent []time.Time
	for i := range 3000 {
		// A pause now and then lets the bucket refill to its burst.
		if i == 1500 {
			if err := clk.Sleep(ctx, 10*time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, clk.Now())
	}
	for i := 0; i+DefaultBudgetRequests < len(sent); i++ {
		if d := sent[i+DefaultBudgetRequests].Sub(sent[i]); d <= DefaultBudgetPer {
			t.Fatalf("requests %d..%d went out within %v: more than %d per %v",
				i, i+DefaultBudgetRequests, d, DefaultBudgetRequests, DefaultBudgetPer)
		}
	}
	// And the budget is used: 1,200 in a little over 5 minutes when busy.
	if d := sent[DefaultBudgetRequests].Sub(sent[0]); d > DefaultBudgetPer+time.Second {
		t.Fatalf("1,201 requests took %v, want about %v", d, DefaultBudgetPer)
	}
}

// cancellingClock's Sleep cancels the caller's context, as a shutdown in
// the middle of a wait would, and returns when the context is done.
type cancellingClock struct {
	*fakeClock
	cancel context.CancelFunc
}

func (c cancellingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	<-ctx.Done()
	return ctx.Err()
}

func TestBudgetWaitHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := NewBudget(10, time.Second, 1, cancellingClock{newFakeClock(), cancel})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait cancelled while waiting = %v, want Canceled", err)
	}
	if b.taken != 1 {
		t.Fatalf("taken = %d after a cancelled wait, want 1 (the token goes back)", b.taken)
	}
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context = %v, want Canceled", err)
	}
	if b.taken != 1 {
		t.Fatalf("taken = %d after a wait on a cancelled context, want 1", b.taken)
	}
}
