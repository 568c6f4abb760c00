// Command builtinsrv serves the DNS benchmark's zone with failover's builtin
// server until it is stopped (SIGINT or SIGTERM). bench/dns/run.sh starts it
// and drives it with dnsperf; see bench/README.md.
//
// It serves bench.test. and publishes one weighted service, www.bench.test.,
// with three A targets weighted 25/25/50, so that every A query goes through
// the weighted pick.
//
//	builtinsrv -listen 127.0.0.1:15353 [-sockets 2] [-cpuprofile cpu.pprof]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/builtin"
)

// The zone, the same as the static zone files run.sh writes for BIND, Knot
// and NSD, except that those hold the three addresses in one RRset.
const (
	zone   = "bench.test."
	record = "www.bench.test."
	ttl    = 60
)

var (
	nameServers = []string{"ns1.bench.example.", "ns2.bench.example."}
	service     = dnsswitch.Service{
		Name:   "www",
		Record: record,
		TTL:    ttl,
		Answers: []dnsswitch.Answer{
			{Target: "a", Type: "A", Values: []string{"192.0.2.1"}},
			{Target: "b", Type: "A", Values: []string{"192.0.2.2"}},
			{Target: "c", Type: "A", Values: []string{"192.0.2.3"}},
		},
	}
	routing = dnsswitch.Routing{"a": 25, "b": 25, "c": 50}
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "builtinsrv:", err)
		os.Exit(1)
	}
}

func run(args []string) (retErr error) {
	fs := flag.NewFlagSet("builtinsrv", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:15353", "address for UDP and TCP")
	sockets := fs.Int("sockets", 0, "UDP sockets sharing the port; 0 means GOMAXPROCS")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	p, err := builtin.New(builtin.Options{
		Listen:     *listen,
		Zone:       zone,
		NS:         nameServers,
		UDPSockets: *sockets,
	})
	if err != nil {
		return err
	}
	if err := p.Apply(ctx, service, routing, dnsswitch.ApplyOptions{Generation: 1}); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close() // the profiling error is the one to report
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			retErr = errors.Join(retErr, f.Close())
		}()
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "builtinsrv: serving %s on %s\n", zone, p.Addr())
	<-ctx.Done()
	return p.Shutdown(context.WithoutCancel(ctx))
}
