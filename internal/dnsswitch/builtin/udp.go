package builtin

import (
	"errors"
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// maxReadErrors is how many failed reads in a row stop a UDP loop; a single
// one (a signal, a transient lack of buffers) only gets logged.
const maxReadErrors = 10

// serveUDP answers the queries that arrive on conn, one after the other in
// this goroutine, until conn is closed. conn is bound to a specific
// address, so answers leave from the address queries came to.
func (p *Provider) serveUDP(conn *net.UDPConn) error {
	rp := newReply()
	in := make([]byte, dns.DefaultMsgSize)
	errs := 0
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errs++; errs >= maxReadErrors {
				return fmt.Errorf("read: %w", err)
			}
			p.log.Warn("builtin: udp read", "err", err)
			continue
		}
		errs = 0
		if out := p.handlePacket(in[:n], rp); out != nil {
			// A lost answer is the client's to retry, as with any UDP.
			_, _ = conn.WriteToUDPAddrPort(out, from)
		}
	}
}
