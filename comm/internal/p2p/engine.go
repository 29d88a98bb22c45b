// Package p2p is mpx's point-to-point protocol engine: message matching in
// MPI order, the eager protocol for small messages and rendezvous (RTS/CTS,
// or a single-copy fetch where the transport offers one) for large ones.
//
// Ranks here are world ranks; communicators are contexts. The engine is the
// transport.Handler of every transport of the rank, so frames from all
// peers meet in one matching engine.
package p2p

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
)

// Wildcards, as in MPI.
const (
	AnySource = -1
	AnyTag    = -1
)

// defaultEager is the eager limit when neither parameter nor transport says.
const defaultEager = 64 << 10

var (
	eagerParam = param.NewSize("p2p_eager_limit", 0,
		"largest message sent eagerly, larger ones use rendezvous; 0 = the transport's own limit (64k for tcp)")
	waitParam = param.NewEnum("wait_mode", "adaptive", []string{"adaptive", "spin", "block"},
		"how a waiting rank waits: spin on the transports, block at once, or spin briefly then block")
	spinParam = param.NewDuration("wait_spin", 50*time.Microsecond,
		"in adaptive mode, how long a waiting rank polls shared memory, or the TCP socket it waits on, before it blocks (yielding its core between polls when ranks outnumber cores; no TCP polling then)")
)

// Errors of the engine.
var (
	// ErrTruncate: the message was larger than the receive buffer.
	ErrTruncate = errors.New("message truncated")
	// ErrPeerGone: the peer's link broke (it exited or its node vanished).
	ErrPeerGone = errors.New("peer is gone")
	// ErrClosed: the engine was closed (Finalize).
	ErrClosed = errors.New("communication closed")
)

// Peer is what the engine needs to reach one rank.
type Peer struct {
	EP     transport.Endpoint
	Limits transport.Limits
}

// Resolver returns the way to reach a world rank, connecting if needed.
type Resolver func(rank int) (Peer, error)

// Config configures an Engine. Zero values take the documented defaults.
type Config struct {
	Rank, Size int
	// Resolve reaches peers other than Rank itself; required when Size > 1.
	Resolve Resolver
	// Oversubscribed makes a spinning waiter give its core to the other
	// ranks between polls (sched_yield), as a rank sharing a core must.
	Oversubscribed bool
}

type peerState struct {
	peer   Peer
	eager  int
	credit int // Limits.EagerCredit: bytes above the eager limit we may send on credit
	sc     transport.SingleCopy
}

// inflight is the eager message whose payload a source is sending, set by
// Alloc and taken by Deliver; a transport's calls for one source are
// sequential, so each source's slot has one user at a time.
type inflight struct {
	r *Request // landed in place in r's buffer
	m *message // or went to m.data
}

// Engine matches and moves the messages of one rank.
type Engine struct {
	rank, size int
	resolve    Resolver
	self       *selfEndpoint
	mode       string
	spin       time.Duration
	oversub    bool // more ranks than cores: a spinning waiter yields its core

	peers []atomic.Pointer[peerState]
	cur   []inflight
	// Eager credit (transport.FlagCredit), by world rank: bytes we sent on
	// a peer's credit not yet returned, bytes taken from a peer that we owe
	// back, and whether a Credit frame to it is on its way.
	used      []atomic.Int64
	owed      []atomic.Int64
	returning []atomic.Bool
	dial      sync.Mutex // serialises first connections, so each peer is resolved once

	mu      sync.Mutex
	queues  map[uint32]*queue // by context
	sends   map[uint64]*Request
	recvs   map[uint64]*Request
	nextID  uint64
	failed  map[int]error
	closed  bool
	probers []chan struct{}
	waiting map[*Request]struct{} // blocked waits, for Report

	pollers  []transport.Poller
	standbys []transport.Standby // transports read by the goroutines that wait (tcp without shm)
	directs  atomic.Int32        // goroutines reading a link in a wait (waitDirect)

	pendMu     sync.Mutex
	pending    []func() // rendezvous steps deferred from a handler, run by pollers
	hasPending atomic.Bool

	rma atomic.Pointer[rmaHandler] // KindRMA frames go here (rma.go)
}

// later runs fn outside the transport's receive context: a handler that
// sends could deadlock two transports' delivery paths against each other,
// and a fetch is a long copy. Where waiters poll (shared memory), the next
// poll runs it, on a goroutine that is running anyway; a new goroutine
// would wait for a waiter spinning on its core to yield. Without pollers
// it gets a goroutine of its own.
//
// Where waiters read their links themselves (standby transports), a
// waiting reader runs it, or, when none is reading, a goroutine. The
// waiter that leaves runs what is pending after it stops counting itself,
// and later looks at the count after queueing: one of them runs fn.
func (e *Engine) later(fn func()) {
	if len(e.pollers) == 0 && len(e.standbys) == 0 {
		go fn()
		return
	}
	e.pendMu.Lock()
	e.pending = append(e.pending, fn)
	e.hasPending.Store(true)
	e.pendMu.Unlock()
	for _, p := range e.pollers {
		p.Wake()
	}
	if len(e.pollers) == 0 {
		if e.directs.Load() == 0 {
			go e.runPending()
			return
		}
		for _, s := range e.standbys {
			s.Interrupt()
		}
	}
}

// runPending runs the deferred steps; it reports whether there were any.
func (e *Engine) runPending() bool {
	if !e.hasPending.Load() {
		return false
	}
	e.pendMu.Lock()
	fns := e.pending
	e.pending = nil
	e.hasPending.Store(false)
	e.pendMu.Unlock()
	for _, fn := range fns {
		fn()
	}
	return len(fns) > 0
}

type queue struct {
	posted []*Request
	unexp  []*message
}

// message is an arrived, not yet received message (eager or an RTS).
type message struct {
	src      int
	tag      int32
	ctx      uint32
	size     int
	data     []byte // eager payload (nil for RTS)
	buf      []byte // data's pooled backing store
	rts      bool
	sreq     uint64
	flags    uint8
	desc     []byte   // single-copy descriptor of an RTS
	complete bool     // eager payload fully arrived
	claimed  *Request // a receive took it before its payload completed
}

// New creates an engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Size < 1 || cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return nil, fmt.Errorf("p2p: rank %d of size %d is not a valid rank", cfg.Rank, cfg.Size)
	}
	if cfg.Size > 1 && cfg.Resolve == nil {
		return nil, errors.New("p2p: Config.Resolve is required when Size > 1")
	}
	e := &Engine{
		rank: cfg.Rank, size: cfg.Size, resolve: cfg.Resolve,
		mode: waitParam.Get(), spin: spinParam.Get(),
		peers:     make([]atomic.Pointer[peerState], cfg.Size),
		cur:       make([]inflight, cfg.Size),
		used:      make([]atomic.Int64, cfg.Size),
		owed:      make([]atomic.Int64, cfg.Size),
		returning: make([]atomic.Bool, cfg.Size),
		queues:    map[uint32]*queue{},
		sends:     map[uint64]*Request{},
		recvs:     map[uint64]*Request{},
		failed:    map[int]error{},
		waiting:   map[*Request]struct{}{},
	}
	e.oversub = cfg.Oversubscribed
	e.self = &selfEndpoint{e: e}
	e.peers[cfg.Rank].Store(&peerState{peer: Peer{EP: e.self}, eager: defaultEager})
	return e, nil
}

// Rank and Size of the world this engine serves.
func (e *Engine) Rank() int { return e.rank }

// Size is the number of ranks in the world.
func (e *Engine) Size() int { return e.size }

// AddPoller registers a transport that delivers only when polled.
// It must be called before traffic starts.
func (e *Engine) AddPoller(p transport.Poller) { e.pollers = append(e.pollers, p) }

// AddStandby puts a transport on standby: its links are read by the
// goroutines that wait for them (see waitDirect) rather than by receive
// goroutines handing frames over. It must be called after AddPoller and
// before the rank's own traffic starts, and only when there are no
// pollers: a goroutine asleep on a socket does not poll shared memory.
func (e *Engine) AddStandby(s transport.Standby) error {
	if len(e.pollers) > 0 {
		return errors.New("p2p: a standby transport cannot be mixed with polled ones")
	}
	// A reader that shares its core must not spin: the peer it waits
	// for may need the core.
	spin := e.spin
	if e.mode == "block" || e.oversub {
		spin = 0
	}
	s.Standby(spin)
	e.standbys = append(e.standbys, s)
	return nil
}

// demand tells the standby transports that a goroutine will sleep until
// their receive goroutines deliver (delta 1), or no longer (-1).
func (e *Engine) demand(delta int) {
	for _, s := range e.standbys {
		s.Demand(delta)
	}
}

func (e *Engine) peer(rank int) (*peerState, error) {
	if p := e.peers[rank].Load(); p != nil {
		return p, nil
	}
	e.dial.Lock()
	defer e.dial.Unlock()
	if p := e.peers[rank].Load(); p != nil {
		return p, nil
	}
	pr, err := e.resolve(rank)
	if err != nil {
		return nil, err
	}
	ps := &peerState{peer: pr, eager: pr.Limits.EagerLimit, credit: pr.Limits.EagerCredit}
	if ps.eager == 0 {
		ps.eager = defaultEager
	}
	if v := eagerParam.Get(); v > 0 {
		ps.eager = v
	}
	ps.sc, _ = pr.EP.(transport.SingleCopy)
	e.peers[rank].Store(ps)
	return ps, nil
}

func (e *Engine) queue(ctx uint32) *queue {
	q := e.queues[ctx]
	if q == nil {
		q = &queue{}
		e.queues[ctx] = q
	}
	return q
}

func matches(r *Request, src int, tag int32) bool {
	return (r.peer == AnySource || r.peer == src) && (r.tag == AnyTag || int32(r.tag) == tag)
}

// Isend starts sending buf to world rank dst. The engine retains buf until
// the request completes. r must be fresh (New or Reset).
func (e *Engine) Isend(r *Request, ctx uint32, dst, tag int, buf []byte) error {
	return e.isend(r, ctx, dst, tag, buf, false)
}

// IsendBlocking is Isend for a caller that waits for r at once: a blocking
// send. A message above the eager limit may then go eagerly on the
// receiver's credit (transport.Limits.EagerCredit), its write waiting, if
// the socket is full, until the receiver reads; a nonblocking send never
// waits so, and keeps to rendezvous.
func (e *Engine) IsendBlocking(r *Request, ctx uint32, dst, tag int, buf []byte) error {
	return e.isend(r, ctx, dst, tag, buf, true)
}

func (e *Engine) isend(r *Request, ctx uint32, dst, tag int, buf []byte, blocking bool) error {
	r.init(e, opSend, ctx, dst, tag, buf)
	ps, err := e.peer(dst)
	if err != nil {
		r.finish(err)
		return err
	}
	// The header lives in the (pooled) request: a local would escape
	// through the interface call and cost an allocation per message.
	h := &r.hdr
	*h = transport.Header{Source: int32(e.rank), Context: ctx, Tag: int32(tag)}
	if len(buf) <= ps.eager || (blocking && e.takeCredit(h, ps, dst, len(buf))) {
		h.Kind, h.Len = transport.KindEager, uint64(len(buf))
		if e.owed[dst].Load() != 0 {
			h.RReq = uint64(e.owed[dst].Swap(0)) // credit back, riding along
		}
		err := ps.peer.EP.Send(h, buf)
		r.status = Status{Source: dst, Tag: tag, Bytes: len(buf)}
		r.finish(e.sendErr(dst, err))
		return r.err
	}
	e.mu.Lock()
	if err := e.failed[dst]; err != nil || e.closed {
		e.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		r.finish(err)
		return err
	}
	e.nextID++
	id := e.nextID
	r.id = id
	e.sends[id] = r
	e.mu.Unlock()
	h.Kind, h.Len, h.SReq = transport.KindRTS, uint64(len(buf)), id
	var desc []byte
	if ps.sc != nil {
		if d, err := ps.sc.Expose(buf); err == nil {
			desc = d
			h.Flags |= transport.FlagSingleCopy
			h.Seq = uint64(len(desc))
		}
	}
	if err := ps.peer.EP.Send(h, desc); err != nil {
		e.mu.Lock()
		delete(e.sends, id)
		e.mu.Unlock()
		r.finish(e.sendErr(dst, err))
		return r.err
	}
	return nil
}

// takeCredit reports whether a message of n bytes, above the eager limit,
// may go eagerly on dst's credit, and takes the credit if so; it flags h.
func (e *Engine) takeCredit(h *transport.Header, ps *peerState, dst, n int) bool {
	if n > ps.credit {
		return false
	}
	u := &e.used[dst]
	for {
		old := u.Load()
		if old+int64(n) > int64(ps.credit) {
			return false
		}
		if u.CompareAndSwap(old, old+int64(n)) {
			h.Flags |= transport.FlagCredit
			if 2*(old+int64(n)) > int64(ps.credit) {
				h.Flags |= transport.FlagCreditLow
			}
			return true
		}
	}
}

// owe records that a message sent on credit from src was taken: its size
// goes back with the next eager frame to src or, when src is short of
// credit, in a Credit frame of its own.
func (e *Engine) owe(src, n int, flags uint8) {
	e.owed[src].Add(int64(n))
	if flags&transport.FlagCreditLow != 0 && e.returning[src].CompareAndSwap(false, true) {
		e.later(func() { e.returnCredit(src) })
	}
}

func (e *Engine) returnCredit(src int) {
	e.returning[src].Store(false)
	n := e.owed[src].Swap(0)
	if n == 0 {
		return
	}
	ps, err := e.peer(src)
	if err != nil {
		return // the link is gone; so is the credit
	}
	e.sendCtrl(ps, transport.KindCredit, 0, uint64(n))
}

func (e *Engine) sendErr(dst int, err error) error {
	if err == nil {
		return nil
	}
	e.mu.Lock()
	ferr := e.failed[dst]
	e.mu.Unlock()
	if ferr != nil {
		return ferr
	}
	return err
}

// Irecv posts a receive of at most len(buf) bytes from world rank src (or
// AnySource) with tag (or AnyTag). The engine retains buf until the request
// completes.
func (e *Engine) Irecv(r *Request, ctx uint32, src, tag int, buf []byte) error {
	r.init(e, opRecv, ctx, src, tag, buf)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		r.finish(ErrClosed)
		return ErrClosed
	}
	q := e.queue(ctx)
	for i, m := range q.unexp {
		if m.claimed != nil || !matches(r, m.src, m.tag) {
			continue
		}
		q.unexp = append(q.unexp[:i], q.unexp[i+1:]...)
		e.take(r, m) // unlocks
		return nil
	}
	if src != AnySource {
		if err := e.failed[src]; err != nil {
			e.mu.Unlock()
			r.finish(err)
			return err
		}
	}
	q.posted = append(q.posted, r)
	e.mu.Unlock()
	return nil
}

// take gives unexpected message m to receive r. Called with e.mu held; it
// releases it.
func (e *Engine) take(r *Request, m *message) {
	r.status = Status{Source: m.src, Tag: int(m.tag), Bytes: m.size}
	if !m.rts {
		if !m.complete {
			m.claimed = r // Deliver finishes it
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		r.finish(e.copyEager(r, m))
		return
	}
	e.mu.Unlock()
	e.startRendezvous(r, m)
}

func (e *Engine) copyEager(r *Request, m *message) error {
	n, size := copy(r.buf, m.data), m.size
	if m.flags&transport.FlagCredit != 0 {
		e.owe(m.src, size, m.flags)
	}
	freeMessage(m) // m may be reused at once: nothing of it is read below
	if n < size {
		r.status.Bytes = n
		return fmt.Errorf("%w: %d-byte message into %d-byte buffer", ErrTruncate, size, len(r.buf))
	}
	return nil
}

// startRendezvous completes the receiving side of an RTS matched by r.
func (e *Engine) startRendezvous(r *Request, m *message) {
	ps, err := e.peer(m.src)
	if err != nil {
		r.finish(err)
		return
	}
	if m.size > len(r.buf) {
		// Release the sender without taking the data.
		e.sendCtrl(ps, transport.KindFin, m.sreq, 0)
		r.status.Bytes = 0
		r.finish(fmt.Errorf("%w: %d-byte message into %d-byte buffer", ErrTruncate, m.size, len(r.buf)))
		return
	}
	dst := r.buf[:m.size]
	if m.flags&transport.FlagSingleCopy != 0 && ps.sc != nil {
		if err := ps.sc.Fetch(m.desc, dst); err == nil {
			e.sendCtrl(ps, transport.KindFin, m.sreq, 0)
			r.finish(nil)
			return
		}
	}
	if m.size == 0 {
		e.sendCtrl(ps, transport.KindFin, m.sreq, 0)
		r.finish(nil)
		return
	}
	e.mu.Lock()
	e.nextID++
	id := e.nextID
	r.id = id
	r.size = m.size
	e.recvs[id] = r
	e.mu.Unlock()
	// From here r belongs to whoever reads the data: once the CTS is out
	// the request may complete and be recycled, so r is not read again
	// unless the CTS failed (and then no data can come).
	if err := e.sendCtrl(ps, transport.KindCTS, m.sreq, id); err != nil {
		e.mu.Lock()
		delete(e.recvs, id)
		e.mu.Unlock()
		r.finish(err)
	}
}

func (e *Engine) sendCtrl(ps *peerState, kind transport.Kind, sreq, rreq uint64) error {
	h := transport.Header{Kind: kind, Source: int32(e.rank), SReq: sreq, RReq: rreq}
	return ps.peer.EP.Send(&h, nil)
}

// pushData sends the payload of rendezvous send r after the receiver's CTS.
func (e *Engine) pushData(r *Request, rreq uint64) {
	ps, err := e.peer(r.peer)
	if err != nil {
		r.finish(err)
		return
	}
	chunk := len(r.buf)
	if mf := ps.peer.Limits.MaxFrame; mf > 0 && mf < chunk {
		chunk = mf
	}
	h := transport.Header{Kind: transport.KindData, Source: int32(e.rank), RReq: rreq}
	for off := 0; off < len(r.buf); off += chunk {
		end := min(off+chunk, len(r.buf))
		h.Seq, h.Len = uint64(off), uint64(end-off)
		if err := ps.peer.EP.Send(&h, r.buf[off:end]); err != nil {
			r.finish(e.sendErr(r.peer, err))
			return
		}
	}
	r.finish(nil)
}

// Alloc implements transport.Handler.
func (e *Engine) Alloc(h *transport.Header) []byte {
	n := int(h.PayloadLen())
	switch h.Kind {
	case transport.KindEager:
		return e.allocEager(h, n)
	case transport.KindData:
		e.mu.Lock()
		r := e.recvs[h.RReq]
		e.mu.Unlock()
		if r != nil && h.Seq+h.Len <= uint64(r.size) {
			return r.buf[h.Seq : h.Seq+h.Len]
		}
	case transport.KindRMA:
		if rh := e.rmaHandler(); rh != nil {
			return rh.Alloc(h)
		}
	}
	// An RTS descriptor, or data for a receive that is gone: rare, small or
	// discarded, so not pooled.
	return make([]byte, n)
}

// takePosted removes and returns the first posted receive of ctx that
// matches (src, tag), or nil. Called with e.mu held.
func (e *Engine) takePosted(q *queue, src int, tag int32) *Request {
	for i, r := range q.posted {
		if matches(r, src, tag) {
			q.posted = append(q.posted[:i], q.posted[i+1:]...)
			return r
		}
	}
	return nil
}

func (e *Engine) allocEager(h *transport.Header, n int) []byte {
	src := int(h.Source)
	e.mu.Lock()
	q := e.queue(h.Context)
	if r := e.takePosted(q, src, h.Tag); r != nil {
		e.mu.Unlock()
		r.status = Status{Source: src, Tag: int(h.Tag), Bytes: n}
		if n <= len(r.buf) {
			e.cur[src] = inflight{r: r}
			return r.buf[:n]
		}
		m := newMessage(n)
		m.claimed, m.size, m.src, m.flags = r, n, src, h.Flags
		e.cur[src] = inflight{m: m}
		return m.data
	}
	// Queued before its payload has arrived, so that a receive posted
	// meanwhile still matches in order; Deliver completes it.
	m := newMessage(n)
	m.src, m.tag, m.ctx, m.size, m.flags = src, h.Tag, h.Context, n, h.Flags
	q.unexp = append(q.unexp, m)
	e.wakeProbers()
	e.mu.Unlock()
	e.cur[src] = inflight{m: m}
	return m.data
}

// Deliver implements transport.Handler.
func (e *Engine) Deliver(h *transport.Header, payload []byte) {
	switch h.Kind {
	case transport.KindEager:
		e.deliverEager(h)
	case transport.KindRTS:
		e.deliverRTS(h, payload)
	case transport.KindCTS:
		e.mu.Lock()
		r := e.sends[h.SReq]
		delete(e.sends, h.SReq)
		e.mu.Unlock()
		if r != nil {
			// Never push data from the receive context: the transport's
			// reader must stay free to drain the peer.
			rreq := h.RReq // h is only valid during Deliver
			e.later(func() { e.pushData(r, rreq) })
		}
	case transport.KindData:
		e.mu.Lock()
		r := e.recvs[h.RReq]
		done := false
		if r != nil {
			r.got += int(h.Len)
			if done = r.got >= r.size; done {
				delete(e.recvs, h.RReq)
			}
		}
		e.mu.Unlock()
		if r != nil && done {
			r.finish(nil)
		}
	case transport.KindCredit:
		e.used[h.Source].Add(-int64(h.RReq))
	case transport.KindRMA:
		if rh := e.rmaHandler(); rh != nil {
			rh.Deliver(h, payload)
		}
	case transport.KindFin:
		e.mu.Lock()
		r := e.sends[h.SReq]
		delete(e.sends, h.SReq)
		e.mu.Unlock()
		if r != nil {
			r.finish(nil)
		}
	}
}

func (e *Engine) deliverEager(h *transport.Header) {
	src := int(h.Source)
	if h.RReq != 0 {
		e.used[src].Add(-int64(h.RReq))
	}
	in := e.cur[src]
	e.cur[src] = inflight{}
	if in.r != nil {
		if h.Flags&transport.FlagCredit != 0 {
			e.owe(src, int(h.Len), h.Flags)
		}
		in.r.finish(nil) // landed in place
		return
	}
	m := in.m
	if m == nil {
		return
	}
	e.mu.Lock()
	m.complete = true
	r := m.claimed
	e.mu.Unlock()
	if r != nil {
		r.finish(e.copyEager(r, m))
	}
}

func (e *Engine) deliverRTS(h *transport.Header, desc []byte) {
	src := int(h.Source)
	m := &message{src: src, tag: h.Tag, ctx: h.Context, size: int(h.Len), rts: true,
		sreq: h.SReq, flags: h.Flags, desc: desc}
	e.mu.Lock()
	q := e.queue(h.Context)
	if r := e.takePosted(q, src, h.Tag); r != nil {
		e.mu.Unlock()
		r.status = Status{Source: src, Tag: int(h.Tag), Bytes: m.size}
		// Off the receive context: a handler that sends could deadlock two
		// transports' delivery paths against each other, and a fetch is a
		// long copy.
		e.later(func() { e.startRendezvous(r, m) })
		return
	}
	q.unexp = append(q.unexp, m)
	e.wakeProbers()
	e.mu.Unlock()
}

// Fail implements transport.Handler: every operation waiting on peer ends
// with ErrPeerGone.
func (e *Engine) Fail(peer int, err error) {
	ferr := &PeerGoneError{Peer: peer, Err: err}
	var victims []*Request
	e.mu.Lock()
	if _, already := e.failed[peer]; already || e.closed {
		e.mu.Unlock()
		return
	}
	e.failed[peer] = ferr
	for id, r := range e.sends {
		if r.peer == peer {
			victims = append(victims, r)
			delete(e.sends, id)
		}
	}
	for id, r := range e.recvs {
		if r.peer == peer || r.status.Source == peer {
			victims = append(victims, r)
			delete(e.recvs, id)
		}
	}
	for _, q := range e.queues {
		kept := q.posted[:0]
		for _, r := range q.posted {
			if r.peer == peer {
				victims = append(victims, r)
			} else {
				kept = append(kept, r)
			}
		}
		q.posted = kept
	}
	e.mu.Unlock()
	for _, r := range victims {
		r.finish(ferr)
	}
	e.failRMA(peer, ferr)
}

// Iprobe reports whether a message matching (ctx, src, tag) has arrived.
func (e *Engine) Iprobe(ctx uint32, src, tag int) (bool, Status) {
	e.poll()
	e.mu.Lock()
	defer e.mu.Unlock()
	probe := Request{peer: src, tag: tag}
	for _, m := range e.queue(ctx).unexp {
		if m.claimed == nil && matches(&probe, m.src, m.tag) {
			return true, Status{Source: m.src, Tag: int(m.tag), Bytes: m.size}
		}
	}
	return false, Status{}
}

// Probe waits until a message matching (ctx, src, tag) has arrived.
func (e *Engine) Probe(ctx uint32, src, tag int) (Status, error) {
	for spins := 0; ; spins++ {
		var ch chan struct{}
		if len(e.pollers) == 0 {
			// Registered before looking, so an arrival in between is not missed.
			ch = make(chan struct{})
			e.mu.Lock()
			e.probers = append(e.probers, ch)
			e.mu.Unlock()
		}
		if ok, st := e.Iprobe(ctx, src, tag); ok {
			return st, nil
		}
		e.mu.Lock()
		ferr := e.failed[src]
		closed := e.closed
		e.mu.Unlock()
		if src != AnySource && ferr != nil {
			return Status{}, ferr
		}
		if closed {
			return Status{}, ErrClosed
		}
		switch {
		case ch != nil:
			e.demand(1)
			<-ch
			e.demand(-1)
		case e.mode == "block" || spins > 1000:
			e.pollers[0].Block(time.Millisecond)
		}
	}
}

func (e *Engine) wakeProbers() {
	for _, ch := range e.probers {
		close(ch)
	}
	e.probers = e.probers[:0]
	for _, p := range e.pollers {
		p.Wake()
	}
}

// Close ends the engine: pending operations fail with ErrClosed.
func (e *Engine) Close() {
	var victims []*Request
	e.mu.Lock()
	e.closed = true
	for _, r := range e.sends {
		victims = append(victims, r)
	}
	for _, r := range e.recvs {
		victims = append(victims, r)
	}
	for _, q := range e.queues {
		victims = append(victims, q.posted...)
		q.posted = nil
	}
	e.sends, e.recvs = map[uint64]*Request{}, map[uint64]*Request{}
	e.wakeProbers()
	e.mu.Unlock()
	for _, r := range victims {
		r.finish(ErrClosed)
	}
	e.failRMA(AllPeers, ErrClosed)
}

// selfEndpoint carries a rank's messages to itself through its own handler.
type selfEndpoint struct {
	e   *Engine
	mu  sync.Mutex
	hdr transport.Header // the delivered copy, kept here so sends do not allocate
}

func (s *selfEndpoint) Peer() int { return s.e.rank }

func (s *selfEndpoint) Send(h *transport.Header, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hdr = *h
	buf := s.e.Alloc(&s.hdr)
	copy(buf, payload)
	s.e.Deliver(&s.hdr, buf)
	return nil
}

// Unexpected eager messages come from pools by power-of-two size class,
// their payload buffers with them, so that steady traffic does not
// allocate.
var msgPools [32]sync.Pool

func class(n int) int {
	c := 0
	for (1 << c) < n {
		c++
	}
	return c
}

func newMessage(n int) *message {
	c := class(n)
	if c >= len(msgPools) {
		return &message{data: make([]byte, n)}
	}
	if m, ok := msgPools[c].Get().(*message); ok {
		buf := m.buf
		*m = message{buf: buf, data: buf[:n]}
		return m
	}
	buf := make([]byte, 1<<c)
	return &message{buf: buf, data: buf[:n]}
}

// freeMessage returns m to its pool; its payload must not be used again.
func freeMessage(m *message) {
	if m.buf == nil {
		return
	}
	m.data, m.claimed, m.desc = nil, nil, nil
	msgPools[class(cap(m.buf))].Put(m)
}
