// Package health turns probe evidence into per-target verdicts for one
// service: per-vantage rise/fall counting, quorum over live vantages, stale
// vantages and probe-side faults (impaired vantages).
//
// A Tracker is fed probe results as they arrive and evaluated at a time the
// caller chooses. It starts no goroutines and never reads the wall clock, so
// the decision engine, the simulator and the tests all drive it with explicit
// times. A Tracker is not safe for concurrent use; the caller serialises
// Observe and Evaluate (one Tracker per service).
//
//	t := health.NewTracker(svc, 5*time.Second) // svc config.Service, probe interval
//	for _, r := range batch {                   // results pushed by vantage "eu-1"
//		if err := t.Observe("eu-1", r); err != nil {
//			// ErrUnknownTarget, ErrWrongService or ErrReplay: the result was ignored.
//		}
//	}
//	v := t.Evaluate(now)
//	pv, _ := v.Target("cloudflare")
//	fmt.Println(pv.Status, pv.Reason) // "unhealthy", "2 of 3 live vantages down ..."
//	for _, n := range v.Notices {     // a vantage became impaired or recovered
//		// write an event of type "vantage"
//	}
//
// # Rules
//
// Rise/fall. Each result of a (target, vantage) pair is one round. A vantage
// calls a target down after Policy.Fall consecutive failed results and up
// after Policy.Rise consecutive good ones. A fresh pair is "unknown" (state
// StatePending) until it reaches one of the two thresholds: a new vantage
// with Rise good results is up, one with Fall failed results is down.
//
// Flapping. Each pair also keeps a sliding window of its last W rounds, W =
// FlapWindow(fall) = FlapWindowFalls*fall (12 at fall 3), as a bitset. The
// window is unsteady when at least FlapFailures(fall) of its rounds failed
// (FlapRatio, one half: 6 of 12) in at least two separate failing runs. A
// vantage also calls a target down when its window is full and unsteady, so
// a target that fails every other round, which never reaches fall failures
// in a row, is down after at most W rounds. It comes back up only by the
// rise rule and while its window is not unsteady: a target that keeps
// flapping stays down until it has been steady for rise rounds and fewer than
// half of its last W rounds failed. The "two separate runs" condition leaves
// solid outages to the rise/fall rule: a pair whose failures in the window
// are one run (an outage that has just ended) comes up after rise good
// rounds as before; and any run of 2*fall failures has fall in a row, so the
// condition never delays a flap's detection. With independent random loss p
// the flap rule's false alarm rate per vantage and window is the binomial
// tail P(at least W/2 of W): about 1e-5 at p = 5% and fall 3, and quorum needs
// several vantages at once, so it adds no false downs at quorum in practice.
// A vantage's window is cleared when it recovers from impairment.
//
// Freshness. A pair counts for its target only while its newest result is no
// older than 3 probe intervals. A vantage is live while at least one of its
// pairs is fresh.
//
// Quorum. Over the n counted vantages of a target (fresh and not impaired):
// the target is Unhealthy when down >= quorum*n, Healthy when up >
// (1-quorum)*n, and Unknown when n < min_vantages. The two conditions cannot
// both hold; when neither holds (for example 1 up, 1 down and 1 still
// pending out of 3 at quorum 0.5) the verdict is Unknown as well: no
// decision either way, and the controller neither moves weight onto nor away
// from such a target on its account.
//
// Suspect. A target that is not Unhealthy but fails somewhere is Suspect:
// at least one counted vantage calls it down, or at least quorum of the
// counted vantages failed their last ceil(fall/2) rounds in a row, or at
// least quorum of the counted vantages show a flap in their window: at least
// fall failed rounds in at least two separate runs (VantageEvidence.Flapping).
// The last rule warns of a flap well before the window confirms it (after
// 2*fall-1 rounds of a target failing every other round, against W), so the
// backup is warmed meanwhile. The controller uses the primary's Suspect flag
// for its degraded state. (A single lost probe never makes a target suspect
// unless fall is 1.) When the flap rule or the flap warning contributes to a
// verdict, its Reason ends with the windows of the flapping vantages, as in
// "; flapping: a 6 of 12 rounds failed, b 6 of 12 rounds failed".
//
// Impaired vantages. During Evaluate, a live vantage whose fresh results for
// at least 2 targets have all failed in their latest round, while for each
// of those targets the other counted vantages (at least one) see it good by
// the quorum rule (more than (1-quorum)*m of them have a good result no older
// than the start of the vantage's failing run), is marked impaired and
// excluded from every
// quorum until it recovers, that is until one of its fresh results is good
// again. On recovery its rise/fall counters and flap windows restart from
// pending, so it counts again once it has Rise good (or Fall failed)
// rounds. Each change
// produces a Notice. Impairment is judged per service (per Tracker).
//
// Replays. Results for a target the service does not have are rejected with
// ErrUnknownTarget, results of another service with ErrWrongService, and a
// result not newer than the last one of its (target, vantage) pair with
// ErrReplay. A rejected result changes nothing.
//
// Zero policy fields take the defaults of EffectivePolicy.
package health
