package probe

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	pending map[*fakeTimer]bool
	stopped int // timers stopped before they fired
}

type fakeTimer struct {
	c     chan time.Time
	when  time.Time
	clock *fakeClock
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, pending: make(map[*fakeTimer]bool)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), when: c.now.Add(d), clock: c}
	if d <= 0 {
		t.c <- c.now
		return t
	}
	c.pending[t] = true
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pending[t] {
		return false
	}
	delete(c.pending, t)
	c.stopped++
	return true
}

// advanceTo moves the clock to now and fires the timers that are due.
func (c *fakeClock) advanceTo(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.now) {
		panic("fakeClock: time going backwards")
	}
	c.now = now
	for t := range c.pending {
		if !t.when.After(now) {
			delete(c.pending, t)
			t.c <- now
		}
	}
}

// state returns the deadlines of the pending timers, sorted, and the count
// of timers stopped so far.
func (c *fakeClock) state() ([]time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Time
	for t := range c.pending {
		ds = append(ds, t.when)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Before(ds[j]) })
	return ds, c.stopped
}

// waitTimers waits until exactly n timers are pending: the goroutines under
// test have done their work and parked. It fails the test after 10s.
func (c *fakeClock) waitTimers(t testing.TB, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d pending timers", n), func() bool {
		ds, _ := c.state()
		return len(ds) == n
	})
}

// waitFor polls cond until it holds, and fails the test after 10s. Polling
// only synchronises with goroutines that are parking; the times the tests
// check come from the fake clock.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
