package coll

// AlltoallBruck is the alltoall of Bruck et al. 1997 (IEEE TPDS 8(11)),
// MPICH's choice for short messages (Thakur, Rabenseifner and Gropp 2005,
// section 4.5): after a local rotation, in round k every rank sends to
// rank+2^k, in one message, all blocks whose index has bit k set, so a
// block bound for a rank d away travels one hop per set bit of d:
// ceil(log2 p) rounds at the price of moving each block up to log2 p
// times. A final rotation restores rank order. Any p.
func AlltoallBruck(c Conn, t Tag, send, recv []byte) (err error) {
	r, p := c.Rank(), c.Size()
	if len(send)%p != 0 || len(recv) != len(send) {
		return errLen("alltoall receive buffer", len(recv), len(send))
	}
	n := len(send) / p
	// tmp block i holds data bound for rank r+i, and after round k data
	// from rank r-(i's bits below k) bound for rank r+(i's bits from k).
	tmp, put := scratch[byte](len(send))
	copy(tmp, send[r*n:])
	copy(tmp[(p-r)*n:], send[:r*n])
	pack, putPack := scratch[byte](n * ((p + 1) / 2))
	unpack, putUnpack := scratch[byte](n * ((p + 1) / 2))
	defer func() {
		if err == nil {
			put()
			putPack()
			putUnpack()
		}
	}()
	for k, round := 1, 0; k < p; k, round = k*2, round+1 {
		m := 0
		for i := k; i < p; i++ {
			if i&k != 0 {
				copy(pack[m*n:], tmp[i*n:(i+1)*n])
				m++
			}
		}
		if err := sendrecv(c, (r+k)%p, t.At(round), pack[:m*n], mod(r-k, p), t.At(round), unpack[:m*n]); err != nil {
			return err
		}
		j := 0
		for i := k; i < p; i++ {
			if i&k != 0 {
				copy(tmp[i*n:(i+1)*n], unpack[j*n:(j+1)*n])
				j++
			}
		}
	}
	// tmp block i now holds rank r-i's block bound for r.
	for i := 0; i < p; i++ {
		src := mod(r-i, p)
		copy(recv[src*n:(src+1)*n], tmp[i*n:(i+1)*n])
	}
	return nil
}
