package coll

// GatherBinomial gathers every rank's send block (all of one length) into
// recv at root, in rank order, along a binomial tree (Thakur, Rabenseifner
// and Gropp 2005, section 4.3, after MPICH): each rank first collects the
// blocks of its subtree, contiguous in ranks relative to the root, then
// passes them up in one message. ceil(log2 p) rounds; any p. recv is used
// at root only and must hold p blocks.
func GatherBinomial(c Conn, t Tag, send, recv []byte, root int) error {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	n := len(send)
	if r == root && len(recv) != n*p {
		return errLen("gather receive buffer", len(recv), n*p)
	}
	vr := mod(r-root, p)
	// tmp holds the blocks of relative ranks [vr, vr+have).
	var tmp []byte
	if vr == 0 && root == 0 {
		tmp = recv
	} else {
		tmp = make([]byte, n*subtree(vr, p))
	}
	copy(tmp, send)
	have := 1
	for mask := 1; mask < p; mask <<= 1 {
		if vr&mask != 0 {
			if err := c.Send(mod(vr-mask+root, p), t.At(bit(mask)), tmp[:have*n]); err != nil {
				return err
			}
			break
		}
		if vr+mask < p {
			cnt := min(mask, p-vr-mask)
			if err := c.Recv(mod(vr+mask+root, p), t.At(bit(mask)), tmp[mask*n:(mask+cnt)*n]); err != nil {
				return err
			}
			have = mask + cnt
		}
	}
	if vr == 0 && root != 0 {
		// Relative block i belongs to rank (i+root) mod p.
		copy(recv[root*n:], tmp[:(p-root)*n])
		copy(recv, tmp[(p-root)*n:])
	}
	return nil
}

// subtree is the number of ranks in the binomial subtree of relative rank
// vr: its lowest set bit (or p for the root), cut at p.
func subtree(vr, p int) int {
	if vr == 0 {
		return p
	}
	return min(vr&-vr, p-vr)
}
