package p2p

import (
	"fmt"

	"github.com/mpx-hpc/mpx/transport"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Status describes a received (or probed) message; ranks are world ranks.
type Status struct {
	Source int
	Tag    int
	Bytes  int
}

type opKind uint8

const (
	opSend opKind = iota + 1
	opRecv
)

// Request is one outstanding send or receive. A Request may be reused
// after it completed and was waited on.
type Request struct {
	e      *Engine
	op     opKind
	ctx    uint32
	peer   int // world rank, or AnySource
	tag    int
	buf    []byte
	id     uint64 // rendezvous id
	size   int    // rendezvous receive: message size
	got    int    // rendezvous receive: bytes arrived
	status Status
	err    error
	start  time.Time // set when a wait blocks, for reports
	hdr    transport.Header

	state atomic.Uint32 // stDone, stParked, stFinishing bits
	ch    chan struct{} // one token for a parked waiter
	stop  func() bool   // r.stopReading, made once: a method value per wait would allocate
	// Label says what the request is for in reports ("recv", "bcast", ...).
	Label string
}

var reqPool = sync.Pool{New: func() any { return &Request{ch: make(chan struct{}, 1)} }}

// NewRequest returns a fresh request from a pool; Release gives it back.
func NewRequest() *Request { return reqPool.Get().(*Request) }

// Release returns a request that is done and whose status was read.
func Release(r *Request) {
	r.buf, r.e, r.err = nil, nil, nil
	reqPool.Put(r)
}

func (r *Request) init(e *Engine, op opKind, ctx uint32, peer, tag int, buf []byte) {
	if r.ch == nil {
		r.ch = make(chan struct{}, 1)
	}
	select { // drop a token left by a previous use
	case <-r.ch:
	default:
	}
	r.e, r.op, r.ctx, r.peer, r.tag, r.buf = e, op, ctx, peer, tag, buf
	r.id, r.size, r.got, r.err = 0, 0, 0, nil
	r.status = Status{}
	r.state.Store(0)
}

// A request's state word. Waiter and finisher meet in one atomic word so
// that the finisher's last access to r is the swap that publishes stDone:
// once a waiter sees stDone it may recycle r at once.
const (
	stDone      = 1 // complete; status and err are valid
	stParked    = 2 // a waiter sleeps: the finisher must wake it
	stFinishing = 4 // a finisher is writing err
)

// finish completes r once; later calls are ignored. Only a waiter that
// went to sleep costs a wake-up: the common case, a waiter spinning or the
// finisher itself, costs two atomic operations.
func (r *Request) finish(err error) {
	for {
		s := r.state.Load()
		if s&(stDone|stFinishing) != 0 {
			return
		}
		if r.state.CompareAndSwap(s, s|stFinishing) {
			break
		}
	}
	e, ch := r.e, r.ch
	r.err = err
	if r.state.Swap(stDone)&stParked == 0 {
		return
	}
	ch <- struct{}{}
	if e != nil {
		for _, p := range e.pollers {
			p.Wake()
		}
		for _, s := range e.standbys {
			s.Interrupt()
		}
	}
}

// done reports whether r has completed.
func (r *Request) done() bool { return r.state.Load()&stDone != 0 }

// markParked records that a waiter is about to sleep; false means r is
// already done and the waiter must not sleep.
func (r *Request) markParked() bool {
	for {
		s := r.state.Load()
		if s&stDone != 0 {
			return false
		}
		if r.state.CompareAndSwap(s, s|stParked) {
			return true
		}
	}
}

// Done reports whether r has completed, driving progress once (Progress).
func (r *Request) Done() bool {
	if r.done() {
		return true
	}
	if r.e != nil {
		r.e.Progress()
	}
	return r.done()
}

// Result is r's status and error; valid once r is done.
func (r *Request) Result() (Status, error) { return r.status, r.err }

// Wait blocks until r completes, driving the rank's polled transports while
// it waits: it spins for a bounded time when a core is free, then blocks.
// It may be called again after it returned.
func (r *Request) Wait() (Status, error) {
	if !r.done() {
		r.e.wait(r)
	}
	return r.status, r.err
}

// park sleeps until r completes, for a waiter with nothing to poll.
func (r *Request) park() {
	if r.markParked() {
		<-r.ch
	}
}

// Progress drives the rank's transports once without waiting, as Test
// does: it delivers the frames that have arrived on links nobody is
// reading and runs the rendezvous steps waiting to be run. It reports
// whether it did anything. A rank sharing its core with others gives the
// core away after a poll that found nothing, as a waiter does: the peer
// whose message would complete the request may need it.
func (e *Engine) Progress() bool {
	if e.poll() {
		return true
	}
	if e.oversub {
		yieldCPU()
	}
	return false
}

func (e *Engine) poll() bool {
	got := false
	for _, p := range e.pollers {
		if p.Poll() {
			got = true
		}
	}
	for _, s := range e.standbys {
		if s.Poll() {
			got = true
		}
	}
	if e.runPending() {
		got = true
	}
	return got
}

// maxBlock bounds the backstop timeout of a parked waiter's Block.
const maxBlock = 32 * time.Millisecond

func (e *Engine) wait(r *Request) {
	if len(e.pollers) == 0 {
		if dr := e.directReader(r); dr != nil {
			e.blocked(r, func() { e.waitDirect(r, dr) })
			return
		}
		e.blocked(r, func() { e.parkDemanding(r) })
		return
	}
	if e.mode != "block" {
		// Poll without reading the clock first (it costs hundreds of
		// nanoseconds on some VMs): most waits end within these polls.
		// A rank sharing its core yields from the first poll on instead.
		for n := 0; n < 256 && !e.oversub; n++ {
			if r.done() {
				return
			}
			e.poll()
		}
		deadline := time.Now().Add(e.spin)
		for n := 0; !r.done(); n++ {
			if !e.poll() && e.oversub {
				// The peer we wait for may need this core to send: a
				// futex sleep and wake-up would cost far more than a yield.
				// A poll that delivered something is followed by another
				// (as Open MPI yields only from an idle progress call):
				// the frame we wait for often comes right behind it, and
				// a yield is a context switch.
				yieldCPU()
			}
			if e.mode == "adaptive" && n&63 == 63 {
				if time.Now().After(deadline) {
					break
				}
				runtime.Gosched()
			}
		}
	}
	if r.done() {
		return
	}
	e.blocked(r, func() {
		// Parked, the finisher wakes the pollers' Block; its token stays
		// in the channel until the request's next use drains it.
		if !r.markParked() {
			return
		}
		d := time.Millisecond
		for !r.done() {
			if e.poll() {
				d = time.Millisecond
				continue
			}
			e.pollers[0].Block(d)
			// A lone poller's Block ends when a frame arrives or Wake is
			// called, so its timeout is only a backstop: let it grow. Many
			// ranks sharing a few cores, each woken every millisecond for
			// nothing, left no time to the ranks with work.
			if len(e.pollers) == 1 && len(e.standbys) == 0 {
				d = min(2*d, maxBlock)
			}
		}
	})
}

// directReader returns the link r's waiter can read itself: its peer's,
// when that is a standby transport's. A receive from any source, or from
// this rank, waits for whichever link delivers.
func (e *Engine) directReader(r *Request) transport.DirectReader {
	if len(e.standbys) == 0 || r.peer < 0 || r.peer == e.rank {
		return nil
	}
	ps := e.peers[r.peer].Load()
	if ps == nil {
		return nil
	}
	dr, _ := ps.peer.EP.(transport.DirectReader)
	return dr
}

// waitDirect waits for r by reading its peer's link on this goroutine,
// asleep in the kernel between frames, as a plain socket reader does: the
// frame that completes r is read by the goroutine that wanted it, with no
// hand-off. Rendezvous steps the frames call for run here too, between
// reads. If another goroutine holds the link, r is waited for as usual.
func (e *Engine) waitDirect(r *Request, dr transport.DirectReader) {
	if !r.markParked() {
		return
	}
	if r.stop == nil {
		r.stop = r.stopReading
	}
	e.directs.Add(1)
	for !r.done() {
		if e.runPending() {
			continue
		}
		if dr.ReadUntil(r.stop) {
			continue
		}
		e.directs.Add(-1)
		e.runPending()
		e.parkDemanding(r)
		return
	}
	e.directs.Add(-1)
	e.runPending()
}

// parkDemanding sleeps until r completes, with the standby transports'
// receive goroutines reading meanwhile: nothing else would.
func (e *Engine) parkDemanding(r *Request) {
	e.demand(1)
	r.park()
	e.demand(-1)
}

// stopReading tells a direct reader waiting for r to return: r is done, or
// a rendezvous step waits to be run.
func (r *Request) stopReading() bool { return r.done() || r.e.hasPending.Load() }

// blocked runs fn, recording r as blocked for Report meanwhile.
func (e *Engine) blocked(r *Request, fn func()) {
	r.start = time.Now()
	e.mu.Lock()
	e.waiting[r] = struct{}{}
	e.mu.Unlock()
	fn()
	e.mu.Lock()
	delete(e.waiting, r)
	e.mu.Unlock()
}

// Report describes what this rank is blocked in, one line per waiting
// request, for the launcher's --timeout report. name maps a context to the
// communicator's name.
func (e *Engine) Report(name func(ctx uint32) string) string {
	e.mu.Lock()
	var lines []string
	for r := range e.waiting {
		op := r.Label
		if op == "" {
			op = map[opKind]string{opSend: "send", opRecv: "recv"}[r.op]
		}
		dir := "to"
		if r.op == opRecv {
			dir = "from"
		}
		peer := fmt.Sprintf("rank %d", r.peer)
		if r.peer == AnySource {
			peer = "any source"
		}
		tag := fmt.Sprint(r.tag)
		if r.tag == AnyTag {
			tag = "any"
		}
		lines = append(lines, fmt.Sprintf("%s %s %s, tag %s, on %s, for %s",
			op, dir, peer, tag, name(r.ctx), time.Since(r.start).Round(time.Millisecond)))
	}
	e.mu.Unlock()
	sort.Strings(lines)
	if len(lines) == 0 {
		return "not blocked in communication"
	}
	return "blocked in " + strings.Join(lines, "; ")
}
