package comm

import (
	"fmt"
	"unsafe"

	"github.com/mpx-hpc/mpx/comm/internal/p2p"
)

// Numeric is the set of element types that travel without encoding.
type Numeric interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr |
		~float32 | ~float64 | ~complex64 | ~complex128
}

// Status describes a received or probed message.
type Status struct {
	Source int // rank in the communicator
	Tag    int
	Count  int // elements of the receive's type (bytes for Probe)
	Bytes  int
}

// CountOf is the number of T elements in a probed message.
func CountOf[T Numeric](st Status) int {
	var z T
	return st.Bytes / int(unsafe.Sizeof(z))
}

// asBytes views s as bytes, without copying.
func asBytes[T Numeric](s []T) []byte {
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

func sizeOf[T Numeric]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

func (c *Comm) checkDest(op string, dest, tag int) error {
	if dest != ProcNull && (dest < 0 || dest >= len(c.group)) {
		return c.fail(op, dest, fmt.Errorf("%w: destination %d outside a communicator of %d", ErrRank, dest, len(c.group)))
	}
	if tag < 0 || tag > TagUB {
		return c.fail(op, dest, fmt.Errorf("%w: send tag %d (want 0..%d)", ErrTag, tag, TagUB))
	}
	return nil
}

func (c *Comm) checkSource(op string, src, tag int) error {
	if src != ProcNull && src != AnySource && (src < 0 || src >= len(c.group)) {
		return c.fail(op, src, fmt.Errorf("%w: source %d outside a communicator of %d", ErrRank, src, len(c.group)))
	}
	if tag != AnyTag && (tag < 0 || tag > TagUB) {
		return c.fail(op, src, fmt.Errorf("%w: receive tag %d (want 0..%d or AnyTag)", ErrTag, tag, TagUB))
	}
	return nil
}

func (c *Comm) worldOf(r int) int {
	if r == AnySource {
		return AnySource
	}
	return c.group[r]
}

// Send sends buf to rank dest with tag. It returns when buf may be reused:
// a small message has been handed to the transport, a large one has reached
// the receiver. Send does not retain buf.
func Send[T Numeric](c *Comm, buf []T, dest, tag int) error {
	if err := c.checkDest("send", dest, tag); err != nil || dest == ProcNull {
		return err
	}
	return c.fail("send", dest, c.sendBytes(c.ctx, dest, tag, asBytes(buf)))
}

// Recv receives into buf from rank src (or AnySource) a message with tag
// (or AnyTag). A message longer than buf is an error wrapping ErrTruncate.
// Recv does not retain buf.
func Recv[T Numeric](c *Comm, buf []T, src, tag int) (Status, error) {
	if err := c.checkSource("recv", src, tag); err != nil {
		return Status{}, err
	}
	if src == ProcNull {
		return Status{Source: ProcNull, Tag: AnyTag}, nil
	}
	st, err := c.recvBytes(c.ctx, src, tag, asBytes(buf))
	st.Count = st.Bytes / sizeOf[T]()
	return st, c.fail("recv", src, err)
}

// sendBytes is the blocking send of c's collectives and of Send.
func (c *Comm) sendBytes(ctx uint32, dst, tag int, buf []byte) error {
	r := p2p.NewRequest()
	defer p2p.Release(r)
	if err := c.w.eng.IsendBlocking(r, ctx, c.group[dst], tag, buf); err != nil {
		return err
	}
	_, err := r.Wait()
	return err
}

// recvBytes is the blocking receive of c's collectives and of Recv.
func (c *Comm) recvBytes(ctx uint32, src, tag int, buf []byte) (Status, error) {
	r := p2p.NewRequest()
	defer p2p.Release(r)
	if err := c.w.eng.Irecv(r, ctx, c.worldOf(src), tag, buf); err != nil {
		return Status{}, err
	}
	st, err := r.Wait()
	return c.status(st), err
}

func (c *Comm) status(st p2p.Status) Status {
	return Status{Source: c.fromWorld(st.Source), Tag: st.Tag, Count: st.Bytes, Bytes: st.Bytes}
}

// Isend starts sending buf to dest. buf is retained, and must not be
// modified, until the request's Wait (or a Test reporting done) returns.
func Isend[T Numeric](c *Comm, buf []T, dest, tag int) (*Request, error) {
	if err := c.checkDest("isend", dest, tag); err != nil {
		return nil, err
	}
	if dest == ProcNull {
		return doneRequest(c, Status{Source: ProcNull, Tag: AnyTag}), nil
	}
	r, err := c.isendBytes(c.ctx, dest, tag, asBytes(buf))
	return r, c.fail("isend", dest, err)
}

// Irecv starts receiving into buf. buf is retained, and must not be read
// or modified, until the request's Wait (or a Test reporting done) returns.
func Irecv[T Numeric](c *Comm, buf []T, src, tag int) (*Request, error) {
	if err := c.checkSource("irecv", src, tag); err != nil {
		return nil, err
	}
	if src == ProcNull {
		return doneRequest(c, Status{Source: ProcNull, Tag: AnyTag}), nil
	}
	r, err := c.irecvBytes(c.ctx, src, tag, asBytes(buf))
	if r != nil {
		r.elem = sizeOf[T]()
	}
	return r, c.fail("irecv", src, err)
}

func (c *Comm) isendBytes(ctx uint32, dst, tag int, buf []byte) (*Request, error) {
	r := &Request{c: c, p: p2p.NewRequest(), op: "send", peer: dst, elem: 1}
	if err := c.w.eng.Isend(r.p, ctx, c.group[dst], tag, buf); err != nil {
		return nil, err
	}
	return r, nil
}

func (c *Comm) irecvBytes(ctx uint32, src, tag int, buf []byte) (*Request, error) {
	r := &Request{c: c, p: p2p.NewRequest(), op: "recv", peer: src, elem: 1}
	if err := c.w.eng.Irecv(r.p, ctx, c.worldOf(src), tag, buf); err != nil {
		return nil, err
	}
	return r, nil
}

// Sendrecv sends sbuf to dest and receives into rbuf from src at once, so
// that pairs of ranks exchanging with each other cannot deadlock.
func Sendrecv[T, U Numeric](c *Comm, sbuf []T, dest, stag int, rbuf []U, src, rtag int) (Status, error) {
	rr, err := Irecv(c, rbuf, src, rtag)
	if err != nil {
		return Status{}, err
	}
	if err := Send(c, sbuf, dest, stag); err != nil {
		return Status{}, err
	}
	return rr.Wait()
}

// Probe waits for a message matching (src, tag) without receiving it.
// Status.Bytes is its size (CountOf converts to elements).
func (c *Comm) Probe(src, tag int) (Status, error) {
	if err := c.checkSource("probe", src, tag); err != nil {
		return Status{}, err
	}
	if src == ProcNull {
		return Status{Source: ProcNull, Tag: AnyTag}, nil
	}
	st, err := c.w.eng.Probe(c.ctx, c.worldOf(src), tag)
	return c.status(st), c.fail("probe", src, err)
}

// Iprobe reports whether a message matching (src, tag) is waiting.
func (c *Comm) Iprobe(src, tag int) (bool, Status, error) {
	if err := c.checkSource("iprobe", src, tag); err != nil {
		return false, Status{}, err
	}
	if src == ProcNull {
		return true, Status{Source: ProcNull, Tag: AnyTag}, nil
	}
	ok, st := c.w.eng.Iprobe(c.ctx, c.worldOf(src), tag)
	return ok, c.status(st), nil
}
