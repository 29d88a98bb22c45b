package launcher

import (
	"fmt"
	"io"
	"syscall"
)

// Starter starts the processes of ranks. The launcher's own (the zero
// Config.Starter) forks them on this node; starters that reach other nodes
// (SSH or Slurm agents) implement the same interface.
type Starter interface {
	// Start starts one rank as spec says and returns at once. The process
	// must not outlive the launcher: it dies when the launcher dies.
	Start(spec ProcSpec) (Proc, error)
}

// ProcSpec is everything needed to start one rank.
type ProcSpec struct {
	Rank int
	Host string   // node name from the job map
	Path string   // absolute path of the executable
	Args []string // arguments after the program name
	Env  []string // the complete environment, KEY=value
	Dir  string   // working directory; empty: the launcher's
	// Stdout and Stderr receive the rank's output in chunks of any size;
	// the starter writes to them until Wait returns and never after.
	Stdout, Stderr io.Writer
}

// Proc is one started rank.
type Proc interface {
	// Signal sends sig to the rank and to every process it started (its
	// process group). It is safe after the rank exited and concurrently
	// with Wait; an error means the signal could not be delivered.
	Signal(sig syscall.Signal) error
	// Wait waits for the rank to exit and for its output to be forwarded.
	Wait() ExitStatus
}

// ExitStatus is how a rank ended.
type ExitStatus struct {
	Code   int            // exit status, when it exited (Signal == 0)
	Signal syscall.Signal // the signal that killed it; 0 if it exited
	Err    error          // it could not be waited for (Code and Signal mean nothing)
}

func (s ExitStatus) String() string {
	switch {
	case s.Err != nil:
		return fmt.Sprintf("was lost (%v)", s.Err)
	case s.Signal != 0:
		return fmt.Sprintf("was killed by signal %d (%v)", int(s.Signal), s.Signal)
	}
	return fmt.Sprintf("exited with status %d", s.Code)
}

// exitCode is the launcher's exit code for a rank that ended so, in the
// shell's convention.
func (s ExitStatus) exitCode() int {
	switch {
	case s.Err != nil:
		return 1
	case s.Signal != 0:
		return 128 + int(s.Signal)
	case s.Code == 0:
		return 1 // a failure with status 0: it left without Finalize
	}
	return s.Code
}
