package route53

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// class sorts a failed call by what may be done about it.
type class int

const (
	// classHard: the request is wrong (InvalidChangeBatch, NoSuchHostedZone,
	// InvalidInput, ...). Sending it again cannot help.
	classHard class = iota
	// classRejected: refused before it had any effect (Throttling, HTTP 429,
	// PriorRequestNotComplete). Safe to send again.
	classRejected
	// classUnknown: no clear answer (a 5xx, a transport failure, a timeout).
	// The request may have been applied. Reads are sent again; a change is
	// not, since resending a DELETE that did apply would fail: the next
	// pass re-reads and recomputes instead.
	classUnknown
	// classAuth: the credentials were refused or could not be had.
	classAuth
)

// Error codes by class. Codes not listed are hard errors.
var (
	rejectedCodes = map[string]bool{
		"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
		"RequestThrottled": true, "RequestThrottledException": true, "TooManyRequestsException": true,
		"RequestLimitExceeded": true, "PriorRequestNotComplete": true, "SlowDown": true,
	}
	authCodes = map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true, "InvalidClientTokenId": true,
		"SignatureDoesNotMatch": true, "UnrecognizedClientException": true, "ExpiredToken": true,
		"ExpiredTokenException": true, "IncompleteSignature": true, "MissingAuthenticationToken": true,
		"InvalidAccessKeyId": true, "AuthFailure": true, "InvalidSignatureException": true,
	}
	serverCodes = map[string]bool{
		"InternalError": true, "InternalFailure": true, "ServiceUnavailable": true,
	}
)

// Error is a failed Route 53 call. It wraps the SDK's error, so errors.As
// finds the smithy.APIError, and dnsswitch.ErrRetryable or
// dnsswitch.ErrAuth when the failure is soft or a credential problem.
type Error struct {
	Op       string // what was being done: "list record sets", "change batch", "get change"
	Code     string // the API's error code, e.g. "InvalidChangeBatch"; empty without one
	Message  string // the API's message
	Status   int    // the HTTP status; 0 without a response
	Attempts int    // requests sent for this call, retries included

	class class
	err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("route53: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.Code != "" && e.Code != "UnknownError":
		b.WriteString(e.Code)
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	case e.Status != 0:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Message != "" && e.Message != "UnknownError" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	default:
		b.WriteString(e.err.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap gives the SDK's error and the sentinel of the failure's class.
func (e *Error) Unwrap() []error {
	switch e.class {
	case classRejected, classUnknown:
		return []error{e.err, dnsswitch.ErrRetryable}
	case classAuth:
		return []error{e.err, dnsswitch.ErrAuth}
	}
	return []error{e.err}
}

// credentialsError marks a failure to obtain credentials, so that it is
// told apart from a transport failure.
type credentialsError struct{ err error }

func (e credentialsError) Error() string { return "credentials: " + e.err.Error() }
func (e credentialsError) Unwrap() error { return e.err }

// markedCredentials wraps the credentials chain so that its failures carry
// credentialsError.
type markedCredentials struct{ aws.CredentialsProvider }

func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return c, credentialsError{err: err}
	}
	return c, nil
}

// classify turns the SDK's error into an *Error.
func classify(op string, err error) *Error {
	e := &Error{Op: op, err: err, class: classHard}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		e.Status = status.HTTPStatusCode()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
		var icb *types.InvalidChangeBatch
		if errors.As(err, &icb) && len(icb.Messages) > 0 {
			e.Message = strings.Join(icb.Messages, "; ")
		}
	}
	var (
		cred    credentialsError
		params  smithy.InvalidParamsError
		serial  *smithy.SerializationError
		invalid = errors.As(err, &params) || errors.As(err, &serial)
	)
	switch {
	case errors.As(err, &cred):
		e.class = classAuth
	case invalid:
		e.class = classHard
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.class = classUnknown
	case rejectedCodes[e.Code], e.Status == 429:
		e.class = classRejected
	case authCodes[e.Code], e.Status == 401, e.Status == 403:
		e.class = classAuth
	case serverCodes[e.Code], e.Status >= 500, api == nil:
		e.class = classUnknown
	}
	return e
}

// do sends one API call through the limiter, retrying soft failures with
// jittered exponential backoff up to the retry budget. resendUnknown says
// whether a call whose outcome is unknown may be sent again (reads: yes;
// changes: no).
func (p *Provider) do(ctx context.Context, op string, resendUnknown bool, call func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		if err := p.limiter.Wait(ctx); err != nil {
			e := classify(op, err)
			e.Attempts = attempt - 1
			return e
		}
		err := call(ctx)
		if err == nil {
			return nil
		}
		e := classify(op, err)
		e.Attempts = attempt
		retry := e.class == classRejected || (e.class == classUnknown && resendUnknown)
		if !retry || attempt > p.maxRetries || ctx.Err() != nil {
			return e
		}
		wait := p.backoff(attempt)
		p.log.Info("route53 call failed, retrying", "op", op, "attempt", attempt,
			"code", e.Code, "status", e.Status, "backoff", wait)
		if err := sleep(ctx, p.clock, wait); err != nil {
			return e
		}
	}
}

// Backoff returns a jittered exponential backoff: for the n-th retry
// (n from 1), a random duration in [d/2, d] with d = base·2^(n-1), capped
// at max.
func Backoff(base, max time.Duration) func(n int) time.Duration {
	return func(n int) time.Duration {
		d := base
		for i := 1; i < n && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		half := d / 2
		return half + rand.N(d-half+1)
	}
}
