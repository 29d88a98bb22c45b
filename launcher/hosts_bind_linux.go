package launcher

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// NodeCores lists the cores this process may run on (its affinity mask,
// which a batch system may have narrowed), grouped by the kernel's topology.
func NodeCores() ([]Core, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for cpu := 0; cpu < len(set)*64; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return groupCores(cpus, sysfsTopology), nil
}

func sysfsTopology(cpu int) (pkg, core int, ok bool) {
	dir := "/sys/devices/system/cpu/cpu" + strconv.Itoa(cpu) + "/topology/"
	read := func(name string) (int, bool) {
		b, err := os.ReadFile(dir + name)
		if err != nil {
			return 0, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		return n, err == nil
	}
	pkg, ok1 := read("physical_package_id")
	core, ok2 := read("core_id")
	return pkg, core, ok1 && ok2
}

// StartBound starts cmd with its CPU affinity set to cpus (none: unchanged).
// A child inherits the mask of the thread that forks it, so Start runs on
// an OS thread locked for the purpose, whose mask is set before and
// restored after: every thread of the child, the Go runtime's included,
// starts bound. The thread must outlive the child (Pdeathsig fires when
// the forking thread exits), so it is returned to the runtime, not ended;
// should restoring its mask fail, the child is killed and the thread ended.
func StartBound(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("sched_getaffinity: %w", err)
			return
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("bind to cpus %s: sched_setaffinity: %w", intRanges(cpus), err)
			return
		}
		startErr := cmd.Start()
		if err := unix.SchedSetaffinity(0, &old); err != nil {
			// Leave the thread locked: it ends with this goroutine.
			if startErr == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
			done <- fmt.Errorf("restoring the launcher thread's affinity: %w", err)
			return
		}
		runtime.UnlockOSThread()
		done <- startErr
	}()
	return <-done
}

// Affinity returns the CPUs process pid may run on (for tests and
// --report-bindings of a running rank).
func Affinity(pid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity(%d): %w", pid, err)
	}
	var cpus []int
	for cpu := 0; cpu < len(set)*64; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}
