package coll

// GathervLinear gathers blocks of differing lengths at root: root posts a
// receive per rank into recv[displs[i]:displs[i]+counts[i]] and every other
// rank sends its block straight there. This is what MPICH does for the
// v-variants (Thakur, Rabenseifner and Gropp 2005, section 4.3), since
// counts known only at root rule out a tree. counts and displs are in bytes
// and matter at root only.
func GathervLinear(c Conn, t Tag, send, recv []byte, counts, displs []int, root int) error {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	if r != root {
		return c.Send(root, t.At(0), send)
	}
	if err := checkV("gatherv", counts, displs, len(recv), p); err != nil {
		return err
	}
	if len(send) != counts[root] {
		return errLen("gatherv root's own block", len(send), counts[root])
	}
	reqs := make([]Req, 0, p-1)
	for i := 0; i < p; i++ {
		if i == root {
			continue
		}
		q, err := c.Irecv(i, t.At(0), recv[displs[i]:displs[i]+counts[i]])
		if err != nil {
			return err
		}
		reqs = append(reqs, q)
	}
	copy(recv[displs[root]:], send)
	return waitAll(reqs)
}
