package main

import (
	"fmt"
	"math"
	"time"

	"github.com/mpx-hpc/mpx/comm"
)

// config is one cavity run. Zero values are not meaningful; parseConfig
// fills the defaults.
type config struct {
	re       float64 // Reynolds number U L / ν with lid speed U = 1 and side L = 1
	n        int     // grid nodes per side (n-1 intervals)
	tol      float64 // steady-state tolerance on the RMS residuals
	maxSteps int     // pseudo-time steps before giving up
	cfl      float64 // local time-step factor of the four-stage scheme
	out      string  // directory for VTK and PNG output ("" for none)
	quiet    bool    // no progress lines
}

// result is the assembled steady field, identical on every rank.
type result struct {
	n         int // nodes per side
	re        float64
	steps     int
	residual  float64 // max of the vorticity and streamfunction RMS residuals
	converged bool
	elapsed   time.Duration
	ranks     int
	px, py    int
	// Global fields, (n)×(n) nodes, x fastest.
	psi, omega, u, v []float64
}

// at is the global storage index of node (i, j).
func (r *result) at(i, j int) int { return j*r.n + i }

// checkEvery is how many steps pass between residual checks, which cost a
// sum over all ranks.
const checkEvery = 10

// poissonEvery is how many steps pass between streamfunction V-cycles. ω
// moves little in one pseudo-time step and the steady state does not depend
// on the lag; measured on 65×65, a V-cycle every second step converges in
// the same number of steps as one every step at Re 100 and 1000 (every
// third step stalls at Re 1000), for half the Poisson work and messages.
const poissonEvery = 2

// solve marches the vorticity-streamfunction equations
//
//	∂ω/∂t + u ∂ω/∂x + v ∂ω/∂y = (1/Re) ∇²ω,   ∇²ψ = -ω,   u = ∂ψ/∂y, v = -∂ψ/∂x
//
// to steady state: second-order central differences, Thom's wall vorticity,
// Jameson's four-stage scheme with local time steps (only the steady state
// is wanted, so each node marches at its own stable step), and a multigrid
// V-cycle on the streamfunction every poissonEvery steps, warm-started
// from the last one.
func solve(c *comm.Comm, cfg config) (result, error) {
	start := time.Now()
	p, err := newPar(c)
	if err != nil {
		return result{}, err
	}
	nInt := cfg.n - 1
	g, err := newGrid(nInt, p.px, p.py, p.cx, p.cy)
	if err != nil {
		return result{}, err
	}
	if g.mx < 2 || g.my < 2 {
		return result{}, fmt.Errorf("grid of %d nodes is too small for a %d×%d process grid (each rank needs 2 intervals)", cfg.n, p.px, p.py)
	}
	mg := newMultigrid(p, g, true)
	if c := mg.coarsestIntervals(); c > 8 {
		return result{}, fmt.Errorf("%d intervals coarsen only to %d; choose n-1 = c·2^k with c ≤ 8 (e.g. n = 129)", nInt, c)
	}
	hl := newHalo(g)
	sz := g.size()
	psi, w, wNew, w0 := make([]float64, sz), make([]float64, sz), make([]float64, sz), make([]float64, sz)
	u, v, dt := make([]float64, sz), make([]float64, sz), make([]float64, sz)
	h, nu := g.h, 1/cfg.re
	ih, ih2 := 1/h, 1/(h*h)
	nx := g.nx
	last := [2]bool{p.cx == p.px-1, p.cy == p.py-1}
	first := [2]bool{p.cx == 0, p.cy == 0}
	interior := float64((nInt - 1) * (nInt - 1))

	// velocities sets u, v, the local time steps and the wall vorticity
	// from ψ; with check it also sums the squared residual of ∇²ψ = -ω.
	velocities := func(check bool, ssPsi *float64) error {
		err := hl.overlap(p, psi, func(r rect) {
			for k := r.k0; k <= r.k1; k++ {
				for l := r.l0; l <= r.l1; l++ {
					i := g.at(l, k)
					uu := 0.5 * ih * (psi[i+nx] - psi[i-nx])
					vv := -0.5 * ih * (psi[i+1] - psi[i-1])
					u[i], v[i] = uu, vv
					dt[i] = cfg.cfl / ((math.Abs(uu)+math.Abs(vv))*ih + 8*nu*ih2)
					if check {
						d := w[i] - ih2*(4*psi[i]-psi[i-1]-psi[i+1]-psi[i-nx]-psi[i+nx])
						*ssPsi += d * d
					}
				}
			}
		})
		if err != nil {
			return err
		}
		// Thom's formula on the walls this rank owns: ω_wall = -2ψ_adj/h²,
		// less 2U/h under the moving lid. Both ω buffers carry the walls.
		setWall := func(i, adj int, lid float64) {
			val := -2*psi[adj]*ih2 - 2*lid*ih
			w[i], wNew[i] = val, val
		}
		for k := g.jl; k <= g.jh; k++ {
			if first[0] {
				setWall(g.at(0, k), g.at(1, k), 0)
			}
			if last[0] {
				setWall(g.at(g.mx, k), g.at(g.mx-1, k), 0)
			}
		}
		for l := g.il; l <= g.ih; l++ {
			if first[1] {
				setWall(g.at(l, 0), g.at(l, 1), 0)
			}
			if last[1] {
				setWall(g.at(l, g.my), g.at(l, g.my-1), 1)
			}
		}
		return nil
	}

	res := result{n: cfg.n, re: cfg.re, ranks: p.size, px: p.px, py: p.py}
	psiMoved := true
	for step := 1; step <= cfg.maxSteps; step++ {
		check := step%checkEvery == 0 || step == cfg.maxSteps
		// Velocities, local time steps and wall vorticity from ψ, when the
		// last step moved ψ; on check steps also the streamfunction
		// residual ω - Lψ.
		var ssPsi float64
		if psiMoved || check {
			if err := velocities(check, &ssPsi); err != nil {
				return res, err
			}
		}
		psiMoved = false
		copy(w0, w)
		var ssW float64
		for s, alpha := range [...]float64{1.0 / 4, 1.0 / 3, 1.0 / 2, 1} {
			in, out := w, wNew
			err := hl.overlap(p, in, func(r rect) {
				for k := r.k0; k <= r.k1; k++ {
					for l := r.l0; l <= r.l1; l++ {
						i := g.at(l, k)
						rhs := -0.5*ih*(u[i]*(in[i+1]-in[i-1])+v[i]*(in[i+nx]-in[i-nx])) +
							nu*ih2*(in[i+1]+in[i-1]+in[i+nx]+in[i-nx]-4*in[i])
						if s == 0 && check {
							ssW += rhs * rhs
						}
						out[i] = w0[i] + alpha*dt[i]*rhs
					}
				}
			})
			if err != nil {
				return res, err
			}
			w, wNew = wNew, w
		}
		if step%poissonEvery == 0 || check {
			if err := mg.vcycle(psi, w); err != nil {
				return res, err
			}
			psiMoved = true
		}
		if check {
			buf := []float64{ssW, ssPsi}
			if err := p.sum(buf); err != nil {
				return res, err
			}
			rw, rp := math.Sqrt(buf[0]/interior), math.Sqrt(buf[1]/interior)
			res.steps, res.residual = step, math.Max(rw, rp)
			if math.IsNaN(res.residual) || math.IsInf(res.residual, 0) {
				return res, fmt.Errorf("diverged at step %d (Re %g, %d nodes, cfl %g)", step, cfg.re, cfg.n, cfg.cfl)
			}
			if !cfg.quiet && p.rank == 0 && step%(100*checkEvery) == 0 {
				fmt.Printf("step %6d  residual ω %.3e  ψ %.3e\n", step, rw, rp)
			}
			if res.residual < cfg.tol {
				res.converged = true
				break
			}
		}
	}
	res.elapsed = time.Since(start)
	// Velocities on the owned nodes for the assembled fields.
	if err := hl.exchange(p, psi); err != nil {
		return res, err
	}
	forUpdate(g, func(i int) {
		u[i] = 0.5 * ih * (psi[i+nx] - psi[i-nx])
		v[i] = -0.5 * ih * (psi[i+1] - psi[i-1])
	})
	for i, f := range []*[]float64{&res.psi, &res.omega, &res.u, &res.v} {
		glob, err := assemble(p, g, [][]float64{psi, w, u, v}[i])
		if err != nil {
			return res, err
		}
		*f = glob
	}
	for i := 1; i < cfg.n-1; i++ {
		res.u[res.at(i, cfg.n-1)] = 1 // the lid
	}
	return res, nil
}

// assemble returns the global field on every rank: each rank writes the
// nodes it owns into a zero array and a sum over ranks fills it. Every
// entry has exactly one non-zero contribution, so the sum is exact.
func assemble(p *par, g grid, f []float64) ([]float64, error) {
	n := g.n + 1
	glob := make([]float64, n*n)
	o := g.owned()
	for k := o.k0; k <= o.k1; k++ {
		for l := o.l0; l <= o.l1; l++ {
			glob[(g.ay+k)*n+g.ax+l] = f[g.at(l, k)]
		}
	}
	err := p.sum(glob)
	return glob, err
}
