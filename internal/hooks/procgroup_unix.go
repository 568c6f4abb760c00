//go:build unix

package hooks

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts cmd in a process group of its own, whose id is
// its pid, and makes the cancellation of its context kill that group.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid)
		return nil
	}
}

// killGroup sends SIGKILL to every process of the group pgid. A group that
// is already gone is not an error.
func killGroup(pgid int) {
	syscall.Kill(-pgid, syscall.SIGKILL)
}
