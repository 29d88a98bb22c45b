package launcher

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpx-hpc/mpx/internal/ratelog"
)

// AgentStarter starts ranks through one agent per node: over SSH, with
// srun inside a Slurm allocation, or on agents started beforehand (`mpx
// agent --listen`). It is the Starter of multi-node jobs.
type AgentStarter struct {
	// Map is the job's placement; it must be the one the launcher makes
	// from the same hosts and options (MapRanks is deterministic).
	Map *JobMap
	// Via says how agents are started: "ssh" (the zero value), "srun",
	// "listen" (pre-started agents at AgentPort on each host), or "local"
	// (a child process on this node, for binding and tests).
	Via string
	// SSH is the command and options that reach a node (Open MPI's
	// plm_rsh_agent); the host and the remote command are appended. Nil
	// means {"ssh"}. A host that is this machine (localhost, its host
	// name) gets a child agent, without SSH.
	SSH []string
	// AgentPort is where pre-started agents listen (Via "listen").
	AgentPort int
	// AgentSecret is the secret pre-started agents were given; nil for
	// the others, which are handed the job secret.
	AgentSecret []byte
	// ListenHost is the address agents connect back to; empty means every
	// interface.
	ListenHost string
	// BindTo and ReportBindings are --bind-to and --report-bindings.
	BindTo         string
	ReportBindings bool
	// DisplayMap prints the job map when the job starts.
	DisplayMap bool
	// Preload copies the program to each node's temporary directory and
	// runs it from there; PreloadFiles are copied next to it.
	Preload      bool
	PreloadFiles []string
	// ForwardEnv names launcher variables passed to remote ranks (-x
	// VAR); variables set with -x VAR=value, the contract and parameters
	// always are.
	ForwardEnv []string
	// Stderr receives the starter's messages; nil means os.Stderr.
	Stderr io.Writer

	once     sync.Once
	setupErr error
	jobID    string
	secret   []byte
	nodes    map[string]*agentNode // by host name
	ln       net.Listener
}

// agentNode is the launcher's view of one node's agent.
type agentNode struct {
	s      *AgentStarter
	name   string
	plan   *NodePlan
	link   *agentLink
	remote remoteStarter // the ssh or srun process, if any

	mu      sync.Mutex
	procs   map[int]*agentProc
	left    int // ranks not yet exited
	lostErr error
	closed  bool
	bye     chan struct{}
	heard   chan struct{}
	// asked holds the state requests waiting for the agent's reply, by
	// their number.
	asked   map[uint64]chan *agentMsg
	lastSeq uint64
	// mute is set when the agent let a state request go unanswered: the
	// next ones fail at once rather than each waiting out the timeout.
	mute bool
	// delivering is set while the reader hands output to the launcher's
	// writers, which may block (a paused pager): the agent's pings then
	// wait unread, and its silence means nothing.
	delivering atomic.Bool
}

// remoteStarter is the process that started an agent (ssh, srun).
type remoteStarter interface {
	// stop ends it once the agent is done or lost.
	stop()
}

type agentProc struct {
	node   *agentNode
	rank   int
	spec   ProcSpec
	done   chan struct{}
	status ExitStatus
	once   sync.Once
}

func (s *AgentStarter) logf(format string, args ...any) {
	w := s.Stderr
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "mpx: "+format+"\n", args...)
}

// Start implements Starter; the first call starts the agents of every
// node of the map, so that they come up together.
func (s *AgentStarter) Start(spec ProcSpec) (Proc, error) {
	s.once.Do(func() { s.setupErr = s.setup(spec) })
	if s.setupErr != nil {
		return nil, s.setupErr
	}
	node := s.Map.Nodes[s.Map.RankNode[spec.Rank]]
	n := s.nodes[node.Host.Name]
	return n.start(spec)
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func (s *AgentStarter) setup(first ProcSpec) error {
	if s.Map == nil || len(s.Map.Nodes) == 0 {
		return errors.New("agent starter: no job map")
	}
	s.jobID = envValue(first.Env, "MPX_JOB_ID")
	sec, err := hex.DecodeString(envValue(first.Env, "MPX_JOB_SECRET"))
	if err != nil || len(sec) == 0 || s.jobID == "" {
		return errors.New("agent starter: the rank environment lacks MPX_JOB_ID or MPX_JOB_SECRET")
	}
	s.secret = sec
	if s.AgentSecret != nil {
		s.secret = s.AgentSecret
	}
	if s.DisplayMap {
		w := s.Stderr
		if w == nil {
			w = os.Stderr
		}
		s.Map.WriteMap(w, s.jobID, filepath.Base(first.Path))
	}
	s.nodes = map[string]*agentNode{}
	for i := range s.Map.Nodes {
		p := &s.Map.Nodes[i]
		s.nodes[p.Host.Name] = &agentNode{s: s, name: p.Host.Name, plan: p, procs: map[int]*agentProc{},
			left: len(p.Ranks), bye: make(chan struct{}), heard: make(chan struct{}, 1)}
	}
	var conns map[string]*agentLink // attached as they arrive, except pre-started ones
	switch s.Via {
	case "", "ssh", "local", "srun":
		conns, err = s.startAgents()
	case "listen":
		conns, err = s.dialAgents()
	default:
		err = fmt.Errorf("agent starter: unknown way to start agents %q (want ssh, srun, listen or local)", s.Via)
	}
	if err != nil {
		s.abandon()
		return err
	}
	if s.Via == "listen" {
		for _, l := range conns {
			s.attach(l)
		}
	}
	if err := s.stage(first.Path); err != nil {
		s.abandon()
		return err
	}
	return nil
}

// attach makes l the link of its node and starts serving it at once, so
// that the agent hears heartbeats while the others are still coming up.
func (s *AgentStarter) attach(l *agentLink) {
	n := s.nodes[l.peer]
	n.link = l
	go n.readLoop()
	go n.heartbeat()
}

// abandon stops every agent started so far (setup failed).
func (s *AgentStarter) abandon() {
	if s.ln != nil {
		s.ln.Close()
	}
	for _, n := range s.nodes {
		if n.link != nil {
			n.link.conn.Close()
		}
		if n.remote != nil {
			n.remote.stop()
		}
	}
}

// startAgents listens for agents, starts one per node (ssh, srun or a
// local child) and waits until each has connected and proved the secret.
func (s *AgentStarter) startAgents() (map[string]*agentLink, error) {
	host := s.ListenHost
	if host == "" {
		host = "0.0.0.0"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("listening for node agents: %w", err)
	}
	s.ln = ln
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	addrs := connectAddrs(s.ListenHost, port)
	type arrival struct {
		link *agentLink
	}
	arrivals := make(chan arrival)
	// Once every agent is here (or setup failed) nobody else is expected:
	// the listener closes and handshakes still under way are dropped.
	done := make(chan struct{})
	defer func() {
		close(done)
		ln.Close()
	}()
	strangers := ratelog.New(10, time.Minute, "refused agent connections", s.logf)
	defer strangers.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				l, err := handshake(c, s.secret, "launcher", "launcher", false)
				if err != nil {
					c.Close()
					host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
					strangers.Logf(host, "agent connection from %s refused: %v", c.RemoteAddr(), err)
					return
				}
				select {
				case arrivals <- arrival{l}:
				case <-done:
					c.Close()
				}
			}()
		}
	}()
	failed := make(chan error, len(s.nodes))
	if s.Via == "srun" {
		r, err := startSrun(s, addrs, failed)
		if err != nil {
			return nil, err
		}
		for _, n := range s.nodes {
			n.remote = r
		}
	} else {
		for _, n := range s.nodes {
			var r remoteStarter
			var err error
			// This machine needs no SSH, as in Open MPI.
			if s.Via == "local" || isLocalName(n.name) {
				r, err = startLocalAgent(s, n.name, addrs, failed)
			} else {
				r, err = startSSHAgent(s, n.name, addrs, failed)
			}
			if err != nil {
				return nil, err
			}
			n.remote = r
		}
	}
	conns := map[string]*agentLink{}
	deadline := time.After(agentStartTimeout)
	for len(conns) < len(s.nodes) {
		select {
		case a := <-arrivals:
			if _, ok := s.nodes[a.link.peer]; !ok || conns[a.link.peer] != nil {
				a.link.conn.Close()
				s.logf("agent from %s calls itself %q, which is not a node of this job (or came twice)", a.link.conn.RemoteAddr(), a.link.peer)
				continue
			}
			conns[a.link.peer] = a.link
			s.attach(a.link)
		case err := <-failed:
			return nil, err
		case <-deadline:
			var missing []string
			for name := range s.nodes {
				if conns[name] == nil {
					missing = append(missing, name)
				}
			}
			return nil, fmt.Errorf("node agents on %s did not connect back within %v (is %s reachable from them? see --iface)", strings.Join(missing, ", "), agentStartTimeout, strings.Join(addrs, " or "))
		}
	}
	return conns, nil
}

// agentStartTimeout bounds how long agents have to start and connect back.
const agentStartTimeout = 30 * time.Second

// connectAddrs lists the addresses agents may reach the launcher at: the
// listening host if one was chosen, else every up IPv4 address.
func connectAddrs(host, port string) []string {
	if host != "" && host != "0.0.0.0" {
		return []string{net.JoinHostPort(host, port)}
	}
	var out []string
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		as, _ := ifc.Addrs()
		for _, a := range as {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				out = append(out, net.JoinHostPort(ipn.IP.String(), port))
			}
		}
	}
	return append(out, net.JoinHostPort("127.0.0.1", port))
}

// reachableFirst keeps, of the launcher's addresses, those on a subnet of
// this machine that also holds host, so that an agent dials an address it
// can reach and nothing else; when none shares a subnet with host (it is
// routed), all are kept in their order.
func reachableFirst(addrs []string, host string) []string {
	hostIPs, err := net.LookupIP(host)
	if err != nil {
		return addrs
	}
	var nets []*net.IPNet
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		as, _ := ifc.Addrs()
		for _, a := range as {
			if ipn, ok := a.(*net.IPNet); ok {
				nets = append(nets, ipn)
			}
		}
	}
	var near []string
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		ip := net.ParseIP(h)
		if err != nil || ip == nil {
			continue
		}
		for _, n := range nets {
			if !n.IP.Equal(ip) {
				continue
			}
			for _, hip := range hostIPs {
				if n.Contains(hip) {
					near = append(near, a)
				}
			}
		}
	}
	if len(near) == 0 {
		return addrs
	}
	return near
}

// dialAgents connects to pre-started agents.
func (s *AgentStarter) dialAgents() (map[string]*agentLink, error) {
	if s.AgentPort <= 0 {
		return nil, errors.New("pre-started agents: no agent port given")
	}
	type res struct {
		name string
		link *agentLink
		err  error
	}
	ch := make(chan res, len(s.nodes))
	for name := range s.nodes {
		go func() {
			addr := net.JoinHostPort(name, fmt.Sprint(s.AgentPort))
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				ch <- res{name, nil, fmt.Errorf("connecting to the agent on %s: %w", addr, err)}
				return
			}
			l, err := handshake(c, s.secret, "launcher", "launcher", true)
			if err != nil {
				c.Close()
				err = fmt.Errorf("agent on %s: %w", addr, err)
			} else {
				l.peer = name // whatever it calls itself, it is this host's agent
			}
			ch <- res{name, l, err}
		}()
	}
	conns := map[string]*agentLink{}
	var first error
	for range s.nodes {
		r := <-ch
		if r.err != nil {
			if first == nil {
				first = r.err
			}
			continue
		}
		conns[r.name] = r.link
	}
	if first != nil {
		for _, l := range conns {
			l.conn.Close()
		}
		return nil, first
	}
	return conns, nil
}

// stage sends the program (--preload-binary) and input files
// (--preload-files) to every node.
func (s *AgentStarter) stage(program string) error {
	var files []string
	if s.Preload {
		files = append(files, program)
	}
	files = append(files, s.PreloadFiles...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("preloading %s: %w", f, err)
		}
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("preloading %s: %w", f, err)
		}
		for _, n := range s.nodes {
			for off := 0; ; off += stageChunk {
				end := min(off+stageChunk, len(data))
				m := &agentMsg{Op: opStage, Name: filepath.Base(f), Mode: uint32(st.Mode().Perm()), Data: data[off:end], Last: end == len(data)}
				if err := n.link.send(m); err != nil {
					return fmt.Errorf("preloading %s to %s: %w", f, n.name, err)
				}
				if m.Last {
					break
				}
			}
		}
	}
	return nil
}

// remoteEnv picks what of a rank's environment goes to another node: the
// contract, parameters, and what differs from the launcher's own
// environment or was named with -x; the rest comes from the node.
func (s *AgentStarter) remoteEnv(env []string) []string {
	forward := map[string]bool{}
	for _, n := range s.ForwardEnv {
		forward[n] = true
	}
	var out []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		own, isOwn := os.LookupEnv(k)
		if isContractVar(k) || strings.HasPrefix(k, "MPX_") || forward[k] || !isOwn || own != v {
			out = append(out, kv)
		}
	}
	return out
}

func (n *agentNode) start(spec ProcSpec) (Proc, error) {
	s := n.s
	p := &agentProc{node: n, rank: spec.Rank, spec: spec, done: make(chan struct{})}
	local := -1
	for i, r := range n.plan.Ranks {
		if r == spec.Rank {
			local = i
		}
	}
	as := &agentSpec{
		Rank: spec.Rank, JobID: s.jobID, Path: spec.Path, Args: spec.Args,
		Env: s.remoteEnv(spec.Env), Dir: spec.Dir,
		LocalRank: local, LocalSize: len(n.plan.Ranks), Over: len(n.plan.Ranks) > n.plan.Host.Slots,
		BindTo: s.BindTo, Report: s.ReportBindings,
	}
	if as.Dir == "" && !s.Preload {
		as.Dir, _ = os.Getwd()
	}
	if s.Preload {
		as.Path, as.Staged = filepath.Base(spec.Path), true
	}
	n.mu.Lock()
	if n.lostErr != nil {
		err := n.lostErr
		n.mu.Unlock()
		return nil, err
	}
	n.procs[spec.Rank] = p
	n.mu.Unlock()
	if err := n.link.send(&agentMsg{Op: opStart, Spec: as}); err != nil {
		n.lost(fmt.Errorf("node %s: sending rank %d: %v", n.name, spec.Rank, err))
	}
	return p, nil
}

func (p *agentProc) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	n := p.node
	n.mu.Lock()
	gone := n.lostErr != nil || n.closed
	n.mu.Unlock()
	if gone {
		return nil
	}
	return n.link.send(&agentMsg{Op: opSignal, Rank: p.rank, Sig: int(sig)})
}

// State asks the rank's agent what state its process is in, for a
// report about a rank that does not answer for itself (a stopped process
// on another node is described as one on the launcher's).
func (p *agentProc) State() (ProcState, error) {
	select {
	case <-p.done:
		return ProcState{}, fmt.Errorf("rank %d has exited", p.rank)
	default:
	}
	n := p.node
	ch := make(chan *agentMsg, 1)
	n.mu.Lock()
	if n.lostErr != nil || n.closed {
		n.mu.Unlock()
		return ProcState{}, fmt.Errorf("the agent on node %s is gone", n.name)
	}
	if n.mute {
		n.mu.Unlock()
		return ProcState{}, fmt.Errorf("the agent on node %s did not answer an earlier request", n.name)
	}
	if n.asked == nil {
		n.asked = map[uint64]chan *agentMsg{}
	}
	n.lastSeq++
	seq := n.lastSeq
	n.asked[seq] = ch
	n.mu.Unlock()
	forget := func() {
		n.mu.Lock()
		delete(n.asked, seq)
		n.mu.Unlock()
	}
	if err := n.link.send(&agentMsg{Op: opState, Rank: p.rank, Seq: seq}); err != nil {
		forget()
		return ProcState{}, fmt.Errorf("asking the agent on node %s: %w", n.name, err)
	}
	t := time.NewTimer(n.link.timeout)
	defer t.Stop()
	select {
	case m := <-ch:
		if m.Text != "" {
			return ProcState{PID: m.Pid}, fmt.Errorf("on node %s: %s", n.name, m.Text)
		}
		return ProcState{PID: m.Pid, State: m.State, CPU: m.CPU, StopSignal: syscall.Signal(m.Sig)}, nil
	case <-p.done:
		forget()
		return ProcState{}, fmt.Errorf("rank %d has exited", p.rank)
	case <-t.C:
		forget()
		n.mu.Lock()
		n.mute = true
		n.mu.Unlock()
		return ProcState{}, fmt.Errorf("the agent on node %s did not answer within %v", n.name, n.link.timeout)
	}
}

func (p *agentProc) Wait() ExitStatus {
	<-p.done
	return p.status
}

func (p *agentProc) finish(st ExitStatus) {
	p.once.Do(func() {
		p.status = st
		close(p.done)
	})
}

func (n *agentNode) readLoop() {
	for {
		m, err := n.link.recv()
		if err != nil {
			n.mu.Lock()
			closed := n.closed
			n.mu.Unlock()
			if !closed {
				n.lost(fmt.Errorf("node %s: the agent's connection ended (%v): agent killed or node down", n.name, err))
			}
			return
		}
		select {
		case n.heard <- struct{}{}:
		default:
		}
		n.mu.Lock()
		p := n.procs[m.Rank]
		n.mu.Unlock()
		switch m.Op {
		case opOutput:
			if p != nil {
				w := p.spec.Stdout
				if m.Stream == 2 {
					w = p.spec.Stderr
				}
				n.delivering.Store(true)
				w.Write(m.Data)
				n.delivering.Store(false)
			}
		case opExit:
			if p != nil {
				st := ExitStatus{Code: m.Code, Signal: syscall.Signal(m.Sig)}
				if m.Text != "" {
					st = ExitStatus{Err: fmt.Errorf("on node %s: %s", n.name, m.Text)}
				}
				p.finish(st)
				n.rankDone()
			}
		case opStateReply:
			n.mu.Lock()
			ch := n.asked[m.Seq]
			delete(n.asked, m.Seq)
			n.mu.Unlock()
			if ch != nil {
				ch <- m // buffered: the asker may have given up
			}
		case opLog:
			n.s.logf("%s", m.Text)
		case opBye:
			close(n.bye)
			return
		}
	}
}

// rankDone counts a rank of the node as ended; after the last, the agent
// is told to clean up and leave.
func (n *agentNode) rankDone() {
	n.mu.Lock()
	n.left--
	last := n.left == 0
	n.mu.Unlock()
	if last {
		go n.shutdown()
	}
}

func (n *agentNode) shutdown() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	if n.link.send(&agentMsg{Op: opShutdown}) == nil {
		select {
		case <-n.bye:
		case <-time.After(5 * time.Second):
		}
	}
	n.link.conn.Close()
	if n.remote != nil {
		n.remote.stop()
	}
}

func (n *agentNode) heartbeat() {
	t := time.NewTicker(n.link.every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-n.bye:
			return
		case <-n.heard:
			last = time.Now()
		case <-t.C:
			if n.delivering.Load() {
				last = time.Now()
			}
			n.mu.Lock()
			stop := n.closed || n.lostErr != nil
			n.mu.Unlock()
			if stop {
				return
			}
			if silent := time.Since(last); silent > n.link.timeout {
				n.lost(fmt.Errorf("node %s: no heartbeat from its agent for %v: link down or node hung", n.name, silent.Round(100*time.Millisecond)))
				return
			}
			n.link.ping()
		}
	}
}

// lost ends every rank of the node with err (once).
func (n *agentNode) lost(err error) {
	n.mu.Lock()
	if n.lostErr != nil || n.closed {
		n.mu.Unlock()
		return
	}
	n.lostErr = err
	procs := make([]*agentProc, 0, len(n.procs))
	for _, p := range n.procs {
		procs = append(procs, p)
	}
	n.mu.Unlock()
	n.s.logf("%v", err)
	n.link.conn.Close()
	if n.remote != nil {
		n.remote.stop()
	}
	for _, p := range procs {
		p.finish(ExitStatus{Err: err})
	}
}
