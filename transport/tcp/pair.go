package tcp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// pair is the link to one peer: at most one connection, a mutex that keeps
// frames whole on the way out, and a reader goroutine on the way in.
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

	broken atomic.Bool // err is set; read by Send without t.mu

	sendMu sync.Mutex
	hdr    [transport.HeaderSize]byte
	iov    [2][]byte
	bufs   net.Buffers
}

var _ transport.Endpoint = (*pair)(nil)

func newPair(t *Transport, peer int) *pair { return &pair{t: t, peer: peer} }

// Peer is the peer's world rank.
func (p *pair) Peer() int { return p.peer }

// installLocked makes c the pair's connection and starts its reader; t.mu
// is held.
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
	p.conn = c
	p.awaitUntil = time.Time{}
	t.conns++
	t.notify()
	t.wg.Add(1)
	go t.readLoop(p, c)
	return nil
}

// Send writes h and payload with one writev. It does not allocate in
// steady state and does not retain h or payload.
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
	p.sendMu.Lock()
	h.Encode(p.hdr[:])
	p.iov[0] = p.hdr[:]
	p.iov[1] = payload
	p.bufs = p.iov[:]
	if len(payload) == 0 {
		p.bufs = p.iov[:1]
	}
	_, err := p.bufs.WriteTo(p.conn)
	p.iov[1] = nil
	p.sendMu.Unlock()
	if err == nil {
		return nil
	}
	if p.t.closed.Load() {
		return p.t.closedErr("send", p.peer)
	}
	p.t.fail(p, &transport.PeerError{Op: "send", Peer: p.peer, Addr: p.conn.RemoteAddr().String(), Err: fmt.Errorf("rank %d: %w", p.t.rank, err)})
	return p.failure()
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
	if first && !closed {
		t.handler.Fail(p.peer, err)
	}
}

// readLoop reads frames from c and delivers them, in order, until the
// connection ends.
func (t *Transport) readLoop(p *pair, c *net.TCPConn) {
	defer t.wg.Done()
	remote := c.RemoteAddr().String()
	r := bufio.NewReaderSize(c, readBufSize)
	hb := make([]byte, transport.HeaderSize)
	h := new(transport.Header)
	recvErr := func(err error) error {
		return &transport.PeerError{Op: "recv", Peer: p.peer, Addr: remote, Err: fmt.Errorf("rank %d: %w", t.rank, err)}
	}
	for {
		if _, err := io.ReadFull(r, hb); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("connection closed by rank %d: %w", p.peer, err)
			}
			t.fail(p, recvErr(err))
			return
		}
		if err := h.Decode(hb, MaxFrame); err != nil {
			t.fail(p, recvErr(err))
			return
		}
		if int(h.Source) != p.peer {
			t.fail(p, recvErr(fmt.Errorf("%w: %s frame claims source rank %d on the connection from rank %d", transport.ErrFrame, h.Kind, h.Source, p.peer)))
			return
		}
		n := h.PayloadLen()
		buf := t.handler.Alloc(h)
		if uint64(len(buf)) != n {
			t.fail(p, recvErr(fmt.Errorf("handler's Alloc gave %d bytes for a %d-byte %s payload", len(buf), n, h.Kind)))
			return
		}
		if n > 0 {
			if _, err := io.ReadFull(r, buf); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = fmt.Errorf("connection closed by rank %d in the middle of a %d-byte %s payload: %w", p.peer, n, h.Kind, io.ErrUnexpectedEOF)
				}
				t.fail(p, recvErr(err))
				return
			}
		}
		t.handler.Deliver(h, buf)
	}
}
