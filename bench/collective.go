package bench

import (
	"math"
	"time"
	"unsafe"

	"github.com/mpx-hpc/mpx/comm"
)

func init() {
	for _, t := range tests {
		if t.Family == FamilyCollective {
			runners[t.Name] = collective
		}
	}
}

// floats views the first n bytes of b as float32 elements (reductions move
// size/4 of them, as OSU's MPI_FLOAT).
func floats(b []byte, n int) []float32 {
	if n/4 == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n/4)
}

// collective is OSU's collective loop: each iteration times one call on
// every rank and is followed by a barrier, so that a rooted collective's
// early finishers do not pipeline into the next call; each rank's average
// is reduced to min, avg and max over the ranks.
func collective(c *comm.Comm, t *Test, o Options, b *bufs, size int) (Row, error) {
	iters, warmup := o.Schedule(size)
	n := c.Size()
	op, err := collectiveOp(c, t.Name, b, size)
	if err != nil {
		return Row{}, err
	}
	b.touch(size * n)
	if err := comm.Barrier(c); err != nil {
		return Row{}, err
	}
	var timer time.Duration
	for i := 0; i < iters+warmup; i++ {
		start := time.Now()
		if err := op(); err != nil {
			return Row{}, err
		}
		if i >= warmup {
			timer += time.Since(start)
		}
		if err := comm.Barrier(c); err != nil {
			return Row{}, err
		}
	}
	us := float64(timer.Nanoseconds()) / 1e3 / float64(iters)
	all, err := gather(c, us)
	if err != nil || c.Rank() != 0 {
		return Row{}, err
	}
	row := Row{Size: size, Min: math.Inf(1), Iters: iters}
	for _, v := range all {
		row.Value += v / float64(n)
		row.Min = math.Min(row.Min, v)
		row.Max = math.Max(row.Max, v)
	}
	return row, nil
}

// collectiveOp returns one call of the named collective on size-byte
// messages (per rank, for the gathering and scattering ones).
func collectiveOp(c *comm.Comm, name string, b *bufs, size int) (func() error, error) {
	n := c.Size()
	s, r := b.send, b.recv
	switch name {
	case "allreduce":
		return func() error { return comm.Allreduce(c, floats(s, size), floats(r, size), comm.Sum) }, nil
	case "reduce":
		return func() error { return comm.Reduce(c, floats(s, size), floats(r, size), comm.Sum, 0) }, nil
	case "bcast":
		return func() error { return comm.Bcast(c, s[:size], 0) }, nil
	case "allgather":
		return func() error { return comm.Allgather(c, s[:size], r[:size*n]) }, nil
	case "alltoall":
		return func() error { return comm.Alltoall(c, s[:size*n], r[:size*n]) }, nil
	case "gather":
		return func() error { return comm.Gather(c, s[:size], r[:size*n], 0) }, nil
	case "scatter":
		return func() error { return comm.Scatter(c, s[:size*n], r[:size], 0) }, nil
	}
	return func() error { return comm.Barrier(c) }, nil
}
