// Package builtin is the embedded default DNS backend: an authoritative DNS
// server for one zone, on UDP and TCP (github.com/miekg/dns), and a
// dnsswitch.Provider whose Apply changes what that server answers.
//
// The server answers from an immutable snapshot behind an atomic pointer.
// Apply builds the next snapshot beside it (every answer RR made ahead of
// time), writes the state file if there is one, and swaps the pointer: a
// query sees the routing before the change or after it, never a mix. Reads
// of the routing come from the same snapshot, so what Read returns is what
// the server answers.
//
// For each service record the server picks a target per query, at random in
// proportion to its weight; a target of weight 0 is never answered. It
// serves SOA and NS at the apex, NXDOMAIN and NODATA with the SOA for
// negative caching, REFUSED outside its zone, EDNS0, and truncation with TCP
// fallback.
//
// For speed, several UDP sockets share the port (SO_REUSEPORT), each read
// by one goroutine that answers inline, with no allocation per query beyond
// unpacking it; TCP goes through the miekg/dns server.
package builtin

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// Provider is the builtin backend: the zone's server and its dnsswitch
// Provider in one.
type Provider struct {
	opts Options
	log  *slog.Logger
	rand func() uint64

	snap   atomic.Pointer[snapshot]
	writes atomic.Int64 // published changes, for tests and metrics

	mu sync.Mutex // serializes Apply; guards writeState
	// writeState persists the state file; tests replace it to inject
	// failures.
	writeState func(path string, data []byte) error

	srv server
}

var _ dnsswitch.Provider = (*Provider)(nil)
var _ dns.Handler = (*Provider)(nil)

// New returns a provider serving opts.Zone. When opts.StateFile exists, it
// serves what the file holds; records in it that fall outside the zone are
// dropped with a warning. New does not listen: see Start and Run.
func New(opts Options) (*Provider, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	p := &Provider{opts: opts, log: opts.Logger, writeState: writeFileAtomic}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("provider", opts.Name)
	p.rand = rand.Uint64
	if opts.Rand != nil {
		var mu sync.Mutex
		src := opts.Rand
		p.rand = func() uint64 {
			mu.Lock()
			defer mu.Unlock()
			return src.Uint64()
		}
	}

	st := &state{Version: stateVersion, Serial: nextSerial(0, time.Now().Unix()), Records: map[string]record{}}
	if opts.StateFile != "" {
		loaded, ok, err := loadState(opts.StateFile)
		if err != nil {
			return nil, err
		}
		if ok {
			st = loaded
			for name := range st.Records {
				if !inZone(name, opts.Zone) {
					p.log.Warn("builtin: state file: dropping a record outside the zone", "record", name, "zone", opts.Zone)
					delete(st.Records, name)
				}
			}
		}
	}
	snap, err := compile(opts, st)
	if err != nil {
		return nil, fmt.Errorf("builtin: state file %s: %w", opts.StateFile, err)
	}
	p.snap.Store(snap)
	return p, nil
}

// Name implements dnsswitch.Provider.
func (p *Provider) Name() string { return p.opts.Name }

// Capabilities implements dnsswitch.Provider: the server carries weights.
func (p *Provider) Capabilities() dnsswitch.Capabilities {
	return dnsswitch.Capabilities{Weighted: true}
}

// Zone returns the canonical name of the zone served.
func (p *Provider) Zone() string { return p.opts.Zone }

// Serial returns the SOA serial being served.
func (p *Provider) Serial() uint32 { return p.snap.Load().state.Serial }

// Read implements dnsswitch.Provider. It returns the routing the server
// answers with for svc, matching each published answer to svc's targets by
// type and values. A published answer that matches no target (svc's answers
// changed since it was published) is an error wrapping ErrForeign.
func (p *Provider) Read(ctx context.Context, svc dnsswitch.Service) (dnsswitch.Routing, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("builtin: read %s: %w", svc.Name, err)
	}
	name, err := p.recordName(svc)
	if err != nil {
		return nil, err
	}
	return readRecord(p.snap.Load(), name, svc)
}

func readRecord(snap *snapshot, name string, svc dnsswitch.Service) (dnsswitch.Routing, error) {
	rec, ok := snap.state.Records[name]
	if !ok {
		return dnsswitch.Routing{}, nil
	}
	out := dnsswitch.Routing{}
	for _, a := range rec.Answers {
		target, ok := matchAnswer(a, svc)
		if !ok {
			return nil, fmt.Errorf("builtin: read %s: %s %s %s (published for target %s) matches no target: %w",
				svc.Name, name, a.Type, strings.Join(a.Values, ","), a.Target, dnsswitch.ErrForeign)
		}
		out[target] += a.Weight
	}
	return out, nil
}

// matchAnswer finds the target of svc that a publishes: the one it was
// published for if that still has the same content, else the first with
// the same content.
func matchAnswer(a answer, svc dnsswitch.Service) (string, bool) {
	if ans, ok := svc.Answer(a.Target); ok && a.sameContent(ans) {
		return a.Target, true
	}
	for _, ans := range svc.Answers {
		if a.sameContent(ans) {
			return ans.Target, true
		}
	}
	return "", false
}

// Apply implements dnsswitch.Provider. It replaces what the server answers
// for svc's record (whatever was there) with desired, leaving every other
// record as it is. Nothing is written when the record would not change.
func (p *Provider) Apply(ctx context.Context, svc dnsswitch.Service, desired dnsswitch.Routing, opts dnsswitch.ApplyOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("builtin: apply %s: %w", svc.Name, err)
	}
	if err := dnsswitch.CheckRouting(svc, desired); err != nil {
		return fmt.Errorf("builtin: apply %s: %w", svc.Name, err)
	}
	name, err := p.recordName(svc)
	if err != nil {
		return err
	}
	publish := dnsswitch.Effective(p.Capabilities(), svc, desired)
	rec, err := buildRecord(svc, publish)
	if err != nil {
		return fmt.Errorf("builtin: apply %s: %w", svc.Name, err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.snap.Load()
	if old, ok := cur.state.Records[name]; ok && old.equal(rec) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("builtin: apply %s: %w", svc.Name, err)
	}
	next := cur.state.withRecord(name, rec, nextSerial(cur.state.Serial, time.Now().Unix()))
	if err := p.commit(next); err != nil {
		return fmt.Errorf("builtin: apply %s: %w", svc.Name, err)
	}
	p.log.Info("builtin: published", "service", svc.Name, "record", name,
		"routing", publish.String(), "serial", next.Serial, "generation", opts.Generation)

	got, err := readRecord(p.snap.Load(), name, svc)
	if err != nil {
		return fmt.Errorf("builtin: apply %s: read back: %w", svc.Name, err)
	}
	if !got.Equal(publish) {
		return fmt.Errorf("builtin: apply %s: read back {%v}, want {%v}: %w", svc.Name, got, publish, dnsswitch.ErrVerify)
	}
	return nil
}

// commit compiles next, persists it when there is a state file, and only
// then serves it. The caller holds p.mu.
func (p *Provider) commit(next *state) error {
	snap, err := compile(p.opts, next)
	if err != nil {
		return err
	}
	if p.opts.StateFile != "" {
		data, err := next.encode()
		if err != nil {
			return fmt.Errorf("encode state: %w", err)
		}
		if err := p.writeState(p.opts.StateFile, data); err != nil {
			return classifyWriteError(err)
		}
	}
	p.snap.Store(snap)
	p.writes.Add(1)
	return nil
}

// recordName returns svc's record name, canonical, or an error when it is
// not in the zone.
func (p *Provider) recordName(svc dnsswitch.Service) (string, error) {
	name, err := canonicalName(svc.Record)
	if err != nil {
		return "", fmt.Errorf("builtin: service %s: record: %w", svc.Name, err)
	}
	if !inZone(name, p.opts.Zone) {
		return "", fmt.Errorf("builtin: service %s: record %s is outside zone %s", svc.Name, name, p.opts.Zone)
	}
	return name, nil
}

// buildRecord makes the record that publishes routing for svc.
func buildRecord(svc dnsswitch.Service, publish dnsswitch.Routing) (record, error) {
	if svc.TTL < 0 || svc.TTL > maxTTL {
		return record{}, fmt.Errorf("ttl %d out of range 0..%d", svc.TTL, maxTTL)
	}
	rec := record{Service: svc.Name, TTL: uint32(svc.TTL)}
	for _, ans := range svc.Answers {
		w := publish[ans.Target]
		if w <= 0 {
			continue
		}
		vals, err := canonicalValues(ans.Type, ans.Values)
		if err != nil {
			return record{}, fmt.Errorf("target %s: %w", ans.Target, err)
		}
		rec.Answers = append(rec.Answers, answer{Target: ans.Target, Type: strings.ToUpper(ans.Type), Values: vals, Weight: w})
	}
	return rec, nil
}

// Addr returns the address the server listens on, for UDP and TCP alike, or
// "" when it is not listening.
func (p *Provider) Addr() string { return p.srv.addr() }

// Start binds the UDP and TCP sockets on opts.Listen and serves on them
// until Shutdown. It returns once both are serving.
func (p *Provider) Start(ctx context.Context) error {
	if err := p.srv.start(ctx, p.opts.Listen, p.opts.UDPSockets, p); err != nil {
		return err
	}
	p.log.Info("builtin: listening", "addr", p.srv.addr(), "zone", p.opts.Zone, "udp_sockets", p.opts.UDPSockets)
	return nil
}

// Shutdown stops the server and waits for its goroutines, or until ctx is
// done.
func (p *Provider) Shutdown(ctx context.Context) error {
	return p.srv.shutdown(ctx)
}

// Run serves until ctx is cancelled, then shuts down. It returns nil after a
// clean shutdown, or the error that stopped the server.
func (p *Provider) Run(ctx context.Context) error {
	if err := p.Start(ctx); err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-p.srv.failed:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
}
