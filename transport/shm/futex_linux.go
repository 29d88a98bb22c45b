package shm

import (
	"math"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations. The doorbell lives in a MAP_SHARED mapping used by
// several processes, so these are the shared (not FUTEX_PRIVATE) forms.
const (
	futexWait = 0
	futexWake = 1
)

// futexSleep sleeps while *addr == val, for at most d. A changed word, a
// wake, a signal or the timeout all end it; callers re-check their state.
func futexSleep(addr *uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWakeAll wakes every sleeper on addr: several goroutines of the owner
// may block on one doorbell.
func futexWakeAll(addr *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, math.MaxInt32, 0, 0, 0)
}
