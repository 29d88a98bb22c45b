package bootstrap

import (
	"bufio"
	"crypto/hmac"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrLost is wrapped by every Client error caused by the connection to the
// launcher being gone (the launcher exited or stopped the job, or Close).
var ErrLost = errors.New("bootstrap: connection to the launcher lost")

// dialTimeout bounds connecting and the handshake.
const dialTimeout = 10 * time.Second

// maxAbortText bounds the message a rank sends with Abort.
const maxAbortText = 4096

// Client is a rank's connection to the launcher's key-value service. Its
// methods are safe for concurrent use; Fence and Finalize are collective
// (every rank of the job calls them, in the same order) and are serialized
// within one Client.
type Client struct {
	conn       net.Conn
	rank, size int
	done       chan struct{}
	collective sync.Mutex // one Fence or Finalize at a time
	wmu        sync.Mutex

	mu        sync.Mutex
	pending   map[uint64]chan *Msg
	nextID    uint64
	report    func() string
	err       error // why done was closed
	finalized bool
}

// Dial connects rank to the service at addr and proves knowledge of
// secret; it also checks that the service knows the secret, so a rank never
// takes values from an impostor.
func Dial(addr string, secret []byte, rank int) (*Client, error) {
	if rank < 0 {
		return nil, fmt.Errorf("bootstrap: dial: negative rank %d", rank)
	}
	if len(secret) == 0 {
		return nil, errors.New("bootstrap: dial: empty job secret")
	}
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: rank %d: connecting to the launcher: %w", rank, err)
	}
	br := bufio.NewReader(conn)
	size, err := clientHandshake(conn, br, secret, rank)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bootstrap: rank %d: handshake with the launcher at %s: %w", rank, addr, err)
	}
	c := &Client{
		conn:    conn,
		rank:    rank,
		size:    size,
		done:    make(chan struct{}),
		pending: map[uint64]chan *Msg{},
	}
	go c.readLoop(br)
	return c, nil
}

func clientHandshake(conn net.Conn, br *bufio.Reader, secret []byte, rank int) (int, error) {
	conn.SetDeadline(time.Now().Add(dialTimeout))
	ch, err := Decode(br, MaxHandshake)
	if err != nil {
		return 0, err
	}
	if ch.Op != OpChallenge {
		return 0, fmt.Errorf("got %v, want challenge", ch.Op)
	}
	nonce, err := newNonce()
	if err != nil {
		return 0, err
	}
	if err := writeMsg(conn, &Msg{Op: OpHello, Rank: rank, Nonce: nonce, MAC: clientProof(secret, ch.Nonce, nonce, rank)}); err != nil {
		return 0, err
	}
	w, err := Decode(br, MaxHandshake)
	if err != nil {
		return 0, fmt.Errorf("%w (is the job secret right?)", err)
	}
	switch {
	case w.Op == OpError:
		return 0, fmt.Errorf("refused: %s", w.Text)
	case w.Op != OpWelcome:
		return 0, fmt.Errorf("got %v, want welcome", w.Op)
	case !hmac.Equal(w.MAC, serverProof(secret, ch.Nonce, nonce, rank)):
		return 0, errors.New("the launcher does not know the job secret")
	case rank >= w.Size:
		return 0, fmt.Errorf("rank %d is outside the job of %d ranks", rank, w.Size)
	}
	conn.SetDeadline(time.Time{})
	return w.Size, nil
}

// Rank is the rank this client connected as.
func (c *Client) Rank() int { return c.rank }

// Size is the number of ranks of the job, as the launcher told it.
func (c *Client) Size() int { return c.size }

func (c *Client) readLoop(br *bufio.Reader) {
	var err error
	for {
		var m *Msg
		m, err = Decode(br, MaxMessage)
		if err != nil {
			break
		}
		if m.Op == OpReportReq {
			go c.answerReport(m.ID)
			continue
		}
		if m.Op != OpValue && m.Op != OpRelease && m.Op != OpAck && m.Op != OpError {
			err = fmt.Errorf("unexpected %v message from the launcher", m.Op)
			break
		}
		c.mu.Lock()
		ch := c.pending[m.ID]
		delete(c.pending, m.ID)
		c.mu.Unlock()
		if ch == nil {
			err = fmt.Errorf("%v message answers no request (id %d)", m.Op, m.ID)
			break
		}
		ch <- m
	}
	c.conn.Close()
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %v", ErrLost, err)
	}
	c.mu.Unlock()
	close(c.done)
}

func (c *Client) answerReport(id uint64) {
	c.mu.Lock()
	fn := c.report
	c.mu.Unlock()
	text := "no report function set (the rank runtime is not running)"
	if fn != nil {
		text = fn()
	}
	if len(text) > MaxMessage/2 {
		text = text[:MaxMessage/2]
	}
	c.send(&Msg{Op: OpReport, ID: id, Text: text})
}

func (c *Client) send(m *Msg) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn.Write(b); err != nil {
		return c.lost(err)
	}
	return nil
}

// lost is the error of a call that failed because the connection is gone.
func (c *Client) lost(cause error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return fmt.Errorf("%w: %v", ErrLost, cause)
}

// call sends m with a fresh request ID and waits for the answer.
func (c *Client) call(m *Msg) (*Msg, error) {
	ch := make(chan *Msg, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	m.ID = c.nextID
	c.pending[m.ID] = ch
	c.mu.Unlock()
	if err := c.send(m); err != nil {
		c.mu.Lock()
		delete(c.pending, m.ID)
		c.mu.Unlock()
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		// The reader routes an answer before it closes done.
		select {
		case r := <-ch:
			return r, nil
		default:
			return nil, c.lost(nil)
		}
	}
}

// Put stores value under key. It is visible to every rank after the next
// Fence that follows it. Put does not retain value.
func (c *Client) Put(key string, value []byte) error {
	if key == "" || len(key) > MaxKey {
		return fmt.Errorf("bootstrap: put: key of %d bytes, want 1 to %d", len(key), MaxKey)
	}
	if err := c.send(&Msg{Op: OpPut, Key: key, Value: value}); err != nil {
		return fmt.Errorf("bootstrap: put %q: %w", key, err)
	}
	return nil
}

// Get returns the value stored under key. A key put before the last Fence
// is always found; a key that no rank put is an error naming it. The
// returned slice belongs to the caller.
func (c *Client) Get(key string) ([]byte, error) {
	if key == "" || len(key) > MaxKey {
		return nil, fmt.Errorf("bootstrap: get: key of %d bytes, want 1 to %d", len(key), MaxKey)
	}
	r, err := c.call(&Msg{Op: OpGet, Key: key})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: get %q: %w", key, err)
	}
	if r.Op == OpError {
		return nil, fmt.Errorf("bootstrap: get %q: %s", key, r.Text)
	}
	if r.Value == nil {
		return []byte{}, nil
	}
	return r.Value, nil
}

// Fence returns when every rank of the job has called Fence; every Put
// made before it, by any rank, is then visible to Get. It fails when a rank
// left the job, or called Finalize instead.
func (c *Client) Fence() error {
	return c.barrier(OpFence)
}

// Finalize tells the launcher this rank is finishing cleanly, then waits
// until every rank has done the same, so that ranks leave together (no rank
// exits while a peer may still need it). Nothing but Close may follow.
func (c *Client) Finalize() error {
	return c.barrier(OpFinalize)
}

func (c *Client) barrier(op Op) error {
	c.collective.Lock()
	defer c.collective.Unlock()
	c.mu.Lock()
	fin := c.finalized
	if op == OpFinalize {
		c.finalized = true
	}
	c.mu.Unlock()
	if fin {
		return fmt.Errorf("bootstrap: %s after Finalize", opName(op))
	}
	r, err := c.call(&Msg{Op: op})
	if err != nil {
		return fmt.Errorf("bootstrap: %s: %w", opName(op), err)
	}
	if r.Op == OpError {
		return fmt.Errorf("bootstrap: %s: %s", opName(op), r.Text)
	}
	return nil
}

// Abort asks the launcher to stop the whole job, naming this rank, code and
// msg in its report. It returns once the launcher has the message; the
// launcher then stops every rank, this one included.
func (c *Client) Abort(code int, msg string) error {
	return c.AbortLost(code, msg, -1)
}

// AbortLost is Abort for a rank that aborts because its link to world rank
// lost broke: the launcher then blames lost's own exit (a signal, a panic)
// if it learns it in time, and this abort otherwise. A negative lost is
// Abort.
func (c *Client) AbortLost(code int, msg string, lost int) error {
	if len(msg) > maxAbortText {
		msg = msg[:maxAbortText]
	}
	m := &Msg{Op: OpAbort, Code: code, Text: msg}
	if lost >= 0 {
		m.Lost = &lost
	}
	r, err := c.call(m)
	if err != nil {
		return fmt.Errorf("bootstrap: abort: %w", err)
	}
	if r.Op != OpAck {
		return fmt.Errorf("bootstrap: abort: launcher answered %v: %s", r.Op, r.Text)
	}
	return nil
}

// OnReport sets the function whose answer the launcher gets when it asks
// what this rank is doing (for instance when --timeout expires). fn is
// called from the client's own goroutine, concurrently with anything the
// rank does, and should return promptly.
func (c *Client) OnReport(fn func() string) {
	c.mu.Lock()
	c.report = fn
	c.mu.Unlock()
}

// Done is closed when the connection to the launcher is gone; the rank
// runtime then ends the rank, since the job is over.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why Done was closed; nil while the connection is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection. Without a Finalize first, the launcher takes
// it as this rank leaving the job.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: closed by the rank", ErrLost)
	}
	c.mu.Unlock()
	c.conn.Close()
	<-c.done
	return nil
}
