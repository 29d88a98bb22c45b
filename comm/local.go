package comm

import (
	"fmt"
	"strings"
	"sync"

	"github.com/mpx-hpc/mpx/comm/internal/p2p"
	"github.com/mpx-hpc/mpx/transport/mem"
)

// LocalOptions configures an in-process job. The zero value is a job over
// the in-memory transport with the protocol's defaults.
type LocalOptions struct {
	// SingleCopy makes large messages take the single-copy rendezvous path
	// (the receiver fetches the sender's buffer) instead of RTS/CTS/data.
	SingleCopy bool
	// EagerLimit, when positive, is the largest message sent eagerly.
	EagerLimit int
}

// LocalJob is a job whose ranks are goroutines of this process: for tests
// (comm/commtest wraps it) and for tools that want ranks without processes.
type LocalJob struct {
	// Worlds holds each rank's world communicator; their error handlers
	// return errors.
	Worlds []*Comm
	trs    []*mem.Transport
	engs   []*p2p.Engine
	mu     sync.Mutex
	aborts []string
}

// Local starts an in-process job of n ranks.
func Local(n int, opts LocalOptions) (*LocalJob, error) {
	if n < 1 {
		return nil, fmt.Errorf("comm.Local: %d ranks: %w", n, ErrArg)
	}
	f := mem.NewFabric(n)
	f.SingleCopy = opts.SingleCopy
	f.EagerLimit = opts.EagerLimit
	j := &LocalJob{Worlds: make([]*Comm, n), trs: make([]*mem.Transport, n), engs: make([]*p2p.Engine, n)}
	for r := 0; r < n; r++ {
		r := r
		eng, err := p2p.New(p2p.Config{Rank: r, Size: n, Resolve: func(peer int) (p2p.Peer, error) {
			ep, err := j.trs[r].Endpoint(peer, "")
			return p2p.Peer{EP: ep, Limits: j.trs[r].Limits()}, err
		}})
		if err != nil {
			return nil, err
		}
		if j.trs[r], err = f.Transport(r, eng); err != nil {
			return nil, err
		}
		life := &localLife{
			close: func() { j.Fail(r) },
			abort: func(code int, msg string) {
				j.mu.Lock()
				j.aborts = append(j.aborts, fmt.Sprintf("rank %d aborted with code %d: %s", r, code, msg))
				j.mu.Unlock()
			},
		}
		c, err := newWorldWith(eng, life)
		if err != nil {
			return nil, err
		}
		c.errh = ErrorsReturn
		j.Worlds[r], j.engs[r] = c, eng
	}
	return j, nil
}

// Fail detaches rank r: its peers' operations with it end in ErrPeerGone,
// and its own pending operations end in ErrClosed.
func (j *LocalJob) Fail(r int) {
	j.trs[r].Close()
	j.engs[r].Close()
}

// Close detaches every rank.
func (j *LocalJob) Close() {
	for r := range j.trs {
		j.Fail(r)
	}
}

// Aborts lists the ranks that called Abort, with their codes.
func (j *LocalJob) Aborts() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.aborts...)
}

// Report says what each rank is blocked in, one line per rank.
func (j *LocalJob) Report() string {
	var b strings.Builder
	for r := range j.engs {
		fmt.Fprintf(&b, "rank %d: %s\n", r, j.Worlds[r].w.report())
	}
	return b.String()
}
