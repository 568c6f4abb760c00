package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	cf "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/dns"
	"github.com/cloudflare/cloudflare-go/v7/packages/pagination"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// dns_record mode.
//
// The service owns the A, AAAA and CNAME records under its name; records of
// other types there (TXT, MX, ...) are not its business and are left alone.
// Apply reconciles the owned records to exactly the top target's values:
// a record that already has a wanted value stays (its proxied flag and TTL
// are edited if they differ), a record with a value no longer wanted is
// edited in place to a missing value (PATCH), what is left over is deleted,
// and what is still missing is created. Deletes go first, then edits, then
// creates, the order in which Cloudflare itself runs a batch, so that a CNAME
// never meets another record under the same name.

const (
	listPerPage  = 100
	listMaxPages = 50 // 5,000 records under one name is not a service
)

// rr is one record under the service's name, as this package compares it.
type rr struct {
	id      string
	key     rrKey
	proxied bool
	ttl     int
}

// rrKey is a record's type and normalised content.
type rrKey struct {
	typ     string // A, AAAA or CNAME
	content string
}

func (k rrKey) String() string { return k.typ + " " + k.content }

// owned reports whether records of type typ belong to the service.
func owned(typ string) bool {
	switch typ {
	case "A", "AAAA", "CNAME":
		return true
	}
	return false
}

// recordName is svc.Record as Cloudflare spells names: lower case, without
// the final dot.
func recordName(svc dnsswitch.Service) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(svc.Record)), ".")
}

// normContent normalises a value for comparison: addresses in canonical
// form, host names in lower case without the final dot.
func normContent(typ, v string) string {
	v = strings.TrimSpace(v)
	if typ == "A" || typ == "AAAA" {
		if a, err := netip.ParseAddr(v); err == nil {
			return a.String()
		}
	}
	return strings.TrimSuffix(strings.ToLower(v), ".")
}

// answerKeys returns the records that publish a, without validating it.
func answerKeys(a dnsswitch.Answer) []rrKey {
	typ := strings.ToUpper(strings.TrimSpace(a.Type))
	var keys []rrKey
	for _, v := range a.Values {
		k := rrKey{typ: typ, content: normContent(typ, v)}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// wantRecords returns the records that publish a, or an error wrapping
// errConfig when Cloudflare cannot publish it as a plain record set.
func wantRecords(a dnsswitch.Answer) ([]rrKey, error) {
	keys := answerKeys(a)
	typ := strings.ToUpper(strings.TrimSpace(a.Type))
	if !owned(typ) {
		return nil, fmt.Errorf("%w: target %s: record type %q, want A, AAAA or CNAME", errConfig, a.Target, a.Type)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: target %s: the answer has no values", errConfig, a.Target)
	}
	if typ == "CNAME" && len(keys) > 1 {
		return nil, fmt.Errorf("%w: target %s: a CNAME answer has one value, got %d", errConfig, a.Target, len(keys))
	}
	for _, k := range keys {
		switch typ {
		case "A", "AAAA":
			addr, err := netip.ParseAddr(k.content)
			if err != nil || addr.Is4() != (typ == "A") || addr.Is4In6() {
				return nil, fmt.Errorf("%w: target %s: %q is not an %s address", errConfig, a.Target, k.content, typ)
			}
		case "CNAME":
			if k.content == "" {
				return nil, fmt.Errorf("%w: target %s: empty CNAME value", errConfig, a.Target)
			}
		}
	}
	return keys, nil
}

// listRecords returns the service's own records under name, following
// pagination.
func (p *Provider) listRecords(ctx context.Context, name string) ([]rr, error) {
	var out []rr
	for page := 1; ; page++ {
		if page > listMaxPages {
			return nil, fmt.Errorf("list records %s: more than %d pages", name, listMaxPages)
		}
		var res *pagination.V4PagePaginationArray[dns.RecordResponse]
		err := p.call(ctx, "list records "+name, func(ctx context.Context) error {
			var err error
			res, err = p.records.List(ctx, dns.RecordListParams{
				ZoneID:  cf.F(p.zoneID),
				Name:    cf.F(dns.RecordListParamsName{Exact: cf.F(name)}),
				Page:    cf.F(float64(page)),
				PerPage: cf.F(float64(listPerPage)),
			})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, r := range res.Result {
			typ := string(r.Type)
			if !owned(typ) || !strings.EqualFold(strings.TrimSuffix(r.Name, "."), name) {
				continue
			}
			out = append(out, rr{id: r.ID, key: rrKey{typ: typ, content: normContent(typ, r.Content)}, proxied: r.Proxied, ttl: int(r.TTL)})
		}
		if lastPage(res, page) {
			return out, nil
		}
	}
}

// lastPage reports whether res, page number page of a list, is its last:
// result_info's total_pages says so, or the page is shorter than the
// per_page the server reports (it may use fewer than asked for).
func lastPage(res *pagination.V4PagePaginationArray[dns.RecordResponse], page int) bool {
	if f, ok := res.ResultInfo.JSON.ExtraFields["total_pages"]; ok {
		if n, err := strconv.Atoi(f.Raw()); err == nil {
			return page >= n
		}
	}
	perPage := int(res.ResultInfo.PerPage)
	if perPage <= 0 {
		perPage = listPerPage
	}
	return len(res.Result) < perPage
}

func (p *Provider) readRecords(ctx context.Context, svc dnsswitch.Service) (dnsswitch.Routing, error) {
	recs, err := p.listRecords(ctx, recordName(svc))
	if err != nil {
		return nil, err
	}
	return recordRouting(svc, recs)
}

// recordRouting maps published records to targets. No records: an empty
// routing. Records that are all values of one target: {target: 100}. Records
// of several targets, as a crash halfway through a switch leaves them:
// weights by share of records, so the plan shows a change to make. A record
// that is no target's value: ErrForeign.
func recordRouting(svc dnsswitch.Service, recs []rr) (dnsswitch.Routing, error) {
	if len(recs) == 0 {
		return dnsswitch.Routing{}, nil
	}
	keys := make([][]rrKey, len(svc.Answers))
	for i, a := range svc.Answers {
		keys[i] = answerKeys(a)
	}
	count := map[string]float64{}
	for _, r := range recs {
		owner := -1
		for i := range svc.Answers {
			if slices.Contains(keys[i], r.key) {
				owner = i
				break
			}
		}
		if owner < 0 {
			return nil, fmt.Errorf("%w: %s %v is no target's value", dnsswitch.ErrForeign, recordName(svc), r.key)
		}
		count[svc.Answers[owner].Target]++
	}
	for i, a := range svc.Answers {
		all := true
		for _, r := range recs {
			if !slices.Contains(keys[i], r.key) {
				all = false
				break
			}
		}
		if all {
			return dnsswitch.Routing{a.Target: 100}, nil
		}
	}
	return shares(count, svc.Order()), nil
}

// shares turns non-negative amounts into integer weights that sum to 100
// (largest remainder; ties to the earlier target in order). Zero amounts are
// left out; all zero gives an empty routing.
func shares(amount map[string]float64, order []string) dnsswitch.Routing {
	total := 0.0
	for _, name := range order {
		total += max(0, amount[name])
	}
	out := dnsswitch.Routing{}
	if total <= 0 {
		return out
	}
	type part struct {
		name string
		rem  float64
	}
	var parts []part
	left := 100
	for _, name := range order {
		a := max(0, amount[name])
		if a == 0 {
			continue
		}
		exact := a / total * 100
		fl := int(math.Floor(exact))
		out[name] = fl
		left -= fl
		parts = append(parts, part{name, exact - float64(fl)})
	}
	slices.SortStableFunc(parts, func(a, b part) int {
		switch {
		case a.rem > b.rem:
			return -1
		case a.rem < b.rem:
			return 1
		}
		return 0
	})
	for i := 0; left > 0 && len(parts) > 0; i = (i + 1) % len(parts) {
		out[parts[i].name]++
		left--
	}
	for name, w := range out {
		if w == 0 {
			delete(out, name)
		}
	}
	return out
}

type opKind int

const (
	opDelete opKind = iota + 1
	opEdit
	opCreate
)

func (k opKind) String() string {
	switch k {
	case opDelete:
		return "delete"
	case opEdit:
		return "edit"
	case opCreate:
		return "create"
	}
	return fmt.Sprintf("opKind(%d)", int(k))
}

// recordOp is one write of a reconciliation.
type recordOp struct {
	kind    opKind
	id      string // the record deleted or edited
	from    rrKey  // what it was (delete, edit)
	to      rrKey  // what it becomes (edit, create)
	proxied *bool  // the flag to send; nil leaves it as it is
	ttl     int    // the TTL to send (1 when the record is proxied)
}

func (o recordOp) String() string {
	switch o.kind {
	case opDelete:
		return fmt.Sprintf("delete %v", o.from)
	case opEdit:
		return fmt.Sprintf("edit %v -> %v", o.from, o.to)
	}
	return fmt.Sprintf("create %v", o.to)
}

// planRecords is pure: the writes that turn cur into exactly want, with the
// proxied flag (nil: leave it) and the TTL (1 is automatic). Deletes come
// first, then edits, then creates. It returns nothing when cur already
// matches.
func planRecords(cur []rr, want []rrKey, proxied *bool, ttl int) []recordOp {
	// New records take the flag asked for, or else the one of a record
	// already there, so that a set does not end up half proxied.
	createProxied := proxied
	if createProxied == nil && len(cur) > 0 {
		v := cur[0].proxied
		createProxied = &v
	}
	ttlFor := func(prox bool) int {
		if prox {
			return 1 // Cloudflare fixes proxied records at automatic
		}
		return ttl
	}
	matched := make([]bool, len(cur))
	var edits []recordOp
	var missing []rrKey
	for _, k := range want {
		i := -1
		for j, r := range cur {
			if !matched[j] && r.key == k {
				i = j
				break
			}
		}
		if i < 0 {
			missing = append(missing, k)
			continue
		}
		matched[i] = true
		r := cur[i]
		prox := r.proxied
		if proxied != nil {
			prox = *proxied
		}
		if prox != r.proxied || (!prox && r.ttl != ttl) {
			edits = append(edits, recordOp{kind: opEdit, id: r.id, from: r.key, to: k, proxied: proxied, ttl: ttlFor(prox)})
		}
	}
	var extras []rr
	for i, r := range cur {
		if !matched[i] {
			extras = append(extras, r)
		}
	}
	var ops []recordOp
	n := min(len(extras), len(missing))
	for _, r := range extras[n:] {
		ops = append(ops, recordOp{kind: opDelete, id: r.id, from: r.key})
	}
	for i, r := range extras[:n] {
		prox := r.proxied
		if proxied != nil {
			prox = *proxied
		}
		edits = append(edits, recordOp{kind: opEdit, id: r.id, from: r.key, to: missing[i], proxied: proxied, ttl: ttlFor(prox)})
	}
	ops = append(ops, edits...)
	for _, k := range missing[n:] {
		prox := false
		if createProxied != nil {
			prox = *createProxied
		}
		ops = append(ops, recordOp{kind: opCreate, to: k, proxied: createProxied, ttl: ttlFor(prox)})
	}
	return ops
}

// recordTTL is the TTL to publish for svc: its own, or 1 (automatic) when it
// has none.
func recordTTL(svc dnsswitch.Service) int {
	if svc.TTL <= 0 {
		return 1
	}
	return svc.TTL
}

func (p *Provider) applyRecords(ctx context.Context, svc dnsswitch.Service, publish dnsswitch.Routing) (bool, error) {
	top := publish.Top(svc.Order())
	ans, _ := svc.Answer(top) // CheckRouting made sure it exists
	want, err := wantRecords(ans)
	if err != nil {
		return false, err
	}
	name := recordName(svc)
	if name == "" {
		return false, fmt.Errorf("%w: service %s has no record name", errConfig, svc.Name)
	}
	cur, err := p.listRecords(ctx, name)
	if err != nil {
		return false, err
	}
	ttl := recordTTL(svc)
	ops := planRecords(cur, want, ans.Proxied, ttl)
	if len(ops) == 0 {
		return false, nil
	}
	for i, o := range ops {
		if err := p.writeRecord(ctx, name, o); err != nil {
			if i == 0 {
				return false, err
			}
			return true, fmt.Errorf("%d of %d record changes made, then %v: %w: %w", i, len(ops), o, dnsswitch.ErrPartial, err)
		}
		p.log.Debug("cloudflare: record written", "service", svc.Name, "change", o.String())
	}

	// Read back.
	got, err := p.listRecords(ctx, name)
	if err != nil {
		return true, fmt.Errorf("read back: %w", err)
	}
	if again := planRecords(got, want, ans.Proxied, ttl); len(again) > 0 {
		return true, fmt.Errorf("%w: %s after the write, still to do: %v", dnsswitch.ErrVerify, name, again)
	}
	return true, nil
}

// writeRecord sends one change. A create that finds the record already there
// and a delete that finds it already gone (a retry after a lost answer) are
// successes.
func (p *Provider) writeRecord(ctx context.Context, name string, o recordOp) error {
	var err error
	switch o.kind {
	case opDelete:
		err = p.call(ctx, "delete record "+o.from.String(), func(ctx context.Context) error {
			_, err := p.records.Delete(ctx, o.id, dns.RecordDeleteParams{ZoneID: cf.F(p.zoneID)})
			return err
		})
		if isCode(err, codeRecordMissing) {
			return nil
		}
	case opEdit:
		body := dns.RecordEditParamsBody{
			Name:    cf.F(name),
			Type:    cf.F(dns.RecordEditParamsBodyType(o.to.typ)),
			Content: cf.F(o.to.content),
			TTL:     cf.F(dns.TTL(o.ttl)),
		}
		if o.proxied != nil {
			body.Proxied = cf.F(*o.proxied)
		}
		err = p.call(ctx, "edit record "+o.from.String(), func(ctx context.Context) error {
			_, err := p.records.Edit(ctx, o.id, dns.RecordEditParams{ZoneID: cf.F(p.zoneID), Body: body})
			return err
		})
	case opCreate:
		body := dns.RecordNewParamsBody{
			Name:    cf.F(name),
			Type:    cf.F(dns.RecordNewParamsBodyType(o.to.typ)),
			Content: cf.F(o.to.content),
			TTL:     cf.F(dns.TTL(o.ttl)),
		}
		if o.proxied != nil {
			body.Proxied = cf.F(*o.proxied)
		}
		err = p.call(ctx, "create record "+o.to.String(), func(ctx context.Context) error {
			_, err := p.records.New(ctx, dns.RecordNewParams{ZoneID: cf.F(p.zoneID), Body: body})
			return err
		})
		if isCode(err, codeIdenticalRecord) {
			return nil
		}
	}
	return err
}

const codeRecordMissing = 81044 // "Record does not exist."

// isCode reports whether err is an API error carrying code.
func isCode(err error, code int) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Has(code)
}
