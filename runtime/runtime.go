// Package runtime is a rank's bootstrap and lifecycle: it reads what the
// launcher put in the environment, connects to the launcher's key-value
// service, publishes this rank's business card, fences, and picks and opens
// a transport per peer. It owns Finalize and Abort. It never imports comm;
// comm hands it the protocol engine as a transport.Handler.
//
// Inside the module, import it under an alias (mpxrt), since its name
// shadows Go's own runtime package.
package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/runtime/bootstrap"
	"github.com/mpx-hpc/mpx/runtime/bootstrap/pmi2"
	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/shm"
	"github.com/mpx-hpc/mpx/transport/tcp"
	"github.com/mpx-hpc/mpx/transport/ucx"
	"github.com/vmihailenco/msgpack/v5"
)

// Version is mpx's version, reported by `mpx info` and benchmarks.
const Version = "0.1.0"

var (
	transportParam = param.NewEnum("transport", "auto", []string{"auto", "shm", "tcp", "ucx"},
		"transport for every peer: auto takes shared memory on the same node, and between nodes ucx where this binary has it (-tags ucx) and UCX finds an RDMA device, else tcp; naming one forces it (ucx obeys UCX_TLS and UCX_NET_DEVICES)")
	tcpReadParam = param.NewEnum("tcp_read", "waiter", []string{"waiter", "thread"},
		"who reads TCP links when no shared memory is in use: the goroutine waiting for the peer, asleep on its socket (lowest latency), or a receive goroutine per link that hands frames over (progress while the rank computes)")
	reportParam = param.NewBool("report_transports", false,
		"each rank prints, once wired up, which transport reaches which peers")
)

// kvService is the wire-up service a rank talks to: mpx's launcher
// (bootstrap.Client) or a PMI-2 process manager such as Slurm's srun.
type kvService interface {
	Put(key string, value []byte) error
	Get(key string) ([]byte, error)
	Fence() error
	Finalize() error
	Abort(code int, msg string) error
	Done() <-chan struct{}
	Err() error
	Close() error
}

// pmiSession is the PMI-2 session Detect opened, for Start to use.
var pmiSession *pmi2.Client

// Detect reads the launcher's environment. launched is false for a program
// started on its own, which is then a job of one rank. A rank started by
// srun --mpi=pmi2 (PMI_FD set, no MPX_RANK) does its wire-up through PMI-2.
func Detect() (env bootstrap.Env, launched bool, err error) {
	env, launched, err = bootstrap.FromEnviron(os.Getenv)
	if err == nil && !launched && pmi2.Detect(os.Getenv) {
		env, err = detectPMI2()
		launched = err == nil
	}
	if err != nil || !launched {
		return env, launched, err
	}
	if err := param.Check(); err != nil {
		return env, true, err
	}
	return env, true, nil
}

func detectPMI2() (bootstrap.Env, error) {
	c, err := pmi2.Open(os.Getenv)
	if err != nil {
		return bootstrap.Env{}, err
	}
	env := c.Env()
	// Segment names allow letters, digits, '.' and '_' only.
	env.JobID = strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, env.JobID)
	if env.Secret, err = c.SharedSecret("mpx-secret"); err != nil {
		c.Close()
		return env, err
	}
	pmiSession = c
	return env, nil
}

// card is a rank's business card: where and how to reach it.
type card struct {
	Node int    `msgpack:"node"`
	TCP  string `msgpack:"tcp"`
	UCX  string `msgpack:"ucx,omitempty"` // empty: this rank has no ucx transport
}

func cardKey(rank int) string { return "card/" + strconv.Itoa(rank) }

// Runtime is one rank's membership of a launched job.
type Runtime struct {
	env   bootstrap.Env
	kv    kvService
	boot  *bootstrap.Client // the launcher's, when not under PMI-2
	tcp   *tcp.Transport
	shm   *shm.Transport
	ucx   ucx.Link       // nil unless chosen (see openUCX)
	local map[int]string // shm business cards of the ranks on this node
	mu    sync.Mutex
	seen  map[int]card

	leaving atomic.Bool // Finalize or Abort under way: losing the launcher is expected
}

// Start joins the job described by env, delivering inbound frames to h.
// It returns once every rank has published its business card.
func Start(env bootstrap.Env, h transport.Handler) (*Runtime, error) {
	rt := &Runtime{env: env, seen: map[int]card{}}
	if pmiSession != nil {
		rt.kv, pmiSession = pmiSession, nil
	} else {
		boot, err := bootstrap.Dial(env.KVAddr, env.Secret, env.Rank)
		if err != nil {
			return nil, err
		}
		rt.kv, rt.boot = boot, boot
	}
	kv := rt.kv
	var err error
	fail := func(err error) (*Runtime, error) {
		rt.close()
		return nil, err
	}
	// A job on one node keeps its listeners out of other machines' reach.
	rt.tcp, err = tcp.New(tcp.Config{Rank: env.Rank, Size: env.Size, Secret: env.Secret, Handler: h, Local: env.LocalSize == env.Size})
	if err != nil {
		return fail(err)
	}
	me := card{Node: env.NodeID, TCP: rt.tcp.Address()}
	if err := rt.openUCX(h); err != nil {
		return fail(err)
	}
	if rt.ucx != nil {
		me.UCX = rt.ucx.Address()
	}
	b, err := msgpack.Marshal(me)
	if err != nil {
		return fail(err)
	}
	if err := kv.Put(cardKey(env.Rank), b); err != nil {
		return fail(err)
	}
	if err := kv.Fence(); err != nil {
		return fail(fmt.Errorf("wire-up fence: %w", err))
	}
	if err := rt.startShm(h); err != nil {
		return fail(err)
	}
	if reportParam.Get() {
		fmt.Fprintf(os.Stderr, "mpx: rank %d on node %d: %s\n", env.Rank, env.NodeID, rt.describePeers())
	}
	go rt.watchLauncher()
	return rt, nil
}

// startShm opens shared memory with the other ranks of this node: every
// rank creates its segment and publishes it, all fence, every rank maps its
// local peers' segments, all fence again, and the names are unlinked, so no
// file under /dev/shm outlives the job even if a rank is killed later.
func (rt *Runtime) startShm(h transport.Handler) error {
	mode := transportParam.Get()
	var local []int
	for r := 0; rt.env.LocalSize == rt.env.Size && r < rt.env.Size; r++ {
		// Every rank is on this node: no business card need be read
		// (N key-value lookups on each of N ranks).
		local = append(local, r)
	}
	for r := 0; local == nil && r < rt.env.Size; r++ {
		c, err := rt.card(r)
		if err != nil {
			return err
		}
		if c.Node == rt.env.NodeID {
			local = append(local, r)
		}
	}
	// Every rank of a node decides alike, since the fences below are
	// job-wide: all ranks take part in them whether or not they use shm.
	use := mode != "tcp" && mode != "ucx" && len(local) > 1
	if use {
		t, err := shm.New(shm.Config{Rank: rt.env.Rank, Size: rt.env.Size, JobID: rt.env.JobID,
			Secret: rt.env.Secret, Handler: h, LocalPeers: local})
		if err != nil {
			if mode == "shm" {
				return err
			}
			fmt.Fprintf(os.Stderr, "mpx: rank %d: shared memory unavailable, using tcp: %v\n", rt.env.Rank, err)
		} else {
			rt.shm = t
		}
	}
	addr := ""
	if rt.shm != nil {
		addr = rt.shm.Address()
	}
	if err := rt.kv.Put(shmKey(rt.env.Rank), []byte(addr)); err != nil {
		return err
	}
	if err := rt.kv.Fence(); err != nil {
		return fmt.Errorf("shared-memory wire-up fence: %w", err)
	}
	if rt.shm != nil {
		// Segments are found by name rather than by N key-value lookups
		// per rank, which cost more than the rest of the set-up at a few
		// hundred ranks.
		var err error
		if rt.local, err = rt.shm.ConnectLocal(local); err != nil {
			return err
		}
	}
	if err := rt.kv.Fence(); err != nil {
		return fmt.Errorf("shared-memory seal fence: %w", err)
	}
	if rt.shm != nil {
		return rt.shm.Seal()
	}
	return nil
}

func shmKey(rank int) string { return "shm/" + strconv.Itoa(rank) }

// openUCX opens the ucx transport when transport=ucx forces it (failing
// the rank if it cannot), or, under auto, when this binary has ucx and UCX
// finds an RDMA-capable transport here. Whether a peer is then reached
// over ucx depends on both business cards (useUCX), so both ends agree.
func (rt *Runtime) openUCX(h transport.Handler) error {
	mode := transportParam.Get()
	switch {
	case mode == "ucx":
	case mode != "auto" || !ucx.Built || rt.env.Size == 1:
		return nil
	default:
		rs, err := ucx.Resources()
		if err != nil || !ucx.HasRDMA(rs) {
			return nil
		}
	}
	l, err := ucx.Open(ucx.Config{Rank: rt.env.Rank, Size: rt.env.Size, Secret: rt.env.Secret, Handler: h})
	if err != nil {
		if mode == "ucx" {
			return fmt.Errorf("transport=ucx: %w", err)
		}
		fmt.Fprintf(os.Stderr, "mpx: rank %d: ucx unavailable, using tcp between nodes: %v\n", rt.env.Rank, err)
		return nil
	}
	rt.ucx = l
	return nil
}

// useUCX says whether peer, whose business card is c, is reached over
// ucx: both ranks have it, and it is forced or the peer is on another node.
func (rt *Runtime) useUCX(c card) bool {
	return rt.ucx != nil && c.UCX != "" && (transportParam.Get() == "ucx" || c.Node != rt.env.NodeID)
}

// describePeers says which transport reaches which peers.
func (rt *Runtime) describePeers() string {
	var viaShm, viaTCP []int
	viaUCX := map[string][]int{} // by the UCX lanes that reach them
	var lanes []string
	for r := 0; r < rt.env.Size; r++ {
		if r == rt.env.Rank {
			continue
		}
		if _, ok := rt.local[r]; ok {
			viaShm = append(viaShm, r)
			continue
		}
		if c, err := rt.card(r); err == nil && rt.useUCX(c) {
			l := "connecting"
			if _, err := rt.ucx.Endpoint(r, c.UCX); err == nil {
				l = rt.ucx.Lanes(r)
			}
			if _, ok := viaUCX[l]; !ok {
				lanes = append(lanes, l)
			}
			viaUCX[l] = append(viaUCX[l], r)
			continue
		}
		viaTCP = append(viaTCP, r)
	}
	out := "self to itself"
	if len(viaShm) > 0 {
		path, _ := rt.shm.SingleCopyPath()
		out += fmt.Sprintf("; shm (large messages: %s) to ranks %s", path, ranks(viaShm))
	}
	for _, l := range lanes {
		out += fmt.Sprintf("; ucx (%s) to ranks %s", l, ranks(viaUCX[l]))
	}
	if len(viaTCP) > 0 {
		out += fmt.Sprintf("; tcp from %s to ranks %s", rt.tcp.Addr(), ranks(viaTCP))
	}
	return out
}

// ranks writes a sorted rank list compactly: "0-3,7".
func ranks(rs []int) string {
	var b []byte
	for i := 0; i < len(rs); {
		j := i
		for j+1 < len(rs) && rs[j+1] == rs[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(rs[i]), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(rs[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

// watchLauncher ends the rank when the launcher goes away: a rank without
// its launcher can only hang.
func (rt *Runtime) watchLauncher() {
	<-rt.kv.Done()
	if rt.leaving.Load() {
		return
	}
	fmt.Fprintf(os.Stderr, "mpx: rank %d: lost the connection to the launcher (%v); exiting\n", rt.env.Rank, rt.kv.Err())
	os.Exit(1)
}

func (rt *Runtime) card(rank int) (card, error) {
	rt.mu.Lock()
	c, ok := rt.seen[rank]
	rt.mu.Unlock()
	if ok {
		return c, nil
	}
	b, err := rt.kv.Get(cardKey(rank))
	if err != nil {
		return c, fmt.Errorf("business card of rank %d: %w", rank, err)
	}
	if err := msgpack.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("business card of rank %d: %w", rank, err)
	}
	rt.mu.Lock()
	rt.seen[rank] = c
	rt.mu.Unlock()
	return c, nil
}

// Peer returns the endpoint to world rank rank over the transport chosen
// for it, and that transport's limits.
func (rt *Runtime) Peer(rank int) (transport.Endpoint, transport.Limits, error) {
	if addr, ok := rt.local[rank]; ok {
		ep, err := rt.shm.Endpoint(rank, addr)
		return ep, rt.shm.Limits(), err
	}
	c, err := rt.card(rank)
	if err != nil {
		return nil, transport.Limits{}, err
	}
	if transportParam.Get() == "shm" {
		return nil, transport.Limits{}, fmt.Errorf("transport=shm, but rank %d is on node %d and rank %d on node %d",
			rt.env.Rank, rt.env.NodeID, rank, c.Node)
	}
	if rt.useUCX(c) {
		ep, err := rt.ucx.Endpoint(rank, c.UCX)
		if err != nil {
			return nil, transport.Limits{}, fmt.Errorf("rank %d (node %d) cannot reach rank %d (node %d) over ucx: %w",
				rt.env.Rank, rt.env.NodeID, rank, c.Node, err)
		}
		return ep, rt.ucx.Limits(), nil
	}
	addr := c.TCP
	if c.Node == rt.env.NodeID {
		// Same node: the loopback address, so that traffic between local
		// ranks never leaves through a network interface.
		addr = loopbackFirst(addr)
	}
	ep, err := rt.tcp.Endpoint(rank, addr)
	if err != nil {
		return nil, transport.Limits{}, fmt.Errorf("rank %d (node %d) cannot reach rank %d (node %d): %w",
			rt.env.Rank, rt.env.NodeID, rank, c.Node, err)
	}
	return ep, rt.tcp.Limits(), nil
}

// loopbackFirst reorders a TCP business card (comma-separated ip:port) so
// that loopback addresses come first.
func loopbackFirst(card string) string {
	var lo, rest []string
	for _, a := range strings.Split(card, ",") {
		if strings.HasPrefix(a, "127.") || strings.HasPrefix(a, "[::1]") {
			lo = append(lo, a)
		} else {
			rest = append(rest, a)
		}
	}
	return strings.Join(append(lo, rest...), ",")
}

// Pollers are the transports that deliver only when polled.
func (rt *Runtime) Pollers() []transport.Poller {
	var ps []transport.Poller
	if rt.shm != nil {
		ps = append(ps, rt.shm)
	}
	if rt.ucx != nil {
		ps = append(ps, rt.ucx)
	}
	return ps
}

// Standbys are the transports whose links the rank's waiting goroutines
// read themselves (tcp, unless shared memory is in use, whose waiters poll,
// or the tcp_read parameter says otherwise). Give them to the engine's
// AddStandby.
func (rt *Runtime) Standbys() []transport.Standby {
	if rt.shm != nil || rt.ucx != nil || tcpReadParam.Get() != "waiter" {
		return nil
	}
	return []transport.Standby{rt.tcp}
}

// OnReport sets what the rank answers when the launcher asks what it is
// blocked in.
func (rt *Runtime) OnReport(fn func() string) {
	if rt.boot != nil {
		rt.boot.OnReport(fn)
	}
}

// Finalize waits for every rank to finalize, then closes the transports and
// the connection to the launcher.
func (rt *Runtime) Finalize() error {
	rt.leaving.Store(true)
	err := rt.kv.Finalize()
	rt.close()
	return err
}

// Abort tells the launcher to stop the job with code and exits.
func (rt *Runtime) Abort(code int, msg string) { rt.AbortLost(code, msg, -1) }

// AbortLost is Abort for a rank that aborts because its link to world rank
// lost broke, a consequence: the launcher then names lost's own exit (its
// signal, its panic) if that comes in time. Under a PMI-2 process manager,
// which has no word for it, it is Abort.
func (rt *Runtime) AbortLost(code int, msg string, lost int) {
	rt.leaving.Store(true)
	var err error
	if rt.boot != nil {
		err = rt.boot.AbortLost(code, msg, lost)
	} else {
		err = rt.kv.Abort(code, msg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mpx: rank %d: abort: telling the launcher failed: %v\n", rt.env.Rank, err)
	}
	if code == 0 {
		code = 1
	}
	os.Exit(code)
}

func (rt *Runtime) close() {
	if rt.shm != nil {
		rt.shm.Close()
	}
	if rt.ucx != nil {
		rt.ucx.Close()
	}
	if rt.tcp != nil {
		rt.tcp.Close()
	}
	rt.kv.Close()
}

// TransportInfo describes a transport for `mpx info`.
type TransportInfo struct {
	Name      string
	Available bool
	Detail    string
	// EagerLimit is the largest message the transport sends eagerly (the
	// p2p_eager_limit parameter overrides it when set).
	EagerLimit int
}

// Transports lists the transports this build has and how they would be
// used on this machine.
func Transports() []TransportInfo {
	tcpDetail, err := tcp.Describe("")
	info := []TransportInfo{
		{Name: "tcp", Available: err == nil, Detail: tcpDetail, EagerLimit: tcp.EagerLimit},
		{Name: "mem", Available: true, Detail: "in-process ranks (tests, comm/commtest)", EagerLimit: 64 << 10},
	}
	if err != nil {
		info[0].Detail = err.Error()
	}
	path, err := shm.Probe()
	detail := "same-node peers through /dev/shm rings; large messages: " + path
	if err != nil {
		detail += " (" + err.Error() + ")"
	}
	info = append(info, TransportInfo{Name: "shm", Available: true, Detail: detail, EagerLimit: shm.EagerLimit()})
	return append(info, ucxInfo())
}

// ucxInfo says whether this binary has ucx, what UCX offers here, and so
// whether auto would use it between nodes.
func ucxInfo() TransportInfo {
	ti := TransportInfo{Name: "ucx", EagerLimit: ucx.EagerLimit}
	rs, err := ucx.Resources()
	if err != nil {
		ti.Detail = err.Error()
		return ti
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.String())
	}
	ti.Available = len(rs) > 0
	ti.Detail = "UCX offers " + strings.Join(names, " ")
	if ucx.HasRDMA(rs) {
		ti.Detail += "; RDMA found: auto uses ucx between nodes"
	} else {
		ti.Detail += "; no RDMA transport: auto uses tcp between nodes, transport=ucx forces ucx"
	}
	return ti
}
