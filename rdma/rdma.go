// Package rdma is mpx's one-sided layer: memory regions registered for
// remote access, packed remote keys, and Put, Get and atomics into a peer's
// region.
//
// A Domain serves one rank. Register exposes a buffer as a Region and packs
// its key; the key travels to the peers (comm gathers them when a window
// is created); a peer's Attach unpacks it into a Remote, through which it
// reads and writes the region.
//
// Data moves through the first direct Backend that can reach the peer's
// memory: cross-memory attach (process_vm_readv/writev) between processes
// of one node, and, with the build tag ucx, UCX (mem_map and rkey_pack at
// Register, rkey_unpack at Attach, put/get_nbx, flush). Where none can, the
// emulation carries the operation in KindRMA frames over the transport
// that reaches the peer, and the target's protocol engine serves it when
// the target waits or polls, as MPI libraries without a progress thread
// do: a rank that computes serves nothing until its next call.
//
// Atomics (FetchAdd, CompareSwap) and calls into the target (Call, Post:
// accumulates, locks) always go through the target: cross-memory attach
// copies bytes without atomicity, and MPI wants every accumulate to a
// location atomic with every other, whichever peer issued it.
//
// Completion: Put returns when src may be reused; its data is visible at
// the target once Flush returns. Get, FetchAdd, CompareSwap and Call return
// when their result is in place, and imply nothing about earlier Puts.
// Post, like Put, completes at Flush; Flush reports the first error the
// target met in what was posted since the last Flush.
package rdma

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
)

var backendParam = param.NewEnum("rma_backend", "auto", []string{"auto", "emulate", "ucx"},
	"one-sided data path: auto = a direct backend (ucx to peers reached over ucx, cross-memory attach on one node) where it reaches the peer, else emulation over the transport; emulate = always the emulation; ucx = only ucx, else the emulation")

// Errors.
var (
	// ErrRange: an access outside the target region.
	ErrRange = errors.New("access outside the remote region")
	// ErrRegion: the target region does not exist (deregistered, or a
	// stale key).
	ErrRegion = errors.New("no such region at the target")
	// ErrKey: a packed key could not be decoded.
	ErrKey = errors.New("malformed remote key")
	// ErrRemote: the target failed the operation for another reason; the
	// error says which.
	ErrRemote = errors.New("remote operation failed")
	// ErrAlign: an atomic on a location not aligned to its 8 bytes.
	ErrAlign = errors.New("atomic on an unaligned location")
)

// Conduit is what the emulation needs of the protocol engine below it
// (comm/internal/p2p): a way to send KindRMA frames, to run steps outside
// the transport's receive context, and completions whose Wait drives
// progress. The Domain is the engine's handler of KindRMA frames.
type Conduit interface {
	// Rank is this rank's world rank.
	Rank() int
	// Send sends one frame to world rank peer (this rank included). It
	// does not retain h or payload.
	Send(peer int, h *transport.Header, payload []byte) error
	// MaxFrame is the largest payload of one frame to peer; 0 = unbounded.
	MaxFrame(peer int) int
	// Later runs fn soon, outside the receive context.
	Later(fn func())
	// Start returns a completion of an operation on peer; label names it
	// in reports of what a rank is blocked in.
	Start(peer int, label string) Completion
}

// Completion is one outstanding operation: Complete is called once, by
// the Domain; Wait returns its error, driving progress while it waits,
// and may recycle the completion: it is called once.
type Completion interface {
	Complete(err error)
	Wait() error
}

// Backend is a direct way into a peer's memory. Pack and Unpack mirror
// UCX's ucp_mem_map + ucp_rkey_pack and ucp_ep_rkey_unpack.
type Backend interface {
	// Name is the backend's short name ("cma", "ucx"), also the name of
	// its section in a packed key.
	Name() string
	// Pack registers buf and returns what a peer needs to reach it;
	// release undoes the registration. The caller keeps buf alive until
	// release.
	Pack(buf []byte) (key []byte, release func(), err error)
	// Unpack opens a peer's key section; an error means this process
	// cannot reach that memory this way (another node, no permission),
	// and the caller falls back to the next backend or the emulation.
	Unpack(peer int, key []byte) (Target, error)
}

// Target is a peer's region reached through a direct Backend. Put
// returns when src may be reused, Get when dst holds the data; Flush
// returns when every Put issued before it is visible at the target.
// Offsets are checked by the caller.
type Target interface {
	Put(src []byte, off int) error
	Get(dst []byte, off int) error
	Flush() error
	Close() error
}

// Key layout (little endian): magic "MXK1", region id u32, region length
// u64, section count u8, then per section: name length u8, name, key
// length u32, key bytes.
const keyMagic = "MXK1"

// maxKey bounds a packed key, so a corrupt length cannot make us allocate
// much.
const maxKey = 1 << 16

type keySection struct {
	name string
	key  []byte
}

type packedKey struct {
	id       uint32
	size     uint64
	sections []keySection
}

func (k *packedKey) encode() []byte {
	b := append([]byte(keyMagic), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], k.id)
	binary.LittleEndian.PutUint64(b[8:], k.size)
	b = append(b, byte(len(k.sections)))
	for _, s := range k.sections {
		b = append(b, byte(len(s.name)))
		b = append(b, s.name...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s.key)))
		b = append(b, s.key...)
	}
	return b
}

// decodeKey parses a packed key; the sections alias b.
func decodeKey(b []byte) (packedKey, error) {
	var k packedKey
	if len(b) > maxKey {
		return k, fmt.Errorf("%w: %d bytes, at most %d", ErrKey, len(b), maxKey)
	}
	if len(b) < 17 || string(b[:4]) != keyMagic {
		return k, fmt.Errorf("%w: bad header", ErrKey)
	}
	k.id = binary.LittleEndian.Uint32(b[4:])
	k.size = binary.LittleEndian.Uint64(b[8:])
	if k.size > 1<<48 {
		return k, fmt.Errorf("%w: region of %d bytes", ErrKey, k.size)
	}
	n := int(b[16])
	b = b[17:]
	for i := 0; i < n; i++ {
		if len(b) < 1 || len(b) < 1+int(b[0])+4 {
			return k, fmt.Errorf("%w: section %d truncated", ErrKey, i)
		}
		name := string(b[1 : 1+b[0]])
		b = b[1+int(b[0]):]
		l := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(l) > uint64(len(b)) {
			return k, fmt.Errorf("%w: section %q of %d bytes, %d left", ErrKey, name, l, len(b))
		}
		k.sections = append(k.sections, keySection{name: name, key: b[:l]})
		b = b[l:]
	}
	if len(b) != 0 {
		return k, fmt.Errorf("%w: %d trailing bytes", ErrKey, len(b))
	}
	return k, nil
}
