package coll

// BcastBinomial broadcasts buf from root along a binomial tree (Thakur,
// Rabenseifner and Gropp, "Optimization of Collective Communication
// Operations in MPICH", IJHPCA 19(1), 2005, section 4.1): ranks relative to
// the root receive from the rank that differs in their lowest set bit, then
// forward to the ranks below it. ceil(log2 p) rounds of the whole message;
// any p.
func BcastBinomial(c Conn, t Tag, buf []byte, root int) error {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	vr := mod(r-root, p)
	mask := 1
	for mask < p {
		if vr&mask != 0 {
			if err := c.Recv(mod(vr-mask+root, p), t.At(bit(mask)), buf); err != nil {
				return err
			}
			break
		}
		mask <<= 1
	}
	for mask >>= 1; mask > 0; mask >>= 1 {
		if vr+mask < p {
			if err := c.Send(mod(vr+mask+root, p), t.At(bit(mask)), buf); err != nil {
				return err
			}
		}
	}
	return nil
}
