package controller

import "time"

// Action is something the loop must do. The concrete types are SetRouting,
// StartWarmup, RunHooks, Alert, Event and ClearOverride.
type Action interface{ action() }

// SetRouting asks the loop to write Routing to DNS and to report the outcome
// (DNSApplied or DNSFailed).
type SetRouting struct {
	Routing  Routing
	Previous Routing
	Reason   string
	// Automatic: decided by the engine (counted against
	// max_shifts_per_hour); false for override moves and write retries.
	Automatic bool
	// Emergency: the change lowers the weight on unhealthy targets.
	Emergency bool
}

// StartWarmup asks the loop to warm Target's cache and to report WarmupDone
// or WarmupFailed.
type StartWarmup struct {
	Target string
	Reason string
}

// RunHooks asks the loop to run Hooks. With Gate set they are Target's
// before_shift hooks and the engine awaits a HooksDone or HooksFailed
// report for Target; otherwise they are the on: hooks of Event.
type RunHooks struct {
	Event  HookEvent
	Gate   bool
	Target string
	Hooks  []string
	Reason string
}

// HookEvent is an on: event of CONTRACT §2.
type HookEvent string

// The hook events.
const (
	OnDegraded   HookEvent = "degraded"
	OnFailover   HookEvent = "failover"
	OnFailedOver HookEvent = "failed_over"
	OnRecovering HookEvent = "recovering"
	OnRecovered  HookEvent = "recovered"
	OnFrozen     HookEvent = "frozen"
	OnOverride   HookEvent = "override"
)

// Alert severities.
const (
	Critical = "critical"
	Warning  = "warning"
)

// Alert asks the loop to notify a human.
type Alert struct {
	Severity string
	Message  string
}

// Event types (CONTRACT §4).
const (
	EventState    = "state"
	EventDNS      = "dns"
	EventWarmup   = "warmup"
	EventHook     = "hook"
	EventOverride = "override"
	EventVantage  = "vantage"
)

// Event is an entry for the audit trail (CONTRACT §4 Event, less the id the
// store assigns).
type Event struct {
	Time     time.Time
	Service  string
	Type     string
	From, To string
	Message  string
	Evidence map[string]any
}

// ClearOverride tells the loop that the override it holds has ended (a drill
// expired or was aborted) or was refused, so it must drop it.
type ClearOverride struct {
	Reason string
}

func (SetRouting) action()    {}
func (StartWarmup) action()   {}
func (RunHooks) action()      {}
func (Alert) action()         {}
func (Event) action()         {}
func (ClearOverride) action() {}
