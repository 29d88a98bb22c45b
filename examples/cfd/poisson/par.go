package main

import (
	"fmt"
	"slices"

	"github.com/mpx-hpc/mpx/comm"
)

// par is what the solver needs from its communicator: a 3-D Cartesian
// process grid with the six neighbours (comm.ProcNull at the walls),
// non-blocking sends and receives, and sums and maxima over all ranks.
type par struct {
	c          *comm.Comm
	rank, size int
	dims       [3]int
	coords     [3]int
	lo, hi     [3]int // neighbour ranks below and above in each direction
}

const procNull = comm.ProcNull

type request = *comm.Request

func newPar(c *comm.Comm) (*par, error) {
	// Interim Cartesian layout (row-major, as comm.Cart without reordering)
	// until the collectives land.
	n := c.Size()
	p := &par{c: c, rank: c.Rank(), size: n}
	p.dims = [3]int{1, 1, 1}
	var primes []int
	for k, rest := 2, n; rest > 1; {
		if rest%k == 0 {
			primes = append([]int{k}, primes...)
			rest /= k
		} else {
			k++
		}
	}
	for _, f := range primes {
		d := 0
		for e := range 3 {
			if p.dims[e] < p.dims[d] {
				d = e
			}
		}
		p.dims[d] *= f
	}
	slices.SortFunc(p.dims[:], func(a, b int) int { return b - a })
	r := p.rank
	for d := 2; d >= 0; d-- {
		p.coords[d] = r % p.dims[d]
		r /= p.dims[d]
	}
	for d := range 3 {
		for s, k := range []int{-1, 1} {
			cc := p.coords
			cc[d] += k
			nb := procNull
			if cc[d] >= 0 && cc[d] < p.dims[d] {
				nb = (cc[0]*p.dims[1]+cc[1])*p.dims[2] + cc[2]
			}
			if s == 0 {
				p.lo[d] = nb
			} else {
				p.hi[d] = nb
			}
		}
	}
	return p, nil
}

func (p *par) isend(buf []float64, dst, tag int) (request, error) {
	return comm.Isend(p.c, buf, dst, tag)
}
func (p *par) irecv(buf []float64, src, tag int) (request, error) {
	return comm.Irecv(p.c, buf, src, tag)
}
func (p *par) waitall(rs []request) error { return comm.Waitall(rs...) }

const tagReduce = 100

func (p *par) sum(buf []float64) error {
	return p.reduce(buf, func(a, b float64) float64 { return a + b })
}
func (p *par) max(buf []float64) error {
	return p.reduce(buf, func(a, b float64) float64 { return max(a, b) })
}

// reduce combines buf over all ranks in rank order at rank 0 and sends the
// result back (interim, until comm.Allreduce lands).
func (p *par) reduce(buf []float64, op func(a, b float64) float64) error {
	if p.size == 1 {
		return nil
	}
	if p.rank != 0 {
		if err := comm.Send(p.c, buf, 0, tagReduce); err != nil {
			return err
		}
		_, err := comm.Recv(p.c, buf, 0, tagReduce)
		return err
	}
	tmp := make([]float64, len(buf))
	for r := 1; r < p.size; r++ {
		if _, err := comm.Recv(p.c, tmp, r, tagReduce); err != nil {
			return fmt.Errorf("reduce from rank %d: %w", r, err)
		}
		for i, x := range tmp {
			buf[i] = op(buf[i], x)
		}
	}
	for r := 1; r < p.size; r++ {
		if err := comm.Send(p.c, buf, r, tagReduce); err != nil {
			return err
		}
	}
	return nil
}
