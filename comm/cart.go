package comm

import (
	"fmt"
	"slices"

	"github.com/mpx-hpc/mpx/comm/internal/coll"
)

// cartTopo is a Cartesian topology: ranks laid out row-major (the last
// dimension varies fastest), as in MPI.
type cartTopo struct {
	dims     []int
	periodic []bool
}

// DimsCreate fills the zero entries of dims with a balanced factorization
// of nnodes, as MPI_Dims_create: the product of all entries becomes
// nnodes, the filled entries are as close to each other as possible and in
// non-increasing order. Non-zero entries are kept. dims is not modified;
// the result is a new slice.
func DimsCreate(nnodes int, dims []int) ([]int, error) {
	if nnodes < 1 {
		return nil, fmt.Errorf("dims create: %w: %d nodes", ErrArg, nnodes)
	}
	out := slices.Clone(dims)
	fixed, free := 1, 0
	for i, d := range out {
		switch {
		case d < 0:
			return nil, fmt.Errorf("dims create: %w: dims[%d] = %d", ErrArg, i, d)
		case d == 0:
			free++
		default:
			fixed *= d
		}
	}
	if nnodes%fixed != 0 {
		return nil, fmt.Errorf("dims create: %w: fixed dims multiply to %d, which does not divide %d", ErrArg, fixed, nnodes)
	}
	rem := nnodes / fixed
	if free == 0 {
		if rem != 1 {
			return nil, fmt.Errorf("dims create: %w: dims %v multiply to %d, not %d", ErrArg, dims, fixed, nnodes)
		}
		return out, nil
	}
	// Prime factors, largest first, each to the currently smallest slot.
	var primes []int
	for f := 2; f*f <= rem; f++ {
		for rem%f == 0 {
			primes = append(primes, f)
			rem /= f
		}
	}
	if rem > 1 {
		primes = append(primes, rem)
	}
	slots := make([]int, free)
	for i := range slots {
		slots[i] = 1
	}
	for i := len(primes) - 1; i >= 0; i-- {
		j := 0
		for k := range slots {
			if slots[k] < slots[j] {
				j = k
			}
		}
		slots[j] *= primes[i]
	}
	slices.SortFunc(slots, func(a, b int) int { return b - a })
	j := 0
	for i := range out {
		if out[i] == 0 {
			out[i] = slots[j]
			j++
		}
	}
	return out, nil
}

// Cart makes a communicator with a Cartesian topology of the given
// dimensions, periodic (wrapping) where periodic says so. Ranks 0 to
// prod(dims)-1 of c take part, keeping their order; the other ranks get
// nil. reorder is accepted for MPI's sake; mpx keeps the ranks' order (the
// in-order layout already puts consecutive ranks, usually on one node,
// next to each other in the last dimension). Collective over c.
func (c *Comm) Cart(dims []int, periodic []bool, reorder bool) (*Comm, error) {
	const name = "cart"
	_ = reorder
	if len(dims) != len(periodic) || len(dims) == 0 {
		return nil, c.argErr(name, "%d dims and %d periodic flags", len(dims), len(periodic))
	}
	n := 1
	for i, d := range dims {
		if d < 1 {
			return nil, c.argErr(name, "dims[%d] = %d", i, d)
		}
		n *= d
	}
	if n > c.Size() {
		return nil, c.argErr(name, "grid %v needs %d ranks, communicator has %d", dims, n, c.Size())
	}
	ctx, err := c.allocContext()
	if err != nil {
		return nil, c.fail(name, -1, err)
	}
	if c.rank >= n {
		poolOf(c.w).release(ctx) // not a member: the id stays free here
		return nil, nil
	}
	nc := c.newComm(slices.Clone(c.group[:n]), ctx)
	nc.ext.cart = &cartTopo{dims: slices.Clone(dims), periodic: slices.Clone(periodic)}
	return nc, nil
}

func (c *Comm) topo(op string) (*cartTopo, error) {
	if c.ext.cart == nil {
		return nil, c.argErr(op, "%s has no Cartesian topology (make one with Cart)", c.name)
	}
	return c.ext.cart, nil
}

// Dims returns the dimensions of c's Cartesian topology (nil if none).
func (c *Comm) Dims() []int {
	if c.ext.cart == nil {
		return nil
	}
	return slices.Clone(c.ext.cart.dims)
}

// Periodic returns which dimensions of c's topology wrap (nil if none).
func (c *Comm) Periodic() []bool {
	if c.ext.cart == nil {
		return nil
	}
	return slices.Clone(c.ext.cart.periodic)
}

// Coords returns the grid coordinates of rank.
func (c *Comm) Coords(rank int) ([]int, error) {
	t, err := c.topo("coords")
	if err != nil {
		return nil, err
	}
	if rank < 0 || rank >= c.Size() {
		return nil, c.fail("coords", rank, fmt.Errorf("%w: rank %d outside a communicator of %d", ErrRank, rank, c.Size()))
	}
	co := make([]int, len(t.dims))
	for i := len(t.dims) - 1; i >= 0; i-- {
		co[i] = rank % t.dims[i]
		rank /= t.dims[i]
	}
	return co, nil
}

// RankOf returns the rank at coords. Periodic dimensions wrap; a
// coordinate outside a non-periodic dimension is an error.
func (c *Comm) RankOf(coords []int) (int, error) {
	t, err := c.topo("rank of")
	if err != nil {
		return 0, err
	}
	r, ok := t.rankOf(coords)
	if !ok {
		return 0, c.argErr("rank of", "coordinates %v outside grid %v (periodic %v)", coords, t.dims, t.periodic)
	}
	return r, nil
}

func (t *cartTopo) rankOf(coords []int) (int, bool) {
	if len(coords) != len(t.dims) {
		return 0, false
	}
	r := 0
	for i, x := range coords {
		d := t.dims[i]
		if x < 0 || x >= d {
			if !t.periodic[i] {
				return 0, false
			}
			x = ((x % d) + d) % d
		}
		r = r*d + x
	}
	return r, true
}

// Shift returns the ranks disp steps down (src) and up (dst) dimension
// dim from this rank: the ranks to receive from and send to in a shift
// along dim. Past the edge of a non-periodic dimension it returns
// ProcNull, with which Send and Recv complete at once.
func (c *Comm) Shift(dim, disp int) (src, dst int, err error) {
	t, err := c.topo("shift")
	if err != nil {
		return 0, 0, err
	}
	if dim < 0 || dim >= len(t.dims) {
		return 0, 0, c.argErr("shift", "dimension %d of a %d-dimensional grid", dim, len(t.dims))
	}
	me, _ := c.Coords(c.rank)
	at := func(delta int) int {
		co := slices.Clone(me)
		co[dim] += delta
		r, ok := t.rankOf(co)
		if !ok {
			return ProcNull
		}
		return r
	}
	return at(-disp), at(disp), nil
}

// Sub splits a Cartesian communicator into lower-dimensional grids: the
// dimensions with remain[i] true are kept, and ranks that share their
// coordinates in the dropped ones form one sub-grid (MPI_Cart_sub).
// Collective over c.
func (c *Comm) Sub(remain []bool) (*Comm, error) {
	t, err := c.topo("sub")
	if err != nil {
		return nil, err
	}
	if len(remain) != len(t.dims) {
		return nil, c.argErr("sub", "%d remain flags for a %d-dimensional grid", len(remain), len(t.dims))
	}
	me, _ := c.Coords(c.rank)
	color := 0
	var dims []int
	var periodic []bool
	for i, keep := range remain {
		if keep {
			dims = append(dims, t.dims[i])
			periodic = append(periodic, t.periodic[i])
		} else {
			color = color*t.dims[i] + me[i]
		}
	}
	nc, err := c.Split(color, c.rank)
	if err != nil {
		return nil, err
	}
	if len(dims) == 0 { // every dimension dropped: a grid of one point
		dims, periodic = []int{1}, []bool{false}
	}
	nc.ext.cart = &cartTopo{dims: dims, periodic: periodic}
	return nc, nil
}

// NeighborAlltoall exchanges one block with each grid neighbour of a
// Cartesian communicator, as MPI_Neighbor_alltoall: with d dimensions,
// send and recv hold 2d blocks of equal length; block 2i goes to the
// neighbour one step down dimension i and block 2i+1 to the one up, and
// recv's blocks 2i and 2i+1 are filled from those same neighbours. A halo
// exchange in one call. Blocks facing a non-periodic edge are not sent,
// and their recv blocks are left as they were.
func NeighborAlltoall[T Element](c *Comm, send, recv []T) error {
	const name = "neighbor_alltoall"
	t, err := c.topo(name)
	if err != nil {
		return err
	}
	nb := 2 * len(t.dims)
	if len(send) != len(recv) || len(send)%nb != 0 {
		return c.argErr(name, "send and receive buffers of %d and %d elements, want equal multiples of %d neighbours", len(send), len(recv), nb)
	}
	n := len(send) / nb
	block := func(s []T, i int) []byte { return eb(s[i*n : (i+1)*n]) }
	return c.do(name, &sig{kind: coll.KindAlltoall, root: -2, count: len(send), elem: esize[T]()}, func(cc coll.Conn, tag coll.Tag) error {
		var reqs []coll.Req
		post := func(q coll.Req, err error) error {
			if err == nil {
				reqs = append(reqs, q)
			}
			return err
		}
		for d := range t.dims {
			down, up, err := c.Shift(d, 1)
			if err != nil {
				return err
			}
			// Messages travelling up carry round 2d+1, down 2d, so that
			// the two from one neighbour (a periodic dimension of 2) are
			// told apart.
			for _, x := range []struct {
				peer, recvBlock, inRound, sendBlock, outRound int
			}{{down, 2 * d, 2*d + 1, 2 * d, 2 * d}, {up, 2*d + 1, 2 * d, 2*d + 1, 2*d + 1}} {
				if x.peer == ProcNull {
					continue
				}
				if x.peer == c.rank { // periodic dimension of 1: I am both neighbours
					copy(recv[x.recvBlock*n:(x.recvBlock+1)*n], send[(x.recvBlock^1)*n:])
					continue
				}
				if err := post(cc.Irecv(x.peer, tag.At(x.inRound), block(recv, x.recvBlock))); err != nil {
					return err
				}
				if err := post(cc.Isend(x.peer, tag.At(x.outRound), block(send, x.sendBlock))); err != nil {
					return err
				}
			}
		}
		var first error
		for _, q := range reqs {
			if err := q.Wait(); err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}
