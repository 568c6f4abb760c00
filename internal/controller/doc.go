// Package controller is the pure decision engine of failover: the state
// machine of CONTRACT §3, routing (weights per target), warm-up and
// before_shift gating, ramps back to the primary, damping and overrides.
//
// Engine.Step is a pure function of (State, Input, now): it does no I/O,
// never reads the wall clock and starts no goroutines. It returns the next
// State and a list of Actions for the loop around it to carry out. The loop
// reports the outcome of those actions (warm-up done, gate hooks done, DNS
// applied) back through the next Input. State is a plain value (JSON
// serialisable) that the loop stores; Step never modifies the State it is
// given.
//
//	eng, err := controller.New(svc, controller.Options{}) // svc config.Service
//	tr := health.NewTracker(svc, interval)
//	st := eng.Initial(start) // or eng.Resume(stored, actualRoutingFromDNS, start)
//	var reports []controller.Report
//	for now := start; now.Before(end); now = now.Add(tick) {
//		// tr.Observe(vantage, result) for every result of this tick ...
//		var acts []controller.Action
//		st, acts = eng.Step(st, controller.Input{
//			Verdicts: tr.Evaluate(now),
//			Override: activeOverride, // nil when none
//			Reports:  reports,
//		}, now)
//		reports = nil
//		for _, a := range acts {
//			switch a := a.(type) {
//			case controller.SetRouting: // write a.Routing to DNS, then:
//				reports = append(reports, controller.Report{Kind: controller.DNSApplied, Routing: a.Routing})
//			case controller.StartWarmup: // warm a.Target, then:
//				reports = append(reports, controller.Report{Kind: controller.WarmupDone, Target: a.Target})
//			case controller.RunHooks: // run a.Hooks; for a gate (a.Gate) report back:
//				if a.Gate {
//					reports = append(reports, controller.Report{Kind: controller.HooksDone, Target: a.Target})
//				}
//			case controller.ClearOverride: // the drill expired or was refused
//				activeOverride = nil
//			case controller.Alert, controller.Event: // notify, record
//			}
//		}
//	}
//
// A simulator that wants warm-ups to take time keeps the report and feeds
// it into a later Step instead.
//
// # Decisions
//
// States and routing. The fallback order is the primary, then backups in
// config order, then origins. Weight only ever moves onto a target whose
// verdict is healthy; unknown and unhealthy targets never receive weight.
// Routing always covers every target and sums to 100 (see Routing.Validate).
//
//   - healthy: all weight on the primary.
//   - degraded: the primary is Suspect (see package health); the first healthy
//     fallback is warmed ahead (StartWarmup). No weight moves.
//   - failing_over: the primary (or the active fallback) is unhealthy at
//     quorum; the chosen fallback's warm-up and before_shift gate hooks run.
//     The engine waits for them at most the warm-up's max_wait
//     (Options.DefaultMaxWait, 10s, when unset), or Options.GateWait (default
//     10s) for before_shift hooks, whichever is longer, then shifts anyway:
//     the outage is under way. A failed warm-up or
//     gate does not block the shift; it alerts. A target with neither shifts
//     at once.
//   - failed_over: the weight is on a fallback. A target with steps (the
//     origin) takes weight step by step: its first step at the shift, the
//     next one every failback.hold while it stays healthy and weight is left
//     on unhealthy targets; the rest stays where it was, scaled down (Blend).
//     If the active fallback becomes unhealthy, the engine fails over to the
//     next healthy target in fallback order (the primary included, when it is
//     healthy: then all weight goes straight back to it). Unknown health of
//     the active fallback holds everything as it is.
//   - recovering: after the primary has been healthy without a break for
//     recover_after (times the damping multiplier), it is warmed (bounded by
//     Options.PrimaryWarmWait, default 2m) and then the weight steps back
//     through failback.steps, holding failback.hold at each step. A primary
//     that turns unhealthy or suspect during the ramp aborts it back to
//     failed_over (all weight on the fallback), and the multiplier doubles
//     (1, 2, 4, 8); it resets after 24h without a relapse. Any break in the
//     primary's health (unhealthy, unknown or suspect) restarts the
//     recover_after clock. A fallback that dies during the ramp sends all
//     weight to the healthy primary at once.
//   - frozen: fewer than min_vantages live vantages, or no healthy target.
//     Routing stays as it is, nothing is written, an Alert fires.
//   - manual: a drill or pin is in force (Input.Override).
//
// Damping. Every automatic routing change is counted in a sliding hour.
// A change is an emergency move when it strictly lowers the total weight on
// targets that are unhealthy at quorum; any other automatic change (a ramp
// step, a ramp abort on a merely suspect primary) is discretionary. Once
// max_shifts_per_hour automatic changes happened in the last hour, a
// discretionary change is held (the state's reason says so and an Alert
// fires once); emergency moves are still made, because staying on a dead CDN
// is worse. So: a discretionary change happens only while fewer than
// max_shifts_per_hour automatic changes happened in the hour before it.
// Override moves (start, expiry, release) are operator actions and are
// neither counted nor capped.
//
// Overrides. A drill (with an expiry) or a pin (expiry optional) moves all
// weight to its target at once. ValidateOverride refuses one whose target is
// not healthy unless Force is set; Step re-checks a new override and refuses
// it the same way (Alert, Event, ClearOverride). A drill whose target turns
// unhealthy is aborted (unless forced); a pin holds and alerts. When the
// override ends the engine reconciles from the verdicts, which it kept
// tracking underneath: back to the primary when it is healthy, otherwise to
// the best healthy fallback.
//
// Restart. Initial and Resume return a state that awaits evidence: until
// some target has a verdict other than unknown (which needs min_vantages
// fresh vantages), Step writes nothing and changes nothing. After
// Options.StartupGrace (default 30s) without evidence it goes frozen and
// alerts.
//
// Hooks. The on: events of CONTRACT §2 come out as RunHooks actions with
// Event set (only when the service lists hooks for that event); before_shift
// gates come out as RunHooks with Gate set and are awaited through Reports.
// failover fires when a shift away from the primary begins, failed_over when
// weight lands on a fallback, recovering at the first ramp step, recovered
// when all weight is back on the primary after having left it, override when
// a drill or pin starts or ends.
//
// Audit trail. Every state change comes with an Event of type state whose
// Message is the human-readable reason and whose Evidence holds, per target
// concerned, the verdict, its reason, the vantages up, down and failing, the
// failure classes, the first-seen failing time and the last error. Routing
// decisions and DNS reports give dns events, warm-up and gate reports
// warmup and hook events, overrides override events, and health notices
// (impaired or recovered vantages) vantage events. State.Reason always says
// what the engine is doing or waiting for.
//
// DNS writes. State.Routing is the desired routing, State.Applied the one DNS
// confirmed. A DNSFailed report for the desired routing alerts and makes the
// engine write it again after Options.DNSRetry, as long as every target that
// would gain weight over what DNS holds is healthy.
package controller
