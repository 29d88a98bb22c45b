package launcher

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
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
