package main

import (
	"math"

	"github.com/mpx-hpc/mpx/comm"
)

// The stencils of NPB MG (RNR-94-007, MG): A, the 27-point discrete
// Laplacian, weighs a point, its 6 face, 12 edge and 8 corner neighbours
// by a[0..3]; the smoother C likewise by c[0..3]. NPB takes a[1] = 0 and
// c[3] = 0 and drops those terms; so do we, keeping NPB's order of
// additions.
var a = [4]float64{-8.0 / 3.0, 0, 1.0 / 6.0, 1.0 / 12.0}

// smoother returns c: S(a) for classes S, W and A, S(b) for the others.
func smoother(class string) [4]float64 {
	switch class {
	case "S", "W", "A":
		return [4]float64{-3.0 / 8.0, 1.0 / 32.0, -1.0 / 64.0, 0}
	}
	return [4]float64{-3.0 / 17.0, 1.0 / 33.0, -1.0 / 61.0, 0}
}

func zero(u []float64) { clear(u) }

// sums fills s1 with the sums of the 4 face neighbours in the (i2, i3)
// plane and s2 with the 4 edge neighbours, for every i1 of row (i2, i3).
func (l *level) sums(u []float64, i2, i3 int, s1, s2 []float64) {
	n1 := l.ln[0]
	ym, yp := l.idx(0, i2-1, i3), l.idx(0, i2+1, i3)
	zm, zp := l.idx(0, i2, i3-1), l.idx(0, i2, i3+1)
	mm, pm := l.idx(0, i2-1, i3-1), l.idx(0, i2+1, i3-1)
	mp, pp := l.idx(0, i2-1, i3+1), l.idx(0, i2+1, i3+1)
	uym, uyp, uzm, uzp := u[ym:ym+n1], u[yp:yp+n1], u[zm:zm+n1], u[zp:zp+n1]
	umm, upm, ump, upp := u[mm:mm+n1], u[pm:pm+n1], u[mp:mp+n1], u[pp:pp+n1]
	s1, s2 = s1[:n1], s2[:n1]
	for i1 := range s1 {
		s1[i1] = uym[i1] + uyp[i1] + uzm[i1] + uzp[i1]
		s2[i1] = umm[i1] + upm[i1] + ump[i1] + upp[i1]
	}
}

// resid sets r = v − A·u on the interior and exchanges r's ghosts. r may
// be v.
func (l *level) resid(u, v, r []float64, w1, w2 []float64) error {
	n1 := l.ln[0]
	for i3 := 1; i3 <= l.m[2]; i3++ {
		for i2 := 1; i2 <= l.m[1]; i2++ {
			l.sums(u, i2, i3, w1, w2)
			b := l.idx(0, i2, i3)
			ur, vr, rr := u[b:b+n1], v[b:b+n1], r[b:b+n1]
			u1, u2 := w1[:n1], w2[:n1]
			for i1 := 1; i1 < n1-1; i1++ {
				rr[i1] = vr[i1] - a[0]*ur[i1] -
					a[2]*(u2[i1]+u1[i1-1]+u1[i1+1]) -
					a[3]*(u2[i1-1]+u2[i1+1])
			}
		}
	}
	return l.comm3(r)
}

// psinv applies the smoother, u = u + C·r, and exchanges u's ghosts.
func (l *level) psinv(r, u []float64, c [4]float64, w1, w2 []float64) error {
	n1 := l.ln[0]
	for i3 := 1; i3 <= l.m[2]; i3++ {
		for i2 := 1; i2 <= l.m[1]; i2++ {
			l.sums(r, i2, i3, w1, w2)
			b := l.idx(0, i2, i3)
			ur, rr := u[b:b+n1], r[b:b+n1]
			r1, r2 := w1[:n1], w2[:n1]
			for i1 := 1; i1 < n1-1; i1++ {
				ur[i1] = ur[i1] + c[0]*rr[i1] +
					c[1]*(rr[i1-1]+rr[i1+1]+r1[i1]) +
					c[2]*(r2[i1]+r1[i1-1]+r1[i1+1])
			}
		}
	}
	return l.comm3(u)
}

// rprj3 restricts r on fine level l to s on the coarser level cl by NPB's
// trilinear finite-element projection (weights 1/2, 1/4, 1/8, 1/16) and
// exchanges s's ghosts. Coarse point j lies on fine point 2j (ghost-
// layer indices), global fine 2J+1 for global coarse J.
func rprj3(l *level, r []float64, cl *level, s []float64, w1, w2 []float64) error {
	x1, y1 := w1[:l.ln[0]], w2[:l.ln[0]]
	for j3 := 1; j3 <= cl.m[2]; j3++ {
		i3 := 2 * j3
		for j2 := 1; j2 <= cl.m[1]; j2++ {
			i2 := 2 * j2
			for j1 := 1; j1 <= cl.m[0]+1; j1++ {
				i1 := 2*j1 - 1
				x1[i1] = r[l.idx(i1, i2-1, i3)] + r[l.idx(i1, i2+1, i3)] +
					r[l.idx(i1, i2, i3-1)] + r[l.idx(i1, i2, i3+1)]
				y1[i1] = r[l.idx(i1, i2-1, i3-1)] + r[l.idx(i1, i2-1, i3+1)] +
					r[l.idx(i1, i2+1, i3-1)] + r[l.idx(i1, i2+1, i3+1)]
			}
			for j1 := 1; j1 <= cl.m[0]; j1++ {
				i1 := 2 * j1
				y2 := r[l.idx(i1, i2-1, i3-1)] + r[l.idx(i1, i2-1, i3+1)] +
					r[l.idx(i1, i2+1, i3-1)] + r[l.idx(i1, i2+1, i3+1)]
				x2 := r[l.idx(i1, i2-1, i3)] + r[l.idx(i1, i2+1, i3)] +
					r[l.idx(i1, i2, i3-1)] + r[l.idx(i1, i2, i3+1)]
				c := l.idx(i1, i2, i3)
				s[cl.idx(j1, j2, j3)] = 0.5*r[c] +
					0.25*(r[c-1]+r[c+1]+x2) +
					0.125*(x1[i1-1]+x1[i1+1]+y2) +
					0.0625*(y1[i1-1]+y1[i1+1])
			}
		}
	}
	return cl.comm3(s)
}

// interp adds the trilinear interpolation of z on the coarse level cl to
// u on the fine level l, ghosts included: the fine ghosts are computed
// from the coarse ghosts exactly as the neighbour computes those points,
// so u needs no exchange afterwards.
func interp(cl *level, z []float64, l *level, u []float64, w1, w2, w3 []float64) {
	mm1 := cl.ln[0]
	z1, z2, z3 := w1[:mm1], w2[:mm1], w3[:mm1]
	for c3 := 0; c3 < cl.ln[2]-1; c3++ {
		for c2 := 0; c2 < cl.ln[1]-1; c2++ {
			b, by, bz, byz := cl.idx(0, c2, c3), cl.idx(0, c2+1, c3), cl.idx(0, c2, c3+1), cl.idx(0, c2+1, c3+1)
			for c1 := 0; c1 < mm1; c1++ {
				z1[c1] = z[by+c1] + z[b+c1]
				z2[c1] = z[bz+c1] + z[b+c1]
				z3[c1] = z[byz+c1] + z[bz+c1] + z1[c1]
			}
			u00 := l.idx(0, 2*c2, 2*c3)
			u10 := l.idx(0, 2*c2+1, 2*c3)
			u01 := l.idx(0, 2*c2, 2*c3+1)
			u11 := l.idx(0, 2*c2+1, 2*c3+1)
			for c1 := 0; c1 < mm1-1; c1++ {
				f := 2 * c1
				u[u00+f] += z[b+c1]
				u[u00+f+1] += 0.5 * (z[b+c1+1] + z[b+c1])
			}
			for c1 := 0; c1 < mm1-1; c1++ {
				f := 2 * c1
				u[u10+f] += 0.5 * z1[c1]
				u[u10+f+1] += 0.25 * (z1[c1] + z1[c1+1])
			}
			for c1 := 0; c1 < mm1-1; c1++ {
				f := 2 * c1
				u[u01+f] += 0.5 * z2[c1]
				u[u01+f+1] += 0.25 * (z2[c1] + z2[c1+1])
			}
			for c1 := 0; c1 < mm1-1; c1++ {
				f := 2 * c1
				u[u11+f] += 0.25 * z3[c1]
				u[u11+f+1] += 0.125 * (z3[c1] + z3[c1+1])
			}
		}
	}
}

// norm2u3 returns the L2 norm sqrt(Σr²/ng³) and the max norm of r over
// the whole grid.
func (l *level) norm2u3(r []float64) (rnm2, rnmu float64, err error) {
	s, mx := 0.0, 0.0
	n1 := l.ln[0]
	for i3 := 1; i3 <= l.m[2]; i3++ {
		for i2 := 1; i2 <= l.m[1]; i2++ {
			b := l.idx(0, i2, i3)
			for _, x := range r[b+1 : b+n1-1] {
				s += x * x
				mx = max(mx, math.Abs(x))
			}
		}
	}
	if l.c != nil && l.c.Size() > 1 {
		in, out := []float64{s}, []float64{0}
		if err := comm.Allreduce(l.c, in, out, comm.Sum); err != nil {
			return 0, 0, err
		}
		s = out[0]
		in[0] = mx
		if err := comm.Allreduce(l.c, in, out, comm.Max); err != nil {
			return 0, 0, err
		}
		mx = out[0]
	}
	dn := float64(l.ng) * float64(l.ng) * float64(l.ng)
	return math.Sqrt(s / dn), mx, nil
}
