package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// warningsConfig builds a config with one service whose provider and
// targets vary.
func warningsConfig(provider, primary, backup, policy string) string {
	return `
dns:
  providers:
    - ` + provider + `
services:
  - name: www
    record: www.example.com.
    provider: p
    targets:
      - ` + primary + `
      - ` + backup + `
` + policy
}

const (
	cloudflareDNS = `{name: p, type: cloudflare, mode: dns_record, zone_id: z, api_token_env: CF}`
	cloudflareLB  = `{name: p, type: cloudflare, mode: load_balancer, account_id: a, pool_id: b, api_token_env: CF}`
	route53       = `{name: p, type: route53, hosted_zone_id: Z1}`
	bind          = `{name: p, type: rfc2136, server: "192.0.2.53:53", zone: example.com., tsig: {name: k., algorithm: hmac-sha512, secret_env: TSIG}}`
	builtin       = `{name: p, type: builtin, listen: "127.0.0.1:8053", zone: example.com., ns: [ns1.example.com.]}`

	onCloudflare = `{name: cf, role: primary, answer: {type: CNAME, values: [www.example.com.cdn.cloudflare.net.]}, probe: {url: "https://www.example.com/"}}`
	cfConnect    = `{name: cf, role: primary, answer: {type: A, values: [192.0.2.1]}, probe: {url: "https://www.example.com/", connect_to: "www.example.com.cdn.cloudflare.net:443"}}`
	onCloudFront = `{name: cloudfront, role: primary, answer: {type: CNAME, values: [d111111abcdef8.cloudfront.net.]}, probe: {url: "https://www.example.com/"}}`
	onFastly     = `{name: fastly, role: primary, answer: {type: CNAME, values: [www.example.com.global.prod.fastly.net.]}, probe: {url: "https://www.example.com/"}}`
	backupCF     = `{name: cf, role: backup, answer: {type: CNAME, values: [www.example.com.cdn.cloudflare.net.]}, probe: {url: "https://www.example.com/"}}`
	backupAkamai = `{name: akamai, role: backup, answer: {type: CNAME, values: [www.example.com.edgekey.net.]}, probe: {url: "https://www.example.com/"}}`
	backupCFNet  = `{name: cloudfront, role: backup, answer: {type: CNAME, values: [d2.cloudfront.net.]}, probe: {url: "https://www.example.com/"}}`
	backupA      = `{name: backup, role: backup, answer: {type: A, values: [192.0.2.2]}, probe: {url: "https://www.example.com/"}}`
	noRamp       = "    policy: {failback: {steps: [100]}}\n"
)

func TestWarnings(t *testing.T) {
	const sameCF = `services[0].provider: the DNS provider "p" (cloudflare) is run by the same company as the primary target "cf" (%s): ` +
		`failing away from a CDN must not depend on that CDN's API; use a DNS provider that the primary CDN does not run`
	const ramp = `services[0].provider: provider "p" (%s) publishes only the highest-weight target, so a ramp becomes one switch`
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "cloudflare dns for a cloudflare primary",
			yaml: warningsConfig(cloudflareDNS, onCloudflare, backupAkamai, noRamp),
			want: []string{strings.Replace(sameCF, "%s", "www.example.com.cdn.cloudflare.net.", 1)},
		},
		{
			name: "cloudflare primary seen through connect_to",
			yaml: warningsConfig(cloudflareLB, cfConnect, `{name: b, role: backup, answer: {origin: akamai}, probe: {url: "https://www.example.com/"}}`, ""),
			want: []string{strings.Replace(sameCF, "%s", "www.example.com.cdn.cloudflare.net", 1)},
		},
		{
			name: "route53 for a cloudfront primary",
			yaml: warningsConfig(route53, onCloudFront, backupCF, ""),
			want: []string{`services[0].provider: the DNS provider "p" (route53) is run by the same company as the primary target "cloudfront" (d111111abcdef8.cloudfront.net.): ` +
				`failing away from a CDN must not depend on that CDN's API; use a DNS provider that the primary CDN does not run`},
		},
		{
			name: "route53 for a cloudflare primary",
			yaml: warningsConfig(route53, onCloudflare, backupCFNet, ""),
		},
		{
			name: "cloudflare dns for a fastly primary with a cloudflare backup",
			yaml: warningsConfig(cloudflareDNS, onFastly, backupCF, noRamp),
		},
		{
			name: "cloudflare dns_record with a ramp",
			yaml: warningsConfig(cloudflareDNS, onFastly, backupAkamai, ""),
			want: []string{strings.Replace(ramp, "%s", "cloudflare, mode dns_record", 1)},
		},
		{
			name: "rfc2136 with a ramp on a target",
			yaml: strings.Replace(warningsConfig(bind, `{name: a, role: primary, answer: {type: A, values: [192.0.2.1]}, probe: {url: "https://www.example.com/"}}`,
				backupA, noRamp), "role: backup,", "role: backup, steps: [50, 100],", 1),
			want: []string{strings.Replace(ramp, "%s", "rfc2136", 1)},
		},
		{
			name: "rfc2136 without a ramp",
			yaml: warningsConfig(bind, `{name: a, role: primary, answer: {type: A, values: [192.0.2.1]}, probe: {url: "https://www.example.com/"}}`, backupA, noRamp),
		},
		{
			name: "builtin ramps",
			yaml: warningsConfig(builtin, `{name: a, role: primary, answer: {type: A, values: [192.0.2.1]}, probe: {url: "https://www.example.com/"}}`, backupA, ""),
		},
		{
			name: "cloudflare load_balancer ramps",
			yaml: warningsConfig(cloudflareLB, onFastly, backupAkamai, ""),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ps, err := Parse([]byte(tt.yaml), Options{Env: testEnv})
			if err != nil || cfg == nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			for _, p := range ps {
				if !p.Warning {
					t.Errorf("not a warning: %s", p)
				}
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
