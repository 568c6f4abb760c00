package builtin

import (
	"encoding/binary"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// The query path. On a UDP socket bound to a specific address, serveUDP
// reads each packet and answers it inline (handlePacket): no goroutine and
// no allocation per query beyond unpacking it. TCP, and UDP on a wildcard
// address (whose answers must leave from the address the query came to),
// go through the miekg/dns server and ServeDNS. Both build the answer with
// respond, from the current snapshot, into a reusable message and buffer.
// The answer RRs are shared, read-only, with the snapshot; only the OPT
// record, which packing modifies, belongs to the reply.

const flagQR = 1 << 15

// acceptMsg is the first look at a packet's header. Responses are dropped
// (answering them invites loops and reflection); everything else is
// unpacked and goes to respond, which decides FORMERR, NOTIMP and REFUSED
// itself. A packet that does not unpack gets FORMERR.
func acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&flagQR != 0 {
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}

// reply is the working space of one answer, reused from query to query.
type reply struct {
	req   dns.Msg
	m     dns.Msg
	opt   dns.OPT
	extra [1]dns.RR
	buf   []byte
}

func newReply() *reply { return &reply{buf: make([]byte, 0, 1024)} }

var replyPool = sync.Pool{New: func() any { return newReply() }}

// ServeDNS answers one query that the miekg/dns server has unpacked.
func (p *Provider) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	rp := replyPool.Get().(*reply)
	defer replyPool.Put(rp)
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if out := p.respond(req, rp, tcp); out != nil {
		// A failed write is the client's loss (it retries); there is
		// nobody to return it to, and logging every lost UDP answer
		// would flood.
		_, _ = w.Write(out)
	}
}

// handlePacket answers one UDP packet, or returns nil when it gets no
// answer (too short to have a header, or a response). The answer is in
// rp's buffer, valid until rp is used again.
func (p *Provider) handlePacket(pkt []byte, rp *reply) []byte {
	if len(pkt) < 12 {
		return nil
	}
	bits := binary.BigEndian.Uint16(pkt[2:])
	if bits&flagQR != 0 {
		return nil
	}
	if err := rp.req.Unpack(pkt); err != nil {
		// FORMERR, with the header only: id, opcode and RD echoed.
		const opcodeRD = 0x7900
		out := append(rp.buf[:0], pkt[0], pkt[1], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint16(out[2:], flagQR|bits&opcodeRD|dns.RcodeFormatError)
		return out
	}
	out := p.respond(&rp.req, rp, false)
	rp.req.Question, rp.req.Answer, rp.req.Ns, rp.req.Extra = nil, nil, nil, nil
	return out
}

// respond builds the answer to req and returns it packed, in rp's buffer.
func (p *Provider) respond(req *dns.Msg, rp *reply, tcp bool) []byte {
	size := p.answer(req, rp, tcp)
	m := &rp.m
	defer func() { m.Question, m.Answer, m.Ns, m.Extra = nil, nil, nil, nil }()
	m.Truncate(size)
	// PackBuffer packs in place when len(buf) is enough, else allocates.
	out, err := m.PackBuffer(rp.buf[:cap(rp.buf)])
	if err != nil {
		// Nothing that the snapshot holds fails to pack, and the
		// question unpacked; this is a bug, but the client still gets
		// an answer.
		p.log.Warn("builtin: pack answer", "name", qname(req), "err", err)
		m.Question, m.Answer, m.Ns, m.Extra = nil, nil, nil, nil
		m.Rcode = dns.RcodeServerFailure
		if out, err = m.PackBuffer(rp.buf[:cap(rp.buf)]); err != nil {
			return nil
		}
	}
	if cap(out) > cap(rp.buf) && cap(out) <= 64<<10 {
		rp.buf = out[:0] // keep the larger buffer a large answer made
	}
	return out
}

// answer fills rp.m with the answer to req and returns the largest size the
// answer may have on its transport.
func (p *Provider) answer(req *dns.Msg, rp *reply, tcp bool) int {
	m := &rp.m
	*m = dns.Msg{}
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	if len(req.Question) == 1 {
		m.Question = req.Question
	}

	size := dns.MinMsgSize
	if tcp {
		size = dns.MaxMsgSize
	}

	// EDNS0 (RFC 6891): at most one OPT, owned by the root; the answer
	// carries one too, with our size and the client's DO bit.
	var ropt *dns.OPT
	nopt := 0
	for _, rr := range req.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			ropt = o
			nopt++
		}
	}
	if ropt != nil {
		rp.opt = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		rp.opt.SetUDPSize(uint16(p.opts.MaxUDPSize))
		if ropt.Do() {
			rp.opt.SetDo()
		}
		rp.extra[0] = &rp.opt
		m.Extra = rp.extra[:]
		if !tcp {
			size = max(dns.MinMsgSize, min(int(ropt.UDPSize()), p.opts.MaxUDPSize))
		}
	}

	switch {
	case nopt > 1 || (ropt != nil && ropt.Hdr.Name != "."):
		m.Rcode = dns.RcodeFormatError
		return size
	case ropt != nil && ropt.Version() != 0:
		m.Rcode = dns.RcodeBadVers
		return size
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return size
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return size
	case req.IsTsig() != nil:
		// We hold no keys, so we cannot verify nor sign (RFC 8945).
		m.Rcode = dns.RcodeNotAuth
		return size
	}

	q := req.Question[0]
	switch q.Qtype {
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY:
		m.Rcode = dns.RcodeFormatError // meta types are not questions
		return size
	case dns.TypeMAILA, dns.TypeMAILB:
		m.Rcode = dns.RcodeNotImplemented
		return size
	}
	if q.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeRefused // we serve class IN only
		return size
	}

	var lower [256]byte
	name, ok := lowerName(lower[:0], q.Name)
	if !ok {
		// Longer than any name of ours can be, but it may be an
		// escaped name in the zone (NXDOMAIN), so look: slowly.
		name = []byte(strings.ToLower(q.Name))
	}
	snap := p.snap.Load()
	if !snap.inZone(name, q.Name) {
		m.Rcode = dns.RcodeRefused
		return size
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		m.Rcode = dns.RcodeRefused // no zone transfers
		return size
	}
	m.Authoritative = true
	n := snap.names[string(name)]
	if n == nil {
		m.Rcode = dns.RcodeNameError
		m.Ns = snap.negative
		return size
	}
	m.Answer = n.lookup(q.Qtype, p.rand)
	if m.Answer == nil {
		m.Ns = snap.negative // NODATA
	}
	return size
}

// inZone reports whether the lower-cased query name lies in the zone; raw
// is the name as it came, used for names with escapes.
func (s *snapshot) inZone(lower []byte, raw string) bool {
	if strings.IndexByte(raw, '\\') >= 0 {
		// An escaped dot is not a label boundary; let miekg/dns count.
		return dns.IsSubDomain(s.zone, raw)
	}
	return inZoneBytes(lower, s.zone)
}

// inZoneBytes is inZone for a name in a byte slice, without allocating.
func inZoneBytes(name []byte, zone string) bool {
	if zone == "." || string(name) == zone {
		return true
	}
	n, z := len(name), len(zone)
	return n > z && string(name[n-z:]) == zone && name[n-z-1] == '.'
}

// lowerName appends name in lower case to buf, without allocating. It
// returns false when the name does not fit in buf.
func lowerName(buf []byte, name string) ([]byte, bool) {
	if len(name) > cap(buf) {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf, true
}

func qname(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return ""
	}
	return m.Question[0].Name
}
