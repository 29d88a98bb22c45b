package main

import (
	"fmt"
	"math"
)

// multigrid solves the five-point discrete Poisson problem L u = f,
// L u = (4u - u_E - u_W - u_N - u_S)/h², with u = 0 on the walls, by V-cycles:
// red-black Gauss-Seidel smoothing, half-weighting restriction, bilinear
// prolongation, and conjugate gradients on the coarsest grid. Every step is a
// local stencil between halo exchanges, and red-black ordering makes the
// result independent of the decomposition; only the coarsest-grid CG dot
// products (sums over ranks) differ between rank counts, at round-off.
// See Trottenberg, Oosterlee & Schüller, Multigrid (2001), ch. 2 and 6.
type multigrid struct {
	p        *par
	lv       []*level
	nu1, nu2 int // pre- and post-smoothing sweeps
	cgP, cgQ []float64
}

type level struct {
	g       grid
	hl      *halo
	u, f, r []float64
}

func newMultigrid(p *par, g grid) *multigrid {
	m := &multigrid{p: p, nu1: 2, nu2: 1}
	for {
		m.lv = append(m.lv, &level{g: g, hl: newHalo(g),
			u: make([]float64, g.size()), f: make([]float64, g.size()), r: make([]float64, g.size())})
		c, ok := g.coarse(p.px, p.py)
		if !ok {
			break
		}
		g = c
	}
	last := m.lv[len(m.lv)-1].g
	m.cgP, m.cgQ = make([]float64, last.size()), make([]float64, last.size())
	return m
}

// vcycle runs one V-cycle on L u = f at the finest level; u and f are
// fields of the finest grid and u is improved in place.
func (m *multigrid) vcycle(u, f []float64) error {
	top := m.lv[0]
	top.u, top.f = u, f
	return m.cycle(0)
}

func (m *multigrid) cycle(k int) error {
	lv := m.lv[k]
	if k == len(m.lv)-1 {
		return m.coarsest(lv)
	}
	if err := m.smooth(lv, m.nu1); err != nil {
		return err
	}
	if err := m.residual(lv); err != nil {
		return err
	}
	c := m.lv[k+1]
	if err := lv.hl.exchange(m.p, lv.r); err != nil {
		return err
	}
	restrict(lv, c)
	if err := m.cycle(k + 1); err != nil {
		return err
	}
	if err := c.hl.exchangeCorners(m.p, c.u); err != nil {
		return err
	}
	prolongAdd(c, lv)
	return m.smooth(lv, m.nu2)
}

func (m *multigrid) smooth(lv *level, sweeps int) error {
	g, u, f := lv.g, lv.u, lv.f
	h2 := g.h * g.h
	for s := 0; s < sweeps; s++ {
		for colour := 0; colour < 2; colour++ {
			err := lv.hl.overlap(m.p, u, func(r rect) {
				for k := r.k0; k <= r.k1; k++ {
					l0 := r.l0
					if (g.ax+l0+g.ay+k)&1 != colour {
						l0++
					}
					for l := l0; l <= r.l1; l += 2 {
						i := g.at(l, k)
						u[i] = 0.25 * (h2*f[i] + u[i-1] + u[i+1] + u[i-g.nx] + u[i+g.nx])
					}
				}
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// residual sets lv.r = f - L u on the update range.
func (m *multigrid) residual(lv *level) error {
	g, u, f, res := lv.g, lv.u, lv.f, lv.r
	ih2 := 1 / (g.h * g.h)
	return lv.hl.overlap(m.p, u, func(r rect) {
		for k := r.k0; k <= r.k1; k++ {
			for l := r.l0; l <= r.l1; l++ {
				i := g.at(l, k)
				res[i] = f[i] - ih2*(4*u[i]-u[i-1]-u[i+1]-u[i-g.nx]-u[i+g.nx])
			}
		}
	})
}

// restrict moves the fine residual (halos filled) to the coarse right-hand
// side by half weighting and clears the coarse correction. Coarse local
// node (L, K) sits on fine local node (2L, 2K).
func restrict(fine, c *level) {
	fg, cg := fine.g, c.g
	r := fine.r
	clear(c.u)
	for k := cg.jl; k <= cg.jh; k++ {
		for l := cg.il; l <= cg.ih; l++ {
			i := fg.at(2*l, 2*k)
			c.f[cg.at(l, k)] = 0.125 * (4*r[i] + r[i-1] + r[i+1] + r[i-fg.nx] + r[i+fg.nx])
		}
	}
}

// prolongAdd adds the bilinear interpolation of the coarse correction
// (halos, corners included, filled) to the fine solution.
func prolongAdd(c, fine *level) {
	fg, cg := fine.g, c.g
	e, u := c.u, fine.u
	for k := fg.jl; k <= fg.jh; k++ {
		K0, K1 := k/2, (k+1)/2
		for l := fg.il; l <= fg.ih; l++ {
			L0, L1 := l/2, (l+1)/2
			u[fg.at(l, k)] += 0.25 * (e[cg.at(L0, K0)] + e[cg.at(L1, K0)] + e[cg.at(L0, K1)] + e[cg.at(L1, K1)])
		}
	}
}

// coarsest solves the coarsest problem by conjugate gradients from zero
// until the residual falls 1e-12 below the right-hand side.
func (m *multigrid) coarsest(lv *level) error {
	g, u, f, r := lv.g, lv.u, lv.f, lv.r
	p, q := m.cgP, m.cgQ
	clear(u)
	copy(r, f)
	copy(p, f)
	rr, err := m.dot(g, r, r)
	if err != nil {
		return err
	}
	stop := rr * 1e-24
	ih2 := 1 / (g.h * g.h)
	for it := 0; it < (g.n+1)*(g.n+1) && rr > stop && rr > 0; it++ {
		err := lv.hl.overlap(m.p, p, func(rc rect) {
			for k := rc.k0; k <= rc.k1; k++ {
				for l := rc.l0; l <= rc.l1; l++ {
					i := g.at(l, k)
					q[i] = ih2 * (4*p[i] - p[i-1] - p[i+1] - p[i-g.nx] - p[i+g.nx])
				}
			}
		})
		if err != nil {
			return err
		}
		pq, err := m.dot(g, p, q)
		if err != nil {
			return err
		}
		alpha := rr / pq
		forUpdate(g, func(i int) {
			u[i] += alpha * p[i]
			r[i] -= alpha * q[i]
		})
		rr1, err := m.dot(g, r, r)
		if err != nil {
			return err
		}
		beta := rr1 / rr
		rr = rr1
		forUpdate(g, func(i int) { p[i] = r[i] + beta*p[i] })
	}
	if math.IsNaN(rr) {
		return fmt.Errorf("coarse-grid CG diverged (%d intervals)", g.n)
	}
	return nil
}

func forUpdate(g grid, fn func(i int)) {
	for k := g.jl; k <= g.jh; k++ {
		for l := g.il; l <= g.ih; l++ {
			fn(g.at(l, k))
		}
	}
}

// dot is the inner product over all ranks' update ranges.
func (m *multigrid) dot(g grid, a, b []float64) (float64, error) {
	s := 0.0
	forUpdate(g, func(i int) { s += a[i] * b[i] })
	buf := []float64{s}
	err := m.p.sum(buf)
	return buf[0], err
}
