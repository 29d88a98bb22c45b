package main

import (
	"fmt"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npb"
)

// level is one grid of the multigrid hierarchy as one rank holds it: an
// m[0]×m[1]×m[2] block of the periodic ng³ cube at global offset off,
// stored with one ghost layer (ln = m+2 points per axis), index
// i1 + ln[0]·(i2 + ln[1]·i3), i1 varying fastest as in NPB's Fortran.
// A serial level (c == nil) holds the whole cube; its ghosts are periodic
// copies.
type level struct {
	k   int // 1 (coarsest, 2³) to lt (finest)
	ng  int
	m   [3]int
	off [3]int
	ln  [3]int

	c      *comm.Comm
	lo, hi [3]int  // neighbour ranks in c along each axis
	self   [3]bool // one rank along this axis: the ghosts are local copies
	sbuf   [2][]float64
	rbuf   [2][]float64
}

func (l *level) size() int { return l.ln[0] * l.ln[1] * l.ln[2] }

func (l *level) idx(i1, i2, i3 int) int { return i1 + l.ln[0]*(i2+l.ln[1]*i3) }

// decomp is the 3-D process grid of MG: p[ax] ranks along axis ax (axis 0
// is i1), from a balanced factorisation of the rank count.
type decomp struct {
	cart  *comm.Comm
	p     [3]int
	coord [3]int
}

// procDims returns the process grid (MPI order, non-increasing) for np
// ranks on an n³ grid, or an error when NPB MG cannot run on np ranks.
func procDims(np, n int) ([]int, error) {
	if !npb.PowerOfTwo(np) {
		return nil, fmt.Errorf("MG runs on a power-of-two number of ranks, not %d", np)
	}
	dims, err := comm.DimsCreate(np, []int{0, 0, 0})
	if err != nil {
		return nil, err
	}
	// Each rank needs at least two points per axis on the finest grid, so
	// that the next grid down still has one.
	if dims[0] > n/2 {
		return nil, fmt.Errorf("MG on a %d³ grid cannot use %d ranks: the %d×%d×%d process grid leaves fewer than 2 points per rank along an axis",
			n, np, dims[0], dims[1], dims[2])
	}
	return dims, nil
}

// newDecomp checks the rank count against the grid and builds the
// periodic Cartesian communicator.
func newDecomp(c *comm.Comm, n int) (*decomp, error) {
	dims, err := procDims(c.Size(), n)
	if err != nil {
		return nil, err
	}
	cart, err := c.Cart(dims, []bool{true, true, true}, false)
	if err != nil {
		return nil, fmt.Errorf("MG process grid: %w", err)
	}
	co, err := cart.Coords(cart.Rank())
	if err != nil {
		return nil, err
	}
	// Cart's last dimension varies fastest, as does i1: the smallest
	// factor goes to i1, so that the i1 faces (strided) are the largest
	// blocks of points kept on one rank.
	d := &decomp{cart: cart, p: [3]int{dims[2], dims[1], dims[0]}, coord: [3]int{co[2], co[1], co[0]}}
	return d, nil
}

// distributed reports whether a grid of ng points per axis can be split
// over the process grid with at least one point per rank.
func (d *decomp) distributed(ng int) bool {
	return ng >= d.p[0] && ng >= d.p[1] && ng >= d.p[2]
}

// newLevel makes level k (ng = 2^k) split over d, or serial when d is nil.
func newLevel(k int, d *decomp) (*level, error) {
	l := &level{k: k, ng: 1 << k}
	for ax := 0; ax < 3; ax++ {
		if d == nil {
			l.m[ax], l.self[ax] = l.ng, true
		} else {
			l.m[ax] = l.ng / d.p[ax]
			l.off[ax] = d.coord[ax] * l.m[ax]
			l.self[ax] = d.p[ax] == 1
		}
		l.ln[ax] = l.m[ax] + 2
	}
	if d != nil {
		l.c = d.cart
		for ax := 0; ax < 3; ax++ {
			// Cart dimension 2-ax is axis ax.
			lo, hi, err := d.cart.Shift(2-ax, 1)
			if err != nil {
				return nil, err
			}
			l.lo[ax], l.hi[ax] = lo, hi
		}
	}
	face := max(l.ln[0]*l.ln[1], l.ln[1]*l.ln[2], l.ln[0]*l.ln[2])
	for i := range 2 {
		l.sbuf[i] = make([]float64, face)
		l.rbuf[i] = make([]float64, face)
	}
	return l, nil
}

// plane calls f(j, flat) for the points of plane index idx of axis ax
// that comm3 moves: along i1 the interior rows, along i2 every i1 of the
// interior i3, along i3 everything, so edges and corners arrive through
// the later axes as in NPB's comm3.
func (l *level) plane(ax, idx int, f func(j, flat int)) {
	j := 0
	switch ax {
	case 0:
		for i3 := 1; i3 <= l.m[2]; i3++ {
			for i2 := 1; i2 <= l.m[1]; i2++ {
				f(j, l.idx(idx, i2, i3))
				j++
			}
		}
	case 1:
		for i3 := 1; i3 <= l.m[2]; i3++ {
			base := l.idx(0, idx, i3)
			for i1 := 0; i1 < l.ln[0]; i1++ {
				f(j, base+i1)
				j++
			}
		}
	case 2:
		base := l.idx(0, 0, idx)
		for i := 0; i < l.ln[0]*l.ln[1]; i++ {
			f(j, base+i)
			j++
		}
	}
}

// planeLen is the number of points plane moves along axis ax.
func (l *level) planeLen(ax int) int {
	switch ax {
	case 0:
		return l.m[1] * l.m[2]
	case 1:
		return l.ln[0] * l.m[2]
	}
	return l.ln[0] * l.ln[1]
}

// Tags of the halo exchange: a face travelling towards the lower or the
// higher neighbour along an axis. With two ranks along an axis both
// neighbours are the same rank; the tag tells the faces apart.
func tagDown(ax int) int { return 10 + 2*ax }
func tagUp(ax int) int   { return 11 + 2*ax }

// comm3 fills the ghost layer of u from the periodic neighbours, axis by
// axis (NPB's comm3; give3/take3 in the MPI version).
func (l *level) comm3(u []float64) error {
	for ax := 0; ax < 3; ax++ {
		m := l.m[ax]
		if l.self[ax] {
			l.plane(ax, 0, func(_, f int) { u[f] = u[f+m*l.stride(ax)] })
			l.plane(ax, m+1, func(_, f int) { u[f] = u[f-m*l.stride(ax)] })
			continue
		}
		n := l.planeLen(ax)
		sLo, sHi := l.sbuf[0][:n], l.sbuf[1][:n]
		rLo, rHi := l.rbuf[0][:n], l.rbuf[1][:n]
		l.plane(ax, 1, func(j, f int) { sLo[j] = u[f] })
		l.plane(ax, m, func(j, f int) { sHi[j] = u[f] })
		r1, err := comm.Irecv(l.c, rLo, l.lo[ax], tagUp(ax))
		if err != nil {
			return err
		}
		r2, err := comm.Irecv(l.c, rHi, l.hi[ax], tagDown(ax))
		if err != nil {
			return err
		}
		s1, err := comm.Isend(l.c, sLo, l.lo[ax], tagDown(ax))
		if err != nil {
			return err
		}
		s2, err := comm.Isend(l.c, sHi, l.hi[ax], tagUp(ax))
		if err != nil {
			return err
		}
		if err := comm.Waitall(r1, r2, s1, s2); err != nil {
			return fmt.Errorf("MG halo exchange, level %d axis %d: %w", l.k, ax, err)
		}
		l.plane(ax, 0, func(j, f int) { u[f] = rLo[j] })
		l.plane(ax, m+1, func(j, f int) { u[f] = rHi[j] })
	}
	return nil
}

// stride is the flat-index distance between neighbours along axis ax.
func (l *level) stride(ax int) int {
	switch ax {
	case 0:
		return 1
	case 1:
		return l.ln[0]
	}
	return l.ln[0] * l.ln[1]
}
