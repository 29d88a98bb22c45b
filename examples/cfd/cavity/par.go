package main

import (
	"fmt"

	"github.com/mpx-hpc/mpx/comm"
)

// par is what the solver needs from its communicator: a 2-D Cartesian
// process grid with its four neighbours and four diagonal ones
// (comm.ProcNull past the walls), non-blocking sends and receives, and sums
// and maxima over all ranks.
type par struct {
	c                        *comm.Comm // the Cartesian communicator; nil for serialPar
	rank, size               int
	px, py, cx, cy           int
	west, east, south, north int
	sw, se, nw, ne           int // diagonal neighbours, for corner halos
}

const procNull = comm.ProcNull

type request = *comm.Request

// newPar lays the ranks of c out on a balanced 2-D grid.
func newPar(c *comm.Comm) (*par, error) {
	dims, err := comm.DimsCreate(c.Size(), []int{0, 0})
	if err != nil {
		return nil, fmt.Errorf("process grid: %w", err)
	}
	cart, err := c.Cart(dims, []bool{false, false}, true)
	if err != nil {
		return nil, fmt.Errorf("process grid %v: %w", dims, err)
	}
	p := &par{c: cart, rank: cart.Rank(), size: cart.Size(), px: dims[0], py: dims[1]}
	co, err := cart.Coords(p.rank)
	if err != nil {
		return nil, err
	}
	p.cx, p.cy = co[0], co[1]
	if p.west, p.east, err = cart.Shift(0, 1); err != nil {
		return nil, err
	}
	if p.south, p.north, err = cart.Shift(1, 1); err != nil {
		return nil, err
	}
	diag := func(dx, dy int) (int, error) {
		x, y := p.cx+dx, p.cy+dy
		if x < 0 || y < 0 || x >= p.px || y >= p.py {
			return procNull, nil
		}
		return cart.RankOf([]int{x, y})
	}
	for _, d := range []struct {
		dst    *int
		dx, dy int
	}{{&p.sw, -1, -1}, {&p.se, 1, -1}, {&p.nw, -1, 1}, {&p.ne, 1, 1}} {
		if *d.dst, err = diag(d.dx, d.dy); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// serialPar is a one-rank process grid: every neighbour is null, sums are
// the identity. The agglomerated coarse solve runs on it.
func serialPar() *par {
	n := procNull
	return &par{size: 1, px: 1, py: 1, west: n, east: n, south: n, north: n, sw: n, se: n, nw: n, ne: n}
}

func (p *par) isend(buf []float64, dst, tag int) (request, error) {
	return comm.Isend(p.c, buf, dst, tag)
}
func (p *par) irecv(buf []float64, src, tag int) (request, error) {
	return comm.Irecv(p.c, buf, src, tag)
}
func (p *par) waitall(rs []request) error { return comm.Waitall(rs...) }

// sum replaces buf by its element-wise sum over all ranks.
func (p *par) sum(buf []float64) error { return p.allreduce(buf, comm.Sum) }

// max replaces buf by its element-wise maximum over all ranks.
func (p *par) max(buf []float64) error { return p.allreduce(buf, comm.Max) }

func (p *par) allreduce(buf []float64, op comm.Op) error {
	if p.c == nil {
		return nil
	}
	return comm.Allreduce(p.c, nil, buf, op)
}
