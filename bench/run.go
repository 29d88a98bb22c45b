package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/mpx-hpc/mpx/comm"
)

// Tags of the benchmarks' own traffic. The suite owns its communicator for
// the length of a run, so they need only be distinct from each other.
const (
	tagData = 1 + iota
	tagAck
	tagSync
	tagResult
)

// ackSize is the bandwidth tests' acknowledgement (OSU's 4 bytes).
const ackSize = 4

// Run runs test t at the comm level on every rank of c, which must all call
// it with the same options. Rank 0 gets the result; the other ranks get
// nil and no error. The result's Meta is left for the caller to fill.
func Run(c *comm.Comm, t *Test, o Options) (*Result, error) {
	run := runners[t.Name]
	if run == nil {
		return nil, fmt.Errorf("bench: %s has no comm-level runner in this build", t.Name)
	}
	if err := t.CheckRanks(c.Size()); err != nil {
		return nil, err
	}
	if err := o.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	sizes := o.Sizes()
	// Room for the largest message from every rank (gather, alltoall), and
	// for the acknowledgement.
	room := max(o.MaxSize, ackSize)
	if t.Family == FamilyCollective {
		room *= c.Size()
	}
	b := &bufs{send: make([]byte, room), recv: make([]byte, room)}
	r := &Result{Test: t.Name, Level: LevelComm, Impl: "mpx", Unit: t.Unit(), Ranks: c.Size(), Opts: o}
	for i, size := range sizes {
		row, err := run(c, t, o, b, size)
		if err != nil {
			return nil, fmt.Errorf("%s size %d: %w", t.Name, size, err)
		}
		if c.Rank() == 0 {
			r.Rows = append(r.Rows, row)
			if o.Progress != nil {
				o.Progress(i+1, len(sizes))
			}
		}
	}
	if c.Rank() != 0 {
		return nil, nil
	}
	return r, nil
}

// sizeRunner measures one size of a test; rank 0's Row is the result.
type sizeRunner func(c *comm.Comm, t *Test, o Options, b *bufs, size int) (Row, error)

// runners are the comm-level tests by name; collective.go adds its own.
var runners = map[string]sizeRunner{
	"latency": func(c *comm.Comm, _ *Test, o Options, b *bufs, size int) (Row, error) {
		return latency(c, o, b, size)
	},
	"bw": func(c *comm.Comm, _ *Test, o Options, b *bufs, size int) (Row, error) {
		return bandwidth(c, o, b, size, false)
	},
	"bibw": func(c *comm.Comm, _ *Test, o Options, b *bufs, size int) (Row, error) {
		return bandwidth(c, o, b, size, true)
	},
	"mbw_mr": func(c *comm.Comm, _ *Test, o Options, b *bufs, size int) (Row, error) {
		return multiBandwidth(c, o, b, size)
	},
}

// bufs are the send and receive buffers, allocated once for the largest
// size.
type bufs struct{ send, recv []byte }

// touch writes the first n bytes of both buffers, as OSU's set_buffer, so
// that first-touch page faults fall outside the timed loop.
func (b *bufs) touch(n int) {
	n = min(max(n, ackSize), len(b.send))
	for i := range b.send[:n] {
		b.send[i] = 'a'
	}
	for i := range b.recv[:n] {
		b.recv[i] = 'b'
	}
}

// align holds every rank until all have arrived: rank 0 hears from each,
// then releases each. It is used between sizes only, so that the suite's
// point-to-point tests do not depend on comm's collectives.
func align(c *comm.Comm) error {
	var none [0]byte
	if c.Rank() != 0 {
		if err := comm.Send(c, none[:], 0, tagSync); err != nil {
			return err
		}
		_, err := comm.Recv(c, none[:], 0, tagSync)
		return err
	}
	for r := 1; r < c.Size(); r++ {
		if _, err := comm.Recv(c, none[:], r, tagSync); err != nil {
			return err
		}
	}
	for r := 1; r < c.Size(); r++ {
		if err := comm.Send(c, none[:], r, tagSync); err != nil {
			return err
		}
	}
	return nil
}

// gather brings each rank's v to rank 0, in rank order; other ranks get nil.
func gather(c *comm.Comm, v float64) ([]float64, error) {
	if c.Rank() != 0 {
		return nil, comm.Send(c, []float64{v}, 0, tagResult)
	}
	all := make([]float64, c.Size())
	all[0] = v
	for r := 1; r < c.Size(); r++ {
		if _, err := comm.Recv(c, all[r:r+1], r, tagResult); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// latency is OSU's ping-pong between ranks 0 and 1: half the round trip.
// Other ranks wait.
func latency(c *comm.Comm, o Options, b *bufs, size int) (Row, error) {
	iters, warmup := o.Schedule(size)
	b.touch(size)
	if err := align(c); err != nil {
		return Row{}, err
	}
	me := c.Rank()
	if me > 1 {
		return Row{}, nil
	}
	s, r := b.send[:size], b.recv[:size]
	var start time.Time
	for i := 0; i < iters+warmup; i++ {
		if i == warmup {
			start = time.Now()
		}
		if me == 0 {
			if err := comm.Send(c, s, 1, tagData); err != nil {
				return Row{}, err
			}
			if _, err := comm.Recv(c, r, 1, tagData); err != nil {
				return Row{}, err
			}
		} else {
			if _, err := comm.Recv(c, r, 0, tagData); err != nil {
				return Row{}, err
			}
			if err := comm.Send(c, s, 0, tagData); err != nil {
				return Row{}, err
			}
		}
	}
	us := float64(time.Since(start).Nanoseconds()) / 1e3 / float64(2*iters)
	return Row{Size: size, Value: us}, nil
}

// windows runs OSU's bandwidth loop between this rank and peer: the sender
// posts a window of non-blocking sends and waits for a 4-byte
// acknowledgement; bidirectional, both post a window of receives and of
// sends, with no acknowledgement. It returns the timed part's duration.
func windows(c *comm.Comm, o Options, b *bufs, size, peer int, sender, bidir bool) (time.Duration, error) {
	iters, warmup := o.Schedule(size)
	s, r := b.send[:size], b.recv[:size]
	ack := b.recv[:ackSize]
	reqs := make([]*comm.Request, 0, 2*o.Window)
	var start time.Time
	for i := 0; i < iters+warmup; i++ {
		if i == warmup {
			start = time.Now()
		}
		reqs = reqs[:0]
		if bidir || !sender {
			for j := 0; j < o.Window; j++ {
				q, err := comm.Irecv(c, r, peer, tagData)
				if err != nil {
					return 0, err
				}
				reqs = append(reqs, q)
			}
		}
		if bidir || sender {
			for j := 0; j < o.Window; j++ {
				q, err := comm.Isend(c, s, peer, tagData)
				if err != nil {
					return 0, err
				}
				reqs = append(reqs, q)
			}
		}
		if err := comm.Waitall(reqs...); err != nil {
			return 0, err
		}
		switch {
		case bidir:
		case sender:
			if _, err := comm.Recv(c, ack, peer, tagAck); err != nil {
				return 0, err
			}
		default:
			if err := comm.Send(c, b.send[:ackSize], peer, tagAck); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(start), nil
}

// bandwidth is OSU's bw (rank 0 sends to rank 1) or bibw (both ways):
// bytes moved over the sender's time, in MB/s (10^6 bytes).
func bandwidth(c *comm.Comm, o Options, b *bufs, size int, bidir bool) (Row, error) {
	b.touch(size)
	if err := align(c); err != nil {
		return Row{}, err
	}
	me := c.Rank()
	if me > 1 {
		return Row{}, nil
	}
	d, err := windows(c, o, b, size, 1-me, me == 0, bidir)
	if err != nil || me != 0 {
		return Row{}, err
	}
	iters, _ := o.Schedule(size)
	msgs := float64(iters * o.Window)
	if bidir {
		msgs *= 2
	}
	return Row{Size: size, Value: msgs * float64(size) / 1e6 / d.Seconds()}, nil
}

// multiBandwidth is OSU's mbw_mr: the first half of the ranks each send
// windows to their partner in the second half, all pairs at once. The
// aggregate rate is every pair's messages over the slowest sender's time.
func multiBandwidth(c *comm.Comm, o Options, b *bufs, size int) (Row, error) {
	b.touch(size)
	pairs := c.Size() / 2
	me := c.Rank()
	sender := me < pairs
	peer := me + pairs
	if !sender {
		peer = me - pairs
	}
	if err := align(c); err != nil {
		return Row{}, err
	}
	d, err := windows(c, o, b, size, peer, sender, false)
	if err != nil {
		return Row{}, err
	}
	secs := d.Seconds()
	if !sender {
		secs = 0
	}
	all, err := gather(c, secs)
	if err != nil || me != 0 {
		return Row{}, err
	}
	slowest := 0.0
	for _, s := range all {
		slowest = math.Max(slowest, s)
	}
	iters, _ := o.Schedule(size)
	rate := float64(pairs*iters*o.Window) / slowest
	return Row{Size: size, Value: rate * float64(size) / 1e6, Rate: rate}, nil
}
