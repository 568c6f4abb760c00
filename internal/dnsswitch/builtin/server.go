package builtin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/miekg/dns"
)

// server runs the miekg/dns servers for UDP and TCP on one address.
type server struct {
	mu    sync.Mutex
	udp   *dns.Server
	tcp   *dns.Server
	bound string
	// failed receives the error of a server that stopped by itself.
	failed chan error
	// done is closed when both serving goroutines have returned.
	done chan struct{}
}

// bindAttempts bounds the search for a port free for both UDP and TCP when
// the listen address asks for port 0.
const bindAttempts = 16

func (s *server) start(ctx context.Context, listen string, h dns.Handler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		return errors.New("builtin: server already started")
	}
	pc, ln, err := bind(ctx, listen)
	if err != nil {
		return err
	}
	s.bound = pc.LocalAddr().String()
	s.failed = make(chan error, 2)
	s.done = make(chan struct{})

	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{
		PacketConn:        pc,
		Handler:           h,
		UDPSize:           dns.DefaultMsgSize,
		MsgAcceptFunc:     acceptMsg,
		NotifyStartedFunc: notify,
	}
	s.tcp = &dns.Server{
		Listener:          ln,
		Handler:           h,
		MsgAcceptFunc:     acceptMsg,
		NotifyStartedFunc: notify,
	}
	var wg sync.WaitGroup
	for proto, srv := range map[string]*dns.Server{"udp": s.udp, "tcp": s.tcp} {
		wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.failed <- fmt.Errorf("builtin: serve %s: %w", proto, err)
			}
		})
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
	for range 2 {
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

// bind opens UDP and TCP sockets on the same address. With port 0 it picks
// the UDP port first and retries when that port is taken for TCP.
func bind(ctx context.Context, listen string) (net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("builtin: listen %q: %w", listen, err)
	}
	var lc net.ListenConfig
	for attempt := 1; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", listen)
		if err != nil {
			return nil, nil, fmt.Errorf("builtin: listen udp %s: %w", listen, err)
		}
		ln, err := lc.Listen(ctx, "tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close() // the TCP error is the one to report
		if port != "0" || attempt == bindAttempts {
			return nil, nil, fmt.Errorf("builtin: listen tcp %s: %w", pc.LocalAddr(), err)
		}
	}
}

func (s *server) addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

// shutdown stops both servers and waits for their goroutines. It is a no-op
// when the server is not running.
func (s *server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	udp, tcp, done := s.udp, s.tcp, s.done
	s.udp, s.tcp, s.bound = nil, nil, ""
	s.mu.Unlock()
	if udp == nil {
		return nil
	}
	var errs []error
	for _, srv := range []*dns.Server{udp, tcp} {
		// "server not started" means it already stopped by itself; its
		// error went to failed.
		if err := srv.ShutdownContext(ctx); err != nil && !isNotStarted(err) {
			errs = append(errs, err)
		}
	}
	// A server that failed to start still holds its socket.
	_ = udp.PacketConn.Close() // closing twice only reports "use of closed"
	_ = tcp.Listener.Close()
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
