package launcher

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// srunRemote is the one srun that runs an agent on every node of the job;
// it ends when the last node is done with it.
type srunRemote struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	users  int
	exited chan struct{}
}

func (r *srunRemote) stop() {
	r.mu.Lock()
	r.users--
	last := r.users == 0
	r.mu.Unlock()
	if !last {
		return
	}
	select {
	case <-r.exited:
		return
	case <-time.After(2 * time.Second):
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(2 * time.Second):
		r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.exited
	}
}

// startSrun starts one agent per node of the map inside the Slurm
// allocation: `srun --nodes=N --ntasks=N --ntasks-per-node=1 --nodelist=...
// mpx agent`. Each agent names itself by SLURMD_NODENAME.
func startSrun(s *AgentStarter, addrs []string, failed chan<- error) (remoteStarter, error) {
	b, err := ownBinary()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(s.Map.Nodes))
	for _, n := range s.Map.Nodes {
		names = append(names, n.Host.Name)
	}
	n := fmt.Sprint(len(names))
	cmd := exec.Command("srun", "--nodes="+n, "--ntasks="+n, "--ntasks-per-node=1",
		"--nodelist="+strings.Join(names, ","), "--kill-on-bad-exit=1", "--mpi=none",
		"--overlap", "--cpu-bind=none", "--quiet",
		b.path, "agent", "--connect", strings.Join(addrs, ","), "--node-from-slurm")
	cmd.Env = append(os.Environ(), envAgentSecret+"="+hex.EncodeToString(s.secret))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr := &capped{}
	cmd.Stderr = stderr
	cmd.Stdout = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting srun for the node agents: %w", err)
	}
	r := &srunRemote{cmd: cmd, users: len(names), exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		close(r.exited)
		if err != nil {
			select {
			case failed <- fmt.Errorf("srun of the node agents: %v: %s", err, stderr.String()):
			default:
			}
		}
	}()
	return r, nil
}
