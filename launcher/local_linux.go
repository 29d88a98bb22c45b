package launcher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// drainWait bounds how long a rank's output is awaited after it exited: a
// process it left behind may hold the pipes open.
const drainWait = time.Second

// localStarter forks ranks on this node.
type localStarter struct{}

type localProc struct {
	cmd     *exec.Cmd
	pgid    int
	readers [2]*os.File
	copied  chan struct{} // one value per reader when it reached EOF
	reaped  atomic.Bool   // Wait has returned: the pid may be another's now
}

func (localStarter) Start(spec ProcSpec) (Proc, error) {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that signals reach everything the
		// rank starts and a terminal's ^C reaches only the launcher,
		// which forwards it.
		Setpgid: true,
		// The rank dies with the launcher, even by SIGKILL.
		Pdeathsig: syscall.SIGKILL,
	}
	// Pipes of our own rather than exec's copying, so that Wait can stop
	// waiting for output that a left-behind process keeps open.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &localProc{cmd: cmd, pgid: cmd.Process.Pid, readers: [2]*os.File{outR, errR}, copied: make(chan struct{}, 2)}
	go p.copy(spec.Stdout, outR)
	go p.copy(spec.Stderr, errR)
	return p, nil
}

func (p *localProc) copy(w io.Writer, r *os.File) {
	io.Copy(w, r)
	p.copied <- struct{}{}
}

func (p *localProc) Signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // nothing of the rank is left
	}
	return err
}

func (p *localProc) Wait() ExitStatus {
	err := p.cmd.Wait()
	p.reaped.Store(true)
	var st ExitStatus
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			st.Signal = ws.Signal()
		} else {
			st.Code = ws.ExitStatus()
		}
	default:
		st.Err = err
	}
	// The rank is gone; its output may still be in the pipes, or held
	// open by processes it started. Wait a little for it, then end those
	// processes, then give up on the pipes.
	timer := time.NewTimer(drainWait)
	defer timer.Stop()
	stage := 0
	for n := 0; n < 2; {
		select {
		case <-p.copied:
			n++
		case <-timer.C:
			stage++
			if stage == 1 {
				p.Signal(syscall.SIGKILL)
			} else {
				for _, r := range p.readers {
					r.Close() // ends the copies
				}
			}
			timer.Reset(drainWait)
		}
	}
	for _, r := range p.readers {
		r.Close()
	}
	return st
}

// State reads the rank's process state from /proc and, when a signal
// stopped it, which one (from waitid, which only a parent can ask).
func (p *localProc) State() (ProcState, error) {
	pid := p.cmd.Process.Pid
	if p.reaped.Load() {
		return ProcState{}, fmt.Errorf("process %d has exited", pid)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcState{}, err
	}
	st, err := parseStat(b)
	if err != nil {
		return st, err
	}
	if st.State == 'T' {
		st.StopSignal = stopSignal(pid)
	}
	return st, nil
}

// stopSignal asks, without consuming the notice, which signal stopped the
// child pid; 0 if it is not stopped or the kernel does not say.
func stopSignal(pid int) syscall.Signal {
	const (
		pPID       = 1 // idtype_t P_PID
		cldStopped = 5 // si_code CLD_STOPPED
	)
	// siginfo_t: si_signo, si_errno, si_code (int32 each), then a union
	// aligned like a pointer, starting with si_pid, si_uid, si_status.
	var info [128]byte
	union := (12 + unsafe.Sizeof(uintptr(0)) - 1) &^ (unsafe.Sizeof(uintptr(0)) - 1)
	_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])),
		syscall.WSTOPPED|syscall.WNOHANG|syscall.WNOWAIT, 0, 0)
	if errno != 0 {
		return 0
	}
	ne := binary.NativeEndian
	if int(int32(ne.Uint32(info[union:]))) != pid || int32(ne.Uint32(info[8:])) != cldStopped {
		return 0
	}
	return syscall.Signal(int32(ne.Uint32(info[union+8:])))
}
