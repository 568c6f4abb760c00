// Package route53 publishes a service's routing as Amazon Route 53 weighted
// record sets, through aws-sdk-go-v2.
//
// Each target of a service has one weighted record set at the service's
// record name: SetIdentifier is the target's name, Weight its weight, type
// and values its answer, TTL the service's. Every target keeps its set;
// a target that gets no traffic has weight 0 rather than no set. Route 53
// takes 0 as a weight, and a set that always exists keeps each write an
// UPSERT of one set per changed target: no CREATE that can collide, no
// DELETE that must match exactly, and a rollback that is just another
// weight change. (Were every weight of a group 0, Route 53 would split
// traffic evenly; failover's weights always sum to 100, so that cannot
// happen.)
//
// Apply lists the sets at the name (following pagination), computes the
// changes as a pure plan, and sends them as one ChangeResourceRecordSets
// batch, which Route 53 applies atomically, so a change is never partly
// applied. Nothing to change sends nothing. It can wait for the change to
// be INSYNC, and it always reads back and compares.
//
// Every request passes through an account-wide rate limiter (see
// SharedLimiter). Throttling, HTTP 429 and PriorRequestNotComplete are
// retried with jittered exponential backoff within a retry budget and then
// returned wrapping dnsswitch.ErrRetryable; refused credentials wrap
// dnsswitch.ErrAuth; InvalidChangeBatch, NoSuchHostedZone and InvalidInput
// are hard errors carrying the API's message (see Error).
package route53

import (
	"context"
	"errors"
	"fmt"
	"github.com/aws/smithy-go/logging"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

var _ dnsswitch.Provider = (*Provider)(nil)

// Defaults of Options.
const (
	DefaultRegion       = "us-east-1"
	DefaultRateLimit    = 5.0 // requests per second: Route 53's per-account budget
	DefaultTimeout      = 60 * time.Second
	DefaultMaxRetries   = 4
	DefaultPollInterval = 5 * time.Second
)

// Options configures a Provider.
type Options struct {
	// Name is the provider's name in the config.
	Name string
	// HostedZoneID is the zone's id, "Z123" (a "/hostedzone/" prefix is
	// accepted).
	HostedZoneID string
	// Region signs the requests; Route 53 is global. Default us-east-1.
	Region string
	// Endpoint, when set, is the base URL of the API (tests point it at a
	// fake).
	Endpoint string
	// WaitInsync makes Apply wait, after a change, until GetChange reports
	// it INSYNC on every Route 53 name server, polling every PollInterval,
	// within Timeout.
	WaitInsync   bool
	PollInterval time.Duration
	// RateLimit is the request budget in requests per second, default 5.
	// It is account-wide: unless Limiter is set, every provider of the
	// process with the same Account and Endpoint shares one limiter, which
	// keeps the lowest RateLimit any of them asked for.
	RateLimit float64
	// Account names the AWS account whose budget the provider draws on,
	// for a process that uses several. Empty: the default credentials'.
	Account string
	// Limiter, when set, replaces the shared limiter.
	Limiter Limiter
	// Timeout bounds one Read or one Apply, retries and the INSYNC wait
	// included. Default 60s.
	Timeout time.Duration
	// MaxRetries is how many times a soft failure is retried: 0 means
	// the default (4), a negative value none.
	MaxRetries int
	// Backoff gives the wait before the n-th retry (n from 1). Default:
	// Backoff(200ms, 5s), jittered exponential.
	Backoff func(n int) time.Duration
	// Logger receives retries and changes. Default: discard.
	Logger *slog.Logger

	// AWSConfig, when set, is used instead of the standard AWS chain
	// (config.LoadDefaultConfig): tests give static credentials and their
	// own HTTP client this way.
	AWSConfig *aws.Config
	// Credentials, when set, replaces the configuration's credentials.
	Credentials aws.CredentialsProvider

	// clock is the time source of the retry and poll waits; tests set a
	// virtual one.
	clock clock
}

// Provider is a Route 53 backend. It is safe for concurrent use.
type Provider struct {
	name       string
	zone       string
	client     *r53.Client
	limiter    Limiter
	waitInsync bool
	poll       time.Duration
	timeout    time.Duration
	maxRetries int
	backoff    func(int) time.Duration
	clock      clock
	log        *slog.Logger
}

// New builds a provider. Credentials come from the standard AWS chain
// (environment, shared config and credentials files, SSO, web identity,
// container and instance roles) unless o.AWSConfig or o.Credentials is set.
// It makes no request.
func New(ctx context.Context, o Options) (*Provider, error) {
	if o.Name == "" {
		return nil, errors.New("route53: no provider name")
	}
	zone := o.HostedZoneID[strings.LastIndex(o.HostedZoneID, "/")+1:]
	if zone == "" {
		return nil, fmt.Errorf("route53: provider %q: no hosted zone id", o.Name)
	}
	if o.RateLimit < 0 {
		return nil, fmt.Errorf("route53: provider %q: rate limit %v is negative", o.Name, o.RateLimit)
	}
	region := o.Region
	if region == "" {
		region = DefaultRegion
	}

	var cfg aws.Config
	if o.AWSConfig != nil {
		cfg = o.AWSConfig.Copy()
	} else {
		var err error
		cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithLogger(sdkLogger{o.Logger}))
		if err != nil {
			return nil, fmt.Errorf("route53: provider %q: aws config: %w", o.Name, err)
		}
	}
	if cfg.Region == "" {
		cfg.Region = region
	}
	if o.Credentials != nil {
		cfg.Credentials = o.Credentials
	}
	if cfg.Credentials != nil {
		cfg.Credentials = markedCredentials{cfg.Credentials}
	}
	client := r53.NewFromConfig(cfg, func(co *r53.Options) {
		// Retries are ours (see do), so that each one passes the limiter
		// and a change of unknown outcome is never sent twice.
		co.Retryer = aws.NopRetryer{}
		if o.Endpoint != "" {
			co.BaseEndpoint = aws.String(o.Endpoint)
		}
	})

	p := &Provider{
		name:       o.Name,
		zone:       zone,
		client:     client,
		limiter:    o.Limiter,
		waitInsync: o.WaitInsync,
		poll:       o.PollInterval,
		timeout:    o.Timeout,
		maxRetries: o.MaxRetries,
		backoff:    o.Backoff,
		clock:      o.clock,
		log:        o.Logger,
	}
	rate := o.RateLimit
	if rate == 0 {
		rate = DefaultRateLimit
	}
	if p.limiter == nil {
		p.limiter = SharedLimiter(o.Account, o.Endpoint, rate)
	}
	if p.poll <= 0 {
		p.poll = DefaultPollInterval
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	switch {
	case p.maxRetries == 0:
		p.maxRetries = DefaultMaxRetries
	case p.maxRetries < 0:
		p.maxRetries = 0
	}
	if p.backoff == nil {
		p.backoff = Backoff(200*time.Millisecond, 5*time.Second)
	}
	if p.clock == nil {
		p.clock = realClock{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("provider", o.Name, "zone", zone)
	return p, nil
}

// Name is the provider's name in the config.
func (p *Provider) Name() string { return p.name }

// Capabilities: weighted record sets carry weights.
func (p *Provider) Capabilities() dnsswitch.Capabilities {
	return dnsswitch.Capabilities{Weighted: true}
}

// Read returns the weights of the service's weighted sets. A set at the
// record's name with a routing type (A, AAAA, CNAME) that is not one of
// the service's (simple, alias, another routing policy, an unknown
// SetIdentifier) is an error wrapping dnsswitch.ErrForeign. Sets of other
// types at the name are ignored.
func (p *Provider) Read(ctx context.Context, svc dnsswitch.Service) (dnsswitch.Routing, error) {
	if err := checkService(svc); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	_, r, err := p.read(ctx, svc, "list record sets")
	return r, err
}

func (p *Provider) read(ctx context.Context, svc dnsswitch.Service, op string) (map[string][]types.ResourceRecordSet, dnsswitch.Routing, error) {
	sets, err := p.list(ctx, svc.Record, op)
	if err != nil {
		return nil, nil, err
	}
	own, err := ownSets(svc, sets)
	if err != nil {
		return nil, nil, err
	}
	return own, routingFrom(svc, own), nil
}

// maxPages bounds a listing, against a server that never stops paging.
const maxPages = 1000

// list returns the sets at name, every page of them. The listing starts at
// name and is sorted by name, so the first set of another name ends it.
func (p *Provider) list(ctx context.Context, name, op string) ([]types.ResourceRecordSet, error) {
	want := canonicalName(name)
	in := &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(p.zone), StartRecordName: aws.String(name)}
	var sets []types.ResourceRecordSet
	for page := 1; ; page++ {
		var out *r53.ListResourceRecordSetsOutput
		err := p.do(ctx, op, true, func(ctx context.Context) error {
			var err error
			out, err = p.client.ListResourceRecordSets(ctx, in)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range out.ResourceRecordSets {
			if canonicalName(aws.ToString(s.Name)) != want {
				return sets, nil
			}
			sets = append(sets, s)
		}
		if !out.IsTruncated || out.NextRecordName == nil || canonicalName(*out.NextRecordName) != want {
			return sets, nil
		}
		next := &r53.ListResourceRecordSetsInput{HostedZoneId: in.HostedZoneId,
			StartRecordName: out.NextRecordName, StartRecordType: out.NextRecordType,
			StartRecordIdentifier: out.NextRecordIdentifier}
		if aws.ToString(next.StartRecordName) == aws.ToString(in.StartRecordName) &&
			next.StartRecordType == in.StartRecordType &&
			aws.ToString(next.StartRecordIdentifier) == aws.ToString(in.StartRecordIdentifier) {
			return nil, fmt.Errorf("route53: %s: page %d leads back to itself", op, page)
		}
		if page >= maxPages {
			return nil, fmt.Errorf("route53: %s: more than %d pages at %s", op, maxPages, name)
		}
		in = next
	}
}

// Apply publishes desired (weights 0..100 over known targets, summing to
// 100) as one change batch, waits for INSYNC when asked to, and reads
// back. It sends nothing when the sets already are as desired. It refuses
// (dnsswitch.ErrForeign) to write beside sets that are not the service's.
func (p *Provider) Apply(ctx context.Context, svc dnsswitch.Service, desired dnsswitch.Routing, opts dnsswitch.ApplyOptions) error {
	if err := checkService(svc); err != nil {
		return err
	}
	if err := checkRouting(svc, desired); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	log := p.log.With("service", svc.Name, "record", svc.Record, "generation", opts.Generation)

	own, actual, err := p.read(ctx, svc, "list record sets")
	if err != nil {
		return err
	}
	changes := planChanges(svc, desired, own)
	if len(changes) == 0 {
		return nil
	}
	if len(changes) > maxChanges {
		return fmt.Errorf("route53: %s: %w: %d, at most %d", svc.Record, errTooManyChanges, len(changes), maxChanges)
	}
	in := &r53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(p.zone),
		ChangeBatch: &types.ChangeBatch{
			Comment: aws.String(fmt.Sprintf("failover: service %s generation %d", svc.Name, opts.Generation)),
			Changes: changes,
		},
	}
	var out *r53.ChangeResourceRecordSetsOutput
	err = p.do(ctx, "change batch", false, func(ctx context.Context) error {
		var err error
		out, err = p.client.ChangeResourceRecordSets(ctx, in)
		return err
	})
	if err != nil {
		return err
	}
	id := ""
	if out.ChangeInfo != nil {
		id = aws.ToString(out.ChangeInfo.Id)
	}
	want := dnsswitch.Effective(p.Capabilities(), svc, desired)
	log.Info("route53 change submitted", "change", id, "changes", len(changes), "from", actual.String(), "to", want.String())

	if p.waitInsync && (out.ChangeInfo == nil || out.ChangeInfo.Status != types.ChangeStatusInsync) {
		if err := p.waitForInsync(ctx, id); err != nil {
			return err
		}
	}

	_, got, err := p.read(ctx, svc, "read back: list record sets")
	if err != nil {
		return err
	}
	if !got.Equal(want) {
		return fmt.Errorf("route53: %s: change %s: %w: wrote %s, read %s", svc.Record, id, dnsswitch.ErrVerify, want, got)
	}
	return nil
}

// waitForInsync polls GetChange until the change is INSYNC or ctx ends.
func (p *Provider) waitForInsync(ctx context.Context, id string) error {
	op := "wait for INSYNC of change " + id
	for {
		if err := sleep(ctx, p.clock, p.poll); err != nil {
			return classify(op, err)
		}
		var out *r53.GetChangeOutput
		err := p.do(ctx, op, true, func(ctx context.Context) error {
			var err error
			out, err = p.client.GetChange(ctx, &r53.GetChangeInput{Id: aws.String(id)})
			return err
		})
		if err != nil {
			return err
		}
		if out.ChangeInfo != nil && out.ChangeInfo.Status == types.ChangeStatusInsync {
			return nil
		}
	}
}

// sdkLogger sends the AWS SDK's own log lines (for example about the
// credential chain) to the provider's slog logger at debug level, instead of
// the SDK's default of standard error.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	if l.log == nil {
		return
	}
	l.log.Debug("aws sdk: "+fmt.Sprintf(format, v...), "classification", string(c))
}
