// Package lab runs the simulated CDN edges of CONTRACT §6: three real HTTP
// servers on distinct loopback addresses, all on one port (by default
// 127.0.10.1, .2 and .3 on port 18080), with fault injection per target
// and per vantage.
//
// The edges. primary and backup are CDN edges: each serves /healthz and a
// catalogue /assets/0 .. /assets/<Catalogue-1> of deterministic objects and
// keeps a cache. The first fetch of an object from an edge is a MISS that
// costs Options.OriginLatency, later ones are HITs with an Age header
// (X-Cache: MISS or HIT). Both start cold; Purge empties a cache again. A
// MISS is simulated by waiting: it does not send a request to the origin
// edge, so it does not count against the origin's capacity.
//
// The origin serves the same paths without a cache, each asset costing
// OriginLatency, and has a capacity: a limit on concurrent in-flight
// requests (every /healthz and /assets request counts while it is being
// answered, plus any simulated Load). A request above the capacity gets 503
// with Retry-After. POST /lab/scale on the origin raises the capacity to
// Options.ScaledCapacity (10 times the initial one by default), after
// Options.ScaleDelay; it is what the lab's before_shift webhook calls, so it
// accepts Standard Webhooks requests and, when Options.WebhookSecret is set,
// rejects those without a valid signature (401). GET /lab/state on every edge
// returns its EdgeState as JSON.
//
// Vantages. A vantage is known by the source address of its connections:
// lab-a 127.0.20.1, lab-b 127.0.20.2, lab-c 127.0.20.3 by default. A fault
// set for some vantages hits only connections from their addresses; a fault
// set for no vantage in particular hits every source, vantage or not.
//
// Fault modes (the /lab/ paths are spared by all but down):
//
//   - down: connection refused. When every source is down the edge's
//     listener is closed, so connecting is refused by the kernel. When only
//     some vantages are down the listener is shared with the others, so
//     their connections are accepted and reset at once (SO_LINGER 0): a
//     probe sees a reset rather than a refusal. Open keep-alive connections
//     of the sources concerned are reset when the fault is set.
//   - timeout: the connection is accepted and the request is never
//     answered; the handler waits until the client gives up.
//   - error: 503.
//   - slow: the answer comes after Options.SlowLatency (300ms by default:
//     above the lab's max_latency of 250ms, since the delay only adds to the
//     latency, and well below its probe timeout of 500ms, so that a probe
//     on a busy machine still classifies it as slow rather than timeout).
//   - flap: error during the first second after the fault was set, ok
//     during the next, and so on, by Options.Clock.
//   - ok: no fault; with no vantages it clears every fault of the target.
//
// Answers that a fault changed carry X-Lab-Fault (error or slow), and every
// answer X-Served-By with the edge's name, for whoever reads them with curl.
//
// Lifecycle. New validates the options and binds the listeners (so address
// errors come from New); Run serves until its context is cancelled, then
// closes every listener and connection and waits for every goroutine it
// started. A Lab runs once.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/failoverhq/failover/internal/hooks"
)

// Targets and their roles (CONTRACT §6).
const (
	Primary = "primary"
	Backup  = "backup"
	Origin  = "origin"
)

// Defaults.
const (
	DefaultPort           = 18080
	DefaultCatalogue      = 1000
	DefaultObjectSize     = 4096
	DefaultOriginLatency  = 20 * time.Millisecond
	DefaultSlowLatency    = 300 * time.Millisecond
	DefaultOriginCapacity = 20
	DefaultScaleFactor    = 10
	DefaultWebhookSkew    = 5 * time.Minute
	// AnyPort as Options.Port picks a port that is free on every edge
	// address.
	AnyPort = -1
)

// DefaultAddrs are the edges' addresses.
var DefaultAddrs = map[string]string{Primary: "127.0.10.1", Backup: "127.0.10.2", Origin: "127.0.10.3"}

// DefaultVantages are the lab's vantages and their source addresses.
var DefaultVantages = map[string]string{"lab-a": "127.0.20.1", "lab-b": "127.0.20.2", "lab-c": "127.0.20.3"}

// targets is the fixed order of the edges.
var targets = []string{Primary, Backup, Origin}

// Errors of SetFault, Scale, SetLoad and Purge; the API answers them with
// 400.
var (
	ErrUnknownTarget  = errors.New("unknown target")
	ErrUnknownMode    = errors.New("unknown fault mode")
	ErrUnknownVantage = errors.New("unknown vantage")
	ErrBadValue       = errors.New("invalid value")
)

// Options configures a Lab. The zero value gives the lab of CONTRACT §6.
type Options struct {
	// Addrs are the edges' IP addresses by target; missing entries take
	// DefaultAddrs.
	Addrs map[string]string
	// Port is the port of every edge: DefaultPort when 0, any free one
	// (the same on all edges) when AnyPort.
	Port int
	// Vantages maps vantage names to their source addresses;
	// DefaultVantages when nil.
	Vantages map[string]string
	// Catalogue is the number of objects (/assets/0 .. Catalogue-1);
	// ObjectSize their size in bytes.
	Catalogue  int
	ObjectSize int
	// OriginLatency is what a cache MISS, or an asset from the origin,
	// costs. Negative means none.
	OriginLatency time.Duration
	// SlowLatency is the delay of the slow fault.
	SlowLatency time.Duration
	// OriginCapacity is the origin's limit of concurrent requests;
	// ScaledCapacity what POST /lab/scale raises it to
	// (DefaultScaleFactor times OriginCapacity when 0); ScaleDelay how
	// long the scale-up takes (0: at once).
	OriginCapacity int
	ScaledCapacity int
	ScaleDelay     time.Duration
	// WebhookSecret, when set, is the Standard Webhooks secret that signs
	// calls to /lab/scale: "whsec_" followed by the base64 key, or any
	// other string, used as the key itself (hooks.ParseSecret). WebhookSkew
	// is the tolerance of webhook-timestamp (DefaultWebhookSkew when 0).
	WebhookSecret string
	WebhookSkew   time.Duration
	// Clock gives the time (flap, Age, webhook timestamps) and the delays;
	// the real clock when nil.
	Clock Clock
	// Logger receives fault changes, scale-ups and serving errors;
	// nothing is logged when nil.
	Logger *slog.Logger
}

// Lab is the set of simulated edges. Its methods are safe for concurrent
// use.
type Lab struct {
	opts     Options
	clock    Clock
	log      *slog.Logger
	vantages map[netip.Addr]string // source address -> vantage
	names    map[string]netip.Addr // vantage -> source address
	edges    map[string]*edge
	port     int

	mu      sync.Mutex // guards the fields below and every edge's listener
	started bool
	done    bool
	stop    chan struct{} // closed when Run winds down
	wg      sync.WaitGroup
}

// New validates opts and binds the edges' listeners. Call Run to serve, or
// Close to release them without serving.
func New(opts Options) (*Lab, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{
		opts:     opts,
		clock:    opts.Clock,
		log:      opts.Logger,
		vantages: map[netip.Addr]string{},
		names:    map[string]netip.Addr{},
		edges:    map[string]*edge{},
		stop:     make(chan struct{}),
	}
	for name, ip := range opts.Vantages {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("lab: vantage %s: address %q: %w", name, ip, err)
		}
		if other, dup := l.vantages[a]; dup {
			return nil, fmt.Errorf("lab: vantages %s and %s share the address %s", other, name, a)
		}
		l.vantages[a.Unmap()], l.names[name] = name, a.Unmap()
	}
	seen := map[netip.Addr]string{}
	for _, t := range targets {
		a, err := netip.ParseAddr(opts.Addrs[t])
		if err != nil {
			return nil, fmt.Errorf("lab: %s: address %q: %w", t, opts.Addrs[t], err)
		}
		if other, dup := seen[a]; dup {
			return nil, fmt.Errorf("lab: %s and %s share the address %s", other, t, a)
		}
		seen[a] = t
		l.edges[t] = newEdge(l, t, a)
	}
	for t := range opts.Addrs {
		if _, ok := l.edges[t]; !ok {
			return nil, fmt.Errorf("lab: address for %w %q (targets: %v)", ErrUnknownTarget, t, targets)
		}
	}
	if err := l.bindAll(opts.Port); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return l, nil
}

func (o *Options) setDefaults() error {
	addrs := maps.Clone(DefaultAddrs)
	maps.Copy(addrs, o.Addrs)
	o.Addrs = addrs
	if o.Vantages == nil {
		o.Vantages = DefaultVantages
	}
	for name := range o.Vantages {
		if !validName(name) {
			return fmt.Errorf("vantage name %q is not valid", name)
		}
	}
	switch {
	case o.Port == 0:
		o.Port = DefaultPort
	case o.Port == AnyPort:
	case o.Port < 0 || o.Port > 65535:
		return fmt.Errorf("port %d out of range", o.Port)
	}
	def := func(v *int, d int, what string) error {
		if *v < 0 {
			return fmt.Errorf("%s %d is negative", what, *v)
		}
		if *v == 0 {
			*v = d
		}
		return nil
	}
	if err := errors.Join(
		def(&o.Catalogue, DefaultCatalogue, "catalogue"),
		def(&o.ObjectSize, DefaultObjectSize, "object size"),
		def(&o.OriginCapacity, DefaultOriginCapacity, "origin capacity"),
		def(&o.ScaledCapacity, DefaultScaleFactor*o.OriginCapacity, "scaled capacity"),
	); err != nil {
		return err
	}
	if o.OriginLatency == 0 {
		o.OriginLatency = DefaultOriginLatency
	}
	if o.SlowLatency <= 0 {
		o.SlowLatency = DefaultSlowLatency
	}
	if o.WebhookSkew <= 0 {
		o.WebhookSkew = DefaultWebhookSkew
	}
	if o.WebhookSecret != "" {
		if _, err := hooks.ParseSecret(o.WebhookSecret); err != nil {
			return fmt.Errorf("webhook secret: %w", err)
		}
	}
	if o.ScaleDelay < 0 {
		return fmt.Errorf("scale delay %s is negative", o.ScaleDelay)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// bindAll binds every edge on port (or on one free port for AnyPort).
func (l *Lab) bindAll(port int) error {
	attempts := 1
	if port == AnyPort {
		attempts = 20
	}
	var err error
	for range attempts {
		p := port
		if port == AnyPort {
			p = 0
		}
		if err = l.tryBind(p); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
	}
	return err
}

func (l *Lab) tryBind(port int) error {
	var bound []*edge
	for _, t := range targets {
		e := l.edges[t]
		ln, err := net.Listen("tcp", netip.AddrPortFrom(e.ip, uint16(port)).String())
		if err != nil {
			for _, b := range bound {
				_ = b.ln.Close() // undoing a partial bind
				b.ln = nil
			}
			return fmt.Errorf("listen on %s: %w", e.name, err)
		}
		if port == 0 {
			port = ln.Addr().(*net.TCPAddr).Port
		}
		e.ln = &faultListener{Listener: ln, e: e}
		bound = append(bound, e)
	}
	l.port = port
	return nil
}

// Targets returns the edges' names: primary, backup, origin.
func (l *Lab) Targets() []string { return slices.Clone(targets) }

// Vantages returns the vantages and their source addresses.
func (l *Lab) Vantages() map[string]string {
	out := map[string]string{}
	for name, a := range l.names {
		out[name] = a.String()
	}
	return out
}

// Addr returns the host:port of a target's edge ("" for an unknown target).
func (l *Lab) Addr(target string) string {
	e, ok := l.edges[target]
	if !ok {
		return ""
	}
	return netip.AddrPortFrom(e.ip, uint16(l.port)).String()
}

// Port returns the edges' port.
func (l *Lab) Port() int { return l.port }

// Run serves until ctx is cancelled, then stops every edge, closes every
// connection and returns once every goroutine of the Lab has ended. It
// returns nil after a cancellation and an error when the Lab already ran.
func (l *Lab) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.started || l.done {
		l.mu.Unlock()
		return errors.New("lab: Run called twice, or after Close")
	}
	l.started = true
	// Handlers (and the delays they wait on) see this context end when the
	// Lab stops, and the base context of their requests is it.
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	for _, t := range targets {
		e := l.edges[t]
		e.srv = &http.Server{
			Handler:           e,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ConnState:         e.trackConn,
			BaseContext:       func(net.Listener) context.Context { return serveCtx },
			ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		}
		if e.ln != nil {
			l.serveLocked(e, e.ln)
		}
	}
	l.mu.Unlock()
	l.log.Info("lab: edges serving", "primary", l.Addr(Primary), "backup", l.Addr(Backup), "origin", l.Addr(Origin))

	<-ctx.Done()

	l.mu.Lock()
	l.done = true
	close(l.stop)
	l.mu.Unlock()
	cancel() // releases handlers held by timeout, slow and the like
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shutCancel()
	var errs []error
	for _, t := range targets {
		e := l.edges[t]
		if err := e.srv.Shutdown(shutCtx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
			_ = e.srv.Close() // forced after the graceful attempt failed
		}
		l.mu.Lock()
		if e.ln != nil {
			_ = e.ln.Close() // already closed by Shutdown when it was served
			e.ln = nil
		}
		l.mu.Unlock()
		e.closeConns(func(netip.Addr) bool { return true })
	}
	l.wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("lab: shutdown: %w", errors.Join(errs...))
	}
	return nil
}

// Close releases the listeners of a Lab that never ran. It does nothing
// once Run was called (Run releases them when its context ends).
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.done {
		return nil
	}
	l.done = true
	var errs []error
	for _, e := range l.edges {
		if e.ln != nil {
			errs = append(errs, e.ln.Close())
			e.ln = nil
		}
	}
	return errors.Join(errs...)
}

// serveLocked serves ln on e's server in a goroutine of the Lab. l.mu is
// held.
func (l *Lab) serveLocked(e *edge, ln net.Listener) {
	srv := e.srv
	l.wg.Go(func() {
		err := srv.Serve(ln)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			l.log.Error("lab: serve", "target", e.name, "err", err)
		}
	})
}

// Scale sets the capacity of a target's edge: capacity > 0 sets it, 0 raises
// the origin to Options.ScaledCapacity (or keeps a higher capacity). It takes
// effect at once; POST /lab/scale is the delayed, signed way.
func (l *Lab) Scale(target string, capacity int) error {
	e, err := l.edge(target)
	if err != nil {
		return err
	}
	if capacity < 0 {
		return fmt.Errorf("lab: %w: capacity %d is negative", ErrBadValue, capacity)
	}
	e.scale(capacity)
	return nil
}

// SetLoad simulates inFlight requests that occupy a target's capacity (for
// example the traffic its weight would bring); 0 removes it.
func (l *Lab) SetLoad(target string, inFlight int) error {
	e, err := l.edge(target)
	if err != nil {
		return err
	}
	if inFlight < 0 {
		return fmt.Errorf("lab: %w: load %d is negative", ErrBadValue, inFlight)
	}
	e.load.Store(int64(inFlight))
	return nil
}

// Purge empties the cache of a CDN edge: it is cold again. Purging the
// origin does nothing.
func (l *Lab) Purge(target string) error {
	e, err := l.edge(target)
	if err != nil {
		return err
	}
	e.purge()
	return nil
}

// State returns the state of every edge, in the order primary, backup,
// origin.
func (l *Lab) State() []EdgeState {
	out := make([]EdgeState, 0, len(targets))
	for _, t := range targets {
		out = append(out, l.edges[t].state())
	}
	return out
}

func (l *Lab) edge(target string) (*edge, error) {
	e, ok := l.edges[target]
	if !ok {
		return nil, fmt.Errorf("lab: %w %q (targets: %v)", ErrUnknownTarget, target, targets)
	}
	return e, nil
}

// vantageOf returns the vantage of a source address ("" for none).
func (l *Lab) vantageOf(a netip.Addr) string { return l.vantages[a.Unmap()] }

// Clock is the lab's source of time.
type Clock interface {
	Now() time.Time
	// After is time.After: the channel receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// wait waits d on the clock, or until ctx ends (false).
func wait(ctx context.Context, c Clock, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-c.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// validName reports whether name matches ^[a-z0-9][a-z0-9-]{0,62}$.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeJSONError writes {"error": msg}.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
