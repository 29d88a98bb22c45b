package main

// team is all the simulator asks of the message-passing layer: a
// Cartesian process grid with face-neighbour halo exchange, in-place
// reductions and a gather to rank 0. commTeam backs it with comm.
type team interface {
	rank() int
	size() int
	// coords is the process-grid position of rank r.
	coords(r int) ([3]int, error)
	// exchange sends sendLo to the neighbour below along dim and sendHi to
	// the one above, and receives recvLo from below and recvHi from above.
	// Missing neighbours (domain edge) are skipped.
	exchange(dim int, sendLo, sendHi, recvLo, recvHi []float64) error
	// sum and minimum reduce v element-wise over all ranks, in place.
	sum(v []float64) error
	minimum(v []float64) error
	// gather concatenates every rank's local (equal lengths) in rank order
	// into all on rank 0; all is ignored elsewhere.
	gather(local, all []float64) error
}
