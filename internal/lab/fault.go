package lab

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Fault modes (CONTRACT §6).
const (
	ModeOK      = "ok"
	ModeDown    = "down"
	ModeTimeout = "timeout"
	ModeError   = "error"
	ModeSlow    = "slow"
	ModeFlap    = "flap"
)

// Modes lists the fault modes.
var Modes = []string{ModeOK, ModeDown, ModeTimeout, ModeError, ModeSlow, ModeFlap}

// Fault is an active fault, for display: Mode hits the Vantages listed, or
// every source when Vantages is empty. A Fault with Mode ok and Vantages
// is an exception to a fault on every source.
type Fault struct {
	Target   string    `json:"target"`
	Mode     string    `json:"mode"`
	Vantages []string  `json:"vantages,omitempty"`
	Since    time.Time `json:"since"`
}

// faultEntry is a mode and when it was set (the phase origin of flap).
type faultEntry struct {
	mode  string
	since time.Time
}

// faults is the fault state of an edge: a mode for every source, and
// per-vantage modes that differ from it.
type faults struct {
	all faultEntry
	per map[string]faultEntry
}

func (f faults) forVantage(vantage string) faultEntry {
	if e, ok := f.per[vantage]; ok && vantage != "" {
		return e
	}
	return f.all
}

// allDown reports whether every source is down.
func (f faults) allDown() bool { return f.all.mode == ModeDown && len(f.per) == 0 }

// SetFault sets the fault mode of target, for the given vantages or, when
// there are none, for every source (replacing per-vantage faults). Mode ok
// clears. An unknown target, mode or vantage is an error wrapping
// ErrUnknownTarget, ErrUnknownMode or ErrUnknownVantage, and changes
// nothing.
func (l *Lab) SetFault(target, mode string, vantages []string) error {
	e, err := l.edge(target)
	if err != nil {
		return err
	}
	if !slices.Contains(Modes, mode) {
		return fmt.Errorf("lab: %w %q (modes: %v)", ErrUnknownMode, mode, Modes)
	}
	for _, v := range vantages {
		if _, ok := l.names[v]; !ok {
			return fmt.Errorf("lab: %w %q (vantages: %v)", ErrUnknownVantage, v, slices.Sorted(maps.Keys(l.names)))
		}
	}
	now := l.clock.Now()

	l.mu.Lock()
	e.fmu.Lock()
	next := faults{all: e.faults.all, per: maps.Clone(e.faults.per)}
	e.fmu.Unlock()
	if next.per == nil {
		next.per = map[string]faultEntry{}
	}
	if len(vantages) == 0 {
		next = faults{all: faultEntry{mode: mode, since: now}, per: map[string]faultEntry{}}
	} else {
		for _, v := range vantages {
			if mode == next.all.mode {
				delete(next.per, v)
			} else {
				next.per[v] = faultEntry{mode: mode, since: now}
			}
		}
	}
	// The listener: closed when every source is down, open otherwise.
	// Bind before changing anything, so that a failure changes nothing.
	var reopen net.Listener
	if !next.allDown() && e.ln == nil && !l.done {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(e.ip, uint16(l.port)).String())
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("lab: %s: reopening the listener: %w", target, err)
		}
		reopen = &faultListener{Listener: ln, e: e}
	}
	e.fmu.Lock()
	e.faults = next
	e.fmu.Unlock()
	switch {
	case next.allDown() && e.ln != nil:
		_ = e.ln.Close() // refusing connections is the point
		e.ln = nil
	case reopen != nil:
		e.ln = reopen
		if l.started {
			l.serveLocked(e, reopen)
		}
	}
	l.mu.Unlock()

	// Connections already open from sources now down are reset.
	e.closeConns(func(src netip.Addr) bool { return e.modeFor(src, now) == ModeDown })
	l.log.Info("lab: fault set", "target", target, "mode", mode, "vantages", vantages)
	return nil
}

// Faults returns the active faults, by target in the order primary, backup,
// origin, then by mode.
func (l *Lab) Faults() []Fault {
	var out []Fault
	for _, t := range targets {
		e := l.edges[t]
		e.fmu.Lock()
		f := faults{all: e.faults.all, per: maps.Clone(e.faults.per)}
		e.fmu.Unlock()
		if f.all.mode != ModeOK {
			out = append(out, Fault{Target: t, Mode: f.all.mode, Since: f.all.since})
		}
		byMode := map[string]*Fault{}
		for _, v := range slices.Sorted(maps.Keys(f.per)) {
			pe := f.per[v]
			fl, ok := byMode[pe.mode]
			if !ok {
				fl = &Fault{Target: t, Mode: pe.mode, Since: pe.since}
				byMode[pe.mode] = fl
			}
			fl.Vantages = append(fl.Vantages, v)
			if pe.since.Before(fl.Since) {
				fl.Since = pe.since
			}
		}
		for _, m := range Modes {
			if fl, ok := byMode[m]; ok {
				out = append(out, *fl)
			}
		}
	}
	return out
}

// modeFor returns the effective mode for a source at now: flap resolves to
// error or ok.
func (e *edge) modeFor(src netip.Addr, now time.Time) string {
	e.fmu.Lock()
	fe := e.faults.forVantage(e.l.vantageOf(src))
	e.fmu.Unlock()
	if fe.mode != ModeFlap {
		return fe.mode
	}
	// Error during the first second, ok during the next, and so on.
	d := now.Sub(fe.since)
	if d < 0 || (d/time.Second)%2 == 0 {
		return ModeError
	}
	return ModeOK
}

// faultListener resets, at accept, the connections of sources that are down.
// Closing it twice (SetFault, then the server's Shutdown) is not an error.
type faultListener struct {
	net.Listener
	e         *edge
	closeOnce sync.Once
	closeErr  error
}

func (fl *faultListener) Close() error {
	fl.closeOnce.Do(func() { fl.closeErr = fl.Listener.Close() })
	return fl.closeErr
}

func (fl *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := fl.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if fl.e.modeFor(remoteAddr(c.RemoteAddr()), fl.e.l.clock.Now()) == ModeDown {
			resetClose(c)
			continue
		}
		return c, nil
	}
}

// resetClose closes c with a TCP reset.
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // best effort: a plain close still ends it
	}
	_ = c.Close() // the peer sees the reset; nothing to report here
}

func remoteAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
