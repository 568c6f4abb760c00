// Package providers builds the configured DNS backends: it turns a
// config.Provider into a dnsswitch.Provider, resolving its secrets, and a
// config.Service into the dnsswitch.Service a backend reads and writes.
package providers

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/builtin"
	"github.com/failoverhq/failover/internal/dnsswitch/cloudflare"
	"github.com/failoverhq/failover/internal/dnsswitch/rfc2136"
	"github.com/failoverhq/failover/internal/dnsswitch/route53"
)

// Options tune Build.
type Options struct {
	// DataDir holds the builtin server's state file, so that what it
	// published survives a restart (and `failover plan` can read it).
	DataDir string
	// Env looks up environment variables for *_env secrets; nil means
	// os.LookupEnv.
	Env func(string) (string, bool)
	// Logger receives the backends' logs; nil discards them.
	Logger *slog.Logger
}

// BuiltinStateFile is where the builtin provider named name keeps what it
// published.
func BuiltinStateFile(dataDir, name string) string {
	return filepath.Join(dataDir, "builtin-"+name+".json")
}

// Build returns the backend for p. It contacts nothing: the first request
// is the caller's first Read or Apply.
func Build(ctx context.Context, p config.Provider, o Options) (dnsswitch.Provider, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("provider", p.Name, "type", p.Type)
	switch p.Type {
	case config.ProviderBuiltin:
		opts := builtin.Options{Name: p.Name, Listen: p.Listen, Zone: p.Zone, NS: p.NS, Logger: log}
		if o.DataDir != "" {
			opts.StateFile = BuiltinStateFile(o.DataDir, p.Name)
		}
		prov, err := builtin.New(opts)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		return prov, nil
	case config.ProviderRoute53:
		prov, err := route53.New(ctx, route53.Options{
			Name: p.Name, HostedZoneID: p.HostedZoneID, Region: p.Region, Endpoint: p.Endpoint,
			WaitInsync: p.WaitInsync, RateLimit: p.RateLimit, Timeout: p.Timeout, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		return prov, nil
	case config.ProviderRFC2136:
		if p.TSIG == nil {
			return nil, fmt.Errorf("provider %s: tsig is required", p.Name)
		}
		secret, err := p.TSIG.Secret().Resolve(o.Env)
		if err != nil {
			return nil, fmt.Errorf("provider %s: tsig secret: %w", p.Name, err)
		}
		prov, err := rfc2136.New(rfc2136.Options{
			Name: p.Name, Server: p.Server, Zone: p.Zone, KeyName: p.TSIG.Name,
			Algorithm: p.TSIG.Algorithm, Secret: secret, Timeout: p.Timeout, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		return prov, nil
	case config.ProviderCloudflare:
		token, err := p.APIToken().Resolve(o.Env)
		if err != nil {
			return nil, fmt.Errorf("provider %s: api token: %w", p.Name, err)
		}
		prov, err := cloudflare.New(cloudflare.Options{
			Name: p.Name, ZoneID: p.ZoneID, AccountID: p.AccountID, PoolID: p.PoolID,
			Mode: cloudflare.Mode(p.Mode), APIToken: token, BaseURL: p.Endpoint, Timeout: p.Timeout, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		return prov, nil
	default:
		return nil, fmt.Errorf("provider %s: unknown type %q", p.Name, p.Type)
	}
}

// Service returns what a backend needs to know of s.
func Service(s config.Service) dnsswitch.Service {
	out := dnsswitch.Service{Name: s.Name, Record: s.Record, TTL: s.TTL, Answers: make([]dnsswitch.Answer, len(s.Targets))}
	for i, t := range s.Targets {
		out.Answers[i] = dnsswitch.Answer{
			Target: t.Name, Type: t.Answer.Type, Values: t.Answer.Values,
			Proxied: t.Answer.Proxied, Origin: t.Answer.Origin,
		}
	}
	return out
}
