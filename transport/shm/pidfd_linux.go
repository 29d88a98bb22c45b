package shm

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// watchPid returns a pidfd for pid, which polls readable once the process
// has exited (even while it is an unreaped zombie, which kill(pid, 0)
// cannot tell from a live process). -1 when pidfds are unavailable.
func watchPid(pid int) int {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	return fd
}

// exited polls the pidfds in fds (entries with Fd < 0 are checked with
// kill(pid, 0) instead) and marks the exited ones in dead.
func exited(fds []unix.PollFd, pids []int, dead []bool) {
	for i := range dead {
		dead[i] = false
	}
	if len(fds) > 0 {
		for {
			_, err := unix.Poll(fds, 0)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
	}
	for i := range fds {
		if fds[i].Fd >= 0 {
			dead[i] = fds[i].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
			continue
		}
		dead[i] = errors.Is(unix.Kill(pids[i], 0), unix.ESRCH)
	}
}

// An exitWatch tells of peers' exits as they happen: an epoll set of their
// pidfds, itself waited on in Go's network poller by one goroutine. A rank
// asleep is then not woken every exitCheckEvery to poll N-1 pidfds.
type exitWatch struct {
	f    *os.File // the epoll fd
	rc   syscall.RawConn
	epfd int
	evs  [16]unix.EpollEvent
	fn   func(fd uintptr) bool
	t    *Transport
}

// newExitWatch makes t's exit watch; nil if epoll cannot be had here, and
// then pidfds are polled by checkPeers.
func newExitWatch(t *Transport) *exitWatch {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	// Non-blocking, so that os.NewFile hands it to the poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "exitwatch")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	w := &exitWatch{f: f, rc: rc, epfd: fd, t: t}
	w.fn = w.reap
	go w.run()
	return w
}

// add watches pidfd for peer rank's exit; false if it cannot.
func (w *exitWatch) add(pidfd, rank int) bool {
	// One-shot: an exited process's pidfd stays readable.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(rank)}
	return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, pidfd, &ev) == nil
}

// run waits for exits until the watch is closed.
func (w *exitWatch) run() {
	for {
		if err := w.rc.Read(w.fn); err != nil {
			return
		}
	}
}

// reap marks the peers whose pidfds are readable as gone and wakes this
// rank's sleepers to report them; false, to wait in the poller, if none.
func (w *exitWatch) reap(uintptr) bool {
	n, err := unix.EpollWait(w.epfd, w.evs[:], 0)
	if err != nil {
		return !errors.Is(err, unix.EINTR)
	}
	if n == 0 {
		return false
	}
	t := w.t
	if !t.enter() {
		return true
	}
	defer t.exit()
	for _, ev := range w.evs[:n] {
		p := t.peers[ev.Fd]
		state := uint32(peerExited)
		if p.closedFlag() {
			state = peerClosed
		}
		if p.gone.CompareAndSwap(peerAlive, state) {
			t.deadPending.Store(true)
		}
	}
	if v := atomic.LoadUint32(t.seg.u32(offSleepers)); v != 0 {
		t.seg.ringBell(v)
	}
	return true
}

func (w *exitWatch) close() error { return w.f.Close() }
