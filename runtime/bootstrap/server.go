package bootstrap

import (
	"bufio"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mpx-hpc/mpx/internal/ratelog"
)

// EventType says what happened to a rank.
type EventType int

// Events the Server reports. Each happens at most once per rank, in this
// order when several happen.
const (
	EventConnected    EventType = iota + 1 // the rank proved the secret
	EventFinalized                         // the rank called Finalize
	EventAborted                           // the rank called Abort: Code, Msg, Lost
	EventDisconnected                      // the rank's connection closed: Finalized, Err
)

func (t EventType) String() string {
	switch t {
	case EventConnected:
		return "connected"
	case EventFinalized:
		return "finalized"
	case EventAborted:
		return "aborted"
	case EventDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("event(%d)", int(t))
}

// Event is one change in a rank's state, as the launcher learns it.
type Event struct {
	Type      EventType
	Rank      int
	Code      int    // EventAborted: the code given to Abort
	Msg       string // EventAborted: the message given to Abort
	Finalized bool   // EventDisconnected: the rank had finalized first
	Err       error  // EventDisconnected: why the connection ended (nil: closed cleanly)
	Lost      int    // EventAborted: the rank whose lost link caused the abort; -1 if none
}

// RankState is what the Server knows of one rank now.
type RankState struct {
	Connected    bool // it connected at some point
	Finalized    bool
	Aborted      bool
	Disconnected bool
	Code         int    // Abort's code
	Msg          string // Abort's message
	Lost         int    // the rank whose loss caused the Abort; -1 if none (meaningful when Aborted)
}

// Report is one rank's answer to Server.Report.
type Report struct {
	Rank int
	Text string // what the rank's OnReport function returned
	Err  error  // no answer: not connected, gone, or too slow
}

// Server is the launcher's side of the key-value service. It admits one
// connection per rank of a job of Size ranks, each after the rank proved
// knowledge of the job secret; strangers are logged and dropped without
// disturbing the job. Its methods are safe for concurrent use.
type Server struct {
	// HandshakeTimeout bounds a new connection's challenge-response; zero
	// means 10 seconds. Set it before Listen.
	HandshakeTimeout time.Duration

	size   int
	secret []byte
	logf   func(format string, args ...any)
	events chan Event
	wg     sync.WaitGroup
	// strangers limits the lines about connections that fail the
	// handshake; at most maxPending of them are in handshake at once.
	strangers  *ratelog.Limiter
	maxPending int
	pending    int // under mu

	mu      sync.Mutex
	ln      net.Listener
	closed  bool
	all     map[net.Conn]struct{} // every open connection, for Close
	conns   []*sconn              // by rank, while connected
	state   []RankState
	kv      map[string][]byte
	barOp   Op             // OpFence or OpFinalize while some rank waits; 0 otherwise
	barWait map[int]uint64 // waiting rank -> its request ID
	reports map[uint64]*reportWait
	nextID  uint64
}

type sconn struct {
	rank int
	conn net.Conn
	wmu  sync.Mutex
}

type reportWait struct {
	rank int
	ch   chan Report // buffered 1
}

// writeTimeout bounds one write to a rank, so that a rank that stopped
// reading cannot stall the service for the others.
const writeTimeout = 10 * time.Second

// NewServer makes the service of a job of size ranks whose members know
// secret. logf receives one line per dropped connection or protocol error;
// nil discards them. Call Listen to start serving.
func NewServer(size int, secret []byte, logf func(format string, args ...any)) (*Server, error) {
	if size < 1 {
		return nil, fmt.Errorf("bootstrap: job size %d: want at least 1", size)
	}
	if len(secret) == 0 {
		return nil, errors.New("bootstrap: empty job secret")
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Server{
		size:   size,
		secret: append([]byte(nil), secret...),
		logf:   logf,
		// Every rank may connect at once, with room to spare.
		maxPending: size + 64,
		strangers:  ratelog.New(10, time.Minute, "unauthenticated connections", logf),
		// Each rank causes at most one event of each of the 4 types, so
		// this buffer never fills and the service never blocks on it.
		events:  make(chan Event, 4*size),
		all:     map[net.Conn]struct{}{},
		conns:   make([]*sconn, size),
		state:   make([]RankState, size),
		kv:      map[string][]byte{},
		barWait: map[int]uint64{},
		reports: map[uint64]*reportWait{},
	}, nil
}

// Listen starts serving on addr ("host:port"); an empty addr means a free
// port on the loopback interface, which is all one node needs.
func (s *Server) Listen(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("bootstrap: listen: %w", err)
	}
	s.mu.Lock()
	if s.closed || s.ln != nil {
		s.mu.Unlock()
		ln.Close()
		return errors.New("bootstrap: Listen on a server that is closed or already listening")
	}
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
	return nil
}

// Addr is the address ranks dial (MPX_KV_ADDR); empty before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Size is the number of ranks of the job.
func (s *Server) Size() int { return s.size }

// Events delivers every Event in the order the Server saw them. It is
// closed after Close, once the last connection is gone.
func (s *Server) Events() <-chan Event { return s.events }

// State returns what the Server knows of rank now. It reflects an event
// before the event is delivered on Events.
func (s *Server) State(rank int) RankState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rank < 0 || rank >= s.size {
		return RankState{}
	}
	return s.state[rank]
}

// Close stops accepting, closes every connection (ranks see their Done
// channel closed) and waits for the service's goroutines to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.all {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.strangers.Close()
	close(s.events)
	return nil
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if !closed {
				s.logf("bootstrap: accept: %v", err)
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		if s.pending >= s.maxPending {
			s.mu.Unlock()
			host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
			s.strangers.Logf(host, "bootstrap: dropped connection from %s: %d connections already in handshake", conn.RemoteAddr(), s.maxPending)
			conn.Close()
			continue
		}
		s.pending++
		s.all[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(conn)
	}
}

func (s *Server) serve(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.all, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	br := bufio.NewReader(conn)
	sc, err := s.handshake(conn, br)
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
	if err != nil {
		// A peer that vanished without a word (a rank killed while
		// connecting, a port scan) is not worth a line; one that said
		// something wrong, or nothing for too long, is.
		if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, net.ErrClosed) {
			host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
			s.strangers.Logf(host, "bootstrap: dropped connection from %s: %v", conn.RemoteAddr(), err)
		}
		return
	}
	for {
		m, err := Decode(br, MaxMessage)
		if err != nil {
			// A rank that exits closes or resets its connection: that
			// is the launcher's business, not a protocol error.
			switch {
			case errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge):
				s.logf("bootstrap: rank %d: %v", sc.rank, err)
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
				err = nil
			}
			s.disconnect(sc, err)
			return
		}
		if err := s.dispatch(sc, m); err != nil {
			s.logf("bootstrap: rank %d: %v", sc.rank, err)
			s.disconnect(sc, err)
			return
		}
	}
}

func (s *Server) handshake(conn net.Conn, br *bufio.Reader) (*sconn, error) {
	timeout := s.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	conn.SetDeadline(time.Now().Add(timeout))
	nonce, err := newNonce()
	if err != nil {
		return nil, err
	}
	if err := writeMsg(conn, &Msg{Op: OpChallenge, Nonce: nonce}); err != nil {
		return nil, err
	}
	hello, err := Decode(br, MaxHandshake)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if hello.Op != OpHello {
		return nil, fmt.Errorf("handshake: got %v, want hello", hello.Op)
	}
	if !hmac.Equal(hello.MAC, clientProof(s.secret, nonce, hello.Nonce, hello.Rank)) {
		return nil, errors.New("handshake: wrong job secret")
	}
	if hello.Rank >= s.size {
		writeMsg(conn, &Msg{Op: OpError, Text: fmt.Sprintf("rank %d is outside the job of %d ranks", hello.Rank, s.size)})
		return nil, fmt.Errorf("handshake: rank %d outside the job of %d ranks", hello.Rank, s.size)
	}
	sc := &sconn{rank: hello.Rank, conn: conn}
	s.mu.Lock()
	if s.state[sc.rank].Connected {
		s.mu.Unlock()
		writeMsg(conn, &Msg{Op: OpError, Text: fmt.Sprintf("rank %d has already connected", sc.rank)})
		return nil, fmt.Errorf("handshake: rank %d has already connected", sc.rank)
	}
	s.state[sc.rank].Connected = true
	s.conns[sc.rank] = sc
	s.events <- Event{Type: EventConnected, Rank: sc.rank}
	s.mu.Unlock()
	// Registered before the welcome is written, so that a failure to write
	// goes through the ordinary disconnect path.
	if err := writeMsg(conn, &Msg{Op: OpWelcome, Size: s.size, MAC: serverProof(s.secret, nonce, hello.Nonce, sc.rank)}); err != nil {
		s.disconnect(sc, err)
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return sc, nil
}

func writeMsg(conn net.Conn, m *Msg) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	_, err = conn.Write(b)
	return err
}

func (sc *sconn) send(m *Msg) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	sc.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = sc.conn.Write(b)
	return err
}

// outgoing is a message to send once the lock is released.
type outgoing struct {
	to *sconn
	m  *Msg
}

func (s *Server) flush(out []outgoing) {
	for _, o := range out {
		if err := o.to.send(o.m); err != nil {
			// The rank is gone or stuck. Its reader reports the
			// disconnect; closing makes sure it does.
			o.to.conn.Close()
		}
	}
}

// dispatch handles one request; an error is a protocol violation that ends
// the connection.
func (s *Server) dispatch(sc *sconn, m *Msg) error {
	switch m.Op {
	case OpPut:
		s.mu.Lock()
		s.kv[m.Key] = m.Value
		s.mu.Unlock()
		return nil
	case OpGet:
		s.mu.Lock()
		v, ok := s.kv[m.Key]
		s.mu.Unlock()
		if !ok {
			return sc.send(&Msg{Op: OpError, ID: m.ID, Text: fmt.Sprintf("key %q not found: no rank put it before the last fence", m.Key)})
		}
		return sc.send(&Msg{Op: OpValue, ID: m.ID, Value: v})
	case OpFence, OpFinalize:
		out, err := s.arrive(sc, m)
		s.flush(out)
		return err
	case OpAbort:
		s.mu.Lock()
		st := &s.state[sc.rank]
		if !st.Aborted {
			lost := -1
			// A rank cannot lose itself; a rank outside the job is
			// no cause the launcher could look for.
			if m.Lost != nil && *m.Lost != sc.rank && *m.Lost < s.size {
				lost = *m.Lost
			}
			st.Aborted, st.Code, st.Msg, st.Lost = true, m.Code, m.Text, lost
			s.events <- Event{Type: EventAborted, Rank: sc.rank, Code: m.Code, Msg: m.Text, Lost: lost}
		}
		s.mu.Unlock()
		return sc.send(&Msg{Op: OpAck, ID: m.ID})
	case OpReport:
		s.mu.Lock()
		w := s.reports[m.ID]
		if w != nil && w.rank == sc.rank {
			delete(s.reports, m.ID)
		} else {
			w = nil
		}
		s.mu.Unlock()
		if w != nil {
			w.ch <- Report{Rank: sc.rank, Text: m.Text}
		}
		return nil
	}
	return fmt.Errorf("unexpected %v message from a rank", m.Op)
}

func opName(op Op) string {
	if op == OpFinalize {
		return "Finalize"
	}
	return "Fence"
}

// arrive counts rank into the current barrier (a fence or the finalize).
func (s *Server) arrive(sc *sconn, m *Msg) ([]outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := sc.rank
	if _, dup := s.barWait[r]; dup {
		return nil, fmt.Errorf("%s while already waiting in %s", opName(m.Op), opName(s.barOp))
	}
	if s.state[r].Finalized {
		return nil, fmt.Errorf("%s after Finalize", opName(m.Op))
	}
	if gone := s.goneLocked(); gone != "" {
		return []outgoing{{sc, &Msg{Op: OpError, ID: m.ID, Text: gone}}}, nil
	}
	if s.barOp != 0 && s.barOp != m.Op {
		waiting := s.waitingLocked()
		text := fmt.Sprintf("rank %d called %s while rank(s) %s wait in %s", r, opName(m.Op), waiting, opName(s.barOp))
		out := s.failBarrierLocked(text)
		return append(out, outgoing{sc, &Msg{Op: OpError, ID: m.ID, Text: text}}), nil
	}
	if m.Op == OpFinalize {
		s.state[r].Finalized = true
		s.events <- Event{Type: EventFinalized, Rank: r}
	}
	s.barOp = m.Op
	s.barWait[r] = m.ID
	if len(s.barWait) < s.size {
		return nil, nil
	}
	out := make([]outgoing, 0, s.size)
	for rank, id := range s.barWait {
		out = append(out, outgoing{s.conns[rank], &Msg{Op: OpRelease, ID: id}})
	}
	s.barOp, s.barWait = 0, map[int]uint64{}
	return out, nil
}

// goneLocked names the first rank that left without finalizing, which
// makes every later barrier impossible.
func (s *Server) goneLocked() string {
	for r, st := range s.state {
		if st.Disconnected && !st.Finalized {
			return fmt.Sprintf("rank %d left the job without Finalize", r)
		}
	}
	return ""
}

func (s *Server) waitingLocked() string {
	ranks := make([]int, 0, len(s.barWait))
	for r := range s.barWait {
		ranks = append(ranks, r)
	}
	sort.Ints(ranks)
	parts := make([]string, len(ranks))
	for i, r := range ranks {
		parts[i] = fmt.Sprint(r)
	}
	return strings.Join(parts, ",")
}

func (s *Server) failBarrierLocked(text string) []outgoing {
	var out []outgoing
	for rank, id := range s.barWait {
		if c := s.conns[rank]; c != nil {
			out = append(out, outgoing{c, &Msg{Op: OpError, ID: id, Text: text}})
		}
	}
	s.barOp, s.barWait = 0, map[int]uint64{}
	return out
}

func (s *Server) disconnect(sc *sconn, err error) {
	s.mu.Lock()
	r := sc.rank
	if s.conns[r] != sc {
		s.mu.Unlock()
		return
	}
	s.conns[r] = nil
	st := &s.state[r]
	st.Disconnected = true
	delete(s.barWait, r)
	var out []outgoing
	if !st.Finalized && len(s.barWait) > 0 {
		out = s.failBarrierLocked(fmt.Sprintf("rank %d left the job without Finalize", r))
	}
	for id, w := range s.reports {
		if w.rank == r {
			delete(s.reports, id)
			w.ch <- Report{Rank: r, Err: errors.New("disconnected before answering")}
		}
	}
	s.events <- Event{Type: EventDisconnected, Rank: r, Finalized: st.Finalized, Err: err}
	s.mu.Unlock()
	s.flush(out)
}

// Report asks every connected rank what it is doing (the text of its
// OnReport function) and waits at most timeout for the answers. The result
// has one entry per rank, in rank order; ranks that are not connected or
// do not answer in time have Err set.
func (s *Server) Report(timeout time.Duration) []Report {
	res := make([]Report, s.size)
	waits := make([]*reportWait, s.size)
	var out []outgoing
	s.mu.Lock()
	for r := range res {
		res[r].Rank = r
		c := s.conns[r]
		if c == nil {
			st := s.state[r]
			switch {
			case st.Finalized:
				res[r].Err = errors.New("finalized and disconnected")
			case st.Disconnected:
				res[r].Err = errors.New("disconnected")
			default:
				res[r].Err = errors.New("not connected to the launcher yet")
			}
			continue
		}
		s.nextID++
		w := &reportWait{rank: r, ch: make(chan Report, 1)}
		s.reports[s.nextID] = w
		waits[r] = w
		out = append(out, outgoing{c, &Msg{Op: OpReportReq, ID: s.nextID}})
	}
	s.mu.Unlock()
	s.flush(out)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	expired := false
	for r, w := range waits {
		if w == nil {
			continue
		}
		if !expired {
			select {
			case res[r] = <-w.ch:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case res[r] = <-w.ch:
		default:
			res[r].Err = fmt.Errorf("no answer within %v", timeout)
		}
	}
	s.mu.Lock()
	for id, w := range s.reports {
		for _, mine := range waits {
			if w == mine {
				delete(s.reports, id)
			}
		}
	}
	s.mu.Unlock()
	return res
}
