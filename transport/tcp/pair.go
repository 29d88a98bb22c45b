package tcp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// pair is the link to one peer: at most one connection, a mutex that keeps
// frames whole on the way out, and on the way in a read role held by
// whoever reads the connection: its receive goroutine, or a goroutine of
// the rank waiting for this peer (ReadUntil), or a poll.
type pair struct {
	t    *Transport
	peer int

	// Guarded by t.mu. conn is set once and never cleared.
	conn       *net.TCPConn
	dialing    bool      // an Endpoint call is dialing the peer
	accepting  bool      // a connection from the peer is between verdict and install
	awaitUntil time.Time // our dial was declined for the peer's own; wait for it until then
	attempts   int       // dial attempts finished, so waiters can tell theirs failed
	lastErr    error     // the last attempt's error
	err        error     // the link broke: no more frames either way

	broken atomic.Bool     // err is set; read by Send without t.mu
	rc     syscall.RawConn // conn's descriptor, for reads and writes that choose how to wait

	sendMu  sync.Mutex
	hdr     [transport.HeaderSize]byte
	iov     [2]syscall.Iovec
	writeFn func(fd uintptr) bool // p.writeSome; its state follows, under sendMu
	wio     []syscall.Iovec
	werr    error
	wdemand bool
	wstop   bool

	// Frames waiting for the flusher (see Send), under qmu. flushing
	// changes under qmu too, and is set only with sendMu held.
	qmu      sync.Mutex
	qcond    *sync.Cond
	queue    [][]byte
	queued   int
	flushing atomic.Bool

	rmu            sync.Mutex            // the read role
	fr             frameReader           // guarded by rmu
	parked         atomic.Bool           // a ReadUntil caller sleeps in the poller: Interrupt must wake it
	bgHolds        atomic.Bool           // the receive goroutine holds the read role
	handover       atomic.Int32          // ReadUntil callers waiting for the receive goroutine to let go of the role
	kick           chan struct{}         // wakes the receive goroutine to look at the demand again
	readFn         func(fd uintptr) bool // p.readSome; its state follows, under rmu
	rstop          func() bool
	rdirect, ronce bool
	rerr           error
}

var (
	_ transport.Endpoint     = (*pair)(nil)
	_ transport.DirectReader = (*pair)(nil)
)

func newPair(t *Transport, peer int) *pair {
	p := &pair{t: t, peer: peer, kick: make(chan struct{}, 1)}
	p.qcond = sync.NewCond(&p.qmu)
	return p
}

// Peer is the peer's world rank.
func (p *pair) Peer() int { return p.peer }

// installLocked makes c the pair's connection and starts its receive
// goroutine; t.mu is held.
func (t *Transport) installLocked(p *pair, c *net.TCPConn) error {
	if t.closed.Load() {
		c.Close()
		return t.closedErr("dial", p.peer)
	}
	if p.conn != nil {
		c.Close()
		return &transport.PeerError{Op: "dial", Peer: p.peer, Addr: c.RemoteAddr().String(),
			Err: fmt.Errorf("rank %d: a second connection with rank %d (a handshake timed out on one side?)", t.rank, p.peer)}
	}
	// Go sets TCP_NODELAY by default; say so, since latency depends on it.
	if err := c.SetNoDelay(true); err != nil {
		c.Close()
		return &transport.PeerError{Op: "dial", Peer: p.peer, Addr: c.RemoteAddr().String(), Err: fmt.Errorf("TCP_NODELAY: %w", err)}
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return &transport.PeerError{Op: "dial", Peer: p.peer, Addr: c.RemoteAddr().String(), Err: err}
	}
	p.rc = rc
	p.readFn, p.writeFn = p.readSome, p.writeSome
	p.fr = newFrameReader(readBufSize)
	p.conn = c
	p.awaitUntil = time.Time{}
	t.conns++
	old := *t.linkedList.Load()
	linked := append(old[:len(old):len(old)], p)
	t.linkedList.Store(&linked)
	t.notify()
	t.wg.Add(1)
	go t.receive(p)
	return nil
}

// Send writes h and payload with one writev. It does not allocate in
// steady state and does not retain h or payload. When the socket is full
// it sleeps in Go's poller until there is room, having raised the
// transport's demand meanwhile, so that a peer writing to us at the same
// time is read and both writes complete.
//
// On a standing-by transport, whose peer reads only while it waits, a
// frame of at most the eager limit that finds the socket full is copied
// to a queue instead, and the pair's flusher writes it: a nonblocking send
// must not wait for the receiver to come and read. Later frames queue
// behind it, up to queueMax bytes; beyond that, and for larger frames
// (whose senders wait anyway), Send waits for the flusher.
func (p *pair) Send(h *transport.Header, payload []byte) error {
	n := h.PayloadLen()
	if uint64(len(payload)) != n {
		return &transport.PeerError{Op: "send", Peer: p.peer,
			Err: fmt.Errorf("rank %d: %s frame announces %d payload bytes, got %d", p.t.rank, h.Kind, n, len(payload))}
	}
	if n > MaxFrame {
		return &transport.PeerError{Op: "send", Peer: p.peer,
			Err: fmt.Errorf("rank %d: %s frame payload of %d bytes exceeds the tcp limit %d", p.t.rank, h.Kind, n, MaxFrame)}
	}
	if p.t.closed.Load() {
		return p.t.closedErr("send", p.peer)
	}
	if p.broken.Load() {
		return p.failure()
	}
	queueable := p.t.standby.Load() && n <= EagerLimit
	for {
		if p.flushing.Load() {
			if p.enqueue(h, payload, queueable) {
				return nil
			}
			if p.broken.Load() {
				return p.failure()
			}
			continue
		}
		// Only a Send holding sendMu starts a flush: with sendMu held and
		// no flush, nothing is queued and this frame may go straight out.
		p.sendMu.Lock()
		if !p.flushing.Load() {
			break
		}
		p.sendMu.Unlock()
	}
	h.Encode(p.hdr[:])
	setIovec(&p.iov[0], p.hdr[:])
	iov := p.iov[:1]
	if len(payload) > 0 {
		setIovec(&p.iov[1], payload)
		iov = p.iov[:2]
	}
	rest, err := p.writev(iov, queueable)
	if err == nil && len(rest) > 0 {
		b := iovecBytes(rest)
		p.qmu.Lock()
		p.queue, p.queued = append(p.queue, b), len(b)
		p.flushing.Store(true)
		p.qmu.Unlock()
		p.t.wg.Add(1)
		go p.flush()
	}
	p.iov[0], p.iov[1] = syscall.Iovec{}, syscall.Iovec{} // do not keep the caller's payload reachable
	p.sendMu.Unlock()
	if err == nil {
		return nil
	}
	return p.sendFailed(err)
}

func (p *pair) sendFailed(err error) error {
	if p.t.closed.Load() {
		return p.t.closedErr("send", p.peer)
	}
	p.t.fail(p, &transport.PeerError{Op: "send", Peer: p.peer, Addr: p.conn.RemoteAddr().String(), Err: fmt.Errorf("rank %d: %w", p.t.rank, err)})
	return p.failure()
}

// queueMax bounds the bytes a pair queues for its flusher.
const queueMax = 4 << 20

// enqueue copies the frame to the flusher's queue if it may be queued and
// there is room, waiting for room while the flush lasts. It reports false
// when the flush ended (or the link broke) first: the frame was not sent.
func (p *pair) enqueue(h *transport.Header, payload []byte, queueable bool) bool {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	for p.flushing.Load() && !p.broken.Load() {
		if queueable && p.queued+transport.HeaderSize+len(payload) <= queueMax {
			b := make([]byte, transport.HeaderSize+len(payload))
			h.Encode(b)
			copy(b[transport.HeaderSize:], payload)
			p.queue = append(p.queue, b)
			p.queued += len(b)
			return true
		}
		p.qcond.Wait()
	}
	return false
}

// flush writes the queued frames, in order, until the queue is empty,
// sleeping in the poller (with demand raised) while the socket is full.
func (p *pair) flush() {
	defer p.t.wg.Done()
	for {
		p.qmu.Lock()
		q := p.queue
		p.queue = nil
		if len(q) == 0 || p.broken.Load() {
			p.queue, p.queued = nil, 0
			p.flushing.Store(false)
			p.qcond.Broadcast()
			p.qmu.Unlock()
			return
		}
		p.qmu.Unlock()
		p.sendMu.Lock()
		var err error
		for _, b := range q {
			setIovec(&p.iov[0], b)
			if _, err = p.writev(p.iov[:1], false); err != nil {
				break
			}
		}
		p.iov[0] = syscall.Iovec{}
		p.sendMu.Unlock()
		if err != nil {
			p.sendFailed(err)
			continue // broken now: the next round empties the queue
		}
		p.qmu.Lock()
		for _, b := range q {
			p.queued -= len(b)
		}
		p.qcond.Broadcast()
		p.qmu.Unlock()
	}
}

// writev writes all of iov; sendMu is held. With stopWhenFull, it stops
// at a full socket instead of sleeping and returns what it did not write.
// The callback given to the RawConn is made once per pair (see
// installLocked) and finds its state in the pair, since a closure made
// per call would be allocated per call.
func (p *pair) writev(iov []syscall.Iovec, stopWhenFull bool) ([]syscall.Iovec, error) {
	p.wio, p.werr, p.wdemand, p.wstop = iov, nil, false, stopWhenFull
	err := p.rc.Write(p.writeFn)
	if p.wdemand {
		p.t.Demand(-1)
	}
	rest := p.wio
	p.wio = nil
	if p.werr != nil {
		return nil, p.werr
	}
	return rest, err
}

func (p *pair) writeSome(fd uintptr) bool {
	for len(p.wio) > 0 {
		n, err := sysWritev(fd, p.wio)
		switch {
		case err == syscall.EINTR:
			continue
		case err == errAgain && p.wstop:
			return true // the caller queues the rest
		case err == errAgain:
			if !p.wdemand {
				p.wdemand = true
				p.t.Demand(1)
			}
			return false // sleep until there is room
		case err != nil:
			p.werr = err
			return true
		}
		p.wio = consumeIovec(p.wio, n)
	}
	return true
}

func (p *pair) failure() error {
	p.t.mu.Lock()
	defer p.t.mu.Unlock()
	return p.err
}

// fail breaks the pair once: records err, closes the connection and tells
// the Handler, unless the transport is closing.
func (t *Transport) fail(p *pair, err error) {
	t.mu.Lock()
	first := p.err == nil
	if first {
		p.err = err
		p.broken.Store(true)
		t.notify()
	}
	closed := t.closed.Load()
	t.mu.Unlock()
	p.conn.Close()
	p.wakeReceiver()
	p.qmu.Lock()
	p.qcond.Broadcast() // senders waiting for the flusher
	p.qmu.Unlock()
	if first && !closed {
		t.handler.Fail(p.peer, err)
	}
}

func (p *pair) wakeReceiver() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// receive is the pair's receive goroutine. It reads the connection, in
// order, whenever nobody else does and the transport wants it read: always,
// unless the transport stands by, and then while demand is positive.
func (t *Transport) receive(p *pair) {
	defer t.wg.Done()
	idle := func() bool { return t.standby.Load() && t.demand.Load() <= 0 }
	stop := func() bool { return idle() || p.handover.Load() > 0 }
	for !p.broken.Load() && !t.closed.Load() {
		if !idle() && p.handover.Load() == 0 && p.rmu.TryLock() {
			p.bgHolds.Store(true)
			ok := p.read(stop, false, false)
			// Let go before saying so: a ReadUntil caller that sees
			// bgHolds false and then fails to take the role knows that
			// another goroutine has it (see takeOver).
			p.rmu.Unlock()
			p.bgHolds.Store(false)
			if !ok {
				return
			}
			continue
		}
		// Idle, or a direct reader or a poll holds the role, or a
		// ReadUntil caller is taking it over: each kicks us when it lets
		// go while there is demand.
		select {
		case <-p.kick:
		case <-t.ctx.Done():
			return
		}
	}
}

// ReadUntil implements transport.DirectReader: the calling goroutine reads
// the connection itself, asleep in Go's poller when there is nothing, as a
// plain net.Conn reader is. While it does, the transport's other links are
// read by their receive goroutines, so that nothing waits on a rank that
// reads only one of them.
func (p *pair) ReadUntil(done func() bool) bool {
	if p.broken.Load() {
		return false
	}
	if !p.rmu.TryLock() {
		if !p.bgHolds.Load() {
			return false // another goroutine of the rank reads it
		}
		// The receive goroutine reads it, for a demand that may be over:
		// take the role over rather than be handed frames by it.
		switch p.takeOver(done) {
		case roleTaken:
		case roleDone:
			return true
		default:
			return false
		}
	}
	t := p.t
	others := len(*t.linkedList.Load()) > 1
	if others {
		t.Demand(1)
	}
	p.read(done, true, false)
	if others {
		t.Demand(-1)
	}
	p.release()
	return true
}

// What became of a takeOver.
const (
	roleTaken   = iota // the caller holds the read role
	roleDone           // done reported true first
	roleRefused        // another goroutine of the rank took the role
)

// takeOver waits for the receive goroutine, which holds the read role, to
// let go of it, and takes it. The receive goroutine may be asleep in the
// poller: a past deadline wakes it, and the handover count keeps it from
// taking the role back before every caller waiting here has had its turn.
//
// It never waits for anyone else: a direct reader holds the role until its
// own request is done, which may need the caller's goroutine to go on (a
// collective's next round), and frames it reads for the caller complete
// the caller's request anyway. So the wait ends as soon as done reports
// true, or the role went to another goroutine: the caller then waits
// another way. The receive goroutine lets go within a few scheduling
// rounds; the caller yields meanwhile, and sleeps if that is not enough.
func (p *pair) takeOver(done func() bool) int {
	p.handover.Add(1)
	p.conn.SetReadDeadline(aLongTimeAgo)
	res := roleRefused
	for spins := 0; ; spins++ {
		bg := p.bgHolds.Load()
		if p.rmu.TryLock() {
			res = roleTaken
			break
		}
		if !bg {
			break // another goroutine took the role the receive goroutine let go
		}
		if done() {
			res = roleDone
			break
		}
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
	p.handover.Add(-1)
	if res != roleTaken && p.t.demand.Load() > 0 {
		p.wakeReceiver() // it stood aside for us while there is demand
	}
	return res
}

// release gives up the read role. A receive goroutine that found the role
// taken while there was demand sleeps until kicked: kick it if there still
// is.
func (p *pair) release() {
	p.rmu.Unlock()
	if p.t.standby.Load() && p.t.demand.Load() > 0 {
		p.wakeReceiver()
	}
}

// read reads frames and delivers them until stop reports true or, with
// once, until nothing more is there; rmu is held. A direct reader marks
// itself parked before it sleeps, so that Interrupt can wake it. It
// reports false when the link broke (and was failed). As for writes, the
// RawConn callback is made once and takes its arguments from the pair.
func (p *pair) read(stop func() bool, direct, once bool) bool {
	p.rstop, p.rdirect, p.ronce = stop, direct, once
	defer func() { p.rstop = nil }()
	for {
		p.rerr = nil
		err := p.rc.Read(p.readFn)
		p.unpark()
		rerr := p.rerr
		if err == nil && rerr == nil {
			return true
		}
		if rerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			// Interrupt's doing, perhaps meant for an earlier reader:
			// clear it and look at stop again.
			p.conn.SetReadDeadline(time.Time{})
			continue
		}
		if rerr == nil {
			rerr = err
		}
		p.readFailed(rerr)
		return false
	}
}

func (p *pair) readSome(fd uintptr) bool {
	p.unpark()
	spins := 0 // empty reads in a row while spinning
	var spinEnd time.Time
	for {
		if p.rstop != nil && p.rstop() {
			return true
		}
		var n int
		var err error
		if spins > 0 {
			n, err = rawRead(fd, p.fr.target())
		} else {
			n, err = sysRead(fd, p.fr.target())
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == errAgain:
			if p.ronce {
				return true
			}
			if !p.rdirect {
				return false // sleep until readable
			}
			if spin := time.Duration(p.t.spin.Load()); spin > 0 {
				// Poll the empty socket a while: the clock only now and
				// then, since reading it costs more than a poll.
				spins++
				if spins == 1 {
					spinEnd = time.Now().Add(spin)
					continue
				}
				if spins&15 == 0 {
					// Were the peer put on this core, it would wait for
					// our time slice to end: let it in now and then.
					yieldCore()
				}
				if spins&31 != 0 || time.Now().Before(spinEnd) {
					continue
				}
			}
			// Marked before the last look at stop: a finisher either
			// sees the mark or we see its result.
			p.park()
			if p.rstop() {
				p.unpark()
				return true
			}
			return false // sleep until readable
		case err != nil:
			p.rerr = err
			return true
		case n == 0:
			p.rerr = io.EOF
			return true
		}
		spins = 0
		if err := p.fr.advance(n, p.t.handler, p.peer); err != nil {
			p.rerr = errMalformed{err}
			return true
		}
	}
}

// park marks a direct reader about to sleep in the poller, counting it
// first so that an Interrupt that finds no sleepers can skip the links.
func (p *pair) park() {
	p.t.sleepers.Add(1)
	p.parked.Store(true)
}

func (p *pair) unpark() {
	if p.parked.Swap(false) {
		p.t.sleepers.Add(-1)
	}
}

// errMalformed marks a stream error as the peer's fault rather than the
// socket's.
type errMalformed struct{ error }

func (e errMalformed) Unwrap() error { return e.error }

// readFailed reports a read error, naming the peer and, for an end of
// stream, whether it cut a frame.
func (p *pair) readFailed(err error) {
	t := p.t
	switch {
	case errors.Is(err, io.EOF) && p.fr.inFrame:
		err = fmt.Errorf("connection closed by rank %d in the middle of a %d-byte %s payload: %w", p.peer, len(p.fr.payload), p.fr.h.Kind, io.ErrUnexpectedEOF)
	case errors.Is(err, io.EOF) && p.fr.midFrame():
		err = fmt.Errorf("connection closed by rank %d in the middle of a frame header: %w", p.peer, io.ErrUnexpectedEOF)
	case errors.Is(err, io.EOF):
		err = fmt.Errorf("connection closed by rank %d: %w", p.peer, err)
	}
	if m, ok := err.(errMalformed); ok {
		err = m.error
	}
	t.fail(p, &transport.PeerError{Op: "recv", Peer: p.peer, Addr: p.conn.RemoteAddr().String(), Err: fmt.Errorf("rank %d: %w", t.rank, err)})
}
