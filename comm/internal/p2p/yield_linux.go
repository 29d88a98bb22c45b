package p2p

import "syscall"

// yieldCPU gives this thread's core to another runnable process. It is a
// raw system call: sched_yield does not block, and telling the Go
// scheduler about it on every poll let sysmon take the rank's P away
// during the call and cost a hand-off to get it back (4 ranks on 2 cores,
// 8 B allreduce over shm: 220 -> 80 us).
func yieldCPU() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
