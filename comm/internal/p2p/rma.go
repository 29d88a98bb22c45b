package p2p

import "github.com/mpx-hpc/mpx/transport"

// One-sided operations (rdma's emulation) travel as KindRMA frames that the
// engine hands, untouched, to the handler registered with SetRMA. The
// handler runs in the transport's receive context like the engine's own:
// it must not block on the network, and replies through Later.

// opExt is a request completed from outside the engine (Complete).
const opExt opKind = 3

type rmaHandler struct{ h transport.Handler }

// SetRMA registers the handler of KindRMA frames; nil removes it. Frames
// of that kind that arrive with no handler are discarded.
func (e *Engine) SetRMA(h transport.Handler) {
	if h == nil {
		e.rma.Store(nil)
		return
	}
	e.rma.Store(&rmaHandler{h})
}

func (e *Engine) rmaHandler() transport.Handler {
	if p := e.rma.Load(); p != nil {
		return p.h
	}
	return nil
}

// SendFrame sends one frame to world rank peer (this rank included),
// connecting first if needed.
func (e *Engine) SendFrame(peer int, h *transport.Header, payload []byte) error {
	ps, err := e.peer(peer)
	if err != nil {
		return err
	}
	return e.sendErr(peer, ps.peer.EP.Send(h, payload))
}

// PeerLimits are the limits of the transport that reaches peer.
func (e *Engine) PeerLimits(peer int) (transport.Limits, error) {
	ps, err := e.peer(peer)
	if err != nil {
		return transport.Limits{}, err
	}
	return ps.peer.Limits, nil
}

// Later runs fn outside the transport's receive context, on the next poll
// of a waiting goroutine or on a goroutine of its own (see later).
func (e *Engine) Later(fn func()) { e.later(fn) }

// Serve adds delta to the count of reasons for this rank to read every
// link while it waits, not only the link of the peer it waits for: a rank
// exposing memory must serve one-sided requests from any peer.
func (e *Engine) Serve(delta int) { e.demand(delta) }

// StartExternal makes r a request that Complete finishes: Wait drives
// progress as for a receive from peer (reading that peer's link where
// waiters read their links). label names it in reports.
func (e *Engine) StartExternal(r *Request, peer int, label string) error {
	r.init(e, opExt, 0, peer, 0, nil)
	r.Label = label
	e.mu.Lock()
	ferr, closed := e.failed[peer], e.closed
	e.mu.Unlock()
	if closed {
		ferr = ErrClosed
	}
	if ferr != nil {
		r.finish(ferr)
		return ferr
	}
	return nil
}

// Complete finishes a request started with StartExternal; later calls are
// ignored.
func (r *Request) Complete(err error) { r.finish(err) }

// Failed returns the error that broke the link to peer, or nil.
func (e *Engine) Failed(peer int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	return e.failed[peer]
}

// AllPeers is the peer number the RMA handler's Fail receives when the
// engine closes: every outstanding operation must end.
const AllPeers = -1

func (e *Engine) failRMA(peer int, err error) {
	if h := e.rmaHandler(); h != nil {
		h.Fail(peer, err)
	}
}
