package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// CONTRACT §4: override.until is always there, null for a pin until released.
func TestOverrideUntilJSON(t *testing.T) {
	b, err := json.Marshal(Override{Kind: "pin", To: "backup", Reason: "r", By: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if v, ok := m["until"]; !ok || v != nil || m["kind"] != "pin" || m["by"] != "ops" || len(m) != 5 {
		t.Fatalf("got %s, want until null and the four other keys", b)
	}
	until := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	b, _ = json.Marshal(Override{Kind: "drill", To: "backup", Until: until})
	if !strings.Contains(string(b), `"until":"2026-11-28T12:00:00Z"`) {
		t.Fatalf("got %s", b)
	}
	var back Override
	if err := json.Unmarshal(b, &back); err != nil || !back.Until.Equal(until) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
