// Package mem is the in-process transport: ranks that are goroutines of one
// process, for tests (comm/commtest) and for singletons. A frame is copied
// once, from the sender's buffer straight into the buffer the receiver's
// handler chose.
package mem

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// Fabric connects the ranks of one in-process job.
type Fabric struct {
	mu       sync.Mutex
	handlers []transport.Handler
	closed   []bool
	// SingleCopy makes endpoints offer transport.SingleCopy, so the
	// rendezvous protocol's fetch path runs in process. Set before use.
	SingleCopy bool
	// EagerLimit is advertised in Limits; zero leaves the protocol default.
	EagerLimit int

	exposed sync.Map // descriptor id -> []byte
	nextID  uint64
}

// NewFabric returns a fabric for n ranks.
func NewFabric(n int) *Fabric {
	return &Fabric{handlers: make([]transport.Handler, n), closed: make([]bool, n)}
}

// Transport attaches rank to the fabric, delivering its frames to h.
func (f *Fabric) Transport(rank int, h transport.Handler) (*Transport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rank < 0 || rank >= len(f.handlers) {
		return nil, fmt.Errorf("mem: rank %d outside a fabric of %d", rank, len(f.handlers))
	}
	if f.handlers[rank] != nil {
		return nil, fmt.Errorf("mem: rank %d attached twice", rank)
	}
	f.handlers[rank] = h
	return &Transport{f: f, rank: rank, eps: map[int]*endpoint{}}, nil
}

// Transport is one rank's attachment to a Fabric.
type Transport struct {
	f    *Fabric
	rank int
	mu   sync.Mutex
	eps  map[int]*endpoint
}

// Name implements transport.Transport.
func (t *Transport) Name() string { return "mem" }

// Limits implements transport.Transport.
func (t *Transport) Limits() transport.Limits {
	return transport.Limits{EagerLimit: t.f.EagerLimit, Latency: 100 * time.Nanosecond}
}

// Address implements transport.Transport.
func (t *Transport) Address() string { return "mem:" + strconv.Itoa(t.rank) }

// Endpoint implements transport.Transport; addr is not needed in process.
func (t *Transport) Endpoint(peer int, _ string) (transport.Endpoint, error) {
	if peer < 0 || peer >= len(t.f.handlers) {
		return nil, &transport.PeerError{Op: "dial", Peer: peer, Err: fmt.Errorf("no such rank in a job of %d", len(t.f.handlers))}
	}
	t.f.mu.Lock()
	closed := t.f.closed[t.rank]
	t.f.mu.Unlock()
	if closed {
		return nil, &transport.PeerError{Op: "dial", Peer: peer, Err: transport.ErrClosed}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ep := t.eps[peer]
	if ep == nil {
		ep = &endpoint{t: t, peer: peer}
		ep.sc = &scEndpoint{ep}
		t.eps[peer] = ep
	}
	if t.f.SingleCopy {
		return ep.sc, nil
	}
	return ep, nil
}

// Close detaches the rank; its peers see their link to it fail.
func (t *Transport) Close() error {
	f := t.f
	f.mu.Lock()
	if f.closed[t.rank] {
		f.mu.Unlock()
		return nil
	}
	f.closed[t.rank] = true
	var others []transport.Handler
	for r, h := range f.handlers {
		if r != t.rank && h != nil && !f.closed[r] {
			others = append(others, h)
		}
	}
	f.mu.Unlock()
	for _, h := range others {
		h.Fail(t.rank, transport.ErrClosed)
	}
	return nil
}

type endpoint struct {
	t    *Transport
	peer int
	mu   sync.Mutex // frames on one endpoint are delivered one at a time, in order
	hdr  transport.Header
	sc   *scEndpoint // the same endpoint with SingleCopy, made once
}

func (ep *endpoint) Peer() int { return ep.peer }

func (ep *endpoint) Send(h *transport.Header, payload []byte) error {
	f := ep.t.f
	f.mu.Lock()
	dst := f.handlers[ep.peer]
	down := f.closed[ep.t.rank] || f.closed[ep.peer] || dst == nil
	f.mu.Unlock()
	if down {
		return &transport.PeerError{Op: "send", Peer: ep.peer, Err: transport.ErrClosed}
	}
	if uint64(len(payload)) != h.PayloadLen() {
		return fmt.Errorf("mem: send of %d payload bytes with header length %d", len(payload), h.PayloadLen())
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	// The receiver gets its own copy of the header, kept in the endpoint so
	// that a send does not allocate.
	ep.hdr = *h
	buf := dst.Alloc(&ep.hdr)
	copy(buf, payload)
	dst.Deliver(&ep.hdr, buf)
	return nil
}

// scEndpoint adds transport.SingleCopy: in one address space, exposing a
// buffer is handing out a name for it.
type scEndpoint struct{ *endpoint }

func (ep *scEndpoint) Expose(buf []byte) ([]byte, error) {
	f := ep.t.f
	f.mu.Lock()
	f.nextID++
	id := f.nextID
	f.mu.Unlock()
	f.exposed.Store(id, buf)
	return strconv.AppendUint(nil, id, 10), nil
}

func (ep *scEndpoint) Fetch(desc, dst []byte) error {
	id, err := strconv.ParseUint(string(desc), 10, 64)
	if err != nil {
		return fmt.Errorf("mem: bad descriptor %q", desc)
	}
	v, ok := ep.t.f.exposed.LoadAndDelete(id)
	if !ok {
		return fmt.Errorf("mem: descriptor %d not exposed", id)
	}
	src := v.([]byte)
	if len(src) != len(dst) {
		return fmt.Errorf("mem: exposed %d bytes, fetch wants %d", len(src), len(dst))
	}
	copy(dst, src)
	return nil
}
