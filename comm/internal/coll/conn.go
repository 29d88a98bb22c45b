// Package coll holds mpx's collective algorithms, one file each, written as
// schedules over point-to-point operations, and the one decision table that
// picks among them.
package coll

// Conn is the point-to-point service a collective schedule runs over. Ranks
// are ranks of the communicator; the traffic travels in a context of its own
// that user point-to-point messages never see. comm provides it; tests use
// an in-memory one.
//
// Buffers: Send and Recv do not retain buf after they return; Isend and
// Irecv retain it until the Req's Wait returns. A receive must name its
// source and expects exactly len(buf) bytes; a different length is an error
// (a collective mismatched across ranks).
type Conn interface {
	Rank() int
	Size() int
	Send(dst, tag int, buf []byte) error
	Recv(src, tag int, buf []byte) error
	Isend(dst, tag int, buf []byte) (Req, error)
	Irecv(src, tag int, buf []byte) (Req, error)
}

// Req is an outstanding non-blocking operation of a Conn.
type Req interface {
	Wait() error
}
