package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `failover lab fault` finds the token of a lab started with --data DIR: by
// --data, or through the record the running lab writes.
func TestLabTokenFindsTheRunningLab(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	noenv := func(string) string { return "" }
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "operator.token"), []byte("tok-of-dir\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := labToken("", "", noenv); err == nil || !strings.Contains(err.Error(), "no operator token") {
		t.Fatalf("no lab: err %v", err)
	}
	if tok, err := labToken("", dir, noenv); err != nil || tok != "tok-of-dir" {
		t.Fatalf("--data: %q, %v", tok, err)
	}
	remove, err := writeLabCurrent(labCurrent{DataDir: dir, Server: "http://127.0.0.1:9999"})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := labToken("", "", noenv); err != nil || tok != "tok-of-dir" {
		t.Fatalf("running lab: %q, %v", tok, err)
	}
	if cur, ok := readLabCurrent(); !ok || cur.Server != "http://127.0.0.1:9999" || cur.PID != os.Getpid() {
		t.Fatalf("record: %+v %v", cur, ok)
	}
	// FAILOVER_TOKEN still wins.
	if tok, _ := labToken("", "", func(k string) string {
		if k == "FAILOVER_TOKEN" {
			return "from-env"
		}
		return ""
	}); tok != "from-env" {
		t.Fatalf("FAILOVER_TOKEN: %q", tok)
	}
	remove()
	if _, ok := readLabCurrent(); ok {
		t.Fatal("the record outlived the lab")
	}
}
