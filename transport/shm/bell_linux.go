package shm

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A bell is the owner's side of a segment's doorbell socket: a unix
// datagram socket bound in the abstract namespace under the segment's name
// (so no file is ever left behind: it goes with the process). A waiter
// sleeps reading it through Go's network poller, as a TCP reader does,
// instead of in a futex syscall that makes the runtime hand its P to
// another thread at every sleep. Senders that find a bell sleeper send it
// one byte; a full queue (EAGAIN) means it is rung already.
type bell struct {
	f   *os.File
	rc  syscall.RawConn
	mu  sync.Mutex // one sleeper on the socket at a time; others use the futex
	buf [64]byte   // guarded by mu
	fn  func(fd uintptr) bool
}

// bellSleeper is what a bell sleeper adds to the segment's sleepers word;
// a futex sleeper adds 1.
const bellSleeper = 1 << 16

// bellAddr is the abstract socket address of segment name's bell.
func bellAddr(name string) (unix.RawSockaddrUnix, uint32) {
	var sa unix.RawSockaddrUnix
	sa.Family = unix.AF_UNIX
	// Path[0] stays 0: the abstract namespace.
	for i := 0; i < len(name) && i+1 < len(sa.Path); i++ {
		sa.Path[i+1] = int8(name[i])
	}
	n := min(len(name), len(sa.Path)-1)
	return sa, uint32(unsafe.Offsetof(sa.Path) + 1 + uintptr(n))
}

// newBell binds the doorbell socket of segment name.
func newBell(name string) (*bell, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "@"+name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	b := &bell{f: f, rc: rc}
	// Made once: a closure per wait would allocate.
	b.fn = b.drain
	return b, nil
}

// wait sleeps until the bell rings or d passes, and empties it. The
// caller holds b.mu.
func (b *bell) wait(d time.Duration) {
	if b.f.SetReadDeadline(time.Now().Add(d)) != nil {
		return
	}
	b.rc.Read(b.fn)
}

// drain empties the socket; false, to sleep in the poller, if it was empty.
func (b *bell) drain(fd uintptr) bool {
	got := false
	for {
		_, err := unix.Read(int(fd), b.buf[:])
		if err == nil {
			got = true
			continue
		}
		return got || !errors.Is(err, unix.EAGAIN)
	}
}

func (b *bell) close() error { return b.f.Close() }

// bellTx is the socket every transport of this process rings bells from.
var bellTx = sync.OnceValue(func() int {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
})

// sendBell sends one byte to the bell at sa. Errors are ignored: EAGAIN
// means the bell is rung already, and a sleeper's timeout is the backstop.
func sendBell(sa *unix.RawSockaddrUnix, salen uint32) {
	fd := bellTx()
	if fd < 0 {
		return
	}
	var b [1]byte
	unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
		unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uintptr(unsafe.Pointer(sa)), uintptr(salen))
}
