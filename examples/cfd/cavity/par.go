package main

import (
	"fmt"

	"github.com/mpx-hpc/mpx/comm"
)

// par is what the solver needs from its communicator: a 2-D Cartesian
// process grid with its four neighbours (comm.ProcNull at the walls),
// non-blocking sends and receives, and sums over all ranks.
type par struct {
	c                        *comm.Comm
	rank, size               int
	px, py, cx, cy           int
	west, east, south, north int
	sw, se, nw, ne           int // diagonal neighbours, for corner halos
}

const procNull = comm.ProcNull

type request = *comm.Request

func newPar(c *comm.Comm) (*par, error) {
	// Interim Cartesian layout (row-major, as comm.Cart without reordering)
	// until the collectives land.
	n := c.Size()
	px := 1
	for d := 1; d*d <= n; d++ {
		if n%d == 0 {
			px = n / d
		}
	}
	py := n / px
	p := &par{c: c, rank: c.Rank(), size: n, px: px, py: py}
	p.cx, p.cy = p.rank/py, p.rank%py
	at := func(x, y int) int {
		if x < 0 || y < 0 || x >= px || y >= py {
			return procNull
		}
		return x*py + y
	}
	p.west, p.east, p.south, p.north = at(p.cx-1, p.cy), at(p.cx+1, p.cy), at(p.cx, p.cy-1), at(p.cx, p.cy+1)
	p.sw, p.se, p.nw, p.ne = at(p.cx-1, p.cy-1), at(p.cx+1, p.cy-1), at(p.cx-1, p.cy+1), at(p.cx+1, p.cy+1)
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

const tagSum = 100

func (p *par) sum(buf []float64) error {
	return p.reduce(buf, func(a, b float64) float64 { return a + b })
}

func (p *par) max(buf []float64) error {
	return p.reduce(buf, func(a, b float64) float64 { return max(a, b) })
}

// reduce combines buf over all ranks (interim: in rank order at rank 0,
// sent back, until comm.Allreduce lands).
func (p *par) reduce(buf []float64, op func(a, b float64) float64) error {
	if p.size == 1 {
		return nil
	}
	if p.rank != 0 {
		if err := comm.Send(p.c, buf, 0, tagSum); err != nil {
			return err
		}
		_, err := comm.Recv(p.c, buf, 0, tagSum)
		return err
	}
	tmp := make([]float64, len(buf))
	for r := 1; r < p.size; r++ {
		if _, err := comm.Recv(p.c, tmp, r, tagSum); err != nil {
			return fmt.Errorf("sum from rank %d: %w", r, err)
		}
		for i, x := range tmp {
			buf[i] = op(buf[i], x)
		}
	}
	for r := 1; r < p.size; r++ {
		if err := comm.Send(p.c, buf, r, tagSum); err != nil {
			return err
		}
	}
	return nil
}
