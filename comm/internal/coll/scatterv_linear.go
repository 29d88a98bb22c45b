package coll

// ScattervLinear sends send[displs[i]:displs[i]+counts[i]] from root to
// rank i, root posting all sends at once: MPICH's algorithm for the
// v-variant (Thakur, Rabenseifner and Gropp 2005, section 4.3). counts and
// displs are in bytes and matter at root only.
func ScattervLinear(c Conn, t Tag, send []byte, counts, displs []int, recv []byte, root int) error {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	if r != root {
		return c.Recv(root, t.At(0), recv)
	}
	if err := checkV("scatterv", counts, displs, len(send), p); err != nil {
		return err
	}
	if len(recv) != counts[root] {
		return errLen("scatterv root's own block", len(recv), counts[root])
	}
	reqs := make([]Req, 0, p-1)
	for i := 0; i < p; i++ {
		if i == root {
			continue
		}
		q, err := c.Isend(i, t.At(0), send[displs[i]:displs[i]+counts[i]])
		if err != nil {
			return err
		}
		reqs = append(reqs, q)
	}
	copy(recv, send[displs[root]:displs[root]+counts[root]])
	return waitAll(reqs)
}
