// Package cffake is a wire-level fake of the parts of Cloudflare's v4 API
// that the cloudflare provider uses: DNS records and load balancer pools. It
// is an httptest server that speaks the real paths and JSON bodies, so the
// real cloudflare-go SDK drives it, and it enforces the API's rules:
//
//   - a bearer token: anything else is 401, code 10000 "Authentication error";
//   - a record identical to another (name, type, content) is refused, code
//     81058 "An identical record already exists.";
//   - a CNAME never shares its name with an A, AAAA or CNAME record: codes
//     81053 (adding a CNAME) and 81054 (adding beside a CNAME);
//   - reading, editing or deleting a record that does not exist is a 404,
//     code 81044 "Record does not exist.";
//   - record contents and TTLs are validated (an A is IPv4, an AAAA IPv6; a
//     TTL is 1 or 30..86400; a proxied record's TTL becomes 1);
//   - a PATCH of a pool changes only the fields in its body; a PUT replaces
//     the pool, and a PUT without "enabled" disables the pool, as the real
//     API does;
//   - an origin weight outside 0..1 is a 400, code 1002;
//   - lists are paginated (page, per_page, result_info).
//
// Failures can be injected (Inject): a 429 with Retry-After, a 5xx, any
// status with a Cloudflare error code, or {"success":false} under a 200.
// The server counts calls per route and method.
//
// It is test code: only _test files import it.
package cffake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Record is a DNS record as the fake stores it.
type Record struct {
	ID      string
	Name    string // lower case, without the final dot
	Type    string
	Content string
	Proxied bool
	TTL     int
}

// Origin is a pool origin as the fake stores it.
type Origin struct {
	Name    string              `json:"name"`
	Address string              `json:"address"`
	Enabled bool                `json:"enabled"`
	Weight  float64             `json:"weight"`
	Header  map[string][]string `json:"header,omitempty"`
	Port    int                 `json:"port,omitempty"`
}

// Pool is a load balancer pool as the fake stores it.
type Pool struct {
	ID             string
	Name           string
	Description    string
	Enabled        bool
	MinimumOrigins int
	Origins        []Origin
}

// Fault is a failure the server answers instead of handling a request.
type Fault struct {
	// Status is the HTTP status; 200 with a Code gives a {"success":false}
	// envelope under a 200.
	Status int
	// Code and Message go in the envelope's errors.
	Code    int
	Message string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Times is how many matching requests the fault answers; 0 means one,
	// a negative number every one from now on.
	Times int
	// Writes limits the fault to POST, PATCH, PUT and DELETE requests.
	Writes bool
	// Method, if set, limits the fault to that method.
	Method string
	// After lets that many matching requests through before the fault
	// starts.
	After int
	// Ignore answers a write with success without making it: a lost
	// write, which only a read-back notices.
	Ignore bool
	// Hang never answers: the handler returns when the client gives up.
	Hang bool
}

// Server is the fake API.
type Server struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	zones    map[string]*zone
	pools    map[string]*Pool // by account ID + "/" + pool ID
	faults   []*Fault
	calls    map[string]int // by "METHOD pattern"
	nextID   int
	pageSize int
}

type zone struct {
	name    string
	records []*Record // in creation order
}

// The routes, as the Go ServeMux patterns that name them in Calls.
const (
	RouteRecords = "/zones/{zone_id}/dns_records"
	RouteRecord  = "/zones/{zone_id}/dns_records/{id}"
	RoutePool    = "/accounts/{account_id}/load_balancers/pools/{pool_id}"
)

// apiPrefix is where the API lives, as on api.cloudflare.com.
const apiPrefix = "/client/v4"

// New starts a fake that accepts token, and stops it when tb ends.
func New(tb testing.TB, token string) *Server {
	tb.Helper()
	s := &Server{
		token: token,
		zones: map[string]*zone{},
		pools: map[string]*Pool{},
		calls: map[string]int{},
	}
	mux := http.NewServeMux()
	s.handle(mux, http.MethodGet, RouteRecords, s.listRecords)
	s.handle(mux, http.MethodPost, RouteRecords, s.createRecord)
	s.handle(mux, http.MethodGet, RouteRecord, s.getRecord)
	s.handle(mux, http.MethodPatch, RouteRecord, s.patchRecord)
	s.handle(mux, http.MethodPut, RouteRecord, s.putRecord)
	s.handle(mux, http.MethodDelete, RouteRecord, s.deleteRecord)
	s.handle(mux, http.MethodGet, RoutePool, s.getPool)
	s.handle(mux, http.MethodPatch, RoutePool, s.patchPool)
	s.handle(mux, http.MethodPut, RoutePool, s.putPool)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls["unrouted"]++
		s.mu.Unlock()
		fail(w, http.StatusNotFound, 7000, "No route for that URI")
	})
	root := http.NewServeMux()
	root.Handle(apiPrefix+"/", http.StripPrefix(apiPrefix, mux))
	s.srv = httptest.NewServer(root)
	tb.Cleanup(s.srv.Close)
	return s
}

// BaseURL is the URL to give the SDK (option.WithBaseURL).
func (s *Server) BaseURL() string { return s.srv.URL + apiPrefix + "/" }

// Close stops the server (New also registers it with tb.Cleanup).
func (s *Server) Close() { s.srv.Close() }

// SetPageSize caps per_page, to exercise pagination with few records.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// Inject queues a fault. Faults are matched in the order they were queued.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns how many requests reached route with method (faults and
// rejected credentials included).
func (s *Server) Calls(method, route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method+" "+route]
}

// Writes returns how many POST, PATCH, PUT and DELETE requests reached the
// server's routes.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.calls {
		if isWrite(strings.SplitN(k, " ", 2)[0]) {
			n += c
		}
	}
	return n
}

// Total returns how many requests reached the server.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// AddZone creates an empty zone.
func (s *Server) AddZone(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zones[id] = &zone{name: normName(name)}
}

// AddRecord adds a record behind the API's back, under the same rules as a
// create. It returns the record's ID.
func (s *Server) AddRecord(zoneID string, r Record) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[zoneID]
	if !ok {
		return "", fmt.Errorf("cffake: no zone %s", zoneID)
	}
	rec := r
	rec.Name = normName(r.Name)
	if rec.TTL == 0 {
		rec.TTL = 1
	}
	if e := z.check(&rec, ""); e != nil {
		return "", fmt.Errorf("cffake: %d: %s", e.code, e.msg)
	}
	rec.ID = s.newID()
	z.records = append(z.records, &rec)
	return rec.ID, nil
}

// Records returns the zone's records in creation order.
func (s *Server) Records(zoneID string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[zoneID]
	if !ok {
		return nil
	}
	out := make([]Record, len(z.records))
	for i, r := range z.records {
		out[i] = *r
	}
	return out
}

// AddPool stores a pool (p.ID is required).
func (s *Server) AddPool(accountID string, p Pool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.Origins = slices.Clone(p.Origins)
	s.pools[accountID+"/"+p.ID] = &p
}

// Pool returns a copy of the stored pool.
func (s *Server) Pool(accountID, poolID string) (Pool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pools[accountID+"/"+poolID]
	if !ok {
		return Pool{}, false
	}
	out := *p
	out.Origins = slices.Clone(p.Origins)
	return out, true
}

// handle registers a route: it counts the call, checks the token and
// answers an injected fault before the handler runs.
func (s *Server) handle(mux *http.ServeMux, method, route string, h http.HandlerFunc) {
	mux.HandleFunc(method+" "+route, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[method+" "+route]++
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			fail(w, http.StatusUnauthorized, 10000, "Authentication error")
			return
		}
		s.mu.Lock()
		f := s.takeFault(r.Method)
		s.mu.Unlock()
		if f != nil && f.Hang {
			<-r.Context().Done()
			return
		}
		if f != nil && f.Ignore {
			ok(w, map[string]any{})
			return
		}
		if f != nil {
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			fail(w, f.Status, f.Code, f.Message)
			return
		}
		h(w, r)
	})
}

// takeFault returns the first queued fault that matches method, using it up.
// The caller holds s.mu.
func (s *Server) takeFault(method string) *Fault {
	for i, f := range s.faults {
		if (f.Writes && !isWrite(method)) || (f.Method != "" && f.Method != method) {
			continue
		}
		if f.After > 0 {
			f.After--
			return nil
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return &out
	}
	return nil
}

func (s *Server) newID() string {
	s.nextID++
	return fmt.Sprintf("%032x", s.nextID)
}

// The envelope.

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type envelope struct {
	Success    bool        `json:"success"`
	Errors     []apiError  `json:"errors"`
	Messages   []apiError  `json:"messages"`
	Result     any         `json:"result"`
	ResultInfo *resultInfo `json:"result_info,omitempty"`
}

type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

func reply(w http.ResponseWriter, status int, env envelope) {
	if env.Errors == nil {
		env.Errors = []apiError{}
	}
	if env.Messages == nil {
		env.Messages = []apiError{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}

func ok(w http.ResponseWriter, result any) {
	reply(w, http.StatusOK, envelope{Success: true, Result: result})
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	reply(w, status, envelope{Success: false, Errors: []apiError{{Code: code, Message: msg}}})
}

// ruleError is a refusal with its Cloudflare code.
type ruleError struct {
	status int
	code   int
	msg    string
}

func failRule(w http.ResponseWriter, e *ruleError) { fail(w, e.status, e.code, e.msg) }

func badRequest(code int, format string, args ...any) *ruleError {
	return &ruleError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// DNS records.

func normName(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

type recordJSON struct {
	ID         string         `json:"id"`
	ZoneID     string         `json:"zone_id"`
	ZoneName   string         `json:"zone_name"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Content    string         `json:"content"`
	Proxiable  bool           `json:"proxiable"`
	Proxied    bool           `json:"proxied"`
	TTL        int            `json:"ttl"`
	Settings   map[string]any `json:"settings"`
	Meta       map[string]any `json:"meta"`
	Comment    *string        `json:"comment"`
	Tags       []string       `json:"tags"`
	CreatedOn  string         `json:"created_on"`
	ModifiedOn string         `json:"modified_on"`
}

const stamp = "2024-01-01T00:00:00.000000Z"

func toJSON(zoneID string, z *zone, r *Record) recordJSON {
	return recordJSON{
		ID: r.ID, ZoneID: zoneID, ZoneName: z.name, Name: r.Name, Type: r.Type, Content: r.Content,
		Proxiable: proxiable(r.Type), Proxied: r.Proxied, TTL: r.TTL,
		Settings: map[string]any{}, Meta: map[string]any{}, Tags: []string{},
		CreatedOn: stamp, ModifiedOn: stamp,
	}
}

func proxiable(typ string) bool { return typ == "A" || typ == "AAAA" || typ == "CNAME" }

// zoneFor finds the zone of the request, or answers the error.
func (s *Server) zoneFor(w http.ResponseWriter, r *http.Request) (string, *zone) {
	id := r.PathValue("zone_id")
	z, ok := s.zones[id]
	if !ok {
		fail(w, http.StatusBadRequest, 7003, fmt.Sprintf("Could not route to %s, perhaps your object identifier is invalid?", r.URL.Path))
		return "", nil
	}
	return id, z
}

func (z *zone) find(id string) (int, *Record) {
	for i, r := range z.records {
		if r.ID == id {
			return i, r
		}
	}
	return -1, nil
}

// check validates rec against the record rules; self is the ID of the
// record being replaced, if any.
func (z *zone) check(rec *Record, self string) *ruleError {
	rec.Name = normName(rec.Name)
	rec.Type = strings.ToUpper(rec.Type)
	if rec.Name == "" {
		return badRequest(9005, "DNS record name is required.")
	}
	if rec.Name != z.name && !strings.HasSuffix(rec.Name, "."+z.name) {
		return badRequest(1004, "DNS Validation Error: %s is not in zone %s", rec.Name, z.name)
	}
	switch rec.Type {
	case "A", "AAAA":
		a, err := netip.ParseAddr(rec.Content)
		if err != nil || a.Is4() != (rec.Type == "A") || a.Is4In6() {
			if rec.Type == "A" {
				return badRequest(9005, "Content for A record must be a valid IPv4 address.")
			}
			return badRequest(9006, "Content for AAAA record must be a valid IPv6 address.")
		}
	case "CNAME":
		rec.Content = normName(rec.Content)
		if rec.Content == "" || strings.ContainsAny(rec.Content, " /") || rec.Content == rec.Name {
			return badRequest(9007, "Content for CNAME record is invalid.")
		}
	case "TXT":
		if rec.Content == "" {
			return badRequest(9008, "Content for TXT record is invalid.")
		}
	default:
		return badRequest(1004, "DNS Validation Error: record type %q is not supported by the fake", rec.Type)
	}
	if rec.Proxied {
		if !proxiable(rec.Type) {
			return badRequest(9004, "This record type cannot be proxied.")
		}
		rec.TTL = 1
	}
	if rec.TTL != 1 && (rec.TTL < 30 || rec.TTL > 86400) {
		return badRequest(9021, "Invalid TTL. Must be between 30 and 86400 seconds, or 1 for Automatic.")
	}
	for _, o := range z.records {
		if o.ID == self || o.Name != rec.Name {
			continue
		}
		if o.Type == rec.Type && strings.EqualFold(o.Content, rec.Content) {
			return badRequest(81058, "An identical record already exists.")
		}
		if rec.Type == "CNAME" && proxiable(o.Type) {
			return badRequest(81053, "An A, AAAA, or CNAME record with that host already exists.")
		}
		if proxiable(rec.Type) && o.Type == "CNAME" {
			return badRequest(81054, "A CNAME record with that host already exists.")
		}
	}
	return nil
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	zoneID, z := s.zoneFor(w, r)
	if z == nil {
		return
	}
	q := r.URL.Query()
	name := normName(firstOf(q.Get("name.exact"), q.Get("name")))
	typ := strings.ToUpper(q.Get("type"))
	content := firstOf(q.Get("content.exact"), q.Get("content"))
	var match []recordJSON
	for _, rec := range z.records {
		if (name != "" && rec.Name != name) || (typ != "" && rec.Type != typ) ||
			(content != "" && !strings.EqualFold(rec.Content, content)) {
			continue
		}
		match = append(match, toJSON(zoneID, z, rec))
	}
	page, perPage := atoiOr(q.Get("page"), 1), atoiOr(q.Get("per_page"), 100)
	if page < 1 {
		page = 1
	}
	perPage = min(max(perPage, 5), 5000000)
	if s.pageSize > 0 {
		perPage = min(perPage, s.pageSize)
	}
	from := min((page-1)*perPage, len(match))
	to := min(from+perPage, len(match))
	result := match[from:to]
	if result == nil {
		result = []recordJSON{}
	}
	reply(w, http.StatusOK, envelope{Success: true, Result: result, ResultInfo: &resultInfo{
		Page: page, PerPage: perPage, Count: len(result), TotalCount: len(match),
		TotalPages: (len(match) + perPage - 1) / perPage,
	}})
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int(f)
	}
	return def
}

// recordBody is a record write; pointers tell absent fields.
type recordBody struct {
	Name    *string `json:"name"`
	Type    *string `json:"type"`
	Content *string `json:"content"`
	Proxied *bool   `json:"proxied"`
	TTL     *int    `json:"ttl"`
}

func decode(r *http.Request, v any) *ruleError {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return badRequest(9207, "Request body is invalid: %v", err)
	}
	return nil
}

// apply merges the fields present in b into rec.
func (b recordBody) apply(rec *Record) {
	if b.Name != nil {
		rec.Name = *b.Name
	}
	if b.Type != nil {
		rec.Type = *b.Type
	}
	if b.Content != nil {
		rec.Content = *b.Content
	}
	if b.Proxied != nil {
		rec.Proxied = *b.Proxied
	}
	if b.TTL != nil {
		rec.TTL = *b.TTL
	}
}

func (b recordBody) complete() *ruleError {
	switch {
	case b.Name == nil:
		return badRequest(9005, "DNS record name is required.")
	case b.Type == nil:
		return badRequest(9000, "DNS record type is invalid.")
	case b.Content == nil:
		return badRequest(9005, "DNS record content is required.")
	}
	return nil
}

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request) {
	var b recordBody
	if e := decode(r, &b); e != nil {
		failRule(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	zoneID, z := s.zoneFor(w, r)
	if z == nil {
		return
	}
	if e := b.complete(); e != nil {
		failRule(w, e)
		return
	}
	rec := &Record{TTL: 1}
	b.apply(rec)
	if e := z.check(rec, ""); e != nil {
		failRule(w, e)
		return
	}
	rec.ID = s.newID()
	z.records = append(z.records, rec)
	ok(w, toJSON(zoneID, z, rec))
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	zoneID, z := s.zoneFor(w, r)
	if z == nil {
		return
	}
	_, rec := z.find(r.PathValue("id"))
	if rec == nil {
		fail(w, http.StatusNotFound, 81044, "Record does not exist.")
		return
	}
	ok(w, toJSON(zoneID, z, rec))
}

// writeRecord edits (merge) or overwrites (replace) a record.
func (s *Server) writeRecord(w http.ResponseWriter, r *http.Request, replace bool) {
	var b recordBody
	if e := decode(r, &b); e != nil {
		failRule(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	zoneID, z := s.zoneFor(w, r)
	if z == nil {
		return
	}
	i, cur := z.find(r.PathValue("id"))
	if cur == nil {
		fail(w, http.StatusNotFound, 81044, "Record does not exist.")
		return
	}
	next := *cur
	if replace {
		if e := b.complete(); e != nil {
			failRule(w, e)
			return
		}
		next = Record{ID: cur.ID, TTL: 1}
	}
	b.apply(&next)
	if e := z.check(&next, cur.ID); e != nil {
		failRule(w, e)
		return
	}
	z.records[i] = &next
	ok(w, toJSON(zoneID, z, &next))
}

func (s *Server) patchRecord(w http.ResponseWriter, r *http.Request) { s.writeRecord(w, r, false) }
func (s *Server) putRecord(w http.ResponseWriter, r *http.Request)   { s.writeRecord(w, r, true) }

func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, z := s.zoneFor(w, r)
	if z == nil {
		return
	}
	i, rec := z.find(r.PathValue("id"))
	if rec == nil {
		fail(w, http.StatusNotFound, 81044, "Record does not exist.")
		return
	}
	z.records = slices.Delete(z.records, i, i+1)
	ok(w, map[string]string{"id": rec.ID})
}

// Load balancer pools.

type originJSON struct {
	Origin
	DisabledAt string `json:"disabled_at,omitempty"`
}

type poolJSON struct {
	ID                string         `json:"id"`
	CreatedOn         string         `json:"created_on"`
	ModifiedOn        string         `json:"modified_on"`
	Description       string         `json:"description"`
	Enabled           bool           `json:"enabled"`
	DisabledAt        string         `json:"disabled_at,omitempty"`
	MinimumOrigins    int            `json:"minimum_origins"`
	Monitor           *string        `json:"monitor"`
	Name              string         `json:"name"`
	NotificationEmail string         `json:"notification_email"`
	CheckRegions      []string       `json:"check_regions"`
	OriginSteering    map[string]any `json:"origin_steering"`
	Origins           []originJSON   `json:"origins"`
}

func poolToJSON(p *Pool) poolJSON {
	out := poolJSON{
		ID: p.ID, CreatedOn: stamp, ModifiedOn: stamp, Description: p.Description,
		Enabled: p.Enabled, MinimumOrigins: p.MinimumOrigins, Name: p.Name,
		OriginSteering: map[string]any{"policy": "random"},
		Origins:        make([]originJSON, len(p.Origins)),
	}
	if !p.Enabled {
		out.DisabledAt = stamp
	}
	for i, o := range p.Origins {
		out.Origins[i] = originJSON{Origin: o}
		if !o.Enabled {
			out.Origins[i].DisabledAt = stamp
		}
	}
	return out
}

func (s *Server) poolFor(w http.ResponseWriter, r *http.Request) *Pool {
	p, ok := s.pools[r.PathValue("account_id")+"/"+r.PathValue("pool_id")]
	if !ok {
		fail(w, http.StatusNotFound, 1003, "pool not found")
		return nil
	}
	return p
}

func (s *Server) getPool(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.poolFor(w, r); p != nil {
		ok(w, poolToJSON(p))
	}
}

// originBody is an origin in a request; pointers tell absent fields.
type originBody struct {
	Name    *string             `json:"name"`
	Address *string             `json:"address"`
	Enabled *bool               `json:"enabled"`
	Weight  *float64            `json:"weight"`
	Header  map[string][]string `json:"header"`
	Port    int                 `json:"port"`
}

type poolBody struct {
	Name           *string       `json:"name"`
	Description    *string       `json:"description"`
	Enabled        *bool         `json:"enabled"`
	MinimumOrigins *int          `json:"minimum_origins"`
	Origins        *[]originBody `json:"origins"`
}

// origins validates a request's origins list; absent fields take the API's
// defaults (enabled, weight 1).
func origins(in []originBody) ([]Origin, *ruleError) {
	if len(in) == 0 {
		return nil, badRequest(1002, "the origin list length must be in range [1, 0]: validation failed")
	}
	out := make([]Origin, len(in))
	seen := map[string]bool{}
	for i, b := range in {
		o := Origin{Enabled: true, Weight: 1, Header: b.Header, Port: b.Port}
		if b.Name == nil || *b.Name == "" {
			return nil, badRequest(1002, "origins[%d].name is required: validation failed", i)
		}
		if b.Address == nil || *b.Address == "" {
			return nil, badRequest(1002, "origins[%d].address is required: validation failed", i)
		}
		o.Name, o.Address = *b.Name, *b.Address
		if seen[o.Name] {
			return nil, badRequest(1002, "origin names must be unique, %q repeats: validation failed", o.Name)
		}
		seen[o.Name] = true
		if b.Enabled != nil {
			o.Enabled = *b.Enabled
		}
		if b.Weight != nil {
			if *b.Weight < 0 || *b.Weight > 1 {
				return nil, badRequest(1002, "origins[%d].weight must be in range [0, 1]: validation failed", i)
			}
			o.Weight = *b.Weight
		}
		out[i] = o
	}
	return out, nil
}

func (s *Server) patchPool(w http.ResponseWriter, r *http.Request) { s.writePool(w, r, false) }
func (s *Server) putPool(w http.ResponseWriter, r *http.Request)   { s.writePool(w, r, true) }

// writePool edits (PATCH: only the fields present) or replaces (PUT) a pool.
// A PUT without "enabled" disables the pool, as the real API does.
func (s *Server) writePool(w http.ResponseWriter, r *http.Request, replace bool) {
	var b poolBody
	if e := decode(r, &b); e != nil {
		failRule(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.poolFor(w, r)
	if cur == nil {
		return
	}
	next := *cur
	if replace {
		if b.Name == nil || b.Origins == nil {
			failRule(w, badRequest(1002, "name and origins are required: validation failed"))
			return
		}
		next = Pool{ID: cur.ID, Enabled: false}
	}
	if b.Name != nil {
		next.Name = *b.Name
	}
	if b.Description != nil {
		next.Description = *b.Description
	}
	if b.Enabled != nil {
		next.Enabled = *b.Enabled
	}
	if b.MinimumOrigins != nil {
		next.MinimumOrigins = *b.MinimumOrigins
	}
	if b.Origins != nil {
		list, e := origins(*b.Origins)
		if e != nil {
			failRule(w, e)
			return
		}
		next.Origins = list
	}
	*cur = next
	ok(w, poolToJSON(cur))
}
