package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

// execRunner is a Runner with one exec hook named "page".
func execRunner(t *testing.T, argv []string, retries int, timeout time.Duration) *Runner {
	t.Helper()
	r, err := New(Options{
		Hooks:   []config.Hook{{Name: "page", Type: config.HookExec, Command: argv, Retries: retries, Timeout: timeout}},
		Backoff: Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
		Logger:  quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// gone reports whether the process pid has ended: it no longer exists, or
// it is a zombie waiting to be reaped by whoever inherited it.
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// waitGone polls, for a bounded time, until pid has ended.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			syscallKill(pid)
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling for a condition, bounded
	}
}

func syscallKill(pid int) { syscall.Kill(pid, syscall.SIGKILL) }

func readPID(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the hook did not write its child's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file: %q", b)
	}
	return pid
}

func TestExecStdinAndEnv(t *testing.T) {
	t.Setenv("HOOK_TEST_CONTROLLER_SECRET", "s3cret")
	r := execRunner(t, sh(`cat; echo; echo "$FAILOVER_EVENT|$FAILOVER_EVENT_ID|$FAILOVER_SERVICE|$FAILOVER_TARGET|$FAILOVER_HOOK|${HOOK_TEST_CONTROLLER_SECRET:-absent}"; echo warn >&2`), 0, 5*time.Second)
	ev := testEvent()
	res := r.Run(context.Background(), []string{"page"}, ev)[0]
	if !res.OK || res.Attempts != 1 || res.ExitCode == nil || *res.ExitCode != 0 || res.Type != config.HookExec {
		t.Fatalf("result %+v", res)
	}
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q, want the event and the env line", res.Output)
	}
	var back Event
	if err := json.Unmarshal([]byte(lines[0]), &back); err != nil || back.ID != ev.ID || back.Reason != ev.Reason {
		t.Errorf("stdin %q is not the event: %v", lines[0], err)
	}
	if want := "gate|evt_1|www|origin|page|absent"; lines[1] != want {
		t.Errorf("env line %q, want %q: the controller's environment must not leak in", lines[1], want)
	}
	if res.Stderr != "warn\n" {
		t.Errorf("stderr %q", res.Stderr)
	}
}

func TestExecHangIsKilledWithItsChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	const timeout = 500 * time.Millisecond
	// The shell starts a grandchild that would outlive it, then hangs.
	r := execRunner(t, sh(fmt.Sprintf("sleep 60 & echo $! > %s; echo started; wait", pidFile)), 3, timeout)
	start := time.Now()
	res := r.Run(context.Background(), []string{"page"}, testEvent())[0]
	elapsed := time.Since(start)
	if res.OK || !res.Timeout || res.MetricResult() != ResultTimeout {
		t.Errorf("result %+v, want a timeout", res)
	}
	if res.ExitCode == nil || *res.ExitCode != -1 || !strings.Contains(res.Error, "killed") {
		t.Errorf("exit code %v, error %q, want -1 and killed", res.ExitCode, res.Error)
	}
	if res.Attempts != 1 {
		t.Errorf("%d attempts, want 1: the timeout leaves no time for a retry", res.Attempts)
	}
	if res.Output != "started\n" {
		t.Errorf("output %q, want what it wrote before it hung", res.Output)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("returned after %s with a timeout of %s", elapsed, timeout)
	}
	waitGone(t, readPID(t, pidFile))
}

func TestExecLeavesNothingBehind(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The shell exits at once, leaving a child that holds its stdout.
	r := execRunner(t, sh(fmt.Sprintf("sleep 60 & echo $! > %s; echo done", pidFile)), 0, time.Minute)
	start := time.Now()
	res := r.Run(context.Background(), []string{"page"}, testEvent())[0]
	if !res.OK || res.Output != "done\n" {
		t.Errorf("result %+v", res)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %s: it waited for the leftover child", elapsed)
	}
	waitGone(t, readPID(t, pidFile))
}

func TestExecOutputIsBounded(t *testing.T) {
	r := execRunner(t, sh(`head -c 100000 /dev/zero | tr '\000' a; echo oops >&2; exit 0`), 0, 10*time.Second)
	res := r.Run(context.Background(), []string{"page"}, testEvent())[0]
	if !res.OK {
		t.Fatalf("result %+v", res)
	}
	want := strings.Repeat("a", MaxOutput) + fmt.Sprintf("\n[%d more bytes dropped]", 100000-MaxOutput)
	if res.Output != want {
		t.Errorf("output of %d bytes ending %q, want the first %d bytes and a note", len(res.Output), res.Output[max(0, len(res.Output)-40):], MaxOutput)
	}
	if res.Stderr != "oops\n" {
		t.Errorf("stderr %q", res.Stderr)
	}
}

func TestExecRetries(t *testing.T) {
	t.Run("succeeds on the second run", func(t *testing.T) {
		count := filepath.Join(t.TempDir(), "count")
		r := execRunner(t, sh(fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; echo run $n; [ $n -ge 2 ]`, count)), 3, 10*time.Second)
		res := r.Run(context.Background(), []string{"page"}, testEvent())[0]
		if !res.OK || res.Attempts != 2 || res.Output != "run 2\n" || res.Error != "" {
			t.Errorf("result %+v, want OK on attempt 2", res)
		}
	})
	t.Run("exit status", func(t *testing.T) {
		r := execRunner(t, sh(`echo bad >&2; exit 3`), 1, 10*time.Second)
		res := r.Run(context.Background(), []string{"page"}, testEvent())[0]
		if res.OK || res.Attempts != 2 || res.ExitCode == nil || *res.ExitCode != 3 ||
			!strings.Contains(res.Error, "exited with status 3 (after 2 attempts)") || res.Stderr != "bad\n" || res.Timeout {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("a program that does not exist is not retried", func(t *testing.T) {
		r := execRunner(t, []string{"/nonexistent/notify", "--channel", "cdn"}, 3, 10*time.Second)
		res := r.Run(context.Background(), []string{"page"}, testEvent())[0]
		if res.OK || res.Attempts != 1 || res.ExitCode != nil || !strings.Contains(res.Error, "exec: start") {
			t.Errorf("result %+v", res)
		}
	})
}
