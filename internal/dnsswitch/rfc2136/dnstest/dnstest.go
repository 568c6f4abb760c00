// Package dnstest starts real authoritative DNS servers (BIND 9 and Knot)
// for tests and benchmarks: each in its own temporary directory, on a free
// high port of 127.0.0.1, as an unprivileged user, with the zones and TSIG
// keys the caller asks for. It also has a TCP proxy that counts UPDATE
// messages and can make them fail.
//
// A missing server binary fails the test when the environment has CI=true
// (a missing tool in CI is a failure) and skips it otherwise, naming the
// Debian package to install.
package dnstest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Key is a TSIG key.
type Key struct {
	Name      string // fully qualified, e.g. "failover-key."
	Algorithm string // e.g. "hmac-sha256"
	Secret    string // base64
}

// NewKey returns an hmac-sha256 key with a fresh random 256-bit secret.
func NewKey(tb testing.TB, name string) Key {
	tb.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("dnstest: random secret: %v", err)
	}
	return Key{Name: dns.Fqdn(name), Algorithm: "hmac-sha256", Secret: base64.StdEncoding.EncodeToString(b)}
}

// Zone is one zone the server is primary for. It always gets an SOA (serial
// 1) and an NS record ns1.<zone> with address 127.0.0.1.
type Zone struct {
	Name string // fully qualified, e.g. "example.test."
	// Records are extra zone-file lines, e.g. "www 60 IN A 192.0.2.1".
	Records []string
	// Grants say which keys may update the zone with RFC 2136. With none,
	// the zone takes no updates.
	Grants []Grant
}

// Grant lets a key update a zone.
type Grant struct {
	Key string // the key's name
	// Types limits the record types the key may update, e.g. ["TXT"];
	// empty means any type.
	Types []string
}

// Config is what a server serves.
type Config struct {
	Zones []Zone
	// Keys are the TSIG keys the server knows.
	Keys []Key
	// Workers is the number of server threads; 0 means 1.
	Workers int
}

func (c Config) workers() int {
	if c.Workers <= 0 {
		return 1
	}
	return c.Workers
}

// Server is a running DNS server process.
type Server struct {
	Kind string // "bind" or "knot"
	Addr string // 127.0.0.1:port, UDP and TCP
	Dir  string // its working directory

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	logs     *syncBuffer
	stopOnce sync.Once
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Logs returns what the server wrote to stdout and stderr so far.
func (s *Server) Logs() string { return s.logs.String() }

// Stop kills the server and waits for it to exit. It is safe to call more
// than once; the test's cleanup calls it too.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill() // it may exit by itself meanwhile
			<-s.exited
		}
	})
}

// Serial returns the SOA serial of zone, queried from the server over TCP.
func (s *Server) Serial(tb testing.TB, zone string) uint32 {
	tb.Helper()
	soa, err := querySOA(s.Addr, "tcp", zone)
	if err != nil {
		tb.Fatalf("dnstest: %s: %v", s.Kind, err)
	}
	return soa.Serial
}

// Binary returns the path of a server binary. When it is missing, it fails
// the test if CI=true and skips it otherwise, with the install command.
func Binary(tb testing.TB, name, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		// Debian installs the daemons in sbin, which a non-root PATH lacks.
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
				path = p
				break
			}
		}
	}
	if path == "" {
		msg := fmt.Sprintf("%s is not installed; install it with: apt-get install -y %s (or: make deps)", name, pkg)
		if os.Getenv("CI") == "true" {
			tb.Fatalf("dnstest: CI=true and %s", msg)
		}
		tb.Skip("dnstest: " + msg)
	}
	return path
}

// FreePort returns a port on 127.0.0.1 that was free for both TCP and UDP a
// moment ago. A server started on it may still lose a race for it; the
// Start functions retry on another port when that happens.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("dnstest: free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", l.Addr().String())
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	tb.Fatal("dnstest: no port free for both TCP and UDP")
	return 0
}

// daemon describes how to run one kind of server.
type daemon struct {
	kind, binary, pkg string
	// write writes the configuration into dir and returns the arguments.
	write func(dir string, port int, cfg Config, runAs *account) ([]string, error)
}

// account is the unprivileged user the server runs as when the test runs as
// root.
type account struct {
	uid, gid uint32
	user     string
	group    string
}

// unprivileged returns nobody's account when running as root, else nil (the
// server runs as the current, already unprivileged user).
func unprivileged(tb testing.TB) *account {
	tb.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		tb.Fatalf("dnstest: running as root, and there is no user nobody to run the server as: %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	a := &account{uid: uint32(uid), gid: uint32(gid), user: u.Username, group: u.Gid}
	if g, err := user.LookupGroupId(u.Gid); err == nil {
		a.group = g.Name
	}
	return a
}

// readyTimeout bounds the wait for a started server to answer SOA queries.
const readyTimeout = 20 * time.Second

// start runs d with cfg in a fresh directory under tb.TempDir and waits until
// it answers an SOA query for every zone. It retries on a new port when the
// server could not bind its port.
func start(tb testing.TB, d daemon, cfg Config) *Server {
	tb.Helper()
	bin := Binary(tb, d.binary, d.pkg)
	if len(cfg.Zones) == 0 {
		tb.Fatal("dnstest: Config has no zones")
	}
	runAs := unprivileged(tb)
	var last *Server
	for attempt := 1; attempt <= 3; attempt++ {
		dir := serverDir(tb, runAs)
		port := FreePort(tb)
		args, err := d.write(dir, port, cfg, runAs)
		if err != nil {
			tb.Fatalf("dnstest: %s config: %v", d.kind, err)
		}
		if runAs != nil {
			if err := chownTree(dir, runAs); err != nil {
				tb.Fatalf("dnstest: %v", err)
			}
		}
		s := &Server{
			Kind:   d.kind,
			Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Dir:    dir,
			exited: make(chan struct{}),
			logs:   &syncBuffer{},
		}
		s.cmd = exec.Command(bin, args...)
		s.cmd.Dir = dir
		s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
		if runAs != nil {
			s.cmd.SysProcAttr = &syscall.SysProcAttr{
				Credential: &syscall.Credential{Uid: runAs.uid, Gid: runAs.gid, Groups: []uint32{}},
			}
		}
		if err := s.cmd.Start(); err != nil {
			tb.Fatalf("dnstest: start %s: %v", bin, err)
		}
		go func() {
			s.waitErr = s.cmd.Wait()
			close(s.exited)
		}()
		tb.Cleanup(func() {
			s.Stop()
			if tb.Failed() {
				tb.Logf("dnstest: %s on %s logged:\n%s", s.Kind, s.Addr, s.Logs())
			}
		})
		err = s.waitReady(cfg)
		if err == nil {
			return s
		}
		s.Stop()
		last = s
		if !portClash(s.Logs()) {
			tb.Fatalf("dnstest: %s on %s did not start: %v\n%s", d.kind, s.Addr, err, s.Logs())
		}
	}
	tb.Fatalf("dnstest: %s could not bind a port in 3 attempts:\n%s", d.kind, last.Logs())
	return nil
}

func portClash(logs string) bool {
	return bytes.Contains([]byte(logs), []byte("address in use")) ||
		bytes.Contains([]byte(logs), []byte("Address already in use"))
}

// serverDir makes a fresh directory that the unprivileged user can reach.
func serverDir(tb testing.TB, runAs *account) string {
	tb.Helper()
	dir := tb.TempDir()
	if runAs != nil {
		// testing creates the parent of TempDir with mode 0700; the
		// server's user must be able to pass through it.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			tb.Fatalf("dnstest: %v", err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			tb.Fatalf("dnstest: %v", err)
		}
	}
	return dir
}

func chownTree(dir string, a *account) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(a.uid), int(a.gid))
	})
}

// waitReady polls the server with SOA queries for every zone, over UDP and
// TCP, until it answers them all, it exits, or readyTimeout passes.
func (s *Server) waitReady(cfg Config) error {
	deadline := time.Now().Add(readyTimeout)
	backoff := 5 * time.Millisecond
	for {
		err := s.answersSOA(cfg)
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("it exited: %v", s.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no SOA answer within %v: %v", readyTimeout, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-s.exited:
			t.Stop()
			return fmt.Errorf("it exited: %v", s.waitErr)
		case <-t.C:
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func (s *Server) answersSOA(cfg Config) error {
	for _, z := range cfg.Zones {
		for _, network := range []string{"udp", "tcp"} {
			if _, err := querySOA(s.Addr, network, z.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func querySOA(addr, network, zone string) (*dns.SOA, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
	m.RecursionDesired = false
	c := &dns.Client{Net: network, Timeout: time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, fmt.Errorf("SOA %s over %s: %w", zone, network, err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		return nil, fmt.Errorf("SOA %s over %s: %s (authoritative: %v)", zone, network, dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa, nil
		}
	}
	return nil, fmt.Errorf("SOA %s over %s: no SOA in the answer", zone, network)
}

// zoneFile is the text of a zone file for z.
func zoneFile(z Zone) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n", dns.Fqdn(z.Name))
	fmt.Fprintf(&b, "@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n")
	fmt.Fprintf(&b, "@ IN NS ns1\nns1 IN A 127.0.0.1\n")
	for _, r := range z.Records {
		fmt.Fprintln(&b, r)
	}
	return b.Bytes()
}

// zoneFileName is the file name of z's zone file in the server's directory.
func zoneFileName(z Zone) string {
	return dns.Fqdn(z.Name) + "zone"
}

// Update sends one signed UPDATE to addr that inserts rrs into zone, and
// fails the test unless the server accepts it. Tests use it to change records
// behind a provider's back.
func Update(tb testing.TB, addr string, key Key, zone string, rrs ...dns.RR) {
	tb.Helper()
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Insert(rrs)
	m.SetTsig(key.Name, dns.Fqdn(key.Algorithm), 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{key.Name: key.Secret}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		tb.Fatalf("dnstest: update %s: %v", zone, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		tb.Fatalf("dnstest: update %s: %s", zone, dns.RcodeToString[r.Rcode])
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// process's stdout and stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
