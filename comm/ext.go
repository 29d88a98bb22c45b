package comm

// commExt holds what collectives and topologies keep per communicator.
type commExt struct{}
