package coll

// AlltoallPairwise is the pairwise-exchange alltoall (Thakur, Rabenseifner
// and Gropp 2005, section 4.5): in step s rank r exchanges one block with
// partner r XOR s when p is a power of two, else sends to r+s and receives
// from r-s. p-1 steps, one block each way; MPICH's choice for long
// messages. Blocks are len(send)/p bytes; block i goes to rank i.
func AlltoallPairwise(c Conn, t Tag, send, recv []byte) error {
	p := c.Size()
	if len(send)%p != 0 || len(recv) != len(send) {
		return errLen("alltoall receive buffer", len(recv), len(send))
	}
	n := len(send) / p
	counts, displs := make([]int, p), make([]int, p)
	for i := range counts {
		counts[i], displs[i] = n, i*n
	}
	return AlltoallvPairwise(c, t, send, counts, displs, recv, counts, displs)
}

// AlltoallvPairwise is AlltoallPairwise with blocks of differing lengths:
// send[sdispls[i]:][:scounts[i]] goes to rank i, and rank i's block lands
// at recv[rdispls[i]:][:rcounts[i]]. Counts and displacements are bytes.
func AlltoallvPairwise(c Conn, t Tag, send []byte, scounts, sdispls []int, recv []byte, rcounts, rdispls []int) error {
	r, p := c.Rank(), c.Size()
	if err := checkV("alltoallv send", scounts, sdispls, len(send), p); err != nil {
		return err
	}
	if err := checkV("alltoallv receive", rcounts, rdispls, len(recv), p); err != nil {
		return err
	}
	if scounts[r] != rcounts[r] {
		return errLen("alltoallv block to self", scounts[r], rcounts[r])
	}
	copy(recv[rdispls[r]:rdispls[r]+rcounts[r]], send[sdispls[r]:])
	pow2 := p&(p-1) == 0
	for s := 1; s < p; s++ {
		dst, src := (r+s)%p, mod(r-s, p)
		if pow2 {
			dst, src = r^s, r^s
		}
		if err := sendrecv(c, dst, t.At(s-1), send[sdispls[dst]:sdispls[dst]+scounts[dst]],
			src, t.At(s-1), recv[rdispls[src]:rdispls[src]+rcounts[src]]); err != nil {
			return err
		}
	}
	return nil
}
