package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	withNewline := writeFile(t, dir, "nl", "hunter2-file\n")
	withCRLF := writeFile(t, dir, "crlf", "hunter2-crlf\r\n")
	empty := writeFile(t, dir, "empty", "\n")
	big := writeFile(t, dir, "big", strings.Repeat("x", MaxSecretSize+1))
	exact := writeFile(t, dir, "exact", strings.Repeat("y", MaxSecretSize))
	missing := filepath.Join(dir, "missing")
	env := func(k string) (string, bool) {
		switch k {
		case "SET":
			return "hunter2-env", true
		case "EMPTY":
			return "", true
		}
		return "", false
	}
	tests := []struct {
		name        string
		ref         SecretRef
		want        string
		err         string // the error, with DIR for the temp dir
		unavailable bool
	}{
		{name: "env", ref: SecretRef{Env: "SET"}, want: "hunter2-env"},
		{name: "file trims newline", ref: SecretRef{File: withNewline}, want: "hunter2-file"},
		{name: "file trims crlf", ref: SecretRef{File: withCRLF}, want: "hunter2-crlf"},
		{name: "file of the size limit", ref: SecretRef{File: exact}, want: strings.Repeat("y", MaxSecretSize)},
		{name: "unset env", ref: SecretRef{Env: "UNSET"}, err: "secret: environment variable UNSET is not set", unavailable: true},
		{name: "empty env", ref: SecretRef{Env: "EMPTY"}, err: "secret: environment variable EMPTY is not set", unavailable: true},
		{name: "missing file", ref: SecretRef{File: missing}, err: "secret: cannot read file DIR/missing: no such file or directory", unavailable: true},
		{name: "directory", ref: SecretRef{File: dir}, err: "secret: cannot read file DIR: is a directory", unavailable: true},
		{name: "empty file", ref: SecretRef{File: empty}, err: "secret: file DIR/empty is empty"},
		{name: "too big", ref: SecretRef{File: big}, err: fmt.Sprintf("secret: file DIR/big is larger than %d bytes", MaxSecretSize)},
		{name: "both", ref: SecretRef{Env: "SET", File: withNewline}, err: "secret: both an environment variable and a file are given"},
		{name: "neither", ref: SecretRef{}, err: "secret: neither an environment variable nor a file is given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ref.Resolve(env)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve = %.40q, %v; want %.40q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %q, want an error", got)
			}
			if msg := strings.ReplaceAll(err.Error(), dir, "DIR"); msg != tt.err {
				t.Errorf("error %q, want %q", msg, tt.err)
			}
			if errors.Is(err, ErrSecretUnavailable) != tt.unavailable {
				t.Errorf("errors.Is(err, ErrSecretUnavailable) = %v, want %v", !tt.unavailable, tt.unavailable)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// secretsConfig uses a token file, a TSIG key file and webhook and
// cloudflare secrets from the environment.
const secretsConfig = `
auth:
  tokens:
    - {name: ops, role: operator, token_file: %s}
dns:
  providers:
    - {name: bind, type: rfc2136, server: "192.0.2.53:53", zone: example.com., tsig: {name: k., algorithm: hmac-sha256, secret_file: %s}}
    - {name: cf, type: cloudflare, zone_id: z, api_token_env: CF_TOKEN}
hooks:
  - {name: scale, type: webhook, url: "https://ops.example.com/scale", secret_env: HOOK_SECRET}
services:
  - name: www
    record: www.example.com.
    provider: bind
    targets:
      - {name: primary, role: primary, answer: {type: A, values: [192.0.2.1]}, probe: {url: "https://www.example.com/healthz"}}
      - {name: backup, role: backup, answer: {type: A, values: [192.0.2.2]}, probe: {url: "https://www.example.com/healthz"}}
    policy: {failback: {steps: [100]}}
`

func TestSecretsWarningOrError(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "ops.token")
	tsigFile := filepath.Join(dir, "tsig.key")
	data := fmt.Sprintf(secretsConfig, tokenFile, tsigFile)
	missing := []string{
		"auth.tokens[0].token_file: cannot read file DIR/ops.token: no such file or directory",
		"dns.providers[0].tsig.secret_file: cannot read file DIR/tsig.key: no such file or directory",
		"dns.providers[1].api_token_env: environment variable CF_TOKEN is not set",
		"hooks[0].secret_env: environment variable HOOK_SECRET is not set",
	}
	render := func(ps []Problem) []string {
		out := lines(ps)
		for i := range out {
			out[i] = strings.ReplaceAll(out[i], dir, "DIR")
		}
		return out
	}

	// Nothing available: warnings, and the config loads.
	cfg, ps, err := Parse([]byte(data), Options{Env: emptyEnv})
	if err != nil || cfg == nil {
		t.Fatalf("Parse without RequireSecrets: %v", err)
	}
	var want []string
	for _, m := range missing {
		want = append(want, "warning: "+m)
	}
	if diff := cmp.Diff(want, render(ps)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	// Nothing available, secrets required: the same problems, as errors.
	_, ps, err = Parse([]byte(data), Options{Env: emptyEnv, RequireSecrets: true})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse with RequireSecrets: %v, want a ValidationError", err)
	}
	if diff := cmp.Diff(missing, render(ps)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	// Everything available: no problems, with or without RequireSecrets.
	writeFile(t, dir, "ops.token", "ops-token-value\n")
	writeFile(t, dir, "tsig.key", "c2VjcmV0\n")
	for _, require := range []bool{false, true} {
		_, ps, err = Parse([]byte(data), Options{Env: testEnv, RequireSecrets: require})
		if err != nil || len(ps) != 0 {
			t.Errorf("RequireSecrets %v: %v %v", require, err, lines(ps))
		}
	}

	// A secret that is there but wrong is an error even without
	// RequireSecrets.
	writeFile(t, dir, "tsig.key", "not base64!\n")
	writeFile(t, dir, "ops.token", "")
	_, ps, _ = Parse([]byte(data), Options{Env: testEnv})
	want = []string{
		"auth.tokens[0].token_file: file DIR/ops.token is empty",
		"dns.providers[0].tsig.secret_file: the TSIG secret is not valid base64",
	}
	if diff := cmp.Diff(want, render(ps)); diff != "" {
		t.Errorf("bad secrets (-want +got):\n%s", diff)
	}
}

// TestSecretsNeverShown puts one distinctive secret in every secret slot of
// a config that has problems everywhere, and checks that it shows up in no
// problem and no error.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "S3CRET-do-not-print-0xdeadbeef"
	dir := t.TempDir()
	file := writeFile(t, dir, "secret", secret+"\n")
	env := func(name string) (string, bool) {
		if strings.HasPrefix(name, EnvPrefix+"_") {
			return "", false
		}
		return secret, true
	}
	data := fmt.Sprintf(`
controller: {listen: nowhere}
auth:
  tokens:
    - {name: ops, role: operator, token_file: %[1]s}
    - {name: env, role: root, token_env: OPS}
dns:
  providers:
    - {name: bind, type: rfc2136, server: "192.0.2.53:53", zone: example.com., tsig: {name: k., algorithm: hmac-sha256, secret_file: %[1]s}}
    - {name: cf, type: cloudflare, mode: load_balancer, api_token_file: %[1]s}
hooks:
  - {name: scale, type: webhook, url: "https://user:%[2]s@ops.example.com/scale", secret_env: HOOK_SECRET}
services:
  - name: www
    record: www.example.com
    provider: bind
    targets:
      - {name: primary, role: primary, answer: {type: A, values: [192.0.2.1]}, probe: {url: "https://www.example.com/healthz", headers: {Authorization: "Bearer %[2]s"}}}
      - {name: backup, role: primary, answer: {type: A, values: [192.0.2.2]}, probe: {url: "https://x:%[2]s@www.example.com/healthz"}}
`, file, secret)
	for _, require := range []bool{false, true} {
		_, ps, err := Parse([]byte(data), Options{Env: env, RequireSecrets: require})
		if err == nil {
			t.Fatal("Parse succeeded; the test needs problems")
		}
		if len(ps) < 8 {
			t.Errorf("only %d problems: %v", len(ps), lines(ps))
		}
		for _, p := range ps {
			if strings.Contains(p.String(), secret) {
				t.Errorf("problem shows the secret: %s", p)
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	// The same with the file removed, so that the unavailable-secret paths
	// run too.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	_, ps, _ := Parse([]byte(data), Options{Env: env})
	for _, p := range ps {
		if strings.Contains(p.String(), secret) {
			t.Errorf("problem shows the secret: %s", p)
		}
	}
}
