package agent

import (
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/probe"
)

func res(i int) probe.Result { return probe.Result{Status: i} }

func statuses(rs []probe.Result) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBufferDropsOldest(t *testing.T) {
	b := newBuffer(3, 2)
	for i := 1; i <= 5; i++ {
		b.add(res(i))
	}
	held, added, dropped := b.counts()
	if held != 3 || added != 5 || dropped != 2 {
		t.Fatalf("counts %d %d %d", held, added, dropped)
	}
	rs, _ := b.peek(10)
	if got := statuses(rs); !equalInts(got, []int{3, 4, 5}) {
		t.Fatalf("held %v, want the newest 3", got)
	}
}

// A batch settled after some of its results were dropped removes what is
// left of it and takes the dropped ones off the drop count: they were
// delivered after all.
func TestBufferAckAfterDrops(t *testing.T) {
	b := newBuffer(4, 100)
	for i := 1; i <= 4; i++ {
		b.add(res(i))
	}
	batch, first := b.peek(3) // 1 2 3 in flight
	if got := statuses(batch); !equalInts(got, []int{1, 2, 3}) {
		t.Fatalf("batch %v", got)
	}
	b.add(res(5)) // drops 1
	b.add(res(6)) // drops 2
	if _, _, dropped := b.counts(); dropped != 2 {
		t.Fatalf("dropped %d", dropped)
	}
	if removed, undropped := b.ack(first, len(batch)); removed != 1 || undropped != 2 {
		t.Fatalf("ack: removed %d, undropped %d; want 1 and 2", removed, undropped)
	}
	held, added, dropped := b.counts()
	if held != 3 || added != 6 || dropped != 0 {
		t.Fatalf("counts %d %d %d", held, added, dropped)
	}
	rs, _ := b.peek(10)
	if got := statuses(rs); !equalInts(got, []int{4, 5, 6}) {
		t.Fatalf("held %v", got)
	}
	// A batch entirely dropped meanwhile removes nothing.
	batch, first = b.peek(1) // 4
	for i := 7; i <= 11; i++ {
		b.add(res(i)) // drops 4 5 6 7
	}
	if removed, undropped := b.ack(first, len(batch)); removed != 0 || undropped != 1 {
		t.Fatalf("ack of a dropped batch: removed %d, undropped %d", removed, undropped)
	}
	rs, _ = b.peek(10)
	if got := statuses(rs); !equalInts(got, []int{8, 9, 10, 11}) {
		t.Fatalf("held %v", got)
	}
	if _, _, dropped := b.counts(); dropped != 3 {
		t.Fatalf("dropped %d, want 3 (5 6 7)", dropped)
	}
}

func TestBufferReadySignal(t *testing.T) {
	b := newBuffer(10, 3)
	b.add(res(1))
	b.add(res(2))
	select {
	case <-b.ready:
		t.Fatal("ready before a full batch")
	default:
	}
	b.add(res(3))
	select {
	case <-b.ready:
	default:
		t.Fatal("not ready with a full batch")
	}
}

// Through many rounds of adds, drops and acks the buffer keeps order and
// its slice stays near the bound.
func TestBufferLongRun(t *testing.T) {
	const bound = 50
	b := newBuffer(bound, 7)
	next, want := 0, 0 // next to add; oldest expected
	for round := 0; round < 2000; round++ {
		for k := 0; k < round%13; k++ {
			b.add(res(next))
			next++
		}
		if next-want > bound {
			want = next - bound
		}
		rs, first := b.peek(round % 9)
		for i, r := range rs {
			if r.Status != want+i {
				t.Fatalf("round %d: got %d at %d, want %d", round, r.Status, i, want+i)
			}
		}
		if round%4 != 0 {
			removed, undropped := b.ack(first, len(rs))
			if undropped != 0 {
				t.Fatalf("round %d: %d undropped with no drop in flight", round, undropped)
			}
			want += removed
		}
		if len(b.ring) > bound {
			t.Fatalf("round %d: ring of %d for a bound of %d", round, len(b.ring), bound)
		}
	}
	held, added, dropped := b.counts()
	if added != uint64(next) || uint64(held) != uint64(next-want) || dropped == 0 {
		t.Fatalf("counts %d %d %d", held, added, dropped)
	}
}

func TestDropLogOncePerPeriod(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := dropLog{limiter: limiter{every: time.Minute}}
	steps := []struct {
		at      time.Duration
		dropped uint64
		want    uint64
		log     bool
	}{
		{0, 0, 0, false},                  // nothing dropped
		{time.Second, 5, 5, true},         // the first drops: at once
		{30 * time.Second, 50, 0, false},  // within the minute
		{61 * time.Second, 80, 75, true},  // a minute later: all since
		{90 * time.Second, 80, 0, false},  // nothing new
		{200 * time.Second, 80, 0, false}, // still nothing new
		{201 * time.Second, 81, 1, true},
	}
	for _, s := range steps {
		n, ok := d.due(t0.Add(s.at), s.dropped)
		if n != s.want || ok != s.log {
			t.Errorf("at %s with %d dropped: (%d, %v), want (%d, %v)", s.at, s.dropped, n, ok, s.want, s.log)
		}
	}
}
