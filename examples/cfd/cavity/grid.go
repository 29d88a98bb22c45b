package main

import "fmt"

// grid is one rank's block of a vertex-centred uniform grid over the unit
// square, global nodes 0..n in each direction (n intervals, h = 1/n).
//
// Ownership: the rank at process coordinate p in a direction holds intervals
// [a, a+m] with a = p*m, m = n/P, and owns nodes a+1..a+m; node a belongs to
// the neighbour below (or is the wall when p = 0). Local index l = i - a runs
// 0..m+1: slots 0 and m+1 are halos (or the wall at slot 0 when p = 0).
// Because every rank owns the same number of nodes and a is a multiple of
// m, halving m and a gives the nested coarse grid multigrid needs.
type grid struct {
	n      int     // global intervals per direction
	h      float64 // spacing
	mx, my int     // local intervals (owned nodes) per direction
	ax, ay int     // global index of local slot 0
	nx, ny int     // stored nodes per direction, m+2
	// Inclusive local ranges of the owned nodes that are not on a wall:
	// the nodes a stencil update touches.
	il, ih, jl, jh int
}

func newGrid(n, px, py, cx, cy int) (grid, error) {
	if n%px != 0 || n%py != 0 {
		return grid{}, fmt.Errorf("grid of %d intervals does not split evenly over a %d×%d process grid", n, px, py)
	}
	g := grid{n: n, h: 1 / float64(n), mx: n / px, my: n / py}
	g.ax, g.ay = cx*g.mx, cy*g.my
	g.nx, g.ny = g.mx+2, g.my+2
	g.il, g.ih, g.jl, g.jh = 1, g.mx, 1, g.my
	if cx == px-1 {
		g.ih-- // node n is the east wall
	}
	if cy == py-1 {
		g.jh--
	}
	return g, nil
}

// coarse returns the grid with every other node, or false when this grid
// cannot be halved on every rank.
func (g grid) coarse(px, py int) (grid, bool) {
	if g.mx%2 != 0 || g.my%2 != 0 || g.n < 4 {
		return grid{}, false
	}
	c, err := newGrid(g.n/2, px, py, g.ax/g.mx, g.ay/g.my)
	if err != nil {
		return grid{}, false
	}
	return c, true
}

func (g grid) size() int { return g.nx * g.ny }

// at is the storage index of local node (l, k); x varies fastest.
func (g grid) at(l, k int) int { return k*g.nx + l }

// rect is an inclusive range of local nodes.
type rect struct{ l0, l1, k0, k1 int }

func (r rect) empty() bool { return r.l0 > r.l1 || r.k0 > r.k1 }

// split divides the update range into the inner part, whose stencils read
// only owned nodes, and the border strips, whose stencils read halos. The
// inner part is computed while halo messages are in flight.
func (g grid) split() (inner rect, border []rect) {
	all := rect{g.il, g.ih, g.jl, g.jh}
	inner = rect{max(g.il, 2), min(g.ih, g.mx-1), max(g.jl, 2), min(g.jh, g.my-1)}
	if inner.empty() {
		return rect{1, 0, 1, 0}, []rect{all}
	}
	for _, r := range []rect{
		{all.l0, all.l1, all.k0, inner.k0 - 1},     // south strip
		{all.l0, all.l1, inner.k1 + 1, all.k1},     // north strip
		{all.l0, inner.l0 - 1, inner.k0, inner.k1}, // west strip
		{inner.l1 + 1, all.l1, inner.k0, inner.k1}, // east strip
	} {
		if !r.empty() {
			border = append(border, r)
		}
	}
	return inner, border
}

// owned reports the local ranges of nodes this rank writes when a global
// field is assembled: its owned nodes, plus the wall at slot 0 on the ranks
// at the low end of each direction.
func (g grid) owned() rect {
	r := rect{1, g.mx, 1, g.my}
	if g.ax == 0 {
		r.l0 = 0
	}
	if g.ay == 0 {
		r.k0 = 0
	}
	return r
}
