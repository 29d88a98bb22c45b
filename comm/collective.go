package comm

import (
	"github.com/mpx-hpc/mpx/comm/internal/coll"
)

// Collectives.
//
// Every rank of a communicator must make the same collective calls in the
// same order, with agreeing roots, counts, operators and element types, as
// in MPI. Where a disagreement shows up as a message of unexpected length
// the call fails with ErrMismatch rather than corrupting memory; the
// parameter coll_check (mpx run --param coll_check=true) checks every call
// in full, at the price of one small allreduce.
//
// In place (MPI_IN_PLACE): pass a nil send slice. The data is then taken
// from, and the result left in, the receive slice, as the function's
// comment says. Receive slices that matter at the root only (Gather,
// Reduce) may be nil elsewhere; so may send slices of Scatter off the root.
//
// Algorithms are chosen per call by the decision table of
// comm/internal/coll (printed by `mpx info`), from values every rank
// agrees on, and can be forced with the parameters coll_<name>_algorithm.
// For a fixed algorithm and rank count, floating-point reductions give
// the same bits on every rank and every run; coll_reproducible=true makes
// them the serial rank-order fold whatever the size or root, and outranks
// a forced reduction algorithm that would fold in another order.

// Barrier returns once every rank of c has entered it.
func Barrier(c *Comm) error {
	return c.do("barrier", &sig{kind: coll.KindBarrier, root: -1, count: -1, alg: coll.Dissemination}, coll.Barrier)
}

// Ibarrier starts a barrier; the request completes once every rank has
// entered it.
func Ibarrier(c *Comm) (*Request, error) {
	return c.start("ibarrier", &sig{kind: coll.KindBarrier, root: -1, count: -1, alg: coll.Dissemination}, coll.Barrier)
}

func bcastRun[T Element](c *Comm, name string, buf []T, root int) (*sig, func(coll.Conn, coll.Tag) error, error) {
	if err := c.checkRootArg(name, root); err != nil {
		return nil, nil, err
	}
	b := eb(buf)
	alg := coll.Choose(coll.KindBcast, len(b), c.Size(), true)
	return &sig{kind: coll.KindBcast, root: root, count: len(buf), elem: esize[T](), alg: alg, bytes: len(b)},
		func(cc coll.Conn, t coll.Tag) error { return coll.Bcast(cc, t, b, root, alg) }, nil
}

// Bcast copies root's buf into every other rank's buf (all of one length).
func Bcast[T Element](c *Comm, buf []T, root int) error {
	s, run, err := bcastRun(c, "bcast", buf, root)
	if err != nil {
		return err
	}
	return c.do("bcast", s, run)
}

// Ibcast starts a Bcast; buf must not be touched until the request
// completes.
func Ibcast[T Element](c *Comm, buf []T, root int) (*Request, error) {
	s, run, err := bcastRun(c, "ibcast", buf, root)
	if err != nil {
		return nil, err
	}
	return c.start("ibcast", s, run)
}

func reduceRun[T Element](c *Comm, name string, send, recv []T, op Op, root int) (*sig, func(coll.Conn, coll.Tag) error, error) {
	if err := c.checkRootArg(name, root); err != nil {
		return nil, nil, err
	}
	cop, err := collOp[T](op)
	if err != nil {
		return nil, nil, c.fail(name, -1, err)
	}
	var work []T
	put := func() {}
	switch {
	case c.rank != root:
		work, put = coll.Scratch[T](len(send))
		copy(work, send)
	case send == nil:
		work = recv
	case len(recv) != len(send):
		return nil, nil, c.argErr(name, "receive buffer of %d elements for %d sent", len(recv), len(send))
	default:
		copy(recv, send)
		work = recv
	}
	alg := coll.Choose(coll.KindReduce, len(work)*esize[T](), c.Size(), op.commutative)
	return &sig{kind: coll.KindReduce, root: root, count: len(work), op: op.id, elem: esize[T](),
			alg: alg, bytes: len(work) * esize[T](), commutative: op.commutative},
		func(cc coll.Conn, t coll.Tag) error {
			err := coll.Reduce(cc, t, work, cop, root, alg)
			if err == nil {
				put() // after an error a send may still hold work
			}
			return err
		}, nil
}

// Reduce combines every rank's send element-wise with op and leaves the
// result in root's recv. recv matters at root only. In place: root passes
// send == nil and its recv holds its input.
func Reduce[T Element](c *Comm, send, recv []T, op Op, root int) error {
	s, run, err := reduceRun(c, "reduce", send, recv, op, root)
	if err != nil {
		return err
	}
	return c.do("reduce", s, run)
}

// Ireduce starts a Reduce.
func Ireduce[T Element](c *Comm, send, recv []T, op Op, root int) (*Request, error) {
	s, run, err := reduceRun(c, "ireduce", send, recv, op, root)
	if err != nil {
		return nil, err
	}
	return c.start("ireduce", s, run)
}

func allreduceRun[T Element](c *Comm, name string, send, recv []T, op Op) (*sig, func(coll.Conn, coll.Tag) error, error) {
	cop, err := collOp[T](op)
	if err != nil {
		return nil, nil, c.fail(name, -1, err)
	}
	if send != nil {
		if len(recv) != len(send) {
			return nil, nil, c.argErr(name, "receive buffer of %d elements for %d sent", len(recv), len(send))
		}
		copy(recv, send)
	}
	alg := coll.Choose(coll.KindAllreduce, len(recv)*esize[T](), c.Size(), op.commutative)
	return &sig{kind: coll.KindAllreduce, root: -1, count: len(recv), op: op.id, elem: esize[T](),
			alg: alg, bytes: len(recv) * esize[T](), commutative: op.commutative},
		func(cc coll.Conn, t coll.Tag) error { return coll.Allreduce(cc, t, recv, cop, alg) }, nil
}

// Allreduce combines every rank's send element-wise with op and leaves the
// result in every rank's recv. In place: send == nil, recv holds the input.
func Allreduce[T Element](c *Comm, send, recv []T, op Op) error {
	s, run, err := allreduceRun(c, "allreduce", send, recv, op)
	if err != nil {
		return err
	}
	return c.do("allreduce", s, run)
}

// Iallreduce starts an Allreduce.
func Iallreduce[T Element](c *Comm, send, recv []T, op Op) (*Request, error) {
	s, run, err := allreduceRun(c, "iallreduce", send, recv, op)
	if err != nil {
		return nil, err
	}
	return c.start("iallreduce", s, run)
}

// Gather collects every rank's send (all of one length n) into root's
// recv, rank i's at recv[i*n:]. recv matters at root only. In place: root
// passes send == nil, its block already at recv[root*n:].
func Gather[T Element](c *Comm, send, recv []T, root int) error {
	const name = "gather"
	if err := c.checkRootArg(name, root); err != nil {
		return err
	}
	p := c.Size()
	if c.rank == root {
		if send == nil {
			if len(recv)%p != 0 {
				return c.argErr(name, "in-place receive buffer of %d elements does not divide among %d ranks", len(recv), p)
			}
			n := len(recv) / p
			send = recv[root*n : (root+1)*n]
		} else if len(recv) != len(send)*p {
			return c.argErr(name, "receive buffer of %d elements, want %d ranks x %d", len(recv), p, len(send))
		}
	}
	sb, rb := eb(send), eb(recv)
	alg := coll.Choose(coll.KindGather, len(sb), p, true)
	return c.do(name, &sig{kind: coll.KindGather, root: root, count: len(send), elem: esize[T](), alg: alg},
		func(cc coll.Conn, t coll.Tag) error { return coll.Gather(cc, t, sb, rb, root, alg) })
}

// Gatherv collects rank i's send (counts[i] elements) into root's recv at
// displs[i]. recv, counts and displs matter at root only. In place: root
// passes send == nil, its block already in place.
func Gatherv[T Element](c *Comm, send, recv []T, counts, displs []int, root int) error {
	const name = "gatherv"
	if err := c.checkRootArg(name, root); err != nil {
		return err
	}
	var bc, bd []int
	if c.rank == root {
		if err := checkBlocks(name, counts, displs, len(recv), c.Size()); err != nil {
			return c.argErr(name, "%v", err)
		}
		if send == nil {
			send = recv[displs[root] : displs[root]+counts[root]]
		}
		bc, bd = scale(counts, esize[T]()), scale(displs, esize[T]())
	}
	sb, rb := eb(send), eb(recv)
	return c.do(name, &sig{kind: coll.KindGatherv, root: root, count: -1, elem: esize[T](), alg: coll.Linear},
		func(cc coll.Conn, t coll.Tag) error { return coll.GathervLinear(cc, t, sb, rb, bc, bd, root) })
}

// Scatter sends block i of root's send (p blocks of len(recv) elements)
// to rank i's recv. send matters at root only. In place: root passes
// recv == nil and keeps its block in send.
func Scatter[T Element](c *Comm, send, recv []T, root int) error {
	const name = "scatter"
	if err := c.checkRootArg(name, root); err != nil {
		return err
	}
	p := c.Size()
	if c.rank == root {
		if recv == nil {
			if len(send)%p != 0 {
				return c.argErr(name, "send buffer of %d elements does not divide among %d ranks", len(send), p)
			}
			n := len(send) / p
			recv = send[root*n : (root+1)*n]
		} else if len(send) != len(recv)*p {
			return c.argErr(name, "send buffer of %d elements, want %d ranks x %d", len(send), p, len(recv))
		}
	}
	sb, rb := eb(send), eb(recv)
	alg := coll.Choose(coll.KindScatter, len(rb), p, true)
	return c.do(name, &sig{kind: coll.KindScatter, root: root, count: len(recv), elem: esize[T](), alg: alg},
		func(cc coll.Conn, t coll.Tag) error { return coll.Scatter(cc, t, sb, rb, root, alg) })
}

// Scatterv sends send[displs[i]:][:counts[i]] from root to rank i's recv.
// send, counts and displs matter at root only. In place: root passes
// recv == nil and keeps its block in send.
func Scatterv[T Element](c *Comm, send, recv []T, counts, displs []int, root int) error {
	const name = "scatterv"
	if err := c.checkRootArg(name, root); err != nil {
		return err
	}
	var bc, bd []int
	if c.rank == root {
		if err := checkBlocks(name, counts, displs, len(send), c.Size()); err != nil {
			return c.argErr(name, "%v", err)
		}
		if recv == nil {
			recv = send[displs[root] : displs[root]+counts[root]]
		}
		bc, bd = scale(counts, esize[T]()), scale(displs, esize[T]())
	}
	sb, rb := eb(send), eb(recv)
	return c.do(name, &sig{kind: coll.KindScatterv, root: root, count: -1, elem: esize[T](), alg: coll.Linear},
		func(cc coll.Conn, t coll.Tag) error { return coll.ScattervLinear(cc, t, sb, bc, bd, rb, root) })
}

func allgatherRun[T Element](c *Comm, name string, send, recv []T) (*sig, func(coll.Conn, coll.Tag) error, error) {
	p := c.Size()
	if send == nil {
		if len(recv)%p != 0 {
			return nil, nil, c.argErr(name, "in-place receive buffer of %d elements does not divide among %d ranks", len(recv), p)
		}
		n := len(recv) / p
		send = recv[c.rank*n : (c.rank+1)*n]
	} else if len(recv) != len(send)*p {
		return nil, nil, c.argErr(name, "receive buffer of %d elements, want %d ranks x %d", len(recv), p, len(send))
	}
	sb, rb := eb(send), eb(recv)
	alg := coll.Choose(coll.KindAllgather, len(rb), p, true)
	return &sig{kind: coll.KindAllgather, root: -1, count: len(send), elem: esize[T](), alg: alg},
		func(cc coll.Conn, t coll.Tag) error { return coll.Allgather(cc, t, sb, rb, alg) }, nil
}

// Allgather collects every rank's send (all of one length n) into every
// rank's recv, rank i's at recv[i*n:]. In place: send == nil, each rank's
// block already at recv[rank*n:].
func Allgather[T Element](c *Comm, send, recv []T) error {
	s, run, err := allgatherRun(c, "allgather", send, recv)
	if err != nil {
		return err
	}
	return c.do("allgather", s, run)
}

// Iallgather starts an Allgather.
func Iallgather[T Element](c *Comm, send, recv []T) (*Request, error) {
	s, run, err := allgatherRun(c, "iallgather", send, recv)
	if err != nil {
		return nil, err
	}
	return c.start("iallgather", s, run)
}

// Allgatherv collects rank i's send (counts[i] elements) into every rank's
// recv at displs[i]; counts and displs must agree on all ranks. In place:
// send == nil, each rank's block already in place.
func Allgatherv[T Element](c *Comm, send, recv []T, counts, displs []int) error {
	const name = "allgatherv"
	if err := checkBlocks(name, counts, displs, len(recv), c.Size()); err != nil {
		return c.argErr(name, "%v", err)
	}
	if send == nil {
		send = recv[displs[c.rank] : displs[c.rank]+counts[c.rank]]
	}
	if len(send) != counts[c.rank] {
		return c.argErr(name, "send buffer of %d elements, counts[%d] = %d", len(send), c.rank, counts[c.rank])
	}
	sb, rb := eb(send), eb(recv)
	bc, bd := scale(counts, esize[T]()), scale(displs, esize[T]())
	return c.do(name, &sig{kind: coll.KindAllgatherv, root: -1, count: len(recv), elem: esize[T](), alg: coll.Ring},
		func(cc coll.Conn, t coll.Tag) error { return coll.AllgathervRing(cc, t, sb, rb, bc, bd) })
}

func alltoallRun[T Element](c *Comm, name string, send, recv []T) (*sig, func(coll.Conn, coll.Tag) error, error) {
	p := c.Size()
	if send == nil {
		send = clone(recv)
	}
	if len(send) != len(recv) || len(send)%p != 0 {
		return nil, nil, c.argErr(name, "send buffer of %d and receive buffer of %d elements, want equal multiples of %d ranks", len(send), len(recv), p)
	}
	sb, rb := eb(send), eb(recv)
	alg := coll.Choose(coll.KindAlltoall, len(sb)/p, p, true)
	return &sig{kind: coll.KindAlltoall, root: -1, count: len(send), elem: esize[T](), alg: alg},
		func(cc coll.Conn, t coll.Tag) error { return coll.Alltoall(cc, t, sb, rb, alg) }, nil
}

// Alltoall sends block i of send (p blocks of equal length) to rank i,
// where it lands as block r (the sender's rank) of recv. In place:
// send == nil, recv holds the blocks to send.
func Alltoall[T Element](c *Comm, send, recv []T) error {
	s, run, err := alltoallRun(c, "alltoall", send, recv)
	if err != nil {
		return err
	}
	return c.do("alltoall", s, run)
}

// Ialltoall starts an Alltoall.
func Ialltoall[T Element](c *Comm, send, recv []T) (*Request, error) {
	s, run, err := alltoallRun(c, "ialltoall", send, recv)
	if err != nil {
		return nil, err
	}
	return c.start("ialltoall", s, run)
}

// Alltoallv sends send[sdispls[i]:][:scounts[i]] to rank i, and receives
// rank i's block into recv[rdispls[i]:][:rcounts[i]]. rcounts[i] must equal
// what rank i sends here. In place: send == nil, and recv's layout
// (rcounts, rdispls) describes the blocks to send as well.
func Alltoallv[T Element](c *Comm, send []T, scounts, sdispls []int, recv []T, rcounts, rdispls []int) error {
	const name = "alltoallv"
	p := c.Size()
	if send == nil {
		send, scounts, sdispls = clone(recv), rcounts, rdispls
	}
	if err := checkBlocks(name+" send", scounts, sdispls, len(send), p); err != nil {
		return c.argErr(name, "%v", err)
	}
	if err := checkBlocks(name+" receive", rcounts, rdispls, len(recv), p); err != nil {
		return c.argErr(name, "%v", err)
	}
	u := esize[T]()
	sb, rb := eb(send), eb(recv)
	sc, sd, rc, rd := scale(scounts, u), scale(sdispls, u), scale(rcounts, u), scale(rdispls, u)
	return c.do(name, &sig{kind: coll.KindAlltoallv, root: -1, count: -1, elem: u, alg: coll.Pairwise},
		func(cc coll.Conn, t coll.Tag) error { return coll.AlltoallvPairwise(cc, t, sb, sc, sd, rb, rc, rd) })
}

// ReduceScatter combines every rank's send (sum(counts) elements)
// element-wise with op and leaves block i (counts[i] elements, blocks in
// rank order) of the result in rank i's recv. In place: send == nil and
// recv holds the whole input; the block is left at its start.
func ReduceScatter[T Element](c *Comm, send, recv []T, counts []int, op Op) error {
	const name = "reduce_scatter"
	p, r := c.Size(), c.rank
	if len(counts) != p {
		return c.argErr(name, "%d counts for %d ranks", len(counts), p)
	}
	total, off := 0, 0
	for i, n := range counts {
		if n < 0 {
			return c.argErr(name, "counts[%d] = %d", i, n)
		}
		if i == r {
			off = total
		}
		total += n
	}
	var work []T
	if send == nil {
		if len(recv) != total {
			return c.argErr(name, "in-place buffer of %d elements, counts sum to %d", len(recv), total)
		}
		work = recv
	} else {
		if len(send) != total || len(recv) < counts[r] {
			return c.argErr(name, "send buffer of %d elements and receive buffer of %d, want %d and %d", len(send), len(recv), total, counts[r])
		}
		work = clone(send)
	}
	cop, err := collOp[T](op)
	if err != nil {
		return c.fail(name, -1, err)
	}
	alg := coll.Choose(coll.KindReduceScatter, total*esize[T](), p, op.commutative)
	return c.do(name, &sig{kind: coll.KindReduceScatter, root: -1, count: total, op: op.id, elem: esize[T](),
		alg: alg, bytes: total * esize[T](), commutative: op.commutative},
		func(cc coll.Conn, t coll.Tag) error {
			if err := coll.ReduceScatter(cc, t, work, counts, cop, alg); err != nil {
				return err
			}
			copy(recv, work[off:off+counts[r]])
			return nil
		})
}

// ReduceScatterBlock is ReduceScatter with every block len(recv) long
// (send holds p of them). In place: send == nil and recv holds all p
// blocks; the result is left in its first.
func ReduceScatterBlock[T Element](c *Comm, send, recv []T, op Op) error {
	p := c.Size()
	n := len(recv)
	if send == nil {
		if len(recv)%p != 0 {
			return c.argErr("reduce_scatter_block", "in-place buffer of %d elements does not divide among %d ranks", len(recv), p)
		}
		n = len(recv) / p
	}
	counts := make([]int, p)
	for i := range counts {
		counts[i] = n
	}
	return ReduceScatter(c, send, recv, counts, op)
}

func scanRun[T Element](c *Comm, name string, k coll.Kind, send, recv []T, op Op) error {
	cop, err := collOp[T](op)
	if err != nil {
		return c.fail(name, -1, err)
	}
	if send != nil && len(recv) != len(send) {
		return c.argErr(name, "receive buffer of %d elements for %d sent", len(recv), len(send))
	}
	work := recv
	switch {
	case k == coll.KindExscan && send == nil:
		work = clone(recv) // rank 0's recv stays as it was
	case k == coll.KindExscan:
		work = clone(send)
	default:
		if send != nil {
			copy(recv, send)
		}
	}
	alg := coll.Choose(k, len(work)*esize[T](), c.Size(), op.commutative)
	return c.do(name, &sig{kind: k, root: -1, count: len(work), op: op.id, elem: esize[T](),
		alg: alg, bytes: len(work) * esize[T](), commutative: op.commutative},
		func(cc coll.Conn, t coll.Tag) error {
			if k == coll.KindScan {
				return coll.Scan(cc, t, work, cop, alg)
			}
			if err := coll.Exscan(cc, t, work, cop, alg); err != nil {
				return err
			}
			if c.rank > 0 {
				copy(recv, work)
			}
			return nil
		})
}

// Scan leaves in rank r's recv the element-wise reduction of the sends of
// ranks 0..r. In place: send == nil.
func Scan[T Element](c *Comm, send, recv []T, op Op) error {
	return scanRun(c, "scan", coll.KindScan, send, recv, op)
}

// Exscan leaves in rank r's recv the reduction of the sends of ranks
// 0..r-1; rank 0's recv is not written. In place: send == nil.
func Exscan[T Element](c *Comm, send, recv []T, op Op) error {
	return scanRun(c, "exscan", coll.KindExscan, send, recv, op)
}
