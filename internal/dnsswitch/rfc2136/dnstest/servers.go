package dnstest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// StartBIND starts BIND 9 (named) serving cfg and stops it when the test
// ends. Running as root, named runs as the user nobody.
func StartBIND(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	return start(tb, daemon{kind: "bind", binary: "named", pkg: "bind9", write: writeBIND}, cfg)
}

// StartKnot starts Knot DNS (knotd) serving cfg and stops it when the test
// ends. Running as root, knotd runs as the user nobody.
func StartKnot(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	return start(tb, daemon{kind: "knot", binary: "knotd", pkg: "knot", write: writeKnot}, cfg)
}

// writeBIND writes named.conf and the zone files into dir.
//
// named runs in the foreground (-g, logging to stderr), IPv4 only, with no
// control channel, no recursion and no pid file; every file it writes (the
// journals) stays in dir.
func writeBIND(dir string, port int, cfg Config, _ *account) ([]string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `options {
	directory %q;
	pid-file none;
	session-keyfile none;
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
	allow-transfer { none; };
	minimal-responses yes;
};
controls { };
`, dir, port)
	for _, k := range cfg.Keys {
		fmt.Fprintf(&b, "key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", dns.Fqdn(k.Name), k.Algorithm, k.Secret)
	}
	for _, z := range cfg.Zones {
		fmt.Fprintf(&b, "zone %q {\n\ttype primary;\n\tfile %q;\n", dns.Fqdn(z.Name), zoneFileName(z))
		if len(z.Grants) == 0 {
			b.WriteString("\tallow-update { none; };\n")
		} else {
			b.WriteString("\tupdate-policy {\n")
			for _, g := range z.Grants {
				types := "ANY"
				if len(g.Types) > 0 {
					types = strings.Join(g.Types, " ")
				}
				fmt.Fprintf(&b, "\t\tgrant %s zonesub %s;\n", dns.Fqdn(g.Key), types)
			}
			b.WriteString("\t};\n")
		}
		b.WriteString("};\n")
		if err := os.WriteFile(filepath.Join(dir, zoneFileName(z)), zoneFile(z), 0o644); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(conf, b.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return []string{"-g", "-4", "-n", strconv.Itoa(cfg.workers()), "-c", conf}, nil
}

// writeKnot writes knot.conf and the zone files into dir.
//
// knotd runs in the foreground, logging to stderr, with its control socket,
// pid file and databases in dir. It never writes the zone file back
// (zonefile-sync: -1); updates live in its journal.
func writeKnot(dir string, port int, cfg Config, _ *account) ([]string, error) {
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o755); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w := cfg.workers()
	fmt.Fprintf(&b, `server:
    rundir: %q
    listen: 127.0.0.1@%d
    udp-workers: %d
    tcp-workers: %d
    background-workers: 1

control:
    listen: %q

database:
    storage: %q

log:
  - target: stderr
    any: info

`, dir, port, w, w, filepath.Join(dir, "knot.sock"), filepath.Join(dir, "db"))
	if len(cfg.Keys) > 0 {
		b.WriteString("key:\n")
		for _, k := range cfg.Keys {
			fmt.Fprintf(&b, "  - id: %s\n    algorithm: %s\n    secret: %s\n", dns.Fqdn(k.Name), k.Algorithm, k.Secret)
		}
		b.WriteString("\n")
	}
	var acls bytes.Buffer
	zoneACLs := map[string][]string{}
	for _, z := range cfg.Zones {
		for i, g := range z.Grants {
			id := fmt.Sprintf("update-%d-%s", i, dns.Fqdn(z.Name))
			zoneACLs[z.Name] = append(zoneACLs[z.Name], id)
			fmt.Fprintf(&acls, "  - id: %s\n    key: %s\n    action: update\n", id, dns.Fqdn(g.Key))
			if len(g.Types) > 0 {
				fmt.Fprintf(&acls, "    update-type: [%s]\n", strings.Join(g.Types, ", "))
			}
		}
	}
	if acls.Len() > 0 {
		b.WriteString("acl:\n")
		b.Write(acls.Bytes())
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, `template:
  - id: default
    storage: %q
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes

zone:
`, dir)
	for _, z := range cfg.Zones {
		fmt.Fprintf(&b, "  - domain: %s\n    file: %q\n", dns.Fqdn(z.Name), zoneFileName(z))
		if ids := zoneACLs[z.Name]; len(ids) > 0 {
			fmt.Fprintf(&b, "    acl: [%s]\n", strings.Join(ids, ", "))
		}
		if err := os.WriteFile(filepath.Join(dir, zoneFileName(z)), zoneFile(z), 0o644); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(conf, b.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return []string{"-c", conf}, nil
}
