package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller/runner"
	"github.com/failoverhq/failover/internal/metrics"
	"github.com/failoverhq/failover/internal/store"
)

func newRunCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the controller: API, dashboard, metrics, prober, decisions, DNS switching",
		Long: `Run the controller: the API, the dashboard and /metrics on controller.listen
(TLS when controller.tls.cert_file is set), the local prober (unless
probes.local is false), the decision loop, DNS switching, warm-ups and hooks.
Events and service states are kept in controller.data_dir.

Every secret must be available. SIGHUP reloads the config, and so does a change
of the file; an invalid new config is rejected with its problems logged and the
running one stays (failover_config_reload_total counts both). SIGINT or SIGTERM
stops it cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.ErrOrStderr(), path, config.Options{RequireSecrets: true})
			if err != nil {
				return fmt.Errorf("run: %w", err)
			}
			ctx, stop := commandContext(cmd)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			err = runController(ctx, controllerOptions{
				Config: cfg,
				Load: func() (*config.Config, []config.Problem, error) {
					return config.Load(path, config.Options{RequireSecrets: true})
				},
				Watch:  path,
				Logger: log,
			})
			if err != nil {
				return fmt.Errorf("run: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "config file (YAML)")
	return cmd
}

// controllerOptions configure runController.
type controllerOptions struct {
	// Config is the config to start with, already validated.
	Config *config.Config
	// Load loads the config again for a reload (SIGHUP, a changed file);
	// nil: no reloads.
	Load func() (*config.Config, []config.Problem, error)
	// Watch is the config file whose changes trigger a reload; empty:
	// none.
	Watch string
	// Logger receives every log line.
	Logger *slog.Logger
	// Lab sets lab faults (the lab only).
	Lab runner.LabFaulter
	// Listening, if set, is told the API's address once it listens.
	Listening func(addr string, tls bool)
}

// shutdownTimeout bounds the HTTP server's graceful shutdown.
const shutdownTimeout = 10 * time.Second

// reloadDebounce is how long the file must stay quiet after a change before
// it is reloaded: editors and config management write in several steps.
const reloadDebounce = 500 * time.Millisecond

// runController runs the controller until ctx ends: the store, the runner,
// the API server, and the reloads. It returns after a clean shutdown.
func runController(ctx context.Context, o controllerOptions) error {
	cfg, log := o.Config, o.Logger
	if cfg.Controller.Election.Backend != config.ElectionNone && cfg.Controller.Election.Backend != "" {
		return fmt.Errorf("controller.election.backend %s is not supported by this build; use none with a single controller",
			cfg.Controller.Election.Backend)
	}
	dir := cfg.Controller.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := store.Open(dir, store.Options{Logger: log.With("component", "store")})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()
	m := metrics.New()
	m.Leader.Set(1) // election none: this controller is the only one
	r, err := runner.New(cfg, runner.Options{Logger: log, Metrics: m, Store: st, Lab: o.Lab})
	if err != nil {
		return err
	}
	front := &apiFront{m: m, r: r, log: log, lab: o.Lab != nil}
	if err := front.configure(cfg); err != nil {
		return err
	}
	defer front.close()
	certs := &certSource{}
	if err := certs.load(cfg.Controller.TLS); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Controller.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           front,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(front.close) // Shutdown does not end SSE streams
	useTLS := cfg.Controller.TLS.CertFile != ""
	if useTLS {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	log.Info("controller listening", "url", scheme+"://"+ln.Addr().String(), "data_dir", dir,
		"services", len(cfg.Services))
	if o.Listening != nil {
		o.Listening(ln.Addr().String(), useTLS)
	}

	rctx, stopRunner := context.WithCancel(context.Background())
	defer stopRunner()
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(rctx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	rl := &reloader{o: o, r: r, m: m, front: front, certs: certs, log: log, current: cfg}
	reloadDone := make(chan struct{})
	wctx, stopReloads := context.WithCancel(ctx)
	go func() {
		defer close(reloadDone)
		rl.run(wctx)
	}()

	var failure, serveErr, runErr error
	served, ran := false, false
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case serveErr = <-serveDone:
		served = true
		failure = fmt.Errorf("serve: %w", serveErr)
	case runErr = <-runDone:
		ran = true
		failure = runErr
		if failure == nil {
			failure = errors.New("the controller stopped by itself")
		}
	}
	stopReloads()
	<-reloadDone
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("stopping the API server", "err", err)
		_ = srv.Close()
	}
	if !served {
		if err := <-serveDone; !errors.Is(err, http.ErrServerClosed) && failure == nil {
			failure = fmt.Errorf("serve: %w", err)
		}
	}
	stopRunner()
	if !ran {
		if err := <-runDone; err != nil && failure == nil {
			failure = err
		}
	}
	if failure == nil {
		log.Info("stopped")
	}
	return failure
}

// apiFront serves the current API server; a reload that changes the auth
// section puts a new one in place.
type apiFront struct {
	m   *metrics.Metrics
	r   *runner.Runner
	log *slog.Logger
	lab bool

	mu   sync.Mutex
	auth config.Auth
	srv  *api.Server
	h    atomic.Pointer[http.Handler]
}

func (f *apiFront) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	(*f.h.Load()).ServeHTTP(w, req)
}

// configure builds the API server for cfg's auth section, unless it is the
// one in place.
func (f *apiFront) configure(cfg *config.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil && reflect.DeepEqual(f.auth, cfg.Auth) {
		return nil
	}
	tokens, err := api.TokensFromConfig(cfg.Auth, nil)
	if err != nil {
		return err
	}
	srv, err := api.New(api.Options{
		Backend:  f.r,
		Tokens:   tokens,
		OpenRead: cfg.Auth.OpenRead,
		Metrics:  promhttp.HandlerFor(f.m.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(f.log.Handler(), slog.LevelError)}),
		Logger:   f.log.With("component", "api"),
		Lab:      f.lab,
		CountDropped: func(reason string, n int) {
			f.m.ResultsDropped.WithLabelValues(reason).Add(float64(n))
		},
	})
	if err != nil {
		return err
	}
	h := srv.Handler()
	f.h.Store(&h)
	if f.srv != nil {
		f.srv.Close() // its streams end; clients reconnect to the new one
		f.log.Info("API tokens reloaded", "tokens", len(tokens), "open_read", cfg.Auth.OpenRead)
	}
	f.srv, f.auth = srv, cfg.Auth
	return nil
}

func (f *apiFront) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		f.srv.Close()
	}
}

// certSource serves the TLS certificate, reloaded with the config.
type certSource struct {
	cert atomic.Pointer[tls.Certificate]
}

func (c *certSource) load(t config.TLS) error {
	if t.CertFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return fmt.Errorf("controller.tls: %w", err)
	}
	c.cert.Store(&cert)
	return nil
}

func (c *certSource) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.cert.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("no certificate")
}

// reloader reloads the config on SIGHUP and when the file changes.
type reloader struct {
	o       controllerOptions
	r       *runner.Runner
	m       *metrics.Metrics
	front   *apiFront
	certs   *certSource
	log     *slog.Logger
	current *config.Config
	last    []byte // the file's content at the last reload attempt
}

func (rl *reloader) run(ctx context.Context) {
	if rl.o.Load == nil {
		<-ctx.Done()
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var events <-chan fsnotify.Event
	var errs <-chan error
	if rl.o.Watch != "" {
		rl.last, _ = os.ReadFile(rl.o.Watch)
		w, err := fsnotify.NewWatcher()
		if err != nil {
			rl.log.Error("not watching the config file; SIGHUP still reloads", "err", err)
		} else {
			defer w.Close()
			// The directory, not the file: editors and Kubernetes replace
			// the file rather than write it in place.
			if err := w.Add(filepath.Dir(rl.o.Watch)); err != nil {
				rl.log.Error("not watching the config file; SIGHUP still reloads", "err", err)
			} else {
				events, errs = w.Events, w.Errors
			}
		}
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			rl.log.Info("SIGHUP: reloading the config")
			rl.reload(true)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				debounce.Reset(reloadDebounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			rl.log.Warn("watching the config file", "err", err)
		case <-debounce.C:
			rl.reload(false)
		}
	}
}

// reload loads the config and hands it to the runner. A file change that
// left the content as it was does nothing (force: SIGHUP reloads anyway).
func (rl *reloader) reload(force bool) {
	if rl.o.Watch != "" {
		data, err := os.ReadFile(rl.o.Watch)
		if err == nil && !force && bytes.Equal(data, rl.last) {
			return
		}
		rl.last = data
	}
	cfg, problems, err := rl.o.Load()
	for _, p := range problems {
		if p.Warning {
			rl.log.Warn("config warning", "problem", p.String())
		}
	}
	if err != nil {
		var verr *config.ValidationError
		if errors.As(err, &verr) {
			for _, p := range verr.Problems {
				rl.log.Error("config rejected", "problem", p.String())
			}
		}
		rl.log.Error("config reload rejected; the running config stays", "err", err)
		rl.m.ConfigReload.WithLabelValues("error").Inc()
		return
	}
	old := rl.current
	if cfg.Controller.Listen != old.Controller.Listen {
		rl.log.Warn("controller.listen changed; it takes effect on restart", "listen", old.Controller.Listen)
	}
	if !reflect.DeepEqual(cfg.Controller.Election, old.Controller.Election) {
		rl.log.Warn("controller.election changed; it takes effect on restart")
	}
	// Check what the front end needs before the runner swaps anything, so
	// that a reload is all or nothing.
	if _, err := api.TokensFromConfig(cfg.Auth, nil); err != nil {
		rl.log.Error("config reload rejected; the running config stays", "err", err)
		rl.m.ConfigReload.WithLabelValues("error").Inc()
		return
	}
	var certs certSource
	if err := certs.load(cfg.Controller.TLS); err != nil {
		rl.log.Error("config reload rejected; the running config stays", "err", err)
		rl.m.ConfigReload.WithLabelValues("error").Inc()
		return
	}
	if (cfg.Controller.TLS.CertFile == "") != (old.Controller.TLS.CertFile == "") {
		rl.log.Warn("turning TLS on or off takes effect on restart")
	}
	if err := rl.r.Reload(cfg); err != nil {
		return // the runner logged and counted it
	}
	if c := certs.cert.Load(); c != nil {
		rl.certs.cert.Store(c)
	}
	if err := rl.front.configure(cfg); err != nil {
		// Checked above; a secret that vanished in between.
		rl.log.Error("API tokens not reloaded; the previous ones stay", "err", err)
	}
	rl.current = cfg
}
