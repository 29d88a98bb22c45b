package main

import (
	"fmt"

	"github.com/mpx-hpc/mpx/comm"
)

// team is all the simulator asks of the message-passing layer: a
// Cartesian process grid with face-neighbour halo exchange, in-place
// reductions and a gather to rank 0. commTeam backs it with comm.
type team interface {
	rank() int
	size() int
	// dims is the process grid.
	dims() [3]int
	// coords is the process-grid position of rank r.
	coords(r int) ([3]int, error)
	// exchange swaps faces with all face neighbours at once: for each
	// dimension d, send[d][0] goes to the neighbour below and send[d][1]
	// to the one above; recv[d][0] comes from below, recv[d][1] from
	// above. Missing neighbours (domain edge) are skipped.
	exchange(send, recv *[3][2][]float64) error
	// sum and minimum reduce v element-wise over all ranks, in place.
	sum(v []float64) error
	minimum(v []float64) error
	// gather concatenates every rank's local (equal lengths) in rank order
	// into all on rank 0; all is ignored elsewhere.
	gather(local, all []float64) error
}

// Tags of the halo messages: one per dimension and direction, so the six
// messages of an exchange cannot be confused.
func haloTag(dim int, up bool) int {
	if up {
		return 100 + 2*dim
	}
	return 101 + 2*dim
}

// commTeam is a team over a Cartesian communicator.
type commTeam struct {
	c    *comm.Comm
	p    [3]int
	nbr  [3][2]int // lo, hi neighbour per dimension (comm.ProcNull at edges)
	reqs []*comm.Request
}

// newCommTeam lays the ranks of c out as a px×py×pz Cartesian grid
// (collective over c).
func newCommTeam(c *comm.Comm, p [3]int) (*commTeam, error) {
	cart, err := c.Cart(p[:], []bool{false, false, false}, false)
	if err != nil {
		return nil, fmt.Errorf("process grid %dx%dx%d: %w", p[0], p[1], p[2], err)
	}
	if cart == nil {
		// Cart leaves out ranks beyond the grid; chooseProcs uses them all.
		return nil, fmt.Errorf("process grid %dx%dx%d leaves rank %d out of %d", p[0], p[1], p[2], c.Rank(), c.Size())
	}
	t := &commTeam{c: cart, p: p}
	for d := range 3 {
		lo, hi, err := cart.Shift(d, 1)
		if err != nil {
			return nil, fmt.Errorf("process grid neighbours along dimension %d: %w", d, err)
		}
		t.nbr[d] = [2]int{lo, hi}
	}
	return t, nil
}

func (t *commTeam) rank() int    { return t.c.Rank() }
func (t *commTeam) size() int    { return t.c.Size() }
func (t *commTeam) dims() [3]int { return t.p }

func (t *commTeam) coords(r int) ([3]int, error) {
	co, err := t.c.Coords(r)
	if err != nil {
		return [3]int{}, err
	}
	return [3]int(co), nil
}

// sum and minimum are in-place Allreduces; all ranks get identical
// results, so every rank takes the same decisions (time step, stop).
func (t *commTeam) sum(v []float64) error     { return comm.Allreduce(t.c, nil, v, comm.Sum) }
func (t *commTeam) minimum(v []float64) error { return comm.Allreduce(t.c, nil, v, comm.Min) }

func (t *commTeam) gather(local, all []float64) error {
	if t.rank() != 0 {
		all = nil
	}
	return comm.Gather(t.c, local, all, 0)
}

func (t *commTeam) exchange(send, recv *[3][2][]float64) error {
	// All receives first, so that a rendezvous send finds its buffer
	// posted; one wait for the six messages of every dimension, as only
	// faces (no edges or corners) are needed by a 7-point stencil.
	reqs := t.reqs[:0]
	for d := range 3 {
		lo, hi := t.nbr[d][0], t.nbr[d][1]
		for side, peer := range []int{lo, hi} {
			if peer == comm.ProcNull {
				continue
			}
			// A message travelling up is received from below.
			r, err := comm.Irecv(t.c, recv[d][side], peer, haloTag(d, side == 0))
			if err != nil {
				return err
			}
			reqs = append(reqs, r)
		}
	}
	for d := range 3 {
		lo, hi := t.nbr[d][0], t.nbr[d][1]
		for side, peer := range []int{lo, hi} {
			if peer == comm.ProcNull {
				continue
			}
			r, err := comm.Isend(t.c, send[d][side], peer, haloTag(d, side == 1))
			if err != nil {
				return err
			}
			reqs = append(reqs, r)
		}
	}
	t.reqs = reqs
	if len(reqs) == 0 {
		return nil
	}
	return comm.Waitall(reqs...)
}
