//go:build ucx

package ucx

/*
#include <stdlib.h>
#include <string.h>
#include "ucx.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/mpx-hpc/mpx/transport"
)

// endpoint is the connection this rank opened to one peer.
type endpoint struct {
	t     *Transport
	p     *peer
	ep    C.ucp_ep_h              // under wmu
	ectx  *C.mpx_epctx            // the error callback's argument, C memory
	seq   uint64                  // next sequence number; under wmu
	wired bool                    // flushed once: UCP finished connecting; under wmu
	rkeys map[string]C.ucp_rkey_h // unpacked remote keys of Put, Get and atomics; under wmu
	iface transport.Endpoint
	local bool // same host: created without peer error handling
}

// forceClose says whether the endpoint may be closed without flushing.
// UCP allows a forced close only in peer error-handling mode (ucp.h: on
// both sides, else the behaviour is undefined), which same-host endpoints
// do not use: they close by flushing, bounded by the caller's wait.
func (e *endpoint) forceClose() C.int {
	if e.local {
		return 0
	}
	return 1
}

func (e *endpoint) Peer() int { return e.p.rank }

// check says why frames can no longer go to the peer; the caller holds wmu.
func (e *endpoint) check() error {
	switch {
	case e.t.mw == nil || e.t.closed.Load():
		return &transport.PeerError{Op: "send", Peer: e.p.rank, Err: transport.ErrClosed}
	case e.p.down != nil:
		return &transport.PeerError{Op: "send", Peer: e.p.rank, Err: e.p.down}
	}
	return nil
}

// Send sends h and payload as one active message. Frames up to 64 KiB are
// sent from the caller's buffers if UCP can complete at once, else from a
// copy in C memory, and Send returns without waiting; larger ones are
// sent from the pinned payload (zero copy, UCP's rendezvous) and Send
// waits for completion, progressing meanwhile. It does not retain payload,
// and is safe for concurrent use: each frame takes a sequence number with
// the worker, and the peer delivers in that order.
func (e *endpoint) Send(h *transport.Header, payload []byte) error {
	t := e.t
	n := h.PayloadLen()
	switch {
	case uint64(len(payload)) != n:
		return fmt.Errorf("ucx send to rank %d: %s frame announces %d payload bytes, got %d", e.p.rank, h.Kind, n, len(payload))
	case h.Kind < transport.KindEager || h.Kind > transport.KindCredit:
		return fmt.Errorf("ucx send to rank %d: unknown frame kind %d", e.p.rank, h.Kind)
	case n > maxFrame:
		return fmt.Errorf("ucx send to rank %d: %d-byte frame exceeds the %d-byte limit", e.p.rank, n, maxFrame)
	case int(h.Source) != t.rank:
		return fmt.Errorf("ucx send to rank %d: header source %d is not this rank %d", e.p.rank, h.Source, t.rank)
	}
	if !t.enter() {
		return &transport.PeerError{Op: "send", Peer: e.p.rank, Err: transport.ErrClosed}
	}
	defer t.exit()
	var hb [amHdrLen]byte
	hb[8] = msgFrame
	h.Encode(hb[16:])
	var data unsafe.Pointer
	if n > 0 {
		data = unsafe.Pointer(&payload[0])
	}
	if h.Kind == transport.KindRTS && h.Flags&transport.FlagSingleCopy != 0 {
		t.bindRegion(payload, e.p.rank, h.SReq)
	}
	if n <= smallMax {
		t.wmu.Lock()
		if err := e.check(); err != nil {
			t.wmu.Unlock()
			return err
		}
		binary.LittleEndian.PutUint64(hb[0:], e.seq)
		e.seq++
		st := C.mpx_send_small(t.mw, e.ep, unsafe.Pointer(&hb[0]), data, C.size_t(n))
		backlog := t.mw.outbytes > backlogMax
		t.wmu.Unlock()
		if st != C.UCS_OK {
			return e.broken(statusErr(st))
		}
		if backlog {
			return t.drainBacklog()
		}
		return nil
	}
	hc := C.malloc(amHdrLen)
	var pin runtime.Pinner
	pin.Pin(data)
	t.wmu.Lock()
	if err := e.check(); err != nil {
		t.wmu.Unlock()
		C.free(hc)
		pin.Unpin()
		return err
	}
	binary.LittleEndian.PutUint64(hb[0:], e.seq)
	e.seq++
	C.memcpy(hc, unsafe.Pointer(&hb[0]), amHdrLen)
	r := C.mpx_send_big(e.ep, hc, data, C.size_t(n))
	t.wmu.Unlock()
	st := t.wait(r, &pin, hc)
	if st != C.UCS_OK {
		return e.broken(statusErr(st))
	}
	return nil
}

// broken marks the peer down after a send failed: the frame's sequence
// number is spent, so nothing after it could be delivered.
func (e *endpoint) broken(err error) error {
	t := e.t
	if t.closed.Load() {
		return &transport.PeerError{Op: "send", Peer: e.p.rank, Err: transport.ErrClosed}
	}
	t.wmu.Lock()
	if e.p.down == nil {
		e.p.down = err
	}
	t.wmu.Unlock()
	return &transport.PeerError{Op: "send", Peer: e.p.rank, Err: err}
}

// drainBacklog progresses until copied sends UCP holds fall below half the
// backlog bound.
func (t *Transport) drainBacklog() error {
	for i := 0; ; i++ {
		t.poll()
		t.wmu.Lock()
		if t.mw == nil {
			t.wmu.Unlock()
			return transport.ErrClosed
		}
		low := t.mw.outbytes <= backlogMax/2
		t.wmu.Unlock()
		if low {
			return nil
		}
		t.pause(i)
	}
}

// pause backs off a goroutine waiting for an operation of its own: spin,
// then yield, then sleep on the worker.
func (t *Transport) pause(i int) {
	switch {
	case i < 64:
	case i < 256:
		runtime.Gosched()
	default:
		t.Block(time.Duration(min(i, 1000)) * time.Microsecond)
	}
}

// wait progresses (and delivers, so that two ranks waiting on each other
// both advance) until request r completes, then releases what the
// operation kept: the pinned Go memory and the C block c. If the
// transport closes meanwhile, the request is abandoned to the worker's
// destruction and the pins are released after it.
func (t *Transport) wait(r C.ucs_status_ptr_t, pin *runtime.Pinner, c unsafe.Pointer) C.ucs_status_t {
	if !isPtr(r) {
		pin.Unpin()
		C.free(c)
		return ptrStatus(r)
	}
	for i := 0; ; i++ {
		t.poll()
		t.wmu.Lock()
		if t.mw == nil || t.closed.Load() {
			// Close waits for this call to leave before it destroys the
			// worker, which ends r; then the pins go.
			t.orphans = append(t.orphans, pin)
			t.wmu.Unlock()
			return C.UCS_ERR_CANCELED
		}
		st := C.mpx_req_status(unsafe.Pointer(r))
		if st != C.UCS_INPROGRESS {
			C.mpx_req_free(unsafe.Pointer(r))
		}
		t.wmu.Unlock()
		if st != C.UCS_INPROGRESS {
			pin.Unpin()
			C.free(c)
			return st
		}
		t.pause(i)
	}
}

// connect waits, once, until UCP has finished connecting the endpoint:
// remote keys unpack only on a connected endpoint.
func (e *endpoint) connect() error {
	t := e.t
	t.wmu.Lock()
	if err := e.check(); err != nil {
		t.wmu.Unlock()
		return err
	}
	if e.wired {
		t.wmu.Unlock()
		return nil
	}
	r := C.mpx_ep_flush(e.ep)
	t.wmu.Unlock()
	var pin runtime.Pinner
	if st := t.wait(r, &pin, nil); st != C.UCS_OK {
		return &transport.PeerError{Op: "connect", Peer: e.p.rank, Err: statusErr(st)}
	}
	t.wmu.Lock()
	e.wired = true
	t.wmu.Unlock()
	return nil
}

// scEndpoint is an endpoint that offers transport.SingleCopy.
type scEndpoint struct{ *endpoint }

// region is a registered buffer exposed to a peer.
type region struct {
	id   uint64
	memh C.ucp_mem_h
	pin  runtime.Pinner
	peer int
	sreq uint64
}

// Expose registers buf (ucp_mem_map), pinned until the peer says it
// fetched it (its Fin or CTS for the RTS that carried the descriptor),
// fails, or the transport closes; the descriptor carries the packed
// remote key.
func (e *scEndpoint) Expose(buf []byte) ([]byte, error) {
	t := e.t
	if len(buf) == 0 {
		return desc{}.encode(), nil
	}
	if !t.enter() {
		return nil, &transport.PeerError{Op: "expose", Peer: e.p.rank, Err: transport.ErrClosed}
	}
	defer t.exit()
	r := &region{peer: e.p.rank}
	ptr := unsafe.Pointer(&buf[0])
	r.pin.Pin(ptr)
	var rk unsafe.Pointer
	var rklen C.size_t
	t.wmu.Lock()
	if t.mw == nil {
		t.wmu.Unlock()
		r.pin.Unpin()
		return nil, &transport.PeerError{Op: "expose", Peer: e.p.rank, Err: transport.ErrClosed}
	}
	st := C.mpx_mem_map(t.mw, ptr, C.size_t(len(buf)), &r.memh, &rk, &rklen)
	t.wmu.Unlock()
	if st != C.UCS_OK {
		r.pin.Unpin()
		return nil, &transport.PeerError{Op: "expose", Peer: e.p.rank, Err: statusErr(st)}
	}
	d := desc{addr: uint64(uintptr(ptr)), n: uint64(len(buf)), rkey: C.GoBytes(rk, C.int(rklen))}
	C.mpx_rkey_buffer_release(rk)
	t.regMu.Lock()
	t.nextReg++
	r.id = t.nextReg
	d.id = r.id
	t.regs[r.id] = r
	t.regMu.Unlock()
	return d.encode(), nil
}

// bindRegion ties the region a descriptor names to the RTS that carries
// it, so that the peer's answer to that send releases it.
func (t *Transport) bindRegion(descb []byte, peer int, sreq uint64) {
	if len(descb) < 8 {
		return
	}
	id := binary.LittleEndian.Uint64(descb)
	t.regMu.Lock()
	if r := t.regs[id]; r != nil && r.peer == peer {
		r.sreq = sreq
		t.bySend[[2]uint64{uint64(peer), sreq}] = r
	}
	t.regMu.Unlock()
}

// noteFrame releases the region of a send the peer has answered: a Fin
// (fetched, or declined) or a CTS (it wants the data pushed instead).
func (t *Transport) noteFrame(peer int, h *transport.Header) {
	if h.Kind != transport.KindFin && h.Kind != transport.KindCTS {
		return
	}
	k := [2]uint64{uint64(peer), h.SReq}
	t.regMu.Lock()
	r := t.bySend[k]
	if r != nil {
		delete(t.bySend, k)
		delete(t.regs, r.id)
	}
	t.regMu.Unlock()
	if r != nil {
		t.unmap(r)
	}
}

// dropRegions releases every region exposed to peer.
func (t *Transport) dropRegions(peer int) {
	var rs []*region
	t.regMu.Lock()
	for id, r := range t.regs {
		if r.peer == peer {
			rs = append(rs, r)
			delete(t.regs, id)
			delete(t.bySend, [2]uint64{uint64(peer), r.sreq})
		}
	}
	t.regMu.Unlock()
	for _, r := range rs {
		t.unmap(r)
	}
}

func (t *Transport) unmap(r *region) {
	t.wmu.Lock()
	if t.mw != nil {
		C.mpx_mem_unmap(t.mw, r.memh)
	}
	t.wmu.Unlock()
	r.pin.Unpin()
}

// Fetch reads the peer's exposed buffer into dst with ucp_get_nbx: an RDMA
// read where the fabric has one (cma between processes on one node), UCP's
// emulation over active messages elsewhere. dst is pinned meanwhile.
func (e *scEndpoint) Fetch(descb []byte, dst []byte) error {
	t := e.t
	d, err := decodeDesc(descb)
	if err != nil {
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: err}
	}
	if d.n != uint64(len(dst)) {
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: fmt.Errorf("descriptor of %d bytes for a %d-byte buffer", d.n, len(dst))}
	}
	if d.n == 0 {
		return nil
	}
	if !t.enter() {
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: transport.ErrClosed}
	}
	defer t.exit()
	if err := e.connect(); err != nil {
		return err
	}
	var pin runtime.Pinner
	ptr := unsafe.Pointer(&dst[0])
	pin.Pin(ptr)
	rkb := C.CBytes(d.rkey)
	defer C.free(rkb)
	var rkey C.ucp_rkey_h
	t.wmu.Lock()
	if err := e.check(); err != nil {
		t.wmu.Unlock()
		pin.Unpin()
		return err
	}
	st := C.mpx_rkey_unpack(e.ep, rkb, &rkey)
	if st != C.UCS_OK {
		t.wmu.Unlock()
		pin.Unpin()
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: fmt.Errorf("unpacking remote key: %w", statusErr(st))}
	}
	r := C.mpx_get(e.ep, ptr, C.size_t(d.n), C.uint64_t(d.addr), rkey)
	t.wmu.Unlock()
	st = t.wait(r, &pin, nil)
	t.wmu.Lock()
	if t.mw != nil {
		C.ucp_rkey_destroy(rkey)
	}
	t.wmu.Unlock()
	if st != C.UCS_OK {
		return &transport.PeerError{Op: "fetch", Peer: e.p.rank, Err: statusErr(st)}
	}
	return nil
}
