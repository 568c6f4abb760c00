package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestClassifyDialDeadline classifies the real error of a dialer whose
// deadline has already passed, the way a dial to a black hole ends.
func TestClassifyDialDeadline(t *testing.T) {
	a := closedPort(t) // never reached: the deadline strikes first
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	var d net.Dialer
	_, err := d.DialContext(ctx, "tcp", a)
	if err == nil {
		t.Fatal("dial with an expired deadline succeeded")
	}
	if c := classifyError(err, progress{}); c != ClassConnectTimeout {
		t.Errorf("before connect: %q (%v), want connect_timeout", c, err)
	}
	if c := classifyError(err, progress{connected: true}); c != ClassTimeout {
		t.Errorf("after connect: %q (%v), want timeout", c, err)
	}

	d = net.Dialer{Timeout: time.Nanosecond}
	if _, err = d.Dial("tcp", a); err == nil {
		t.Fatal("dial with a 1ns timeout succeeded")
	}
	if c := classifyError(err, progress{}); c != ClassConnectTimeout {
		t.Errorf("1ns dial timeout: %q (%v), want connect_timeout", c, err)
	}
}

// TestClassifyPrecedence pins the order of the checks in classifyError on
// wrapped errors of the real types.
func TestClassifyPrecedence(t *testing.T) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	inTLS := progress{connected: true, tlsStarted: true}
	tests := []struct {
		name string
		err  error
		p    progress
		want Class
	}{
		{"canceled", fmt.Errorf("probe: %w", context.Canceled), progress{}, ClassOther},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, progress{dnsStarted: true}, ClassDNS},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "x.invalid", IsTimeout: true}, progress{dnsStarted: true}, ClassDNS},
		{"deadline during lookup", context.DeadlineExceeded, progress{dnsStarted: true}, ClassDNS},
		{"deadline after lookup", context.DeadlineExceeded, progress{dnsStarted: true, dnsOK: true}, ClassConnectTimeout},
		{"refused", opErr(syscall.ECONNREFUSED), progress{}, ClassRefused},
		{"os deadline before connect", opErr(os.ErrDeadlineExceeded), progress{}, ClassConnectTimeout},
		{"os deadline after connect", opErr(os.ErrDeadlineExceeded), progress{connected: true}, ClassTimeout},
		{"deadline in tls is timeout", context.DeadlineExceeded, inTLS, ClassTimeout},
		{"reset", opErr(syscall.ECONNRESET), progress{connected: true, wrote: true}, ClassReset},
		{"reset in tls is reset", opErr(syscall.ECONNRESET), inTLS, ClassReset},
		{"broken pipe", opErr(syscall.EPIPE), progress{connected: true}, ClassReset},
		{"record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, inTLS, ClassTLS},
		{"alert", fmt.Errorf("remote error: %w", tls.AlertError(40)), inTLS, ClassTLS},
		{"verification", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, inTLS, ClassTLS},
		{"hostname", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}, progress{}, ClassTLS},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, progress{}, ClassTLS},
		{"eof in tls", io.EOF, inTLS, ClassTLS},
		{"eof after request", io.EOF, progress{connected: true, wrote: true}, ClassReset},
		{"unexpected eof in body", io.ErrUnexpectedEOF, progress{connected: true, wrote: true, gotHeaders: true}, ClassReset},
		{"other", errors.New("net/http: invalid header"), progress{connected: true}, ClassOther},
		{"nil", nil, progress{}, ClassOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyError(tt.err, tt.p); got != tt.want {
				t.Errorf("classifyError(%v, %+v) = %q, want %q", tt.err, tt.p, got, tt.want)
			}
		})
	}
}

func TestClassesValid(t *testing.T) {
	for _, c := range Classes {
		if !c.Valid() {
			t.Errorf("%q is not valid", c)
		}
	}
	if Class("flaky").Valid() {
		t.Error(`"flaky" is valid`)
	}
}
