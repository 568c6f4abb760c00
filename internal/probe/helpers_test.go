package probe

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// compile compiles a probe config or fails the test. The default timeout
// is generous, so that on a loaded machine only the tests that set a short
// timeout on purpose ever see one.
func compile(t testing.TB, p config.Probe) *Spec {
	t.Helper()
	s, err := Compile(p, Defaults{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Compile(%+v): %v", p, err)
	}
	return s
}

// newProber returns a Prober or fails the test.
func newProber(t testing.TB, opts Options) *Prober {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// probe runs one probe with a generous outer bound, so a broken prober
// fails the test instead of hanging it.
func probe(t testing.TB, p *Prober, s *Spec) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Probe(ctx, s)
}

// wantClass fails the test unless r has class c, and checks that OK and
// Error agree with the class.
func wantClass(t testing.TB, r Result, c Class) {
	t.Helper()
	if r.Class != c {
		t.Fatalf("class = %q (error %q), want %q", r.Class, r.Error, c)
	}
	if r.OK != (c == ClassOK) {
		t.Errorf("ok = %v for class %q", r.OK, c)
	}
	if (r.Error == "") != (c == ClassOK) {
		t.Errorf("error = %q for class %q", r.Error, c)
	}
}

// testCert is a self-signed certificate that is its own CA.
type testCert struct {
	cert   tls.Certificate
	caFile string // the certificate in PEM, to use as ca_file
}

// newCert makes a self-signed certificate for names, valid in
// [notBefore, notAfter], and writes it to a PEM file for ca_file.
func newCert(t testing.TB, names []string, notBefore, notAfter time.Time) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCert{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile: caFile}
}

// validCert is a certificate for names valid from an hour ago for d.
func validCert(t testing.TB, d time.Duration, names ...string) testCert {
	now := time.Now()
	return newCert(t, names, now.Add(-time.Hour), now.Add(d))
}

// quietServer silences the server's log of failed handshakes, which some
// tests provoke on purpose.
func quietServer(s *httptest.Server) {
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
}

// newHTTPServer starts a plain HTTP test server.
func newHTTPServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	quietServer(s)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// tlsServer is an HTTPS test server that records the SNI of each handshake.
type tlsServer struct {
	*httptest.Server
	mu  sync.Mutex
	sni []string
}

func (s *tlsServer) serverNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sni...)
}

func newTLSServer(t testing.TB, c testCert, h http.Handler) *tlsServer {
	t.Helper()
	ts := &tlsServer{Server: httptest.NewUnstartedServer(h)}
	quietServer(ts.Server)
	ts.TLS = &tls.Config{
		Certificates: []tls.Certificate{c.cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.sni = append(ts.sni, hello.ServerName)
			return nil, nil
		},
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// addr is the host:port a test server listens on.
func addr(s *httptest.Server) string { return s.Listener.Addr().String() }

// closedPort returns an address on which nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// rawServer accepts connections and hands each to handle in a goroutine of
// its own; the cleanup closes the listener and every connection and waits
// for the goroutines.
func rawServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readRequestHead reads an HTTP request's head from c.
func readRequestHead(c net.Conn) error {
	_, err := http.ReadRequest(bufio.NewReader(c))
	return err
}

// fullBacklog returns the address of a listener whose accept queue is full:
// it listens with a backlog of zero, never accepts, and one connection,
// open until the test ends, fills the queue. Linux drops the SYNs of
// further connections to a listener whose queue is full, so a dial to this
// address hangs in the TCP handshake until its deadline, exactly like a
// dial to a black-holed address, but entirely on loopback. The queue's
// fill is read from the kernel rather than inferred from a dial timing out,
// so a loaded machine cannot fool it.
func fullBacklog(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	a := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	c, err := net.DialTimeout("tcp", a, 10*time.Second)
	if err != nil {
		t.Fatalf("filling the accept queue: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	waitFor(t, "a full accept queue", func() bool {
		length, limit, err := acceptQueue(fd)
		if err != nil {
			t.Fatalf("TCP_INFO: %v", err)
		}
		return length > limit
	})
	return a
}

// acceptQueue returns the length and the limit of a listening socket's
// accept queue, which Linux reports for a listener in tcpi_unacked and
// tcpi_sacked of TCP_INFO.
func acceptQueue(fd int) (length, limit uint32, err error) {
	var info [232]byte // struct tcp_info, larger than needed
	size := uint32(len(info))
	_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.IPPROTO_TCP, syscall.TCP_INFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, 0, errno
	}
	if size < 32 {
		return 0, 0, fmt.Errorf("short tcp_info: %d bytes", size)
	}
	// tcpi_unacked and tcpi_sacked follow eight bytes of u8 fields and
	// four u32 (rto, ato, snd_mss, rcv_mss).
	return binary.NativeEndian.Uint32(info[24:]), binary.NativeEndian.Uint32(info[28:]), nil
}

// dnsServer answers every query on a local UDP socket with answer(query),
// or not at all if it returns nil. It returns a resolver that asks only
// this server.
func dnsServer(t testing.TB, answer func(q []byte) []byte) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := answer(buf[:n]); resp != nil {
				if _, err := pc.WriteTo(resp, from); err != nil {
					return
				}
			}
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialDNS(ctx, "udp", server)
		},
	}
}

// nxdomain turns a DNS query into an NXDOMAIN answer: the query's header
// and question with QR, RA and RCODE 3 set and no other records.
func nxdomain(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	i += 5 // the root label, QTYPE and QCLASS
	if i > len(q) {
		return nil
	}
	resp := append([]byte(nil), q[:i]...)
	resp[2] = 0x80 | q[2]&0x79 // QR, the opcode and RD of the query
	resp[3] = 0x80 | 3         // RA, NXDOMAIN
	clear(resp[6:12])          // no answer, authority or additional records
	return resp
}
