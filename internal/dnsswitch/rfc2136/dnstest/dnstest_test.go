package dnstest

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestServers: each server serves the configured records, runs as nobody
// when the test runs as root, and is gone after Stop.
func TestServers(t *testing.T) {
	for _, start := range []func(testing.TB, Config) *Server{StartBIND, StartKnot} {
		key := NewKey(t, "k.")
		s := start(t, Config{Keys: []Key{key}, Zones: []Zone{
			{Name: "one.test.", Records: []string{"www 60 IN A 192.0.2.1"}, Grants: []Grant{{Key: key.Name}}},
			{Name: "two.test."},
		}})
		t.Run(s.Kind, func(t *testing.T) {
			if got := s.Serial(t, "two.test."); got != 1 {
				t.Errorf("serial of two.test. = %d, want 1", got)
			}
			if got := aRecords(t, s.Addr, "www.one.test."); got != "192.0.2.1" {
				t.Errorf("www.one.test. A = %q, want 192.0.2.1", got)
			}
			rr, err := dns.NewRR("new.one.test. 60 IN A 192.0.2.9")
			if err != nil {
				t.Fatal(err)
			}
			Update(t, s.Addr, key, "one.test.", rr)
			if got := aRecords(t, s.Addr, "new.one.test."); got != "192.0.2.9" {
				t.Errorf("after the update, new.one.test. A = %q, want 192.0.2.9", got)
			}
			if got := s.Serial(t, "one.test."); got != 2 {
				t.Errorf("serial of one.test. after one update = %d, want 2", got)
			}
			if os.Geteuid() == 0 {
				nobody, err := user.Lookup("nobody")
				if err != nil {
					t.Fatal(err)
				}
				if uids := procUIDs(t, s.PID()); uids != strings.Repeat(nobody.Uid+" ", 4) {
					t.Errorf("%s runs with uids %q, want nobody's (%s)", s.Kind, uids, nobody.Uid)
				}
			}
			s.Stop()
			s.Stop() // idempotent
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", s.PID())); err == nil {
				t.Errorf("process %d still exists after Stop", s.PID())
			}
			if _, err := querySOA(s.Addr, "tcp", "one.test."); err == nil {
				t.Error("the server still answers after Stop")
			}
		})
	}
}

// aRecords returns the A records at name, space-separated.
func aRecords(t *testing.T, addr, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 3 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return strings.Join(out, " ")
}

// procUIDs returns the real, effective, saved and filesystem uids of pid,
// each followed by a space.
func procUIDs(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "Uid:" {
			return strings.Join(f[1:], " ") + " "
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return ""
}

// TestProxy: queries pass uncounted, UPDATEs are counted and relayed, or
// answered with the injected rcode without reaching the upstream.
func TestProxy(t *testing.T) {
	var (
		mu       sync.Mutex
		upstream int // UPDATEs the upstream saw
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{Listener: ln, NotifyStartedFunc: func() { close(started) },
		MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			r := new(dns.Msg)
			r.SetReply(req)
			if req.Opcode == dns.OpcodeUpdate {
				mu.Lock()
				upstream++
				mu.Unlock()
			}
			_ = w.WriteMsg(r)
		})}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	<-started
	defer func() { _ = srv.Shutdown(); <-served }()

	p := NewProxy(t, ln.Addr().String())
	send := func(update bool) int {
		t.Helper()
		m := new(dns.Msg)
		if update {
			m.SetUpdate("one.test.")
		} else {
			m.SetQuestion("one.test.", dns.TypeSOA)
		}
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 3 * time.Second}).Exchange(m, p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		return r.Rcode
	}
	seen := func() int { mu.Lock(); defer mu.Unlock(); return upstream }

	if rc := send(false); rc != dns.RcodeSuccess || p.Updates() != 0 {
		t.Errorf("query: rcode %s, %d updates counted; want NOERROR, 0", dns.RcodeToString[rc], p.Updates())
	}
	if rc := send(true); rc != dns.RcodeSuccess || p.Updates() != 1 || seen() != 1 {
		t.Errorf("update: rcode %s, %d counted, %d relayed; want NOERROR, 1, 1", dns.RcodeToString[rc], p.Updates(), seen())
	}
	p.FailUpdates(dns.RcodeServerFailure)
	if rc := send(true); rc != dns.RcodeServerFailure || p.Updates() != 2 || seen() != 1 {
		t.Errorf("failed update: rcode %s, %d counted, %d relayed; want SERVFAIL, 2, 1", dns.RcodeToString[rc], p.Updates(), seen())
	}
	if rc := send(false); rc != dns.RcodeSuccess {
		t.Errorf("query while updates fail: rcode %s, want NOERROR", dns.RcodeToString[rc])
	}
	p.FailUpdates(dns.RcodeSuccess)
	if rc := send(true); rc != dns.RcodeSuccess || seen() != 2 {
		t.Errorf("update after the fault: rcode %s, %d relayed; want NOERROR, 2", dns.RcodeToString[rc], seen())
	}
	p.Close()
	if c, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		c.Close()
		t.Error("the proxy still accepts connections after Close")
	}
}

// fakeTB records how Binary ends the test.
type fakeTB struct {
	testing.TB
	ended string // "fatal: ..." or "skip: ..."
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.ended = "fatal: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skip(args ...any) {
	f.ended = "skip: " + fmt.Sprint(args...)
	runtime.Goexit()
}

// TestBinaryMissing: a missing server fails the test in CI and skips it
// elsewhere, saying what to install.
func TestBinaryMissing(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		f := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Binary(f, "no-such-dns-daemon", "no-such-package")
		}()
		<-done
		want := "skip: dnstest: no-such-dns-daemon is not installed; install it with: apt-get install -y no-such-package"
		if ci == "true" {
			want = "fatal: dnstest: CI=true and no-such-dns-daemon is not installed"
		}
		if !strings.HasPrefix(f.ended, want) {
			t.Errorf("CI=%q: Binary ended the test with %q, want %q...", ci, f.ended, want)
		}
	}
}
