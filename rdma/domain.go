package rdma

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mpx-hpc/mpx/transport"
)

// Handler serves Call and Post requests on a region at the target: code
// and arg are the origin's, off its byte offset. It runs in the
// transport's receive context (it must not wait on the network) and
// calls reply exactly once, now or later (a lock granted when it is
// released); result is copied before reply returns. For a Post the
// result is dropped and an error is kept for the origin's next Flush.
type Handler func(src int, code uint32, off int, arg []byte, reply func(result []byte, err error))

// Request kinds, in the Tag of a KindRMA frame. Context names the region,
// Seq is the byte offset, SReq the origin's operation id (0: no reply),
// RReq a length (get) or a handler code (call).
const (
	opPut      = 1 // payload: data
	opGet      = 2 // RReq: length; answered by opData frames
	opFetchAdd = 3 // payload: delta u64; answered by opResult
	opCAS      = 4 // payload: compare u64, swap u64; answered by opResult
	opCall     = 5 // payload: arg; answered by opResult when SReq != 0
	opFlush    = 6 // answered by opAck once every earlier request was applied
	opAck      = 7 // SReq: the operation; flagErr: payload is an error
	opData     = 8 // SReq: the get; Seq: offset in the result
	opResult   = 9 // SReq: the operation; payload: result, or error
	opEnd      = 10
)

// flagErr on a reply: the payload is an error (code byte, then text).
const flagErr = 1

// Error codes on the wire.
const (
	codeRemote = 0
	codeRange  = 1
	codeRegion = 2
	codeAlign  = 3
)

// Domain is one rank's one-sided layer: the regions it exposes, its
// outstanding operations on peers' regions, and the direct backends. It
// is the protocol engine's handler of KindRMA frames (transport.Handler)
// and is safe for concurrent use.
type Domain struct {
	c        Conduit
	rank     int
	backends []Backend

	mu      sync.Mutex
	regions map[uint32]*Region
	nextReg uint32
	ops     map[uint64]*op
	nextOp  uint64
	posted  map[int]error // by source: first error of posted requests since its last flush
}

// op is an operation waiting for its reply at the origin.
type op struct {
	peer int
	done Completion
	dst  []byte // get: the data; result of an atomic or call
	want int    // get: bytes expected
	got  int
	n    int // result bytes received
}

// NewDomain makes the one-sided layer of a rank over c, with the given
// direct backends tried in order (DefaultBackends for the usual ones).
// The caller registers the Domain as its engine's KindRMA handler.
func NewDomain(c Conduit, backends ...Backend) *Domain {
	switch backendParam.Get() {
	case "emulate":
		backends = nil
	case "ucx":
		var only []Backend
		for _, b := range backends {
			if b.Name() == "ucx" {
				only = append(only, b)
			}
		}
		backends = only
	}
	return &Domain{c: c, rank: c.Rank(), backends: backends,
		regions: map[uint32]*Region{}, ops: map[uint64]*op{}, posted: map[int]error{}}
}

// Region is memory registered for remote access.
type Region struct {
	d        *Domain
	id       uint32
	buf      []byte
	h        Handler
	key      []byte
	releases []func()
}

// Register exposes buf to the peers, which reach it through Key. h serves
// Call and Post requests (nil: they fail). The Domain writes into buf on
// the peers' behalf until Deregister: the caller keeps it alive, and
// reads what peers put only after a synchronization says they are done.
func (d *Domain) Register(buf []byte, h Handler) (*Region, error) {
	d.mu.Lock()
	d.nextReg++
	r := &Region{d: d, id: d.nextReg, buf: buf, h: h}
	d.regions[r.id] = r
	d.mu.Unlock()
	k := packedKey{id: r.id, size: uint64(len(buf))}
	for _, b := range d.backends {
		key, release, err := b.Pack(buf)
		if err != nil {
			continue // peers will use another way in
		}
		r.releases = append(r.releases, release)
		k.sections = append(k.sections, keySection{name: b.Name(), key: key})
	}
	r.key = k.encode()
	return r, nil
}

// Key is the region's packed remote key, to be given to the peers.
func (r *Region) Key() []byte { return r.key }

// Bytes is the registered memory.
func (r *Region) Bytes() []byte { return r.buf }

// Deregister withdraws the region: requests for it that arrive later
// fail with ErrRegion. The caller makes sure the peers are done with it.
func (r *Region) Deregister() {
	r.d.mu.Lock()
	delete(r.d.regions, r.id)
	r.d.mu.Unlock()
	for _, rel := range r.releases {
		rel()
	}
	r.releases = nil
}

// Remote is a peer's region as seen from this rank. It is safe for
// concurrent use.
type Remote struct {
	d       *Domain
	peer    int
	id      uint32
	size    int
	direct  Target
	backend string
	dirty   atomic.Bool // emulated requests sent since the last Flush
}

// Attach opens the region of world rank peer described by key (from the
// peer's Region.Key), through the first backend that reaches it, or the
// emulation.
func (d *Domain) Attach(peer int, key []byte) (*Remote, error) {
	k, err := decodeKey(key)
	if err != nil {
		return nil, err
	}
	rm := &Remote{d: d, peer: peer, id: k.id, size: int(k.size), backend: "emulated"}
	for _, b := range d.backends {
		for _, s := range k.sections {
			if s.name != b.Name() {
				continue
			}
			if t, err := b.Unpack(peer, s.key); err == nil {
				rm.direct, rm.backend = t, b.Name()
			}
		}
		if rm.direct != nil {
			break
		}
	}
	return rm, nil
}

// Backend names the path data takes to this region: a backend's name, or
// "emulated".
func (rm *Remote) Backend() string { return rm.backend }

// Size is the region's length in bytes.
func (rm *Remote) Size() int { return rm.size }

// Close releases what Attach opened.
func (rm *Remote) Close() error {
	if rm.direct != nil {
		return rm.direct.Close()
	}
	return nil
}

func (rm *Remote) check(off, n int) error {
	if off < 0 || n < 0 || off > rm.size || n > rm.size-off {
		return fmt.Errorf("%w: bytes [%d, %d) of a %d-byte region at rank %d", ErrRange, off, off+n, rm.size, rm.peer)
	}
	return nil
}

func (rm *Remote) chunk() int {
	c := 4 << 20
	if mf := rm.d.c.MaxFrame(rm.peer); mf > 0 && mf < c {
		c = mf
	}
	return c
}

func (rm *Remote) header(kind int, off int, n int) transport.Header {
	return transport.Header{Kind: transport.KindRMA, Source: int32(rm.d.rank), Context: rm.id,
		Tag: int32(kind), Seq: uint64(off), Len: uint64(n)}
}

// Put writes src at byte offset off of the region. It returns when src
// may be reused; the data is visible at the target after Flush.
func (rm *Remote) Put(src []byte, off int) error {
	if err := rm.check(off, len(src)); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	if rm.direct != nil {
		return rm.direct.Put(src, off)
	}
	rm.dirty.Store(true)
	step := rm.chunk()
	for i := 0; i < len(src); i += step {
		end := min(i+step, len(src))
		h := rm.header(opPut, off+i, end-i)
		if err := rm.d.c.Send(rm.peer, &h, src[i:end]); err != nil {
			return err
		}
	}
	return nil
}

// Get reads len(dst) bytes at byte offset off of the region into dst and
// returns when they are there.
func (rm *Remote) Get(dst []byte, off int) error {
	if err := rm.check(off, len(dst)); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	if rm.direct != nil {
		return rm.direct.Get(dst, off)
	}
	h := rm.header(opGet, off, 0)
	h.RReq = uint64(len(dst))
	return rm.d.roundTrip(rm.peer, &h, nil, &op{dst: dst, want: len(dst)}, "rma get")
}

// FetchAdd adds delta to the uint64 at byte offset off (8-byte aligned)
// atomically at the target and returns the previous value.
func (rm *Remote) FetchAdd(off int, delta uint64) (uint64, error) {
	var arg [8]byte
	binary.LittleEndian.PutUint64(arg[:], delta)
	return rm.atomic(opFetchAdd, off, arg[:])
}

// CompareSwap replaces the uint64 at byte offset off (8-byte aligned) by
// swap if it equals compare, atomically at the target, and returns the
// previous value.
func (rm *Remote) CompareSwap(off int, compare, swap uint64) (uint64, error) {
	var arg [16]byte
	binary.LittleEndian.PutUint64(arg[:], compare)
	binary.LittleEndian.PutUint64(arg[8:], swap)
	return rm.atomic(opCAS, off, arg[:])
}

func (rm *Remote) atomic(kind, off int, arg []byte) (uint64, error) {
	if err := rm.check(off, 8); err != nil {
		return 0, err
	}
	var res [8]byte
	h := rm.header(kind, off, len(arg))
	if err := rm.d.roundTrip(rm.peer, &h, arg, &op{dst: res[:]}, "rma atomic"); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(res[:]), nil
}

// Call runs the target region's Handler with code, off and arg, and
// copies its result into result, returning the result's length. It
// returns when the target has replied.
func (rm *Remote) Call(code uint32, off int, arg, result []byte) (int, error) {
	h := rm.header(opCall, off, len(arg))
	h.RReq = uint64(code)
	o := &op{dst: result}
	err := rm.d.roundTrip(rm.peer, &h, arg, o, "rma call")
	return o.n, err
}

// Post runs the target region's Handler as Call does, without waiting
// for a reply: it returns when arg may be reused, and completes at
// Flush, which reports its error.
func (rm *Remote) Post(code uint32, off int, arg []byte) error {
	h := rm.header(opCall, off, len(arg))
	h.RReq = uint64(code)
	rm.dirty.Store(true)
	return rm.d.c.Send(rm.peer, &h, arg)
}

// Flush returns when every Put and Post to the region issued before it
// is complete at the target, with the first error the target met in
// them.
func (rm *Remote) Flush() error {
	if rm.direct != nil {
		if err := rm.direct.Flush(); err != nil {
			return err
		}
	}
	if !rm.dirty.Swap(false) {
		return nil
	}
	h := rm.header(opFlush, 0, 0)
	return rm.d.roundTrip(rm.peer, &h, nil, &op{}, "rma flush")
}

// roundTrip sends a request and waits for its reply.
func (d *Domain) roundTrip(peer int, h *transport.Header, payload []byte, o *op, label string) error {
	o.peer = peer
	o.done = d.c.Start(peer, label)
	d.mu.Lock()
	d.nextOp++
	id := d.nextOp
	d.ops[id] = o
	d.mu.Unlock()
	h.SReq = id
	if err := d.c.Send(peer, h, payload); err != nil {
		if d.take(id) != nil {
			o.done.Complete(err)
		}
	}
	return o.done.Wait()
}

// take removes operation id from the table; only its taker completes it.
func (d *Domain) take(id uint64) *op {
	d.mu.Lock()
	o := d.ops[id]
	delete(d.ops, id)
	d.mu.Unlock()
	return o
}

func (d *Domain) region(id uint32) *Region {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.regions[id]
}

// span returns buf[off:off+n] when it lies inside buf.
func span(buf []byte, off, n uint64) ([]byte, bool) {
	if off > uint64(len(buf)) || n > uint64(len(buf))-off {
		return nil, false
	}
	return buf[off : off+n], true
}

// Alloc implements transport.Handler: a Put lands in the region, the
// data of a Get in the origin's buffer.
func (d *Domain) Alloc(h *transport.Header) []byte {
	switch h.Tag {
	case opPut:
		r := d.region(h.Context)
		if r == nil {
			d.postErr(int(h.Source), codeRegion, fmt.Sprintf("region %d", h.Context))
			break
		}
		if b, ok := span(r.buf, h.Seq, h.Len); ok {
			return b
		}
		d.postErr(int(h.Source), codeRange, fmt.Sprintf("put of %d bytes at offset %d into %d bytes", h.Len, h.Seq, len(r.buf)))
	case opData:
		if h.Flags&flagErr != 0 {
			break
		}
		d.mu.Lock()
		o := d.ops[h.SReq]
		d.mu.Unlock()
		if o != nil {
			if b, ok := span(o.dst, h.Seq, h.Len); ok {
				return b
			}
		}
	}
	return make([]byte, h.Len)
}

// postErr keeps the first error of src's posted requests for its Flush.
func (d *Domain) postErr(src, code int, msg string) {
	d.mu.Lock()
	if d.posted[src] == nil {
		d.posted[src] = wireErr(code, msg)
	}
	d.mu.Unlock()
}

func wireErr(code int, msg string) error {
	sentinel := map[int]error{codeRange: ErrRange, codeRegion: ErrRegion, codeAlign: ErrAlign}[code]
	if sentinel == nil {
		sentinel = ErrRemote
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}

func errCode(err error) int {
	switch {
	case errorsIs(err, ErrRange):
		return codeRange
	case errorsIs(err, ErrRegion):
		return codeRegion
	case errorsIs(err, ErrAlign):
		return codeAlign
	}
	return codeRemote
}

// Deliver implements transport.Handler.
func (d *Domain) Deliver(h *transport.Header, payload []byte) {
	src := int(h.Source)
	switch h.Tag {
	case opGet:
		r := d.region(h.Context)
		reg, off, n, id := h.Context, h.Seq, h.RReq, h.SReq // h is only valid during Deliver
		d.c.Later(func() { d.serveGet(src, r, reg, off, n, id) })
	case opFetchAdd, opCAS:
		id := h.SReq
		res, err := d.applyAtomic(int(h.Tag), h.Context, h.Seq, payload)
		d.c.Later(func() { d.reply(src, opResult, id, res, err) })
	case opCall:
		d.serveCall(src, h, payload)
	case opFlush:
		id := h.SReq
		d.mu.Lock()
		err := d.posted[src]
		delete(d.posted, src)
		d.mu.Unlock()
		d.c.Later(func() { d.reply(src, opAck, id, nil, err) })
	case opAck, opResult:
		o := d.take(h.SReq)
		if o == nil {
			return
		}
		var err error
		if h.Flags&flagErr != 0 {
			err = decodeErr(payload)
		} else {
			o.n = copy(o.dst, payload)
		}
		o.done.Complete(err)
	case opData:
		if h.Flags&flagErr != 0 {
			if o := d.take(h.SReq); o != nil {
				o.done.Complete(decodeErr(payload))
			}
			return
		}
		d.mu.Lock()
		o := d.ops[h.SReq]
		done := false
		if o != nil {
			o.got += int(h.Len)
			if done = o.got >= o.want; done {
				delete(d.ops, h.SReq)
			}
		}
		d.mu.Unlock()
		if done {
			o.done.Complete(nil)
		}
	}
}

func decodeErr(b []byte) error {
	if len(b) == 0 {
		return ErrRemote
	}
	return wireErr(int(b[0]), string(b[1:]))
}

func (d *Domain) serveGet(src int, r *Region, id uint32, off, n, op uint64) {
	if r == nil {
		d.reply(src, opData, op, nil, wireErr(codeRegion, fmt.Sprintf("region %d", id)))
		return
	}
	b, ok := span(r.buf, off, n)
	if !ok {
		d.reply(src, opData, op, nil, wireErr(codeRange, fmt.Sprintf("get of %d bytes at offset %d from %d bytes", n, off, len(r.buf))))
		return
	}
	step := 4 << 20
	if mf := d.c.MaxFrame(src); mf > 0 && mf < step {
		step = mf
	}
	h := transport.Header{Kind: transport.KindRMA, Source: int32(d.rank), Tag: opData, SReq: op}
	for i := 0; i < len(b); i += step {
		end := min(i+step, len(b))
		h.Seq, h.Len = uint64(i), uint64(end-i)
		if d.c.Send(src, &h, b[i:end]) != nil {
			return // the link broke: the origin's engine fails the operation
		}
	}
}

func (d *Domain) applyAtomic(kind int, id uint32, off uint64, arg []byte) ([]byte, error) {
	r := d.region(id)
	if r == nil {
		return nil, wireErr(codeRegion, fmt.Sprintf("region %d", id))
	}
	b, ok := span(r.buf, off, 8)
	if !ok {
		return nil, wireErr(codeRange, fmt.Sprintf("atomic at offset %d of %d bytes", off, len(r.buf)))
	}
	p := unsafe.Pointer(&b[0])
	if uintptr(p)%8 != 0 {
		return nil, wireErr(codeAlign, fmt.Sprintf("offset %d", off))
	}
	w := (*uint64)(p)
	var old uint64
	switch {
	case kind == opFetchAdd && len(arg) == 8:
		old = atomic.AddUint64(w, binary.LittleEndian.Uint64(arg)) - binary.LittleEndian.Uint64(arg)
	case kind == opCAS && len(arg) == 16:
		cmp, swp := binary.LittleEndian.Uint64(arg), binary.LittleEndian.Uint64(arg[8:])
		for {
			old = atomic.LoadUint64(w)
			if old != cmp || atomic.CompareAndSwapUint64(w, old, swp) {
				break
			}
		}
	default:
		return nil, wireErr(codeRemote, fmt.Sprintf("atomic with a %d-byte operand", len(arg)))
	}
	return binary.LittleEndian.AppendUint64(nil, old), nil
}

func (d *Domain) serveCall(src int, h *transport.Header, arg []byte) {
	id, code, off := h.SReq, uint32(h.RReq), h.Seq
	r := d.region(h.Context)
	var err error
	switch {
	case r == nil:
		err = wireErr(codeRegion, fmt.Sprintf("region %d", h.Context))
	case r.h == nil:
		err = wireErr(codeRemote, "the region serves no calls")
	case off > uint64(len(r.buf)):
		err = wireErr(codeRange, fmt.Sprintf("call at offset %d of %d bytes", off, len(r.buf)))
	}
	if err != nil {
		d.callReply(src, id, nil, err)
		return
	}
	var once atomic.Bool
	r.h(src, code, int(off), arg, func(result []byte, err error) {
		if once.Swap(true) {
			return
		}
		d.callReply(src, id, result, err)
	})
}

func (d *Domain) callReply(src int, id uint64, result []byte, err error) {
	if id == 0 {
		if err != nil {
			d.postErr(src, errCode(err), err.Error())
		}
		return
	}
	res := append([]byte(nil), result...)
	d.c.Later(func() { d.reply(src, opResult, id, res, err) })
}

// reply sends a reply; a failure means the link broke, which the
// origin's engine reports to its waiting operation.
func (d *Domain) reply(dst, kind int, id uint64, payload []byte, err error) {
	h := transport.Header{Kind: transport.KindRMA, Source: int32(d.rank), Tag: int32(kind), SReq: id}
	if err != nil {
		h.Flags = flagErr
		payload = append([]byte{byte(errCode(err))}, stripSentinel(err)...)
	}
	h.Len = uint64(len(payload))
	_ = d.c.Send(dst, &h, payload)
}

// Fail implements transport.Handler: operations waiting on peer (every
// one for a negative peer) end with err.
func (d *Domain) Fail(peer int, err error) {
	var victims []*op
	d.mu.Lock()
	for id, o := range d.ops {
		if peer < 0 || o.peer == peer {
			victims = append(victims, o)
			delete(d.ops, id)
		}
	}
	d.mu.Unlock()
	for _, o := range victims {
		o.done.Complete(err)
	}
}
