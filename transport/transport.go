// Package transport is the byte-moving contract of mpx: a Transport (one per
// rank and kind of link), an Endpoint per peer, and frames in and out.
//
// A frame is a fixed 48-byte little-endian Header followed by Header.Len bytes
// of payload. Transports move frames; they know nothing of matching, tags or
// protocols, which live in comm/internal/p2p. Optional capabilities (single
// copy, polling) are separate interfaces found by type assertion.
//
// This package imports only the standard library.
package transport

import (
	"errors"
	"fmt"
	"time"
)

// Transport connects one rank to its peers over one kind of link.
type Transport interface {
	// Name is the transport's short name: "tcp", "shm", "mem".
	Name() string
	// Limits are what the transport advertises to the protocol layer.
	Limits() Limits
	// Address is this rank's business card for the transport, published
	// through wire-up so that peers can reach it.
	Address() string
	// Endpoint returns the endpoint to peer, whose business card is addr,
	// connecting if it is not yet connected. It is safe for concurrent use
	// and returns the same Endpoint for the same peer every time.
	Endpoint(peer int, addr string) (Endpoint, error)
	// Close closes every endpoint and stops delivering frames. The Handler
	// gets no call after Close returns.
	Close() error
}

// Endpoint is the link to one peer.
type Endpoint interface {
	// Peer is the peer's world rank.
	Peer() int
	// Send writes one frame: h followed by payload, where len(payload) is
	// h.PayloadLen(). Send does not retain h or payload after it
	// returns. It is safe for concurrent use; frames sent on one endpoint
	// arrive at the peer's Handler in the order their Send calls took the
	// endpoint, and complete (never interleaved).
	Send(h *Header, payload []byte) error
}

// Handler receives inbound frames. The transport calls it from its receive
// context (a goroutine per connection, or whoever polls); calls for frames
// from one peer are sequential and in order. Handler methods must not block
// on anything that needs the network to make progress.
type Handler interface {
	// Alloc returns the buffer the payload of the frame described by h is
	// placed into; it must have length h.Len. The handler may return a
	// posted user buffer so that the payload lands in place. The length
	// must be h.PayloadLen().
	Alloc(h *Header) []byte
	// Deliver hands over a complete frame; payload is the buffer Alloc
	// returned, now filled. The transport does not touch it afterwards.
	// h is only valid during the call.
	Deliver(h *Header, payload []byte)
	// Fail reports that the link to peer is broken (peer exited, connection
	// reset, malformed frame from an authenticated peer). No more frames from
	// that peer follow.
	Fail(peer int, err error)
}

// Limits are what a transport advertises; the protocol engine decides.
type Limits struct {
	// EagerLimit is the largest payload sent eagerly; larger messages use
	// rendezvous. Zero means the protocol's default.
	EagerLimit int
	// MaxFrame is the largest payload of one frame; zero means unbounded.
	MaxFrame int
	// Latency is the transport's rough one-way small-message latency, used
	// to rank transports when several reach a peer.
	Latency time.Duration
	// EagerCredit is how many bytes of messages above EagerLimit a sender
	// may have in flight to one receiver and send eagerly all the same,
	// the receiver buffering them if they arrive unexpected: a bounded
	// buffer that saves the rendezvous round trip where it costs most
	// (tcp). Zero means every message above EagerLimit uses rendezvous.
	EagerCredit int
}

// SingleCopy is implemented by endpoints that can move a large payload with
// one copy, the receiver reading the sender's memory directly (cross-memory
// attach on one node, RDMA read on a fabric).
type SingleCopy interface {
	// Expose describes buf so that the peer's Fetch can read it. The caller
	// keeps buf alive and unchanged until the peer reports it fetched it.
	Expose(buf []byte) (desc []byte, err error)
	// Fetch copies the memory described by desc (from the peer's Expose)
	// into dst, which has exactly the exposed length.
	Fetch(desc []byte, dst []byte) error
}

// Poller is implemented by transports that deliver frames only when polled
// (shared memory). A rank that waits calls Poll itself, spinning briefly,
// then Block, so that progress is driven by whoever waits and an idle rank
// does not burn a core it shares.
type Poller interface {
	// Poll delivers the frames that have arrived and reports whether it
	// delivered any. It is safe for concurrent use.
	Poll() bool
	// Block waits until a frame may have arrived for this rank, Wake is
	// called, or d passes, whichever is first.
	Block(d time.Duration)
	// Wake makes a current Block return at once (another transport
	// completed what the waiter waits for), or the next one if none is
	// blocked.
	Wake()
}

// DirectReader is implemented by endpoints whose link the goroutine waiting
// for the peer can read itself, asleep in the kernel's readiness wait as a
// plain socket reader is, instead of being handed each frame by a receive
// goroutine: that hand-off costs a goroutine switch, and often a thread
// wake-up, per message.
type DirectReader interface {
	// ReadUntil reads the link on the calling goroutine, handing its frames
	// to the Handler, until done reports true. done is checked after every
	// frame, before the goroutine sleeps, and when the transport's Interrupt
	// wakes it. ReadUntil returns false at once, having read nothing, when
	// another goroutine is reading the link or the link is broken: the
	// caller must wait another way. It returns true when done reported true
	// or the link broke (the Handler's Fail was called).
	ReadUntil(done func() bool) bool
}

// Standby is implemented by transports (tcp) whose receive goroutines can
// stand aside and leave the links to DirectReader callers, as MPI
// libraries without a progress thread do: a rank's links are read while
// one of its goroutines waits, not otherwise.
type Standby interface {
	// Standby makes the receive goroutines read only while Demand is
	// positive. Frames that arrive meanwhile wait in the kernel. A direct
	// reader that finds its link empty polls it for up to spin before it
	// sleeps: a reply that comes within that is read without the poller's
	// sleep and wake-up. Zero spin (ranks sharing cores) sleeps at once.
	Standby(spin time.Duration)
	// Demand adds delta to the number of goroutines waiting for something
	// that no DirectReader call will read for them (a receive from any
	// source, a blocked write, a probe). While it is positive, every link
	// not being read directly is read by its receive goroutine.
	Demand(delta int)
	// Poll delivers, without waiting, the frames that have arrived on links
	// nobody is reading, and reports whether it delivered any.
	Poll() bool
	// Interrupt makes every ReadUntil asleep in the kernel check done again.
	Interrupt()
}

// Errors a transport reports.
var (
	// ErrClosed: the transport or endpoint was closed by this rank.
	ErrClosed = errors.New("transport closed")
	// ErrAuth: a peer failed the job-secret challenge.
	ErrAuth = errors.New("peer failed authentication")
	// ErrFrame: a frame could not be decoded.
	ErrFrame = errors.New("malformed frame")
)

// PeerError says which peer and address a transport failure concerns.
type PeerError struct {
	Op   string // "dial", "send", "recv", "handshake"
	Peer int    // world rank, or -1 when not yet known
	Addr string // the address tried, if any
	Err  error
}

func (e *PeerError) Error() string {
	peer := "unknown peer"
	if e.Peer >= 0 {
		peer = fmt.Sprintf("rank %d", e.Peer)
	}
	if e.Addr != "" {
		return fmt.Sprintf("%s %s at %s: %v", e.Op, peer, e.Addr, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, peer, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }
