// Package r53fake is a wire-level fake of the Amazon Route 53 API, for tests
// only: an httptest server that speaks the REST XML paths and bodies the real
// aws-sdk-go-v2 client sends, so that the real SDK is the client in every
// test. Only _test files import it.
//
// It serves three operations:
//
//	POST /2013-04-01/hostedzone/{Id}/rrset    ChangeResourceRecordSets
//	GET  /2013-04-01/hostedzone/{Id}/rrset    ListResourceRecordSets (name, type, identifier, maxitems)
//	GET  /2013-04-01/change/{Id}              GetChange
//
// and enforces the rules of the API that a DNS switcher can trip over:
//
//   - request bodies are decoded strictly (namespace, known elements only);
//   - every request must carry a SigV4 Authorization header, and, when
//     Options.AccessKeyID is set, one signed with that key
//     (InvalidClientTokenId otherwise);
//   - CREATE of an existing set, DELETE of a missing set, or DELETE whose
//     TTL, weight or values do not match the current set exactly, fail
//     with InvalidChangeBatch;
//   - within one name and type, either one simple set or only sets with a
//     SetIdentifier and a Weight; a CNAME shares its name with no other type
//     and is not allowed at the apex; names must lie in the zone; A and AAAA
//     values must be addresses of their family, a CNAME has one value;
//   - a batch is atomic: every change is checked against the state the
//     changes before it leave, the result is checked as a whole, and on any
//     error nothing is written and every message is reported;
//   - more than Options.MaxChanges changes in a batch (default 100: the
//     limit failover keeps to; the real API's is 1,000) is InvalidChangeBatch;
//   - a change submitted while the zone's previous change is still PENDING
//     is refused with PriorRequestNotComplete;
//   - listing is sorted as Route 53 sorts it (names by reversed labels, then
//     type, then set identifier) and paged: maxitems is honoured up to
//     Options.PageSize, and a truncated page carries NextRecordName,
//     NextRecordType and, for sets with one, NextRecordIdentifier.
//
// Errors are answered as Route 53 answers them: an ErrorResponse body with
// Type, Code, Message and RequestId, and the matching HTTP status.
// Failures can be injected per operation (Fail, FailWith), and calls are
// counted per operation (Calls).
package r53fake

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Op names one API operation.
type Op string

// The operations the fake serves. OpAny matches every operation in Fail.
const (
	OpChange    Op = "ChangeResourceRecordSets"
	OpList      Op = "ListResourceRecordSets"
	OpGetChange Op = "GetChange"
	OpAny       Op = ""
)

// Options configures a Server.
type Options struct {
	// PageSize caps the items in one ListResourceRecordSets page. Zero
	// means 300, the API's own maximum.
	PageSize int
	// PendingPolls is how many GetChange polls answer PENDING for each
	// change before it turns INSYNC. While a zone's last change is
	// PENDING, a new change to that zone is refused with
	// PriorRequestNotComplete; each refusal also counts as a poll, so that
	// time passes for a client that does not poll.
	PendingPolls int
	// MaxChanges caps the changes in one batch. Zero means 100.
	MaxChanges int
	// AccessKeyID, when set, is the only access key the fake accepts.
	AccessKeyID string
	// LegacyInvalidChangeBatch answers InvalidChangeBatch with the other
	// body shape Route 53 uses, <InvalidChangeBatch><Messages>...
	LegacyInvalidChangeBatch bool
}

// RRSet is one resource record set as the fake stores it.
type RRSet struct {
	Name          string // canonical: lower case, fully qualified, unescaped
	Type          string
	SetIdentifier string
	Weight        *int64 // nil for a simple set
	TTL           int64
	Values        []string
	HealthCheckID string
	Alias         *Alias
}

// Alias is an alias target.
type Alias struct {
	HostedZoneID         string
	DNSName              string
	EvaluateTargetHealth bool
}

// Change is one accepted change.
type Change struct {
	Action string // CREATE | DELETE | UPSERT
	Set    RRSet
}

// Batch is one accepted ChangeResourceRecordSets call.
type Batch struct {
	ID      string // "/change/C..."
	Zone    string
	Comment string
	Changes []Change
}

// Failure is an error answer to inject.
type Failure struct {
	Status  int
	Code    string // empty: no body at all
	Message string
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	opts Options

	mu          sync.Mutex
	zones       map[string]*zone
	changes     map[string]*change
	batches     []Batch
	calls       map[Op]int
	inject      []*injection
	afterChange func()
	changeSeq   int
	requestSeq  int
}

type zone struct {
	id     string
	origin string
	sets   map[setKey]RRSet
	last   *change
}

type setKey struct{ name, typ, id string }

type change struct {
	id        string
	remaining int // polls still answering PENDING
	submitted time.Time
	comment   string
}

type injection struct {
	op        Op
	f         Failure
	remaining int
}

// New starts a fake on 127.0.0.1. Close it when done.
func New(opts Options) *Server {
	if opts.PageSize <= 0 || opts.PageSize > 300 {
		opts.PageSize = 300
	}
	if opts.MaxChanges <= 0 {
		opts.MaxChanges = 100
	}
	s := &Server{
		opts:    opts,
		zones:   map[string]*zone{},
		changes: map[string]*change{},
		calls:   map[Op]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the base URL to give the SDK as its endpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddZone creates a hosted zone with its apex SOA and NS sets. The id is
// bare ("Z123"), as it appears in request paths.
func (s *Server) AddZone(id, origin string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	origin = canonicalName(origin)
	z := &zone{id: id, origin: origin, sets: map[setKey]RRSet{}}
	soa := RRSet{Name: origin, Type: "SOA", TTL: 900,
		Values: []string{"ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}}
	ns := RRSet{Name: origin, Type: "NS", TTL: 172800,
		Values: []string{"ns-1.awsdns-00.com.", "ns-2.awsdns-00.net."}}
	z.sets[soa.key()] = soa
	z.sets[ns.key()] = ns
	s.zones[id] = z
}

// Put writes sets into a zone directly, bypassing the API (to seed a
// state), but not its rules: a state the API could not reach is refused.
func (s *Server) Put(zoneID string, sets ...RRSet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[zoneID]
	if !ok {
		return fmt.Errorf("r53fake: no zone %q", zoneID)
	}
	next := z.copySets()
	touched := map[string]bool{}
	for _, set := range sets {
		set.Name = canonicalName(set.Name)
		if msgs := z.checkSet(set); len(msgs) > 0 {
			return fmt.Errorf("r53fake: %s", strings.Join(msgs, "; "))
		}
		next[set.key()] = cloneSet(set)
		touched[set.Name] = true
	}
	if msgs := z.checkNames(next, touched); len(msgs) > 0 {
		return fmt.Errorf("r53fake: %s", strings.Join(msgs, "; "))
	}
	z.sets = next
	return nil
}

// RRSets returns the sets of a zone in listing order.
func (s *Server) RRSets(zoneID string) []RRSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[zoneID]
	if !ok {
		return nil
	}
	out := make([]RRSet, 0, len(z.sets))
	for _, set := range z.sorted() {
		out = append(out, cloneSet(set))
	}
	return out
}

// Batches returns the accepted change batches, oldest first.
func (s *Server) Batches() []Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Batch, len(s.batches))
	copy(out, s.batches)
	return out
}

// ChangeStatus returns PENDING or INSYNC for a change id (with or without
// the "/change/" prefix), or "" for an unknown id.
func (s *Server) ChangeStatus(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.changes[strings.TrimPrefix(id, "/change/")]
	if !ok {
		return ""
	}
	return c.status()
}

// Calls returns how many requests an operation received, failed or not.
// OpAny returns the total.
func (s *Server) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op == OpAny {
		n := 0
		for _, c := range s.calls {
			n += c
		}
		return n
	}
	return s.calls[op]
}

// Fail makes the next n calls of op (OpAny: of any operation) answer the
// named error with its usual status and message. Known codes: Throttling,
// PriorRequestNotComplete, InvalidChangeBatch, InvalidInput,
// NoSuchHostedZone, AccessDenied, InvalidClientTokenId,
// SignatureDoesNotMatch, InternalError, ServiceUnavailable. It panics on an
// unknown code.
func (s *Server) Fail(op Op, code string, n int) {
	f, ok := knownFailures[code]
	if !ok {
		panic("r53fake: unknown failure code " + code)
	}
	f.Code = code
	s.FailWith(op, f, n)
}

// FailWith makes the next n calls of op answer f. Injections queue up in
// the order given.
func (s *Server) FailWith(op Op, f Failure, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inject = append(s.inject, &injection{op: op, f: f, remaining: n})
}

// ClearFailures drops every injected failure not yet used.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inject = nil
}

// AfterChange sets a function called after each accepted change batch is
// written and before it is answered, without the fake's lock held: a test
// can use Put in it to play a concurrent writer.
func (s *Server) AfterChange(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterChange = fn
}

var knownFailures = map[string]Failure{
	"Throttling":              {Status: 400, Message: "Rate exceeded"},
	"PriorRequestNotComplete": {Status: 400, Message: "The request was rejected because Route 53 was still processing a prior request."},
	"InvalidChangeBatch":      {Status: 400, Message: "[Injected failure: the change batch is invalid]"},
	"InvalidInput":            {Status: 400, Message: "Invalid request: injected failure"},
	"NoSuchHostedZone":        {Status: 404, Message: "No hosted zone found with ID: injected"},
	"AccessDenied":            {Status: 403, Message: "User: arn:aws:iam::123456789012:user/test is not authorized to perform: route53:ChangeResourceRecordSets"},
	"InvalidClientTokenId":    {Status: 403, Message: "The security token included in the request is invalid."},
	"SignatureDoesNotMatch":   {Status: 403, Message: "The request signature we calculated does not match the signature you provided."},
	"InternalError":           {Status: 500, Message: "We encountered an internal error. Please try again."},
	"ServiceUnavailable":      {Status: 503, Message: "Service is unavailable. Please try again."},
}

// apiError is an error answer about to be written.
type apiError struct {
	status  int
	code    string
	message string
	// messages, for InvalidChangeBatch: every problem in the batch.
	messages []string
}

func invalidInput(format string, args ...any) *apiError {
	return &apiError{status: 400, code: "InvalidInput", message: fmt.Sprintf(format, args...)}
}

func invalidBatch(msgs []string) *apiError {
	return &apiError{status: 400, code: "InvalidChangeBatch",
		message: "[" + strings.Join(msgs, ", ") + "]", messages: msgs}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	op, zoneID, changeID, e := route(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.writeError(w, invalidInput("reading the body: %v", err))
		return
	}

	s.mu.Lock()
	s.calls[op]++
	if e := s.checkAuth(r); e != nil {
		s.mu.Unlock()
		s.writeError(w, e)
		return
	}
	if e := s.injected(op); e != nil {
		s.mu.Unlock()
		s.writeError(w, e)
		return
	}
	var (
		resp  any
		after func()
	)
	switch op {
	case OpChange:
		resp, e = s.change(zoneID, body)
		if e == nil {
			after = s.afterChange
		}
	case OpList:
		resp, e = s.list(zoneID, r.URL.Query())
	case OpGetChange:
		resp, e = s.getChange(changeID)
	}
	s.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	if after != nil {
		after()
	}
	s.writeXML(w, http.StatusOK, resp)
}

// route maps a request to its operation, as the REST XML bindings define
// the paths and methods.
func route(r *http.Request) (op Op, zoneID, changeID string, e *apiError) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/2013-04-01/hostedzone/"):
		rest := strings.TrimPrefix(path, "/2013-04-01/hostedzone/")
		id, tail, _ := strings.Cut(rest, "/")
		if id == "" || (tail != "rrset" && tail != "rrset/") {
			break
		}
		switch r.Method {
		case http.MethodPost:
			return OpChange, id, "", nil
		case http.MethodGet:
			return OpList, id, "", nil
		}
		return "", "", "", &apiError{status: 405, code: "MethodNotAllowed", message: r.Method + " " + path}
	case strings.HasPrefix(path, "/2013-04-01/change/"):
		id := strings.TrimPrefix(path, "/2013-04-01/change/")
		if id == "" || strings.Contains(id, "/") {
			break
		}
		if r.Method != http.MethodGet {
			return "", "", "", &apiError{status: 405, code: "MethodNotAllowed", message: r.Method + " " + path}
		}
		return OpGetChange, "", id, nil
	}
	return "", "", "", &apiError{status: 404, code: "UnknownOperationException",
		message: "r53fake: no operation at " + r.Method + " " + path}
}

// checkAuth wants a SigV4 header for the route53 service, and the
// configured access key when there is one.
func (s *Server) checkAuth(r *http.Request) *apiError {
	const prefix = "AWS4-HMAC-SHA256 Credential="
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, prefix) {
		return &apiError{status: 403, code: "MissingAuthenticationToken", message: "Missing Authentication Token"}
	}
	cred, _, _ := strings.Cut(strings.TrimPrefix(auth, prefix), ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[3] != "route53" || parts[4] != "aws4_request" ||
		!strings.Contains(auth, "SignedHeaders=") || !strings.Contains(auth, "Signature=") ||
		r.Header.Get("X-Amz-Date") == "" {
		return &apiError{status: 403, code: "IncompleteSignature", message: "Authorization header is not a valid SigV4 header for route53: " + cred}
	}
	if s.opts.AccessKeyID != "" && parts[0] != s.opts.AccessKeyID {
		return &apiError{status: 403, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
	}
	return nil
}

func (s *Server) injected(op Op) *apiError {
	for i, in := range s.inject {
		if in.op != OpAny && in.op != op {
			continue
		}
		in.remaining--
		if in.remaining <= 0 {
			s.inject = append(s.inject[:i], s.inject[i+1:]...)
		}
		e := &apiError{status: in.f.Status, code: in.f.Code, message: in.f.Message}
		if in.f.Code == "InvalidChangeBatch" {
			e.messages = []string{strings.Trim(in.f.Message, "[]")}
		}
		return e
	}
	return nil
}

func (s *Server) zone(id string) (*zone, *apiError) {
	z, ok := s.zones[id]
	if !ok {
		return nil, &apiError{status: 404, code: "NoSuchHostedZone", message: "No hosted zone found with ID: " + id}
	}
	return z, nil
}

func (s *Server) change(zoneID string, body []byte) (any, *apiError) {
	z, e := s.zone(zoneID)
	if e != nil {
		return nil, e
	}
	req, err := decodeChangeRequest(body)
	if err != nil {
		return nil, invalidInput("Invalid request: %v", err)
	}
	if z.last != nil && z.last.remaining > 0 {
		z.last.remaining-- // time passes
		return nil, &apiError{status: 400, code: "PriorRequestNotComplete",
			message: knownFailures["PriorRequestNotComplete"].Message}
	}
	changes, e := z.parseBatch(req.ChangeBatch, s.opts.MaxChanges)
	if e != nil {
		return nil, e
	}
	next, msgs := z.applyBatch(changes)
	if len(msgs) > 0 {
		return nil, invalidBatch(msgs)
	}
	z.sets = next
	s.changeSeq++
	c := &change{id: fmt.Sprintf("C%012X", s.changeSeq), remaining: s.opts.PendingPolls,
		submitted: time.Now().UTC(), comment: req.ChangeBatch.Comment}
	s.changes[c.id] = c
	z.last = c
	s.batches = append(s.batches, Batch{ID: "/change/" + c.id, Zone: z.id,
		Comment: req.ChangeBatch.Comment, Changes: changes})
	info := c.info()
	info.Status = "PENDING" // Route 53 answers every accepted change as PENDING
	return changeResponse{Xmlns: xmlns, ChangeInfo: info}, nil
}

func (s *Server) getChange(id string) (any, *apiError) {
	c, ok := s.changes[id]
	if !ok {
		return nil, &apiError{status: 404, code: "NoSuchChange", message: "A change with the specified change ID does not exist."}
	}
	info := c.info()
	if c.remaining > 0 {
		c.remaining--
	}
	return getChangeResponse{Xmlns: xmlns, ChangeInfo: info}, nil
}

func (c *change) status() string {
	if c.remaining > 0 {
		return "PENDING"
	}
	return "INSYNC"
}

func (c *change) info() xmlChangeInfo {
	return xmlChangeInfo{ID: "/change/" + c.id, Status: c.status(),
		SubmittedAt: c.submitted.Format("2006-01-02T15:04:05.000Z"), Comment: c.comment}
}

func (s *Server) list(zoneID string, q url.Values) (any, *apiError) {
	z, e := s.zone(zoneID)
	if e != nil {
		return nil, e
	}
	for k := range q {
		switch k {
		case "name", "type", "identifier", "maxitems":
		default:
			return nil, invalidInput("Invalid request: unknown query parameter %q", k)
		}
	}
	name, typ, ident := q.Get("name"), q.Get("type"), q.Get("identifier")
	if typ != "" && name == "" {
		return nil, invalidInput("The input is not valid: type is given without name")
	}
	if ident != "" && typ == "" {
		return nil, invalidInput("The input is not valid: identifier is given without name and type")
	}
	if typ != "" && !validType[typ] {
		return nil, invalidInput("Invalid request: unknown type %q", typ)
	}
	max := 300
	if v := q.Get("maxitems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, invalidInput("Invalid request: maxitems %q is not a positive integer", v)
		}
		max = min(n, 300)
	}
	page := min(max, s.opts.PageSize)

	start := setKey{}
	if name != "" {
		start = setKey{name: canonicalName(name), typ: typ, id: ident}
	}
	all := z.sorted()
	i := sort.Search(len(all), func(i int) bool { return compareKeys(all[i].key(), start) >= 0 })
	if name == "" {
		i = 0
	}
	rest := all[i:]
	resp := listResponse{Xmlns: xmlns, MaxItems: strconv.Itoa(page), ResourceRecordSets: []xmlRRSet{}}
	for j, set := range rest {
		if j == page {
			next := rest[j]
			resp.IsTruncated = true
			resp.NextRecordName = escapeName(next.Name)
			resp.NextRecordType = next.Type
			resp.NextRecordIdentifier = next.SetIdentifier
			break
		}
		resp.ResourceRecordSets = append(resp.ResourceRecordSets, set.toXML())
	}
	return resp, nil
}

func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requestSeq++
	return fmt.Sprintf("fake-%08d-0000-0000-0000-000000000000", s.requestSeq)
}

func (s *Server) writeXML(w http.ResponseWriter, status int, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "r53fake: marshal: "+err.Error(), http.StatusInternalServerError)
		return
	}
	rid := s.requestID()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", rid)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(out)
}

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	if e.code == "" {
		w.WriteHeader(e.status)
		return
	}
	rid := s.requestID()
	legacy := s.opts.LegacyInvalidChangeBatch
	var body any
	if e.code == "InvalidChangeBatch" && legacy {
		body = legacyInvalidChangeBatch{Xmlns: xmlns, Messages: e.messages, RequestID: rid}
	} else {
		typ := "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
		body = errorResponse{Xmlns: xmlns, RequestID: rid,
			Error: xmlError{Type: typ, Code: e.code, Message: e.message}}
	}
	out, err := xml.Marshal(body)
	if err != nil {
		http.Error(w, "r53fake: marshal: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", rid)
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(out)
}
