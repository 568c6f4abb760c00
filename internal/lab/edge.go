package lab

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxScaleBody bounds the body of POST /lab/scale.
const maxScaleBody = 1 << 20

// edge is one simulated server.
type edge struct {
	l    *Lab
	name string
	ip   netip.Addr
	cdn  bool // caches; the origin does not

	// ln and srv are guarded by l.mu; srv is set by Run.
	ln  net.Listener
	srv *http.Server

	fmu    sync.Mutex
	faults faults

	cmu   sync.Mutex
	cache map[int]time.Time // object -> when it was cached

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	capacity atomic.Int64 // 0: unlimited
	load     atomic.Int64
	inFlight atomic.Int64

	requests, rejected, faulted atomic.Uint64
	hits, misses                atomic.Uint64
}

func newEdge(l *Lab, name string, ip netip.Addr) *edge {
	e := &edge{
		l: l, name: name, ip: ip, cdn: name != Origin,
		faults: faults{all: faultEntry{mode: ModeOK}, per: map[string]faultEntry{}},
		cache:  map[int]time.Time{},
		conns:  map[net.Conn]struct{}{},
	}
	if !e.cdn {
		e.capacity.Store(int64(l.opts.OriginCapacity))
	}
	return e
}

// ServeHTTP routes an edge's requests.
func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// X-Served-By names the edge; X-Lab-Fault, on answers that a fault
	// changed (error, slow), names the fault.
	w.Header().Set("X-Served-By", e.name)
	switch {
	case r.URL.Path == "/lab/state":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeJSONError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		writeJSON(w, http.StatusOK, e.state())
	case r.URL.Path == "/lab/scale":
		e.serveScale(w, r)
	case r.URL.Path == "/healthz", strings.HasPrefix(r.URL.Path, "/assets/"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		e.serveData(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveData answers /healthz and /assets/N through the edge's fault,
// capacity and cache.
func (e *edge) serveData(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	ctx := r.Context()
	src := remoteAddr(stringAddr(r.RemoteAddr))
	switch e.modeFor(src, e.l.clock.Now()) {
	case ModeDown:
		// A keep-alive connection opened before the fault.
		e.faulted.Add(1)
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			resetClose(c)
			return
		}
		http.Error(w, "down (lab fault)", http.StatusServiceUnavailable)
		return
	case ModeTimeout:
		e.faulted.Add(1)
		<-ctx.Done() // the client gives up, or the lab stops
		abort()
	case ModeError:
		e.faulted.Add(1)
		w.Header().Set("X-Lab-Fault", ModeError)
		http.Error(w, "error (lab fault)", http.StatusServiceUnavailable)
		return
	case ModeSlow:
		e.faulted.Add(1)
		w.Header().Set("X-Lab-Fault", ModeSlow)
		if !wait(ctx, e.l.clock, e.l.opts.SlowLatency) {
			abort()
		}
	}

	if c := e.capacity.Load(); c > 0 {
		n := e.inFlight.Add(1)
		defer e.inFlight.Add(-1)
		if n+e.load.Load() > c {
			e.rejected.Add(1)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "over capacity", http.StatusServiceUnavailable)
			return
		}
	}

	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/assets/"))
	if err != nil || n < 0 || n >= e.l.opts.Catalogue || strconv.Itoa(n) != strings.TrimPrefix(r.URL.Path, "/assets/") {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	if e.cdn {
		cachedAt, hit := e.lookup(n)
		if hit {
			e.hits.Add(1)
			h.Set("X-Cache", "HIT")
			h.Set("Age", strconv.Itoa(int(max(0, e.l.clock.Now().Sub(cachedAt))/time.Second)))
		} else {
			e.misses.Add(1)
			if !wait(ctx, e.l.clock, e.l.opts.OriginLatency) {
				abort()
			}
			e.store(n)
			h.Set("X-Cache", "MISS")
		}
	} else if !wait(ctx, e.l.clock, e.l.opts.OriginLatency) {
		abort()
	}
	body := assetBody(n, e.l.opts.ObjectSize)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", fmt.Sprintf(`"asset-%d"`, n))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// abort ends a request that was cut short (the client left, or the lab is
// stopping) without an answer: net/http closes the connection.
func abort() { panic(http.ErrAbortHandler) }

// assetBody is object n's content: a first line naming it, then a filler
// that depends on n.
func assetBody(n, size int) []byte {
	b := make([]byte, 0, size)
	b = fmt.Appendf(b, "asset %d\n", n)
	for i := len(b); i < size; i++ {
		b = append(b, 'a'+byte((n+i)%26))
	}
	return b[:size]
}

func (e *edge) lookup(n int) (time.Time, bool) {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	t, ok := e.cache[n]
	return t, ok
}

func (e *edge) store(n int) {
	now := e.l.clock.Now()
	e.cmu.Lock()
	defer e.cmu.Unlock()
	if _, ok := e.cache[n]; !ok {
		e.cache[n] = now
	}
}

func (e *edge) purge() {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	clear(e.cache)
}

// scale sets the capacity; 0 raises it to the scaled capacity unless it is
// higher already.
func (e *edge) scale(capacity int) {
	if capacity == 0 {
		target := int64(e.l.opts.ScaledCapacity)
		for {
			cur := e.capacity.Load()
			if cur == 0 || cur >= target || e.capacity.CompareAndSwap(cur, target) {
				break
			}
		}
	} else {
		e.capacity.Store(int64(capacity))
	}
	e.l.log.Info("lab: capacity", "target", e.name, "capacity", e.capacity.Load())
}

// serveScale answers POST /lab/scale[?capacity=N].
func (e *edge) serveScale(w http.ResponseWriter, r *http.Request) {
	if e.cdn {
		writeJSONError(w, http.StatusNotFound, "only the origin scales")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSONError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxScaleBody))
	if err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "body too large or unreadable")
		return
	}
	if e.l.opts.WebhookSecret != "" {
		if err := verifyWebhook(e.l.opts.WebhookSecret, r.Header, body, e.l.clock.Now(), e.l.opts.WebhookSkew); err != nil {
			e.l.log.Warn("lab: scale request rejected", "err", err)
			writeJSONError(w, http.StatusUnauthorized, err.Error())
			return
		}
	}
	capacity := 0
	if s := r.URL.Query().Get("capacity"); s != "" {
		if capacity, err = strconv.Atoi(s); err != nil || capacity <= 0 {
			writeJSONError(w, http.StatusBadRequest, "capacity must be a positive integer")
			return
		}
	}
	delay := e.l.opts.ScaleDelay
	if delay <= 0 {
		e.scale(capacity)
		writeJSON(w, http.StatusOK, map[string]any{"capacity": e.capacity.Load()})
		return
	}
	l := e.l
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		writeJSONError(w, http.StatusServiceUnavailable, "lab is stopping")
		return
	}
	after := l.clock.After(delay)
	l.wg.Go(func() {
		select {
		case <-after:
			e.scale(capacity)
		case <-l.stop:
		}
	})
	l.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{"capacity": e.capacity.Load(), "scaling_in": delay.String()})
}

// trackConn is the server's ConnState hook.
func (e *edge) trackConn(c net.Conn, s http.ConnState) {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	switch s {
	case http.StateNew:
		e.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(e.conns, c)
	}
}

// closeConns resets the open connections whose source matches.
func (e *edge) closeConns(match func(netip.Addr) bool) {
	e.connMu.Lock()
	var victims []net.Conn
	for c := range e.conns {
		if match(remoteAddr(c.RemoteAddr())) {
			victims = append(victims, c)
		}
	}
	e.connMu.Unlock()
	for _, c := range victims {
		resetClose(c)
	}
}

// EdgeState is what GET /lab/state answers and Lab.State returns.
type EdgeState struct {
	Target    string     `json:"target"`
	Addr      string     `json:"addr"`
	Listening bool       `json:"listening"`
	Fault     FaultState `json:"fault"`
	// Capacity is the limit of concurrent requests (0: unlimited);
	// InFlight those being answered; Load the simulated ones.
	Capacity int64 `json:"capacity"`
	InFlight int64 `json:"in_flight"`
	Load     int64 `json:"load"`
	// Requests counts /healthz and /assets requests; Faulted those a
	// fault answered (or withheld); Rejected those refused over capacity.
	Requests uint64      `json:"requests"`
	Faulted  uint64      `json:"faulted"`
	Rejected uint64      `json:"rejected"`
	Cache    *CacheStats `json:"cache,omitempty"`
}

// FaultState is an edge's fault: Mode for every source, and Vantages for
// those that differ.
type FaultState struct {
	Mode     string            `json:"mode"`
	Vantages map[string]string `json:"vantages,omitempty"`
}

// CacheStats counts a CDN edge's cache.
type CacheStats struct {
	Hits    uint64 `json:"hits"`
	Misses  uint64 `json:"misses"`
	Objects int    `json:"objects"`
}

func (e *edge) state() EdgeState {
	e.l.mu.Lock()
	listening := e.ln != nil && !e.l.done
	e.l.mu.Unlock()
	e.fmu.Lock()
	fs := FaultState{Mode: e.faults.all.mode}
	for _, v := range slices.Sorted(maps.Keys(e.faults.per)) {
		if fs.Vantages == nil {
			fs.Vantages = map[string]string{}
		}
		fs.Vantages[v] = e.faults.per[v].mode
	}
	e.fmu.Unlock()
	st := EdgeState{
		Target: e.name, Addr: e.l.Addr(e.name), Listening: listening, Fault: fs,
		Capacity: e.capacity.Load(), InFlight: e.inFlight.Load(), Load: e.load.Load(),
		Requests: e.requests.Load(), Faulted: e.faulted.Load(), Rejected: e.rejected.Load(),
	}
	if e.cdn {
		e.cmu.Lock()
		objects := len(e.cache)
		e.cmu.Unlock()
		st.Cache = &CacheStats{Hits: e.hits.Load(), Misses: e.misses.Load(), Objects: objects}
	}
	return st
}

// stringAddr is a net.Addr from a host:port string.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
