//go:build unix

package tcp

import (
	"syscall"
	"unsafe"
)

// Socket I/O on the descriptor a syscall.RawConn hands its callback: the
// callback decides whether to sleep in Go's network poller, so a waiting
// goroutine can read its own link (see pair.read).

// errAgain is what a non-blocking socket says when it has nothing (to
// read) or no room (to write).
const errAgain = syscall.EAGAIN

func sysRead(fd uintptr, b []byte) (int, error) {
	n, err := syscall.Read(int(fd), b)
	if n < 0 {
		n = 0
	}
	return n, err
}

// rawRead is sysRead without telling the Go scheduler: for a reader
// polling an empty socket in a tight loop, where entering and leaving the
// scheduler's system-call state on every poll would cost more than the
// read.
func rawRead(fd uintptr, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// yieldCore gives the core to another runnable thread, if any (a raw
// call: it does not block, and the Go scheduler need not know).
func yieldCore() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// sysWritev writes iov with one writev and returns the bytes written.
func sysWritev(fd uintptr, iov []syscall.Iovec) (int, error) {
	n, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// setIovec points v at b, which must not be empty.
func setIovec(v *syscall.Iovec, b []byte) {
	v.Base = &b[0]
	v.SetLen(len(b))
}

// consumeIovec drops the first n bytes of iov and returns what is left.
func consumeIovec(iov []syscall.Iovec, n int) []syscall.Iovec {
	for n > 0 && len(iov) > 0 {
		l := int(iov[0].Len)
		if n >= l {
			n -= l
			iov[0] = syscall.Iovec{}
			iov = iov[1:]
			continue
		}
		iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
		iov[0].SetLen(l - n)
		n = 0
	}
	return iov
}

// iovecBytes copies what iov points at into one new slice.
func iovecBytes(iov []syscall.Iovec) []byte {
	n := 0
	for _, v := range iov {
		n += int(v.Len)
	}
	b := make([]byte, 0, n)
	for _, v := range iov {
		b = append(b, unsafe.Slice(v.Base, v.Len)...)
	}
	return b
}
