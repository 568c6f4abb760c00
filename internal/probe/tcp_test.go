package probe

import (
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

func TestTCP(t *testing.T) {
	var (
		mu      sync.Mutex
		remotes []string
	)
	open := rawServer(t, func(c net.Conn) {
		mu.Lock()
		remotes = append(remotes, c.RemoteAddr().String())
		mu.Unlock()
		c.Close()
	})
	backlog := fullBacklog(t)
	p := newProber(t, Options{})

	tests := []struct {
		name   string
		probe  config.Probe
		prober *Prober
		class  Class
		error  string
	}{
		{name: "tcp url", probe: config.Probe{Type: "tcp", URL: "tcp://" + open}, class: ClassOK},
		{name: "connect_to wins over the url", probe: config.Probe{Type: "tcp", URL: "https://www.example.invalid/", ConnectTo: open}, class: ClassOK},
		{name: "refused", probe: config.Probe{Type: "tcp", URL: "tcp://" + closedPort(t)}, class: ClassRefused, error: "connection refused"},
		{name: "connect timeout", probe: config.Probe{Type: "tcp", URL: "tcp://" + backlog, Timeout: 300 * time.Millisecond}, class: ClassConnectTimeout, error: "connect to " + backlog},
		// Any real connection takes longer than a nanosecond.
		{name: "slow", probe: config.Probe{Type: "tcp", URL: "tcp://" + open, Expect: config.Expect{MaxLatency: time.Nanosecond}}, class: ClassSlow, error: "over max_latency 1ns"},
		{name: "dns", probe: config.Probe{Type: "tcp", ConnectTo: "edge.example.invalid:443"}, prober: newProber(t, Options{Resolver: dnsServer(t, nxdomain)}), class: ClassDNS, error: "no such host"},
		{name: "source address", probe: config.Probe{Type: "tcp", ConnectTo: open}, prober: newProber(t, Options{SourceAddr: "127.0.20.2"}), class: ClassOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := tt.prober
			if pr == nil {
				pr = p
			}
			r := probe(t, pr, compile(t, tt.probe))
			wantClass(t, r, tt.class)
			if !strings.Contains(r.Error, tt.error) {
				t.Errorf("error = %q, want it to contain %q", r.Error, tt.error)
			}
			if r.Status != 0 {
				t.Errorf("status = %d for a tcp probe", r.Status)
			}
		})
	}

	// The probe returns once connected, maybe before the server's
	// goroutine ran: wait for the four connections the ok and slow rows made.
	waitFor(t, "4 connections", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(remotes) == 4
	})
	mu.Lock()
	defer mu.Unlock()
	var from []string
	for _, a := range remotes {
		host, _, _ := net.SplitHostPort(a)
		from = append(from, host)
	}
	if !slices.Contains(from, "127.0.20.2") {
		t.Errorf("no connection came from 127.0.20.2: %q", remotes)
	}
}
