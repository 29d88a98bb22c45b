package coll

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// world is an in-memory job of p ranks with MPI matching semantics:
// receives match in posting order per (source, tag), messages between a
// pair are non-overtaking, and sends are eager (copied at once).
type world struct {
	p     int
	boxes []*mailbox
	mu    sync.Mutex
	log   []event // every send, for schedule golden files
}

type event struct {
	round, src, dst, bytes int
}

type key struct{ src, tag int }

type mailbox struct {
	mu         sync.Mutex
	unexpected map[key][][]byte
	posted     map[key][]*memReq
}

type memReq struct {
	buf  []byte
	done chan struct{}
	err  error
}

func (q *memReq) Wait() error { <-q.done; return q.err }

func newWorld(p int) *world {
	w := &world{p: p}
	for i := 0; i < p; i++ {
		w.boxes = append(w.boxes, &mailbox{unexpected: map[key][][]byte{}, posted: map[key][]*memReq{}})
	}
	return w
}

type memConn struct {
	w    *world
	rank int
}

func (c *memConn) Rank() int { return c.rank }
func (c *memConn) Size() int { return c.w.p }

func (c *memConn) check(peer int) error {
	if peer < 0 || peer >= c.w.p {
		return fmt.Errorf("rank %d: peer %d out of range", c.rank, peer)
	}
	return nil
}

func deliver(q *memReq, msg []byte, src, tag int) {
	if len(msg) != len(q.buf) {
		q.err = fmt.Errorf("message from %d tag %d has %d bytes, receive expects %d", src, tag, len(msg), len(q.buf))
	} else {
		copy(q.buf, msg)
	}
	close(q.done)
}

func (c *memConn) Isend(dst, tag int, buf []byte) (Req, error) {
	if err := c.check(dst); err != nil {
		return nil, err
	}
	c.w.mu.Lock()
	c.w.log = append(c.w.log, event{RoundOf(tag), c.rank, dst, len(buf)})
	c.w.mu.Unlock()
	msg := append([]byte(nil), buf...)
	b := c.w.boxes[dst]
	k := key{c.rank, tag}
	b.mu.Lock()
	if qs := b.posted[k]; len(qs) > 0 {
		b.posted[k] = qs[1:]
		b.mu.Unlock()
		deliver(qs[0], msg, c.rank, tag)
	} else {
		b.unexpected[k] = append(b.unexpected[k], msg)
		b.mu.Unlock()
	}
	q := &memReq{done: make(chan struct{})}
	close(q.done)
	return q, nil
}

func (c *memConn) Irecv(src, tag int, buf []byte) (Req, error) {
	if err := c.check(src); err != nil {
		return nil, err
	}
	q := &memReq{buf: buf, done: make(chan struct{})}
	b := c.w.boxes[c.rank]
	k := key{src, tag}
	b.mu.Lock()
	if ms := b.unexpected[k]; len(ms) > 0 {
		b.unexpected[k] = ms[1:]
		b.mu.Unlock()
		deliver(q, ms[0], src, tag)
	} else {
		b.posted[k] = append(b.posted[k], q)
		b.mu.Unlock()
	}
	return q, nil
}

func (c *memConn) Send(dst, tag int, buf []byte) error {
	q, err := c.Isend(dst, tag, buf)
	if err != nil {
		return err
	}
	return q.Wait()
}

func (c *memConn) Recv(src, tag int, buf []byte) error {
	q, err := c.Irecv(src, tag, buf)
	if err != nil {
		return err
	}
	return q.Wait()
}

// run runs fn on p goroutine ranks and returns the first error; it fails
// the test if the ranks do not finish within a deadline (a hang).
func (w *world) run(t testing.TB, fn func(c Conn) error) error {
	t.Helper()
	errs := make(chan error, w.p)
	for r := 0; r < w.p; r++ {
		go func(r int) {
			errs <- fn(&memConn{w: w, rank: r})
		}(r)
	}
	var first error
	deadline := time.After(60 * time.Second)
	for i := 0; i < w.p; i++ {
		select {
		case err := <-errs:
			if err != nil && first == nil {
				first = err
			}
		case <-deadline:
			t.Fatalf("ranks hung (%d of %d returned)", i, w.p)
		}
	}
	for r, b := range w.boxes {
		for k, ms := range b.unexpected {
			if len(ms) > 0 && first == nil {
				first = fmt.Errorf("rank %d: %d unreceived messages from %d tag %d", r, len(ms), k.src, k.tag)
			}
		}
	}
	return first
}

// schedule renders the send log, sorted by round, source and destination.
func (w *world) schedule() string {
	log := append([]event(nil), w.log...)
	sort.Slice(log, func(i, j int) bool {
		a, b := log[i], log[j]
		if a.round != b.round {
			return a.round < b.round
		}
		if a.src != b.src {
			return a.src < b.src
		}
		return a.dst < b.dst
	})
	s := "round src -> dst bytes\n"
	for _, e := range log {
		s += fmt.Sprintf("%5d %3d -> %3d %d\n", e.round, e.src, e.dst, e.bytes)
	}
	return s
}
