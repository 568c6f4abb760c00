package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// opError is the failure of one message exchange with the server. kind is
// dnsswitch.ErrAuth, dnsswitch.ErrRetryable or nil (a hard error); cause is
// the underlying error, if any. Neither the message nor the cause ever holds
// the TSIG secret.
type opError struct {
	op    string // "update www.example.com." or "query www.example.com. AAAA"
	msg   string
	kind  error
	cause error
}

func (e *opError) Error() string { return "rfc2136: " + e.op + ": " + e.msg }

func (e *opError) Unwrap() []error {
	var out []error
	if e.kind != nil {
		out = append(out, e.kind)
	}
	if e.cause != nil {
		out = append(out, e.cause)
	}
	return out
}

// exchange sends m signed with the provider's key to the server over TCP and
// returns the answer when it reports success. Every failure comes back as an
// *opError.
func (p *Provider) exchange(ctx context.Context, m *dns.Msg, op string) (*dns.Msg, error) {
	if err := ctx.Err(); err != nil {
		return nil, p.ctxError(op, err)
	}
	c := &dns.Client{
		Net:        "tcp",
		Timeout:    p.timeout,
		TsigSecret: map[string]string{p.keyName: p.secret},
	}
	m.SetTsig(p.keyName, p.algorithm, fudge, time.Now().Unix())

	xctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	conn, err := c.DialContext(xctx, p.server)
	if err != nil {
		return nil, p.netError(ctx, op, err)
	}
	defer conn.Close()
	// miekg/dns only takes deadlines from the context: close the connection
	// when it is cancelled, so that a cancelled call returns at once.
	stop := context.AfterFunc(xctx, func() { conn.Close() })
	defer stop()

	r, _, err := c.ExchangeWithConnContext(xctx, m, conn)
	if ctx.Err() != nil {
		return nil, p.ctxError(op, ctx.Err())
	}
	if err != nil && xctx.Err() != nil {
		// The connection was closed at the deadline: a timeout.
		return nil, p.netError(ctx, op, xctx.Err())
	}
	return p.check(op, m, r, err)
}

func (p *Provider) ctxError(op string, err error) error {
	e := &opError{op: op, msg: err.Error(), cause: err}
	if errors.Is(err, context.DeadlineExceeded) {
		e.kind = dnsswitch.ErrRetryable
	}
	return e
}

// netError classifies a failure to reach the server or to read its answer:
// all of them may pass, so they are retryable.
func (p *Provider) netError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return p.ctxError(op, ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return &opError{op: op, kind: dnsswitch.ErrRetryable, cause: err,
			msg: fmt.Sprintf("no answer from %s within %v", p.server, p.timeout)}
	}
	return &opError{op: op, kind: dnsswitch.ErrRetryable, cause: err,
		msg: fmt.Sprintf("cannot reach %s: %v", p.server, err)}
}

// check classifies the server's answer r (and the error of reading it).
func (p *Provider) check(op string, req, r *dns.Msg, err error) (*dns.Msg, error) {
	if r == nil {
		if err == nil {
			err = errors.New("empty answer")
		}
		return nil, p.netError(context.Background(), op, err)
	}
	update := req.Opcode == dns.OpcodeUpdate
	// A TSIG error (BADSIG, BADKEY, BADTIME) comes in an unsigned TSIG
	// record, so it fails verification too: look at it first.
	if t := r.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
		return nil, p.authError(op, rcodeName(int(t.Error)))
	}
	if err != nil {
		if isTsigErr(err) {
			return nil, &opError{op: op, kind: dnsswitch.ErrAuth, cause: err,
				msg: fmt.Sprintf("the answer from %s failed TSIG verification with the key %q (%s): %v; check the secret",
					p.server, p.keyName, p.algName, err)}
		}
		return nil, p.netError(context.Background(), op, err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		if update {
			return nil, &opError{op: op, msg: "server answered NXDOMAIN to an update without prerequisites"}
		}
	case dns.RcodeServerFailure:
		return nil, &opError{op: op, kind: dnsswitch.ErrRetryable,
			msg: fmt.Sprintf("server %s answered SERVFAIL", p.server)}
	case dns.RcodeNotAuth:
		return nil, p.authError(op, "NOTAUTH")
	case dns.RcodeRefused:
		if update {
			return nil, &opError{op: op, msg: fmt.Sprintf(
				"server refused the update of zone %s (REFUSED): check that the key %q may update it (BIND: update-policy or allow-update; Knot: an acl with action update)",
				p.zone, p.keyName)}
		}
		return nil, &opError{op: op, msg: fmt.Sprintf(
			"server refused the query (REFUSED): check that %s serves zone %s and answers this host", p.server, p.zone)}
	case dns.RcodeNotZone:
		return nil, &opError{op: op, msg: fmt.Sprintf(
			"server says the record is not in zone %s (NOTZONE)", p.zone)}
	default:
		return nil, &opError{op: op, msg: fmt.Sprintf("server answered %s", rcodeName(r.Rcode))}
	}
	if !update && !r.Authoritative {
		return nil, &opError{op: op, msg: fmt.Sprintf(
			"the answer from %s is not authoritative: point the provider at a primary server of zone %s, not a resolver",
			p.server, p.zone)}
	}
	return r, nil
}

// authError is the error for a request the server rejected for its TSIG key.
func (p *Provider) authError(op, code string) error {
	hint := "check the key name, algorithm and secret"
	switch code {
	case "BADKEY":
		// Knot also answers BADKEY when its acl does not let the key update.
		hint = fmt.Sprintf("%s, and that the server lets this key update zone %s", hint, p.zone)
	case "BADTIME":
		hint = fmt.Sprintf("the clocks of this host and the server differ by more than %ds", fudge)
	case "NOTAUTH":
		hint = fmt.Sprintf("check the key name, algorithm and secret, and that the server is authoritative for %s", p.zone)
	}
	return &opError{op: op, kind: dnsswitch.ErrAuth, msg: fmt.Sprintf(
		"server refused the TSIG key %q (%s, %s): %s", p.keyName, p.algName, code, hint)}
}

func isTsigErr(err error) bool {
	for _, e := range []error{dns.ErrSig, dns.ErrSecret, dns.ErrTime, dns.ErrKeyAlg, dns.ErrNoSig} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}
