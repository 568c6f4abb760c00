// Package labtest serializes the tests that run the lab. The lab's edges
// live on fixed addresses (127.0.10.1-3:18080), so two labs cannot run at
// once, and `go test ./...` runs the test binaries of different packages in
// parallel. Lock takes an exclusive flock on a file shared by every test
// binary on the machine, so lab tests wait for each other instead of failing.
package labtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// LockFile is the file every lab test locks.
var LockFile = filepath.Join(os.TempDir(), "failover-lab-tests.lock")

// Lock waits up to wait for the lab lock and releases it when the test
// ends. It fails the test if the lock is not had in time.
func Lock(t testing.TB, wait time.Duration) {
	t.Helper()
	f, err := os.OpenFile(LockFile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("lab lock: %v", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("lab lock %s: %v (another lab test holds it)", LockFile, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
