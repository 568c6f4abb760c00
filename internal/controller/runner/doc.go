// Package runner is the loop around the pure decision engine: it feeds probe
// results (the local prober's and the agents') into one health tracker per
// service, steps the engine of every service on a clock, and carries out what
// the engine asks for: DNS writes through the service's provider, cache
// warm-ups, hooks, alerts and the audit trail in the store. It implements
// api.Backend, so the HTTP API reads and acts through it.
//
//	r, err := runner.New(cfg, runner.Options{Store: st, Metrics: m, Logger: log})
//	go r.Run(ctx)        // returns once every goroutine it started has stopped
//	r.Reload(newCfg)     // on SIGHUP or a changed file; keeps the old config on error
//
// # Start
//
// Run builds nothing new: New already built the providers and the engines.
// Run starts the builtin DNS servers, then reads every service's actual
// routing from its provider and resumes the engine from it and from the state
// in the store (controller.Engine.Resume). Until a service's provider has been
// read the service is not stepped, so nothing is written to it; a failed read
// is retried with backoff (1s doubling to 1m) and Ready reports it. A resumed
// engine writes nothing before it has fresh evidence from min_vantages
// vantages.
//
// # Ingest
//
// Results from SubmitResults and from the local prober go through one path.
// A result is dropped, and counted in failover_results_dropped_total{reason},
// when it names an unknown service or target (unknown_target), when it is
// malformed or its vantage name is not a valid name (invalid), when it is
// dated more than MaxClockSkew ahead of the controller's clock (future), when
// it is older than health.StaleAfter probe intervals (stale), and when it is
// not newer than the last result of its (target, vantage) pair (replay).
//
// # The decision loop
//
// Every controller.evaluate_every, and at once after an override or when an
// action reports back, each ready service is evaluated (Tracker.Evaluate) and
// stepped (Engine.Step). The events of one evaluation are appended to the
// store in one durable transaction, and each changed state is saved, before
// any action of that evaluation starts; an action's own outcome (a hook run,
// a DNS write) is stored before it is reported back to the engine. Then:
//
//   - SetRouting: applied through the provider (reduced by
//     dnsswitch.Effective), one write in flight per service; a newer routing
//     waits for the one in flight and replaces any other waiting one. The
//     outcome comes back as DNSApplied or DNSFailed. An error wrapping
//     dnsswitch.ErrRetryable is soft (logged at WARN, counted as retryable);
//     any other is hard (logged at ERROR). The engine retries either after
//     its DNSRetry.
//   - StartWarmup: the Warmer in a goroutine, bounded by the target's
//     max_wait (the engine's PrimaryWarmWait for the primary before a ramp
//     back), reported as WarmupDone or WarmupFailed; the engine's warmup event
//     carries the result.
//   - RunHooks: the HookRunner in a goroutine; every hook run is an event of
//     type hook with its result and duration; a before_shift gate reports
//     HooksDone when every hook succeeded, HooksFailed otherwise.
//   - Alert: logged at WARN, and stored as an event of type state (evidence
//     {"alert": severity}) unless an event of the same evaluation already says
//     it.
//   - ClearOverride: the override the runner holds is dropped.
//
// # Overrides
//
// Drill and Pin are checked with Engine.ValidateOverride against the latest
// verdicts (a refusal is api.ErrConflict and an override event), then handed
// to the engine, which is stepped at once; they return after that step, so
// the override is stored in the service's state and survives a restart.
//
// # Reload
//
// Reload checks that it can apply the new config (engines, probes,
// providers, builtin servers) before it changes anything, and otherwise
// returns an error and keeps the old one. Unchanged services keep their
// tracker, state and override. A changed service keeps its state and is
// resumed from it on a new engine; its tracker is rebuilt only when its
// targets, policy or the probe interval changed, and its provider is read
// again when the provider or the service's records changed.
package runner
