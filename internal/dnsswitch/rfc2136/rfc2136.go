// Package rfc2136 is the dnsswitch backend for authoritative servers that take
// RFC 2136 dynamic updates signed with TSIG: BIND 9, Knot and PowerDNS.
//
// It publishes the single highest-weight target of a service (see
// dnsswitch.Effective): a ramp becomes one switch. Apply replaces the A, AAAA
// and CNAME RRsets of the record in one prerequisite-free UPDATE message, so
// the switch is atomic on the server, and then reads the record back from the
// same server. Read queries the server directly, never a recursive resolver.
//
// Every message goes over TCP and is signed with the TSIG key, queries too.
// TSIG failures come back wrapping dnsswitch.ErrAuth, SERVFAIL and network
// failures wrapping dnsswitch.ErrRetryable; REFUSED and NOTZONE are hard
// errors. The secret never appears in an error or a log line.
package rfc2136

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// DefaultTimeout bounds one DNS message exchange when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// DefaultAlgorithm is the TSIG algorithm used when Options.Algorithm is empty.
const DefaultAlgorithm = "hmac-sha256"

// fudge is the TSIG time fudge in seconds (RFC 8945 recommends 300).
const fudge = 300

// algorithms maps the names operators write (as in BIND's key clause and
// Knot's key section) to the TSIG algorithm names on the wire.
var algorithms = map[string]string{
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// Options configures a Provider.
type Options struct {
	// Name is the provider's name in the config.
	Name string
	// Server is the primary authoritative server, host:port. The port
	// defaults to 53.
	Server string
	// Zone is the zone to update, fully qualified ("example.com.").
	Zone string
	// KeyName is the TSIG key's name, fully qualified ("failover-key.").
	KeyName string
	// Algorithm is hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or
	// hmac-sha512; empty means DefaultAlgorithm.
	Algorithm string
	// Secret is the TSIG secret, base64 as in BIND's key clause. The caller
	// resolves it from an env var or a file. It never appears in an error or
	// a log line.
	Secret string
	// Timeout bounds each message exchange; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives the provider's log lines; nil discards them.
	Logger *slog.Logger
}

// String describes the options without the secret, so that printing them by
// mistake leaks nothing.
func (o Options) String() string {
	return fmt.Sprintf("rfc2136 %s: server %s, zone %s, key %q (%s), secret %s",
		o.Name, o.Server, o.Zone, o.KeyName, o.Algorithm, redacted(o.Secret))
}

// GoString is String, so that %#v does not print the secret either.
func (o Options) GoString() string { return o.String() }

// LogValue keeps the secret out of slog output.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", o.Name),
		slog.String("server", o.Server),
		slog.String("zone", o.Zone),
		slog.String("key", o.KeyName),
		slog.String("algorithm", o.Algorithm),
		slog.String("secret", redacted(o.Secret)),
	)
}

func redacted(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return "(redacted)"
}

// Provider publishes services on an RFC 2136 server. It is safe for
// concurrent use.
type Provider struct {
	name      string
	server    string
	zone      string // canonical: lower case, fully qualified
	keyName   string // canonical
	algName   string // as configured, for messages: "hmac-sha256"
	algorithm string // on the wire: "hmac-sha256."
	secret    string
	timeout   time.Duration
	log       *slog.Logger
}

var _ dnsswitch.Provider = (*Provider)(nil)

// String describes the provider without its secret.
func (p Provider) String() string {
	return fmt.Sprintf("rfc2136 %s: server %s, zone %s, key %q (%s), secret (redacted)",
		p.name, p.server, p.zone, p.keyName, p.algName)
}

// GoString is String, so that %#v does not print the secret either.
func (p Provider) GoString() string { return p.String() }

// New checks opts and returns a Provider. It does not contact the server.
func New(opts Options) (*Provider, error) {
	var problems []string
	if opts.Name == "" {
		problems = append(problems, "name is empty")
	}
	server, err := hostPort(opts.Server)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if err := checkFQDN("zone", opts.Zone); err != nil {
		problems = append(problems, err.Error())
	}
	if err := checkFQDN("tsig key name", opts.KeyName); err != nil {
		problems = append(problems, err.Error())
	}
	algName := strings.ToLower(strings.TrimSuffix(opts.Algorithm, "."))
	if algName == "" {
		algName = DefaultAlgorithm
	}
	algorithm, ok := algorithms[algName]
	if !ok {
		problems = append(problems, fmt.Sprintf(
			"tsig algorithm %q is not supported (use hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512)",
			opts.Algorithm))
	}
	// The secret's text must not leak, not even through the decoder's error.
	if opts.Secret == "" {
		problems = append(problems, "tsig secret is empty")
	} else if b, err := base64.StdEncoding.DecodeString(opts.Secret); err != nil || len(b) == 0 {
		problems = append(problems, "tsig secret is not valid base64")
	}
	if opts.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("timeout is negative (%v)", opts.Timeout))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("rfc2136 %s: %s", opts.Name, strings.Join(problems, "; "))
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		name:      opts.Name,
		server:    server,
		zone:      dns.CanonicalName(opts.Zone),
		keyName:   dns.CanonicalName(opts.KeyName),
		algName:   algName,
		algorithm: algorithm,
		secret:    opts.Secret,
		timeout:   timeout,
		log:       log.With("provider", opts.Name, "server", server, "zone", dns.CanonicalName(opts.Zone)),
	}, nil
}

// hostPort returns s as host:port, with port 53 when s has none.
func hostPort(s string) (string, error) {
	if s == "" {
		return "", errors.New("server is empty")
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		if host == "" || port == "" {
			return "", fmt.Errorf("server %q: want host:port", s)
		}
		return s, nil
	}
	if strings.Contains(s, ":") && net.ParseIP(s) == nil {
		return "", fmt.Errorf("server %q: want host:port", s)
	}
	return net.JoinHostPort(s, "53"), nil
}

// checkFQDN reports whether name is a valid, fully qualified domain name.
func checkFQDN(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is empty", what)
	case !dns.IsFqdn(name):
		return fmt.Errorf("%s %q must be fully qualified (end with a dot: %q)", what, name, name+".")
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return fmt.Errorf("%s %q is not a valid domain name", what, name)
	}
	return nil
}

// Name is the provider's name in the config.
func (p *Provider) Name() string { return p.name }

// Capabilities: an RFC 2136 zone holds one answer per name, so the provider
// publishes only the highest-weight target.
func (p *Provider) Capabilities() dnsswitch.Capabilities {
	return dnsswitch.Capabilities{Weighted: false}
}

// Read queries the server for the A, AAAA and CNAME records at svc.Record and
// maps them back to the target whose answer they are. No records read as an
// empty Routing; records that match no target are an error wrapping
// dnsswitch.ErrForeign.
func (p *Provider) Read(ctx context.Context, svc dnsswitch.Service) (dnsswitch.Routing, error) {
	want, err := p.answers(svc)
	if err != nil {
		return nil, err
	}
	have, err := p.lookup(ctx, svc.Record)
	if err != nil {
		return nil, err
	}
	return match(svc, want, have)
}

// Apply publishes the highest-weight target of desired at svc.Record. It
// checks desired first and writes nothing when it is invalid or already
// published. Otherwise it sends one UPDATE that replaces the record's A, AAAA
// and CNAME RRsets, then reads the record back and returns an error wrapping
// dnsswitch.ErrVerify when it differs.
func (p *Provider) Apply(ctx context.Context, svc dnsswitch.Service, desired dnsswitch.Routing, opts dnsswitch.ApplyOptions) error {
	answers, err := p.answers(svc)
	if err != nil {
		return err
	}
	if err := dnsswitch.CheckRouting(svc, desired); err != nil {
		return fmt.Errorf("rfc2136: apply %s: %w", svc.Record, err)
	}
	publish := dnsswitch.Effective(p.Capabilities(), svc, desired)
	target := publish.Top(svc.Order())
	want := answers[target].withTTL(svc.TTL)
	log := p.log.With("service", svc.Name, "record", svc.Record, "target", target, "generation", opts.Generation)

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rfc2136: apply %s: %w", svc.Record, err)
	}
	have, err := p.lookup(ctx, svc.Record)
	if err != nil {
		return err
	}
	if have.equal(want) {
		log.Debug("already published")
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rfc2136: apply %s: %w", svc.Record, err)
	}
	if _, err := match(svc, answers, have); err != nil {
		log.Warn("replacing records that match no target", "was", have.String())
	}
	if nonZero(desired) > 1 {
		// Said when it happens, not on every level-triggered re-apply.
		log.Info("single-target provider: the ramp becomes one switch to the highest-weight target",
			"asked", desired.String())
	}

	m := updateMsg(p.zone, svc.Record, have, want)
	if _, err := p.exchange(ctx, m, "update "+svc.Record); err != nil {
		return err
	}
	got, err := p.lookup(ctx, svc.Record)
	if err != nil {
		return fmt.Errorf("rfc2136: update %s was accepted, but reading it back failed: %w", svc.Record, err)
	}
	if !got.equal(want) {
		return fmt.Errorf("rfc2136: update %s was accepted, but the server answers {%v}, want {%v}: %w",
			svc.Record, got, want, dnsswitch.ErrVerify)
	}
	log.Info("published", "answer", want.String(), "was", have.String())
	return nil
}

func nonZero(r dnsswitch.Routing) int {
	n := 0
	for _, w := range r {
		if w > 0 {
			n++
		}
	}
	return n
}

// answers checks svc against the provider's zone and returns each target's
// answer as an rrset (TTL 0).
func (p *Provider) answers(svc dnsswitch.Service) (map[string]rrset, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("rfc2136: service %s: %s", svc.Name, fmt.Sprintf(format, args...))
	}
	if err := checkFQDN("record", svc.Record); err != nil {
		return nil, fail("%v", err)
	}
	if !dns.IsSubDomain(p.zone, dns.CanonicalName(svc.Record)) {
		return nil, fail("record %s is not in zone %s", svc.Record, p.zone)
	}
	if svc.TTL < 0 || int64(svc.TTL) > 1<<31-1 {
		return nil, fail("ttl %d is out of range", svc.TTL)
	}
	out := make(map[string]rrset, len(svc.Answers))
	for _, a := range svc.Answers {
		if _, dup := out[a.Target]; dup {
			return nil, fail("target %q appears twice", a.Target)
		}
		rs, err := fromAnswer(a)
		if err != nil {
			return nil, fail("target %s: %v", a.Target, err)
		}
		out[a.Target] = rs
	}
	return out, nil
}

// match maps the published records to the target whose answer they are.
// Records with a target's data but another TTL than the service's read as
// weight 0, as Route 53's stale sets do: the plan then shows the change that
// Apply will make, and the loop rewrites them.
func match(svc dnsswitch.Service, answers map[string]rrset, have rrset) (dnsswitch.Routing, error) {
	if have.empty() {
		return dnsswitch.Routing{}, nil
	}
	for _, name := range svc.Order() {
		if answers[name].sameData(have) {
			if !answers[name].withTTL(svc.TTL).equal(have) {
				return dnsswitch.Routing{}, nil
			}
			return dnsswitch.Routing{name: 100}, nil
		}
	}
	return nil, fmt.Errorf("rfc2136: read %s: the server publishes {%v}, which is no target's answer of service %s: %w",
		svc.Record, have, svc.Name, dnsswitch.ErrForeign)
}

// lookup queries the server for the A, AAAA and CNAME RRsets at name.
func (p *Provider) lookup(ctx context.Context, name string) (rrset, error) {
	name = dns.CanonicalName(name)
	var out rrset
	for _, t := range managedTypes {
		m := new(dns.Msg)
		m.SetQuestion(name, t)
		m.RecursionDesired = false
		r, err := p.exchange(ctx, m, "query "+name+" "+dns.TypeToString[t])
		if err != nil {
			return rrset{}, err
		}
		for _, rr := range r.Answer {
			h := rr.Header()
			if h.Rrtype == t && h.Class == dns.ClassINET && dns.CanonicalName(h.Name) == name {
				if err := out.add(rr); err != nil {
					return rrset{}, fmt.Errorf("rfc2136: query %s %s: %w", name, dns.TypeToString[t], err)
				}
			}
		}
	}
	return out, nil
}

// updateMsg builds the one UPDATE that turns have into want at name: the
// deletions come first, so that a CNAME never meets other data.
func updateMsg(zone, name string, have, want rrset) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(zone)
	name = dns.CanonicalName(name)
	wt := want.typ()
	for _, t := range managedTypes {
		if t == wt {
			continue
		}
		// Deleting an RRset that does not exist is a no-op, so every other
		// type is removed, also one that appeared since the read.
		m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t}}})
	}
	if !have.ofType(wt).equal(want) {
		m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: wt}}})
		m.Insert(want.rrs(name))
	}
	return m
}
