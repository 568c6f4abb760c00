// Package hooks runs the actions that an operator attaches to failover
// events (`on:`) and to a target's `before_shift` gate (CONTRACT §2):
//
//   - webhook: a POST of the Event as JSON, signed per Standard Webhooks
//     (webhook-id, webhook-timestamp, webhook-signature: v1,<base64
//     HMAC-SHA256 of id.timestamp.body>), retried on 5xx, 408, 429 and
//     transport failures with jittered exponential backoff, with the same
//     webhook-id on every retry. Receivers check it with Verify, and reject
//     replays with a ReplayCache.
//   - exec: a program run without a shell, the Event as JSON on stdin and
//     FAILOVER_EVENT, FAILOVER_EVENT_ID, FAILOVER_SERVICE, FAILOVER_TARGET
//     and FAILOVER_HOOK in an otherwise minimal environment, in a process
//     group of its own that is killed at the timeout. Its stdout and
//     stderr are kept, up to MaxOutput each.
//   - aws_autoscaling: SetDesiredCapacity on an Auto Scaling group, then
//     DescribeAutoScalingGroups until enough instances are InService and
//     Healthy.
//
// A Runner runs the hooks of one event concurrently, each within its own
// timeout, and returns a Result per hook for the caller to record as an
// event; it counts failover_hook_runs_total{hook,result}. Secrets are
// resolved once, when the Runner is made, and never appear in a Result, an
// error or a log line.
package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/failoverhq/failover/internal/config"
)

// DefaultTimeout bounds a hook whose config sets no timeout.
const DefaultTimeout = 10 * time.Second

// Options configure a Runner.
type Options struct {
	// Hooks are the configured hooks (config.Config.Hooks).
	Hooks []config.Hook
	// Secret resolves a webhook's signing secret. Nil means
	// SecretRef.Resolve with the process environment.
	Secret func(config.SecretRef) (string, error)
	// Registerer gets failover_hook_runs_total. Nil registers nothing.
	Registerer prometheus.Registerer
	// Logger gets one line per hook run; nil means slog.Default().
	Logger *slog.Logger
	// AWSConfig loads the AWS configuration of an aws_autoscaling hook's
	// region. Nil means the SDK's default chain.
	AWSConfig func(ctx context.Context, region string) (aws.Config, error)
	// Backoff spaces retries; zero means DefaultBackoff.
	Backoff Backoff
	// PollInterval is how often an aws_autoscaling hook polls its group;
	// zero means DefaultPollInterval.
	PollInterval time.Duration
	// Transport carries webhooks; nil means a clone of
	// http.DefaultTransport (which honours the proxy environment).
	Transport http.RoundTripper
	// Now stamps webhooks and events; nil means time.Now.
	Now func() time.Time
}

func (o *Options) backoff() Backoff {
	if o.Backoff.Min <= 0 || o.Backoff.Max < o.Backoff.Min {
		return DefaultBackoff
	}
	return o.Backoff
}

func (o *Options) transport() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	return http.DefaultTransport.(*http.Transport).Clone()
}

func (o *Options) now() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// runner is one hook type's implementation. It fills res (OK, Attempts,
// Error, Output, ...) and returns when done or when ctx ends.
type runner interface {
	run(ctx context.Context, ev Event, body []byte, res *Result)
}

type hook struct {
	name, typ string
	timeout   time.Duration
	impl      runner
}

// Runner runs hooks by name. It is safe for concurrent use.
type Runner struct {
	hooks map[string]*hook
	runs  *prometheus.CounterVec
	log   *slog.Logger
	now   func() time.Time
}

// New checks the hooks, resolves the webhooks' secrets and sets up the AWS
// clients. An error names the hook, never a secret's value.
func New(opts Options) (*Runner, error) {
	r := &Runner{hooks: map[string]*hook{}, log: opts.Logger, now: opts.now()}
	if r.log == nil {
		r.log = slog.Default()
	}
	resolve := opts.Secret
	if resolve == nil {
		resolve = func(ref config.SecretRef) (string, error) { return ref.Resolve(nil) }
	}
	for _, c := range opts.Hooks {
		if _, dup := r.hooks[c.Name]; dup || c.Name == "" {
			return nil, fmt.Errorf("hooks: hook name %q is empty or used twice", c.Name)
		}
		h, err := newHook(c, resolve, &opts)
		if err != nil {
			return nil, fmt.Errorf("hooks: %s: %w", c.Name, err)
		}
		r.hooks[c.Name] = h
	}
	runs, err := runsCounter(opts.Registerer)
	if err != nil {
		return nil, err
	}
	r.runs = runs
	return r, nil
}

func newHook(c config.Hook, resolve func(config.SecretRef) (string, error), o *Options) (*hook, error) {
	h := &hook{name: c.Name, typ: c.Type, timeout: c.Timeout}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	if c.Retries < 0 {
		return nil, fmt.Errorf("retries: must not be negative, got %d", c.Retries)
	}
	switch c.Type {
	case config.HookWebhook:
		if c.Secret().IsZero() {
			return nil, errors.New("a webhook needs secret_env or secret_file")
		}
		secret, err := resolve(c.Secret())
		if err != nil {
			return nil, err
		}
		key, err := ParseSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Secret(), err)
		}
		h.impl, err = newWebhook(c.Name, c.URL, key, c.Retries, h.timeout, o)
		if err != nil {
			return nil, err
		}
	case config.HookExec:
		if len(c.Command) == 0 || c.Command[0] == "" {
			return nil, errors.New("command: the program and its arguments are required")
		}
		h.impl = &execHook{name: c.Name, argv: slices.Clone(c.Command), retries: c.Retries, backoff: o.backoff()}
	case config.HookAWSAutoscaling:
		a, err := newAutoscaling(c.Group, c.DesiredCapacity, c.MinInService, c.Region, c.Endpoint, c.Retries, o)
		if err != nil {
			return nil, err
		}
		h.impl = a
	default:
		return nil, fmt.Errorf("unknown type %q", c.Type)
	}
	return h, nil
}

// runsCounter creates failover_hook_runs_total on reg, or takes the one
// already there.
func runsCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "failover_hook_runs_total",
		Help: "Hook runs by hook and result (ok, timeout, error).",
	}, []string{"hook", "result"})
	if reg == nil {
		return cv, nil
	}
	if err := reg.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("hooks: register metrics: %w", err)
	}
	return cv, nil
}

// Close closes the idle connections of the webhooks. The Runner stays
// usable.
func (r *Runner) Close() {
	for _, h := range r.hooks {
		if w, ok := h.impl.(*webhook); ok {
			w.client.CloseIdleConnections()
		}
	}
}

// Has reports whether a hook of that name is configured.
func (r *Runner) Has(name string) bool {
	_, ok := r.hooks[name]
	return ok
}

// Run runs the named hooks for ev concurrently, each within its timeout
// and within ctx, and returns their results in the order of names. An
// event without an ID gets a random one and one without a time gets now,
// so every hook sees the same event. An unknown name gets a failed Result.
//
// Run returns when every hook has returned. A webhook or an
// aws_autoscaling hook returns by its timeout; an exec hook is killed at
// its timeout and returns once its output is collected, at most about a
// second later even if a process that left its group holds the output
// open.
func (r *Runner) Run(ctx context.Context, names []string, ev Event) []Result {
	if ev.ID == "" {
		ev.ID = NewEventID()
	}
	if ev.Time.IsZero() {
		ev.Time = r.now().UTC()
	}
	results := make([]Result, len(names))
	body, err := json.Marshal(ev)
	if err != nil {
		for i, name := range names {
			results[i] = Result{Hook: name, Error: "hooks: encode the event: " + err.Error()}
			r.record(&results[i], ev)
		}
		return results
	}
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { results[i] = r.runOne(ctx, name, ev, body) })
	}
	wg.Wait()
	return results
}

func (r *Runner) runOne(ctx context.Context, name string, ev Event, body []byte) Result {
	h, ok := r.hooks[name]
	if !ok {
		res := Result{Hook: name, Error: fmt.Sprintf("hooks: unknown hook %q", name)}
		r.record(&res, ev)
		return res
	}
	res := Result{Hook: name, Type: h.typ}
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, h.timeout)
	h.impl.run(hctx, ev, body, &res)
	timedOut := errors.Is(hctx.Err(), context.DeadlineExceeded)
	cancel()
	res.Duration = time.Since(start)
	switch {
	case res.OK:
		res.Timeout, res.Error = false, ""
	case timedOut:
		res.Timeout = true
		if res.Error == "" {
			res.Error = fmt.Sprintf("hooks: %s: timed out after %s", name, h.timeout)
		}
	case ctx.Err() != nil && res.Error == "":
		res.Error = fmt.Sprintf("hooks: %s: canceled", name)
	}
	r.record(&res, ev)
	return res
}

// record counts and logs one run.
func (r *Runner) record(res *Result, ev Event) {
	r.runs.WithLabelValues(res.Hook, res.MetricResult()).Inc()
	log := r.log.With("hook", res.Hook, "type", res.Type, "event", string(ev.Type), "event_id", ev.ID,
		"service", ev.Service, "target", ev.Target, "attempts", res.Attempts, "duration", res.Duration)
	if res.OK {
		log.Info("hook ran")
		return
	}
	log.Warn("hook failed", "result", res.MetricResult(), "error", res.Error)
}
