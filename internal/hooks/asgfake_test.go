package hooks

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// asgFake is a wire-level fake of the EC2 Auto Scaling API (the AWS Query
// protocol: a POST form with Action and Version=2011-01-01, XML answers)
// that enforces the rules the hook meets: an unknown group, a desired
// capacity above the maximum, and a request that is not signed. New
// instances start Pending and become InService and Healthy after
// pendingPolls describes.
type asgFake struct {
	srv *httptest.Server

	mu           sync.Mutex
	groups       map[string]*fakeGroup
	pendingPolls int
	nextID       int
	calls        []fakeCall
	// failNext answers the next n DescribeAutoScalingGroups with a 500;
	// each SetDesiredCapacity sets it to failAfterSet.
	failNext, failAfterSet int
	// neverUp is how many of the next new instances never come up.
	neverUp int
}

type fakeGroup struct {
	desired, max int
	instances    []*fakeInstance
}

type fakeInstance struct {
	id          string
	pollsToGo   int // describes left before it is InService; 0: in service
	neverHealth bool
}

// fakeCall is one API call as the fake received it.
type fakeCall struct {
	action string
	form   map[string]string
	auth   string
}

func newASGFake(t *testing.T, pendingPolls int) *asgFake {
	f := &asgFake{groups: map[string]*fakeGroup{}, pendingPolls: pendingPolls}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// addGroup creates a group with n instances in service.
func (f *asgFake) addGroup(name string, n, max int) *fakeGroup {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := &fakeGroup{desired: n, max: max}
	for range n {
		g.instances = append(g.instances, f.newInstance(0))
	}
	f.groups[name] = g
	return g
}

func (f *asgFake) newInstance(polls int) *fakeInstance {
	f.nextID++
	in := &fakeInstance{id: fmt.Sprintf("i-%017x", f.nextID), pollsToGo: polls}
	if polls > 0 && f.neverUp > 0 {
		f.neverUp--
		in.neverHealth = true
	}
	return in
}

func (f *asgFake) callsOf(action string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if c.action == action {
			out = append(out, c)
		}
	}
	return out
}

const asgNS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

func (f *asgFake) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f.fail(w, 400, "InvalidAction", "want a form POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		f.fail(w, 400, "MalformedQueryString", err.Error())
		return
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	auth := r.Header.Get("Authorization")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{action: form["Action"], form: form, auth: auth})
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDFAKE/") {
		f.fail(w, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	if form["Version"] != "2011-01-01" {
		f.fail(w, 400, "InvalidAction", "unknown version "+form["Version"])
		return
	}
	switch form["Action"] {
	case "SetDesiredCapacity":
		f.setDesired(w, form)
	case "DescribeAutoScalingGroups":
		f.describe(w, form)
	default:
		f.fail(w, 400, "InvalidAction", "unknown action "+form["Action"])
	}
}

func (f *asgFake) setDesired(w http.ResponseWriter, form map[string]string) {
	name := form["AutoScalingGroupName"]
	g, ok := f.groups[name]
	if !ok {
		f.fail(w, 400, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup "+name+" not found")
		return
	}
	desired, err := strconv.Atoi(form["DesiredCapacity"])
	if err != nil {
		f.fail(w, 400, "ValidationError", "DesiredCapacity is required")
		return
	}
	if desired > g.max {
		f.fail(w, 400, "ValidationError", fmt.Sprintf("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.max))
		return
	}
	for len(g.instances) < desired {
		g.instances = append(g.instances, f.newInstance(f.pendingPolls))
	}
	g.instances = g.instances[:desired]
	g.desired = desired
	f.failNext = f.failAfterSet
	fmt.Fprintf(w, `<SetDesiredCapacityResponse xmlns="%s"><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></SetDesiredCapacityResponse>`, asgNS)
}

func (f *asgFake) describe(w http.ResponseWriter, form map[string]string) {
	if f.failNext > 0 {
		f.failNext--
		f.fail(w, 500, "InternalFailure", "try again")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<DescribeAutoScalingGroupsResponse xmlns="%s"><DescribeAutoScalingGroupsResult><AutoScalingGroups>`, asgNS)
	for i := 1; ; i++ {
		name, ok := form["AutoScalingGroupNames.member."+strconv.Itoa(i)]
		if !ok {
			break
		}
		g, ok := f.groups[name]
		if !ok {
			continue // AWS leaves unknown groups out
		}
		fmt.Fprintf(&b, `<member><AutoScalingGroupName>%s</AutoScalingGroupName>`, xmlText(name))
		fmt.Fprintf(&b, `<MinSize>0</MinSize><MaxSize>%d</MaxSize><DesiredCapacity>%d</DesiredCapacity>`, g.max, g.desired)
		b.WriteString(`<DefaultCooldown>300</DefaultCooldown><AvailabilityZones><member>us-east-1a</member></AvailabilityZones>`)
		b.WriteString(`<HealthCheckType>EC2</HealthCheckType><CreatedTime>2026-01-01T00:00:00Z</CreatedTime><Instances>`)
		for _, in := range g.instances {
			state, health := "InService", "Healthy"
			if in.pollsToGo > 0 {
				state = "Pending"
				in.pollsToGo--
			}
			if in.neverHealth {
				state = "Pending"
			}
			fmt.Fprintf(&b, `<member><InstanceId>%s</InstanceId><AvailabilityZone>us-east-1a</AvailabilityZone>`+
				`<LifecycleState>%s</LifecycleState><HealthStatus>%s</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>`,
				in.id, state, health)
		}
		b.WriteString(`</Instances></member>`)
	}
	b.WriteString(`</AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`)
	w.Header().Set("Content-Type", "text/xml")
	w.Write([]byte(b.String()))
}

func (f *asgFake) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-err</RequestId></ErrorResponse>`,
		asgNS, typ, code, xmlText(msg))
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
