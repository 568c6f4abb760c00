package r53fake_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/dnsswitch/route53/r53fake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const zoneID = "Z1"

func start(t *testing.T, opts r53fake.Options) *r53fake.Server {
	t.Helper()
	s := r53fake.New(opts)
	t.Cleanup(s.Close)
	s.AddZone(zoneID, "example.com.")
	return s
}

// client is the real SDK, pointed at the fake, with no retries of its own.
func client(t *testing.T, s *r53fake.Server, accessKey string) *route53.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return route53.New(route53.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, "secret", ""),
		HTTPClient:   &http.Client{Transport: tr},
		Retryer:      aws.NopRetryer{},
	})
}

func weighted(name, typ, id string, weight int64, ttl int64, values ...string) types.ResourceRecordSet {
	s := types.ResourceRecordSet{Name: aws.String(name), Type: types.RRType(typ), TTL: aws.Int64(ttl)}
	if id != "" {
		s.SetIdentifier = aws.String(id)
		s.Weight = aws.Int64(weight)
	}
	for _, v := range values {
		s.ResourceRecords = append(s.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return s
}

func change(ctx context.Context, c *route53.Client, changes ...types.Change) (*route53.ChangeResourceRecordSetsOutput, error) {
	return c.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String("/hostedzone/" + zoneID), // the SDK strips the prefix
		ChangeBatch:  &types.ChangeBatch{Comment: aws.String("test"), Changes: changes},
	})
}

func act(a types.ChangeAction, s types.ResourceRecordSet) types.Change {
	return types.Change{Action: a, ResourceRecordSet: &s}
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func batchMessages(t *testing.T, err error) string {
	t.Helper()
	var icb *types.InvalidChangeBatch
	if !errors.As(err, &icb) {
		t.Fatalf("err = %v, want *types.InvalidChangeBatch", err)
	}
	return aws.ToString(icb.Message) + strings.Join(icb.Messages, "; ")
}

func keys(sets []r53fake.RRSet) []string {
	var out []string
	for _, s := range sets {
		k := s.Name + " " + s.Type
		if s.SetIdentifier != "" {
			k += " " + s.SetIdentifier
		}
		out = append(out, k)
	}
	return out
}

func TestChangeRules(t *testing.T) {
	ctx := context.Background()
	a1 := weighted("www.example.com.", "A", "one", 10, 60, "192.0.2.1")
	a2 := weighted("www.example.com.", "A", "two", 90, 60, "192.0.2.2")
	tests := []struct {
		name    string
		seed    []types.ResourceRecordSet
		changes []types.Change
		code    string // "" means accepted
		message string // part of the message
	}{
		{name: "create new", changes: []types.Change{act("CREATE", a1)}},
		{name: "create existing", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("CREATE", a1)},
			code: "InvalidChangeBatch", message: "Tried to create resource record set [name='www.example.com.', type='A', set-identifier='one'] but it already exists"},
		{name: "upsert existing", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("UPSERT", weighted("www.example.com.", "A", "one", 50, 60, "192.0.2.9"))}},
		{name: "delete missing", changes: []types.Change{act("DELETE", a1)},
			code: "InvalidChangeBatch", message: "but it was not found"},
		{name: "delete with other values", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("DELETE", weighted("www.example.com.", "A", "one", 10, 60, "192.0.2.7"))},
			code: "InvalidChangeBatch", message: "but the values provided do not match the current values"},
		{name: "delete with other weight", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("DELETE", weighted("www.example.com.", "A", "one", 11, 60, "192.0.2.1"))},
			code: "InvalidChangeBatch", message: "do not match"},
		{name: "delete with other ttl", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("DELETE", weighted("www.example.com.", "A", "one", 10, 61, "192.0.2.1"))},
			code: "InvalidChangeBatch", message: "do not match"},
		{name: "delete exact", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("DELETE", a1)}},
		{name: "simple beside weighted", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("CREATE", weighted("www.example.com.", "A", "", 0, 60, "192.0.2.3"))},
			code: "InvalidChangeBatch", message: "non-weighted set exists with the same name and type"},
		{name: "cname beside A", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("CREATE", weighted("www.example.com.", "CNAME", "two", 1, 60, "cdn.example.net."))},
			code: "InvalidChangeBatch", message: "conflicting RRSet of type CNAME"},
		{name: "weighted A beside weighted AAAA", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{act("CREATE", weighted("www.example.com.", "AAAA", "one", 1, 60, "2001:db8::1"))}},
		{name: "A to CNAME in one batch", seed: []types.ResourceRecordSet{a1, a2}, changes: []types.Change{
			act("DELETE", a1), act("DELETE", a2),
			act("CREATE", weighted("www.example.com.", "CNAME", "one", 10, 60, "one.example.net.")),
			act("CREATE", weighted("www.example.com.", "CNAME", "two", 90, 60, "two.example.net."))}},
		{name: "A to CNAME leaving an A", seed: []types.ResourceRecordSet{a1, a2}, changes: []types.Change{
			act("DELETE", a1), act("CREATE", weighted("www.example.com.", "CNAME", "one", 10, 60, "one.example.net."))},
			code: "InvalidChangeBatch", message: "conflicting RRSet of type CNAME"},
		{name: "cname at apex", changes: []types.Change{act("CREATE", weighted("example.com.", "CNAME", "", 0, 60, "x.example.net."))},
			code: "InvalidChangeBatch", message: "not permitted at apex"},
		{name: "outside the zone", changes: []types.Change{act("CREATE", weighted("www.example.org.", "A", "one", 1, 60, "192.0.2.1"))},
			code: "InvalidChangeBatch", message: "RRSet with DNS name www.example.org. is not permitted in zone example.com."},
		{name: "bad IPv4", changes: []types.Change{act("CREATE", weighted("www.example.com.", "A", "one", 1, 60, "2001:db8::1"))},
			code: "InvalidChangeBatch", message: "ARRDATAIllegalIPv4Address"},
		{name: "two CNAME values", changes: []types.Change{act("CREATE", weighted("www.example.com.", "CNAME", "one", 1, 60, "a.example.net.", "b.example.net."))},
			code: "InvalidChangeBatch", message: "more than one resource record"},
		{name: "weight out of range", changes: []types.Change{act("CREATE", weighted("www.example.com.", "A", "one", 256, 60, "192.0.2.1"))},
			code: "InvalidInput", message: "Weight 256"},
		{name: "no ttl", changes: []types.Change{{Action: "CREATE", ResourceRecordSet: &types.ResourceRecordSet{
			Name: aws.String("www.example.com."), Type: "A", ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.1")}}}}},
			code: "InvalidInput", message: "but found none"},
		{name: "atomic: a good change and a bad one", seed: []types.ResourceRecordSet{a1}, changes: []types.Change{
			act("UPSERT", weighted("www.example.com.", "A", "one", 77, 60, "192.0.2.1")), act("DELETE", a2)},
			code: "InvalidChangeBatch", message: "set-identifier='two'] but it was not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, r53fake.Options{})
			c := client(t, s, "AKID")
			for _, set := range tt.seed {
				if _, err := change(ctx, c, act("CREATE", set)); err != nil {
					t.Fatalf("seed: %v", err)
				}
			}
			before := s.RRSets(zoneID)
			_, err := change(ctx, c, tt.changes...)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("change: %v", err)
				}
				return
			}
			if got := apiCode(err); got != tt.code {
				t.Fatalf("code = %q (err %v), want %q", got, err, tt.code)
			}
			msg := err.Error()
			if tt.code == "InvalidChangeBatch" {
				msg = batchMessages(t, err)
			}
			if !strings.Contains(msg, tt.message) {
				t.Errorf("message %q does not contain %q", msg, tt.message)
			}
			if after := s.RRSets(zoneID); !reflect.DeepEqual(after, before) {
				t.Errorf("a refused batch changed the zone:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestChangeLimit(t *testing.T) {
	s := start(t, r53fake.Options{MaxChanges: 3})
	c := client(t, s, "AKID")
	var changes []types.Change
	for i := range 4 {
		changes = append(changes, act("CREATE", weighted("www.example.com.", "A", fmt.Sprint("t", i), 1, 60, fmt.Sprintf("192.0.2.%d", i+1))))
	}
	_, err := change(context.Background(), c, changes...)
	if msg := batchMessages(t, err); !strings.Contains(msg, "Number of records limit of 3 exceeded") {
		t.Errorf("message = %q", msg)
	}
	if _, err := change(context.Background(), c, changes[:3]...); err != nil {
		t.Errorf("3 changes: %v", err)
	}
}

func TestLegacyInvalidChangeBatch(t *testing.T) {
	s := start(t, r53fake.Options{LegacyInvalidChangeBatch: true})
	c := client(t, s, "AKID")
	_, err := change(context.Background(), c, act("DELETE", weighted("www.example.com.", "A", "one", 1, 60, "192.0.2.1")))
	if msg := batchMessages(t, err); !strings.Contains(msg, "but it was not found") {
		t.Errorf("message = %q", msg)
	}
}

func TestListPagination(t *testing.T) {
	ctx := context.Background()
	s := start(t, r53fake.Options{PageSize: 2})
	c := client(t, s, "AKID")
	var changes []types.Change
	for _, id := range []string{"c", "a", "b"} {
		changes = append(changes, act("CREATE", weighted("www.example.com.", "A", id, 1, 60, "192.0.2.1")))
	}
	changes = append(changes,
		act("CREATE", weighted("www.example.com.", "TXT", "", 0, 60, `"v=1"`)),
		act("CREATE", weighted("a.www.example.com.", "A", "", 0, 60, "192.0.2.2")),
		act("CREATE", weighted("api.example.com.", "A", "", 0, 60, "192.0.2.3")),
		act("CREATE", weighted("*.example.com.", "A", "", 0, 60, "192.0.2.4")),
	)
	if _, err := change(ctx, c, changes...); err != nil {
		t.Fatal(err)
	}

	// Everything, page by page, from the start of the zone.
	var got []string
	in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), MaxItems: aws.Int32(5)}
	pages := 0
	for {
		out, err := c.ListResourceRecordSets(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.ResourceRecordSets) > 2 {
			t.Fatalf("page of %d items, want at most 2", len(out.ResourceRecordSets))
		}
		for _, rs := range out.ResourceRecordSets {
			k := aws.ToString(rs.Name) + " " + string(rs.Type)
			if rs.SetIdentifier != nil {
				k += " " + *rs.SetIdentifier
			}
			got = append(got, k)
		}
		if !out.IsTruncated {
			break
		}
		in = &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), MaxItems: aws.Int32(5),
			StartRecordName: out.NextRecordName, StartRecordType: out.NextRecordType, StartRecordIdentifier: out.NextRecordIdentifier}
	}
	want := []string{
		"example.com. NS", "example.com. SOA",
		`\052.example.com. A`,
		"api.example.com. A",
		"www.example.com. A a", "www.example.com. A b", "www.example.com. A c", "www.example.com. TXT",
		"a.www.example.com. A",
	}
	if !slices.Equal(got, want) {
		t.Errorf("listing\n got %q\nwant %q", got, want)
	}
	if pages != 5 || s.Calls(r53fake.OpList) != 5 {
		t.Errorf("pages = %d, list calls = %d, want 5", pages, s.Calls(r53fake.OpList))
	}

	// From a name, type and identifier: starts there.
	out, err := c.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		StartRecordName: aws.String("WWW.example.com"), StartRecordType: "A", StartRecordIdentifier: aws.String("b")})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToString(out.ResourceRecordSets[0].SetIdentifier); n != "b" || !out.IsTruncated ||
		aws.ToString(out.NextRecordName) != "www.example.com." || out.NextRecordType != "TXT" || out.NextRecordIdentifier != nil {
		t.Errorf("first = %q, truncated %v, next %q %q %v", n, out.IsTruncated, aws.ToString(out.NextRecordName), out.NextRecordType, out.NextRecordIdentifier)
	}
	// A truncated page mid-group names the next set identifier.
	out, err = c.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		StartRecordName: aws.String("www.example.com.")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.NextRecordIdentifier) != "c" || aws.ToInt32(out.MaxItems) != 2 {
		t.Errorf("next identifier %q, max items %d; want c, 2", aws.ToString(out.NextRecordIdentifier), aws.ToInt32(out.MaxItems))
	}

	// The API refuses a type without a name.
	_, err = c.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), StartRecordType: "A"})
	var ii *types.InvalidInput
	if !errors.As(err, &ii) {
		t.Errorf("type without name: err = %v, want InvalidInput", err)
	}
}

func TestChangeStatusAndPriorRequest(t *testing.T) {
	ctx := context.Background()
	s := start(t, r53fake.Options{PendingPolls: 2})
	c := client(t, s, "AKID")
	out, err := change(ctx, c, act("CREATE", weighted("www.example.com.", "A", "one", 1, 60, "192.0.2.1")))
	if err != nil {
		t.Fatal(err)
	}
	if out.ChangeInfo.Status != types.ChangeStatusPending || !strings.HasPrefix(aws.ToString(out.ChangeInfo.Id), "/change/C") ||
		out.ChangeInfo.SubmittedAt == nil || aws.ToString(out.ChangeInfo.Comment) != "test" {
		t.Fatalf("change info = %+v", out.ChangeInfo)
	}
	id := out.ChangeInfo.Id

	// While it is pending, another change is refused; the refusal lets time pass.
	_, err = change(ctx, c, act("CREATE", weighted("www.example.com.", "A", "two", 1, 60, "192.0.2.2")))
	var prnc *types.PriorRequestNotComplete
	if !errors.As(err, &prnc) {
		t.Fatalf("err = %v, want PriorRequestNotComplete", err)
	}
	var statuses []types.ChangeStatus
	for range 3 {
		g, err := c.GetChange(ctx, &route53.GetChangeInput{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, g.ChangeInfo.Status)
	}
	if want := []types.ChangeStatus{"PENDING", "INSYNC", "INSYNC"}; !slices.Equal(statuses, want) {
		t.Errorf("statuses = %v, want %v", statuses, want)
	}
	if _, err := change(ctx, c, act("CREATE", weighted("www.example.com.", "A", "two", 1, 60, "192.0.2.2"))); err != nil {
		t.Errorf("change after INSYNC: %v", err)
	}
	if _, err := c.GetChange(ctx, &route53.GetChangeInput{Id: aws.String("CNOPE")}); apiCode(err) != "NoSuchChange" {
		t.Errorf("unknown change: %v", err)
	}
	if got := s.Calls(r53fake.OpChange); got != 3 {
		t.Errorf("change calls = %d, want 3", got)
	}
	if got := s.Calls(r53fake.OpGetChange); got != 4 {
		t.Errorf("get change calls = %d, want 4", got)
	}
}

func TestInjectedFailures(t *testing.T) {
	ctx := context.Background()
	s := start(t, r53fake.Options{})
	c := client(t, s, "AKID")
	list := func() error {
		_, err := c.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
		return err
	}
	s.Fail(r53fake.OpList, "Throttling", 2)
	s.Fail(r53fake.OpAny, "ServiceUnavailable", 1)
	for i, want := range []struct {
		code   string
		status int
	}{{"Throttling", 400}, {"Throttling", 400}, {"ServiceUnavailable", 503}, {"", 200}} {
		err := list()
		var status interface{ HTTPStatusCode() int }
		switch {
		case want.code == "" && err != nil:
			t.Errorf("call %d: %v", i, err)
		case want.code != "" && apiCode(err) != want.code:
			t.Errorf("call %d: err = %v, want %s", i, err, want.code)
		case want.code != "" && (!errors.As(err, &status) || status.HTTPStatusCode() != want.status):
			t.Errorf("call %d: status of %v, want %d", i, err, want.status)
		}
	}
	s.FailWith(r53fake.OpList, r53fake.Failure{Status: 429}, 1)
	err := list()
	var status interface{ HTTPStatusCode() int }
	if !errors.As(err, &status) || status.HTTPStatusCode() != 429 {
		t.Errorf("429: err = %v", err)
	}
	_, err = c.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String("ZNOPE")})
	var nsz *types.NoSuchHostedZone
	if !errors.As(err, &nsz) || !strings.Contains(err.Error(), "No hosted zone found with ID: ZNOPE") {
		t.Errorf("unknown zone: err = %v", err)
	}
	if got := s.Calls(r53fake.OpList); got != 6 {
		t.Errorf("list calls = %d, want 6", got)
	}
}

func TestAuth(t *testing.T) {
	s := start(t, r53fake.Options{AccessKeyID: "AKIDGOOD"})
	list := func(c *route53.Client) error {
		_, err := c.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
		return err
	}
	if err := list(client(t, s, "AKIDGOOD")); err != nil {
		t.Errorf("good key: %v", err)
	}
	if err := list(client(t, s, "AKIDBAD")); apiCode(err) != "InvalidClientTokenId" {
		t.Errorf("bad key: %v", err)
	}
	resp, err := http.Get(s.URL() + "/2013-04-01/hostedzone/Z1/rrset")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>MissingAuthenticationToken</Code>") {
		t.Errorf("unsigned: %d %s", resp.StatusCode, body)
	}
}

// TestStrictDecode sends bodies the SDK would never send: the fake refuses
// what the API would not understand.
func TestStrictDecode(t *testing.T) {
	s := start(t, r53fake.Options{})
	const ns = `xmlns="https://route53.amazonaws.com/doc/2013-04-01/"`
	tests := []struct{ name, body, want string }{
		{"unknown element", `<ChangeResourceRecordSetsRequest ` + ns + `><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>www.example.com.</Name><Type>A</Type><Weigth>1</Weigth><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
			"unexpected element &lt;Weigth&gt; in &lt;ResourceRecordSet&gt;"},
		{"no namespace", `<ChangeResourceRecordSetsRequest><ChangeBatch/></ChangeResourceRecordSetsRequest>`, "namespace"},
		{"broken XML", `<ChangeResourceRecordSetsRequest ` + ns + `><ChangeBatch>`, "malformed XML"},
		{"wrong root", `<ChangeBatch ` + ns + `/>`, "unexpected root element"},
		{"not XML", `{"ChangeBatch":{}}`, "text outside the root element"},
		{"bad action", `<ChangeResourceRecordSetsRequest ` + ns + `><ChangeBatch><Changes><Change><Action>REPLACE</Action><ResourceRecordSet><Name>www.example.com.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
			"CREATE, DELETE, UPSERT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL()+"/2013-04-01/hostedzone/Z1/rrset/", strings.NewReader(tt.body))
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/route53/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
			req.Header.Set("X-Amz-Date", "20260101T000000Z")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>InvalidInput</Code>") || !strings.Contains(string(body), tt.want) {
				t.Errorf("got %d %s, want 400 InvalidInput containing %q", resp.StatusCode, body, tt.want)
			}
		})
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestPutKeepsTheRules(t *testing.T) {
	s := start(t, r53fake.Options{})
	w := int64(1)
	if err := s.Put(zoneID, r53fake.RRSet{Name: "www.example.com", Type: "A", SetIdentifier: "x", Weight: &w, TTL: 60, Values: []string{"192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	err := s.Put(zoneID, r53fake.RRSet{Name: "www.example.com.", Type: "CNAME", TTL: 60, Values: []string{"x.example.net."}})
	if err == nil || !strings.Contains(err.Error(), "conflicting RRSet of type CNAME") {
		t.Errorf("Put of a CNAME beside an A: %v", err)
	}
	if got := keys(s.RRSets(zoneID)); !slices.Equal(got, []string{"example.com. NS", "example.com. SOA", "www.example.com. A x"}) {
		t.Errorf("sets = %q", got)
	}
}

func TestUnknownPath(t *testing.T) {
	s := start(t, r53fake.Options{})
	resp, err := http.Get(s.URL() + "/2013-04-01/hostedzone/Z1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != 404 {
		t.Errorf("status = %d, want 404", resp.StatusCode)
	}
}
