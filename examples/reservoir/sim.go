package main

import (
	"fmt"
	"math"
)

// perf is one perforation of a well on this rank.
type perf struct {
	c  int     // padded cell index
	w  int     // index into config.Wells
	wi float64 // Peaceman well index, m³ (multiplied by mobility gives m³/(Pa·s))
}

// sim is one rank's share of an IMPES run. Arrays are padded (see block);
// halo cells outside the domain keep zero permeability, so faces on the
// domain boundary have zero transmissibility (no-flow).
type sim struct {
	cfg  *config
	t    team
	b    block
	fl   *fluid
	vol  float64 // cell bulk volume
	area [3]float64
	h    [3]float64

	kx, ky, kz, phi []float64
	s, p            []float64
	lt, fw          []float64 // total mobility and water fractional flow
	tr              [3][]float64
	flux            [3][]float64
	diag, piv, rhs  []float64

	perfs []perf
	inj   []int     // injector unknown -> well index
	wInj  []int     // well index -> injector unknown (-1 for producers)
	bhp   []float64 // injector bottom-hole pressures (replicated on every rank)
	wdiag []float64 // replicated

	// CG work vectors.
	r, z, d, q   []float64
	rw, zw, dw   []float64
	sv, svw      []float64 // A·d, kept by recurrence
	qw, red      []float64
	send, recv   [3][2][]float64 // halo faces per dimension, below and above
	fmax, pv, qt float64
	// Perforation flows of the last pressure solve, m³/s, positive into the rock.
	pq []float64
}

func newSim(cfg *config, t team) (*sim, error) {
	procs := t.dims()
	co, err := t.coords(t.rank())
	if err != nil {
		return nil, err
	}
	s := &sim{cfg: cfg, t: t, fl: &cfg.Fluid}
	s.b = newBlock([3]int{cfg.NX, cfg.NY, cfg.NZ}, procs, co)
	b := &s.b
	s.h = [3]float64{cfg.DX, cfg.DY, cfg.DZ}
	s.area = [3]float64{cfg.DY * cfg.DZ, cfg.DX * cfg.DZ, cfg.DX * cfg.DY}
	s.vol = cfg.DX * cfg.DY * cfg.DZ
	rk, err := loadRock(cfg, b)
	if err != nil {
		// Every rank reads or builds the same global rock: same error.
		return nil, &inputError{err}
	}
	n := b.size
	alloc := func() []float64 { return make([]float64, n) }
	s.kx, s.ky, s.kz, s.phi = alloc(), alloc(), alloc(), alloc()
	s.s, s.p, s.lt, s.fw = alloc(), alloc(), alloc(), alloc()
	s.diag, s.piv, s.rhs = alloc(), alloc(), alloc()
	s.r, s.z, s.d, s.q, s.sv = alloc(), alloc(), alloc(), alloc(), alloc()
	for d := range 3 {
		s.tr[d], s.flux[d] = alloc(), alloc()
		face := b.cells() / b.l[d]
		for i := range 2 {
			s.send[d][i], s.recv[d][i] = make([]float64, face), make([]float64, face)
		}
	}
	m := 0
	p0 := cfg.Wells[0].BHP
	for _, w := range cfg.Wells {
		if !w.Injector {
			p0 = w.BHP
			break
		}
	}
	b.interior(func(_, _, _, c int) {
		s.kx[c], s.ky[c], s.kz[c], s.phi[c] = rk.kx[m], rk.ky[m], rk.kz[m], rk.phi[m]
		s.s[c], s.p[c] = cfg.Sinit, p0
		m++
	})
	for _, a := range [][]float64{s.kx, s.ky, s.kz, s.phi, s.s, s.p} {
		if err := s.halo(a); err != nil {
			return nil, err
		}
	}
	s.fmax = s.fl.maxDfw()

	// Wells: perforations on this rank, unknowns for rate-controlled injectors.
	s.wInj = make([]int, len(cfg.Wells))
	// Per well, the smallest Peaceman denominator and radius over its
	// perforations, reduced so that every rank refuses a bad well alike.
	worst := make([]float64, 2*len(cfg.Wells))
	for i := range worst {
		worst[i] = math.Inf(1)
	}
	for wi, w := range cfg.Wells {
		s.wInj[wi] = -1
		if w.Injector {
			s.wInj[wi] = len(s.inj)
			s.inj = append(s.inj, wi)
			s.qt += w.Rate
		}
		for k := w.K0; k <= w.K1; k++ {
			l, ok := b.local([3]int{w.I, w.J, k})
			if !ok {
				continue
			}
			c := b.at(l[0], l[1], l[2])
			idx, r0, den := peaceman(s.kx[c], s.ky[c], cfg.DX, cfg.DY, cfg.DZ, w)
			worst[wi] = min(worst[wi], den)
			worst[len(cfg.Wells)+wi] = min(worst[len(cfg.Wells)+wi], r0)
			s.perfs = append(s.perfs, perf{c: c, w: wi, wi: idx})
		}
	}
	if err := t.minimum(worst); err != nil {
		return nil, err
	}
	for wi, w := range cfg.Wells {
		if den, r0 := worst[wi], worst[len(cfg.Wells)+wi]; !(den > 0) {
			return nil, &inputError{fmt.Errorf("well %s: Peaceman radius %.3g m is not larger than the well radius %.3g m (with skin %g): use a smaller radius or coarser cells",
				w.Name, r0, w.Rw, w.Skin)}
		}
	}
	s.pq = make([]float64, len(s.perfs))
	ni := len(s.inj)
	s.bhp, s.wdiag = make([]float64, ni), make([]float64, ni)
	for i := range s.bhp {
		s.bhp[i] = p0
	}
	s.rw, s.zw, s.dw, s.qw, s.svw = make([]float64, ni), make([]float64, ni), make([]float64, ni), make([]float64, ni), make([]float64, ni)
	s.red = make([]float64, ni+3)

	// Pore volume and well connectivity, agreed by all ranks.
	red := make([]float64, 2+len(cfg.Wells))
	b.interior(func(_, _, _, c int) { red[0] += s.phi[c] * s.vol })
	red[1] = float64(rk.clamped)
	for _, pf := range s.perfs {
		red[2+pf.w] += pf.wi
	}
	if err := t.sum(red); err != nil {
		return nil, err
	}
	s.pv = red[0]
	if red[1] > 0 && t.rank() == 0 {
		cfg.logf("porosity raised to -minporo %g in %.0f cells\n", cfg.MinPoro, red[1])
	}
	for wi, w := range cfg.Wells {
		if !(red[2+wi] > 0) {
			return nil, &inputError{fmt.Errorf("well %s at (%d,%d): no perforation connects to rock with permeability", w.Name, w.I, w.J)}
		}
	}
	return s, nil
}

// peaceman is the well index of a vertical well in a cell (Peaceman 1983,
// anisotropic form): WI = 2π√(kx ky) Δz / (ln(r0/rw) + skin), with the
// equivalent radius r0 and the denominator, which must be positive.
// Cells without horizontal permeability do not connect (WI 0).
func peaceman(kx, ky, dx, dy, dz float64, w well) (wi, r0, den float64) {
	if kx <= 0 || ky <= 0 {
		return 0, math.Inf(1), math.Inf(1)
	}
	a, b := math.Sqrt(ky/kx), math.Sqrt(kx/ky)
	r0 = 0.28 * math.Sqrt(a*dx*dx+b*dy*dy) / (math.Sqrt(a) + math.Sqrt(b))
	den = math.Log(r0/w.Rw) + w.Skin
	if !(den > 0) {
		return 0, r0, den
	}
	return w.Frac * 2 * math.Pi * math.Sqrt(kx*ky) * dz / den, r0, den
}

// halo refreshes the face halo cells of a from the face neighbours.
func (s *sim) halo(a []float64) error {
	b := &s.b
	for d := range 3 {
		s.face(d, 0, a, s.send[d][0], false)
		s.face(d, b.l[d]-1, a, s.send[d][1], false)
	}
	if err := s.t.exchange(&s.send, &s.recv); err != nil {
		return err
	}
	for d := range 3 {
		if b.o[d] > 0 {
			s.face(d, -1, a, s.recv[d][0], true)
		}
		if b.o[d]+b.l[d] < b.n[d] {
			s.face(d, b.l[d], a, s.recv[d][1], true)
		}
	}
	return nil
}

// face copies the plane at local index at along dimension d between a
// and buf (into a when unpack).
func (s *sim) face(d, at int, a, buf []float64, unpack bool) {
	b := &s.b
	e1, e2 := (d+1)%3, (d+2)%3
	if e1 > e2 {
		e1, e2 = e2, e1
	}
	m := 0
	var ijk [3]int
	ijk[d] = at
	for v := 0; v < b.l[e2]; v++ {
		ijk[e2] = v
		for u := 0; u < b.l[e1]; u++ {
			ijk[e1] = u
			c := b.at(ijk[0], ijk[1], ijk[2])
			if unpack {
				a[c] = buf[m]
			} else {
				buf[m] = a[c]
			}
			m++
		}
	}
}

// faces calls fn for every face touching an interior cell along d, with
// the padded index of the cell below the face.
func (s *sim) faces(d int, fn func(c int)) {
	b := &s.b
	lo := [3]int{}
	lo[d] = -1
	for k := lo[2]; k < b.l[2]; k++ {
		for j := lo[1]; j < b.l[1]; j++ {
			for i := lo[0]; i < b.l[0]; i++ {
				fn(b.at(i, j, k))
			}
		}
	}
}

// assemble builds the pressure system for the current saturations: TPFA
// with the harmonic mean of the two half-transmissibilities 2λt k A/Δ,
// Peaceman perforations, one unknown per rate-controlled injector.
func (s *sim) assemble() error {
	b := &s.b
	for c := range s.s {
		// Halo cells outside the domain and the never-exchanged edge and
		// corner halos have no rock; their mobility is never used.
		if s.kx[c]+s.ky[c]+s.kz[c] == 0 {
			continue
		}
		lw, lo := s.fl.mobilities(s.s[c])
		s.lt[c] = lw + lo
		s.fw[c] = lw / (lw + lo)
	}
	perm := [3][]float64{s.kx, s.ky, s.kz}
	for d := range 3 {
		st := b.stride(d)
		tr, k := s.tr[d], perm[d]
		coef := 2 * s.area[d] / s.h[d]
		s.faces(d, func(c int) {
			h1 := coef * s.lt[c] * k[c]
			h2 := coef * s.lt[c+st] * k[c+st]
			if h1+h2 > 0 {
				tr[c] = h1 * h2 / (h1 + h2)
			} else {
				tr[c] = 0
			}
		})
	}
	b.interior(func(_, _, _, c int) {
		s.diag[c] = s.tr[0][c] + s.tr[0][c-1] + s.tr[1][c] + s.tr[1][c-b.sj] + s.tr[2][c] + s.tr[2][c-b.sk]
		s.rhs[c] = 0
	})
	clear(s.wdiag)
	for _, pf := range s.perfs {
		w := &s.cfg.Wells[pf.w]
		a := pf.wi * s.lt[pf.c]
		s.diag[pf.c] += a
		if i := s.wInj[pf.w]; i >= 0 {
			s.wdiag[i] += a
		} else {
			s.rhs[pf.c] += a * w.BHP
		}
	}
	if err := s.t.sum(s.wdiag); err != nil {
		return err
	}
	// Modified IC(0) of the rank's block (block Jacobi): for a 7-point
	// matrix only the pivots change. The fill-in that IC(0) drops is
	// moved to the diagonal (relaxed by micOmega), which keeps the row sums
	// and cuts the iteration count roughly by the square root on smooth
	// problems (Gustafsson 1978). Couplings to other ranks are dropped.
	t0, t1, t2 := s.tr[0], s.tr[1], s.tr[2]
	sj, sk := b.sj, b.sk
	l0, l1, l2 := b.l[0], b.l[1], b.l[2]
	for k := range l2 {
		for j := range l1 {
			for i := range l0 {
				c := b.at(i, j, k)
				v := s.diag[c]
				// up(n, d) is the coupling of lower neighbour n to its upper
				// neighbour along d inside the block, 0 past its edge.
				up := func(n, ni, nj, nk int) float64 {
					u := 0.0
					if ni < l0-1 {
						u += t0[n]
					}
					if nj < l1-1 {
						u += t1[n]
					}
					if nk < l2-1 {
						u += t2[n]
					}
					return u
				}
				if i > 0 {
					n, a := c-1, t0[c-1]
					v -= a * (a + micOmega*(up(n, i-1, j, k)-a)) / s.piv[n]
				}
				if j > 0 {
					n, a := c-sj, t1[c-sj]
					v -= a * (a + micOmega*(up(n, i, j-1, k)-a)) / s.piv[n]
				}
				if k > 0 {
					n, a := c-sk, t2[c-sk]
					v -= a * (a + micOmega*(up(n, i, j, k-1)-a)) / s.piv[n]
				}
				s.piv[c] = v
			}
		}
	}
	return nil
}

// micOmega relaxes the modified incomplete Cholesky: 0 is IC(0), 1 the
// full modification (which can produce tiny pivots next to wells).
const micOmega = 0.95

// apply computes y = A x on interior cells, and each injector row's
// partial sum over this rank's perforations into yw (not yet reduced).
func (s *sim) apply(x, xw, y, yw []float64) {
	b := &s.b
	t0, t1, t2 := s.tr[0], s.tr[1], s.tr[2]
	sj, sk := b.sj, b.sk
	for k := 0; k < b.l[2]; k++ {
		for j := 0; j < b.l[1]; j++ {
			c0 := b.at(0, j, k)
			for c := c0; c < c0+b.l[0]; c++ {
				y[c] = s.diag[c]*x[c] - t0[c]*x[c+1] - t0[c-1]*x[c-1] -
					t1[c]*x[c+sj] - t1[c-sj]*x[c-sj] - t2[c]*x[c+sk] - t2[c-sk]*x[c-sk]
			}
		}
	}
	clear(yw)
	for _, pf := range s.perfs {
		if i := s.wInj[pf.w]; i >= 0 {
			a := pf.wi * s.lt[pf.c]
			y[pf.c] -= a * xw[i]
			yw[i] += a * (xw[i] - x[pf.c])
		}
	}
}

// precond solves M z = r: IC(0) forward and backward sweeps on the block,
// Jacobi on the injector rows.
func (s *sim) precond(r, rw, z, zw []float64) {
	b := &s.b
	t0, t1, t2 := s.tr[0], s.tr[1], s.tr[2]
	sj, sk := b.sj, b.sk
	for k := 0; k < b.l[2]; k++ {
		for j := 0; j < b.l[1]; j++ {
			for i := 0; i < b.l[0]; i++ {
				c := b.at(i, j, k)
				v := r[c]
				if i > 0 {
					v += t0[c-1] * z[c-1]
				}
				if j > 0 {
					v += t1[c-sj] * z[c-sj]
				}
				if k > 0 {
					v += t2[c-sk] * z[c-sk]
				}
				z[c] = v / s.piv[c]
			}
		}
	}
	for k := b.l[2] - 1; k >= 0; k-- {
		for j := b.l[1] - 1; j >= 0; j-- {
			for i := b.l[0] - 1; i >= 0; i-- {
				c := b.at(i, j, k)
				v := 0.0
				if i < b.l[0]-1 {
					v += t0[c] * z[c+1]
				}
				if j < b.l[1]-1 {
					v += t1[c] * z[c+sj]
				}
				if k < b.l[2]-1 {
					v += t2[c] * z[c+sk]
				}
				z[c] += v / s.piv[c]
			}
		}
	}
	for i := range rw {
		zw[i] = rw[i] / s.wdiag[i]
	}
}

// solvePressure runs preconditioned CG from the previous pressure until
// the residual (a flow rate) is below Tol times the injection rate. It is
// the Chronopoulos–Gear variant (Chronopoulos & Gear 1989, J. Comput.
// Appl. Math. 25:153): the recurrence for A·p from A·u lets r·u, (A·u)·u,
// r·r and the injector rows of A·u travel in one Allreduce per iteration
// instead of the two of the textbook form, which matters because at these
// sizes an iteration's cost is mostly latency.
func (s *sim) solvePressure() (int, error) {
	b := &s.b
	nw := len(s.inj)
	x, xw := s.p, s.bhp
	r, rw, u, uw := s.r, s.rw, s.z, s.zw
	w, ww, p, pw, sv, svw := s.q, s.qw, s.d, s.dw, s.sv, s.svw
	root := s.t.rank() == 0
	red := s.red
	if err := s.halo(x); err != nil {
		return 0, err
	}
	s.apply(x, xw, w, ww)
	if err := s.t.sum(ww); err != nil {
		return 0, err
	}
	b.interior(func(_, _, _, c int) { r[c] = s.rhs[c] - w[c] })
	for i, wi := range s.inj {
		rw[i] = s.cfg.Wells[wi].Rate - ww[i]
	}
	// reduce preconditions r, applies A to the result, and returns r·u,
	// (A u)·u and r·r, leaving the injector rows of A u complete in ww.
	reduce := func() (gamma, delta, rr float64, err error) {
		s.precond(r, rw, u, uw)
		if err := s.halo(u); err != nil {
			return 0, 0, 0, err
		}
		s.apply(u, uw, w, ww)
		var g, dl, q float64
		b.interior(func(_, _, _, c int) {
			g += r[c] * u[c]
			dl += w[c] * u[c]
			q += r[c] * r[c]
		})
		// ww holds this rank's partial well rows; u's well entries are
		// the same on every rank, so their share of (A u)·u sums too.
		for i := range ww {
			dl += uw[i] * ww[i]
		}
		if root {
			for i := range rw {
				g += rw[i] * uw[i]
				q += rw[i] * rw[i]
			}
		}
		red[0], red[1], red[2] = g, dl, q
		copy(red[3:], ww)
		if err := s.t.sum(red[:3+nw]); err != nil {
			return 0, 0, 0, err
		}
		copy(ww, red[3:3+nw])
		return red[0], red[1], red[2], nil
	}
	gamma, delta, rr, err := reduce()
	if err != nil {
		return 0, err
	}
	goal := s.cfg.Tol * s.qt
	if math.Sqrt(rr) <= goal {
		return 0, nil
	}
	alpha, beta := gamma/delta, 0.0
	for it := 1; it <= s.cfg.MaxIter; it++ {
		b.interior(func(_, _, _, c int) {
			p[c] = u[c] + beta*p[c]
			sv[c] = w[c] + beta*sv[c]
			x[c] += alpha * p[c]
			r[c] -= alpha * sv[c]
		})
		for i := range pw {
			pw[i] = uw[i] + beta*pw[i]
			svw[i] = ww[i] + beta*svw[i]
			xw[i] += alpha * pw[i]
			rw[i] -= alpha * svw[i]
		}
		gNew, dNew, rr, err := reduce()
		if err != nil {
			return it, err
		}
		if math.Sqrt(rr) <= goal {
			return it, s.halo(x)
		}
		beta = gNew / gamma
		alpha = gNew / (dNew - beta*gNew/alpha)
		gamma = gNew
	}
	return s.cfg.MaxIter, fmt.Errorf("pressure solve: CG did not reach residual %.3g m³/s in %d iterations (now %.3g)", goal, s.cfg.MaxIter, math.Sqrt(rr))
}

// stepStats are the global sums of one transport step.
type stepStats struct {
	acc, in, outW float64 // water accumulation, water in, water out (m³)
	outT, prodW   float64 // total and water volume through producers
}

// cflStep returns the largest stable time step of this rank: the
// explicit upwind update stays monotone while dt·max f'·(outflow)/(φV) ≤ 1.
func (s *sim) cflStep() float64 {
	b := &s.b
	dt := math.Inf(1)
	for d := range 3 {
		st := b.stride(d)
		f, tr := s.flux[d], s.tr[d]
		s.faces(d, func(c int) { f[c] = tr[c] * (s.p[c] - s.p[c+st]) })
	}
	out := s.q // reuse as scratch
	b.interior(func(_, _, _, c int) {
		v := 0.0
		for d := range 3 {
			st := b.stride(d)
			v += max(s.flux[d][c], 0) + max(-s.flux[d][c-st], 0)
		}
		out[c] = v
	})
	for i, pf := range s.perfs {
		w := &s.cfg.Wells[pf.w]
		pw := w.BHP
		if j := s.wInj[pf.w]; j >= 0 {
			pw = s.bhp[j]
		}
		s.pq[i] = pf.wi * s.lt[pf.c] * (pw - s.p[pf.c])
		out[pf.c] += max(-s.pq[i], 0)
	}
	b.interior(func(_, _, _, c int) {
		if out[c] > 0 {
			dt = min(dt, s.phi[c]*s.vol/(s.fmax*out[c]))
		}
	})
	return dt
}

// transport advances saturations by dt with the fluxes of cflStep,
// upwinding the water fractional flow, and returns this rank's sums.
func (s *sim) transport(dt float64) stepStats {
	b := &s.b
	var st stepStats
	dS := s.z // scratch: water volume change per cell
	b.interior(func(_, _, _, c int) { dS[c] = 0 })
	for d := range 3 {
		sd := b.stride(d)
		f := s.flux[d]
		s.faces(d, func(c int) {
			F := f[c]
			var w float64
			if F > 0 {
				w = F * s.fw[c]
			} else {
				w = F * s.fw[c+sd]
			}
			w *= dt
			dS[c] -= w
			dS[c+sd] += w
		})
	}
	for i, pf := range s.perfs {
		q := s.pq[i] * dt
		var w float64
		switch {
		case q > 0 && s.cfg.Wells[pf.w].Injector:
			w = q
			st.in += w
		case q > 0:
			// A producer taking fluid in (cross-flow) returns the cell's mix.
			w = q * s.fw[pf.c]
			st.in += w
		default:
			w = q * s.fw[pf.c]
			st.outW -= w
			if !s.cfg.Wells[pf.w].Injector {
				st.outT -= q
				st.prodW -= w
			}
		}
		dS[pf.c] += w
	}
	b.interior(func(_, _, _, c int) {
		pvc := s.phi[c] * s.vol
		old := s.s[c]
		s.s[c] = old + dS[c]/pvc
		st.acc += pvc * (s.s[c] - old)
	})
	return st
}
