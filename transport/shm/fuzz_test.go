package shm

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

func FuzzParseAddr(f *testing.F) {
	f.Add(Addr{Segment: SegmentName("job_1", 3), Pid: 4242}.String())
	f.Add("mpx-x-0@1")
	f.Add("mpx-a-1@")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		b, err := ParseAddr(a.String())
		if err != nil || b != a {
			t.Fatalf("%q parsed as %+v, which reparses as %+v, %v", s, a, b, err)
		}
	})
}

func FuzzDecodeDesc(f *testing.F) {
	for _, d := range []desc{{pid: 1, addr: 0xc000100000, n: 1 << 20}, {pid: 99, addr: 0, n: 0}} {
		b := make([]byte, descSize)
		d.encode(b)
		f.Add(b)
	}
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDesc(b)
		if err != nil {
			return
		}
		if d.addr+d.n < d.addr || d.pid <= 0 {
			t.Fatalf("accepted %+v", d)
		}
		again := make([]byte, descSize)
		d.encode(again)
		if !bytes.Equal(again, b) {
			t.Fatalf("%x decoded as %+v, which encodes as %x", b, d, again)
		}
	})
}

// heapSegment lays out a segment in ordinary memory, as createSegment
// would in /dev/shm.
func heapSegment(slots []int, ncells, cellSize int) *segment {
	hdrSize, stride, size := layout(len(slots), ncells, cellSize)
	mem := make([]byte, size)
	binary.LittleEndian.PutUint64(mem[offMagic:], segMagic)
	binary.LittleEndian.PutUint32(mem[offVersion:], segVersion)
	binary.LittleEndian.PutUint32(mem[offSlots:], uint32(len(slots)))
	binary.LittleEndian.PutUint32(mem[offCells:], uint32(ncells))
	binary.LittleEndian.PutUint32(mem[offCellSize:], uint32(cellSize))
	binary.LittleEndian.PutUint32(mem[offReady:], 1)
	for i, r := range slots {
		binary.LittleEndian.PutUint32(mem[offSlotTab+4*i:], uint32(r))
	}
	return &segment{mem: mem, name: "heap", slots: slots, ncells: ncells, cellSize: cellSize, hdrSize: hdrSize, stride: stride}
}

func FuzzParseSegment(f *testing.F) {
	f.Add(heapSegment([]int{0, 1}, 2, 128).mem)
	f.Add(heapSegment([]int{0, 1, 2}, 4, 256).mem)
	f.Add(make([]byte, pageSize))
	f.Fuzz(func(t *testing.T, mem []byte) {
		s, err := parseSegment(mem)
		if err != nil {
			return
		}
		for i := range s.slots {
			if r := s.ring(i); len(r) != s.stride {
				t.Fatalf("ring %d of %d bytes, stride %d", i, len(r), s.stride)
			}
		}
	})
}

// ringFixture is rank 1's transport state with a verified ring from rank 0
// in heap memory.
func ringFixture(rec transport.Handler) (*Transport, *producer) {
	const cellSize, ncells = 128, 8
	seg := heapSegment([]int{0, 1}, ncells, cellSize)
	t := &Transport{rank: 1, size: 2, jobID: "fuzz", h: rec, seg: seg, peers: make([]*peer, 2)}
	for slot, r := range seg.slots {
		p := &peer{rank: r, pidfd: -1}
		p.in = newConsumer(t, seg, slot, p)
		t.peers[r], t.in = p, append(t.in, p.in)
	}
	r := seg.ring(0)
	copy(r[rOffTag:], producerTag(nil, "fuzz", 0, 1))
	r[rOffReady] = 1
	p := newProducer(seg, 0)
	return t, &p
}

// boundedAlloc refuses (with a buffer of the wrong length, which the
// transport reports as a failure) payloads over 1 MiB, so that fuzzed
// lengths do not exhaust memory.
type boundedAlloc struct{ *transporttest.Recorder }

func (b boundedAlloc) Alloc(h *transport.Header) []byte {
	if h.PayloadLen() > 1<<20 {
		return nil
	}
	return b.Recorder.Alloc(h)
}

// FuzzRing feeds arbitrary cells, as an authenticated but broken or
// hostile sender could write them, to the consumer: it must deliver only
// frames of the announced length, or report the peer, never panic.
func FuzzRing(f *testing.F) {
	// Seeds: the cells a real sender writes for frames of several sizes.
	rec := transporttest.NewRecorder()
	tr, p := ringFixture(rec)
	var stream []byte
	for _, n := range []int{0, 5, 72, 73, 300} {
		h := transport.Header{Kind: transport.KindEager, Source: 0, Len: uint64(n)}
		payload := bytes.Repeat([]byte{byte(n)}, n)
		c := p.cell()
		h.Encode(c[cellHdr:firstRoom])
		take := copy(c[firstRoom:], payload)
		stream = append(stream, c...)
		p.publish(c, take)
		for off := take; off < n; {
			c = p.cell()
			take = copy(c[cellHdr:], payload[off:])
			stream = append(stream, c...)
			p.publish(c, take)
			off += take
		}
		tr.peers[0].in.drain()
	}
	if len(rec.Frames()) != 5 {
		f.Fatalf("seed frames: %d delivered, want 5", len(rec.Frames()))
	}
	f.Add(stream)
	f.Add(stream[:128*3])
	f.Fuzz(func(t *testing.T, cells []byte) {
		rec := transporttest.NewRecorder()
		tr, p := ringFixture(boundedAlloc{rec})
		c := tr.peers[0].in
		for len(cells) > 0 {
			cell := p.cell()
			if cell == nil {
				c.drain()
				if cell = p.cell(); cell == nil {
					break // the consumer gave up on the ring
				}
			}
			n := copy(cell, cells)
			cells = cells[n:]
			p.publish(cell, int(binary.LittleEndian.Uint32(cell[4:])))
		}
		c.drain()
		for _, fr := range rec.Frames() {
			if uint64(len(fr.Payload)) != fr.Header.PayloadLen() || fr.Header.Source != 0 {
				t.Fatalf("delivered %v with %d payload bytes", &fr.Header, len(fr.Payload))
			}
		}
		if v := rec.Violations(); len(v) > 0 {
			t.Fatal(v)
		}
	})
}
