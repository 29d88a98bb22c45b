package coll

// BarrierDissemination is the dissemination barrier of Hensgen, Finkel and
// Manber, "Two algorithms for barrier synchronization" (Int. J. Parallel
// Programming 17(1), 1988): in round k every rank signals rank+2^k and
// waits for rank-2^k, so after ceil(log2 p) rounds each rank has heard,
// directly or through others, from all. It needs no power-of-two size.
func BarrierDissemination(c Conn, t Tag) error {
	r, p := c.Rank(), c.Size()
	for k, round := 1, 0; k < p; k, round = k*2, round+1 {
		if err := sendrecv(c, (r+k)%p, t.At(round), nil, mod(r-k, p), t.At(round), nil); err != nil {
			return err
		}
	}
	return nil
}
