package coll

// AllreduceRecursiveDoubling reduces buf in place across all ranks by
// recursive doubling (Thakur, Rabenseifner and Gropp 2005, section 4.4):
// in round k rank r exchanges its whole partial result with r XOR 2^k.
// For p not a power of two, the first 2*rem ranks (rem = p - 2^floor(log2 p))
// pair up beforehand, even into odd, and the odd ones receive the result
// afterwards. Every group combined is a contiguous range of ranks and the
// lower range is always the left operand, so non-commutative operators are
// honoured and every rank computes the same bits. Latency-optimal:
// log2 p rounds of the whole vector; the choice for short vectors.
func AllreduceRecursiveDoubling[T any](c Conn, t Tag, buf []T, op Op[T]) (err error) {
	r, p := c.Rank(), c.Size()
	if p == 1 {
		return nil
	}
	b := bytesOf(buf)
	tmp, put := scratch[T](len(buf))
	defer func() {
		if err == nil {
			put()
		}
	}()
	tb := bytesOf(tmp)
	pof2 := pof2Below(p)
	rem := p - pof2

	newrank := r - rem
	if r < 2*rem {
		if r%2 == 0 {
			if err := c.Send(r+1, t.At(0), b); err != nil {
				return err
			}
			newrank = -1
		} else {
			if err := c.Recv(r-1, t.At(0), tb); err != nil {
				return err
			}
			op.fold(buf, tmp, true)
			newrank = r / 2
		}
	}
	if newrank >= 0 {
		for mask, round := 1, 1; mask < pof2; mask, round = mask*2, round+1 {
			dst := realRank(newrank^mask, rem)
			if err := sendrecv(c, dst, t.At(round), b, dst, t.At(round), tb); err != nil {
				return err
			}
			op.fold(buf, tmp, dst < r)
		}
	}
	last := bit(pof2) + 1
	if r < 2*rem {
		if r%2 == 1 {
			return c.Send(r-1, t.At(last), b)
		}
		return c.Recv(r+1, t.At(last), b)
	}
	return nil
}

// realRank maps a rank among the 2^k survivors of the pairing step back to
// a communicator rank: survivor i < rem is odd rank 2i+1, the rest follow.
func realRank(newrank, rem int) int {
	if newrank < rem {
		return newrank*2 + 1
	}
	return newrank + rem
}
