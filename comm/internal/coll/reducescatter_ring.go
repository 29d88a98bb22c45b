package coll

import "fmt"

// ReduceScatterRing reduces buf (the whole vector, counts[i] elements per
// rank i in rank order) across ranks and leaves rank i's block fully
// reduced in buf[off_i:off_i+counts[i]], by passing partial blocks round a
// ring: in step s rank r sends its running block r-s-1 to the right and
// folds the running block r-s-2 from its left into its own (the first
// phase of the ring allreduce of Patarasuk and Yuan, "Bandwidth optimal
// all-reduce algorithms for clusters of workstations", JPDC 69(2), 2009).
// The rest of buf is scratch. Each block's chain starts after its owner and
// wraps round, so the operator must be commutative; every block is reduced
// once, by one rank, so results are deterministic.
func ReduceScatterRing[T any](c Conn, t Tag, buf []T, counts []int, op Op[T]) (err error) {
	r, p := c.Rank(), c.Size()
	if !op.Commutative {
		return fmt.Errorf("ring reduce-scatter needs a commutative operator")
	}
	off := make([]int, p+1)
	for i, n := range counts {
		off[i+1] = off[i] + n
	}
	if len(counts) != p || off[p] != len(buf) {
		return fmt.Errorf("reduce-scatter: %d counts summing to %d for %d ranks and %d elements", len(counts), off[p], p, len(buf))
	}
	maxc := 0
	for _, n := range counts {
		maxc = max(maxc, n)
	}
	tmp, put := scratch[T](maxc)
	defer func() {
		if err == nil {
			put()
		}
	}()
	right, left := (r+1)%p, mod(r-1, p)
	for s := 0; s < p-1; s++ {
		sb, rb := mod(r-s-1, p), mod(r-s-2, p)
		in := tmp[:counts[rb]]
		if err := sendrecv(c, right, t.At(s), bytesOf(buf[off[sb]:off[sb+1]]), left, t.At(s), bytesOf(in)); err != nil {
			return err
		}
		op.fold(buf[off[rb]:off[rb+1]], in, true)
	}
	return nil
}
