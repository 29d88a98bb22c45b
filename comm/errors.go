package comm

import (
	"errors"
	"fmt"

	"github.com/mpx-hpc/mpx/comm/internal/p2p"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrTruncate: the message was larger than the receive buffer.
	ErrTruncate = p2p.ErrTruncate
	// ErrPeerGone: the peer exited or its link broke.
	ErrPeerGone = p2p.ErrPeerGone
	// ErrClosed: the communicator was finalized or freed.
	ErrClosed = p2p.ErrClosed
	// ErrRank: a rank argument is outside the communicator.
	ErrRank = errors.New("invalid rank")
	// ErrTag: a tag argument is negative or above TagUB.
	ErrTag = errors.New("invalid tag")
	// ErrMismatch: ranks called a collective with different arguments.
	ErrMismatch = errors.New("collective arguments differ across ranks")
	// ErrArg: any other invalid argument (buffer sizes, counts, ...).
	ErrArg = errors.New("invalid argument")
)

// RankError is what every failed call returns: which rank, in which call,
// with which peer, and why. It unwraps to the cause.
type RankError struct {
	Rank int    // the calling rank in Comm
	Op   string // "send", "recv", "allreduce", ...
	Peer int    // peer rank in Comm, or -1 when none
	Comm string // communicator name
	Err  error
}

func (e *RankError) Error() string {
	if e.Peer < 0 {
		return fmt.Sprintf("%s rank %d on %s: %v", e.Op, e.Rank, e.Comm, e.Err)
	}
	arrow := "->"
	if e.Op == "recv" || e.Op == "irecv" || e.Op == "probe" || e.Op == "iprobe" {
		arrow = "<-"
	}
	peer := fmt.Sprint(e.Peer)
	if e.Peer == AnySource {
		peer = "any"
	}
	return fmt.Sprintf("%s rank %d %s %s on %s: %v", e.Op, e.Rank, arrow, peer, e.Comm, e.Err)
}

func (e *RankError) Unwrap() error { return e.Err }

// ErrorHandler chooses what a failed call does.
type ErrorHandler int

const (
	// ErrorsAreFatal aborts the whole job with a message naming the rank,
	// the call and the cause (MPI_ERRORS_ARE_FATAL). The default.
	ErrorsAreFatal ErrorHandler = iota
	// ErrorsReturn returns the error to the caller (MPI_ERRORS_RETURN).
	ErrorsReturn
)

// SetErrorHandler sets what failed calls on c do.
func (c *Comm) SetErrorHandler(h ErrorHandler) { c.errh = h }

// fail wraps err as a *RankError and applies the error handler. peer is a
// rank of c, or -1.
func (c *Comm) fail(op string, peer int, err error) error {
	if err == nil {
		return nil
	}
	var re *RankError
	if !errors.As(err, &re) {
		re = &RankError{Rank: c.rank, Op: op, Peer: peer, Comm: c.name, Err: err}
		err = re
	}
	if c.errh == ErrorsAreFatal {
		c.w.fatal(err)
	}
	return err
}
