//go:build !unix

package tcp

import (
	"errors"
	"syscall"
)

// sockoptControl: setting buffer sizes is only wired for Unix sockets; a
// size asked for elsewhere is an error rather than silently ignored.
func sockoptControl(sndBuf, rcvBuf int) func(network, address string, c syscall.RawConn) error {
	if sndBuf == 0 && rcvBuf == 0 {
		return nil
	}
	return func(string, string, syscall.RawConn) error {
		return errors.New("tcp_sndbuf / tcp_rcvbuf are supported on Unix only")
	}
}
