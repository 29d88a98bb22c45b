package coll

// AllgatherRing gathers every rank's block (all len(send) bytes) into recv
// on every rank, in rank order, by passing blocks round a ring: in step s
// rank r forwards the block of rank r-s to its right and receives that of
// r-s-1 from its left (Thakur, Rabenseifner and Gropp 2005, section 4.2).
// p-1 steps, each moving one block; bandwidth-optimal for long messages.
func AllgatherRing(c Conn, t Tag, send, recv []byte) error {
	p, n := c.Size(), len(send)
	if len(recv) != n*p {
		return errLen("allgather receive buffer", len(recv), n*p)
	}
	counts, displs := make([]int, p), make([]int, p)
	for i := range counts {
		counts[i], displs[i] = n, i*n
	}
	return AllgathervRing(c, t, send, recv, counts, displs)
}

// AllgathervRing is AllgatherRing with blocks of differing lengths: rank
// i's block lands at recv[displs[i]:displs[i]+counts[i]] on every rank.
// counts and displs are in bytes and must agree on every rank.
func AllgathervRing(c Conn, t Tag, send, recv []byte, counts, displs []int) error {
	r, p := c.Rank(), c.Size()
	if err := checkV("allgatherv", counts, displs, len(recv), p); err != nil {
		return err
	}
	if len(send) != counts[r] {
		return errLen("allgatherv send buffer", len(send), counts[r])
	}
	copy(recv[displs[r]:], send)
	block := func(i int) []byte { return recv[displs[i] : displs[i]+counts[i]] }
	right, left := (r+1)%p, mod(r-1, p)
	for s := 0; s < p-1; s++ {
		if err := sendrecv(c, right, t.At(s), block(mod(r-s, p)), left, t.At(s), block(mod(r-s-1, p))); err != nil {
			return err
		}
	}
	return nil
}
