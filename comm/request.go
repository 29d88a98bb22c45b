package comm

import (
	"errors"
	"runtime"
	"time"

	"github.com/mpx-hpc/mpx/comm/internal/p2p"
)

// Request is an outstanding non-blocking operation. Wait for it (or Test
// until done) before touching its buffer.
type Request struct {
	c    *Comm
	p    *p2p.Request  // a point-to-point operation, or
	fn   chan struct{} // closed when a goroutine-driven operation ends
	ferr error         // that operation's error
	st   Status        // fixed status (ProcNull, collectives)
	op   string
	peer int
	elem int // element size of the receive, for Status.Count
}

func doneRequest(c *Comm, st Status) *Request {
	ch := make(chan struct{})
	close(ch)
	return &Request{c: c, fn: ch, st: st, op: "null", peer: -1, elem: 1}
}

// goRequest runs fn in a goroutine and returns a request that completes
// when it returns: how non-blocking collectives progress while the caller
// computes.
func (c *Comm) goRequest(op string, fn func() error) *Request {
	r := &Request{c: c, fn: make(chan struct{}), op: op, peer: -1, elem: 1}
	go func() {
		r.ferr = fn()
		close(r.fn)
	}()
	return r
}

// settle moves a completed point-to-point operation's result into r and
// gives the engine's request back to its pool, so that Wait and Test can be
// called again and the pool serves the next message.
func (r *Request) settle() {
	if r.p == nil {
		return
	}
	pst, err := r.p.Result()
	r.st = r.c.status(pst)
	r.st.Count = r.st.Bytes / r.elem
	r.ferr = err
	p2p.Release(r.p)
	r.p = nil
}

// Wait blocks until the operation completes and returns its status.
func (r *Request) Wait() (Status, error) {
	switch {
	case r.p != nil:
		r.p.Wait()
		r.settle()
	case r.fn != nil:
		<-r.fn
	} // neither: a point-to-point operation already settled by Test or Wait
	return r.st, r.c.fail(r.op, r.peer, r.ferr)
}

// Test reports whether the operation has completed, without blocking; when
// it has, it returns the status as Wait would.
func (r *Request) Test() (bool, Status, error) {
	switch {
	case r.p != nil:
		if !r.p.Done() {
			// Let the goroutines the poll woke read their links.
			runtime.Gosched()
			return false, Status{}, nil
		}
		r.settle()
	case r.fn != nil:
		select {
		case <-r.fn:
		default:
			if !r.progress() {
				return false, Status{}, nil
			}
		}
	}
	return true, r.st, r.c.fail(r.op, r.peer, r.ferr)
}

// progress drives an unfinished goroutine-driven operation (a non-blocking
// collective) from Test, and reports whether it is done now. The operation
// waits on its own goroutine, but the frames it waits for may be on a link
// only a poll reads, and a rank calling Test in a loop would otherwise
// keep that goroutine, and the ones that read links, off the processor.
func (r *Request) progress() bool {
	r.c.w.eng.Progress()
	runtime.Gosched()
	select {
	case <-r.fn:
		return true
	default:
		return false
	}
}

// Waitall waits for every request (nil entries are skipped) and returns
// their errors joined, or nil.
func Waitall(reqs ...*Request) error {
	var errs []error
	for _, r := range reqs {
		if r == nil {
			continue
		}
		if _, err := r.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Waitany waits until one of reqs completes, sets that entry to nil (as MPI
// sets it to MPI_REQUEST_NULL) and returns its index and status. With no
// non-nil request it returns -1 at once.
func Waitany(reqs []*Request) (int, Status, error) {
	for spins := 0; ; spins++ {
		live := false
		for i, r := range reqs {
			if r == nil {
				continue
			}
			live = true
			if done, st, err := r.Test(); done {
				reqs[i] = nil
				return i, st, err
			}
		}
		if !live {
			return -1, Status{}, nil
		}
		// Back off from spinning so that oversubscribed ranks share cores.
		switch {
		case spins < 100:
			runtime.Gosched()
		case spins < 1000:
			time.Sleep(time.Microsecond)
		default:
			time.Sleep(50 * time.Microsecond)
		}
	}
}
