package main

import (
	"fmt"
	"math"

	"github.com/mpx-hpc/mpx/comm"
)

// grid is one rank's block of a vertex-centred uniform grid on the unit
// cube, global nodes 0..n per direction (h = 1/n). The rank at process
// coordinate p in a direction owns nodes p*m+1 .. p*m+m (m = n/P); local
// slots 0 and m+1 hold the halos, or the wall (slot 0 when p = 0). Storage
// is x fastest, then y, then z.
type grid struct {
	n      int
	h      float64
	m      [3]int // owned nodes per direction
	a      [3]int // global index of local slot 0
	s      [3]int // strides of x, y, z
	lo, hi [3]int // inclusive local range of owned nodes off the walls
	size   int
}

func newGrid(n int, p *par) (grid, error) {
	g := grid{n: n, h: 1 / float64(n)}
	for d := range 3 {
		if n%p.dims[d] != 0 || n/p.dims[d] < 2 {
			return g, fmt.Errorf("%d intervals do not split into at least 2 per rank over the %d×%d×%d process grid", n, p.dims[0], p.dims[1], p.dims[2])
		}
		g.m[d] = n / p.dims[d]
		g.a[d] = p.coords[d] * g.m[d]
		g.lo[d], g.hi[d] = 1, g.m[d]
		if p.coords[d] == p.dims[d]-1 {
			g.hi[d]-- // node n is a wall
		}
	}
	g.s = [3]int{1, g.m[0] + 2, (g.m[0] + 2) * (g.m[1] + 2)}
	g.size = g.s[2] * (g.m[2] + 2)
	return g, nil
}

func (g grid) at(l, k, j int) int { return l + k*g.s[1] + j*g.s[2] }

// box is an inclusive range of local nodes.
type box struct{ lo, hi [3]int }

func (b box) empty() bool { return b.lo[0] > b.hi[0] || b.lo[1] > b.hi[1] || b.lo[2] > b.hi[2] }

// split divides the update range into the inner box, whose stencils read
// no halo, and the six (at most) slabs around it that do.
func (g grid) split() (inner box, border []box) {
	all := box{g.lo, g.hi}
	for d := range 3 {
		inner.lo[d], inner.hi[d] = max(g.lo[d], 2), min(g.hi[d], g.m[d]-1)
	}
	if inner.empty() {
		return box{lo: [3]int{1, 1, 1}}, []box{all}
	}
	rest := all
	for d := range 3 {
		below, above := rest, rest
		below.hi[d] = inner.lo[d] - 1
		above.lo[d] = inner.hi[d] + 1
		for _, b := range []box{below, above} {
			if !b.empty() {
				border = append(border, b)
			}
		}
		rest.lo[d], rest.hi[d] = inner.lo[d], inner.hi[d]
	}
	return inner, border
}

func (g grid) each(b box, fn func(i int)) {
	for j := b.lo[2]; j <= b.hi[2]; j++ {
		for k := b.lo[1]; k <= b.hi[1]; k++ {
			i0 := g.at(b.lo[0], k, j)
			for i := i0; i <= i0+b.hi[0]-b.lo[0]; i++ {
				fn(i)
			}
		}
	}
}

// halo exchanges the six faces of a field. Faces are packed into buffers;
// the exchange is posted, the caller computes, then finish unpacks.
type halo struct {
	g          grid
	send, recv [6][]float64 // face d*2 (low), d*2+1 (high)
	faces      [6]box       // owned face to send
	ghost      [6]box       // halo face to fill
	reqs       []request
}

func newHalo(g grid) *halo {
	h := &halo{g: g, reqs: make([]request, 0, 12)}
	full := box{hi: [3]int{g.m[0] + 1, g.m[1] + 1, g.m[2] + 1}}
	for d := range 3 {
		for s := range 2 {
			f, gh := full, full
			if s == 0 {
				f.lo[d], f.hi[d], gh.lo[d], gh.hi[d] = 1, 1, 0, 0
			} else {
				f.lo[d], f.hi[d], gh.lo[d], gh.hi[d] = g.m[d], g.m[d], g.m[d]+1, g.m[d]+1
			}
			n := (f.hi[0] - f.lo[0] + 1) * (f.hi[1] - f.lo[1] + 1) * (f.hi[2] - f.lo[2] + 1)
			h.faces[2*d+s], h.ghost[2*d+s] = f, gh
			h.send[2*d+s], h.recv[2*d+s] = make([]float64, n), make([]float64, n)
		}
	}
	return h
}

// Tag 1+face names the face a message leaves from: what rank r sends from
// its high face arrives in its upper neighbour's low halo.
func (h *halo) start(p *par, f []float64) error {
	for face := range 6 {
		d, s := face/2, face%2
		peer := p.lo[d]
		if s == 1 {
			peer = p.hi[d]
		}
		if peer == procNull {
			continue
		}
		n := 0
		h.g.each(h.faces[face], func(i int) { h.send[face][n] = f[i]; n++ })
		rq, err := p.irecv(h.recv[face], peer, 1+(face^1))
		if err != nil {
			return err
		}
		sq, err := p.isend(h.send[face], peer, 1+face)
		if err != nil {
			return err
		}
		h.reqs = append(h.reqs, rq, sq)
	}
	return nil
}

func (h *halo) finish(p *par, f []float64) error {
	err := p.waitall(h.reqs)
	h.reqs = h.reqs[:0]
	if err != nil {
		return err
	}
	for face := range 6 {
		d, s := face/2, face%2
		if (s == 0 && p.lo[d] == procNull) || (s == 1 && p.hi[d] == procNull) {
			continue
		}
		n := 0
		h.g.each(h.ghost[face], func(i int) { f[i] = h.recv[face][n]; n++ })
	}
	return nil
}

// apply sets q = A x on the update range, A the 7-point -∇², hiding the
// halo exchange of x behind the inner box.
func (h *halo) apply(p *par, x, q []float64) error {
	g := h.g
	ih2 := 1 / (g.h * g.h)
	sy, sz := g.s[1], g.s[2]
	kernel := func(i int) {
		q[i] = ih2 * (6*x[i] - x[i-1] - x[i+1] - x[i-sy] - x[i+sy] - x[i-sz] - x[i+sz])
	}
	if err := h.start(p, x); err != nil {
		return err
	}
	inner, border := g.split()
	if !inner.empty() {
		g.each(inner, kernel)
	}
	if err := h.finish(p, x); err != nil {
		return err
	}
	for _, b := range border {
		g.each(b, kernel)
	}
	return nil
}

// level is the outcome of one grid size.
type level struct {
	n          int     // intervals per direction
	iterations int     // CG iterations
	residual   float64 // final ‖f - A u‖₂ / ‖f‖₂
	maxErr     float64 // max over nodes of |u_h - u|
	ratio      float64 // u_h / u at the centre node
}

// solveLevel solves -∇²u = 3π² sin πx sin πy sin πz, u = 0 on the walls,
// with the 7-point Laplacian by conjugate gradients (the Jacobi
// preconditioner of this operator is a constant, so plain CG is the
// Jacobi-preconditioned method), dot products summed over all ranks.
func solveLevel(c *comm.Comm, n int, tol float64) (level, error) {
	p, err := newPar(c)
	if err != nil {
		return level{}, err
	}
	g, err := newGrid(n, p)
	if err != nil {
		return level{}, err
	}
	hl := newHalo(g)
	u, r, d, q := make([]float64, g.size), make([]float64, g.size), make([]float64, g.size), make([]float64, g.size)
	exact := make([]float64, g.size)
	all := box{g.lo, g.hi}
	var sn [3][]float64 // sin(π x_d) at each local node
	for dd := range 3 {
		sn[dd] = make([]float64, g.m[dd]+2)
		for l := range sn[dd] {
			sn[dd][l] = math.Sin(math.Pi * float64(g.a[dd]+l) * g.h)
		}
	}
	for j := g.lo[2]; j <= g.hi[2]; j++ {
		for k := g.lo[1]; k <= g.hi[1]; k++ {
			for l := g.lo[0]; l <= g.hi[0]; l++ {
				i := g.at(l, k, j)
				exact[i] = sn[0][l] * sn[1][k] * sn[2][j]
				d[i] = 3 * math.Pi * math.Pi * exact[i] // f, for now
				u[i] = rough(g.a[0]+l, g.a[1]+k, g.a[2]+j)
			}
		}
	}
	// From a zero guess the right-hand side, an exact eigenvector of the
	// discrete operator, would make CG finish in one step; a rough guess
	// (the same on every decomposition) makes it work through the spectrum.
	if err := hl.apply(p, u, q); err != nil {
		return level{}, err
	}
	g.each(all, func(i int) {
		r[i] = d[i] - q[i]
		d[i] = r[i]
	})
	dot := func(a, b []float64) (float64, error) {
		s := 0.0
		g.each(all, func(i int) { s += a[i] * b[i] })
		buf := []float64{s}
		err := p.sum(buf)
		return buf[0], err
	}
	// ‖f‖² in closed form: Σ sin² over n-1 nodes is n/2 per direction.
	ff := math.Pow(3*math.Pi*math.Pi, 2) * math.Pow(float64(n)/2, 3)
	rr, err := dot(r, r)
	if err != nil {
		return level{}, err
	}
	out := level{n: n}
	// CG converges in at most as many steps as unknowns; in practice O(n).
	for it := 1; it <= (n-1)*(n-1)*(n-1) && rr > tol*tol*ff; it++ {
		if err := hl.apply(p, d, q); err != nil {
			return out, err
		}
		dq, err := dot(d, q)
		if err != nil {
			return out, err
		}
		alpha := rr / dq
		g.each(all, func(i int) {
			u[i] += alpha * d[i]
			r[i] -= alpha * q[i]
		})
		rr1, err := dot(r, r)
		if err != nil {
			return out, err
		}
		beta := rr1 / rr
		rr = rr1
		g.each(all, func(i int) { d[i] = r[i] + beta*d[i] })
		out.iterations = it
	}
	out.residual = math.Sqrt(rr / ff)
	if math.IsNaN(out.residual) || out.residual > tol {
		return out, fmt.Errorf("CG on %d³ stopped at relative residual %.2e > %.1e", n, out.residual, tol)
	}
	e := 0.0
	g.each(all, func(i int) { e = math.Max(e, math.Abs(u[i]-exact[i])) })
	// The centre node n/2 (n even) is where u = 1; its owner reports u_h.
	centre := []float64{e, 0}
	if n%2 == 0 {
		var l [3]int
		mine := true
		for dd := range 3 {
			l[dd] = n/2 - g.a[dd]
			mine = mine && l[dd] >= 1 && l[dd] <= g.m[dd]
		}
		if mine {
			centre[1] = u[g.at(l[0], l[1], l[2])]
		}
	}
	if err := p.max(centre); err != nil {
		return out, err
	}
	out.maxErr, out.ratio = centre[0], centre[1]
	return out, nil
}

// rough is a deterministic value in [-1, 1) for global node (i, j, k), from
// an integer hash, so every decomposition starts from the same guess.
func rough(i, j, k int) float64 {
	x := uint64(i)*0x9E3779B97F4A7C15 ^ uint64(j)*0xC2B2AE3D27D4EB4F ^ uint64(k)*0x165667B19E3779F9
	x ^= x >> 29
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 32
	return float64(x>>11)/float64(1<<52) - 1
}
