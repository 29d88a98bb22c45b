package coll

// AllgatherBruck is the allgather of Bruck, Ho, Kipnis, Upfal and
// Weathersby, "Efficient algorithms for all-to-all communications in
// multiport message-passing systems" (IEEE TPDS 8(11), 1997), as used by
// MPICH for short messages at any p (Thakur, Rabenseifner and Gropp 2005,
// section 4.2): in round k each rank sends the min(2^k, p-2^k) blocks it
// has to rank-2^k and receives as many from rank+2^k, so ceil(log2 p)
// rounds suffice for any p; a final local rotation puts blocks in rank
// order.
func AllgatherBruck(c Conn, t Tag, send, recv []byte) (err error) {
	r, p, n := c.Rank(), c.Size(), len(send)
	if len(recv) != n*p {
		return errLen("allgather receive buffer", len(recv), n*p)
	}
	// tmp block i is rank (r+i) mod p's block.
	tmp, put := scratch[byte](n * p)
	defer func() {
		if err == nil {
			put()
		}
	}()
	copy(tmp, send)
	for k, round := 1, 0; k < p; k, round = k*2, round+1 {
		cnt := min(k, p-k)
		if err := sendrecv(c, mod(r-k, p), t.At(round), tmp[:cnt*n], (r+k)%p, t.At(round), tmp[k*n:(k+cnt)*n]); err != nil {
			return err
		}
	}
	copy(recv[r*n:], tmp[:(p-r)*n])
	copy(recv, tmp[(p-r)*n:])
	return nil
}
