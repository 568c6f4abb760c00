package builtin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/miekg/dns"
)

// server runs one address: UDP sockets that share the port (see
// Options.UDPSockets) and a TCP listener. A UDP socket bound to a specific
// address is read by a loop of ours; on a wildcard address, and for TCP,
// the miekg/dns server does the work.
type server struct {
	mu      sync.Mutex
	running bool
	servers []*dns.Server  // miekg/dns servers: TCP, and UDP on wildcard addresses
	loops   []*net.UDPConn // UDP sockets read by serveUDP
	bound   string
	// failed receives the error of a server that stopped by itself.
	failed chan error
	// done is closed when every serving goroutine has returned.
	done chan struct{}
}

// bindAttempts bounds the search for a port free for both UDP and TCP when
// the listen address asks for port 0.
const bindAttempts = 16

func (s *server) start(ctx context.Context, listen string, udpSockets int, p *Provider) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("builtin: server already started")
	}
	pcs, ln, err := bind(ctx, listen, udpSockets)
	if err != nil {
		return err
	}
	s.running = true
	s.bound = pcs[0].LocalAddr().String()
	s.servers, s.loops = nil, nil
	s.failed = make(chan error, len(pcs)+1)
	s.done = make(chan struct{})

	started := make(chan struct{}, len(pcs)+1)
	notify := func() { started <- struct{}{} }
	for _, pc := range pcs {
		conn := pc.(*net.UDPConn)
		if conn.LocalAddr().(*net.UDPAddr).IP.IsUnspecified() {
			s.servers = append(s.servers, &dns.Server{
				PacketConn:        pc,
				Handler:           p,
				UDPSize:           dns.DefaultMsgSize,
				MsgAcceptFunc:     acceptMsg,
				NotifyStartedFunc: notify,
			})
			continue
		}
		s.loops = append(s.loops, conn)
	}
	s.servers = append(s.servers, &dns.Server{
		Listener:          ln,
		Handler:           p,
		MsgAcceptFunc:     acceptMsg,
		NotifyStartedFunc: notify,
	})
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		proto := "udp"
		if srv.Listener != nil {
			proto = "tcp"
		}
		wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.failed <- fmt.Errorf("builtin: serve %s: %w", proto, err)
			}
		})
	}
	for _, conn := range s.loops {
		wg.Go(func() {
			if err := p.serveUDP(conn); err != nil {
				s.failed <- fmt.Errorf("builtin: serve udp: %w", err)
			}
		})
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
	// The loops serve as soon as they run; the miekg/dns servers must
	// have started before Shutdown can stop them.
	for range s.servers {
		select {
		case <-started:
		case err := <-s.failed:
			s.mu.Unlock()
			_ = s.shutdown(context.WithoutCancel(ctx)) // the serve error is the one to report
			s.mu.Lock()
			return err
		}
	}
	return nil
}

// bind opens n UDP sockets and a TCP listener on the same address. With
// port 0 it picks the UDP port first and retries when that port is taken
// for TCP.
func bind(ctx context.Context, listen string, n int) ([]net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("builtin: listen %q: %w", listen, err)
	}
	var udp net.ListenConfig
	if n > 1 {
		udp.Control = reusePort
	}
	var tcp net.ListenConfig
	for attempt := 1; ; attempt++ {
		first, err := udp.ListenPacket(ctx, "udp", listen)
		if err != nil {
			return nil, nil, fmt.Errorf("builtin: listen udp %s: %w", listen, err)
		}
		pcs := []net.PacketConn{first}
		closeAll := func() {
			for _, pc := range pcs {
				_ = pc.Close() // the bind error is the one to report
			}
		}
		addr := net.JoinHostPort(host, strconv.Itoa(first.LocalAddr().(*net.UDPAddr).Port))
		ln, err := tcp.Listen(ctx, "tcp", addr)
		if err != nil {
			closeAll()
			if port != "0" || attempt == bindAttempts {
				return nil, nil, fmt.Errorf("builtin: listen tcp %s: %w", addr, err)
			}
			continue
		}
		for len(pcs) < n {
			pc, err := udp.ListenPacket(ctx, "udp", addr)
			if err != nil {
				closeAll()
				_ = ln.Close()
				return nil, nil, fmt.Errorf("builtin: listen udp %s (socket %d of %d): %w", addr, len(pcs)+1, n, err)
			}
			pcs = append(pcs, pc)
		}
		return pcs, ln, nil
	}
}

func (s *server) addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

// shutdown stops every server and waits for their goroutines. It is a
// no-op when the server is not running.
func (s *server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	running, servers, loops, done := s.running, s.servers, s.loops, s.done
	s.running, s.servers, s.loops, s.bound = false, nil, nil, ""
	s.mu.Unlock()
	if !running {
		return nil
	}
	var errs []error
	for _, conn := range loops {
		_ = conn.Close() // ends serveUDP; there is nothing to flush
	}
	for _, srv := range servers {
		// "server not started" means it stopped by itself; its error
		// went to failed.
		if err := srv.ShutdownContext(ctx); err != nil && !isNotStarted(err) {
			errs = append(errs, err)
		}
		// A server that failed to start still holds its socket; closing
		// twice only reports "use of closed".
		if srv.PacketConn != nil {
			_ = srv.PacketConn.Close()
		} else {
			_ = srv.Listener.Close()
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("builtin: shutdown: %w", err)
	}
	return nil
}

func isNotStarted(err error) bool {
	return err != nil && err.Error() == "dns: server not started"
}
