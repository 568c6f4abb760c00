package r53fake

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// xmlns is the namespace of every Route 53 request and response body.
const xmlns = "https://route53.amazonaws.com/doc/2013-04-01/"

// The request and response bodies, as the REST XML API defines them.

type changeRequest struct {
	XMLName     xml.Name       `xml:"ChangeResourceRecordSetsRequest"`
	ChangeBatch xmlChangeBatch `xml:"ChangeBatch"`
}

type xmlChangeBatch struct {
	Comment string      `xml:"Comment"`
	Changes []xmlChange `xml:"Changes>Change"`
}

type xmlChange struct {
	Action            string    `xml:"Action"`
	ResourceRecordSet *xmlRRSet `xml:"ResourceRecordSet"`
}

type xmlRRSet struct {
	Name            string      `xml:"Name"`
	Type            string      `xml:"Type"`
	SetIdentifier   string      `xml:"SetIdentifier,omitempty"`
	Weight          *int64      `xml:"Weight,omitempty"`
	Region          string      `xml:"Region,omitempty"`
	Failover        string      `xml:"Failover,omitempty"`
	MultiValue      *bool       `xml:"MultiValueAnswer,omitempty"`
	TTL             *int64      `xml:"TTL,omitempty"`
	ResourceRecords *xmlRecords `xml:"ResourceRecords,omitempty"`
	AliasTarget     *xmlAlias   `xml:"AliasTarget,omitempty"`
	HealthCheckID   string      `xml:"HealthCheckId,omitempty"`
	// Present only so that a request using them is decoded and then
	// refused with a clear message rather than silently dropped.
	GeoLocation     *struct{} `xml:"GeoLocation,omitempty"`
	GeoProximity    *struct{} `xml:"GeoProximityLocation,omitempty"`
	CidrRouting     *struct{} `xml:"CidrRoutingConfig,omitempty"`
	TrafficPolicyID string    `xml:"TrafficPolicyInstanceId,omitempty"`
}

type xmlRecords struct {
	Records []xmlRecord `xml:"ResourceRecord"`
}

type xmlRecord struct {
	Value string `xml:"Value"`
}

type xmlAlias struct {
	HostedZoneID         string `xml:"HostedZoneId"`
	DNSName              string `xml:"DNSName"`
	EvaluateTargetHealth bool   `xml:"EvaluateTargetHealth"`
}

type xmlChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

type changeResponse struct {
	XMLName    xml.Name      `xml:"ChangeResourceRecordSetsResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

type getChangeResponse struct {
	XMLName    xml.Name      `xml:"GetChangeResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

type listResponse struct {
	XMLName              xml.Name   `xml:"ListResourceRecordSetsResponse"`
	Xmlns                string     `xml:"xmlns,attr"`
	ResourceRecordSets   []xmlRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated          bool       `xml:"IsTruncated"`
	NextRecordName       string     `xml:"NextRecordName,omitempty"`
	NextRecordType       string     `xml:"NextRecordType,omitempty"`
	NextRecordIdentifier string     `xml:"NextRecordIdentifier,omitempty"`
	MaxItems             string     `xml:"MaxItems"`
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     xmlError `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type xmlError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// legacyInvalidChangeBatch is the other shape Route 53 uses for
// InvalidChangeBatch: the messages listed under the root element.
type legacyInvalidChangeBatch struct {
	XMLName   xml.Name `xml:"InvalidChangeBatch"`
	Xmlns     string   `xml:"xmlns,attr"`
	Messages  []string `xml:"Messages>Message"`
	RequestID string   `xml:"RequestId"`
}

// changeSchema lists, for each element of a ChangeResourceRecordSetsRequest,
// the child elements the API defines. Anything else is refused: the fake
// decodes strictly so that a request the real API would not understand
// fails here too. Leaves (text-only elements) have no entry.
var changeSchema = map[string][]string{
	"ChangeResourceRecordSetsRequest": {"ChangeBatch"},
	"ChangeBatch":                     {"Comment", "Changes"},
	"Changes":                         {"Change"},
	"Change":                          {"Action", "ResourceRecordSet"},
	"ResourceRecordSet": {"Name", "Type", "SetIdentifier", "Weight", "Region", "GeoLocation",
		"Failover", "MultiValueAnswer", "TTL", "ResourceRecords", "AliasTarget", "HealthCheckId",
		"TrafficPolicyInstanceId", "CidrRoutingConfig", "GeoProximityLocation"},
	"ResourceRecords":      {"ResourceRecord"},
	"ResourceRecord":       {"Value"},
	"AliasTarget":          {"HostedZoneId", "DNSName", "EvaluateTargetHealth"},
	"GeoLocation":          {"ContinentCode", "CountryCode", "SubdivisionCode"},
	"CidrRoutingConfig":    {"CollectionId", "LocationName"},
	"GeoProximityLocation": {"AWSRegion", "LocalZoneGroup", "Coordinates", "Bias"},
	"Coordinates":          {"Latitude", "Longitude"},
}

// repeatable are the elements that may occur more than once under their
// parent.
var repeatable = map[string]bool{"Change": true, "ResourceRecord": true}

// decodeChangeRequest checks body against changeSchema (namespace, element
// names, no duplicates, no stray text) and then decodes it.
func decodeChangeRequest(body []byte) (*changeRequest, error) {
	if err := checkSchema(body, "ChangeResourceRecordSetsRequest", changeSchema); err != nil {
		return nil, err
	}
	var req changeRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("malformed request body: %v", err)
	}
	return &req, nil
}

func checkSchema(body []byte, root string, schema map[string][]string) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	type frame struct {
		name string
		seen map[string]bool
	}
	var stack []frame
	sawRoot := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if t.Name.Space != xmlns {
				return fmt.Errorf("element <%s> is in namespace %q, want %q", name, t.Name.Space, xmlns)
			}
			if len(stack) == 0 {
				if sawRoot || name != root {
					return fmt.Errorf("unexpected root element <%s>, want <%s>", name, root)
				}
				sawRoot = true
			} else {
				parent := &stack[len(stack)-1]
				allowed, ok := schema[parent.name]
				if !ok || !contains(allowed, name) {
					return fmt.Errorf("unexpected element <%s> in <%s>", name, parent.name)
				}
				if parent.seen[name] && !repeatable[name] {
					return fmt.Errorf("element <%s> repeated in <%s>", name, parent.name)
				}
				parent.seen[name] = true
			}
			stack = append(stack, frame{name: name, seen: map[string]bool{}})
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return errors.New("text outside the root element")
				}
				continue
			}
			if _, container := schema[stack[len(stack)-1].name]; container && len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("unexpected text in <%s>", stack[len(stack)-1].name)
			}
		}
	}
	if !sawRoot {
		return errors.New("empty request body")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// escapeName renders a canonical name the way Route 53 returns it: any
// character other than a-z, 0-9, '-', '_' and the dots becomes \ooo
// (three octal digits), so "*.example.com." reads back as
// "\052.example.com.".
func escapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	return b.String()
}

// canonicalName lowercases name, resolves \ooo escapes and makes it fully
// qualified, as Route 53 does with the names it is given.
func canonicalName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '\\' && i+3 < len(name) && isOctal(name[i+1]) && isOctal(name[i+2]) && isOctal(name[i+3]) {
			b.WriteByte((name[i+1]-'0')<<6 | (name[i+2]-'0')<<3 | (name[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(c)
	}
	out := strings.ToLower(b.String())
	if !strings.HasSuffix(out, ".") {
		out += "."
	}
	return out
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
