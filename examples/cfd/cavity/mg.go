package main

// multigrid solves the five-point discrete Poisson problem L u = f,
// L u = (4u - u_E - u_W - u_N - u_S)/h², with u = 0 on the walls, by V-cycles:
// red-black Gauss-Seidel smoothing, half-weighting restriction, bilinear
// prolongation. Once the grid is coarse (aggIntervals or fewer intervals)
// its problem is agglomerated: one sum over ranks gives every rank the whole
// coarse right-hand side, and each solves it redundantly with a serial
// multigrid, which saves the many small message rounds the coarse levels
// would cost. Every operation is a local stencil between halo exchanges and
// red-black ordering makes the iterates independent of the decomposition.
// See Trottenberg, Oosterlee & Schüller, Multigrid (2001), ch. 2 and 6.
type multigrid struct {
	p        *par
	lv       []*level
	nu1, nu2 int // pre- and post-smoothing sweeps
	// The coarsest level's problem, agglomerated: the global right-hand side
	// and the serial solver for it (nil in the serial solver itself, whose
	// coarsest grid has a single unknown and is solved by Gauss-Seidel).
	glob, sol []float64
	serial    *multigrid
}

// aggIntervals is the size at which the coarse problem is agglomerated.
// It does not depend on the number of ranks, so every decomposition runs
// the same algorithm.
const aggIntervals = 16

// serialCycles is how many V-cycles the agglomerated coarse problem gets;
// a fixed count keeps the work identical on every rank count.
const serialCycles = 2

type level struct {
	g       grid
	hl      *halo
	u, f, r []float64
}

// newMultigrid builds the levels below g. With agglomerate it stops at
// aggIntervals (or where the grid no longer halves on every rank) and hands
// that level to a serial multigrid; without, it coarsens as far as it can
// and relaxes the coarsest grid to convergence.
func newMultigrid(p *par, g grid, agglomerate bool) *multigrid {
	m := &multigrid{p: p, nu1: 1, nu2: 1}
	for {
		m.lv = append(m.lv, &level{g: g, hl: newHalo(g),
			u: make([]float64, g.size()), f: make([]float64, g.size()), r: make([]float64, g.size())})
		c, ok := g.coarse(p.px, p.py)
		if !ok || (agglomerate && g.n <= aggIntervals) {
			break
		}
		g = c
	}
	if agglomerate {
		sg, _ := newGrid(g.n, 1, 1, 0, 0)
		m.serial = newMultigrid(serialPar(), sg, false)
		m.glob, m.sol = make([]float64, sg.size()), make([]float64, sg.size())
	}
	return m
}

// coarsestIntervals returns the intervals of the serial solver's coarsest
// grid, which it relaxes by Gauss-Seidel alone.
func (m *multigrid) coarsestIntervals() int {
	if m.serial != nil {
		return m.serial.coarsestIntervals()
	}
	return m.lv[len(m.lv)-1].g.n
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
	c := m.lv[k+1]
	if err := lv.hl.exchange(m.p, lv.u); err != nil {
		return err
	}
	restrict(lv, c)
	if err := m.cycle(k + 1); err != nil {
		return err
	}
	if k+1 < len(m.lv)-1 || m.serial == nil {
		// The agglomerated solve leaves its halos filled.
		if err := c.hl.exchangeCorners(m.p, c.u); err != nil {
			return err
		}
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

// restrict moves the fine residual to the coarse right-hand side and
// clears the coarse correction. After a red-black sweep ending on black the
// black residuals are zero, and the four neighbours of a coarse node (even,
// even: red) are black, so half weighting (4 r_C + r_E + r_W + r_N + r_S)/8
// is r_C/2: only the residual at coarse nodes is needed, and only the fine
// solution's halos (filled by the caller). Coarse local node (L, K) sits on
// fine local node (2L, 2K).
func restrict(fine, c *level) {
	fg, cg := fine.g, c.g
	u, f := fine.u, fine.f
	ih2 := 1 / (fg.h * fg.h)
	nx := fg.nx
	clear(c.u)
	for k := cg.jl; k <= cg.jh; k++ {
		for l := cg.il; l <= cg.ih; l++ {
			i := fg.at(2*l, 2*k)
			c.f[cg.at(l, k)] = 0.5 * (f[i] - ih2*(4*u[i]-u[i-1]-u[i+1]-u[i-nx]-u[i+nx]))
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

// coarsest solves the coarsest level. Agglomerated: a serial multigrid on
// the assembled right-hand side, of which each rank takes back its block
// with halos and corners. In the serial solver itself: Gauss-Seidel sweeps
// enough to converge to round-off on a grid of a few intervals.
func (m *multigrid) coarsest(lv *level) error {
	g := lv.g
	if m.serial == nil {
		forUpdate(g, func(i int) { lv.u[i] = 0 })
		return m.smooth(lv, 4*g.n*g.n)
	}
	sg := m.serial.lv[0].g
	clear(m.glob)
	for k := g.jl; k <= g.jh; k++ {
		for l := g.il; l <= g.ih; l++ {
			m.glob[sg.at(g.ax+l, g.ay+k)] = lv.f[g.at(l, k)]
		}
	}
	if err := m.p.sum(m.glob); err != nil {
		return err
	}
	clear(m.sol)
	if lv == m.lv[0] {
		// The whole problem is this coarse: keep the caller's iterate as
		// the starting guess, as a coarse correction starts from zero.
		for k := g.jl; k <= g.jh; k++ {
			for l := g.il; l <= g.ih; l++ {
				m.sol[sg.at(g.ax+l, g.ay+k)] = lv.u[g.at(l, k)]
			}
		}
		if err := m.p.sum(m.sol); err != nil {
			return err
		}
	}
	for range serialCycles {
		if err := m.serial.vcycle(m.sol, m.glob); err != nil {
			return err
		}
	}
	for k := 0; k < g.ny; k++ {
		for l := 0; l < g.nx; l++ {
			if gi, gk := g.ax+l, g.ay+k; gi <= g.n && gk <= g.n {
				lv.u[g.at(l, k)] = m.sol[sg.at(gi, gk)]
			}
		}
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
