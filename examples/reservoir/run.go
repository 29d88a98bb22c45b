package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// wcPoint is the producers' water cut after a step.
type wcPoint struct{ TD, WC float64 }

// blCheck compares a Buckley–Leverett run with the Welge solution.
type blCheck struct {
	TD                float64
	Shock, ShockSim   float64 // saturation behind the front
	Front, FrontSim   float64 // x_D of the front (FrontSim NaN once it has left)
	L1                float64 // ∫|S_sim − S_exact| dx_D
	TBreak, TBreakSim float64 // breakthrough in PVI (TBreakSim NaN if not reached)
}

// result is what a run reports. Fields marked rank 0 are empty elsewhere.
type result struct {
	Procs        [3]int
	Steps        int
	CGIters      int
	MaxCGIters   int
	TD           float64 // pore volumes injected at the end
	MaxMassErr   float64 // largest per-step relative water mass-balance error
	WaterCut     []wcPoint
	Breakthrough float64   // PVI at which the water cut first reached BTCut; NaN if not
	Sat, Pres    []float64 // rank 0: final global fields, natural order
	Profile      []profilePoint
	BL           *blCheck // rank 0, case bl
	Files        []string // rank 0: files written
	Wall         time.Duration
}

type profilePoint struct{ XD, S float64 }

// run is the IMPES time loop on a team.
func run(t team, cfg *config) (*result, error) {
	start := time.Now()
	s, err := newSim(cfg, t)
	if err != nil {
		return nil, err
	}
	root := t.rank() == 0
	logf := func(format string, a ...any) {
		if root {
			cfg.logf(format, a...)
		}
	}
	res := &result{Procs: s.b.p, Breakthrough: math.NaN()}
	var wl *welge
	if cfg.Case == "bl" {
		if wl, err = newWelge(&cfg.Fluid); err != nil {
			return nil, err
		}
	}
	out := newOutput(cfg, s, wl)
	secPerPVI := s.pv / s.qt
	tEnd := cfg.PVI * secPerPVI
	targets := []float64{tEnd}
	for _, v := range cfg.Snaps {
		targets = append(targets, v*secPerPVI)
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	snapAt := func(tt float64) bool {
		for _, v := range cfg.Snaps {
			if v*secPerPVI == tt {
				return true
			}
		}
		return false
	}
	logf("reservoir: case %s, grid %dx%dx%d, %d ranks as %dx%dx%d, rock %s, pore volume %.4g m³, %.4g PV/day\n",
		caseName(cfg.Case), cfg.NX, cfg.NY, cfg.NZ, t.size(), s.b.p[0], s.b.p[1], s.b.p[2], cfg.Rock, s.pv, day/secPerPVI)
	logf("fluid: muw %g cP, muo %g cP, Corey nw %g no %g, swc %g sor %g; max f' %.4g\n",
		cfg.Fluid.MuW/centiPoise, cfg.Fluid.MuO/centiPoise, cfg.Fluid.NW, cfg.Fluid.NO, cfg.Fluid.Swc, cfg.Fluid.Sor, s.fmax)
	every := cfg.StepEvery
	var now float64
	ti := 0
	red := make([]float64, 5)
	var intervalErr float64
	prevWC := wcPoint{}
	for now < tEnd {
		if err := s.assemble(); err != nil {
			return nil, err
		}
		its, err := s.solvePressure()
		if err != nil {
			return nil, fmt.Errorf("step %d (t_D %.4f): %w", res.Steps+1, now/secPerPVI, err)
		}
		res.CGIters += its
		res.MaxCGIters = max(res.MaxCGIters, its)
		red[0] = s.cflStep()
		if err := t.minimum(red[:1]); err != nil {
			return nil, err
		}
		dt := cfg.CFL * red[0]
		if math.IsInf(dt, 0) || !(dt > 0) {
			return nil, fmt.Errorf("step %d: no flow through any cell (time step %g)", res.Steps+1, dt)
		}
		if every == 0 {
			// About twenty progress lines per run, judged from the first step.
			every = max(1, int(tEnd/dt/20))
		}
		hit := false
		if target := targets[ti]; target-now <= dt*(1+1e-9) {
			dt, hit = target-now, true
		}
		st := s.transport(dt)
		red[0], red[1], red[2], red[3], red[4] = st.acc, st.in, st.outW, st.outT, st.prodW
		if err := t.sum(red); err != nil {
			return nil, err
		}
		if err := s.halo(s.s); err != nil {
			return nil, err
		}
		if hit {
			now = targets[ti]
			ti++
		} else {
			now += dt
		}
		res.Steps++
		massErr := math.Abs(red[0]-(red[1]-red[2])) / red[1]
		res.MaxMassErr = max(res.MaxMassErr, massErr)
		intervalErr = max(intervalErr, massErr)
		wc := wcPoint{TD: now / secPerPVI}
		if red[3] > 0 {
			wc.WC = red[4] / red[3]
		}
		res.WaterCut = append(res.WaterCut, wc)
		if math.IsNaN(res.Breakthrough) && wc.WC >= cfg.BTCut {
			// Linear interpolation inside the step.
			f := (cfg.BTCut - prevWC.WC) / (wc.WC - prevWC.WC)
			res.Breakthrough = prevWC.TD + f*(wc.TD-prevWC.TD)
			logf("breakthrough: water cut %.3g reached at %.4f PVI (step %d)\n", cfg.BTCut, res.Breakthrough, res.Steps)
		}
		prevWC = wc
		if res.Steps%every == 0 || now >= tEnd {
			logf("step %6d  t_D %.4f  dt %.3e d  CG %3d  water cut %.4f  mass balance %.2e\n",
				res.Steps, wc.TD, dt/day, its, wc.WC, intervalErr)
			intervalErr = 0
		}
		if hit && snapAt(now) {
			if err := out.snapshot(now / secPerPVI); err != nil {
				return nil, err
			}
		}
	}
	res.TD = now / secPerPVI
	res.Wall = time.Since(start)
	if res.Sat, err = s.gather(s.s); err != nil {
		return nil, err
	}
	if res.Pres, err = s.gather(s.p); err != nil {
		return nil, err
	}
	if !root {
		return res, nil
	}
	res.Profile = profile(cfg, res.Sat)
	logf("done: %d steps, %d CG iterations (max %d per solve), %.4f PVI, largest relative mass-balance error %.2e, %.3f s\n",
		res.Steps, res.CGIters, res.MaxCGIters, res.TD, res.MaxMassErr, res.Wall.Seconds())
	if wl != nil {
		res.BL = checkBL(cfg, wl, res)
		b := res.BL
		if math.IsNaN(b.FrontSim) {
			logf("Buckley-Leverett (Welge) at t_D %.4f: the front (x_D %.4f) has left the domain; profile L1 error %.4f\n", b.TD, b.Front, b.L1)
		} else {
			logf("Buckley-Leverett (Welge) at t_D %.4f: shock saturation %.4f (simulated %.4f), front x_D %.4f (simulated %.4f, error %.2f%%), profile L1 error %.4f\n",
				b.TD, b.Shock, b.ShockSim, b.Front, b.FrontSim, 100*(b.FrontSim-b.Front)/b.Front, b.L1)
		}
		if math.IsNaN(b.TBreakSim) {
			logf("Buckley-Leverett breakthrough: analytic %.4f PVI, not reached in the run\n", b.TBreak)
		} else {
			logf("Buckley-Leverett breakthrough: analytic %.4f PVI, simulated %.4f PVI (water cut %.3g)\n", b.TBreak, b.TBreakSim, cfg.BTCut)
		}
	}
	if math.IsNaN(res.Breakthrough) {
		logf("no breakthrough by %.4f PVI (water cut stayed below %.3g)\n", res.TD, cfg.BTCut)
	} else {
		logf("breakthrough at %.4f PVI\n", res.Breakthrough)
	}
	logf("water cut vs PVI:\n")
	for _, p := range sampleWaterCut(res.WaterCut, 0.1) {
		logf("  %.2f  %.4f\n", p.TD, p.WC)
	}
	if err := out.final(res); err != nil {
		return nil, err
	}
	res.Files = out.files
	return res, nil
}

func caseName(c string) string {
	if c == "" {
		return "free"
	}
	return c
}

// gather collects an interior field on rank 0 in global natural order.
func (s *sim) gather(a []float64) ([]float64, error) {
	b := &s.b
	local := make([]float64, 0, b.cells())
	b.interior(func(_, _, _, c int) { local = append(local, a[c]) })
	var all []float64
	if s.t.rank() == 0 {
		all = make([]float64, len(local)*s.t.size())
	}
	if err := s.t.gather(local, all); err != nil {
		return nil, err
	}
	if s.t.rank() != 0 {
		return nil, nil
	}
	g := make([]float64, b.n[0]*b.n[1]*b.n[2])
	for r := range s.t.size() {
		co, err := s.t.coords(r)
		if err != nil {
			return nil, err
		}
		src := all[r*len(local) : (r+1)*len(local)]
		m := 0
		for k := range b.l[2] {
			for j := range b.l[1] {
				for i := range b.l[0] {
					gi := co[0]*b.l[0] + i + b.n[0]*(co[1]*b.l[1]+j+b.n[1]*(co[2]*b.l[2]+k))
					g[gi] = src[m]
					m++
				}
			}
		}
	}
	return g, nil
}

// profile is the saturation along the flow direction: along x averaged
// over y and z, or along the diagonal for a square five-spot.
func profile(cfg *config, sat []float64) []profilePoint {
	nx, ny, nz := cfg.NX, cfg.NY, cfg.NZ
	var p []profilePoint
	if cfg.Case == "fivespot" && nx == ny {
		for i := range nx {
			v := 0.0
			for k := range nz {
				v += sat[i+nx*(i+ny*k)]
			}
			p = append(p, profilePoint{XD: float64(i) / float64(max(nx-1, 1)), S: v / float64(nz)})
		}
		return p
	}
	for i := range nx {
		v := 0.0
		for k := range nz {
			for j := range ny {
				v += sat[i+nx*(j+ny*k)]
			}
		}
		p = append(p, profilePoint{XD: (float64(i) + 0.5) / float64(nx), S: v / float64(ny*nz)})
	}
	return p
}

// checkBL measures the simulated front and compares with the Welge solution.
func checkBL(cfg *config, w *welge, res *result) *blCheck {
	c := &blCheck{TD: res.TD, Shock: w.Shock, Front: w.front(res.TD), TBreak: w.TBreak, TBreakSim: res.Breakthrough}
	prof := res.Profile
	dx := 1 / float64(len(prof))
	for _, p := range prof {
		c.L1 += math.Abs(p.S-w.sat(p.XD, res.TD)) * dx
	}
	c.FrontSim, c.ShockSim = measureFront(prof, cfg.Fluid.Swc, w.Shock)
	return c
}

// measureFront finds the simulated front as the downstream-most crossing
// of the mid-jump saturation, and the saturation behind it by a straight
// line through the profile a little upstream (outside the few cells over
// which upwinding smears the shock), extrapolated to the front.
func measureFront(p []profilePoint, swc, shock float64) (front, behind float64) {
	mid := swc + 0.5*(shock-swc)
	n := len(p)
	if n < 2 || p[n-1].S >= mid {
		return math.NaN(), math.NaN()
	}
	at := -1
	for i := n - 1; i > 0; i-- {
		if p[i-1].S >= mid && p[i].S < mid {
			at = i
			break
		}
	}
	if at < 0 {
		return math.NaN(), math.NaN()
	}
	a, b := p[at-1], p[at]
	front = a.XD + (a.S-mid)/(a.S-b.S)*(b.XD-a.XD)
	// Least-squares line through cells [at-2w, at-w).
	w := max(4, n/100)
	lo, hi := at-2*w, at-w
	if lo < 0 {
		return front, math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := lo; i < hi; i++ {
		x, y := p[i].XD, p[i].S
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	m := float64(hi - lo)
	slope := (m*sxy - sx*sy) / (m*sxx - sx*sx)
	behind = (sy + slope*(m*front-sx)) / m
	return front, behind
}

// sampleWaterCut picks the water cut at every step of PVI.
func sampleWaterCut(wc []wcPoint, step float64) []wcPoint {
	var out []wcPoint
	next := step
	for i, p := range wc {
		if p.TD+1e-9 >= next || i == len(wc)-1 {
			out = append(out, p)
			for next <= p.TD+1e-9 {
				next += step
			}
		}
	}
	return out
}
