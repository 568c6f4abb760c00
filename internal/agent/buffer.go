package agent

import (
	"sync"

	"github.com/failoverhq/failover/internal/probe"
)

// buffer holds the results not yet delivered, oldest first, within a bound:
// when it is full, adding a result drops the oldest one. Every result gets a
// sequence number in the order it was added, so that a batch taken with
// peek can be settled with ack even if some of its results were dropped
// while it was being sent.
//
// The results live in a ring that grows by doubling up to the bound, so an
// idle agent does not hold the memory of a full buffer.
type buffer struct {
	mu      sync.Mutex
	max     int
	ring    []probe.Result
	start   int    // index in ring of the oldest result
	n       int    // results held
	seq     uint64 // sequence number of the oldest result
	added   uint64
	dropped uint64

	batch int
	ready chan struct{} // signalled when a full batch is held
}

func newBuffer(max, batch int) *buffer {
	return &buffer{max: max, batch: batch, ready: make(chan struct{}, 1)}
}

// add appends r, dropping the oldest result when the buffer is full.
func (b *buffer) add(r probe.Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.added++
	if b.n == b.max {
		b.ring[b.start] = probe.Result{}
		b.start = (b.start + 1) % len(b.ring)
		b.n--
		b.seq++
		b.dropped++
	}
	if b.n == len(b.ring) {
		b.grow()
	}
	b.ring[(b.start+b.n)%len(b.ring)] = r
	b.n++
	if b.n >= b.batch {
		select {
		case b.ready <- struct{}{}:
		default:
		}
	}
}

// grow doubles the ring, within the bound, keeping the order.
func (b *buffer) grow() {
	size := min(max(2*len(b.ring), 64), b.max)
	ring := make([]probe.Result, size)
	b.copyOut(ring, b.n)
	b.ring, b.start = ring, 0
}

// copyOut copies the n oldest results into dst.
func (b *buffer) copyOut(dst []probe.Result, n int) {
	if n == 0 {
		return
	}
	end := b.start + n
	if end <= len(b.ring) {
		copy(dst, b.ring[b.start:end])
		return
	}
	k := copy(dst, b.ring[b.start:])
	copy(dst[k:], b.ring[:end-len(b.ring)])
}

// peek copies up to n of the oldest results and returns the sequence
// number of the first one, for ack.
func (b *buffer) peek(n int) ([]probe.Result, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, b.n)
	if n == 0 {
		return nil, b.seq
	}
	out := make([]probe.Result, n)
	b.copyOut(out, n)
	return out, b.seq
}

// ack settles a batch of n results from sequence number first, taken with
// peek: it removes those still held, and takes those dropped from the full
// buffer while the batch was out off the drop count, since they were not
// lost. It returns how many were removed and how many had been dropped.
func (b *buffer) ack(first uint64, n int) (removed, undropped int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	end := first + uint64(n) // one past the batch
	if b.seq > first {
		// Drops only take the oldest results, so the batch's dropped
		// ones are its first b.seq-first.
		undropped = int(min(b.seq, end) - first)
		b.dropped -= uint64(undropped)
	}
	if end > b.seq {
		removed = int(min(end-b.seq, uint64(b.n)))
	}
	for i := 0; i < removed; i++ {
		b.ring[(b.start+i)%len(b.ring)] = probe.Result{}
	}
	if removed > 0 {
		b.start = (b.start + removed) % len(b.ring)
	}
	b.n -= removed
	b.seq += uint64(removed)
	return removed, undropped
}

// counts returns the number of results held, added and dropped.
func (b *buffer) counts() (held int, added, dropped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n, b.added, b.dropped
}
