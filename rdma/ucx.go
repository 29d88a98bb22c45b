package rdma

import (
	"errors"
	"fmt"
)

// The UCX backend: Put and Get into a peer's region by ucp_put_nbx and
// ucp_get_nbx, for peers the job reaches over the ucx transport. rdma
// does not import transport/ucx (cgo, build tag ucx): the runtime, which
// opened that transport, hands it over as the two interfaces below, and
// in a build without ucx there is nothing to hand.
//
// Atomics stay with the target, as for every backend: an accumulate is
// served by the target's engine, and a UCX atomic on the same word would
// not be atomic with it.

// Registrar exposes memory for one-sided access by the transport's peers
// (transport/ucx's Transport): key is what a peer's RMAEndpoint needs,
// release undoes the registration.
type Registrar interface {
	RegisterKey(buf []byte) (key []byte, release func(), err error)
}

// RMAEndpoint reaches a peer's registered memory (transport/ucx's RMA):
// Put returns when src may be reused, Get when dst holds the data, Flush
// when every earlier Put is complete at the peer.
type RMAEndpoint interface {
	Put(key []byte, off uint64, src []byte) error
	Get(key []byte, off uint64, dst []byte) error
	Flush() error
}

// UCX is the backend over a ucx transport.
type UCX struct {
	reg Registrar
	// peer returns the endpoint that reaches world rank peer over ucx, or
	// an error when the job reaches it another way.
	peer func(rank int) (RMAEndpoint, error)
}

// NewUCX makes the UCX backend: reg registers this rank's regions, peer
// says how a peer is reached (an error: not over ucx, so the next backend
// or the emulation serves it).
func NewUCX(reg Registrar, peer func(rank int) (RMAEndpoint, error)) *UCX {
	return &UCX{reg: reg, peer: peer}
}

// Name implements Backend.
func (*UCX) Name() string { return "ucx" }

// Pack implements Backend: ucp_mem_map and ucp_rkey_pack. An empty buffer
// has nothing to map; its peers take the emulation, which checks ranges.
func (u *UCX) Pack(buf []byte) ([]byte, func(), error) {
	if len(buf) == 0 {
		return nil, nil, errors.New("ucx: nothing to register in an empty region")
	}
	return u.reg.RegisterKey(buf)
}

// Unpack implements Backend. The remote key is unpacked on the endpoint
// at the first access, which reports a bad key.
func (u *UCX) Unpack(peer int, key []byte) (Target, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty ucx section", ErrKey)
	}
	ep, err := u.peer(peer)
	if err != nil {
		return nil, err
	}
	return &ucxTarget{ep: ep, key: append([]byte(nil), key...)}, nil
}

type ucxTarget struct {
	ep  RMAEndpoint
	key []byte
}

func (t *ucxTarget) Put(src []byte, off int) error { return t.ep.Put(t.key, uint64(off), src) }
func (t *ucxTarget) Get(dst []byte, off int) error { return t.ep.Get(t.key, uint64(off), dst) }
func (t *ucxTarget) Flush() error                  { return t.ep.Flush() }

// Close implements Target: the endpoint belongs to the transport, and the
// unpacked key to the endpoint, which releases it when it closes.
func (t *ucxTarget) Close() error { return nil }
