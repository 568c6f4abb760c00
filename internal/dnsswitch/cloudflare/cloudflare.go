// Package cloudflare is the dnsswitch backend for Cloudflare, through
// cloudflare-go/v7. It works in one of two modes:
//
//   - dns_record: the service's record is a plain DNS record (or a set of
//     them, for several addresses) that publishes the single highest-weight
//     target: its type, content and proxied flag. Capabilities().Weighted is
//     false, so a ramp becomes one switch.
//   - load_balancer: the targets are the origins of one load balancer pool
//     (origin name = Answer.Origin, or the target's name when that is empty;
//     address = the answer's single value). Apply sets each origin's enabled
//     flag and weight (our 0..100 as Cloudflare's 0..1; weight 0 disables the
//     origin) with a PATCH of the pool, never a PUT: a PUT replaces the whole
//     pool and, without "enabled" in its body, disables it. The pool's own
//     enabled flag is never sent. One pool serves one service.
//
// Every HTTP request, retries included, passes through a Budget (by default
// 1,200 requests per 5 minutes, Cloudflare's limit). The SDK's own retries
// are off: this package retries 429s (honouring Retry-After), 5xx and
// transport errors itself, see Retry.
//
// The API token never appears in an error or a log line.
package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/dns"
	"github.com/cloudflare/cloudflare-go/v7/load_balancers"
	"github.com/cloudflare/cloudflare-go/v7/option"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// Mode is how the provider publishes a service.
type Mode string

// The two modes.
const (
	ModeDNSRecord    Mode = "dns_record"
	ModeLoadBalancer Mode = "load_balancer"
)

// DefaultBaseURL is Cloudflare's v4 API.
const DefaultBaseURL = "https://api.cloudflare.com/client/v4/"

// Options configures a Provider.
type Options struct {
	// Name is the provider's name in the config.
	Name string
	// Mode is ModeDNSRecord or ModeLoadBalancer.
	Mode Mode
	// ZoneID is the zone of the records (dns_record mode).
	ZoneID string
	// AccountID and PoolID name the load balancer pool (load_balancer mode).
	AccountID string
	PoolID    string
	// APIToken is the bearer token, already read from its env var or file.
	APIToken string
	// BaseURL overrides DefaultBaseURL (for a fake).
	BaseURL string
	// Timeout bounds each HTTP request (default 10s).
	Timeout time.Duration
	// Logger gets retries at debug level and published changes at info
	// level. Nil discards.
	Logger *slog.Logger
	// Budget is the request budget; nil makes one of DefaultBudgetRequests
	// per DefaultBudgetPer with DefaultBudgetBurst. Providers that share a
	// token should share a Budget.
	Budget *Budget
	// Retry tunes the retries of soft failures; zero fields take defaults.
	Retry Retry
	// HTTPClient, if set, sends the requests; by default the provider makes
	// its own, which Close releases.
	HTTPClient *http.Client
	// Clock, if set, replaces the wall clock for retry waits and for the
	// default Budget. For tests.
	Clock Clock
}

// Provider publishes services on Cloudflare. It is safe for concurrent use;
// its Applies run one at a time.
type Provider struct {
	name      string
	mode      Mode
	zoneID    string
	accountID string
	poolID    string
	token     string // only to redact it from error text

	records *dns.RecordService
	pools   *load_balancers.PoolService

	budget *Budget
	retry  Retry
	clock  Clock
	log    *slog.Logger
	owned  *http.Client // the client to release on Close, if ours

	mu sync.Mutex // serialises Apply: it reads, then writes
}

var _ dnsswitch.Provider = (*Provider)(nil)

// New checks opts and returns a Provider. It does not call the API.
func New(opts Options) (*Provider, error) {
	var problems []string
	if opts.Name == "" {
		problems = append(problems, "name is empty")
	}
	switch opts.Mode {
	case ModeDNSRecord:
		if opts.ZoneID == "" {
			problems = append(problems, "dns_record mode needs a zone_id")
		}
	case ModeLoadBalancer:
		if opts.AccountID == "" {
			problems = append(problems, "load_balancer mode needs an account_id")
		}
		if opts.PoolID == "" {
			problems = append(problems, "load_balancer mode needs a pool_id")
		}
	default:
		problems = append(problems, fmt.Sprintf("mode %q: want %s or %s", opts.Mode, ModeDNSRecord, ModeLoadBalancer))
	}
	if strings.TrimSpace(opts.APIToken) == "" {
		problems = append(problems, "the API token is empty")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("cloudflare: provider %q: %s", opts.Name, strings.Join(problems, "; "))
	}

	clock := opts.Clock
	if clock == nil {
		clock = realClock{}
	}
	budget := opts.Budget
	if budget == nil {
		var err error
		budget, err = NewBudget(DefaultBudgetRequests, DefaultBudgetPer, DefaultBudgetBurst, clock)
		if err != nil {
			return nil, err
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	baseURL := opts.BaseURL
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}

	p := &Provider{
		name:      opts.Name,
		mode:      opts.Mode,
		zoneID:    opts.ZoneID,
		accountID: opts.AccountID,
		poolID:    opts.PoolID,
		token:     opts.APIToken,
		budget:    budget,
		retry:     opts.Retry.withDefaults(),
		clock:     clock,
		log:       logger.With("provider", opts.Name, "mode", string(opts.Mode)),
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		p.owned = client
	}
	// The services are built directly rather than through
	// cloudflare.NewClient, which would also pick up credentials and a base
	// URL from CLOUDFLARE_* environment variables.
	reqOpts := []option.RequestOption{
		option.WithHTTPClient(client),
		option.WithBaseURL(baseURL),
		option.WithAPIToken(opts.APIToken),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(timeout),
		option.WithMiddleware(p.middleware),
	}
	p.records = dns.NewRecordService(reqOpts...)
	p.pools = load_balancers.NewPoolService(reqOpts...)
	return p, nil
}

// Name is the provider's name in the config.
func (p *Provider) Name() string { return p.name }

// Capabilities: weighted in load_balancer mode, single-target in dns_record
// mode.
func (p *Provider) Capabilities() dnsswitch.Capabilities {
	return dnsswitch.Capabilities{Weighted: p.mode == ModeLoadBalancer}
}

// Close releases the idle connections of the provider's own HTTP client.
func (p *Provider) Close() error {
	if p.owned != nil {
		p.owned.CloseIdleConnections()
	}
	return nil
}

// Read returns the routing published for svc. See the package doc for how
// each mode maps what it finds to targets.
func (p *Provider) Read(ctx context.Context, svc dnsswitch.Service) (dnsswitch.Routing, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cloudflare: read %s: %w", svc.Name, err)
	}
	var (
		r   dnsswitch.Routing
		err error
	)
	switch p.mode {
	case ModeDNSRecord:
		r, err = p.readRecords(ctx, svc)
	default:
		r, err = p.readPool(ctx, svc)
	}
	if err != nil {
		return nil, fmt.Errorf("cloudflare: read %s: %w", svc.Name, err)
	}
	return r, nil
}

// Apply publishes desired for svc, reduced to what the mode can express
// (dnsswitch.Effective), then reads it back. Nothing is written when the
// published state already matches.
func (p *Provider) Apply(ctx context.Context, svc dnsswitch.Service, desired dnsswitch.Routing, opts dnsswitch.ApplyOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cloudflare: apply %s: %w", svc.Name, err)
	}
	if err := dnsswitch.CheckRouting(svc, desired); err != nil {
		return fmt.Errorf("cloudflare: apply %s: %w", svc.Name, err)
	}
	publish := dnsswitch.Effective(p.Capabilities(), svc, desired)

	p.mu.Lock()
	defer p.mu.Unlock()
	var (
		changed bool
		err     error
	)
	switch p.mode {
	case ModeDNSRecord:
		changed, err = p.applyRecords(ctx, svc, publish)
	default:
		changed, err = p.applyPool(ctx, svc, publish)
	}
	if err != nil {
		return fmt.Errorf("cloudflare: apply %s: %w", svc.Name, err)
	}
	if changed {
		p.log.Info("cloudflare: published", "service", svc.Name, "routing", publish.String(), "generation", opts.Generation)
	}
	return nil
}

// errConfig marks a service that the mode cannot publish as configured (a
// record type it does not handle, an answer with several values in a pool).
var errConfig = errors.New("service not publishable")
