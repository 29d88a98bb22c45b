package coll

// ReduceRabenseifner is Rabenseifner's reduce: a reduce-scatter by
// recursive halving followed by a binomial gather of the reduced blocks
// (Rabenseifner, ICCS 2004; Thakur, Rabenseifner and Gropp 2005, section
// 4.4). About 2n bytes per rank instead of n log2 p: the choice for long
// vectors. buf is reduced in place and holds the result at root only; on
// other ranks it is scratch. The gather ends at the survivor of rank 0's
// side, which forwards the vector to root if it is someone else.
func ReduceRabenseifner[T any](c Conn, t Tag, buf []T, op Op[T], root int) error {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	if p == 1 {
		return nil
	}
	h, err := halvingReduceScatter(c, t.Phase(0), buf, op)
	if err != nil {
		return err
	}
	holder := realRank(0, h.rem)
	if h.newrank >= 0 {
		// Binomial gather, undoing the halving steps in reverse: the rank
		// with the step's bit set hands its window to its partner and is
		// done.
		g := t.Phase(1)
		for i := len(h.steps) - 1; i >= 0; i-- {
			s := h.steps[i]
			if h.newrank&(1<<i) != 0 {
				if err := c.Send(s.peer, g.At(i), bytesOf(buf[h.off[s.kept.lo]:h.off[s.kept.hi]])); err != nil {
					return err
				}
				break
			}
			if err := c.Recv(s.peer, g.At(i), bytesOf(buf[h.off[s.given.lo]:h.off[s.given.hi]])); err != nil {
				return err
			}
		}
	}
	if root == holder {
		return nil
	}
	switch r {
	case holder:
		return c.Send(root, t.Phase(2).At(0), bytesOf(buf))
	case root:
		return c.Recv(holder, t.Phase(2).At(0), bytesOf(buf))
	}
	return nil
}
