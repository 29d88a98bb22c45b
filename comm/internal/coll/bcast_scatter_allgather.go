package coll

// BcastScatterAllgather broadcasts a long message as van de Geijn's
// scatter followed by a ring allgather (Thakur, Rabenseifner and Gropp 2005,
// section 4.1; Barnett et al., "Interprocessor collective communication
// library (InterCom)", 1994): the root scatters p blocks along a binomial
// tree, then every rank passes blocks round a ring. Each rank moves about
// 2n bytes instead of n*log2(p), which wins once n is large. Any p; blocks
// are nearly equal (n need not divide by p) and may be empty.
func BcastScatterAllgather(c Conn, t Tag, buf []byte, root int) error {
	r, p := c.Rank(), c.Size()
	if err := checkRoot(root, p); err != nil {
		return err
	}
	if p == 1 {
		return nil
	}
	// Block i belongs to the rank with relative rank i.
	off := partition(len(buf), p)
	vr := mod(r-root, p)
	real := func(v int) int { return mod(v+root, p) }
	blocks := func(lo, hi int) []byte { return buf[off[min(lo, p)]:off[min(hi, p)]] }

	// Binomial scatter: relative rank v ends up with block v; the subtree
	// rooted at v at level mask is the ranks [v, v+mask).
	sc := t.Phase(0)
	mask := 1
	for mask < p {
		if vr&mask != 0 {
			if err := c.Recv(real(vr-mask), sc.At(bit(mask)), blocks(vr, vr+mask)); err != nil {
				return err
			}
			break
		}
		mask <<= 1
	}
	for mask >>= 1; mask > 0; mask >>= 1 {
		if vr+mask < p {
			if err := c.Send(real(vr+mask), sc.At(bit(mask)), blocks(vr+mask, vr+2*mask)); err != nil {
				return err
			}
		}
	}

	// Ring allgather of the blocks, in relative ranks.
	ag := t.Phase(1)
	right, left := real(vr+1), real(vr-1)
	for s := 0; s < p-1; s++ {
		sb, rb := mod(vr-s, p), mod(vr-s-1, p)
		if err := sendrecv(c, right, ag.At(s), blocks(sb, sb+1), left, ag.At(s), blocks(rb, rb+1)); err != nil {
			return err
		}
	}
	return nil
}
