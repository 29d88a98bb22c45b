package shm

import (
	"errors"

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
