package hooks

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// EventType is what happened: one of the `on:` events of CONTRACT §2, or
// EventGate for a before_shift hook.
type EventType string

// The event types.
const (
	EventDegraded   EventType = "degraded"
	EventFailover   EventType = "failover"
	EventFailedOver EventType = "failed_over"
	EventRecovering EventType = "recovering"
	EventRecovered  EventType = "recovered"
	EventFrozen     EventType = "frozen"
	EventOverride   EventType = "override"
	// EventGate: a target is about to receive weight, and its
	// before_shift hooks are awaited first.
	EventGate EventType = "gate"
)

// Event is what a hook is told: the JSON body of a webhook, and the stdin
// of an exec hook. Routing maps target names to weights.
type Event struct {
	ID      string         `json:"id"`
	Type    EventType      `json:"type"`
	Service string         `json:"service"`
	Target  string         `json:"target,omitempty"`
	From    string         `json:"from,omitempty"` // the service's state before
	To      string         `json:"to,omitempty"`   // and after
	Routing map[string]int `json:"routing,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Time    time.Time      `json:"time"`
}

// NewEventID returns a random event ID, "evt_" and 32 hex digits.
func NewEventID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return "evt_" + hex.EncodeToString(b[:])
}
