package coll

// The ordered algorithms are the reproducible mode (parameter
// coll_reproducible): every reduction is the serial left fold
// x_0 op x_1 op ... op x_{p-1}, computed along the pipelined chain of
// ScanLinear, so the result's bits depend only on the inputs and the rank
// count, never on the algorithm the decision table would pick, the message
// size or the root. The price is p-1 chain latencies; the bandwidth cost
// stays about n per rank thanks to the pipelining.

// ReduceOrdered reduces buf in place to root by the chain; rank p-1 holds
// the fold and sends it to root. Elsewhere buf is scratch.
func ReduceOrdered[T any](c Conn, t Tag, buf []T, op Op[T], root int) error {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	if err := chain(c, t.Phase(0), buf, op, false); err != nil {
		return err
	}
	if root == p-1 {
		return nil
	}
	switch r {
	case p - 1:
		return c.Send(root, t.Phase(1).At(0), bytesOf(buf))
	case root:
		return c.Recv(p-1, t.Phase(1).At(0), bytesOf(buf))
	}
	return nil
}

// AllreduceOrdered is the chain followed by a broadcast from rank p-1, by
// whichever broadcast the decision table picks for the vector's size.
func AllreduceOrdered[T any](c Conn, t Tag, buf []T, op Op[T]) error {
	p := c.Size()
	if err := chain(c, t.Phase(0), buf, op, false); err != nil {
		return err
	}
	b := bytesOf(buf)
	return Bcast(c, t.Phase(1), b, p-1, Choose(KindBcast, len(b), p, true))
}
