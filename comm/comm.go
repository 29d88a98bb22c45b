// Package comm is what an mpx rank program imports: communicators,
// point-to-point messages, collectives, topologies.
//
//	world, err := comm.Init()
//	if err != nil { log.Fatal(err) }
//	defer world.Finalize()
//	err = comm.Send(world, []float64{1, 2, 3}, 1, 0)
//
// Calls are generic over the numeric element types and send slices without
// copying them. Every call returns an error; by default a failure aborts the
// whole job with a message naming the rank, the call and the cause
// (SetErrorHandler(ErrorsReturn) returns it instead).
//
// Concurrency: a Comm may be used from several goroutines at once, as an
// MPI_THREAD_MULTIPLE program would; ordering between messages sent from
// different goroutines is the order in which their calls reached the
// transport.
package comm

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/mpx-hpc/mpx/comm/internal/p2p"
	mpxrt "github.com/mpx-hpc/mpx/runtime"
)

// Wildcards and the null process, as in MPI.
const (
	// AnySource receives from any rank.
	AnySource = p2p.AnySource
	// AnyTag receives any tag.
	AnyTag = p2p.AnyTag
	// ProcNull is a rank that sends and receives nothing: operations with
	// it complete at once (Shift returns it at non-periodic edges).
	ProcNull = -2
	// TagUB is the largest tag a user may send with.
	TagUB = 1<<30 - 1
)

// Comm is a communicator: a group of ranks and a private context for their
// messages.
type Comm struct {
	w     *world
	ctx   uint32 // point-to-point context; the collective context is ctx+1
	rank  int    // this rank's rank in the communicator
	group []int  // communicator rank -> world rank
	inv   map[int]int
	errh  ErrorHandler
	name  string
	ext   commExt
}

// lifecycle is how a world ends: through the launcher, alone, or in process.
type lifecycle interface {
	Finalize() error
	Abort(code int, msg string)
}

// world is what all communicators of one rank share.
type world struct {
	eng   *p2p.Engine
	life  lifecycle
	rank  int
	mu    sync.Mutex
	done  bool
	names sync.Map  // context -> communicator name, for reports
	calls callTable // running collective calls, for reports

	finalizing atomic.Bool // in Finalize, waiting for the other ranks
}

var (
	initMu   sync.Mutex
	initDone bool
)

// Init joins the job the launcher started and returns the world
// communicator. A program started without `mpx run` is a job of one rank.
// Init may be called once per process.
func Init() (*Comm, error) {
	initMu.Lock()
	defer initMu.Unlock()
	if initDone {
		return nil, errors.New("comm.Init: called twice in one process")
	}
	env, launched, err := mpxrt.Detect()
	if err != nil {
		return nil, fmt.Errorf("comm.Init: %w", err)
	}
	if !launched {
		w, err := newWorld(0, 1, nil, singleton{})
		if err != nil {
			return nil, err
		}
		initDone = true
		return w, nil
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// One rank per core is the MPI way: share the node's cores among its
		// ranks. More Go threads than that would wake idle threads on every
		// message and spin them on cores the other ranks need.
		goruntime.GOMAXPROCS(max(1, goruntime.NumCPU()/env.LocalSize))
	}
	var rt *mpxrt.Runtime
	eng, err := p2p.New(p2p.Config{
		Rank: env.Rank, Size: env.Size,
		// More ranks than cores on this node: waiters must yield sooner.
		Oversubscribed: env.LocalSize > goruntime.NumCPU(),
		Resolve: func(rank int) (p2p.Peer, error) {
			ep, lim, err := rt.Peer(rank)
			return p2p.Peer{EP: ep, Limits: lim}, err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("comm.Init: %w", err)
	}
	rt, err = mpxrt.Start(env, eng)
	if err != nil {
		return nil, fmt.Errorf("comm.Init: rank %d: %w", env.Rank, err)
	}
	for _, p := range rt.Pollers() {
		eng.AddPoller(p)
	}
	for _, s := range rt.Standbys() {
		if err := eng.AddStandby(s); err != nil {
			return nil, fmt.Errorf("comm.Init: rank %d: %w", env.Rank, err)
		}
	}
	c, err := newWorldWith(eng, rt)
	if err != nil {
		return nil, err
	}
	rt.OnReport(func() string {
		if c.w.finalizing.Load() {
			return "in Finalize, waiting for the other ranks to finalize"
		}
		return c.w.report()
	})
	if env.Rank == 0 {
		warnOverridden(os.Stderr)
	}
	initDone = true
	return c, nil
}

func newWorld(rank, size int, resolve p2p.Resolver, life lifecycle) (*Comm, error) {
	eng, err := p2p.New(p2p.Config{Rank: rank, Size: size, Resolve: resolve})
	if err != nil {
		return nil, err
	}
	return newWorldWith(eng, life)
}

func newWorldWith(eng *p2p.Engine, life lifecycle) (*Comm, error) {
	w := &world{eng: eng, life: life, rank: eng.Rank()}
	group := make([]int, eng.Size())
	for i := range group {
		group[i] = i
	}
	// inv stays nil: world ranks are the world communicator's ranks.
	c := &Comm{w: w, ctx: 0, rank: eng.Rank(), group: group, name: "world"}
	w.names.Store(uint32(0), "world")
	w.names.Store(uint32(1), "world")
	return c, nil
}

func (w *world) contextName(ctx uint32) string {
	if n, ok := w.names.Load(ctx &^ 1); ok {
		return n.(string)
	}
	return fmt.Sprintf("comm#%d", ctx&^1)
}

// newComm makes a communicator of c's world over group (world ranks, in
// communicator rank order) with point-to-point context ctx (even; ctx+1 is
// its collective context). It returns nil when this rank is not in group.
func (c *Comm) newComm(group []int, ctx uint32) *Comm {
	inv := make(map[int]int, len(group))
	me := -1
	for i, g := range group {
		inv[g] = i
		if g == c.w.rank {
			me = i
		}
	}
	if me < 0 {
		return nil
	}
	n := &Comm{w: c.w, ctx: ctx, rank: me, group: group, inv: inv, errh: c.errh,
		name: fmt.Sprintf("comm#%d", ctx)}
	c.w.names.Store(ctx, n.name)
	return n
}

// Rank is this rank's number in c, from 0 to Size()-1.
func (c *Comm) Rank() int { return c.rank }

// Size is the number of ranks in c.
func (c *Comm) Size() int { return len(c.group) }

// Name is c's name in error messages and reports.
func (c *Comm) Name() string { return c.name }

// SetName names c in error messages and reports.
func (c *Comm) SetName(name string) {
	c.name = name
	c.w.names.Store(c.ctx, name)
}

// WorldRank translates a rank of c into its rank in the world.
func (c *Comm) WorldRank(rank int) int { return c.group[rank] }

// fromWorld translates a world rank into a rank of c (-1 if not a member).
func (c *Comm) fromWorld(w int) int {
	if c.inv == nil {
		return w
	}
	if r, ok := c.inv[w]; ok {
		return r
	}
	return -1
}

// Finalize leaves the job: it waits until every rank has called Finalize,
// then closes the transports. Call it once, on the world, at the end.
//
// Deferred as `defer world.Finalize()`, it also catches a panic of the rank:
// it prints the panic and its stack and aborts the job, because waiting
// for ranks that wait for this one would hang the job with the stack
// unseen.
func (c *Comm) Finalize() error {
	if p := recover(); p != nil {
		fmt.Fprintf(os.Stderr, "panic: %v\n\n%s", p, debug.Stack())
		c.w.life.Abort(2, fmt.Sprintf("rank %d panicked: %v", c.w.rank, p))
		panic(p) // only reached in process (commtest), where Abort returns
	}
	w := c.w
	w.finalizing.Store(true)
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return errors.New("comm: Finalize called twice")
	}
	w.done = true
	w.mu.Unlock()
	err := w.life.Finalize()
	w.eng.Close()
	if err != nil {
		return fmt.Errorf("finalize rank %d: %w", w.rank, err)
	}
	return nil
}

// Abort ends the whole job with the exit status code, as MPI_Abort does:
// the launcher stops every rank and names this one. It does not return.
func (c *Comm) Abort(code int) {
	c.w.life.Abort(code, fmt.Sprintf("rank %d called Abort(%d) on %s", c.w.rank, code, c.name))
}

func (w *world) fatal(err error) {
	fmt.Fprintf(os.Stderr, "mpx: rank %d: %v (errors are fatal; SetErrorHandler(comm.ErrorsReturn) to handle them)\n", w.rank, err)
	// A lost peer is a consequence of that peer's own fate: say which, so
	// that the launcher can blame the cause rather than this rank.
	var gone *p2p.PeerGoneError
	if la, ok := w.life.(lostAborter); ok && errors.As(err, &gone) {
		la.AbortLost(1, err.Error(), gone.Peer)
		return
	}
	w.life.Abort(1, err.Error())
}

// lostAborter is a lifecycle that can tell the launcher an abort's cause
// is a lost peer (the launched one).
type lostAborter interface {
	AbortLost(code int, msg string, lost int)
}

// singleton is the lifecycle of a program run without the launcher.
type singleton struct{}

func (singleton) Finalize() error { return nil }

func (singleton) Abort(code int, _ string) { os.Exit(code) }

// localLife is the lifecycle of an in-process rank (Local).
type localLife struct {
	close func()
	abort func(code int, msg string)
}

func (l *localLife) Finalize() error { return nil }

func (l *localLife) Abort(code int, msg string) {
	l.abort(code, msg)
	l.close()
	goruntime.Goexit()
}
