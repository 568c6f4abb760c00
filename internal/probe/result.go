// Package probe checks targets the way an SRE needs them checked: HTTP(S) and
// TCP probers that return structured, classified results with phase timings,
// and a scheduler that spreads probes evenly over the interval.
package probe

import "time"

// Class is the failure class of a probe result (CONTRACT §4).
type Class string

// The failure classes. ClassOK is the only success.
const (
	ClassOK             Class = "ok"
	ClassDNS            Class = "dns"
	ClassRefused        Class = "refused"
	ClassConnectTimeout Class = "connect_timeout"
	ClassTLS            Class = "tls"
	ClassTimeout        Class = "timeout"
	ClassReset          Class = "reset"
	ClassHTTPStatus     Class = "http_status"
	ClassBodyMismatch   Class = "body_mismatch"
	ClassSlow           Class = "slow"
	ClassCertExpiring   Class = "cert_expiring"
	ClassOther          Class = "other"
)

// Classes lists every class, ok first.
var Classes = []Class{
	ClassOK, ClassDNS, ClassRefused, ClassConnectTimeout, ClassTLS, ClassTimeout,
	ClassReset, ClassHTTPStatus, ClassBodyMismatch, ClassSlow, ClassCertExpiring, ClassOther,
}

// Valid reports whether c is one of the known classes.
func (c Class) Valid() bool {
	for _, k := range Classes {
		if c == k {
			return true
		}
	}
	return false
}

// Phases are the timings of one probe's phases, in milliseconds. They do
// not overlap: dns is the name lookup (0 when an IP is dialled), connect
// the TCP handshake, tls the TLS handshake (0 over plain HTTP), and ttfb the
// wait from the request written to the first byte of the response. A phase
// that did not complete is 0.
type Phases struct {
	DNSMs     float64 `json:"dns_ms"`
	ConnectMs float64 `json:"connect_ms"`
	TLSMs     float64 `json:"tls_ms"`
	TTFBMs    float64 `json:"ttfb_ms"`
}

// Result is the outcome of one probe of one target (CONTRACT §4). Agents send
// these to the controller; the controller's own prober produces them too.
type Result struct {
	Service   string    `json:"service"`
	Target    string    `json:"target"`
	Time      time.Time `json:"time"` // when the probe started
	OK        bool      `json:"ok"`
	Class     Class     `json:"class"`
	Status    int       `json:"status"`     // 0 when no HTTP answer came
	LatencyMs float64   `json:"latency_ms"` // total
	Phases    Phases    `json:"phases"`
	Error     string    `json:"error"`
}
