package probe

import (
	"context"
	"fmt"
	"time"
)

// probeTCP is ok when a TCP connection to the spec's address comes up within
// the timeout (and within max_latency, if set). It sends nothing and closes
// the connection at once.
func (p *Prober) probeTCP(ctx context.Context, s *Spec, res *Result, tr *tracer, start time.Time) {
	conn, err := p.dial(ctx, s)
	if err != nil {
		fail(ctx, res, err, tr, s, start)
		return
	}
	latency := time.Since(start)
	if err := conn.Close(); err != nil {
		fail(ctx, res, err, tr, s, start)
		return
	}
	res.LatencyMs = ms(latency)
	res.Phases = tr.phases()
	if s.expect.maxLatency > 0 && latency > s.expect.maxLatency {
		res.Class = ClassSlow
		res.Error = fmt.Sprintf("connect latency %s over max_latency %s", latency.Round(time.Millisecond), s.expect.maxLatency)
		return
	}
	res.Class = ClassOK
}
