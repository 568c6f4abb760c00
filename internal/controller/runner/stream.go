package runner

import (
	"context"
	"maps"
	"slices"

	"github.com/failoverhq/failover/internal/api"
)

// subscriber is one stream client.
type subscriber struct {
	ch     chan api.StreamMessage
	stop   func() bool // stops the watch on the client's context
	closed bool
}

// Subscribe streams service changes and new events until ctx ends. A
// subscriber that falls more than Options.SubscriberBuffer messages behind
// is dropped: its channel is closed, and the loop never waits for it.
func (r *Runner) Subscribe(ctx context.Context) <-chan api.StreamMessage {
	sub := &subscriber{ch: make(chan api.StreamMessage, r.opts.SubscriberBuffer)}
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.subsClosed {
		close(sub.ch)
		return sub.ch
	}
	r.subs[sub] = struct{}{}
	sub.stop = context.AfterFunc(ctx, func() {
		r.subMu.Lock()
		defer r.subMu.Unlock()
		r.dropSubscriber(sub)
	})
	return sub.ch
}

// dropSubscriber closes a subscriber. Callers hold r.subMu.
func (r *Runner) dropSubscriber(sub *subscriber) {
	if sub.closed {
		return
	}
	sub.closed = true
	delete(r.subs, sub)
	close(sub.ch)
	if sub.stop != nil {
		sub.stop()
	}
}

// publish sends msgs to every subscriber without waiting.
func (r *Runner) publish(msgs []api.StreamMessage) {
	if len(msgs) == 0 {
		return
	}
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for sub := range r.subs {
		for _, m := range msgs {
			select {
			case sub.ch <- m:
			default:
				r.log.Warn("dropping a stream subscriber that does not keep up", "buffer", cap(sub.ch))
				r.dropSubscriber(sub)
			}
			if sub.closed {
				break
			}
		}
	}
}

// closeSubscribers ends every stream, for good.
func (r *Runner) closeSubscribers() {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.subsClosed = true
	for sub := range r.subs {
		r.dropSubscriber(sub)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
