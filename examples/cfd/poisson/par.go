package main

import (
	"fmt"

	"github.com/mpx-hpc/mpx/comm"
)

// par is what the solver needs from its communicator: a 3-D Cartesian
// process grid with the six neighbours (comm.ProcNull at the walls),
// non-blocking sends and receives, and sums and maxima over all ranks.
type par struct {
	c          *comm.Comm // the Cartesian communicator
	rank, size int
	dims       [3]int
	coords     [3]int
	lo, hi     [3]int // neighbour ranks below and above in each direction
}

const procNull = comm.ProcNull

type request = *comm.Request

// newPar lays the ranks of c out on a balanced 3-D grid.
func newPar(c *comm.Comm) (*par, error) {
	dims, err := comm.DimsCreate(c.Size(), []int{0, 0, 0})
	if err != nil {
		return nil, fmt.Errorf("process grid: %w", err)
	}
	cart, err := c.Cart(dims, []bool{false, false, false}, true)
	if err != nil {
		return nil, fmt.Errorf("process grid %v: %w", dims, err)
	}
	p := &par{c: cart, rank: cart.Rank(), size: cart.Size()}
	co, err := cart.Coords(p.rank)
	if err != nil {
		return nil, err
	}
	for d := range 3 {
		p.dims[d], p.coords[d] = dims[d], co[d]
		if p.lo[d], p.hi[d], err = cart.Shift(d, 1); err != nil {
			return nil, err
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

// sum replaces buf by its element-wise sum over all ranks.
func (p *par) sum(buf []float64) error { return comm.Allreduce(p.c, nil, buf, comm.Sum) }

// max replaces buf by its element-wise maximum over all ranks.
func (p *par) max(buf []float64) error { return comm.Allreduce(p.c, nil, buf, comm.Max) }
