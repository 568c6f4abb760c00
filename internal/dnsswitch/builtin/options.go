package builtin

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Options configures a builtin provider and its server.
type Options struct {
	// Name is the provider's name in the config; "builtin" when empty.
	Name string
	// Listen is the address for both UDP and TCP, e.g. "127.0.0.1:8053".
	// With port 0 one free port is picked for both; Addr reports it.
	Listen string
	// Zone is the zone served, e.g. "lab.test.". Every service record must
	// lie in it; queries for names outside it are REFUSED.
	Zone string
	// NS are the zone's name servers, served at the apex. The first one is
	// the SOA's primary name server.
	NS []string
	// Mbox is the SOA's responsible mailbox; "hostmaster.<zone>" when
	// empty.
	Mbox string
	// StateFile, when set, is where the published records are kept:
	// written atomically on every change and loaded by New, so that a
	// restarted server serves, and Read returns, what was published before.
	StateFile string
	// Logger receives one line per published change; nothing is logged
	// when it is nil.
	Logger *slog.Logger
	// Rand, when set, is the random source for weighted answers (for
	// reproducible tests; it is used under a lock). When nil, a fast
	// per-thread source is used.
	Rand rand.Source

	// SOA timers. Zero means the default in parentheses.
	Refresh time.Duration // (1h)
	Retry   time.Duration // (10m)
	Expire  time.Duration // (1 week)
	// NegativeTTL is the SOA minimum, the TTL of negative answers (1m).
	NegativeTTL time.Duration
	// MaxUDPSize caps the size of UDP answers to EDNS0 clients; larger
	// answers are truncated (TC) and the client retries over TCP (1232,
	// the DNS flag day 2020 value; 512..65535).
	MaxUDPSize int
	// UDPSockets is how many UDP sockets share the port (SO_REUSEPORT),
	// each read by its own goroutine, so that queries are received on
	// every core. Zero means GOMAXPROCS where the platform has
	// SO_REUSEPORT, else 1.
	UDPSockets int
}

// Defaults.
const (
	DefaultName        = "builtin"
	DefaultListen      = "127.0.0.1:8053"
	DefaultRefresh     = time.Hour
	DefaultRetry       = 10 * time.Minute
	DefaultExpire      = 7 * 24 * time.Hour
	DefaultNegativeTTL = time.Minute
	DefaultMaxUDPSize  = 1232

	// apexTTL is the TTL of the SOA and NS records.
	apexTTL = 3600
)

// normalize returns o with defaults filled in and names canonical
// (lower-case, fully qualified), or an error naming the bad field.
func (o Options) normalize() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Zone == "" {
		return o, errors.New("builtin: zone: required")
	}
	zone, err := canonicalName(o.Zone)
	if err != nil {
		return o, fmt.Errorf("builtin: zone: %w", err)
	}
	o.Zone = zone
	if len(o.NS) == 0 {
		return o, errors.New("builtin: ns: at least one name server is required")
	}
	ns := make([]string, len(o.NS))
	for i, n := range o.NS {
		if ns[i], err = canonicalName(n); err != nil {
			return o, fmt.Errorf("builtin: ns[%d]: %w", i, err)
		}
	}
	o.NS = ns
	if o.Mbox == "" {
		o.Mbox = "hostmaster." + zone
		if zone == "." {
			o.Mbox = "hostmaster."
		}
	}
	if o.Mbox, err = canonicalName(o.Mbox); err != nil {
		return o, fmt.Errorf("builtin: mbox: %w", err)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"refresh", &o.Refresh, DefaultRefresh},
		{"retry", &o.Retry, DefaultRetry},
		{"expire", &o.Expire, DefaultExpire},
		{"negative_ttl", &o.NegativeTTL, DefaultNegativeTTL},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < time.Second || *d.v > maxTTL*time.Second {
			return o, fmt.Errorf("builtin: %s: %v is out of range [1s, %v]", d.name, *d.v, maxTTL*time.Second)
		}
	}
	if o.MaxUDPSize == 0 {
		o.MaxUDPSize = DefaultMaxUDPSize
	}
	if o.MaxUDPSize < dns.MinMsgSize || o.MaxUDPSize > dns.MaxMsgSize {
		return o, fmt.Errorf("builtin: max_udp_size: %d is out of range [%d, %d]", o.MaxUDPSize, dns.MinMsgSize, dns.MaxMsgSize)
	}
	if o.UDPSockets == 0 {
		o.UDPSockets = 1
		if haveReusePort {
			o.UDPSockets = runtime.GOMAXPROCS(0)
		}
	}
	maxSockets := 1
	if haveReusePort {
		maxSockets = 256
	}
	if o.UDPSockets < 1 || o.UDPSockets > maxSockets {
		return o, fmt.Errorf("builtin: udp_sockets: %d is out of range [1, %d]", o.UDPSockets, maxSockets)
	}
	return o, nil
}

// maxTTL is the largest TTL a record may carry (RFC 2181 section 8).
const maxTTL = 1<<31 - 1

// canonicalName returns name lower-case and fully qualified, or an error if
// it is not a valid domain name.
func canonicalName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.ContainsAny(name, "\\ ") {
		return "", fmt.Errorf("%q: escapes and spaces are not supported", name)
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("%q is not a valid domain name", name)
	}
	if strings.Contains(strings.TrimSuffix(name, "."), "..") || (name != "." && strings.HasPrefix(name, ".")) {
		return "", fmt.Errorf("%q has an empty label", name)
	}
	return dns.Fqdn(strings.ToLower(name)), nil
}

// inZone reports whether the canonical name lies in the canonical zone.
func inZone(name, zone string) bool {
	if zone == "." || name == zone {
		return true
	}
	return len(name) > len(zone) && strings.HasSuffix(name, zone) && name[len(name)-len(zone)-1] == '.'
}
