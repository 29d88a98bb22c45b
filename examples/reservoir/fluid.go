package main

import (
	"fmt"
	"math"
)

// se is the normalised water saturation, clamped to [0, 1] so that
// round-off beyond the residuals cannot produce negative mobilities.
func (f *fluid) se(s float64) float64 {
	e := (s - f.Swc) / (1 - f.Swc - f.Sor)
	return min(max(e, 0), 1)
}

// mobilities returns the water and oil mobilities kr/µ at saturation s.
func (f *fluid) mobilities(s float64) (lw, lo float64) {
	e := f.se(s)
	return f.KrwMax * pow(e, f.NW) / f.MuW, f.KroMax * pow(1-e, f.NO) / f.MuO
}

// pow is math.Pow with a fast path for the small integer exponents that
// Corey curves usually have; it runs for every cell at every step.
func pow(x, n float64) float64 {
	switch n {
	case 1:
		return x
	case 2:
		return x * x
	case 3:
		return x * x * x
	case 4:
		x2 := x * x
		return x2 * x2
	}
	return math.Pow(x, n)
}

// fw is the water fractional flow λw/(λw+λo) (no gravity, no capillarity).
func (f *fluid) fw(s float64) float64 {
	lw, lo := f.mobilities(s)
	return lw / (lw + lo)
}

// dfw is the derivative of fw with respect to s, from the analytic
// derivatives of the Corey curves.
func (f *fluid) dfw(s float64) float64 {
	d := 1 - f.Swc - f.Sor
	e := (s - f.Swc) / d
	if e <= 0 || e >= 1 {
		// The one-sided derivative at the ends is 0 for exponents > 1 and
		// finite for exponent 1; evaluate just inside.
		e = min(max(e, 1e-12), 1-1e-12)
	}
	lw := f.KrwMax * math.Pow(e, f.NW) / f.MuW
	lo := f.KroMax * math.Pow(1-e, f.NO) / f.MuO
	dlw := f.KrwMax * f.NW * math.Pow(e, f.NW-1) / f.MuW
	dlo := -f.KroMax * f.NO * math.Pow(1-e, f.NO-1) / f.MuO
	t := lw + lo
	return (dlw*lo - lw*dlo) / (t * t) / d
}

// maxDfw bounds f'(s) on [Swc, 1-Sor]: the wave speed that limits the
// explicit time step. Sampled densely, then padded by a percent.
func (f *fluid) maxDfw() float64 {
	m := 0.0
	const n = 4000
	for i := 0; i <= n; i++ {
		s := f.Swc + (1-f.Swc-f.Sor)*float64(i)/n
		m = max(m, f.dfw(s))
	}
	return 1.01 * m
}

// welge is the analytic Buckley–Leverett solution for injecting water
// (f=1) into a medium at Swc (f=0).
type welge struct {
	f      *fluid
	Shock  float64 // saturation behind the front (Swc when the front is a pure rarefaction)
	FShock float64 // fw at Shock
	Speed  float64 // front speed dx_D/dt_D
	TBreak float64 // breakthrough time in pore volumes injected
	AvgS   float64 // average saturation behind the front
}

// newWelge finds the Welge tangent from (Swc, 0) to the fractional-flow
// curve: the shock saturation maximises fw(s)/(s-Swc), the speed of a
// shock from Swc. A dense scan brackets the maximum, bisection on the
// tangency condition f'(s)(s-Swc) = f(s) refines it. Behind the shock the
// solution is the rarefaction x_D = t_D f'(s), which needs f' to decrease
// on [shock, 1-Sor]; curves that do not (not S-shaped) are refused.
func newWelge(f *fluid) (*welge, error) {
	lo, hi := f.Swc, 1-f.Sor
	w := &welge{f: f}
	const n = 20000
	best, bestS := -1.0, hi
	ratio := func(s float64) float64 { return f.fw(s) / (s - lo) }
	for i := 1; i <= n; i++ {
		s := lo + (hi-lo)*float64(i)/n
		if r := ratio(s); r > best {
			best, bestS = r, s
		}
	}
	g := func(s float64) float64 { return f.dfw(s)*(s-lo) - f.fw(s) }
	step := (hi - lo) / n
	switch {
	case bestS >= hi-step/2:
		// Piston-like displacement: the whole jump is one shock.
		w.Shock = hi
	case bestS <= lo+step*1.5:
		// Concave fractional flow: no shock, the front is the fastest
		// characteristic f'(Swc).
		w.Shock = lo
	default:
		a, b := bestS-step, bestS+step
		if g(a)*g(b) > 0 {
			w.Shock = bestS
			break
		}
		for range 200 {
			m := 0.5 * (a + b)
			if g(a)*g(m) <= 0 {
				b = m
			} else {
				a = m
			}
		}
		w.Shock = 0.5 * (a + b)
	}
	if w.Shock == lo {
		w.FShock = 0
		w.Speed = f.dfw(lo)
	} else {
		w.FShock = f.fw(w.Shock)
		w.Speed = w.FShock / (w.Shock - lo)
	}
	w.TBreak = 1 / w.Speed
	// Welge: the average saturation behind the front at breakthrough is
	// Swc + 1/f'(S*) = Swc + 1/speed.
	w.AvgS = lo + 1/w.Speed
	prev := math.Inf(1)
	for i := 0; i <= 1000; i++ {
		s := w.Shock + (hi-w.Shock)*float64(i)/1000
		d := f.dfw(s)
		if d > prev*(1+1e-9)+1e-12 {
			return nil, fmt.Errorf("fractional flow is not S-shaped for muw=%g cP muo=%g cP nw=%g no=%g: f' rises behind the front at s=%.4f, no Welge solution",
				f.MuW/centiPoise, f.MuO/centiPoise, f.NW, f.NO, s)
		}
		prev = d
	}
	return w, nil
}

// front is the front position x_D at time t_D (pore volumes injected).
func (w *welge) front(tD float64) float64 { return tD * w.Speed }

// sat is the analytic saturation at x_D and t_D.
func (w *welge) sat(xD, tD float64) float64 {
	f := w.f
	hi := 1 - f.Sor
	if tD <= 0 || xD >= w.front(tD) {
		return f.Swc
	}
	if w.Shock >= hi {
		return hi
	}
	// Rarefaction: f'(s) = x_D/t_D with s in [Shock, 1-Sor], f' decreasing.
	v := xD / tD
	if v <= f.dfw(hi) {
		return hi
	}
	a, b := w.Shock, hi
	if w.Shock == f.Swc {
		a = f.Swc
	}
	for range 100 {
		m := 0.5 * (a + b)
		if f.dfw(m) > v {
			a = m
		} else {
			b = m
		}
	}
	return 0.5 * (a + b)
}
