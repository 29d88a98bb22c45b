package shm

import (
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mpx-hpc/mpx/transport"
)

// A ring carries frames from one sender to one receiver: single producer
// (the sender's endpoint, under its mutex), single consumer (whoever polls
// the receiver, under the consumer's mutex). Cells are published one at a
// time by storing the cell's sequence number, the 1-based count of cells
// ever written, into its first word: the consumer polls the next cell
// itself rather than a shared tail, so a small frame costs one cache line
// moving from sender to receiver. The consumer publishes its head on its
// own line, which the sender reads only when its cached copy says the ring
// is full.

func cellSeq(c []byte) *uint32 { return (*uint32)(unsafe.Pointer(&c[0])) }

// producer is the sender's side of a ring in the receiver's segment.
type producer struct {
	ring     []byte
	ncells   int
	cellSize int
	tail     uint64 // cells written
	idx      int    // tail % ncells
	head     uint64 // last head read from the consumer
	headp    *uint64
	waitp    *uint64 // waitSpace: while the sender sleeps on a full ring, 1 + the head it waits for
	pendp    *uint64 // the receiver's bitmap word holding this ring's bit
	pendBit  uint64
}

// newProducer makes the producer of ring r, slot's ring of seg.
func newProducer(seg *segment, slot int, r []byte) producer {
	headp := (*uint64)(unsafe.Pointer(&r[rOffHead]))
	// A ring is written by one endpoint for the life of the job, so the
	// consumer's head is where this producer starts.
	tail := atomic.LoadUint64(headp)
	return producer{
		ring: r, ncells: seg.ncells, cellSize: seg.cellSize,
		headp: headp, waitp: (*uint64)(unsafe.Pointer(&r[rOffWaitSpace])),
		tail: tail, head: tail, idx: int(tail % uint64(seg.ncells)),
		pendp: seg.pendingWord(slot), pendBit: 1 << (slot % 64),
	}
}

// cell returns the next free cell, or nil when the ring is full.
func (p *producer) cell() []byte {
	if p.tail-p.head >= uint64(p.ncells) {
		p.head = atomic.LoadUint64(p.headp)
		if p.tail-p.head >= uint64(p.ncells) {
			return nil
		}
	}
	off := ringCtl + p.idx*p.cellSize
	return p.ring[off : off+p.cellSize : off+p.cellSize]
}

// publish hands the filled cell c, carrying n payload bytes, to the consumer.
func (p *producer) publish(c []byte, n int) {
	binary.LittleEndian.PutUint32(c[4:], uint32(n))
	p.tail++
	if p.idx++; p.idx == p.ncells {
		p.idx = 0
	}
	atomic.StoreUint32(cellSeq(c), uint32(p.tail))
}

// consumer is the receiver's side of the ring from one sender, with the
// state of the frame being reassembled from fragments.
type consumer struct {
	mu       sync.Mutex
	t        *Transport
	p        *peer
	ring     []byte
	ncells   int
	cellSize int
	head     uint64
	idx      int
	headp    *uint64
	waitp    *uint64
	readyp   *uint32
	closedp  *uint32

	verified bool        // the producer proved the job secret
	broken   atomic.Bool // a malformed frame or a stranger: nothing more is read

	inFrame bool
	hdr     transport.Header
	dst     []byte
	off     uint64
}

func newConsumer(t *Transport, seg *segment, slot int, p *peer) *consumer {
	r := seg.ring(slot)
	return &consumer{
		t: t, p: p, ring: r, ncells: seg.ncells, cellSize: seg.cellSize,
		headp:   (*uint64)(unsafe.Pointer(&r[rOffHead])),
		waitp:   (*uint64)(unsafe.Pointer(&r[rOffWaitSpace])),
		readyp:  (*uint32)(unsafe.Pointer(&r[rOffReady])),
		closedp: (*uint32)(unsafe.Pointer(&r[rOffClosed])),
	}
}

// pending tells, without the lock, whether a cell waits to be read: a poll
// reads the bitmap instead, this tells whether a drained ring has more.
func (c *consumer) pending() bool {
	h := atomic.LoadUint64(c.headp)
	off := ringCtl + int(h&uint64(c.ncells-1))*c.cellSize
	return atomic.LoadUint32(cellSeq(c.ring[off:])) == uint32(h+1)
}

// producerClosed: the sender closed its transport in order.
func (c *consumer) producerClosed() bool { return atomic.LoadUint32(c.closedp) != 0 }

// maxDrain bounds the frames one Poll takes from one ring, so that a busy
// sender does not starve the others.
const maxDrain = 64

// drain delivers the complete frames waiting in the ring; it reports
// whether it delivered any. The caller holds c.mu.
func (c *consumer) drain() bool {
	if c.broken.Load() {
		return false
	}
	frames := 0
	roomFirst, roomNext := uint64(c.cellSize-firstRoom), uint64(c.cellSize-cellHdr)
	for frames < maxDrain {
		off := ringCtl + c.idx*c.cellSize
		cell := c.ring[off : off+c.cellSize : off+c.cellSize]
		if atomic.LoadUint32(cellSeq(cell)) != uint32(c.head+1) && !c.awaitFragment(cell) {
			break
		}
		if !c.verified && !c.verify() {
			return frames > 0
		}
		n := uint64(binary.LittleEndian.Uint32(cell[4:]))
		if !c.inFrame {
			if err := c.hdr.Decode(cell[cellHdr:firstRoom], maxFrame); err != nil {
				c.fail(err)
				return frames > 0
			}
			if int(c.hdr.Source) != c.p.rank {
				c.fail(fmt.Errorf("%w: frame claims source rank %d on the ring of rank %d", transport.ErrFrame, c.hdr.Source, c.p.rank))
				return frames > 0
			}
			need := c.hdr.PayloadLen()
			if take := min(need, roomFirst); n != take {
				c.fail(fmt.Errorf("%w: first cell of a %d-byte %s frame carries %d bytes, want %d", transport.ErrFrame, need, c.hdr.Kind, n, take))
				return frames > 0
			}
			dst := c.t.h.Alloc(&c.hdr)
			if uint64(len(dst)) != need {
				c.fail(fmt.Errorf("handler allocated %d bytes for a %d-byte %s frame", len(dst), need, c.hdr.Kind))
				return frames > 0
			}
			copy(dst, cell[firstRoom:firstRoom+n])
			c.dst, c.off, c.inFrame = dst, n, true
		} else {
			if take := min(uint64(len(c.dst))-c.off, roomNext); n != take {
				c.fail(fmt.Errorf("%w: fragment at offset %d of a %d-byte frame carries %d bytes, want %d", transport.ErrFrame, c.off, len(c.dst), n, take))
				return frames > 0
			}
			copy(c.dst[c.off:], cell[cellHdr:cellHdr+n])
			c.off += n
		}
		c.advance()
		if c.off == uint64(len(c.dst)) {
			dst := c.dst
			c.dst, c.inFrame = nil, false
			c.t.h.Deliver(&c.hdr, dst)
			frames++
		}
	}
	return frames > 0
}

// fragmentSpin bounds how many times drain looks again for the next
// fragment of a frame it is reassembling (about a microsecond): a sender
// streaming a large frame writes the next cell about that soon, and waiting
// here keeps the pipeline going without a futex sleep and wake per cell.
const fragmentSpin = 256

// awaitFragment waits briefly for cell when a frame is half read.
func (c *consumer) awaitFragment(cell []byte) bool {
	if !c.inFrame {
		return false
	}
	seq := cellSeq(cell)
	for i := 0; i < fragmentSpin; i++ {
		if atomic.LoadUint32(seq) == uint32(c.head+1) {
			return true
		}
	}
	return false
}

// advance frees the cell just read and wakes the sender if it sleeps on a
// full ring.
func (c *consumer) advance() {
	c.head++
	if c.idx++; c.idx == c.ncells {
		c.idx = 0
	}
	atomic.StoreUint64(c.headp, c.head)
	if w := atomic.LoadUint64(c.waitp); w != 0 && c.head+1 >= w {
		if out := c.p.out.Load(); out != nil {
			out.wakeOwner()
		}
	}
}

// waitSpace is what a sender facing a full ring asks for before it is
// woken: half the ring free, so that it does not sleep and wake for every
// cell the receiver frees.
func (p *producer) waitSpace() uint64 { return p.tail - uint64(p.ncells)/2 + 1 }

// verify checks the producer's proof of the job secret before the first
// frame is accepted. A stranger's ring is ignored for good, without
// disturbing the job.
func (c *consumer) verify() bool {
	if atomic.LoadUint32(c.readyp) != 1 {
		c.broken.Store(true)
		return false
	}
	want := producerTag(c.t.secret, c.t.jobID, c.p.rank, c.t.rank)
	if !hmac.Equal(c.ring[rOffTag:rOffTag+tagSize], want) {
		c.broken.Store(true)
		return false
	}
	c.verified = true
	c.p.learnPid(c.t, int(binary.LittleEndian.Uint64(c.ring[rOffPid:])))
	return true
}

// fail abandons the ring after a malformed frame from an authenticated
// peer and reports it.
func (c *consumer) fail(err error) {
	c.broken.Store(true)
	c.dst, c.inFrame = nil, false
	c.t.failPeer(c.p, &transport.PeerError{Op: "recv", Peer: c.p.rank, Addr: c.t.seg.name, Err: err})
}
