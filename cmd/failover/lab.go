package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	examples "github.com/failoverhq/failover/config"
	"github.com/failoverhq/failover/internal/agent"
	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/client"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/lab"
)

// labHookSecretEnv is where lab.yaml's scale-origin webhook finds its secret.
const labHookSecretEnv = "FAILOVER_LAB_HOOK_SECRET"

// Token and secret files the lab keeps in its data directory.
const (
	labAgentTokenFile   = "agent.token"
	labTrafficTokenFile = "traffic.token"
	labHookSecretFile   = "hook.secret"
	labAgentTokenName   = "lab-agents"
	labTrafficTokenName = "lab-traffic"
)

// The lab's simulated site traffic. Without it nothing but the probes would
// reach the origin edge, and its capacity limit would never bite. The lab
// reads the routing as applied to DNS from its own API every
// labTrafficEvery, and puts on the origin edge the in-flight requests that
// the origin's share of the traffic brings (lab.Lab.SetLoad):
// labPeakOriginLoad when a service has all of its weight on its target
// named origin, proportionally less at lower weights. The peak is three
// times the origin's unscaled capacity, so an unscaled origin answers 503
// (to the probes too) once it carries more than about a third of the
// weight, while an origin scaled by POST /lab/scale (ten times the
// capacity) carries all of it.
const (
	labTrafficEvery   = 250 * time.Millisecond
	labPeakOriginLoad = 3 * lab.DefaultOriginCapacity
)

type labOptions struct {
	configPath string // empty: the built-in lab config
	http, dns  string
	dataDir    string // empty: client.DefaultLabDataDir()
	out        io.Writer
	logger     *slog.Logger
}

func newLabCmd() *cobra.Command {
	var o labOptions
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run the lab: the controller on the lab config, simulated CDN edges and three vantages",
		Long: `Run the embedded demo (CONTRACT §6): the controller on the lab config (built
in; the same as config/lab.yaml), simulated CDN edges on 127.0.10.1-3:18080,
three probe agents (lab-a, lab-b, lab-c) probing from 127.0.20.1-3, and the
built-in DNS server answering www.lab.test.

The lab simulates the site's traffic: the origin edge carries a load that
follows its weight in DNS, three times its capacity at 100%, so an origin
that was not scaled (the scale-origin webhook, a before_shift gate) answers
503 once it takes more than about a third of the weight.

It prints the dashboard URL, the DNS address and where it wrote the operator
token. In another terminal:

  dig @127.0.0.1 -p 8053 www.lab.test
  failover lab fault primary down
  failover status
  failover lab fault primary ok`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			o.logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			ctx, stop := commandContext(cmd)
			defer stop()
			if err := runLab(ctx, o); err != nil {
				return fmt.Errorf("lab: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.configPath, "config", "", "config file (default: the built-in lab config)")
	cmd.Flags().StringVar(&o.http, "http", "127.0.0.1:8080", "API and dashboard address")
	cmd.Flags().StringVar(&o.dns, "dns", "127.0.0.1:8053", "built-in DNS server address")
	cmd.Flags().StringVar(&o.dataDir, "data", "", "data directory (default: under the user's state directory)")
	fault := &cobra.Command{
		Use:   "fault TARGET MODE",
		Short: "Set a lab fault on a target (MODE: down|timeout|error|slow|flap|ok)",
		Args:  cobra.ExactArgs(2),
		RunE:  runLabFault,
	}
	fault.Flags().StringArray("vantage", nil, "limit the fault to this vantage (repeatable)")
	fault.Flags().String("data", "", "the lab's data directory, where its operator.token is (default: the running lab's)")
	var cf clientFlags
	cf.register(fault)
	cmd.AddCommand(fault)
	return cmd
}

// runLab runs the lab until ctx ends.
func runLab(ctx context.Context, o labOptions) error {
	dir := o.dataDir
	if dir == "" {
		d, err := client.DefaultLabDataDir()
		if err != nil {
			return err
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	tokenFile := filepath.Join(dir, client.LabTokenFile)
	if _, err := ensureSecretFile(tokenFile, randomHex); err != nil {
		return err
	}
	agentToken, err := ensureSecretFile(filepath.Join(dir, labAgentTokenFile), randomHex)
	if err != nil {
		return err
	}
	trafficToken, err := ensureSecretFile(filepath.Join(dir, labTrafficTokenFile), randomHex)
	if err != nil {
		return err
	}
	hookSecret, ok := os.LookupEnv(labHookSecretEnv)
	if !ok {
		if hookSecret, err = ensureSecretFile(filepath.Join(dir, labHookSecretFile), randomWebhookSecret); err != nil {
			return err
		}
		// The hook runner resolves secret_env from the environment.
		if err := os.Setenv(labHookSecretEnv, hookSecret); err != nil {
			return err
		}
	}
	cfg, err := labConfig(o, dir)
	if err != nil {
		return err
	}

	edges, err := lab.New(lab.Options{WebhookSecret: hookSecret, Logger: o.logger.With("component", "lab")})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var labErr error
	wg.Go(func() {
		if err := edges.Run(ctx); err != nil {
			labErr = err
			cancel()
		}
	})
	defer wg.Wait()

	removeCurrent := func() {}
	defer func() { removeCurrent() }()
	err = runController(ctx, controllerOptions{
		Config: cfg,
		Logger: o.logger,
		Lab:    edges,
		Listening: func(addr string, tls bool) {
			scheme := "http"
			if tls {
				scheme = "https"
			}
			base := scheme + "://" + addr
			startLabAgents(ctx, &wg, base, agentToken, o.logger)
			// Tell `failover lab fault` where this lab is.
			if remove, err := writeLabCurrent(labCurrent{DataDir: dir, Server: base}); err != nil {
				o.logger.Warn("lab fault will need --data or --token-file", "err", err)
			} else {
				removeCurrent = remove
			}
			startLabTraffic(ctx, &wg, base, trafficToken, edges, o.logger)
			printLabBanner(o.out, base, cfg, tokenFile)
		},
	})
	cancel()
	wg.Wait()
	return errors.Join(err, labErr)
}

// labConfig loads the lab config (built in, or --config) and points it at
// the data dir, the listen addresses and the lab's tokens.
func labConfig(o labOptions, dir string) (*config.Config, error) {
	data := examples.Lab
	if o.configPath != "" {
		b, err := readBounded(o.configPath, config.MaxFileSize)
		if err != nil {
			return nil, err
		}
		data = b
	}
	// Warnings of this first parse (token files under ./data) are moot:
	// the paths are replaced below and everything is validated again.
	cfg, _, err := config.Parse(data, config.Options{})
	if err != nil {
		var verr *config.ValidationError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("lab config: %w", verr)
		}
		return nil, fmt.Errorf("lab config: %w", err)
	}
	cfg.Controller.DataDir = dir
	cfg.Controller.Listen = o.http
	for i := range cfg.Auth.Tokens {
		if cfg.Auth.Tokens[i].Role == "operator" && cfg.Auth.Tokens[i].TokenEnv == "" {
			cfg.Auth.Tokens[i].TokenFile = filepath.Join(dir, client.LabTokenFile)
		}
	}
	for _, lt := range []config.Token{
		{Name: labAgentTokenName, Role: "agent", TokenFile: filepath.Join(dir, labAgentTokenFile),
			Vantages: slices.Sorted(maps.Keys(lab.DefaultVantages))},
		{Name: labTrafficTokenName, Role: "viewer", TokenFile: filepath.Join(dir, labTrafficTokenFile)},
	} {
		if !slices.ContainsFunc(cfg.Auth.Tokens, func(t config.Token) bool { return t.Name == lt.Name }) {
			cfg.Auth.Tokens = append(cfg.Auth.Tokens, lt)
		}
	}
	for i := range cfg.DNS.Providers {
		if cfg.DNS.Providers[i].Type == config.ProviderBuiltin {
			cfg.DNS.Providers[i].Listen = o.dns
		}
	}
	var errs []string
	for _, p := range cfg.Validate(config.Options{RequireSecrets: true}) {
		if !p.Warning {
			errs = append(errs, p.String())
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("lab config: %s", strings.Join(errs, "; "))
	}
	return cfg, nil
}

// startLabAgents runs the lab's three vantages as real probe agents that
// pull their plan from the controller and push results to it, each probing
// from its own source address.
func startLabAgents(ctx context.Context, wg *sync.WaitGroup, base, token string, log *slog.Logger) {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range lab.DefaultVantages {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		alog := log.With("component", "agent", "vantage", name)
		c, err := client.New(client.Options{Servers: []string{base}, Token: token})
		if err != nil {
			alog.Error("lab agent not started", "err", err)
			continue
		}
		a, err := agent.New(agent.Options{
			Controller: c, Vantage: name, SourceAddr: lab.DefaultVantages[name], Logger: alog,
		})
		if err != nil {
			c.Close()
			alog.Error("lab agent not started", "err", err)
			continue
		}
		wg.Go(func() {
			defer c.Close()
			if err := a.Run(ctx); err != nil && ctx.Err() == nil {
				alog.Error("lab agent stopped", "err", err)
			}
		})
	}
}

// startLabTraffic runs the simulated site traffic (see labPeakOriginLoad)
// until ctx ends: it reads the services through the API as a viewer.
func startLabTraffic(ctx context.Context, wg *sync.WaitGroup, base, token string, edges loadSetter, log *slog.Logger) {
	tlog := log.With("component", "traffic")
	c, err := client.New(client.Options{Servers: []string{base}, Token: token, Timeout: 2 * time.Second})
	if err != nil {
		tlog.Error("lab traffic not started", "err", err)
		return
	}
	wg.Go(func() {
		defer c.Close()
		simulateTraffic(ctx, c.Services, edges, labTrafficEvery, tlog)
	})
}

// loadSetter is the part of lab.Lab that the simulated traffic drives.
type loadSetter interface {
	SetLoad(target string, inFlight int) error
}

// simulateTraffic sets the origin edge's load from the services' applied
// routing (originLoad) at once and then every `every`, until ctx ends. When
// the services cannot be read, the load stays as it was: the site's traffic
// does not stop because the controller's API did not answer.
func simulateTraffic(ctx context.Context, services func(context.Context) ([]api.Service, error), edges loadSetter, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	last, failing := -1, false
	for {
		svcs, err := services(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				log.Warn("lab traffic: reading the routing failed; the origin's load stays", "err", err)
			}
			failing = true
		default:
			if failing {
				log.Info("lab traffic: reading the routing again")
			}
			failing = false
			if n := originLoad(svcs); n != last {
				if err := edges.SetLoad(lab.Origin, n); err != nil {
					log.Error("lab traffic: setting the origin's load", "err", err)
				} else {
					log.Info("lab traffic: origin load", "in_flight", n)
					last = n
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// originLoad is the in-flight requests that the services' traffic puts on
// the origin edge: labPeakOriginLoad for each service's whole weight on its
// target named origin, in proportion to the weight applied to DNS.
func originLoad(services []api.Service) int {
	weight := 0
	for _, s := range services {
		weight += s.Routing[lab.Origin]
	}
	return (weight*labPeakOriginLoad + 50) / 100
}

func printLabBanner(w io.Writer, base string, cfg *config.Config, tokenFile string) {
	dns := ""
	for _, p := range cfg.DNS.Providers {
		if p.Type == config.ProviderBuiltin {
			dns = p.Listen
			break
		}
	}
	fmt.Fprintf(w, "failover lab is running\n")
	fmt.Fprintf(w, "  dashboard  %s/\n", base)
	host, port, _ := net.SplitHostPort(dns)
	fmt.Fprintf(w, "  dns        %s  (dig @%s -p %s www.lab.test)\n", dns, host, port)
	fmt.Fprintf(w, "  token      %s\n", tokenFile)
	fmt.Fprintf(w, "  edges      primary %s:%d, backup %s:%d, origin %s:%d\n",
		lab.DefaultAddrs[lab.Primary], lab.DefaultPort, lab.DefaultAddrs[lab.Backup], lab.DefaultPort,
		lab.DefaultAddrs[lab.Origin], lab.DefaultPort)
	fmt.Fprintf(w, "  vantages   lab-a %s, lab-b %s, lab-c %s\n",
		lab.DefaultVantages["lab-a"], lab.DefaultVantages["lab-b"], lab.DefaultVantages["lab-c"])
	fmt.Fprintf(w, "  traffic    %d in-flight requests on the origin at 100%% of its weight (capacity %d; %d once scaled)\n",
		labPeakOriginLoad, lab.DefaultOriginCapacity, lab.DefaultScaleFactor*lab.DefaultOriginCapacity)
	fmt.Fprintf(w, "try: failover lab fault primary down; failover status; failover lab fault primary ok\n")
}

// ensureSecretFile returns the secret in path, first writing a new one made
// by gen (mode 0600) when the file does not exist.
func ensureSecretFile(path string, gen func() (string, error)) (string, error) {
	if tok, err := client.ReadTokenFile(path); err == nil {
		return tok, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	secret, err := gen()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}

func randomHex() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func randomWebhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}
