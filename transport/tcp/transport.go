// Package tcp is the mpx transport over TCP sockets: one listener per rank,
// one connection per pair of ranks, made lazily and authenticated by the
// job secret before any frame is accepted.
//
// Files follow Gloo's layout: address.go (business cards, interface choice),
// transport.go (the device and its context: listener, pairs, lifecycle),
// pair.go (one peer: connection, send, receive loop), handshake.go.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpx-hpc/mpx/internal/ratelog"
	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
)

// Parameters. Each is read when a Transport is made, for the Config fields
// left empty.
var (
	paramIface     = param.NewString("tcp_iface", "", "TCP: interface name or CIDR to listen on and publish (empty: 127.0.0.1 alone for a job on one node, else listen on all and publish every up IPv4 interface, then 127.0.0.1)")
	paramPortRange = param.NewString("tcp_port_range", "", "TCP: listening port range LO-HI (empty: any free port)")
	paramSndBuf    = param.NewSize("tcp_sndbuf", 0, "TCP: socket send buffer size (0: kernel default)")
	paramRcvBuf    = param.NewSize("tcp_rcvbuf", 0, "TCP: socket receive buffer size (0: kernel default)")
	paramCredit    = param.NewSize("tcp_eager_credit", 4<<20, "TCP: bytes of messages above the eager limit a rank may send eagerly to one peer before that peer has taken them (the most each peer buffers for each sender); 0: rendezvous for all of them")
)

const (
	// MaxFrame is the largest frame payload accepted from a peer; a header
	// announcing more is malformed. The protocol layer fragments above it.
	MaxFrame = 64 << 20
	// EagerLimit is the payload size up to which messages go eagerly.
	EagerLimit = 64 << 10

	defaultDialTimeout      = 2 * time.Second
	defaultHandshakeTimeout = 10 * time.Second
	readBufSize             = 64 << 10
)

// Config configures a Transport.
type Config struct {
	// Rank and Size are this rank's world rank and the job size;
	// 0 <= Rank < Size is required.
	Rank, Size int
	// Secret is the job secret every connection must prove; required.
	Secret []byte
	// Handler receives inbound frames and failures; required.
	Handler transport.Handler
	// Iface is the interface name (e.g. "eth0") or CIDR ("198.18.0.0/15")
	// to listen on and publish. Empty takes the tcp_iface parameter, whose
	// empty value means automatic: listen on every address and publish every
	// up IPv4 interface's address, non-loopback first, then 127.0.0.1.
	Iface string
	// PortRange is "LO-HI" (or one port) to listen on. Empty takes the
	// tcp_port_range parameter, whose empty value means any free port.
	PortRange string
	// SndBuf and RcvBuf are socket buffer sizes in bytes. Zero takes the
	// tcp_sndbuf / tcp_rcvbuf parameters, whose zero means the kernel's
	// default (with its auto-tuning).
	SndBuf, RcvBuf int
	// DialTimeout bounds each candidate address's connect; zero means 2 s.
	DialTimeout time.Duration
	// HandshakeTimeout bounds a connection's handshake, and how long a rank
	// whose connection was declined waits for the peer's own; zero means 10 s.
	HandshakeTimeout time.Duration
	// Local says every rank of the job runs on this node: then, unless
	// Iface or tcp_iface names an interface, the transport listens on and
	// publishes 127.0.0.1 only, out of other machines' reach. False
	// listens on every address (or the one Iface names).
	Local bool
	// MaxPending bounds the accepted connections still in handshake;
	// beyond it a new connection is closed at once (and counted among the
	// refused). Zero means the job size plus 64: every other rank may
	// dial at once, with room to spare.
	MaxPending int
	// Logf reports connections refused (strangers, wrong secrets, garbage),
	// at most strangerBurst lines a minute, then a count per remote host.
	// Nil logs to stderr with the prefix "mpx rank N: ".
	Logf func(format string, args ...any)
}

// strangerBurst is how many lines about refused connections a rank
// prints a minute; the rest are counted and summed up per host.
const strangerBurst = 10

// Transport is one rank's TCP transport. It implements transport.Transport.
type Transport struct {
	rank, size  int
	secret      []byte
	handler     transport.Handler
	logf        func(string, ...any)
	sndBuf      int
	rcvBuf      int
	credit      int
	dialTimeout time.Duration
	hsTimeout   time.Duration
	maxPending  int
	strangers   *ratelog.Limiter

	ln   net.Listener
	card string

	ctx    context.Context // cancelled by Close, ends dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop, handshakes, readers
	closed atomic.Bool

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever a pair's state changes
	pairs    map[int]*pair
	pending  map[net.Conn]struct{} // connections in handshake
	incoming int                   // accepted connections in handshake, bounded by maxPending
	conns    int                   // connections established, for tests
	yields   int                   // dials declined in favour of the peer's, for tests

	linkedList atomic.Pointer[[]*pair] // pairs with a connection; replaced, never changed, under t.mu
	standby    atomic.Bool             // receive goroutines read only on demand
	spin       atomic.Int64            // how long a direct reader polls an empty link, in ns
	sleepers   atomic.Int32            // direct readers marked parked
	demand     atomic.Int32            // goroutines waiting on links nobody reads for them
}

var (
	_ transport.Transport = (*Transport)(nil)
	_ transport.Standby   = (*Transport)(nil)
)

// New makes the transport for one rank and starts listening. Connections
// are made on the first Endpoint call for a peer, or when the peer dials.
func New(cfg Config) (*Transport, error) {
	if cfg.Size < 1 || cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return nil, fmt.Errorf("tcp: rank %d of size %d: want 0 <= rank < size", cfg.Rank, cfg.Size)
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("tcp: empty job secret: every connection must prove one")
	}
	if cfg.Handler == nil {
		return nil, errors.New("tcp: nil Handler")
	}
	t := &Transport{
		rank: cfg.Rank, size: cfg.Size,
		secret:      append([]byte(nil), cfg.Secret...),
		handler:     cfg.Handler,
		logf:        cfg.Logf,
		sndBuf:      cfg.SndBuf,
		rcvBuf:      cfg.RcvBuf,
		dialTimeout: cfg.DialTimeout,
		hsTimeout:   cfg.HandshakeTimeout,
		changed:     make(chan struct{}),
		pairs:       map[int]*pair{},
		pending:     map[net.Conn]struct{}{},
	}
	if t.logf == nil {
		l := log.New(os.Stderr, "mpx rank "+strconv.Itoa(cfg.Rank)+": ", log.LstdFlags|log.Lmsgprefix)
		t.logf = l.Printf
	}
	if t.sndBuf == 0 {
		t.sndBuf = paramSndBuf.Get()
	}
	if t.rcvBuf == 0 {
		t.rcvBuf = paramRcvBuf.Get()
	}
	t.credit = min(paramCredit.Get(), MaxFrame)
	if t.sndBuf < 0 || t.rcvBuf < 0 {
		return nil, fmt.Errorf("tcp: negative socket buffer size (sndbuf %d, rcvbuf %d)", t.sndBuf, t.rcvBuf)
	}
	if t.dialTimeout <= 0 {
		t.dialTimeout = defaultDialTimeout
	}
	if t.hsTimeout <= 0 {
		t.hsTimeout = defaultHandshakeTimeout
	}
	t.maxPending = cfg.MaxPending
	if t.maxPending <= 0 {
		t.maxPending = cfg.Size + 64
	}
	iface := cfg.Iface
	if iface == "" {
		iface = paramIface.Get()
	}
	ports := cfg.PortRange
	if ports == "" {
		ports = paramPortRange.Get()
	}
	lo, hi, err := parsePortRange(ports)
	if err != nil {
		return nil, fmt.Errorf("tcp: tcp_port_range: %w", err)
	}
	ifs, err := systemIfaces()
	if err != nil {
		return nil, fmt.Errorf("tcp: %w", err)
	}
	sel, err := selectAddrs(iface, ifs)
	if err != nil {
		return nil, fmt.Errorf("tcp: tcp_iface=%q: %w", iface, err)
	}
	if cfg.Local && strings.TrimSpace(iface) == "" {
		sel = loopbackSelection()
	}
	if err := t.listen(sel, lo, hi); err != nil {
		return nil, err
	}
	t.strangers = ratelog.New(strangerBurst, time.Minute, "unauthenticated connections", t.logf)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.linkedList.Store(new([]*pair))
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

// Standby implements transport.Standby: from now on a connection is read
// by its receive goroutine only while there is demand; otherwise by the
// rank's goroutines that wait (ReadUntil) or poll.
func (t *Transport) Standby(spin time.Duration) {
	t.spin.Store(int64(spin))
	t.standby.Store(true)
}

// Demand implements transport.Standby.
func (t *Transport) Demand(delta int) {
	if t.demand.Add(int32(delta)) > 0 && delta > 0 && t.standby.Load() {
		for _, p := range *t.linkedList.Load() {
			p.wakeReceiver()
		}
	}
}

// Poll implements transport.Standby: every connection nobody is reading is
// read until it has nothing more. A connection whose reader sleeps in the
// poller gets a read deadline in the past, so that the reader reads what
// has arrived as soon as it runs: a rank polling in a loop (Test) keeps
// the Go scheduler from looking at the network, which it does only when
// nothing else runs, so such readers would otherwise wake only after the
// poller's 10 ms fallback.
func (t *Transport) Poll() bool {
	got := false
	for _, p := range *t.linkedList.Load() {
		if p.broken.Load() {
			continue
		}
		if !p.rmu.TryLock() {
			if p.parked.Load() || p.bgHolds.Load() {
				p.conn.SetReadDeadline(aLongTimeAgo)
			}
			continue
		}
		before := p.fr.frames
		p.read(nil, false, true)
		got = got || p.fr.frames != before
		p.release()
	}
	return got
}

// Interrupt implements transport.Standby: a direct reader asleep in the
// poller is woken by a read deadline in the past, which it clears. It is
// called on every completion a waiter may sleep on, so it looks at the
// links only when some reader sleeps.
func (t *Transport) Interrupt() {
	if t.sleepers.Load() == 0 {
		return
	}
	for _, p := range *t.linkedList.Load() {
		if p.parked.Load() {
			p.conn.SetReadDeadline(aLongTimeAgo)
		}
	}
}

// aLongTimeAgo is a deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// listen binds the first free port of [lo, hi] (any port when lo is 0) on
// sel.Listen, and composes the business card.
func (t *Transport) listen(sel selection, lo, hi int) error {
	lc := net.ListenConfig{Control: sockoptControl(t.sndBuf, t.rcvBuf)}
	host := ""
	if sel.Listen != nil {
		host = sel.Listen.String()
	}
	var errs []string
	for port := lo; port <= hi; port++ {
		ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			t.ln = ln
			break
		}
		errs = append(errs, err.Error())
		if len(errs) > 3 {
			errs = append(errs[:3], "...")
		}
	}
	if t.ln == nil {
		what := "any port"
		if lo != 0 {
			what = fmt.Sprintf("ports %d-%d", lo, hi)
		}
		return fmt.Errorf("tcp: rank %d cannot listen on %s of %q: %s", t.rank, what, host, strings.Join(errs, "; "))
	}
	port := strconv.Itoa(t.ln.Addr().(*net.TCPAddr).Port)
	addrs := make([]string, len(sel.IPs))
	for i, ip := range sel.IPs {
		addrs[i] = net.JoinHostPort(ip.String(), port)
	}
	t.card = formatCard(addrs)
	return nil
}

// Name is "tcp".
func (t *Transport) Name() string { return "tcp" }

// Limits advertises TCP's eager limit, frame bound and rough latency.
func (t *Transport) Limits() transport.Limits {
	return transport.Limits{EagerLimit: EagerLimit, MaxFrame: MaxFrame, Latency: 30 * time.Microsecond, EagerCredit: t.credit}
}

// Address is the business card: candidate "ip:port" addresses, comma
// separated, in the order peers should try them.
func (t *Transport) Address() string { return t.card }

// Addr is the address the listener is bound to.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

// notify wakes everyone waiting for a pair's state; t.mu is held.
func (t *Transport) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// pairLocked returns the pair for peer, making it; t.mu is held.
func (t *Transport) pairLocked(peer int) *pair {
	p := t.pairs[peer]
	if p == nil {
		p = newPair(t, peer)
		t.pairs[peer] = p
	}
	return p
}

func (t *Transport) closedErr(op string, peer int) error {
	return &transport.PeerError{Op: op, Peer: peer, Err: fmt.Errorf("rank %d: %w", t.rank, transport.ErrClosed)}
}

// Endpoint returns the endpoint to peer, connecting through the candidates
// of addr if no connection exists yet. When both ranks connect at once, the
// connection dialed by the lower rank is kept: the higher rank's dial is
// declined and it waits for the lower rank's connection instead.
func (t *Transport) Endpoint(peer int, addr string) (transport.Endpoint, error) {
	if peer < 0 || peer >= t.size {
		return nil, &transport.PeerError{Op: "dial", Peer: peer, Addr: addr, Err: fmt.Errorf("rank %d: no rank %d in a job of size %d", t.rank, peer, t.size)}
	}
	if peer == t.rank {
		return nil, &transport.PeerError{Op: "dial", Peer: peer, Addr: addr, Err: fmt.Errorf("rank %d: the tcp transport does not connect a rank to itself", t.rank)}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pairLocked(peer)
	attempt := p.attempts
	waited := false // this call has waited for another's dial or the peer's connection
	for {
		switch {
		case t.closed.Load():
			return nil, t.closedErr("dial", peer)
		case p.conn != nil:
			return p, nil
		case p.err != nil:
			return nil, p.err
		case p.attempts != attempt && p.lastErr != nil:
			// The dial this call waited for failed; report it rather
			// than dial again at once.
			return nil, p.lastErr
		case !p.awaitUntil.IsZero() && !time.Now().Before(p.awaitUntil) && !waited:
			// A wait from an earlier call ran out; this call tries afresh.
			p.awaitUntil = time.Time{}
		case !p.awaitUntil.IsZero() && !time.Now().Before(p.awaitUntil):
			p.awaitUntil = time.Time{}
			p.attempts++
			p.lastErr = &transport.PeerError{Op: "dial", Peer: peer, Addr: addr,
				Err: fmt.Errorf("rank %d: rank %d declined our connection in favour of its own, which did not arrive within %v", t.rank, peer, t.hsTimeout+t.dialTimeout)}
			t.notify()
			return nil, p.lastErr
		case !p.dialing && !p.accepting && p.awaitUntil.IsZero():
			p.dialing = true
			t.mu.Unlock()
			c, st, err := t.dial(peer, addr)
			t.mu.Lock()
			p.dialing = false
			p.attempts++
			attempt = p.attempts
			p.lastErr = err
			t.notify()
			switch {
			case err != nil:
				return nil, err
			case st == statusAccept:
				if err := t.installLocked(p, c); err != nil {
					p.lastErr = err
					return nil, err
				}
				return p, nil
			case st == statusDuplicate && peer < t.rank && p.conn == nil:
				// The lower rank is connecting to us: wait for it.
				p.awaitUntil = time.Now().Add(t.hsTimeout + t.dialTimeout)
				waited = true
				t.yields++
			case st == statusDuplicate && peer < t.rank:
				// Its connection arrived while we were dialing.
				t.yields++
			default:
				p.lastErr = &transport.PeerError{Op: "dial", Peer: peer, Addr: c.RemoteAddr().String(),
					Err: fmt.Errorf("rank %d: rank %d declined the connection: %s", t.rank, peer, st)}
				c.Close()
				return nil, p.lastErr
			}
			c.Close()
		default:
			wait := t.hsTimeout + t.dialTimeout
			if !p.awaitUntil.IsZero() {
				wait = time.Until(p.awaitUntil)
			}
			ch := t.changed
			waited = true
			t.mu.Unlock()
			tm := time.NewTimer(wait)
			select {
			case <-ch:
			case <-t.ctx.Done():
			case <-tm.C:
			}
			tm.Stop()
			t.mu.Lock()
		}
	}
}

// dial tries the candidates of addr in order until one completes the
// handshake, returning the connection and the peer's verdict. An error
// names both ranks and every address tried.
func (t *Transport) dial(peer int, addr string) (*net.TCPConn, hsStatus, error) {
	cands, err := parseCard(addr)
	if err != nil {
		return nil, 0, &transport.PeerError{Op: "dial", Peer: peer, Addr: addr, Err: fmt.Errorf("rank %d: %w", t.rank, err)}
	}
	d := net.Dialer{Timeout: t.dialTimeout, Control: sockoptControl(t.sndBuf, t.rcvBuf)}
	var fails []string
	var authErr error
	for _, cand := range cands {
		c, err := d.DialContext(t.ctx, "tcp", cand)
		if err != nil {
			if t.closed.Load() {
				return nil, 0, t.closedErr("dial", peer)
			}
			fails = append(fails, fmt.Sprintf("%s: %v", cand, err))
			continue
		}
		tc := c.(*net.TCPConn)
		st, err := t.handshakeDialed(tc, peer)
		if err == nil {
			return tc, st, nil
		}
		tc.Close()
		if t.closed.Load() {
			return nil, 0, t.closedErr("dial", peer)
		}
		if errors.Is(err, transport.ErrAuth) {
			authErr = transport.ErrAuth
		}
		fails = append(fails, fmt.Sprintf("%s: handshake: %v", cand, err))
	}
	err = fmt.Errorf("rank %d could not reach rank %d at any of %d addresses: %s", t.rank, peer, len(cands), strings.Join(fails, "; "))
	if authErr != nil {
		err = fmt.Errorf("%w (%w)", err, authErr)
	}
	return nil, 0, &transport.PeerError{Op: "dial", Peer: peer, Addr: addr, Err: err}
}

func (t *Transport) handshakeDialed(c *net.TCPConn, peer int) (hsStatus, error) {
	if !t.track(c) {
		return 0, transport.ErrClosed
	}
	defer t.untrack(c)
	c.SetDeadline(time.Now().Add(t.hsTimeout))
	st, err := dialHandshake(c, t.secret, t.rank, peer)
	c.SetDeadline(time.Time{})
	return st, err
}

// track records a connection in handshake so that Close can break it; it
// reports false when the transport is closed.
func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return false
	}
	t.pending[c] = struct{}{}
	return true
}

func (t *Transport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.pending, c)
	t.mu.Unlock()
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.logf("tcp: accept: %v (retrying in %v)", err, delay)
			select {
			case <-time.After(delay):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		t.mu.Lock()
		full := t.incoming >= t.maxPending
		if !full {
			t.incoming++
		}
		t.mu.Unlock()
		if full {
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			t.strangers.Logf(host, "tcp: dropped connection from %s: %d connections already in handshake", c.RemoteAddr(), t.maxPending)
			c.Close()
			continue
		}
		t.wg.Add(1)
		go t.serveIncoming(c.(*net.TCPConn))
	}
}

// serveIncoming authenticates a connection a peer dialed and, if the peer
// proves the secret and wins the pair, installs it. Anything else is closed
// and logged; the job goes on.
func (t *Transport) serveIncoming(c *net.TCPConn) {
	defer t.wg.Done()
	remote := c.RemoteAddr().String()
	handshook := func() {
		t.mu.Lock()
		t.incoming--
		t.mu.Unlock()
	}
	if !t.track(c) {
		handshook()
		c.Close()
		return
	}
	c.SetDeadline(time.Now().Add(t.hsTimeout))
	var p *pair
	var wantedRank int
	from, st, err := acceptHandshake(c, t.secret, t.rank, func(from, to int) hsStatus {
		t.mu.Lock()
		defer t.mu.Unlock()
		wantedRank = to
		if to != t.rank || from >= t.size || from == t.rank {
			return statusWrongRank
		}
		p = t.pairLocked(from)
		// The lower rank's dial wins: accept it even while our own dial to
		// it is under way (it will decline ours).
		if p.conn != nil || p.err != nil || p.accepting || (p.dialing && from > t.rank) {
			return statusDuplicate
		}
		p.accepting = true
		return statusAccept
	})
	c.SetDeadline(time.Time{})
	t.untrack(c)
	handshook()
	if st == statusAccept {
		t.mu.Lock()
		p.accepting = false
		if err == nil {
			err = t.installLocked(p, c)
		} else {
			c.Close()
		}
		t.notify()
		t.mu.Unlock()
		if err != nil && !t.closed.Load() {
			t.logf("tcp: connection from rank %d at %s: %v", from, remote, err)
		}
		return
	}
	c.Close()
	switch {
	case t.closed.Load():
	case err != nil:
		host, _, _ := net.SplitHostPort(remote)
		t.strangers.Logf(host, "tcp: refused connection from %s: %v", remote, err)
	case st == statusWrongRank:
		t.logf("tcp: refused connection from %s: it proved the job secret but, as rank %d, asked for rank %d; this is rank %d of %d (stale address?)", remote, from, wantedRank, t.rank, t.size)
	}
}

// Close closes every connection and the listener and waits for the
// transport's goroutines to end; the Handler gets no call after it returns.
// Close must not be called from a Handler method. Closing twice is a no-op.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed.Swap(true) {
		t.mu.Unlock()
		return nil
	}
	t.cancel()
	var conns []net.Conn
	for c := range t.pending {
		conns = append(conns, c)
	}
	for _, p := range t.pairs {
		if p.conn != nil {
			conns = append(conns, p.conn)
		}
	}
	t.notify()
	t.mu.Unlock()
	err := t.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	t.wg.Wait()
	t.strangers.Close()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("tcp: rank %d: closing listener: %w", t.rank, err)
	}
	return nil
}
