package comm

import "sync/atomic"

// commExt holds what collectives and topologies keep per communicator.
type commExt struct {
	// seq numbers this communicator's collective calls. Every rank makes
	// its collective calls in the same order, so the n-th call has the
	// same number everywhere; it keys the call's tags (coll.Tag), keeping
	// outstanding non-blocking collectives apart.
	seq atomic.Uint32
	// cart is the Cartesian topology, nil for a plain communicator.
	cart *cartTopo
	// freed is set by Free; collectives on a freed communicator fail.
	freed atomic.Bool
}
