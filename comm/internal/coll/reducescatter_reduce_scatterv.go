package coll

import "fmt"

// ReduceScatterReduceScatterv is the reduce-scatter for operators the ring
// cannot serve (non-commutative ones, and the reproducible mode): a reduce
// to rank 0, by whichever reduce the decision table picks (so in rank
// order, and the ordered chain in reproducible mode), then a scatterv of
// the blocks. MPICH falls back the same way for non-commutative operators
// (Thakur, Rabenseifner and Gropp 2005, section 4.6).
func ReduceScatterReduceScatterv[T any](c Conn, t Tag, buf []T, counts []int, op Op[T]) error {
	r, p := c.Rank(), c.Size()
	off := make([]int, p+1)
	for i, n := range counts {
		off[i+1] = off[i] + n
	}
	if len(counts) != p || off[p] != len(buf) {
		return fmt.Errorf("reduce-scatter: %d counts summing to %d for %d ranks and %d elements", len(counts), off[p], p, len(buf))
	}
	b := bytesOf(buf)
	if err := Reduce(c, t.Phase(0), buf, op, 0, Choose(KindReduce, len(b), p, op.Commutative)); err != nil {
		return err
	}
	bc, bd := countsOf(off, elemSize[T]())
	return ScattervLinear(c, t.Phase(3), b, bc, bd, b[bd[r]:bd[r]+bc[r]], 0)
}
