package coll

// AllreduceRing is the bandwidth-optimal ring allreduce of Patarasuk and
// Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
// workstations" (JPDC 69(2), 2009): a ring reduce-scatter of p nearly equal
// blocks followed by a ring allgather. Each rank sends and receives
// 2(p-1)/p of the vector in 2(p-1) steps. Needs a commutative operator
// (chains wrap round the ring); each block is reduced once, by one rank,
// so every rank gets the same bits.
func AllreduceRing[T any](c Conn, t Tag, buf []T, op Op[T]) error {
	p := c.Size()
	if p == 1 {
		return nil
	}
	off := partition(len(buf), p)
	counts, _ := countsOf(off, 1)
	if err := ReduceScatterRing(c, t.Phase(0), buf, counts, op); err != nil {
		return err
	}
	size := elemSize[T]()
	bc, bd := countsOf(off, size)
	r := c.Rank()
	return allgathervInPlace(c, t.Phase(1), bytesOf(buf), bc, bd, r)
}

// allgathervInPlace runs the ring allgather when rank r's block is already
// in place in recv.
func allgathervInPlace(c Conn, t Tag, recv []byte, counts, displs []int, r int) error {
	return AllgathervRing(c, t, recv[displs[r]:displs[r]+counts[r]], recv, counts, displs)
}
