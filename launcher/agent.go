package launcher

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// AgentConfig is one node agent's side of a job.
type AgentConfig struct {
	// Node is the name this agent reports (the host name when empty).
	Node string
	// Secret is what the launcher must prove it knows (and the agent too).
	Secret []byte
	// Logf prints the agent's own messages; nil means stderr.
	Logf func(format string, args ...any)
	// Accepted says the launcher opened the connection (a pre-started
	// agent); false, that this agent dialed the launcher. The dialer
	// proves the secret first.
	Accepted bool
	// MaxPending bounds, in ServeAgents, the connections in handshake at
	// once; beyond it a connection is told the agent is busy and closed.
	// Zero means defaultMaxPending.
	MaxPending int

	handshook func() // called when the handshake is over, however it went
}

// handshakeError is a connection that did not prove the secret.
type handshakeError struct {
	remote string
	err    error
}

func (e *handshakeError) Error() string { return fmt.Sprintf("launcher at %s: %v", e.remote, e.err) }
func (e *handshakeError) Unwrap() error { return e.err }

// ServeAgent runs one job's ranks on this node for the launcher at the
// other end of conn, and returns when the job ends here: the launcher said
// so, or went silent or away (then the ranks are killed). Either way the
// node is left clean: no rank running, no staged file, no shared-memory
// segment of the job.
func ServeAgent(conn net.Conn, cfg AgentConfig) error {
	defer conn.Close()
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.Logf == nil {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "mpx agent: "+format+"\n", args...)
		}
	}
	l, err := handshake(conn, cfg.Secret, "agent", cfg.Node, !cfg.Accepted)
	if cfg.handshook != nil {
		cfg.handshook()
	}
	if err != nil {
		return &handshakeError{remote: conn.RemoteAddr().String(), err: err}
	}
	a := &agent{cfg: cfg, link: l, procs: map[int]*agentRank{}, heard: make(chan struct{}, 1)}
	a.kvHost, _, _ = net.SplitHostPort(conn.RemoteAddr().String())
	return a.serve()
}

type agent struct {
	cfg    AgentConfig
	link   *agentLink
	kvHost string // the launcher's address as this node reaches it

	mu       sync.Mutex
	procs    map[int]*agentRank
	stageDir string
	jobID    string
	stageF   *os.File
	wg       sync.WaitGroup // rank waiters
	heard    chan struct{}
	cores    []Core
	coresErr error
	coresSet bool
}

type agentRank struct {
	cmd  *exec.Cmd
	pgid int
}

func (a *agent) serve() error {
	done := make(chan struct{})
	defer close(done)
	lost := make(chan error, 1)
	go a.heartbeat(done, lost)
	msgs := make(chan *agentMsg)
	rerr := make(chan error, 1)
	go func() {
		for {
			m, err := a.link.recv()
			if err != nil {
				rerr <- err
				return
			}
			// Heard from the launcher, however long handling takes.
			select {
			case a.heard <- struct{}{}:
			default:
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	}()
	for {
		select {
		case m := <-msgs:
			if m.Op == opShutdown {
				a.finish()
				a.link.send(&agentMsg{Op: opBye})
				return nil
			}
			if err := a.handle(m); err != nil {
				a.logf("%v", err)
			}
		case err := <-rerr:
			select {
			case lerr := <-lost: // the heartbeat closed the link
				a.finish()
				return lerr
			default:
			}
			a.finish()
			if errors.Is(err, io.EOF) {
				return errors.New("the launcher closed the connection; ranks stopped")
			}
			return fmt.Errorf("connection to the launcher failed (%v); ranks stopped", err)
		case err := <-lost:
			a.finish()
			return err
		}
	}
}

// logf sends a line to the launcher (and prints it here if that fails).
func (a *agent) logf(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if a.link.send(&agentMsg{Op: opLog, Text: text}) != nil {
		a.cfg.Logf("%s", text)
	}
}

// heartbeat pings the launcher and reports when it has been silent too long.
func (a *agent) heartbeat(done <-chan struct{}, lost chan<- error) {
	t := time.NewTicker(a.link.every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-done:
			return
		case <-a.heard:
			last = time.Now()
		case <-t.C:
			if silent := time.Since(last); silent > a.link.timeout {
				// The reason first: closing makes the reader fail too.
				lost <- fmt.Errorf("no word from the launcher for %v (link down?); ranks stopped", silent.Round(100*time.Millisecond))
				a.conn().Close()
				return
			}
			a.link.ping()
		}
	}
}

func (a *agent) conn() net.Conn { return a.link.conn }

func (a *agent) handle(m *agentMsg) error {
	switch m.Op {
	case opPing:
		return nil
	case opStage:
		return a.stage(m)
	case opStart:
		if err := a.start(m.Spec); err != nil {
			a.link.send(&agentMsg{Op: opExit, Rank: m.Spec.Rank, Code: -1, Text: err.Error()})
		}
		return nil
	case opSignal:
		a.mu.Lock()
		p := a.procs[m.Rank]
		a.mu.Unlock()
		if p != nil {
			syscall.Kill(-p.pgid, syscall.Signal(m.Sig))
		}
		return nil
	case opState:
		return a.link.send(a.rankState(m.Rank, m.Seq))
	}
	return fmt.Errorf("unexpected %d message from the launcher", m.Op)
}

// stage writes a chunk of a file the launcher sends into the job's
// private temporary directory.
func (a *agent) stage(m *agentMsg) error {
	if m.Name == "" || m.Name != filepath.Base(m.Name) || m.Name == "." || m.Name == ".." {
		return fmt.Errorf("staging: refusing file name %q", m.Name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stageDir == "" {
		d, err := os.MkdirTemp("", "mpx-stage-")
		if err != nil {
			return fmt.Errorf("staging: %w", err)
		}
		a.stageDir = d
	}
	if a.stageF == nil {
		f, err := os.OpenFile(filepath.Join(a.stageDir, m.Name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(m.Mode&0o777|0o600))
		if err != nil {
			return fmt.Errorf("staging %s: %w", m.Name, err)
		}
		a.stageF = f
	}
	if _, err := a.stageF.Write(m.Data); err != nil {
		return fmt.Errorf("staging %s: %w", m.Name, err)
	}
	if m.Last {
		err := a.stageF.Close()
		a.stageF = nil
		if err != nil {
			return fmt.Errorf("staging %s: %w", m.Name, err)
		}
	}
	return nil
}

// rankEnviron is the agent's own environment with spec's on top, the
// launcher's address rewritten to the one this node reaches it at.
func (a *agent) rankEnviron(spec *agentSpec) []string {
	set := map[string]string{}
	var order []string
	add := func(kv string) {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			order = append(order, k)
		}
		set[k] = v
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); isContractVar(k) || k == envAgentSecret {
			continue
		}
		add(kv)
	}
	for _, kv := range spec.Env {
		add(kv)
	}
	// A service listening on every interface is reached where this agent
	// reached the launcher; one on a chosen address, at that address.
	if v, ok := set["MPX_KV_ADDR"]; ok && a.kvHost != "" {
		if host, port, err := net.SplitHostPort(v); err == nil {
			if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
				set["MPX_KV_ADDR"] = net.JoinHostPort(a.kvHost, port)
			}
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+set[k])
	}
	return env
}

func (a *agent) start(spec *agentSpec) error {
	a.mu.Lock()
	a.jobID = spec.JobID
	path, dir := spec.Path, spec.Dir
	if spec.Staged {
		if a.stageDir == "" {
			a.mu.Unlock()
			return fmt.Errorf("rank %d: %s was not staged", spec.Rank, spec.Path)
		}
		path = filepath.Join(a.stageDir, spec.Path)
		if dir == "" {
			dir = a.stageDir
		}
	}
	a.mu.Unlock()
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			dir = "" // the launcher's directory does not exist here
		}
	}
	if dir == "" {
		dir, _ = os.UserHomeDir()
	}
	cpus, err := a.binding(spec)
	if err != nil {
		return err
	}
	env := a.rankEnviron(spec)
	var cmd *exec.Cmd
	var outR, errR *os.File
	for try := 0; ; try++ {
		cmd = exec.Command(path, spec.Args...)
		cmd.Env = env
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		var outW, errW *os.File
		if outR, outW, err = os.Pipe(); err != nil {
			return err
		}
		if errR, errW, err = os.Pipe(); err != nil {
			outR.Close()
			outW.Close()
			return err
		}
		cmd.Stdout, cmd.Stderr = outW, errW
		err = StartBound(cmd, cpus)
		outW.Close()
		errW.Close()
		if err == nil {
			break
		}
		outR.Close()
		errR.Close()
		// A file just staged may still be open for writing in a child
		// forked meanwhile (between its fork and exec): wait that out.
		if !errors.Is(err, syscall.ETXTBSY) || try == 20 {
			return fmt.Errorf("rank %d on %s: %w", spec.Rank, a.cfg.Node, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	if spec.Report {
		a.logf("%s", FormatBinding(a.cfg.Node, pid, spec.Rank, a.cores, cpus))
	}
	p := &agentRank{cmd: cmd, pgid: pid}
	a.mu.Lock()
	a.procs[spec.Rank] = p
	a.mu.Unlock()
	a.link.send(&agentMsg{Op: opStarted, Rank: spec.Rank, Pid: pid})
	var copies sync.WaitGroup
	copies.Add(2)
	go a.forward(spec.Rank, 1, outR, &copies)
	go a.forward(spec.Rank, 2, errR, &copies)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := cmd.Wait()
		m := &agentMsg{Op: opExit, Rank: spec.Rank}
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			ws := ee.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				m.Sig = int(ws.Signal())
			} else {
				m.Code = ws.ExitStatus()
			}
		default:
			m.Code, m.Text = -1, err.Error()
		}
		// Output first, so that it precedes the exit at the launcher;
		// a process the rank left behind may hold the pipes: end it.
		waited := make(chan struct{})
		go func() { copies.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(drainWait):
			syscall.Kill(-pid, syscall.SIGKILL)
			outR.Close()
			errR.Close()
			<-waited
		}
		a.mu.Lock()
		delete(a.procs, spec.Rank)
		a.mu.Unlock()
		a.link.send(m)
	}()
	return nil
}

// rankState answers the launcher's question about a rank that gave no
// report: the state of its process, read here where the process is (and
// the stop signal, which only its parent, this agent, can ask).
func (a *agent) rankState(rank int, seq uint64) *agentMsg {
	reply := &agentMsg{Op: opStateReply, Rank: rank, Seq: seq}
	a.mu.Lock()
	p := a.procs[rank]
	a.mu.Unlock()
	if p == nil {
		reply.Text = fmt.Sprintf("rank %d has no process on %s", rank, a.cfg.Node)
		return reply
	}
	reply.Pid = p.pgid
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pgid) + "/stat")
	if err != nil {
		reply.Text = err.Error()
		return reply
	}
	st, err := parseStat(b)
	if err != nil {
		reply.Text = err.Error()
		return reply
	}
	reply.State, reply.CPU = st.State, st.CPU
	if st.State == 'T' {
		reply.Sig = int(stopSignal(p.pgid))
	}
	return reply
}

func (a *agent) binding(spec *agentSpec) ([]int, error) {
	if spec.BindTo == BindNone && !spec.Report {
		return nil, nil
	}
	a.mu.Lock()
	if !a.coresSet {
		a.cores, a.coresErr = NodeCores()
		a.coresSet = true
	}
	cores, err := a.cores, a.coresErr
	a.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("rank %d on %s: %w", spec.Rank, a.cfg.Node, err)
	}
	plan, err := PlanBindings(spec.BindTo, a.cfg.Node, spec.LocalSize, spec.Over, cores)
	if err != nil || plan == nil {
		return nil, err
	}
	if spec.LocalRank < 0 || spec.LocalRank >= len(plan) {
		return nil, fmt.Errorf("rank %d on %s: local rank %d outside the node's %d", spec.Rank, a.cfg.Node, spec.LocalRank, len(plan))
	}
	return plan[spec.LocalRank], nil
}

// forward sends a rank's output to the launcher as it comes.
func (a *agent) forward(rank, stream int, r *os.File, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			a.link.send(&agentMsg{Op: opOutput, Rank: rank, Stream: stream, Data: append([]byte(nil), buf[:n]...)})
		}
		if err != nil {
			return
		}
	}
}

// finish kills what still runs of the job on this node and removes what
// it left: staged files and shared-memory segments.
func (a *agent) finish() {
	a.mu.Lock()
	for _, p := range a.procs {
		syscall.Kill(-p.pgid, syscall.SIGKILL)
	}
	a.mu.Unlock()
	waited := make(chan struct{})
	go func() { a.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(3 * drainWait):
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stageF != nil {
		a.stageF.Close()
		a.stageF = nil
	}
	if a.stageDir != "" {
		os.RemoveAll(a.stageDir)
		a.stageDir = ""
	}
	if a.jobID != "" {
		names, _ := filepath.Glob(filepath.Join("/dev/shm", "mpx-"+a.jobID+"*"))
		for _, n := range names {
			os.RemoveAll(n)
		}
	}
}

// envAgentSecret carries the secret to an agent started by SSH (read from
// its standard input by the remote shell) or srun (in its environment),
// never on a command line that ps would show.
const envAgentSecret = "MPX_AGENT_SECRET"
