package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// progress records how far a probe got before it failed. The class of a
// timeout depends on it: a deadline that strikes before the TCP connection
// is up is connect_timeout, after it timeout.
type progress struct {
	dnsStarted bool // a name lookup began
	dnsOK      bool // and found addresses
	connected  bool // a TCP connection is established
	tlsStarted bool
	tlsOK      bool // the handshake succeeded
	wrote      bool // the request is written
	gotHeaders bool // the response headers arrived; the failure is in the body
}

// stage names where a probe was when it failed, for error messages.
func (p progress) stage() string {
	switch {
	case p.gotHeaders:
		return "reading the body"
	case p.wrote:
		return "waiting for the response"
	case p.tlsStarted && !p.tlsOK:
		return "in the TLS handshake"
	case p.connected:
		return "sending the request"
	case p.dnsStarted && !p.dnsOK:
		return "resolving the name"
	default:
		return "connecting"
	}
}

// classifyError maps a transport error to its class. The checks run in this
// order, and the first that matches wins:
//
//  1. context.Canceled: other (the caller gave up, not the target);
//  2. *net.DNSError, or a deadline before the name was resolved: dns;
//  3. ECONNREFUSED: refused;
//  4. a deadline (context.DeadlineExceeded, os.ErrDeadlineExceeded or a
//     net.Error that is a Timeout): connect_timeout when no TCP connection
//     was up yet, else timeout;
//  5. ECONNRESET, ECONNABORTED or EPIPE: reset, even in the TLS handshake,
//     because a reset is a transport event;
//  6. TLS and certificate errors (tls.RecordHeaderError, tls.AlertError,
//     tls.CertificateVerificationError, the x509 errors), or any other error
//     while the handshake was under way (a server that closes the
//     connection on an unknown SNI): tls;
//  7. io.EOF or io.ErrUnexpectedEOF, a server that closed the connection
//     before a complete response: reset;
//  8. anything else: other.
func classifyError(err error, p progress) Class {
	var (
		dnsErr      *net.DNSError
		netErr      net.Error
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		verifyErr   *tls.CertificateVerificationError
		unknownErr  x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidErr  x509.CertificateInvalidError
	)
	timeout := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &netErr) && netErr.Timeout())
	switch {
	case err == nil:
		return ClassOK
	case errors.Is(err, context.Canceled):
		return ClassOther
	case errors.As(err, &dnsErr), timeout && p.dnsStarted && !p.dnsOK:
		return ClassDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case timeout && !p.connected:
		return ClassConnectTimeout
	case timeout:
		return ClassTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return ClassReset
	case errors.As(err, &recordErr), errors.As(err, &alertErr), errors.As(err, &verifyErr),
		errors.As(err, &unknownErr), errors.As(err, &hostnameErr), errors.As(err, &invalidErr),
		p.tlsStarted && !p.tlsOK:
		return ClassTLS
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassReset
	default:
		return ClassOther
	}
}
