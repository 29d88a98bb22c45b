package shm

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mpx-hpc/mpx/transport"
)

// endpoint is the link to one local peer: the producer side of this rank's
// ring in the peer's segment.
type endpoint struct {
	mu    sync.Mutex // serialises producers: one frame's cells are contiguous
	t     *Transport
	p     *peer
	out   *segment
	prod  producer
	iface transport.Endpoint // what Endpoint returns: this, or the cmaEndpoint around it
}

// Errors particular to shared memory.
var (
	// ErrPeerExited: the peer's process is gone without closing its transport.
	ErrPeerExited = errors.New("peer process exited")
	// ErrPeerClosed: the peer closed its transport and reads no more frames.
	ErrPeerClosed = errors.New("peer closed its transport")
)

func (e *endpoint) Peer() int { return e.p.rank }

// Send copies h and payload into the peer's ring, in one cell when they fit
// and in fragments otherwise, which the peer reassembles while later cells
// are being written. It is safe for concurrent use (frames are whole and in
// the order Sends took the endpoint) and does not retain payload. When the
// ring is full it waits, polling this rank's own rings meanwhile so that
// two ranks sending to each other cannot deadlock, then sleeping on this
// rank's doorbell, which the peer rings once it has freed half the ring.
func (e *endpoint) Send(h *transport.Header, payload []byte) error {
	t := e.t
	n := h.PayloadLen()
	switch {
	case uint64(len(payload)) != n:
		return fmt.Errorf("shm send to rank %d: %s frame announces %d payload bytes, got %d", e.p.rank, h.Kind, n, len(payload))
	case h.Kind < transport.KindEager || h.Kind > transport.KindRMA:
		return fmt.Errorf("shm send to rank %d: unknown frame kind %d", e.p.rank, h.Kind)
	case n > maxFrame:
		return fmt.Errorf("shm send to rank %d: %d-byte frame exceeds the %d-byte limit", e.p.rank, n, maxFrame)
	case int(h.Source) != t.rank:
		return fmt.Errorf("shm send to rank %d: header source %d is not this rank %d", e.p.rank, h.Source, t.rank)
	}
	// e.mu also keeps the mappings alive: Close takes every endpoint's
	// mutex before unmapping, and sets closed first.
	e.mu.Lock()
	err := e.send(h, payload)
	e.mu.Unlock()
	return err
}

func (e *endpoint) send(h *transport.Header, payload []byte) error {
	if err := e.check(); err != nil {
		return err
	}
	c := e.prod.cell()
	if c == nil {
		var err error
		if c, err = e.waitCell(); err != nil {
			return err
		}
	}
	h.Encode(c[cellHdr:firstRoom])
	take := copy(c[firstRoom:], payload)
	e.prod.publish(c, take)
	e.out.notify(e.prod.pendp, e.prod.pendBit)
	for off := take; off < len(payload); {
		if c = e.prod.cell(); c == nil {
			var err error
			if c, err = e.waitCell(); err != nil {
				// The peer cannot be sent to any more; the frame is cut
				// short, which it reports as malformed if it ever reads on.
				return err
			}
		}
		take = copy(c[cellHdr:], payload[off:])
		e.prod.publish(c, take)
		e.out.notify(e.prod.pendp, e.prod.pendBit)
		off += take
	}
	return nil
}

// Backoff of a sender facing a full ring: spin polling its own rings, then
// yield, then sleep on its doorbell for growing periods.
const (
	spinPolls  = 64
	yieldPolls = 128
	minSleep   = 20 * time.Microsecond
	maxSleep   = time.Millisecond
)

// waitCell waits for a free cell. The caller holds e.mu.
func (e *endpoint) waitCell() ([]byte, error) {
	t := e.t
	sleep := minSleep
	defer atomic.StoreUint64(e.prod.waitp, 0)
	for i := 0; ; i++ {
		t.poll()
		if c := e.prod.cell(); c != nil {
			return c, nil
		}
		if err := e.check(); err != nil {
			return nil, err
		}
		switch {
		case i < spinPolls:
		case i < yieldPolls:
			runtime.Gosched()
		default:
			// Raise waitSpace, then look again: the consumer stores its
			// head before it reads the flag, so one of us sees the other.
			atomic.StoreUint64(e.prod.waitp, e.prod.waitSpace())
			if c := e.prod.cell(); c != nil {
				return c, nil
			}
			t.sleep(sleep, false)
			t.maybeCheckPeers(time.Now())
			sleep = min(2*sleep, maxSleep)
		}
	}
}

// check reports why frames can no longer be sent to the peer, if they
// cannot.
func (e *endpoint) check() error {
	switch {
	case e.t.closed.Load():
		return &transport.PeerError{Op: "send", Peer: e.p.rank, Err: transport.ErrClosed}
	case e.p.gone.Load() == peerExited:
		return &transport.PeerError{Op: "send", Peer: e.p.rank, Addr: e.out.name, Err: ErrPeerExited}
	case e.out.closed():
		return &transport.PeerError{Op: "send", Peer: e.p.rank, Addr: e.out.name, Err: ErrPeerClosed}
	}
	return nil
}

// cmaEndpoint is an endpoint whose peer and this rank can read each other's
// memory with process_vm_readv.
type cmaEndpoint struct{ *endpoint }

// Expose describes buf (this process's pid, buf's address and length) for
// the peer's Fetch. buf must be heap memory (any slice that reached this
// call through an interface is) kept alive and unchanged until the peer
// says it fetched it.
func (e *cmaEndpoint) Expose(buf []byte) ([]byte, error) {
	d := desc{pid: e.t.pid, n: uint64(len(buf))}
	if len(buf) > 0 {
		d.addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	b := make([]byte, descSize)
	d.encode(b)
	return b, nil
}

// Fetch reads the peer's exposed buffer into dst with one kernel copy.
func (e *cmaEndpoint) Fetch(descb []byte, dst []byte) error {
	d, err := decodeDesc(descb)
	if err != nil {
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: err}
	}
	if d.pid != e.p.pid() {
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: fmt.Errorf("descriptor names pid %d, the peer is pid %d", d.pid, e.p.pid())}
	}
	if d.n != uint64(len(dst)) {
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: fmt.Errorf("descriptor of %d bytes for a %d-byte buffer", d.n, len(dst))}
	}
	if err := readRemote(d.pid, d.addr, dst); err != nil {
		if errors.Is(err, unix.ESRCH) {
			err = fmt.Errorf("%w: %v", ErrPeerExited, err)
		}
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: err}
	}
	return nil
}
