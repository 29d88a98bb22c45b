//go:build ucx

package ucx

/*
#include <stdlib.h>
#include "ucx.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/mpx-hpc/mpx/transport"
)

// One-sided access for an RMA layer (the rdma package's UCX backend):
// Transport.Register exposes memory, its Key travels to peers, and their
// endpoints Put, Get and run atomics on it. Every operation here waits for
// its local completion, so the Go buffers it is given are pinned only for
// the call; Flush waits for remote completion of what went before.

// Region is registered memory that peers may access.
type Region struct {
	t    *Transport
	memh C.ucp_mem_h
	pin  runtime.Pinner
	key  []byte
	n    int
}

// Key is what a peer needs to access the region: its address, length and
// packed remote key.
func (r *Region) Key() []byte { return r.key }

// Register maps buf for remote access (ucp_mem_map) and packs its remote
// key. buf stays pinned, and must stay alive, until Deregister.
func (t *Transport) Register(buf []byte) (*Region, error) {
	if len(buf) == 0 {
		return nil, errors.New("ucx: registering an empty buffer")
	}
	if !t.enter() {
		return nil, transport.ErrClosed
	}
	defer t.exit()
	r := &Region{t: t, n: len(buf)}
	ptr := unsafe.Pointer(&buf[0])
	r.pin.Pin(ptr)
	var rk unsafe.Pointer
	var rklen C.size_t
	t.wmu.Lock()
	st := C.ucs_status_t(C.UCS_ERR_CANCELED)
	if t.mw != nil {
		st = C.mpx_mem_map(t.mw, ptr, C.size_t(len(buf)), &r.memh, &rk, &rklen)
	}
	if st == C.UCS_OK {
		if t.mapped == nil {
			t.mapped = map[*Region]struct{}{}
		}
		t.mapped[r] = struct{}{}
	}
	t.wmu.Unlock()
	if st != C.UCS_OK {
		r.pin.Unpin()
		return nil, fmt.Errorf("ucx: registering %d bytes: %w", len(buf), statusErr(st))
	}
	r.key = desc{addr: uint64(uintptr(ptr)), n: uint64(len(buf)), rkey: C.GoBytes(rk, C.int(rklen))}.encode()
	C.mpx_rkey_buffer_release(rk)
	return r, nil
}

// Deregister unmaps the region and unpins its buffer. Peers must no longer
// access it.
func (r *Region) Deregister() {
	t := r.t
	t.wmu.Lock()
	if t.mw != nil && r.memh != nil {
		C.mpx_mem_unmap(t.mw, r.memh)
	}
	r.memh = nil
	delete(t.mapped, r)
	t.wmu.Unlock()
	r.pin.Unpin()
}

// rkey returns the unpacked remote key of key on e, cached; and the
// region's address and length. The caller holds wmu.
func (e *endpoint) rkey(key []byte) (C.ucp_rkey_h, desc, error) {
	d, err := decodeDesc(key)
	if err != nil {
		return nil, d, err
	}
	if rk, ok := e.rkeys[string(key)]; ok {
		return rk, d, nil
	}
	rkb := C.CBytes(d.rkey)
	defer C.free(rkb)
	var rk C.ucp_rkey_h
	if st := C.mpx_rkey_unpack(e.ep, rkb, &rk); st != C.UCS_OK {
		return nil, d, fmt.Errorf("ucx: unpacking a remote key: %w", statusErr(st))
	}
	if e.rkeys == nil {
		e.rkeys = map[string]C.ucp_rkey_h{}
	}
	e.rkeys[string(key)] = rk
	return rk, d, nil
}

// rma runs one operation on the region key names, at off for n bytes,
// and waits for it; start issues it (wmu held) and returns its request.
func (e *endpoint) rma(op string, key []byte, off uint64, n int, buf unsafe.Pointer, start func(rk C.ucp_rkey_h, raddr uint64) C.ucs_status_ptr_t) error {
	t := e.t
	if !t.enter() {
		return &transport.PeerError{Op: op, Peer: e.p.rank, Err: transport.ErrClosed}
	}
	defer t.exit()
	if err := e.connect(); err != nil {
		return err
	}
	var pin runtime.Pinner
	pin.Pin(buf)
	t.wmu.Lock()
	if err := e.check(); err != nil {
		t.wmu.Unlock()
		pin.Unpin()
		return err
	}
	rk, d, err := e.rkey(key)
	if err == nil && (off > d.n || uint64(n) > d.n-off) {
		err = fmt.Errorf("%w: %d bytes at offset %d of a %d-byte region", ErrRange, n, off, d.n)
	}
	if err != nil {
		t.wmu.Unlock()
		pin.Unpin()
		return &transport.PeerError{Op: op, Peer: e.p.rank, Err: err}
	}
	r := start(rk, d.addr+off)
	t.wmu.Unlock()
	if st := t.wait(r, &pin, nil); st != C.UCS_OK {
		return &transport.PeerError{Op: op, Peer: e.p.rank, Err: statusErr(st)}
	}
	return nil
}

// Put writes src at off in the peer's region.
func (e *endpoint) Put(key []byte, off uint64, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	p := unsafe.Pointer(&src[0])
	return e.rma("put", key, off, len(src), p, func(rk C.ucp_rkey_h, raddr uint64) C.ucs_status_ptr_t {
		return C.mpx_put(e.ep, p, C.size_t(len(src)), C.uint64_t(raddr), rk)
	})
}

// Get reads len(dst) bytes at off in the peer's region into dst.
func (e *endpoint) Get(key []byte, off uint64, dst []byte) error {
	if len(dst) == 0 {
		return nil
	}
	p := unsafe.Pointer(&dst[0])
	return e.rma("get", key, off, len(dst), p, func(rk C.ucp_rkey_h, raddr uint64) C.ucs_status_ptr_t {
		return C.mpx_get(e.ep, p, C.size_t(len(dst)), C.uint64_t(raddr), rk)
	})
}

// FetchAdd64 adds delta to the 8-byte word at off (8-aligned) in the
// peer's region, atomically, and returns its old value.
func (e *endpoint) FetchAdd64(key []byte, off, delta uint64) (uint64, error) {
	return e.atomic("fetch-add", key, off, 0, delta, 0)
}

// CompareSwap64 replaces the 8-byte word at off (8-aligned) with swap if
// it equals compare, atomically, and returns its old value.
func (e *endpoint) CompareSwap64(key []byte, off, compare, swap uint64) (uint64, error) {
	// UCP compares with the operand and swaps in what reply_buffer holds.
	return e.atomic("compare-swap", key, off, 1, compare, swap)
}

func (e *endpoint) atomic(op string, key []byte, off uint64, code int, value, result uint64) (uint64, error) {
	if off%8 != 0 {
		return 0, &transport.PeerError{Op: op, Peer: e.p.rank, Err: fmt.Errorf("offset %d is not 8-byte aligned", off)}
	}
	// The result lands in C memory, which the request may write after
	// the issuing call returns.
	res := (*C.uint64_t)(C.malloc(8))
	*res = C.uint64_t(result)
	var b [8]byte
	err := e.rma(op, key, off, 8, unsafe.Pointer(&b[0]), func(rk C.ucp_rkey_h, raddr uint64) C.ucs_status_ptr_t {
		return C.mpx_atomic(e.ep, C.int(code), C.uint64_t(value), res, C.uint64_t(raddr), rk)
	})
	if err != nil && e.t.closed.Load() {
		// Abandoned to Close: UCP may still write res until the worker
		// is destroyed, so it is not freed.
		return 0, err
	}
	old := uint64(*res)
	C.free(unsafe.Pointer(res))
	return old, err
}

// Flush waits until every Put and atomic this endpoint issued is complete
// at the peer.
func (e *endpoint) Flush() error {
	t := e.t
	if !t.enter() {
		return &transport.PeerError{Op: "flush", Peer: e.p.rank, Err: transport.ErrClosed}
	}
	defer t.exit()
	t.wmu.Lock()
	if err := e.check(); err != nil {
		t.wmu.Unlock()
		return err
	}
	r := C.mpx_ep_flush(e.ep)
	t.wmu.Unlock()
	var pin runtime.Pinner
	if st := t.wait(r, &pin, nil); st != C.UCS_OK {
		return &transport.PeerError{Op: "flush", Peer: e.p.rank, Err: statusErr(st)}
	}
	return nil
}

// RegisterKey registers buf as Register does, for the rdma package's UCX
// backend: the region's key, and the function that deregisters it.
func (t *Transport) RegisterKey(buf []byte) ([]byte, func(), error) {
	r, err := t.Register(buf)
	if err != nil {
		return nil, nil, err
	}
	return r.Key(), r.Deregister, nil
}
