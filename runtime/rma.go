package runtime

import (
	"fmt"

	"github.com/mpx-hpc/mpx/rdma"
)

// RMABackends are the direct one-sided backends of this rank, in the
// order rdma tries them: UCX first when the ucx transport is open (it
// reaches the peers that transport reaches, the way an RDMA fabric
// would), then the build's defaults (cross-memory attach on one node).
func (rt *Runtime) RMABackends() []rdma.Backend {
	bs := rdma.DefaultBackends()
	if reg, ok := rt.ucx.(rdma.Registrar); ok {
		bs = append([]rdma.Backend{rdma.NewUCX(reg, rt.ucxRMA)}, bs...)
	}
	return bs
}

// ucxRMA is the ucx endpoint to rank, when this rank reaches it over ucx.
func (rt *Runtime) ucxRMA(rank int) (rdma.RMAEndpoint, error) {
	if rank == rt.env.Rank {
		return nil, fmt.Errorf("rank %d: its own memory is not reached over ucx", rank)
	}
	c, err := rt.card(rank)
	if err != nil {
		return nil, err
	}
	if !rt.useUCX(c) {
		return nil, fmt.Errorf("rank %d is not reached over ucx", rank)
	}
	ep, err := rt.ucx.Endpoint(rank, c.UCX)
	if err != nil {
		return nil, err
	}
	e, ok := ep.(rdma.RMAEndpoint)
	if !ok {
		return nil, fmt.Errorf("the ucx endpoint to rank %d has no one-sided access", rank)
	}
	return e, nil
}
