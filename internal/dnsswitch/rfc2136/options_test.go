package rfc2136

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const testSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

func validOptions() Options {
	return Options{
		Name:      "bind",
		Server:    "127.0.0.1:5353",
		Zone:      "example.com.",
		KeyName:   "failover-key.",
		Algorithm: "hmac-sha256",
		Secret:    testSecret,
	}
}

func TestNew(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Options)
		wantErr string // "" means New succeeds
	}{
		{"valid", func(*Options) {}, ""},
		{"default algorithm", func(o *Options) { o.Algorithm = "" }, ""},
		{"algorithm upper case with dot", func(o *Options) { o.Algorithm = "HMAC-SHA512." }, ""},
		{"every algorithm: sha1", func(o *Options) { o.Algorithm = "hmac-sha1" }, ""},
		{"every algorithm: sha224", func(o *Options) { o.Algorithm = "hmac-sha224" }, ""},
		{"every algorithm: sha384", func(o *Options) { o.Algorithm = "hmac-sha384" }, ""},
		{"no name", func(o *Options) { o.Name = "" }, "name is empty"},
		{"key not fully qualified", func(o *Options) { o.KeyName = "failover-key" },
			`tsig key name "failover-key" must be fully qualified (end with a dot: "failover-key.")`},
		{"key not a name", func(o *Options) { o.KeyName = "bad..key." }, `tsig key name "bad..key." is not a valid domain name`},
		{"no key", func(o *Options) { o.KeyName = "" }, "tsig key name is empty"},
		{"zone not fully qualified", func(o *Options) { o.Zone = "example.com" }, `zone "example.com" must be fully qualified`},
		{"md5", func(o *Options) { o.Algorithm = "hmac-md5" }, `tsig algorithm "hmac-md5" is not supported`},
		{"secret not base64", func(o *Options) { o.Secret = "not base64 at all!" }, "tsig secret is not valid base64"},
		{"no secret", func(o *Options) { o.Secret = "" }, "tsig secret is empty"},
		{"no server", func(o *Options) { o.Server = "" }, "server is empty"},
		{"server without host", func(o *Options) { o.Server = ":53" }, `server ":53": want host:port`},
		{"server garbage", func(o *Options) { o.Server = "a:b:c" }, `server "a:b:c": want host:port`},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "timeout is negative"},
		{"several problems", func(o *Options) { o.Zone, o.KeyName = "", "k" },
			`rfc2136 bind: zone is empty; tsig key name "k" must be fully qualified`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := validOptions()
			c.edit(&o)
			p, err := New(o)
			if c.wantErr == "" {
				if err != nil || p == nil {
					t.Fatalf("New = %v, %v; want a provider", p, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New = nil error, want %q", c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("New = %q, want it to contain %q", err, c.wantErr)
			}
			if o.Secret != "" && strings.Contains(err.Error(), o.Secret) {
				t.Errorf("New = %q holds the secret", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	cases := []struct{ server, want string }{
		{"127.0.0.1:5353", "127.0.0.1:5353"},
		{"ns1.example.com", "ns1.example.com:53"},
		{"192.0.2.53", "192.0.2.53:53"},
		{"2001:db8::53", "[2001:db8::53]:53"},
		{"[2001:db8::53]:5353", "[2001:db8::53]:5353"},
	}
	for _, c := range cases {
		o := validOptions()
		o.Server, o.Algorithm, o.Zone = c.server, "", "Example.COM."
		p, err := New(o)
		if err != nil {
			t.Fatalf("New(server %q): %v", c.server, err)
		}
		if p.server != c.want || p.timeout != DefaultTimeout || p.algName != DefaultAlgorithm || p.zone != "example.com." {
			t.Errorf("New(server %q): server %q, timeout %v, algorithm %q, zone %q; want %q, %v, %q, %q",
				c.server, p.server, p.timeout, p.algName, p.zone, c.want, DefaultTimeout, DefaultAlgorithm, "example.com.")
		}
	}
}

// TestSecretHidden: printing or logging the options or the provider never
// shows the secret.
func TestSecretHidden(t *testing.T) {
	o := validOptions()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "options", o, "provider", p)
	outputs := map[string]string{
		"%v options":   fmt.Sprintf("%v", o),
		"%+v options":  fmt.Sprintf("%+v", o),
		"%#v options":  fmt.Sprintf("%#v", o),
		"%+v provider": fmt.Sprintf("%+v", p),
		"%#v provider": fmt.Sprintf("%#v", p),
		"%v *provider": fmt.Sprintf("%v", *p),
		"slog":         logged.String(),
	}
	for what, out := range outputs {
		if strings.Contains(out, o.Secret) {
			t.Errorf("%s shows the secret: %s", what, out)
		}
		if !strings.Contains(out, "failover-key.") {
			t.Errorf("%s does not name the key: %s", what, out)
		}
	}
}
