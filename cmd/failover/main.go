// Command failover is a multi-CDN failover controller: it probes the primary
// CDN from several vantages, shifts DNS weights to a backup CDN or the origin
// on a sustained, quorum-agreed failure, and shifts back in steps.
//
// main is the single exit point: every subcommand returns an error, and
// exitCode maps it to the process's exit status.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// Exit statuses. A usage error (a missing flag, a bad value) exits 1 like
// every other failure, because scripts read 2 as plan's "something would
// change" (CONTRACT §1).
const (
	exitUsage   = 1
	exitChanges = 2
)

// exitError carries a specific exit status. A nil err with a code prints
// nothing (the command already said what it had to).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitWith returns an error that makes main exit with code, printing err (if
// any) as the one-line reason.
func exitWith(code int, err error) error { return &exitError{code: code, err: err} }

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs the CLI and returns the exit status. It never lets a panic
// escape as a Go stack trace: the user gets a one-line reason.
func runMain(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "failover: internal error: %v\n", r)
			if os.Getenv("FAILOVER_DEBUG") != "" {
				stderr.Write(debug.Stack())
			}
			code = 70
		}
	}()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	return exitCode(err, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "failover: %s\n", errorLine(ee.err))
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "failover: %s\n", errorLine(err))
	return 1
}

// errorLine renders an error on one line: a joined or multi-problem error
// (errors.Join, a list of config problems) has its lines separated by "; ".
func errorLine(err error) string {
	lines := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	return strings.Join(lines, "; ")
}
