// Package ucx is the transport over UCX's UCP layer: verbs (rc, dc, ud) on
// an RDMA fabric, and UCX's own tcp and shared-memory transports elsewhere,
// through one code path. It needs cgo and libucx, and is built only with
// the build tag ucx (`go build -tags ucx`); without it Open reports
// ErrNotBuilt and the rest of mpx is pure Go.
//
// Frames travel as UCP active messages (ucp_am_send_nbx rather than tag
// sends: the mpx header rides in the active-message header and reaches the
// Handler before any payload, which is what lets Alloc name the posted
// buffer; UCP's tag matching would duplicate comm's). Small frames go
// eagerly, from the caller's buffers when UCP completes at once
// (UCP_OP_ATTR_FLAG_FORCE_IMM_CMPL) or from a copy in C memory. Large ones
// go zero copy: UCP's rendezvous moves them from the pinned sender's
// buffer into the pinned buffer the receiver's Alloc returned (an RDMA read
// on a fabric, cma on one node). Each connection numbers its messages and
// the receiver delivers them in that order, since UCP does not promise
// order across its protocols and lanes.
//
// With the ucx_single_copy parameter, endpoints also offer
// transport.SingleCopy: the sender registers its buffer (ucp_mem_map),
// ships a packed remote key in the RTS, and the receiver reads it with
// ucp_get_nbx. It is off by default: measured here (UCX 1.13, tcp and sm)
// the engine's RTS/CTS followed by UCP's own rendezvous was faster for
// 1 MiB than a registration per message and a get.
//
// Arrivals are queued in C memory by a C callback inside
// ucp_worker_progress and handed to the Handler afterwards, so no Go code
// runs inside UCX. Progress is driven by whoever waits (transport.Poller):
// Poll progresses the worker; Block arms it and sleeps on its event fd.
//
// Every connection proves knowledge of the job secret: the first message
// on it is a hello carrying an HMAC of the secret over both ranks and a
// random challenge the receiving transport published in its business
// card, which only the job's key-value service hands out. Messages from a
// connection that has not said hello are never delivered.
package ucx

import (
	"errors"

	"github.com/mpx-hpc/mpx/transport"
)

// ErrNotBuilt: this binary was built without the ucx build tag.
var ErrNotBuilt = errors.New("ucx: not built with ucx (rebuild with -tags ucx; needs cgo and libucx-dev)")

// ErrPeerClosed: the peer closed its transport.
var ErrPeerClosed = errors.New("peer closed its transport")

// Config configures Open.
type Config struct {
	// Rank is this rank's world rank. Zero is rank 0.
	Rank int
	// Size is the number of ranks in the job; it must exceed Rank. Zero
	// means a job of one when Rank is 0.
	Size int
	// Secret is the job secret that peers prove knowledge of. Nil is an
	// empty key.
	Secret []byte
	// Handler receives inbound frames (during Poll). Nil is an error.
	Handler transport.Handler
	// TLS restricts UCX's transports, as UCX_TLS does ("tcp", "sm",
	// "rc,sm"). Empty means UCX_TLS from the environment, or all.
	TLS string
	// NetDevices restricts UCX's network devices, as UCX_NET_DEVICES does
	// ("lo", "mlx5_0:1"). Empty means UCX_NET_DEVICES, or all.
	NetDevices string
	// SingleCopy makes endpoints offer transport.SingleCopy (register, ship
	// a remote key, RDMA read). Nil means the ucx_single_copy parameter
	// (off by default).
	SingleCopy *bool
}

// Link is what a ucx transport offers beyond transport.Transport: polled
// progress, and a description of the UCX lanes that reach a peer.
type Link interface {
	transport.Transport
	transport.Poller
	// Lanes says which UCX transports and devices reach peer, once an
	// endpoint to it exists ("tcp/lo", "posix/memory cma/memory"), or "".
	Lanes(peer int) string
}

// Resource is one transport on one device that UCX offers on this machine.
type Resource struct {
	Transport string // "rc_mlx5", "tcp", "posix"
	Device    string // "mlx5_0:1", "eth0", "memory"
}

func (r Resource) String() string { return r.Transport + "/" + r.Device }

// rdmaTransports are the UCX transports that move data by RDMA on a fabric.
var rdmaTransports = map[string]bool{
	"rc": true, "rc_verbs": true, "rc_mlx5": true, "dc": true, "dc_mlx5": true,
	"ud": true, "ud_verbs": true, "ud_mlx5": true, "srd": true, "gdr_copy": false,
}

// HasRDMA reports whether rs include a transport over an RDMA fabric.
func HasRDMA(rs []Resource) bool {
	for _, r := range rs {
		if rdmaTransports[r.Transport] {
			return true
		}
	}
	return false
}

// eagerLimit: above it the protocol engine sends an RTS and the receiver
// reads the payload (SingleCopy) or asks for it (CTS).
const eagerLimit = 16 << 10

// EagerLimit is the largest message a ucx transport sends eagerly, for
// `mpx info`.
const EagerLimit = eagerLimit

// RMA is implemented by the endpoints of a ucx transport: one-sided access
// to a region a peer registered (Transport.Register) and whose Key it
// shipped. Each call waits for local completion and does not retain its
// buffers; Flush waits for remote completion of the Puts and atomics
// before it. Offsets are bytes into the region; an access outside it
// fails with ErrRange. Atomics work on 8-aligned 64-bit words.
type RMA interface {
	Put(key []byte, off uint64, src []byte) error
	Get(key []byte, off uint64, dst []byte) error
	FetchAdd64(key []byte, off, delta uint64) (old uint64, err error)
	CompareSwap64(key []byte, off, compare, swap uint64) (old uint64, err error)
	Flush() error
}

// ErrRange: a one-sided access falls outside the remote region.
var ErrRange = errors.New("ucx: access outside the remote region")
