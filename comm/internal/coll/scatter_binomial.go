package coll

// ScatterBinomial sends block i of root's send buffer to rank i (all blocks
// of len(recv) bytes) along a binomial tree, the mirror of GatherBinomial
// (Thakur, Rabenseifner and Gropp 2005, section 4.3): each rank receives
// its subtree's blocks in one message and hands on the halves that belong
// below it. send is used at root only and must hold p blocks.
func ScatterBinomial(c Conn, t Tag, send, recv []byte, root int) error {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	n := len(recv)
	if r == root && len(send) != n*p {
		return errLen("scatter send buffer", len(send), n*p)
	}
	vr := mod(r-root, p)
	// tmp holds the blocks of relative ranks [vr, vr+subtree).
	var tmp []byte
	switch {
	case vr == 0 && root == 0:
		tmp = send
	case vr == 0:
		tmp = make([]byte, n*p)
		copy(tmp, send[root*n:])
		copy(tmp[(p-root)*n:], send[:root*n])
	default:
		tmp = make([]byte, n*subtree(vr, p))
	}
	mask := 1
	for mask < p {
		if vr&mask != 0 {
			if err := c.Recv(mod(vr-mask+root, p), t.At(bit(mask)), tmp); err != nil {
				return err
			}
			break
		}
		mask <<= 1
	}
	for mask >>= 1; mask > 0; mask >>= 1 {
		if vr+mask < p {
			cnt := min(mask, p-vr-mask)
			if err := c.Send(mod(vr+mask+root, p), t.At(bit(mask)), tmp[mask*n:(mask+cnt)*n]); err != nil {
				return err
			}
		}
	}
	copy(recv, tmp[:n])
	return nil
}
