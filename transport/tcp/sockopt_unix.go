//go:build unix

package tcp

import (
	"fmt"
	"syscall"
)

// sockoptControl sets the socket buffer sizes before bind/connect, so that
// the kernel sizes the TCP window scale for them. Zero leaves the kernel's
// default.
func sockoptControl(sndBuf, rcvBuf int) func(network, address string, c syscall.RawConn) error {
	if sndBuf == 0 && rcvBuf == 0 {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if sndBuf > 0 {
				if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, sndBuf); e != nil {
					serr = fmt.Errorf("tcp_sndbuf=%d: %w", sndBuf, e)
					return
				}
			}
			if rcvBuf > 0 {
				if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf); e != nil {
					serr = fmt.Errorf("tcp_rcvbuf=%d: %w", rcvBuf, e)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
