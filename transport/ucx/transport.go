//go:build ucx

package ucx

/*
#cgo pkg-config: ucx
#cgo noescape mpx_send_small
#cgo nocallback mpx_send_small
#cgo nocallback mpx_take
#cgo nocallback mpx_progress
#cgo nocallback mpx_arm
#cgo nocallback mpx_req_status
#include <stdlib.h>
#include "ucx.h"
*/
import "C"

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
)

// Built reports whether this binary has the ucx transport.
const Built = true

// limits advertised by every ucx transport.
const (
	// maxFrame bounds one frame's payload.
	maxFrame = 1 << 30
	latency  = 2 * time.Microsecond
)

var singleCopyParam = param.NewBool("ucx_single_copy", false,
	"ucx: messages above the eager limit are read by the receiver from the sender's registered buffer (RDMA get) instead of pushed after a clear-to-send")

// thisHost names this boot of this machine: ranks with the same name can
// reach each other through shared memory.
func thisHost() [hostLen]byte {
	name, _ := os.Hostname()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	sum := sha256.Sum256([]byte(name + "\x00" + string(boot)))
	var h [hostLen]byte
	copy(h[:], sum[:])
	return h
}

// Message types, in byte 8 of the active-message header.
const (
	msgFrame = 1 // an mpx frame
	msgHello = 2 // first message of a connection: rank, challenges, proof
	msgBye   = 3 // the sender closed its transport; last message of the connection
	// msgByeBack is a bye sent on the connection a peer opened, by a rank
	// that never opened its own: it follows no numbered message.
	msgByeBack = 4
)

// amHdrLen is the size of the active-message header: sequence number (8),
// type (1), padding (7), mpx header (48). It matches MPX_AM_HDR in ucx.h.
const amHdrLen = 64

// Transport is one rank's UCX transport: one UCP context and worker. It
// implements transport.Transport and transport.Poller; its endpoints
// implement transport.SingleCopy unless that is turned off.
type Transport struct {
	rank, size int
	secret     []byte
	challenge  [challengeLen]byte
	host       [hostLen]byte
	h          transport.Handler
	sc         bool
	addr       string
	efd        int // the worker's event fd
	wakefd     int // an eventfd that Wake writes

	// wmu serialises every call on the worker (UCS_THREAD_MODE_SERIALIZED)
	// and guards mw, the endpoints' UCP handles and sequence numbers.
	wmu sync.Mutex
	mw  *C.mpx_worker // C memory; nil once closed
	// mapped are the regions Register mapped and Deregister has not
	// unmapped yet; under wmu. Close unmaps them: UCP aborts in
	// ucp_cleanup while a mapping is in use.
	mapped map[*Region]struct{}

	// rmu is held while arrivals become Handler calls: calls for one peer
	// must be sequential and in order. It guards chans, own, limbo, busy.
	rmu        sync.Mutex
	chans      map[unsafe.Pointer]*channel // by the reply endpoint UCP reports
	own        map[unsafe.Pointer]*peer    // endpoints this rank opened
	limbo      map[unsafe.Pointer][]*msg   // arrivals on connections yet to say hello
	limboBytes int
	busy       []*channel // channels with a rendezvous receive in flight
	failBuf    [16]C.mpx_fail

	epMu  sync.Mutex // connecting
	peers []peer

	regMu   sync.Mutex
	regs    map[uint64]*region
	bySend  map[[2]uint64]*region // by (peer, send request id)
	nextReg uint64

	closed   atomic.Bool
	users    atomic.Int64
	sleepers atomic.Int32
	wake     atomic.Uint32
	orphans  []*runtime.Pinner // pins of operations abandoned by Close; under wmu
}

// peer is what this rank knows of another.
type peer struct {
	rank   int
	ep     atomic.Pointer[endpoint]
	failed atomic.Bool // Handler.Fail was called
	// down is why frames can no longer be sent to the peer; under wmu.
	down error
	// back is the reply endpoint of the connection the peer opened, for a
	// bye when this rank opened none; under rmu.
	back unsafe.Pointer
}

// channel is the receiving side of one connection a peer opened.
type channel struct {
	p     *peer
	next  uint64          // the sequence number to deliver next
	held  map[uint64]*msg // arrived ahead of next
	ready []*msg          // in order, waiting behind rndv
	rndv  *rndvRecv       // a payload UCP is still moving into its buffer
}

type rndvRecv struct {
	req unsafe.Pointer
	st  C.ucs_status_t
	pin runtime.Pinner
	h   transport.Header
	buf []byte
}

// msg is an arrival taken out of the C queue because it must wait.
type msg struct {
	typ  byte
	seq  uint64
	hb   [amHdrLen]byte
	how  uint32
	data unsafe.Pointer // C memory this msg owns (held, malloc'd or rendezvous)
	n    int
	inl  []byte
	// owned: this msg must release data; else it is a view of a queue
	// entry (cm), which C releases at the next take.
	owned bool
	cm    *C.mpx_msg
}

// Backlog of copied sends that UCP has not completed: above it, a sender
// progresses until it drains, so a fast sender cannot fill memory.
const (
	smallMax   = 64 << 10 // frames up to this are copied if UCP cannot send them at once
	backlogMax = 16 << 20
	limboMax   = 64 << 20 // bytes held for connections yet to say hello
)

// Open is New behind the Link interface, for the runtime.
func Open(cfg Config) (Link, error) {
	t, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// New creates the UCP context and worker and returns the transport; peers
// reach it through Address.
func New(cfg Config) (*Transport, error) {
	if cfg.Size == 0 && cfg.Rank == 0 {
		cfg.Size = 1
	}
	if cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return nil, fmt.Errorf("ucx: rank %d outside a job of %d", cfg.Rank, cfg.Size)
	}
	if cfg.Handler == nil {
		return nil, errors.New("ucx: Config.Handler is nil")
	}
	sc := singleCopyParam.Get()
	if cfg.SingleCopy != nil {
		sc = *cfg.SingleCopy
	}
	t := &Transport{
		rank: cfg.Rank, size: cfg.Size, secret: append([]byte(nil), cfg.Secret...), h: cfg.Handler, sc: sc,
		peers: make([]peer, cfg.Size),
		chans: map[unsafe.Pointer]*channel{}, own: map[unsafe.Pointer]*peer{}, limbo: map[unsafe.Pointer][]*msg{},
		regs: map[uint64]*region{}, bySend: map[[2]uint64]*region{},
		efd: -1, wakefd: -1,
	}
	for i := range t.peers {
		t.peers[i].rank = i
	}
	if _, err := rand.Read(t.challenge[:]); err != nil {
		return nil, fmt.Errorf("ucx: challenge: %w", err)
	}
	mw := (*C.mpx_worker)(C.calloc(1, C.sizeof_mpx_worker))
	ctls, cdev := C.CString(cfg.TLS), C.CString(cfg.NetDevices)
	st := C.mpx_open(mw, ctls, cdev)
	C.free(unsafe.Pointer(ctls))
	C.free(unsafe.Pointer(cdev))
	if st != C.UCS_OK {
		C.free(unsafe.Pointer(mw))
		return nil, fmt.Errorf("ucx: opening a UCP worker (UCX_TLS=%q): %w", cfg.TLS, statusErr(st))
	}
	t.mw = mw
	fail := func(err error) (*Transport, error) {
		t.destroy()
		return nil, err
	}
	var wa unsafe.Pointer
	var wlen C.size_t
	if st := C.mpx_address(mw, &wa, &wlen); st != C.UCS_OK {
		return fail(fmt.Errorf("ucx: worker address: %w", statusErr(st)))
	}
	t.host = thisHost()
	t.addr = Addr{Rank: t.rank, Host: t.host, Challenge: t.challenge, Worker: C.GoBytes(wa, C.int(wlen))}.String()
	C.mpx_address_release(mw, wa)
	var efd C.int
	if st := C.mpx_efd(mw, &efd); st != C.UCS_OK {
		return fail(fmt.Errorf("ucx: worker event fd: %w", statusErr(st)))
	}
	t.efd = int(efd)
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fail(fmt.Errorf("ucx: eventfd: %w", err))
	}
	t.wakefd = wfd
	return t, nil
}

// statusErr turns a UCS status into an error.
func statusErr(st C.ucs_status_t) error {
	return fmt.Errorf("%s (status %d)", C.GoString(C.mpx_status_string(st)), int(st))
}

// Name is "ucx".
func (t *Transport) Name() string { return "ucx" }

// Limits: eager up to 16 KiB, frames up to 1 GiB.
func (t *Transport) Limits() transport.Limits {
	return transport.Limits{EagerLimit: eagerLimit, MaxFrame: maxFrame, Latency: latency}
}

// Address is the business card: rank, challenge, worker address.
func (t *Transport) Address() string { return t.addr }

func (t *Transport) enter() bool {
	t.users.Add(1)
	if t.closed.Load() {
		t.users.Add(-1)
		return false
	}
	return true
}

func (t *Transport) exit() { t.users.Add(-1) }

// Endpoint connects to peer (ucp_ep_create on its worker address) and
// says hello; UCP completes the connection in the background.
func (t *Transport) Endpoint(rank int, addr string) (transport.Endpoint, error) {
	if rank < 0 || rank >= t.size {
		return nil, fmt.Errorf("ucx: endpoint to rank %d outside a job of %d", rank, t.size)
	}
	p := &t.peers[rank]
	if e := p.ep.Load(); e != nil && !t.closed.Load() {
		return e.iface, nil
	}
	if !t.enter() {
		return nil, &transport.PeerError{Op: "dial", Peer: rank, Err: transport.ErrClosed}
	}
	defer t.exit()
	t.epMu.Lock()
	defer t.epMu.Unlock()
	if e := p.ep.Load(); e != nil {
		return e.iface, nil
	}
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, &transport.PeerError{Op: "dial", Peer: rank, Err: err}
	}
	if a.Rank != rank {
		return nil, &transport.PeerError{Op: "dial", Peer: rank, Err: fmt.Errorf("address is rank %d's", a.Rank)}
	}
	hl := hello{src: t.rank, dst: rank, dstChallenge: a.Challenge, srcChallenge: t.challenge}
	hl.proof = proofOf(t.secret, t.rank, rank, a.Challenge, t.challenge)
	body := hl.encode()
	var hb [amHdrLen]byte
	hb[8] = msgHello

	ectx := (*C.mpx_epctx)(C.calloc(1, C.sizeof_mpx_epctx))
	ectx.peer = C.int64_t(rank)
	e := &endpoint{t: t, p: p, ectx: ectx, seq: 1}
	e.iface = e
	if t.sc {
		e.iface = &scEndpoint{e}
	}
	t.wmu.Lock()
	if t.mw == nil {
		t.wmu.Unlock()
		C.free(unsafe.Pointer(ectx))
		return nil, &transport.PeerError{Op: "dial", Peer: rank, Err: transport.ErrClosed}
	}
	local := C.int(0)
	if a.Host == t.host {
		local = 1
		e.local = true
	}
	st := C.mpx_ep_create(t.mw, unsafe.Pointer(&a.Worker[0]), local, ectx, &e.ep)
	if st == C.UCS_OK {
		st = C.mpx_send_small(t.mw, e.ep, unsafe.Pointer(&hb[0]), unsafe.Pointer(&body[0]), C.size_t(len(body)))
		if st != C.UCS_OK {
			if r := C.mpx_ep_close(e.ep, e.forceClose()); isPtr(r) {
				t.orphanReq(r)
			}
		}
	}
	t.wmu.Unlock()
	if st != C.UCS_OK {
		C.free(unsafe.Pointer(ectx))
		return nil, &transport.PeerError{Op: "dial", Peer: rank, Err: statusErr(st)}
	}
	t.rmu.Lock()
	t.own[unsafe.Pointer(e.ep)] = p
	t.rmu.Unlock()
	p.ep.Store(e)
	return e.iface, nil
}

// orphanReq frees a request nobody will wait for. The caller holds wmu.
func (t *Transport) orphanReq(r C.ucs_status_ptr_t) {
	C.mpx_req_free(unsafe.Pointer(r))
}

func isPtr(r C.ucs_status_ptr_t) bool {
	return r != nil && uintptr(unsafe.Pointer(r)) < uintptr(^uint(0)-4096)
}

// ptrStatus is the status a ucs_status_ptr_t that is not a request holds.
func ptrStatus(r C.ucs_status_ptr_t) C.ucs_status_t {
	if r == nil {
		return C.UCS_OK
	}
	return C.ucs_status_t(int8(uintptr(unsafe.Pointer(r))))
}

// Poll delivers what has arrived: it progresses the worker and hands the
// queued arrivals to the Handler. Safe for concurrent use: a caller that
// finds another delivering only progresses.
func (t *Transport) Poll() bool {
	if !t.enter() {
		return false
	}
	got := t.poll()
	t.exit()
	return got
}

func (t *Transport) poll() bool {
	if !t.rmu.TryLock() {
		t.progress()
		return false
	}
	defer t.rmu.Unlock()
	t.wmu.Lock()
	if t.mw == nil {
		t.wmu.Unlock()
		return false
	}
	var first *C.mpx_msg
	n := int(C.mpx_take(t.mw, &first))
	nf := 0
	if t.mw.nfails > 0 {
		nf = int(C.mpx_take_fails(t.mw, &t.failBuf[0], C.size_t(len(t.failBuf))))
	}
	var done []*channel
	if len(t.busy) > 0 {
		kept := t.busy[:0]
		for _, c := range t.busy {
			if st := C.mpx_req_status(c.rndv.req); st != C.UCS_INPROGRESS {
				C.mpx_req_free(c.rndv.req)
				c.rndv.req, c.rndv.st = nil, st
				done = append(done, c)
			} else {
				kept = append(kept, c)
			}
		}
		t.busy = kept
	}
	t.wmu.Unlock()
	got := false
	for _, c := range done {
		r := c.rndv
		c.rndv = nil
		r.pin.Unpin()
		if r.st != C.UCS_OK {
			t.failPeer(c.p, &transport.PeerError{Op: "recv", Peer: c.p.rank, Err: fmt.Errorf("rendezvous receive: %w", statusErr(r.st))})
			continue
		}
		t.h.Deliver(&r.h, r.buf)
		got = true
		t.drain(c)
	}
	if n > 0 {
		ms := unsafe.Slice(first, n)
		for i := range ms {
			if t.arrive(&ms[i]) {
				got = true
			}
		}
	}
	for _, f := range t.failBuf[:nf] {
		p := &t.peers[int(f.peer)]
		t.failPeer(p, &transport.PeerError{Op: "recv", Peer: p.rank, Err: statusErr(f.status)})
	}
	return got
}

// progress drives the worker without delivering: arrivals wait in the
// queue for the next Poll, whose sleeping caller is woken.
func (t *Transport) progress() {
	t.wmu.Lock()
	if t.mw == nil {
		t.wmu.Unlock()
		return
	}
	C.mpx_progress(t.mw)
	queued := t.mw.q[t.mw.active].n > 0 || t.mw.nfails > 0
	t.wmu.Unlock()
	if queued {
		t.kick()
	}
}

// view reads a queued arrival in place; its payload stays in C memory that
// the next mpx_take releases, unless detach takes it over.
func view(cm *C.mpx_msg) msg {
	m := msg{how: uint32(cm.how), data: cm.data, n: int(cm.len), cm: cm}
	m.hb = *(*[amHdrLen]byte)(unsafe.Pointer(&cm.hdr[0]))
	m.typ, m.seq = m.hb[8], binary.LittleEndian.Uint64(m.hb[0:])
	if m.how == C.MPX_DATA_INLINE {
		m.inl = unsafe.Slice((*byte)(unsafe.Pointer(&cm.inl[0])), m.n)
	}
	return m
}

// detach returns a copy of m that owns its payload, for an arrival that
// must wait: C no longer releases it at the next take.
func detach(m *msg) *msg {
	d := *m
	d.owned, d.cm = true, nil
	if d.how == C.MPX_DATA_INLINE {
		d.inl = append([]byte(nil), m.inl...)
	}
	if m.cm != nil {
		m.cm.data = nil
	}
	m.data = nil
	return &d
}

// release frees what a detached arrival holds.
func (t *Transport) release(m *msg) {
	if !m.owned || m.data == nil {
		return
	}
	switch m.how {
	case C.MPX_DATA_MALLOC:
		C.free(m.data)
	case C.MPX_DATA_HELD, C.MPX_DATA_RNDV:
		t.wmu.Lock()
		if t.mw != nil {
			C.mpx_release(t.mw, m.data)
		}
		t.wmu.Unlock()
	}
	m.data = nil
}

// arrive takes one queued arrival: a hello opens a channel, numbered
// messages are handled in sequence order. It reports whether the Handler
// got a frame. The caller holds rmu.
func (t *Transport) arrive(cm *C.mpx_msg) bool {
	reply := unsafe.Pointer(cm.reply_ep)
	if cm.hdrlen != amHdrLen || reply == nil {
		return false // not an mpx peer's message; C releases its data
	}
	m := view(cm)
	if m.typ == msgByeBack {
		p := t.own[reply]
		if c := t.chans[reply]; p == nil && c != nil {
			p = c.p
		}
		if p != nil {
			t.failPeer(p, &transport.PeerError{Op: "recv", Peer: p.rank, Err: ErrPeerClosed})
		}
		return false
	}
	c := t.chans[reply]
	if c == nil {
		if m.typ == msgHello {
			return t.hello(reply, &m)
		}
		// Ahead of its connection's hello (UCP need not keep order), or
		// from a stranger: kept, within bounds, until a hello vouches.
		if t.limboBytes+m.n > limboMax {
			return false
		}
		t.limboBytes += m.n
		t.limbo[reply] = append(t.limbo[reply], detach(&m))
		return false
	}
	return t.accept(c, &m)
}

// hello checks a connection's proof and opens its channel.
func (t *Transport) hello(reply unsafe.Pointer, m *msg) bool {
	if m.how != C.MPX_DATA_INLINE || m.seq != 0 {
		return false
	}
	hl, err := decodeHello(m.inl)
	if err != nil || hl.dst != t.rank || hl.src >= t.size || hl.dstChallenge != t.challenge {
		return false
	}
	want := proofOf(t.secret, hl.src, hl.dst, hl.dstChallenge, hl.srcChallenge)
	if !hmac.Equal(want[:], hl.proof[:]) {
		return false
	}
	p := &t.peers[hl.src]
	c := &channel{p: p, next: 1, held: map[uint64]*msg{}}
	t.chans[reply] = c
	if t.own[reply] == nil {
		p.back = reply
	}
	got := false
	waiting := t.limbo[reply]
	delete(t.limbo, reply)
	for _, d := range waiting {
		t.limboBytes -= d.n
		if t.accept(c, d) {
			got = true
		}
	}
	return got
}

// accept handles a numbered message of channel c: delivered now if it is
// the next and nothing is in flight before it, else kept in order.
func (t *Transport) accept(c *channel, m *msg) bool {
	switch {
	case m.seq < c.next:
		t.release(m) // a duplicate: never sent so, dropped
		return false
	case m.seq > c.next:
		if !m.owned {
			m = detach(m)
		}
		c.held[m.seq] = m
		return false
	}
	c.next++
	got := false
	if c.rndv != nil || len(c.ready) > 0 {
		if !m.owned {
			m = detach(m)
		}
		c.ready = append(c.ready, m)
	} else {
		got = t.deliver(c, m)
	}
	for len(c.held) > 0 {
		d, ok := c.held[c.next]
		if !ok {
			break
		}
		delete(c.held, c.next)
		c.next++
		c.ready = append(c.ready, d)
	}
	if t.drain(c) {
		got = true
	}
	return got
}

// drain delivers the messages of c waiting in order, until one needs a
// rendezvous receive.
func (t *Transport) drain(c *channel) bool {
	got := false
	for c.rndv == nil && len(c.ready) > 0 {
		m := c.ready[0]
		c.ready[0] = nil
		c.ready = c.ready[1:]
		if t.deliver(c, m) {
			got = true
		}
	}
	return got
}

// deliver hands one in-order message to the Handler, or starts the
// rendezvous receive of its payload into the buffer Alloc returned.
func (t *Transport) deliver(c *channel, m *msg) bool {
	p := c.p
	switch m.typ {
	case msgBye:
		t.release(m)
		t.failPeer(p, &transport.PeerError{Op: "recv", Peer: p.rank, Err: ErrPeerClosed})
		return false
	case msgFrame:
	default:
		t.release(m)
		return false
	}
	if p.failed.Load() {
		t.release(m)
		return false
	}
	var h transport.Header
	if err := h.Decode(m.hb[16:], maxFrame); err != nil {
		t.release(m)
		t.failPeer(p, &transport.PeerError{Op: "recv", Peer: p.rank, Err: err})
		return false
	}
	n := h.PayloadLen()
	if n != uint64(m.n) || int(h.Source) != p.rank {
		t.release(m)
		t.failPeer(p, &transport.PeerError{Op: "recv", Peer: p.rank,
			Err: fmt.Errorf("%w: %s frame from rank %d announces %d bytes, carries %d", transport.ErrFrame, h.Kind, h.Source, n, m.n)})
		return false
	}
	t.noteFrame(p.rank, &h)
	buf := t.h.Alloc(&h)
	if uint64(len(buf)) < n {
		buf = make([]byte, n) // a Handler that breaks the contract loses the frame, not memory
	}
	buf = buf[:n]
	switch m.how {
	case C.MPX_DATA_INLINE:
		copy(buf, m.inl)
	case C.MPX_DATA_HELD, C.MPX_DATA_MALLOC:
		copy(buf, unsafe.Slice((*byte)(m.data), n))
		t.release(m)
	case C.MPX_DATA_RNDV:
		// UCP moves the payload into buf (an RDMA read on a fabric); buf
		// is pinned until the receive completes.
		r := &rndvRecv{h: h, buf: buf}
		var dst unsafe.Pointer
		if n > 0 {
			dst = unsafe.Pointer(&buf[0])
			r.pin.Pin(dst)
		}
		t.wmu.Lock()
		rp := C.ucs_status_ptr_t(nil)
		closed := t.mw == nil
		if !closed {
			rp = C.mpx_recv_rndv(t.mw, m.data, dst, C.size_t(n))
		}
		t.wmu.Unlock()
		if m.cm != nil {
			m.cm.data = nil // UCP owns the descriptor now
		}
		m.data = nil
		if closed {
			r.pin.Unpin()
			return false
		}
		if isPtr(rp) {
			r.req = unsafe.Pointer(rp)
			c.rndv = r
			t.busy = append(t.busy, c)
			return false
		}
		r.pin.Unpin()
		if st := ptrStatus(rp); st != C.UCS_OK {
			t.failPeer(p, &transport.PeerError{Op: "recv", Peer: p.rank, Err: fmt.Errorf("rendezvous receive: %w", statusErr(st))})
			return false
		}
	}
	t.h.Deliver(&h, buf)
	return true
}

// failPeer stops sends to p and reports it to the Handler, once.
func (t *Transport) failPeer(p *peer, err error) {
	t.wmu.Lock()
	if p.down == nil {
		p.down = err
	}
	t.wmu.Unlock()
	t.dropRegions(p.rank)
	if !p.failed.Swap(true) {
		t.h.Fail(p.rank, err)
	}
}

// kick wakes the goroutines asleep in Block.
func (t *Transport) kick() {
	if t.sleepers.Load() > 0 {
		one := [8]byte{1}
		unix.Write(t.wakefd, one[:])
	}
}

// Block waits until something may have arrived, Wake is called, or d
// passes: it arms the worker (ucp_worker_arm; busy means arrivals wait,
// and it returns at once for the caller to poll) and sleeps on the
// worker's event fd and the wake-up eventfd.
func (t *Transport) Block(d time.Duration) {
	if d <= 0 || !t.enter() {
		return
	}
	defer t.exit()
	if t.wake.Swap(0) != 0 {
		return
	}
	t.sleepers.Add(1)
	defer t.sleepers.Add(-1)
	// Raised before this look, so a Wake either is seen here or writes
	// the eventfd.
	if t.wake.Swap(0) != 0 {
		return
	}
	t.wmu.Lock()
	st := C.ucs_status_t(C.UCS_ERR_BUSY)
	if t.mw != nil {
		st = C.mpx_arm(t.mw)
	}
	t.wmu.Unlock()
	if st != C.UCS_OK {
		return
	}
	fds := [2]unix.PollFd{{Fd: int32(t.efd), Events: unix.POLLIN}, {Fd: int32(t.wakefd), Events: unix.POLLIN}}
	ts := unix.NsecToTimespec(int64(d))
	unix.Ppoll(fds[:], &ts, nil)
	if fds[1].Revents&unix.POLLIN != 0 {
		var b [8]byte
		unix.Read(t.wakefd, b[:])
	}
	t.wake.Store(0)
}

// Wake ends a current Block at once, or the next one if none is blocked.
func (t *Transport) Wake() {
	if !t.enter() {
		return
	}
	t.wake.Store(1)
	t.kick()
	t.exit()
}

// waitLocked progresses until request r completes or d passes; the caller
// holds wmu. A request still running at the deadline is left to the
// worker's destruction.
func (t *Transport) waitLocked(r C.ucs_status_ptr_t, d time.Duration) C.ucs_status_t {
	if !isPtr(r) {
		return ptrStatus(r)
	}
	deadline := time.Now().Add(d)
	for i := 0; ; i++ {
		C.mpx_progress(t.mw)
		if st := C.mpx_req_status(unsafe.Pointer(r)); st != C.UCS_INPROGRESS {
			C.mpx_req_free(unsafe.Pointer(r))
			return st
		}
		if i&255 == 255 && time.Now().After(deadline) {
			return C.UCS_ERR_TIMED_OUT
		}
	}
}

// Close says bye to every peer, flushes, closes the endpoints and
// destroys the worker. It must not be called from a Handler method.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	for t.users.Load() != 0 {
		one := [8]byte{1}
		unix.Write(t.wakefd, one[:])
		time.Sleep(10 * time.Microsecond)
	}
	t.rmu.Lock()
	defer t.rmu.Unlock()
	t.wmu.Lock()
	defer t.wmu.Unlock()
	mw := t.mw
	var hb [amHdrLen]byte
	var eps []*endpoint
	for i := range t.peers {
		p := &t.peers[i]
		e := p.ep.Load()
		if e != nil {
			eps = append(eps, e)
		}
		if p.down != nil || i == t.rank {
			continue
		}
		switch {
		case e != nil:
			hb[8] = msgBye
			binary.LittleEndian.PutUint64(hb[0:], e.seq)
			e.seq++
			C.mpx_send_small(mw, e.ep, unsafe.Pointer(&hb[0]), nil, 0)
		case p.back != nil:
			hb[8] = msgByeBack
			C.mpx_send_small(mw, C.ucp_ep_h(p.back), unsafe.Pointer(&hb[0]), nil, 0)
		}
	}
	// The byes leave before the endpoints close; bounded, for peers gone.
	t.waitLocked(C.mpx_worker_flush(mw), time.Second)
	for _, e := range eps {
		for _, rk := range e.rkeys {
			C.ucp_rkey_destroy(rk)
		}
		e.rkeys = nil
	}
	for _, e := range eps {
		t.waitLocked(C.mpx_ep_close(e.ep, e.forceClose()), time.Second)
	}
	// What waits in Go for a release must be released while the worker
	// exists.
	for _, c := range t.chans {
		for _, m := range c.held {
			t.releaseLocked(m)
		}
		for _, m := range c.ready {
			t.releaseLocked(m)
		}
	}
	for _, ms := range t.limbo {
		for _, m := range ms {
			t.releaseLocked(m)
		}
	}
	t.regMu.Lock()
	for _, r := range t.regs {
		C.mpx_mem_unmap(mw, r.memh)
	}
	t.regMu.Unlock()
	for r := range t.mapped {
		C.mpx_mem_unmap(mw, r.memh)
		r.memh = nil
	}
	t.mapped = nil
	C.mpx_close(mw)
	C.free(unsafe.Pointer(mw))
	t.mw = nil
	// UCP touches no Go memory any more.
	t.regMu.Lock()
	for id, r := range t.regs {
		r.pin.Unpin()
		delete(t.regs, id)
	}
	clear(t.bySend)
	t.regMu.Unlock()
	for _, c := range t.busy {
		c.rndv.pin.Unpin()
	}
	t.busy = nil
	for _, p := range t.orphans {
		p.Unpin()
	}
	t.orphans = nil
	for _, e := range eps {
		C.free(unsafe.Pointer(e.ectx))
	}
	unix.Close(t.wakefd)
	return nil
}

// releaseLocked is release for a caller that holds wmu.
func (t *Transport) releaseLocked(m *msg) {
	if !m.owned || m.data == nil {
		return
	}
	if m.how == C.MPX_DATA_MALLOC {
		C.free(m.data)
	} else {
		C.mpx_release(t.mw, m.data)
	}
	m.data = nil
}

// destroy undoes a New that failed half way.
func (t *Transport) destroy() {
	C.mpx_close(t.mw)
	C.free(unsafe.Pointer(t.mw))
	t.mw = nil
	if t.wakefd >= 0 {
		unix.Close(t.wakefd)
	}
}

// Lanes says which UCX transports and devices carry the endpoint to peer:
// "tcp/lo", "posix/memory cma/memory". It waits for the connection to
// complete; "" when there is no endpoint.
func (t *Transport) Lanes(peer int) string {
	if peer < 0 || peer >= t.size {
		return ""
	}
	e := t.peers[peer].ep.Load()
	if e == nil || !t.enter() {
		return ""
	}
	defer t.exit()
	if e.connect() != nil {
		return ""
	}
	t.wmu.Lock()
	if t.mw == nil {
		t.wmu.Unlock()
		return ""
	}
	cs := C.mpx_ep_info(e.ep)
	t.wmu.Unlock()
	if cs == nil {
		return ""
	}
	s := C.GoString(cs)
	C.free(unsafe.Pointer(cs))
	return parseLanes(s)
}

// Resources lists the transports and devices UCX offers on this machine.
func Resources() ([]Resource, error) {
	cs := C.mpx_resources()
	if cs == nil {
		return nil, errors.New("ucx: querying UCT resources failed")
	}
	s := C.GoString(cs)
	C.free(unsafe.Pointer(cs))
	var rs []Resource
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		tl, dev, ok := strings.Cut(line, "/")
		if ok {
			rs = append(rs, Resource{Transport: tl, Device: dev})
		}
	}
	return rs, nil
}
