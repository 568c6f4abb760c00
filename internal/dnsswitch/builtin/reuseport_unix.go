//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd

package builtin

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort is a net.ListenConfig Control function that sets SO_REUSEPORT,
// so that several UDP sockets share one port and the kernel spreads the
// queries over them.
func reusePort(_, _ string, c syscall.RawConn) error {
	var opErr error
	if err := c.Control(func(fd uintptr) {
		opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return opErr
}

const haveReusePort = true
