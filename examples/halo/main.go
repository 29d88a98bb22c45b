// Command halo exchanges halos on a 2-D periodic Cartesian grid, the
// communication pattern of every stencil code, and checks the result.
//
// A global nx×ny field is split into blocks, one per rank, each with a
// one-cell ghost layer. Every cell holds a value computed from its global
// coordinates, so after the exchange each ghost cell can be checked
// against the value its owner holds. The edges go through one
// NeighborAlltoall; the corners follow with point-to-point messages to the
// diagonal neighbours (found with RankOf), as 9-point stencils need. Then
// -steps Jacobi sweeps of the periodic heat equation run with the same
// exchange, and the sum of the field, which a periodic diffusion conserves,
// is checked through Allreduce.
//
// With -rma the ghost layers are filled one-sidedly instead: each rank
// exposes its block in a comm.Window and, between two Fences, puts its
// edges and corners straight into its neighbours' ghost cells. The
// results are the same bits as with messages.
//
//	mpx run -n 4 ./examples/halo -nx 64 -ny 48 [-rma]
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/mpx-hpc/mpx/comm"
)

type config struct {
	nx, ny, steps int
	rma           bool // fill ghosts with one-sided Puts
}

// block is one rank's part of the field, with a ghost layer.
type block struct {
	cart   *comm.Comm
	x0, y0 int // global coordinates of the first interior cell
	w, h   int // interior size
	u      []float64
	win    *comm.Window[float64] // over u, with -rma
}

func (b *block) at(i, j int) *float64 { return &b.u[(j+1)*(b.w+2)+i+1] } // i, j from -1 to w, h

// value is the field's initial value at global (gx, gy), periodic.
func value(gx, gy, nx, ny int) float64 {
	gx, gy = (gx+nx)%nx, (gy+ny)%ny
	return math.Sin(2*math.Pi*float64(gx)/float64(nx)) + 0.5*math.Cos(2*math.Pi*float64(gy)/float64(ny)) + float64(gx*ny+gy)*1e-6
}

func newBlock(c *comm.Comm, cfg config) (*block, error) {
	dims, err := comm.DimsCreate(c.Size(), []int{0, 0})
	if err != nil {
		return nil, err
	}
	if cfg.nx%dims[0] != 0 || cfg.ny%dims[1] != 0 {
		return nil, fmt.Errorf("%w: a %d×%d grid does not split evenly over a %d×%d process grid", comm.ErrArg, cfg.nx, cfg.ny, dims[0], dims[1])
	}
	cart, err := c.Cart(dims, []bool{true, true}, false)
	if err != nil {
		return nil, err
	}
	co, err := cart.Coords(cart.Rank())
	if err != nil {
		return nil, err
	}
	b := &block{cart: cart, w: cfg.nx / dims[0], h: cfg.ny / dims[1]}
	b.x0, b.y0 = co[0]*b.w, co[1]*b.h
	b.u = make([]float64, (b.w+2)*(b.h+2))
	for j := 0; j < b.h; j++ {
		for i := 0; i < b.w; i++ {
			*b.at(i, j) = value(b.x0+i, b.y0+j, cfg.nx, cfg.ny)
		}
	}
	if cfg.rma {
		// Every block has the same shape, so a cell's index in u is the
		// same on every rank: the Put displacements below are local ones.
		if b.win, err = comm.NewWindow(cart, b.u); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// index is the position of cell (i, j) in u, on any rank.
func (b *block) index(i, j int) int { return (j+1)*(b.w+2) + i + 1 }

// exchangeRMA fills the ghost layers of the neighbours: each rank puts
// its edges and corners into the ghost cells that mirror them, between
// two Fences (the first: the neighbours have finished reading their
// ghosts; the second: every Put is in place).
func (b *block) exchangeRMA() error {
	if err := b.win.Fence(); err != nil {
		return err
	}
	dims := b.cart.Dims()
	co, err := b.cart.Coords(b.cart.Rank())
	if err != nil {
		return err
	}
	put := func(dx, dy, si, sj, ti, tj, n, stride int) error {
		peer, err := b.cart.RankOf([]int{(co[0] + dx + dims[0]) % dims[0], (co[1] + dy + dims[1]) % dims[1]})
		if err != nil {
			return err
		}
		if stride == 1 { // a row: one Put
			return b.win.Put(b.u[b.index(si, sj):b.index(si, sj)+n], peer, b.index(ti, tj))
		}
		for k := 0; k < n; k++ { // a column: one element per row
			if err := b.win.Put(b.u[b.index(si, sj+k):b.index(si, sj+k)+1], peer, b.index(ti, tj+k)); err != nil {
				return err
			}
		}
		return nil
	}
	steps := []struct{ dx, dy, si, sj, ti, tj, n, stride int }{
		{-1, 0, 0, 0, b.w, 0, b.h, 0},      // my first column: -x's right ghost column
		{1, 0, b.w - 1, 0, -1, 0, b.h, 0},  // my last column: +x's left ghost column
		{0, -1, 0, 0, 0, b.h, b.w, 1},      // my first row: -y's top ghost row
		{0, 1, 0, b.h - 1, 0, -1, b.w, 1},  // my last row: +y's bottom ghost row
		{-1, -1, 0, 0, b.w, b.h, 1, 1},     // corners, to the diagonal neighbours
		{1, -1, b.w - 1, 0, -1, b.h, 1, 1}, // (the opposite corner of theirs)
		{-1, 1, 0, b.h - 1, b.w, -1, 1, 1},
		{1, 1, b.w - 1, b.h - 1, -1, -1, 1, 1},
	}
	for _, s := range steps {
		if err := put(s.dx, s.dy, s.si, s.sj, s.ti, s.tj, s.n, s.stride); err != nil {
			return err
		}
	}
	return b.win.Fence()
}

// exchange fills the ghost layer: edges by NeighborAlltoall (blocks in
// the order -x, +x, -y, +y, each of the longer side's length), corners by
// point-to-point with the diagonal neighbours.
func (b *block) exchange() error {
	if b.win != nil {
		return b.exchangeRMA()
	}
	n := max(b.w, b.h)
	send, recv := make([]float64, 4*n), make([]float64, 4*n)
	for j := 0; j < b.h; j++ {
		send[0*n+j] = *b.at(0, j)     // to -x: my first column
		send[1*n+j] = *b.at(b.w-1, j) // to +x: my last column
	}
	for i := 0; i < b.w; i++ {
		send[2*n+i] = *b.at(i, 0)     // to -y: my first row
		send[3*n+i] = *b.at(i, b.h-1) // to +y: my last row
	}
	if err := comm.NeighborAlltoall(b.cart, send, recv); err != nil {
		return err
	}
	for j := 0; j < b.h; j++ {
		*b.at(-1, j) = recv[0*n+j] // from -x: its last column
		*b.at(b.w, j) = recv[1*n+j]
	}
	for i := 0; i < b.w; i++ {
		*b.at(i, -1) = recv[2*n+i]
		*b.at(i, b.h) = recv[3*n+i]
	}
	return b.corners()
}

func (b *block) corners() error {
	dims := b.cart.Dims()
	co, err := b.cart.Coords(b.cart.Rank())
	if err != nil {
		return err
	}
	type corner struct{ dx, dy, i, j, si, sj int }
	cs := []corner{
		{-1, -1, -1, -1, 0, 0}, {1, -1, b.w, -1, b.w - 1, 0},
		{-1, 1, -1, b.h, 0, b.h - 1}, {1, 1, b.w, b.h, b.w - 1, b.h - 1},
	}
	vals := make([]float64, 4)
	var reqs []*comm.Request
	for k, c := range cs {
		peer, err := b.cart.RankOf([]int{(co[0] + c.dx + dims[0]) % dims[0], (co[1] + c.dy + dims[1]) % dims[1]})
		if err != nil {
			return err
		}
		// My corner cell goes to the diagonal neighbour; tag k names which
		// corner of the receiver it fills (the opposite one).
		r, err := comm.Irecv(b.cart, vals[k:k+1], peer, 3-k)
		if err != nil {
			return err
		}
		reqs = append(reqs, r)
		s, err := comm.Isend(b.cart, []float64{*b.at(c.si, c.sj)}, peer, k)
		if err != nil {
			return err
		}
		reqs = append(reqs, s)
	}
	if err := comm.Waitall(reqs...); err != nil {
		return err
	}
	for k, c := range cs {
		*b.at(c.i, c.j) = vals[k]
	}
	return nil
}

// checkGhosts compares every ghost cell with the value its owner holds.
func (b *block) checkGhosts(cfg config) error {
	for j := -1; j <= b.h; j++ {
		for i := -1; i <= b.w; i++ {
			if i >= 0 && i < b.w && j >= 0 && j < b.h {
				continue
			}
			want := value(b.x0+i, b.y0+j, cfg.nx, cfg.ny)
			if got := *b.at(i, j); got != want {
				return fmt.Errorf("rank %d: ghost (%d,%d) holds %v, its owner has %v", b.cart.Rank(), b.x0+i, b.y0+j, got, want)
			}
		}
	}
	return nil
}

// sweep does one Jacobi step of u_t = Δu with the 5-point stencil.
func (b *block) sweep() error {
	if err := b.exchange(); err != nil {
		return err
	}
	next := make([]float64, len(b.u))
	copy(next, b.u)
	const k = 0.2
	for j := 0; j < b.h; j++ {
		for i := 0; i < b.w; i++ {
			c := *b.at(i, j)
			next[(j+1)*(b.w+2)+i+1] = c + k*(*b.at(i-1, j)+*b.at(i+1, j)+*b.at(i, j-1)+*b.at(i, j+1)-4*c)
		}
	}
	copy(b.u, next) // in place: a window exposes u
	return nil
}

func (b *block) sum() (float64, error) {
	s := 0.0
	for j := 0; j < b.h; j++ {
		for i := 0; i < b.w; i++ {
			s += *b.at(i, j)
		}
	}
	out := []float64{0}
	err := comm.Allreduce(b.cart, []float64{s}, out, comm.Sum)
	return out[0], err
}

// result is what run reports on every rank.
type result struct {
	sum0, sum float64
}

func run(c *comm.Comm, cfg config) (result, error) {
	b, err := newBlock(c, cfg)
	if err != nil {
		return result{}, err
	}
	if err := b.exchange(); err != nil {
		return result{}, err
	}
	if err := b.checkGhosts(cfg); err != nil {
		return result{}, err
	}
	var res result
	if res.sum0, err = b.sum(); err != nil {
		return res, err
	}
	for s := 0; s < cfg.steps; s++ {
		if err := b.sweep(); err != nil {
			return res, err
		}
	}
	if res.sum, err = b.sum(); err != nil {
		return res, err
	}
	if d := math.Abs(res.sum - res.sum0); d > 1e-9*float64(cfg.nx*cfg.ny) {
		return res, fmt.Errorf("sum of the field drifted by %g over %d steps: a halo went wrong", d, cfg.steps)
	}
	if b.win != nil {
		return res, b.win.Free()
	}
	return res, nil
}

func main() {
	var cfg config
	flag.IntVar(&cfg.nx, "nx", 64, "global grid width")
	flag.IntVar(&cfg.ny, "ny", 48, "global grid height")
	flag.IntVar(&cfg.steps, "steps", 100, "Jacobi sweeps after the checked exchange")
	flag.BoolVar(&cfg.rma, "rma", false, "fill the ghost layers with one-sided Puts into the neighbours' windows")
	flag.Parse()
	if cfg.nx < 1 || cfg.ny < 1 || cfg.steps < 0 {
		fmt.Fprintf(os.Stderr, "halo: -nx %d -ny %d -steps %d: want positive sizes and steps >= 0\n", cfg.nx, cfg.ny, cfg.steps)
		os.Exit(2)
	}
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "halo:", err)
		os.Exit(1)
	}
	w.SetErrorHandler(comm.ErrorsReturn)
	res, err := run(w, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "halo rank %d: %v\n", w.Rank(), err)
		if !errors.Is(err, comm.ErrArg) {
			w.Abort(1)
		}
		os.Exit(2)
	}
	if w.Rank() == 0 {
		mode := "messages"
		if cfg.rma {
			mode = "one-sided puts"
		}
		fmt.Printf("halo: %d×%d periodic grid on %d ranks, ghosts by %s: every ghost cell matches its owner; sum %.12f conserved over %d sweeps (drift %.2g): ok\n",
			cfg.nx, cfg.ny, w.Size(), mode, res.sum, cfg.steps, math.Abs(res.sum-res.sum0))
	}
	if err := w.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "halo:", err)
		os.Exit(1)
	}
}
