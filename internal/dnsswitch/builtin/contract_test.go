package builtin

import (
	"io/fs"
	"sync"
	"syscall"
	"testing"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providertest"
)

// contractHarness runs the builtin provider through the contract suite.
// The failures it injects are those of its one write: the state file.
func contractHarness(withStateFile bool) providertest.Harness {
	var (
		mu  sync.Mutex
		cur *Provider
	)
	current := func() *Provider {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
	return providertest.Harness{
		New: func(t *testing.T) (dnsswitch.Provider, dnsswitch.Service) {
			opts := testOptions(t)
			if !withStateFile {
				opts.StateFile = ""
			}
			p := newProvider(t, opts)
			mu.Lock()
			cur = p
			mu.Unlock()
			return p, wwwService()
		},
		Inject: func(t *testing.T, kind providertest.Failure) bool {
			p := current()
			if p.opts.StateFile == "" {
				return false // nothing to fail: the server is memory only
			}
			var errno syscall.Errno
			switch kind {
			case providertest.FailRetryable:
				errno = syscall.ENOSPC
			case providertest.FailHard:
				errno = syscall.EACCES
			default:
				return false
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			write := p.writeState
			p.writeState = func(path string, data []byte) error {
				p.writeState = write // one write fails
				return &fs.PathError{Op: "open", Path: path, Err: errno}
			}
			return true
		},
		Writes: func() int { return int(current().writes.Load()) },
		PutForeign: func(t *testing.T, svc dnsswitch.Service) {
			p := current()
			p.mu.Lock()
			defer p.mu.Unlock()
			cur := p.snap.Load().state
			rec := record{Service: "someone-else", TTL: 60, Answers: []answer{
				{Target: "primary", Type: "A", Values: []string{"198.51.100.9"}, Weight: 100},
			}}
			if err := p.commit(cur.withRecord(svc.Record, rec, cur.Serial+1)); err != nil {
				t.Fatalf("publish foreign record: %v", err)
			}
		},
	}
}

func TestContract(t *testing.T) {
	providertest.Run(t, contractHarness(true))
}

func TestContractWithoutStateFile(t *testing.T) {
	providertest.Run(t, contractHarness(false))
}
