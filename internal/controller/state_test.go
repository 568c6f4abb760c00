package controller

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStateSurvivesTheStore: the loop stores State as JSON; a stored and
// reloaded state must carry on exactly like the original.
func TestStateSurvivesTheStore(t *testing.T) {
	e := newEngine(t, testService())
	st := play(t, e, started(t, e), concat(failedOverTicks, rampTicks))
	st.Override = &Override{Kind: Pin, To: "backup", Reason: "r", Until: t0.Add(sec(900))}
	st.Warmups = map[string]WarmupRecord{"backup": {Status: WarmupStatusDone, At: t0}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, back); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s\n%s", diff, b)
	}
	in := Input{Verdicts: verdicts(nil, 3), Override: st.Override}
	a, actsA := e.Step(st, in, t0.Add(sec(200)))
	c, actsC := e.Step(back, in, t0.Add(sec(200)))
	if diff := cmp.Diff(a, c); diff != "" {
		t.Errorf("next state differs after the round trip:\n%s", diff)
	}
	if diff := cmp.Diff(actsA, actsC); diff != "" {
		t.Errorf("actions differ after the round trip:\n%s", diff)
	}
}
