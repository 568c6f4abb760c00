package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/health"
	"github.com/failoverhq/failover/internal/hooks"
	"github.com/failoverhq/failover/internal/metrics"
	"github.com/failoverhq/failover/internal/store"
)

// stepOut is what one service's step produced, carried from the step (under
// mu) through persistence (without it) to the dispatch (under mu again).
type stepOut struct {
	s        *service
	from, to controller.Phase
	routing  controller.Routing // the desired routing after the step
	acts     []controller.Action
	override *controller.Override // the override handed in
	events   []store.Event
	save     []byte // the state to save; nil when unchanged
	saveKey  []byte
}

// evaluate evaluates and steps every ready service once, stores what the
// steps decided, and carries out their actions. Services whose provider has
// not been read yet get a read started instead.
func (r *Runner) evaluate(ctx context.Context) {
	r.evalMu.Lock()
	defer r.evalMu.Unlock()
	now := r.clock.Now()

	r.mu.Lock()
	r.evalsStarted++
	var outs []*stepOut
	for _, name := range r.order {
		s := r.services[name]
		if !s.ready {
			if !s.reading && !s.applying && !now.Before(s.nextRead) && ctx.Err() == nil {
				r.startRead(ctx, s)
			}
			continue
		}
		outs = append(outs, r.step(s, now))
	}
	r.updateVantages(now)
	r.mu.Unlock()

	// Durable before anything it describes is carried out.
	var events []store.Event
	for _, o := range outs {
		events = append(events, o.events...)
	}
	stored := r.appendEvents(events)
	for _, o := range outs {
		if o.save == nil {
			continue
		}
		if err := r.store.SaveState(o.s.name, o.save); err != nil {
			o.s.log.Error("saving state", "err", err)
			continue
		}
		o.s.savedKey = o.saveKey
	}

	var views []api.StreamMessage
	r.mu.Lock()
	for _, o := range outs {
		r.dispatch(ctx, o, now)
		if v, changed := r.viewIfChanged(o.s); changed {
			views = append(views, api.StreamMessage{Type: "service", Data: v})
		}
	}
	r.evalsDone++
	close(r.evalCh)
	r.evalCh = make(chan struct{})
	r.mu.Unlock()

	r.publish(append(eventMessages(stored), views...))
}

// step runs one service's engine step. Callers hold r.mu.
func (r *Runner) step(s *service, now time.Time) *stepOut {
	v := s.tracker.Evaluate(now)
	s.verdicts = v
	in := controller.Input{Verdicts: v, Override: s.override, Reports: s.reports}
	s.reports = nil
	prev := s.state
	next, acts := s.engine.Step(prev, in, now)
	s.state = next
	o := &stepOut{s: s, from: prev.Phase, to: next.Phase, routing: next.Routing, acts: acts, override: in.Override}

	var alerts []controller.Alert
	for _, a := range acts {
		switch a := a.(type) {
		case controller.Event:
			o.events = append(o.events, r.engineEvent(s, a))
		case controller.Alert:
			alerts = append(alerts, a)
		}
	}
	for _, a := range alerts {
		msg := strings.TrimPrefix(a.Message, s.name+": ")
		s.log.Warn("alert", "severity", a.Severity, "reason", msg, "state", string(next.Phase))
		if said(o.events, msg) {
			continue
		}
		o.events = append(o.events, store.Event{Time: now, Service: s.name, Type: store.TypeState,
			From: string(next.Phase), To: string(next.Phase), Message: "alert: " + msg,
			Evidence: map[string]any{"alert": a.Severity}})
	}

	if key := stateKey(next); !bytes.Equal(key, s.savedKey) {
		data, err := json.Marshal(next)
		if err != nil {
			s.log.Error("encoding state", "err", err)
		} else {
			o.save, o.saveKey = data, key
		}
	}

	r.m.SetState(s.name, string(next.Phase))
	for _, t := range s.cfg.Targets {
		r.m.TargetHealthy.WithLabelValues(s.name, t.Name).Set(metrics.HealthValue(string(v.Status(t.Name))))
	}
	return o
}

// engineEvent turns an engine event into a store event, adding what only the
// runner knows: a finished warm-up's result, who released an override.
func (r *Runner) engineEvent(s *service, a controller.Event) store.Event {
	ev := store.Event{Time: a.Time, Service: a.Service, Type: a.Type, From: a.From, To: a.To,
		Message: a.Message, Evidence: a.Evidence}
	switch {
	case a.Type == controller.EventState && a.From != "" && a.From != a.To:
		r.m.Transitions.WithLabelValues(s.name, a.From, a.To).Inc()
		s.log.Info("state changed", "from", a.From, "to", a.To, "reason", a.Message)
	case a.Type == controller.EventWarmup && (a.To == controller.WarmupStatusDone || a.To == controller.WarmupStatusFailed):
		target, _ := a.Evidence["target"].(string)
		if res, ok := s.warmed[target]; ok {
			ev.Evidence = withEvidence(ev.Evidence, "result", res)
			delete(s.warmed, target)
		}
	case a.Type == controller.EventOverride && a.To == "" && s.releasedBy != "":
		ev.Message += " by " + s.releasedBy
		ev.Evidence = withEvidence(ev.Evidence, "by", s.releasedBy)
		s.releasedBy = ""
	}
	return ev
}

// withEvidence returns ev (copied) with k set to v.
func withEvidence(ev map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(ev)+1)
	for key, val := range ev {
		out[key] = val
	}
	out[k] = v
	return out
}

// said reports whether one of events already says msg.
func said(events []store.Event, msg string) bool {
	for _, e := range events {
		if e.Message != "" && strings.Contains(msg, e.Message) {
			return true
		}
	}
	return false
}

// dispatch carries out the actions of a step. Callers hold r.mu.
func (r *Runner) dispatch(ctx context.Context, o *stepOut, now time.Time) {
	s := o.s
	for _, a := range o.acts {
		switch a := a.(type) {
		case controller.SetRouting:
			r.startApply(ctx, s, a)
		case controller.StartWarmup:
			r.startWarmup(ctx, s, a)
		case controller.RunHooks:
			r.startHooks(ctx, s, a, hooks.Event{
				Type: hooks.EventType(a.Event), Service: s.name, Target: a.Target,
				From: string(o.from), To: string(o.to), Routing: o.routing.Clone(),
				Reason: a.Reason, Time: now,
			})
		case controller.ClearOverride:
			if s.override == o.override {
				s.override = nil
			}
		}
	}
}

// appendEvents stores events durably and returns them with their ids. On a
// store failure it logs and returns them without ids: the audit trail must
// not stop a failover.
func (r *Runner) appendEvents(events []store.Event) []store.Event {
	if len(events) == 0 {
		return nil
	}
	stored, err := r.store.AppendMany(events)
	if err != nil {
		r.log.Error("storing events", "events", len(events), "err", err)
		return events
	}
	return stored
}

// appendAndPublish stores events and streams them.
func (r *Runner) appendAndPublish(events []store.Event) {
	r.publish(eventMessages(r.appendEvents(events)))
}

func eventMessages(events []store.Event) []api.StreamMessage {
	msgs := make([]api.StreamMessage, 0, len(events))
	for _, e := range events {
		msgs = append(msgs, api.StreamMessage{Type: "event", ID: e.ID, Data: e})
	}
	return msgs
}

// updateVantages sets failover_vantage_live. Callers hold r.mu.
func (r *Runner) updateVantages(now time.Time) {
	fresh := health.StaleAfter * r.interval()
	for v, at := range r.lastSeen {
		age := now.Sub(at)
		switch {
		case age > vantageForget:
			delete(r.lastSeen, v)
			r.m.VantageLive.DeleteLabelValues(v)
		case age <= fresh:
			r.m.VantageLive.WithLabelValues(v).Set(1)
		default:
			r.m.VantageLive.WithLabelValues(v).Set(0)
		}
	}
}

// interval is the probe interval. Callers hold r.mu.
func (r *Runner) interval() time.Duration {
	if d := r.cfg.Probes.Interval; d > 0 {
		return d
	}
	return 5 * time.Second
}

// report queues an action's outcome for the service's next step and asks
// for that step now. Callers hold r.mu.
func (r *Runner) report(s *service, rep controller.Report) {
	s.reports = append(s.reports, rep)
	r.kickLoop()
}
