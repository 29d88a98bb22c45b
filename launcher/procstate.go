package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"
)

// ProcState is what the operating system says of a rank's process, for a
// report about a rank that cannot answer for itself.
type ProcState struct {
	PID int
	// State is the state letter of /proc/PID/stat: R running or
	// runnable, S sleeping, D uninterruptible sleep, T stopped by a
	// signal, t stopped by a debugger, Z zombie, ...
	State byte
	// CPU is the processor time it has used (user and system), in clock
	// ticks: two readings tell whether a runnable process gets to run.
	CPU uint64
	// StopSignal is the signal that stopped it (State T), when known;
	// 0 otherwise.
	StopSignal syscall.Signal
}

// stater is a Proc that can read its process's state (the launcher's own
// children can).
type stater interface {
	State() (ProcState, error)
}

// errStat is the error of a /proc/PID/stat line that does not parse.
var errStat = errors.New("malformed /proc/PID/stat line")

// parseStat reads the state letter and processor time from the text of
// /proc/PID/stat: "pid (comm) state ppid ... utime stime ...". The
// command name may hold spaces and parentheses, so the fields are counted
// from its last closing parenthesis.
func parseStat(b []byte) (ProcState, error) {
	var st ProcState
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || close < open {
		return st, fmt.Errorf("%w: no (command)", errStat)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil || pid <= 0 {
		return st, fmt.Errorf("%w: pid %q", errStat, bytes.TrimSpace(b[:open]))
	}
	f := bytes.Fields(b[close+1:])
	// state is field 3 of the line, utime and stime fields 14 and 15.
	if len(f) < 13 {
		return st, fmt.Errorf("%w: %d fields after the command, want at least 13", errStat, len(f))
	}
	if len(f[0]) != 1 {
		return st, fmt.Errorf("%w: state %q", errStat, f[0])
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("%w: utime %q stime %q", errStat, f[11], f[12])
	}
	return ProcState{PID: pid, State: f[0][0], CPU: utime + stime}, nil
}

// describe says what state a process that gave no answer is in; before is
// an earlier reading (zero if none), taken over, which tells a runnable
// process that is not scheduled from one that runs.
func (s ProcState) describe(before ProcState, over time.Duration) string {
	switch s.State {
	case 'T':
		if s.StopSignal != 0 {
			return fmt.Sprintf("stopped by signal %d (%s)", int(s.StopSignal), signalName(s.StopSignal))
		}
		return "stopped by a signal (SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU)"
	case 't':
		return "stopped by a debugger (traced)"
	case 'D':
		return "in uninterruptible sleep (D: waiting on the kernel, often I/O)"
	case 'Z':
		return "exited, not yet reaped (zombie)"
	case 'R':
		if before.State != 0 && before.CPU == s.CPU {
			return fmt.Sprintf("runnable but not scheduled (no processor time in %v)", over)
		}
		return "running"
	case 'S', 'I':
		return "sleeping"
	}
	return fmt.Sprintf("in state %q", s.State)
}

// signalName is the conventional name of a signal, SIGSTOP rather than
// Go's "stopped (signal)".
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGSTOP:
		return "SIGSTOP"
	case syscall.SIGTSTP:
		return "SIGTSTP"
	case syscall.SIGTTIN:
		return "SIGTTIN"
	case syscall.SIGTTOU:
		return "SIGTTOU"
	}
	return sig.String()
}
