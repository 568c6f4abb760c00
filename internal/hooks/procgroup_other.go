//go:build !unix

package hooks

import "os/exec"

// setProcessGroup: without process groups, cancellation kills the program
// only (exec.CommandContext's default), not its children.
func setProcessGroup(*exec.Cmd) {}

// killGroup has no group to kill.
func killGroup(int) {}
