// Package launcher starts and supervises the ranks of a job: placement,
// starting processes, forwarding their output and signals, hosting the
// key-value wire-up service, and turning rank failures into one clear
// result. `mpx run` is a thin layer of flags over Run.
package launcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/runtime/bootstrap"
)

// Config describes one job. The zero value of each field is documented.
type Config struct {
	// Program is an executable (a path, or a name looked up on PATH) or a
	// Go package directory, which is built first. Required.
	Program string
	// Args are the program's arguments.
	Args []string
	// NP is the number of ranks (-n). Zero means one per slot.
	NP int
	// Env are -x options: "VAR" passes the launcher's value of VAR, and
	// "VAR=value" sets it. The ranks also inherit the launcher's
	// environment, as local processes do.
	Env []string
	// Params are --param options, "name=value", checked against the
	// parameter registry and passed to every rank (and applied to the
	// launcher itself, for its own knobs).
	Params []string
	// TagOutput prefixes every line of output with "[1,rank]<stdout>: ".
	TagOutput bool
	// Timeout stops the job after this long, first printing what every
	// rank is blocked in. Zero means no limit.
	Timeout time.Duration
	// Oversubscribe allows more ranks than slots (cores on this node).
	Oversubscribe bool
	// Wdir is the ranks' working directory; empty means the launcher's.
	Wdir string
	// Hosts are the nodes to place ranks on; nil means this node, with
	// as many slots as it has cores.
	Hosts []Host
	// MapBy and NPerNode are --map-by and --npernode (see MapOptions);
	// zero values fill each node's slots in turn.
	MapBy    string
	NPerNode int
	// Starter starts the ranks; nil forks them on this node, which then
	// must be the only host.
	Starter Starter
	// KVAddr is where the key-value service listens; empty means a free
	// port on the loopback interface, enough for one node.
	KVAddr string
	// BuildDir caches binaries built from Go package directories; empty
	// means mpx/build under the user's cache directory.
	BuildDir string
	// Stdout and Stderr receive the ranks' output and the launcher's own
	// messages (on Stderr, prefixed "mpx: "); nil means os.Stdout and
	// os.Stderr.
	Stdout, Stderr io.Writer
	// Signals delivers signals to forward to every rank (the caller
	// subscribes to SIGINT, SIGTERM and ForwardedSignals). Those in
	// ForwardedSignals are passed on and the job goes on; any other stops
	// the job: ranks still running after launcher_kill_grace are killed,
	// and a second such signal kills them at once. Nil means none.
	Signals <-chan os.Signal
}

// ForwardedSignals are passed on to every running rank without stopping
// the job, as Open MPI's mpirun does with them: a program may use them
// to checkpoint or print progress. A rank that does not handle them dies
// of them (the default action), which fails the job.
var ForwardedSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2}

// Result is how a job ended.
type Result struct {
	// ExitCode is what `mpx run` exits with: 0 when every rank exited 0
	// (after Finalize, if it connected to the launcher); otherwise the
	// failed rank's exit status, 128+signal when a signal killed it, its
	// Abort code, 124 when the timeout expired, 128+signal when the
	// launcher was interrupted, 1 otherwise.
	ExitCode int
	// Rank is the rank whose failure ended the job; -1 if none did.
	Rank int
	// Summary is the one line printed about the failure; empty on success.
	Summary string
	// JobID is the job's identifier (MPX_JOB_ID).
	JobID string
}

// localHost is the name of this node in a single-node job map.
const localHost = "localhost"

// Run starts the job cfg describes and supervises it to the end. An error
// wrapping ErrUsage means the description was wrong and nothing was
// started; other errors mean the job could not be started (what was
// started is stopped first). A job that ran is reported in Result, with a
// non-zero ExitCode if it failed.
func Run(ctx context.Context, cfg Config) (Result, error) {
	j, err := prepare(cfg)
	if err != nil {
		return Result{Rank: -1}, err
	}
	defer j.cleanupParams()
	return j.run(ctx)
}

// job is one run of a Config.
type job struct {
	cfg      Config
	path     string
	jm       *JobMap
	id       string
	secret   []byte
	env      []string // environment common to every rank
	params   []string // names set with param.Set, to unset
	stdout   syncWriter
	stderr   syncWriter
	starter  Starter
	nodeName []string // by node id
	localOK  bool

	procs    []Proc
	panicked []atomic.Pointer[string] // the first panic line of each rank's stderr
	outs     []io.Closer
}

func prepare(cfg Config) (*job, error) {
	j := &job{cfg: cfg, starter: cfg.Starter}
	if cfg.NP < 0 {
		return nil, usageErr("-n %d: want at least 1 rank", cfg.NP)
	}
	if cfg.Timeout < 0 {
		return nil, usageErr("--timeout %v: want a positive duration", cfg.Timeout)
	}
	var mu sync.Mutex // one lock for both streams: a terminal shows them as one
	out, errw := cfg.Stdout, cfg.Stderr
	if out == nil {
		out = os.Stdout
	}
	if errw == nil {
		errw = os.Stderr
	}
	j.stdout, j.stderr = syncWriter{&mu, out}, syncWriter{&mu, errw}

	// Parameters: known names and good values only; applied here too.
	for _, kv := range cfg.Params {
		name, value, err := param.Parse(kv)
		if err != nil {
			j.cleanupParams()
			return nil, usageErr("%v", err)
		}
		if err := param.Set(name, value); err != nil {
			j.cleanupParams()
			return nil, usageErr("--param: %v", err)
		}
		j.params = append(j.params, name)
		j.env = append(j.env, param.EnvName(name)+"="+value)
	}
	if err := param.Check(); err != nil {
		j.cleanupParams()
		return nil, usageErr("%v", err)
	}
	fail := func(err error) (*job, error) {
		j.cleanupParams()
		return nil, err
	}
	for _, x := range cfg.Env {
		name, value, hasValue := strings.Cut(x, "=")
		if name == "" || strings.ContainsAny(name, " \t\n") {
			return fail(usageErr("-x %q: want VAR or VAR=value", x))
		}
		if !hasValue {
			v, ok := os.LookupEnv(name)
			if !ok {
				return fail(usageErr("-x %s: %s is not set in the launcher's environment", name, name))
			}
			value = v
		}
		j.env = append(j.env, name+"="+value)
	}
	if cfg.Wdir != "" {
		st, err := os.Stat(cfg.Wdir)
		if err != nil || !st.IsDir() {
			return fail(usageErr("--wdir %s: not a directory", cfg.Wdir))
		}
	}

	hosts := cfg.Hosts
	if hosts == nil {
		j.localOK = true
		hosts = []Host{{Name: localHost, Slots: goruntime.NumCPU()}}
	}
	jm, err := MapRanks(hosts, MapOptions{NP: cfg.NP, MapBy: cfg.MapBy, NPerNode: cfg.NPerNode, Oversubscribe: cfg.Oversubscribe})
	if err != nil {
		return fail(usageErr("%v", err))
	}
	j.jm = jm
	if j.starter == nil {
		for _, n := range jm.Nodes {
			if !j.localOK && !isLocalName(n.Host.Name) {
				return fail(usageErr("host %s is not this node, and this launcher starts ranks on this node only", n.Host.Name))
			}
		}
		j.starter = localStarter{}
	}
	j.nodeName = make([]string, len(jm.Nodes))
	for i, n := range jm.Nodes {
		j.nodeName[i] = n.Host.Name
		if j.localOK {
			if h, err := os.Hostname(); err == nil {
				j.nodeName[i] = h
			}
		}
	}

	// The program last: building it is the slow part.
	if j.path, err = resolveProgram(cfg.Program, cfg.BuildDir); err != nil {
		return fail(err)
	}
	idb := make([]byte, 6)
	if _, err := rand.Read(idb); err != nil {
		return fail(fmt.Errorf("job id: %w", err))
	}
	j.id = hex.EncodeToString(idb)
	if j.secret, err = bootstrap.NewSecret(); err != nil {
		return fail(err)
	}
	return j, nil
}

func isLocalName(name string) bool {
	if name == localHost || name == "127.0.0.1" || name == "::1" {
		return true
	}
	h, err := os.Hostname()
	return err == nil && h == name
}

func (j *job) cleanupParams() {
	for _, name := range j.params {
		param.Unset(name)
	}
	j.params = nil
}

// logf prints one launcher message.
func (j *job) logf(format string, args ...any) {
	fmt.Fprintf(j.stderr, "mpx: "+format+"\n", args...)
}

// rankEnv is the environment of rank r.
func (j *job) rankEnv(r int, kvAddr string) []string {
	var env []string
	for _, kv := range os.Environ() {
		// Not the contract of an enclosing job (mpx run inside a rank).
		if k, _, _ := strings.Cut(kv, "="); isContractVar(k) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, j.env...)
	node := j.jm.RankNode[r]
	be := bootstrap.Env{
		Rank: r, Size: j.jm.Size,
		LocalRank: j.jm.RankLocal[r], LocalSize: len(j.jm.Nodes[node].Ranks),
		NodeID: node, NodeName: j.nodeName[node],
		JobID: j.id, KVAddr: kvAddr, Secret: j.secret,
	}
	// Last, so that nothing the user passes can change it.
	return append(env, be.Environ()...)
}

// isContractVar says whether k belongs to the launcher-rank contract (of
// mpx, or of a PMI process manager such as the Slurm step mpx may run in,
// whose PMI_FD would send a rank to the wrong wire-up).
func isContractVar(k string) bool {
	switch k {
	case bootstrap.EnvRank, bootstrap.EnvSize, bootstrap.EnvLocalRank, bootstrap.EnvLocalSize,
		bootstrap.EnvNodeID, bootstrap.EnvNodeName, bootstrap.EnvJobID, bootstrap.EnvKVAddr, bootstrap.EnvSecret:
		return true
	}
	return strings.HasPrefix(k, "PMI_") || strings.HasPrefix(k, "OMPI_COMM_WORLD_")
}

// stopReason says why the launcher stopped the job.
type stopReason struct {
	rank    int // the rank that failed; -1 for the job as a whole
	summary string
	code    int
}

type rankExit struct {
	rank int
	st   ExitStatus
}

func (j *job) run(ctx context.Context) (Result, error) {
	n := j.jm.Size
	res := Result{Rank: -1, JobID: j.id}
	// The service's own lines (strangers dropped) matter while the job
	// runs; once every rank has exited they would follow the summary.
	var ended atomic.Bool
	srv, err := bootstrap.NewServer(n, j.secret, func(format string, args ...any) {
		if !ended.Load() {
			j.logf(format, args...)
		}
	})
	if err != nil {
		return res, err
	}
	if err := srv.Listen(j.cfg.KVAddr); err != nil {
		return res, err
	}
	defer srv.Close()
	defer j.removeShm()

	j.procs = make([]Proc, n)
	j.panicked = make([]atomic.Pointer[string], n)
	exits := make(chan rankExit, n)
	for r := range n {
		if err := j.start(r, srv.Addr(), exits); err != nil {
			j.killAll(r)
			for range r {
				<-exits
			}
			j.closeOutputs()
			return res, fmt.Errorf("starting rank %d: %w", r, err)
		}
	}
	sv := &supervisor{job: j, srv: srv, exits: exits,
		exited: make([]bool, n), statuses: make([]ExitStatus, n),
		left: make([]int, n), leftC: make(chan int, n)}
	sv.loop(ctx)
	ended.Store(true)
	// Every rank has exited; end whatever they left behind.
	j.killAll(n)
	j.closeOutputs()
	stop := sv.stop
	if stop == nil {
		return res, nil
	}
	line := stop.summary
	switch {
	case sv.stopped == 1 && stop.rank >= 0:
		line += "; stopped 1 other rank"
	case sv.stopped > 1 && stop.rank >= 0:
		line += fmt.Sprintf("; stopped %d other ranks", sv.stopped)
	case sv.stopped == 1:
		line += "; stopped 1 rank"
	case sv.stopped > 1:
		line += fmt.Sprintf("; stopped %d ranks", sv.stopped)
	}
	j.logf("%s", line)
	res.ExitCode, res.Rank, res.Summary = stop.code, stop.rank, "mpx: "+line
	return res, nil
}

// supervisor watches a started job until every rank has exited.
type supervisor struct {
	*job
	srv      *bootstrap.Server
	exits    chan rankExit
	running  int
	exited   []bool
	statuses []ExitStatus
	// left[r] is the order in which rank r's connection closed without
	// Finalize (1 for the first); 0 if it has not. The rank whose
	// connection closed first is the cause of the failures that follow.
	left  []int
	nleft int
	leftC chan int // a rank left a while ago and may still be running
	stop  *stopReason
	// culprit is the rank whose failure probably caused stop's, whose
	// exit is awaited (up to launcher_cause_wait, spared the stop's
	// signals) to name what happened to it; -1 if none. fallback is the
	// reason that stands if it does not fail of its own accord.
	culprit       int
	fallback      *stopReason
	culpritKilled bool // the launcher sent the culprit SIGKILL
	causeC        <-chan time.Time
	stopped       int // ranks still running when the job was stopped
	killC         <-chan time.Time
	signals       int
}

func (sv *supervisor) host(r int) string { return sv.nodeName[sv.jm.RankNode[r]] }

func (sv *supervisor) loop(ctx context.Context) {
	sv.running = len(sv.procs)
	sv.culprit = -1
	var timeoutC <-chan time.Time
	if sv.cfg.Timeout > 0 {
		t := time.NewTimer(sv.cfg.Timeout)
		defer t.Stop()
		timeoutC = t.C
	}
	events, sigs, ctxDone := sv.srv.Events(), sv.cfg.Signals, ctx.Done()
	for sv.running > 0 {
		select {
		case e := <-sv.exits:
			sv.exit(e)
		case ev := <-events:
			sv.event(ev)
		case r := <-sv.leftC:
			if sv.stop == nil && !sv.exited[r] {
				sv.beginStop(sv.leftReason(r))
			}
		case <-timeoutC:
			timeoutC = nil
			if sv.stop == nil {
				sv.printReports()
				sv.beginStop(&stopReason{rank: -1, code: 124, summary: fmt.Sprintf("timeout of %v expired", sv.cfg.Timeout)})
			}
		case sig := <-sigs:
			sv.signal(sig)
		case <-ctxDone:
			ctxDone = nil
			sv.beginStop(&stopReason{rank: -1, code: 1, summary: fmt.Sprintf("stopped: %v", ctx.Err())})
		case <-sv.killC:
			sv.killC = nil
			for r, p := range sv.procs {
				if r != sv.culprit {
					p.Signal(syscall.SIGKILL)
				}
			}
		case <-sv.causeC:
			sv.causeC = nil
			sv.killCulprit()
		}
	}
}

// killCulprit gives up waiting for the culprit to end of its own accord.
func (sv *supervisor) killCulprit() {
	if sv.culprit >= 0 {
		sv.culpritKilled = true
		sv.procs[sv.culprit].Signal(syscall.SIGKILL)
	}
}

// suspect makes rank r the culprit of the stop about to begin, with
// fallback as the reason if r turns out not to have failed by itself.
func (sv *supervisor) suspect(r int, fallback *stopReason) {
	sv.culprit, sv.fallback = r, fallback
	sv.causeC = time.After(causeWait.Get())
}

// abortReason is why rank r's Abort stops the job. An Abort because the
// link to rank lost broke is a consequence: if lost already failed, its
// failure is the reason; if it is still running, it becomes the culprit
// whose exit is awaited.
func (sv *supervisor) abortReason(r, code int, msg string, lost int) *stopReason {
	why := sv.abortedReason(r, code, msg)
	if lost < 0 || lost == r || lost >= len(sv.procs) {
		return why
	}
	if !sv.exited[lost] {
		sv.suspect(lost, why)
		return why
	}
	if cause := sv.classify(lost, sv.statuses[lost], sv.srv.State(lost)); cause != nil {
		return cause
	}
	return why
}

func (sv *supervisor) abortedReason(r, code int, msg string) *stopReason {
	exit := code
	if exit == 0 {
		exit = 1
	}
	return &stopReason{rank: r, code: exit,
		summary: fmt.Sprintf("rank %d on host %s called Abort with code %d: %s", r, sv.host(r), code, msg)}
}

func (sv *supervisor) leftReason(r int) *stopReason {
	return &stopReason{rank: r, code: 1,
		summary: fmt.Sprintf("rank %d on host %s closed its connection to the launcher without Finalize", r, sv.host(r))}
}

func (sv *supervisor) unconnectedReason(r int) *stopReason {
	return &stopReason{rank: r, code: 1, summary: fmt.Sprintf(
		"rank %d on host %s exited with status 0 without connecting to the launcher, while other ranks did", r, sv.host(r))}
}

func (sv *supervisor) anyConnected() bool {
	for r := range sv.procs {
		if sv.srv.State(r).Connected {
			return true
		}
	}
	return false
}

func (sv *supervisor) event(ev bootstrap.Event) {
	switch ev.Type {
	case bootstrap.EventAborted:
		if sv.stop == nil {
			sv.beginStop(sv.abortReason(ev.Rank, ev.Code, ev.Msg, ev.Lost))
		}
	case bootstrap.EventConnected:
		// The job does wire-up, so a rank that already exited 0 without
		// connecting left its peers waiting for it.
		if sv.stop != nil {
			return
		}
		for r, done := range sv.exited {
			st := sv.statuses[r]
			if done && st.Err == nil && st.Signal == 0 && st.Code == 0 && !sv.srv.State(r).Connected {
				sv.beginStop(sv.unconnectedReason(r))
				return
			}
		}
	case bootstrap.EventDisconnected:
		if ev.Finalized {
			return
		}
		sv.nleft++
		sv.left[ev.Rank] = sv.nleft
		if sv.stop == nil {
			// Normally the process exits right after; if it goes on
			// without its connection, it has left the job.
			r := ev.Rank
			time.AfterFunc(drainWait, func() { sv.leftC <- r })
		}
	}
}

// drainEvents handles the events already queued, so that a decision
// about an exit sees every disconnect that preceded it.
func (sv *supervisor) drainEvents() {
	for {
		select {
		case ev, ok := <-sv.srv.Events():
			if !ok {
				return
			}
			sv.event(ev)
		default:
			return
		}
	}
}

func (sv *supervisor) exit(e rankExit) {
	sv.running--
	sv.exited[e.rank] = true
	sv.statuses[e.rank] = e.st
	if sv.stop == nil {
		// What the service heard before this exit decides first: the
		// rank's own Abort (and the peer it names), peers that left.
		sv.drainEvents()
	}
	if sv.stop != nil {
		if e.rank == sv.culprit {
			sv.culprit, sv.causeC = -1, nil
			why := sv.classify(e.rank, e.st, sv.srv.State(e.rank))
			if why == nil || (e.st.Signal == syscall.SIGKILL && sv.culpritKilled) {
				why = sv.fallback
			}
			*sv.stop = *why
		}
		return
	}
	why := sv.classify(e.rank, e.st, sv.srv.State(e.rank))
	if why == nil {
		return
	}
	// A rank often fails because a peer died first (its fence or receive
	// fails): blame the rank whose connection closed first.
	first := -1
	for r, order := range sv.left {
		if order > 0 && (first < 0 || order < sv.left[first]) {
			first = r
		}
	}
	if first >= 0 && first != e.rank && !sv.exited[first] && (sv.left[e.rank] == 0 || sv.left[first] < sv.left[e.rank]) {
		why = sv.leftReason(first)
		sv.suspect(first, why)
	}
	sv.beginStop(why)
}

// beginStop terminates every rank still running and arms the kill.
func (sv *supervisor) beginStop(why *stopReason) {
	sv.stopWith(why, syscall.SIGTERM)
}

// stopWith sends sig to every rank still running and arms the kill.
func (sv *supervisor) stopWith(why *stopReason, sig syscall.Signal) {
	if sv.stop != nil {
		return
	}
	sv.stop = why
	for r, p := range sv.procs {
		switch {
		case sv.exited[r]:
		case r == sv.culprit:
			// Its connection is gone: it is dying of its own cause, which
			// its exit status will tell, unless the kill comes first.
		default:
			if r != why.rank {
				sv.stopped++
			}
			p.Signal(sig)
		}
	}
	sv.killC = time.After(killGrace.Get())
}

// signal forwards a signal the launcher received to every rank; unless it
// is one of ForwardedSignals, it stops the job, and a second one kills the
// ranks at once.
func (sv *supervisor) signal(sig os.Signal) {
	for _, f := range ForwardedSignals {
		if sig == f {
			for r, p := range sv.procs {
				if !sv.exited[r] {
					p.Signal(sig.(syscall.Signal))
				}
			}
			return
		}
	}
	sv.signals++
	s, ok := sig.(syscall.Signal)
	if sv.signals > 1 || sv.stop != nil || !ok {
		sv.killCulprit()
		sv.killAll(len(sv.procs)) // impatient: no more grace
		return
	}
	// The ranks get the signal itself, so that they may act on it as
	// they would at a terminal; the kill follows after the grace period.
	sv.stopWith(&stopReason{rank: -1, code: 128 + int(s), summary: fmt.Sprintf("received signal %d (%v)", int(s), s)}, s)
}

// classify decides whether rank r ending with st fails the job.
func (sv *supervisor) classify(r int, st ExitStatus, ks bootstrap.RankState) *stopReason {
	host := sv.host(r)
	what := st.String()
	switch {
	case ks.Aborted:
		return sv.abortedReason(r, ks.Code, ks.Msg)
	case st.Err == nil && st.Signal == 0 && st.Code == 0:
		if ks.Connected && !ks.Finalized {
			return &stopReason{rank: r, code: 1, summary: fmt.Sprintf("rank %d on host %s exited with status 0 without calling Finalize", r, host)}
		}
		if !ks.Connected && sv.anyConnected() {
			return sv.unconnectedReason(r)
		}
		// A program that never connects (not an mpx program) is fine.
		return nil
	case sv.panicked[r].Load() != nil:
		what = "panicked (" + what + "): " + *sv.panicked[r].Load()
	}
	return &stopReason{rank: r, code: st.exitCode(), summary: fmt.Sprintf("rank %d on host %s %s", r, host, what)}
}

// start starts rank r; its exit is sent on exits.
func (j *job) start(r int, kvAddr string, exits chan<- rankExit) error {
	tag := func(stream string) []byte {
		if !j.cfg.TagOutput {
			return nil
		}
		return fmt.Appendf(nil, "[1,%d]<%s>: ", r, stream)
	}
	out := &lineWriter{prefix: tag("stdout"), out: j.stdout}
	errw := &lineWriter{prefix: tag("stderr"), out: j.stderr, panicked: &j.panicked[r]}
	j.outs = append(j.outs, out, errw)
	p, err := j.starter.Start(ProcSpec{
		Rank: r, Host: j.nodeName[j.jm.RankNode[r]],
		Path: j.path, Args: j.cfg.Args, Env: j.rankEnv(r, kvAddr), Dir: j.cfg.Wdir,
		Stdout: out, Stderr: errw,
	})
	if err != nil {
		return err
	}
	j.procs[r] = p
	go func() {
		st := p.Wait()
		// The rank's last partial lines go out before its exit is known,
		// so that a panic's stack precedes the summary.
		out.Close()
		errw.Close()
		exits <- rankExit{r, st}
	}()
	return nil
}

// killAll kills the first n ranks and whatever they started.
func (j *job) killAll(n int) {
	for _, p := range j.procs[:n] {
		if p != nil {
			p.Signal(syscall.SIGKILL)
		}
	}
}

func (j *job) closeOutputs() {
	for _, c := range j.outs {
		c.Close()
	}
}

// printReports prints what every rank is doing, from its own report, or
// for a rank that cannot answer, from what the system says of its process.
func (sv *supervisor) printReports() {
	sv.logf("timeout of %v expired; what each rank is doing:", sv.cfg.Timeout)
	// A reading before the wait for answers and one after tell a runnable
	// rank that never gets a processor from one that runs.
	before := make([]ProcState, len(sv.procs))
	start := time.Now()
	for r, p := range sv.procs {
		if s, ok := p.(stater); ok && !sv.exited[r] {
			before[r], _ = s.State()
		}
	}
	for _, rep := range sv.srv.Report(reportWait.Get()) {
		r := rep.Rank
		switch {
		case sv.exited[r]:
			sv.logf("rank %d on host %s: %s", r, sv.host(r), sv.statuses[r])
		case rep.Err != nil:
			s, ok := sv.procs[r].(stater)
			if !ok {
				sv.logf("rank %d on host %s: no report: %v", r, sv.host(r), rep.Err)
				break
			}
			st, err := s.State()
			if err != nil {
				sv.logf("rank %d on host %s: no report: %v; process state unknown: %v", r, sv.host(r), rep.Err, err)
				break
			}
			sv.logf("rank %d on host %s (pid %d): %s; no report: %v", r, sv.host(r), st.PID,
				st.describe(before[r], time.Since(start).Round(100*time.Millisecond)), rep.Err)
		default:
			sv.logf("rank %d on host %s: %s", r, sv.host(r), rep.Text)
		}
	}
}

// removeShm removes the shared-memory segments of the job (the shm
// transport names them /dev/shm/mpx-<job id>...), which ranks killed in the
// middle of the job could not remove themselves.
func (j *job) removeShm() {
	names, _ := filepath.Glob(filepath.Join("/dev/shm", "mpx-"+j.id+"*"))
	for _, name := range names {
		os.RemoveAll(name)
	}
}
