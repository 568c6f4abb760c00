//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package builtin

import "syscall"

func reusePort(_, _ string, _ syscall.RawConn) error { return nil }

const haveReusePort = false
