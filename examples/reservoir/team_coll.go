package main

import (
	"fmt"
	"math"

	"github.com/mpx-hpc/mpx/comm"
)

// Stand-ins over point-to-point until comm's collectives and Cartesian
// topologies land: rank-order reduction at rank 0, then fan-out.

const collTag = 90

func (t *commTeam) reduce(v []float64, op func(a, b float64) float64) error {
	if t.size() == 1 {
		return nil
	}
	if len(t.tmp) < len(v) {
		t.tmp = make([]float64, len(v))
	}
	tmp := t.tmp[:len(v)]
	if t.rank() == 0 {
		for r := 1; r < t.size(); r++ {
			if _, err := comm.Recv(t.c, tmp, r, collTag); err != nil {
				return err
			}
			for i := range v {
				v[i] = op(v[i], tmp[i])
			}
		}
		for r := 1; r < t.size(); r++ {
			if err := comm.Send(t.c, v, r, collTag+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := comm.Send(t.c, v, 0, collTag); err != nil {
		return err
	}
	_, err := comm.Recv(t.c, v, 0, collTag+1)
	return err
}

func (t *commTeam) sum(v []float64) error {
	return t.reduce(v, func(a, b float64) float64 { return a + b })
}

func (t *commTeam) minimum(v []float64) error { return t.reduce(v, math.Min) }

func (t *commTeam) gather(local, all []float64) error {
	if t.rank() != 0 {
		return comm.Send(t.c, local, 0, collTag+2)
	}
	copy(all, local)
	n := len(local)
	for r := 1; r < t.size(); r++ {
		if _, err := comm.Recv(t.c, all[r*n:(r+1)*n], r, collTag+2); err != nil {
			return err
		}
	}
	return nil
}

func cartCreate(c *comm.Comm, p [3]int) (*comm.Comm, error) {
	if p[0]*p[1]*p[2] != c.Size() {
		return nil, fmt.Errorf("%d processes in the grid, %d in the job", p[0]*p[1]*p[2], c.Size())
	}
	return c, nil
}

func cartCoords(_ *comm.Comm, p [3]int, r int) ([3]int, error) {
	return [3]int{r % p[0], (r / p[0]) % p[1], r / (p[0] * p[1])}, nil
}

func cartShift(c *comm.Comm, p [3]int, d int) (lo, hi int, err error) {
	co, _ := cartCoords(c, p, c.Rank())
	rank := func(x [3]int) int { return x[0] + p[0]*(x[1]+p[1]*x[2]) }
	lo, hi = comm.ProcNull, comm.ProcNull
	if co[d] > 0 {
		x := co
		x[d]--
		lo = rank(x)
	}
	if co[d] < p[d]-1 {
		x := co
		x[d]++
		hi = rank(x)
	}
	return lo, hi, nil
}
