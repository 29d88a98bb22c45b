package coll

// ReduceBinomial reduces buf in place to root along a binomial tree
// (Thakur, Rabenseifner and Gropp 2005, section 4.4, after MPICH): each
// rank folds in the partial results of its subtree, then sends one message
// to its parent; log2 p rounds of the whole vector, the choice for short
// vectors. Ranks are taken relative to root for a commutative operator;
// for a non-commutative one the tree is rooted at rank 0, so that every
// subtree is a contiguous range of ranks in order, and rank 0 forwards the
// result. buf holds the result at root; elsewhere it is scratch.
func ReduceBinomial[T any](c Conn, t Tag, buf []T, op Op[T], root int) (err error) {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	if p == 1 {
		return nil
	}
	lroot := root
	if !op.Commutative {
		lroot = 0
	}
	vr := mod(r-lroot, p)
	tmp, put := scratch[T](len(buf))
	defer func() {
		if err == nil {
			put()
		}
	}()
	for mask := 1; mask < p; mask <<= 1 {
		if vr&mask != 0 {
			if err := c.Send(mod(vr-mask+lroot, p), t.At(bit(mask)), bytesOf(buf)); err != nil {
				return err
			}
			break
		}
		if vr+mask < p {
			if err := c.Recv(mod(vr+mask+lroot, p), t.At(bit(mask)), bytesOf(tmp)); err != nil {
				return err
			}
			op.fold(buf, tmp, false)
		}
	}
	if lroot == root {
		return nil
	}
	last := t.Phase(1).At(0)
	switch r {
	case lroot:
		return c.Send(root, last, bytesOf(buf))
	case root:
		return c.Recv(lroot, last, bytesOf(buf))
	}
	return nil
}
