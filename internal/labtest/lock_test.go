package labtest

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// A second holder (another process) waits until the first releases.
func TestLockSerializes(t *testing.T) {
	LockFile = filepath.Join(t.TempDir(), "lock")
	var order []string
	t.Run("first", func(t *testing.T) {
		Lock(t, time.Second)
		// While held, a non-blocking attempt from a child process fails.
		cmd := exec.Command("flock", "-n", LockFile, "true")
		if err := cmd.Run(); err == nil {
			t.Fatal("lock not held: flock -n succeeded")
		} else if _, ok := err.(*exec.ExitError); !ok {
			t.Skipf("flock(1) unavailable: %v", err)
		}
		order = append(order, "first")
	})
	t.Run("second", func(t *testing.T) {
		Lock(t, time.Second) // released by first's cleanup
		order = append(order, "second")
	})
	if len(order) != 2 {
		t.Fatalf("order %v", order)
	}
}

func TestLockTimesOut(t *testing.T) {
	LockFile = filepath.Join(t.TempDir(), "lock")
	cmd := exec.Command("flock", LockFile, "sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skipf("flock(1) unavailable: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Wait until the child holds it.
	for i := 0; i < 50; i++ {
		if exec.Command("flock", "-n", LockFile, "true").Run() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ft := &fakeT{TB: t}
	func() {
		defer func() { recover() }()
		Lock(ft, 300*time.Millisecond)
	}()
	if !ft.failed {
		t.Fatal("Lock did not fail while another process held the lock")
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Fatalf(string, ...any) { f.failed = true; panic("fatal") }
func (f *fakeT) Helper()               {}
func (f *fakeT) Cleanup(func())        {}
