package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/examples/npb/internal/npb"
)

// solver holds one rank's multigrid hierarchy. Levels kmin..lt are split
// over the process grid; when the process grid is wider than the coarse
// grids (kmin > 1), level kmin is also gathered onto every rank as a
// serial grid and the levels below it are solved redundantly there.
type solver struct {
	p      npb.MGParams
	c      [4]float64
	lt     int
	kmin   int
	d      *decomp
	lv     []*level    // lv[k] for k = kmin..lt, distributed
	u, r   [][]float64 // per distributed level
	v      []float64   // right-hand side on lt
	ser    []*level    // ser[k] for k = 1..kmin when kmin > 1, whole cube
	su, sr [][]float64
	w      [3][]float64 // row scratch
	gbuf   []float64    // gathered blocks of level kmin
	blocks [][3]int     // offsets of every rank's block on level kmin
}

func newSolver(c *comm.Comm, p npb.MGParams) (*solver, error) {
	lt := 0
	for 1<<lt < p.N {
		lt++
	}
	if 1<<lt != p.N || lt < 2 {
		return nil, fmt.Errorf("MG grid %d is not a power of two ≥ 4", p.N)
	}
	d, err := newDecomp(c, p.N)
	if err != nil {
		return nil, err
	}
	s := &solver{p: p, c: smoother(p.Class), lt: lt, d: d}
	s.kmin = 1
	for !d.distributed(1 << s.kmin) {
		s.kmin++
	}
	s.lv = make([]*level, lt+1)
	s.u, s.r = make([][]float64, lt+1), make([][]float64, lt+1)
	for k := s.kmin; k <= lt; k++ {
		if s.lv[k], err = newLevel(k, d); err != nil {
			return nil, err
		}
		s.u[k], s.r[k] = make([]float64, s.lv[k].size()), make([]float64, s.lv[k].size())
	}
	s.v = make([]float64, s.lv[lt].size())
	if s.kmin > 1 {
		s.ser = make([]*level, s.kmin+1)
		s.su, s.sr = make([][]float64, s.kmin+1), make([][]float64, s.kmin+1)
		for k := 1; k <= s.kmin; k++ {
			if s.ser[k], err = newLevel(k, nil); err != nil {
				return nil, err
			}
			s.su[k], s.sr[k] = make([]float64, s.ser[k].size()), make([]float64, s.ser[k].size())
		}
		lk := s.lv[s.kmin]
		s.gbuf = make([]float64, c.Size()*lk.m[0]*lk.m[1]*lk.m[2])
		s.blocks = make([][3]int, c.Size())
		for r := range s.blocks {
			co, err := d.cart.Coords(r)
			if err != nil {
				return nil, err
			}
			for ax := 0; ax < 3; ax++ {
				s.blocks[r][ax] = co[2-ax] * lk.m[ax]
			}
		}
	}
	n := s.lv[lt].ln[0] + 1
	for i := range s.w {
		s.w[i] = make([]float64, n)
	}
	return s, nil
}

// gather copies the interior of r on level kmin from every rank into the
// serial level kmin and fills its periodic ghosts.
func (s *solver) gather(r []float64) error {
	l, g := s.lv[s.kmin], s.ser[s.kmin]
	n := l.m[0] * l.m[1] * l.m[2]
	mine := make([]float64, 0, n)
	for i3 := 1; i3 <= l.m[2]; i3++ {
		for i2 := 1; i2 <= l.m[1]; i2++ {
			b := l.idx(1, i2, i3)
			mine = append(mine, r[b:b+l.m[0]]...)
		}
	}
	if err := comm.Allgather(s.d.cart, mine, s.gbuf); err != nil {
		return fmt.Errorf("MG gather of level %d: %w", s.kmin, err)
	}
	out := s.sr[s.kmin]
	for rk, off := range s.blocks {
		blk := s.gbuf[rk*n : (rk+1)*n]
		j := 0
		for i3 := 1; i3 <= l.m[2]; i3++ {
			for i2 := 1; i2 <= l.m[1]; i2++ {
				b := g.idx(off[0]+1, off[1]+i2, off[2]+i3)
				copy(out[b:b+l.m[0]], blk[j:j+l.m[0]])
				j += l.m[0]
			}
		}
	}
	return g.comm3(out)
}

// scatter copies this rank's block of the serial u on level kmin, ghosts
// included (periodic wrap), into the distributed level.
func (s *solver) scatter() {
	l, g := s.lv[s.kmin], s.ser[s.kmin]
	src, dst := s.su[s.kmin], s.u[s.kmin]
	wrap := func(i int) int { return (i+g.ng)%g.ng + 1 }
	for i3 := 0; i3 < l.ln[2]; i3++ {
		g3 := wrap(l.off[2] + i3 - 1)
		for i2 := 0; i2 < l.ln[1]; i2++ {
			g2 := wrap(l.off[1] + i2 - 1)
			for i1 := 0; i1 < l.ln[0]; i1++ {
				dst[l.idx(i1, i2, i3)] = src[g.idx(wrap(l.off[0]+i1-1), g2, g3)]
			}
		}
	}
}

// upCycle does one level of the upward sweep: u = Q·u_coarse, r = r − A·u,
// u = u + C·r.
func (s *solver) upCycle(cl *level, zc []float64, l *level, u, r []float64) error {
	zero(u)
	interp(cl, zc, l, u, s.w[0], s.w[1], s.w[2])
	if err := l.resid(u, r, r, s.w[0], s.w[1]); err != nil {
		return err
	}
	return l.psinv(r, u, s.c, s.w[0], s.w[1])
}

// mg3P is one V-cycle (NPB's mg3P): restrict the residual to the coarsest
// grid, smooth there, then interpolate, correct and smooth on the way up.
func (s *solver) mg3P() error {
	for k := s.lt; k > s.kmin; k-- {
		if err := rprj3(s.lv[k], s.r[k], s.lv[k-1], s.r[k-1], s.w[0], s.w[1]); err != nil {
			return err
		}
	}
	if s.kmin > 1 {
		if err := s.gather(s.r[s.kmin]); err != nil {
			return err
		}
		for k := s.kmin; k > 1; k-- {
			if err := rprj3(s.ser[k], s.sr[k], s.ser[k-1], s.sr[k-1], s.w[0], s.w[1]); err != nil {
				return err
			}
		}
		zero(s.su[1])
		if err := s.ser[1].psinv(s.sr[1], s.su[1], s.c, s.w[0], s.w[1]); err != nil {
			return err
		}
		for k := 2; k <= s.kmin; k++ {
			if err := s.upCycle(s.ser[k-1], s.su[k-1], s.ser[k], s.su[k], s.sr[k]); err != nil {
				return err
			}
		}
		s.scatter()
	} else {
		zero(s.u[1])
		if err := s.lv[1].psinv(s.r[1], s.u[1], s.c, s.w[0], s.w[1]); err != nil {
			return err
		}
	}
	for k := s.kmin + 1; k < s.lt; k++ {
		if err := s.upCycle(s.lv[k-1], s.u[k-1], s.lv[k], s.u[k], s.r[k]); err != nil {
			return err
		}
	}
	top := s.lv[s.lt]
	interp(s.lv[s.lt-1], s.u[s.lt-1], top, s.u[s.lt], s.w[0], s.w[1], s.w[2])
	if err := top.resid(s.u[s.lt], s.v, s.r[s.lt], s.w[0], s.w[1]); err != nil {
		return err
	}
	return top.psinv(s.r[s.lt], s.u[s.lt], s.c, s.w[0], s.w[1])
}

// mops is NPB MG's operation count (58 per point per iteration) over t
// seconds, in millions per second.
func mops(p npb.MGParams, t float64) float64 {
	if t == 0 {
		return 0
	}
	nn := float64(p.N) * float64(p.N) * float64(p.N)
	return 58 * float64(p.Nit) * nn / t / 1e6
}

// Run runs MG class p on c and returns the report (the same on every
// rank). Progress lines go to log when it is not nil.
func Run(c *comm.Comm, p npb.MGParams, log io.Writer) (npb.Report, error) {
	rep := npb.Report{Name: "MG", Class: p.Class, Size: fmt.Sprintf("%dx%dx%d", p.N, p.N, p.N),
		Iterations: p.Nit, Ranks: c.Size(), Label: "L2 norm", Reference: p.RNM2, Epsilon: npb.MGEpsilon}
	t0 := time.Now()
	s, err := newSolver(c, p)
	if err != nil {
		return rep, err
	}
	defer s.d.cart.Free()
	top := s.lv[s.lt]
	start := func() error {
		zero(s.u[s.lt])
		if err := s.zran3(); err != nil {
			return err
		}
		return top.resid(s.u[s.lt], s.v, s.r[s.lt], s.w[0], s.w[1])
	}
	// One untimed V-cycle to touch all data, then start again, as NPB.
	if err := start(); err != nil {
		return rep, err
	}
	if err := s.mg3P(); err != nil {
		return rep, err
	}
	if err := start(); err != nil {
		return rep, err
	}
	if log != nil {
		fmt.Fprintf(log, " Initialization time: %15.3f seconds\n", time.Since(t0).Seconds())
		fmt.Fprintf(log, " Process grid %d x %d x %d; levels 1..%d split from level %d\n\n",
			s.d.p[0], s.d.p[1], s.d.p[2], s.lt, s.kmin)
	}
	if err := comm.Barrier(c); err != nil {
		return rep, err
	}
	begin, cpu0 := time.Now(), npb.ProcessCPU()
	// The timed section, as NPB's: residual of the initial guess, nit
	// V-cycles each followed by the residual, and the final norm.
	if err := top.resid(s.u[s.lt], s.v, s.r[s.lt], s.w[0], s.w[1]); err != nil {
		return rep, err
	}
	if _, _, err := top.norm2u3(s.r[s.lt]); err != nil {
		return rep, err
	}
	for it := 1; it <= p.Nit; it++ {
		if log != nil && (it == 1 || it == p.Nit || it%5 == 0) {
			fmt.Fprintf(log, "  iter %3d\n", it)
		}
		if err := s.mg3P(); err != nil {
			return rep, err
		}
		if err := top.resid(s.u[s.lt], s.v, s.r[s.lt], s.w[0], s.w[1]); err != nil {
			return rep, err
		}
	}
	rnm2, _, err := top.norm2u3(s.r[s.lt])
	if err != nil {
		return rep, err
	}
	t := []float64{time.Since(begin).Seconds()}
	cpu := []float64{(npb.ProcessCPU() - cpu0).Seconds()}
	tmax, cpuSum := []float64{0}, []float64{0}
	if err := comm.Allreduce(c, t, tmax, comm.Max); err != nil {
		return rep, err
	}
	if err := comm.Allreduce(c, cpu, cpuSum, comm.Sum); err != nil {
		return rep, err
	}
	rep.CPUSeconds = cpuSum[0]
	rep.Seconds, rep.Value, rep.Mops = tmax[0], rnm2, mops(p, tmax[0])
	return rep, nil
}

// charge is a candidate point of zran3: a random value and its global
// linear index (i1 + n·(i2 + n·i3), zero-based).
type charge struct {
	val float64
	pos int
}

// nCharges is how many +1 and how many −1 points zran3 places.
const nCharges = 10

// zran3 sets v to NPB's right-hand side: fill the grid with the NPB
// random sequence in i1-fastest global order (point g gets the (g+1)-th
// number from the seed), put −1 at the ten smallest values and +1 at the
// ten largest, zero elsewhere. Each rank draws its own block by jumping
// the generator; the candidates are then chosen over all ranks.
func (s *solver) zran3() error {
	l, n := s.lv[s.lt], s.p.N
	row := make([]float64, l.m[0])
	var big, small []charge // the largest and smallest values so far
	keep := func(list []charge, c charge, better func(a, b float64) bool) []charge {
		if len(list) == nCharges && !better(c.val, list[len(list)-1].val) {
			return list
		}
		i := len(list)
		for i > 0 && better(c.val, list[i-1].val) {
			i--
		}
		list = slices.Insert(list, i, c)
		if len(list) > nCharges {
			list = list[:nCharges]
		}
		return list
	}
	gt := func(a, b float64) bool { return a > b }
	lt := func(a, b float64) bool { return a < b }
	for i3 := 0; i3 < l.m[2]; i3++ {
		for i2 := 0; i2 < l.m[1]; i2++ {
			g := l.off[0] + n*(l.off[1]+i2+n*(l.off[2]+i3))
			x := float64(npb.Seed)
			npb.Randlc(&x, npb.Power(npb.A, g))
			npb.Vranlc(row, &x, npb.A)
			for i1, val := range row {
				c := charge{val, g + i1}
				big = keep(big, c, gt)
				small = keep(small, c, lt)
			}
		}
	}
	// Every rank's candidates, padded to nCharges with position −1.
	pack := make([]float64, 4*nCharges)
	for i := 0; i < nCharges; i++ {
		pack[i], pack[nCharges+i] = 0, -1
		pack[2*nCharges+i], pack[3*nCharges+i] = 1, -1
		if i < len(big) {
			pack[i], pack[nCharges+i] = big[i].val, float64(big[i].pos)
		}
		if i < len(small) {
			pack[2*nCharges+i], pack[3*nCharges+i] = small[i].val, float64(small[i].pos)
		}
	}
	all := make([]float64, len(pack)*s.d.cart.Size())
	if err := comm.Allgather(s.d.cart, pack, all); err != nil {
		return fmt.Errorf("MG zran3 candidates: %w", err)
	}
	big, small = big[:0], small[:0]
	for r := 0; r < s.d.cart.Size(); r++ {
		q := all[r*len(pack):]
		for i := 0; i < nCharges; i++ {
			if q[nCharges+i] >= 0 {
				big = keep(big, charge{q[i], int(q[nCharges+i])}, gt)
			}
			if q[3*nCharges+i] >= 0 {
				small = keep(small, charge{q[2*nCharges+i], int(q[3*nCharges+i])}, lt)
			}
		}
	}
	v := s.v
	zero(v)
	set := func(pos int, val float64) {
		g := [3]int{pos % n, pos / n % n, pos / (n * n)}
		for ax := 0; ax < 3; ax++ {
			g[ax] -= l.off[ax]
			if g[ax] < 0 || g[ax] >= l.m[ax] {
				return
			}
		}
		v[l.idx(g[0]+1, g[1]+1, g[2]+1)] = val
	}
	for _, c := range small {
		set(c.pos, -1)
	}
	for _, c := range big {
		set(c.pos, +1)
	}
	return l.comm3(v)
}
