package npb

import (
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time (user + system) this process has used.
// On a shared machine the wall-clock time of a rank measures the share of
// the cores it was given as much as the work; the CPU time measures the
// work (and the communication's own cost). With one rank per process, as
// under mpx run, it is that rank's; in-process ranks share the process.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
