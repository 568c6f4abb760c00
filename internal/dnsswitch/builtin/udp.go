package builtin

import (
	"errors"
	"fmt"
	"net"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// maxReadErrors is how many failed reads in a row stop a UDP loop; a single
// one (a transient lack of buffers, say) only gets logged.
const maxReadErrors = 10

// udpBatch is how many packets one system call may read, or write, at
// most (recvmmsg and sendmmsg on Linux; elsewhere one at a time).
const udpBatch = 32

// batchConn is what ipv4.PacketConn and ipv6.PacketConn have in common.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// serveUDP answers the queries that arrive on conn, in this goroutine,
// until conn is closed. It reads the packets that are waiting in one
// system call, answers each, and sends the answers in one system call.
// conn is bound to a specific address, so answers leave from the address
// the queries came to.
func (p *Provider) serveUDP(conn *net.UDPConn) error {
	var bc batchConn = ipv4.NewPacketConn(conn)
	if conn.LocalAddr().(*net.UDPAddr).IP.To4() == nil {
		bc = ipv6.NewPacketConn(conn)
	}
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	replies := make([]*reply, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, dns.DefaultMsgSize)}
		out[i].Buffers = make([][]byte, 1)
		replies[i] = newReply()
	}
	errs := 0
	for {
		n, err := bc.ReadBatch(in, 0)
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
		k := 0
		for i := range n {
			answer := p.handlePacket(in[i].Buffers[0][:in[i].N], replies[i])
			if answer == nil {
				continue
			}
			out[k].Buffers[0] = answer
			out[k].Addr = in[i].Addr
			k++
		}
		p.sendUDP(bc, out[:k])
	}
}

// sendUDP sends the answers, skipping any that the kernel refuses. A lost
// answer is the client's to retry, as with any UDP.
func (p *Provider) sendUDP(bc batchConn, out []ipv4.Message) {
	for len(out) > 0 {
		n, err := bc.WriteBatch(out, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if n < len(out) {
				p.log.Debug("builtin: udp write", "to", out[n].Addr, "err", err)
			}
			n++ // skip the answer that failed
		}
		out = out[min(n, len(out)):]
	}
}
