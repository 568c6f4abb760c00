package hooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// MaxOutput bounds what an exec hook's stdout and stderr keep, each. The
// rest is read and dropped, so a chatty hook never blocks on a full pipe.
const MaxOutput = 16 << 10

// execPath is the PATH of an exec hook.
const execPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// pipeGrace is how long the output of a finished hook is still read, for
// what its leftover processes wrote before they were killed.
const pipeGrace = time.Second

// execHook runs a program without a shell.
type execHook struct {
	name    string
	argv    []string
	retries int
	backoff Backoff
}

// run runs the program, and again after a non-zero exit while retries and
// time remain. A program that cannot be started is not retried.
func (e *execHook) run(ctx context.Context, ev Event, body []byte, res *Result) {
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		started, err := e.once(ctx, ev, body, res)
		if err == nil {
			res.OK = true
			return
		}
		res.Error = err.Error()
		if !started || ctx.Err() != nil {
			return
		}
		if attempt > e.retries {
			res.Error += fmt.Sprintf(" (after %d attempts)", attempt)
			return
		}
		wait := e.backoff.delay(attempt)
		if !room(ctx, wait) {
			res.Error += fmt.Sprintf(" (after %d attempts; no time left for another)", attempt)
			return
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// env is the whole environment of an exec hook: a PATH and the event. The
// controller's own environment, which holds its secrets, is not passed on.
func (e *execHook) env(ev Event) []string {
	return []string{
		"PATH=" + execPath,
		"FAILOVER_EVENT=" + string(ev.Type),
		"FAILOVER_EVENT_ID=" + ev.ID,
		"FAILOVER_SERVICE=" + ev.Service,
		"FAILOVER_TARGET=" + ev.Target,
		"FAILOVER_HOOK=" + e.name,
	}
}

// once runs the program one time in a process group of its own, with the
// event on stdin. When ctx ends, the whole group is killed, so the
// children of a hanging hook die with it; when the program exits, what is
// left of its group is killed too, so a hook leaves nothing running behind
// it. It reports whether the program started.
func (e *execHook) once(ctx context.Context, ev Event, body []byte, res *Result) (bool, error) {
	stdout, stderr := &capture{max: MaxOutput}, &capture{max: MaxOutput}
	outR, outW, err := os.Pipe()
	if err != nil {
		return false, fmt.Errorf("exec: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return false, fmt.Errorf("exec: %w", err)
	}
	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	cmd.Env = e.env(ev)
	cmd.Stdin = bytes.NewReader(body)
	// Files, not writers: Wait then returns when the program exits, not
	// when the last process holding the pipe lets go of it.
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.WaitDelay = pipeGrace // bounds the copy of stdin to a program that does not read it
	setProcessGroup(cmd)
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return false, fmt.Errorf("exec: start: %w", err)
	}
	var readers sync.WaitGroup
	readers.Go(func() { stdout.readFrom(outR) })
	readers.Go(func() { stderr.readFrom(errR) })

	err = cmd.Wait()
	killGroup(cmd.Process.Pid)
	finished := make(chan struct{})
	go func() {
		readers.Wait()
		close(finished)
	}()
	grace := time.NewTimer(pipeGrace)
	select {
	case <-finished:
	case <-grace.C:
		// A process that left the group still holds a pipe.
		outR.Close()
		errR.Close()
		<-finished
	}
	grace.Stop()
	outR.Close()
	errR.Close()

	res.Output, res.Stderr = stdout.String(), stderr.String()
	code := cmd.ProcessState.ExitCode()
	res.ExitCode = &code
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil:
		return true, fmt.Errorf("exec: %s killed: %w", e.argv[0], context.Cause(ctx))
	case code >= 0:
		return true, fmt.Errorf("exec: %s exited with status %d", e.argv[0], code)
	}
	return true, fmt.Errorf("exec: %s: %w", e.argv[0], err)
}

// capture keeps the first max bytes written to it and counts the rest.
type capture struct {
	max     int
	buf     []byte
	dropped int64
}

func (c *capture) readFrom(r io.Reader) {
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		if keep := min(n, c.max-len(c.buf)); keep > 0 {
			c.buf = append(c.buf, b[:keep]...)
			c.dropped += int64(n - keep)
		} else {
			c.dropped += int64(n)
		}
		if err != nil {
			return
		}
	}
}

func (c *capture) String() string {
	s := string(bytes.ToValidUTF8(c.buf, []byte("\uFFFD")))
	if c.dropped > 0 {
		s += fmt.Sprintf("\n[%d more bytes dropped]", c.dropped)
	}
	return s
}
