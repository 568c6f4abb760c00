package dnstest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Proxy relays DNS over TCP between clients and an upstream server. It
// counts the UPDATE messages that pass, and it can answer them with an error
// instead of relaying them, to inject failures. Queries always pass. It
// speaks TCP only.
type Proxy struct {
	Addr string // 127.0.0.1:port to point a client at

	upstream string
	ln       net.Listener
	wg       sync.WaitGroup

	mu          sync.Mutex
	updates     int
	failRcode   int
	conns       map[net.Conn]struct{}
	closed      bool
	closeOnce   sync.Once
	dialTimeout time.Duration
}

// NewProxy starts a proxy to upstream (host:port) and closes it when the
// test ends.
func NewProxy(tb testing.TB, upstream string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("dnstest: proxy: %v", err)
	}
	p := &Proxy{
		Addr:        ln.Addr().String(),
		upstream:    upstream,
		ln:          ln,
		conns:       map[net.Conn]struct{}{},
		dialTimeout: 5 * time.Second,
	}
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(p.Close)
	return p
}

// Updates returns how many UPDATE messages clients sent through the proxy,
// relayed or failed.
func (p *Proxy) Updates() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.updates
}

// FailUpdates makes the proxy answer every later UPDATE itself with rcode
// (e.g. dns.RcodeServerFailure) instead of relaying it. dns.RcodeSuccess
// turns relaying back on.
func (p *Proxy) FailUpdates(rcode int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failRcode = rcode
}

// Close stops the proxy, drops its connections and waits for its
// goroutines.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		p.ln.Close()
		p.mu.Lock()
		p.closed = true
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

// track registers c so that Close can drop it; false once closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

// relay serves one client connection: one message at a time, each answered
// before the next is read, as DNS clients over TCP mostly do.
func (p *Proxy) relay(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	var up net.Conn
	defer func() {
		if up != nil {
			p.untrack(up)
		}
	}()
	for {
		msg, err := readMsg(c)
		if err != nil {
			return
		}
		if fail := p.note(msg); fail != dns.RcodeSuccess {
			reply, err := errorReply(msg, fail)
			if err != nil || writeMsg(c, reply) != nil {
				return
			}
			continue
		}
		if up == nil {
			if up, err = net.DialTimeout("tcp", p.upstream, p.dialTimeout); err != nil {
				return
			}
			if !p.track(up) {
				up.Close()
				up = nil
				return
			}
		}
		if writeMsg(up, msg) != nil {
			return
		}
		answer, err := readMsg(up)
		if err != nil || writeMsg(c, answer) != nil {
			return
		}
	}
}

// note counts msg and returns the rcode to fail it with, or RcodeSuccess
// to relay it.
func (p *Proxy) note(msg []byte) int {
	if len(msg) < 12 || int(msg[2]>>3&0xF) != dns.OpcodeUpdate {
		return dns.RcodeSuccess
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.updates++
	return p.failRcode
}

// errorReply is an unsigned answer to req with rcode.
func errorReply(req []byte, rcode int) ([]byte, error) {
	m := new(dns.Msg)
	if err := m.Unpack(req); err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	r.SetRcode(m, rcode)
	return r.Pack()
}

func readMsg(r io.Reader) ([]byte, error) {
	var n uint16
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("empty message")
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func writeMsg(w io.Writer, msg []byte) error {
	b := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(b, uint16(len(msg)))
	copy(b[2:], msg)
	_, err := w.Write(b)
	return err
}
