package shm

import (
	"bytes"
	"encoding/binary"
	"runtime"
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

// headerBytes writes the meaningful bytes of a segment header (up to the
// end of the pending bitmap), as createSegment does.
func headerBytes(slots []int, ncells, cellSize int) []byte {
	hdr := make([]byte, headerEnd(len(slots)))
	binary.LittleEndian.PutUint64(hdr[offMagic:], segMagic)
	binary.LittleEndian.PutUint32(hdr[offVersion:], segVersion)
	binary.LittleEndian.PutUint32(hdr[offSlots:], uint32(len(slots)))
	binary.LittleEndian.PutUint32(hdr[offCells:], uint32(ncells))
	binary.LittleEndian.PutUint32(hdr[offCellSize:], uint32(cellSize))
	binary.LittleEndian.PutUint32(hdr[offReady:], 1)
	for i, r := range slots {
		binary.LittleEndian.PutUint32(hdr[offSlotTab+4*i:], uint32(r))
	}
	return hdr
}

// heapSegment lays out a segment in ordinary memory, as createSegment
// would in /dev/shm.
func heapSegment(slots []int, ncells, cellSize int) *segment {
	hdrSize, stride, size := layout(len(slots), ncells, cellSize)
	mem := make([]byte, size)
	copy(mem, headerBytes(slots, ncells, cellSize))
	return &segment{mem: mem, name: "heap", slots: slots, ncells: ncells, cellSize: cellSize, hdrSize: hdrSize, stride: stride,
		bitmap: bitmapOff(len(slots)), fd: -1}
}

// parseSegmentSeed is a seed of FuzzParseSegment: a header and the size of
// the file it heads. Headers only: a whole segment is kilobytes at least,
// which the fuzzer spends its time minimizing instead of exploring.
type parseSegmentSeed struct {
	hdr  []byte
	size int64
}

func parseSegmentSeeds() []parseSegmentSeed {
	var seeds []parseSegmentSeed
	for _, l := range []struct{ slots, ncells, cellSize int }{{2, 2, 128}, {3, 4, 256}, {65, 8, 4096}} {
		slots := make([]int, l.slots)
		for i := range slots {
			slots[i] = i
		}
		_, _, size := layout(l.slots, l.ncells, l.cellSize)
		seeds = append(seeds, parseSegmentSeed{headerBytes(slots, l.ncells, l.cellSize), int64(size)})
	}
	// Cut short, and a size the layout does not give.
	seeds = append(seeds, parseSegmentSeed{seeds[0].hdr[:offSlotTab+4], seeds[0].size},
		parseSegmentSeed{seeds[1].hdr, seeds[1].size + pageSize})
	return seeds
}

func FuzzParseSegment(f *testing.F) {
	for _, s := range parseSegmentSeeds() {
		f.Add(s.hdr, s.size)
	}
	f.Fuzz(func(t *testing.T, hdr []byte, size int64) {
		s, err := parseHeader(hdr, size)
		if err != nil {
			return
		}
		// What a peer then relies on: the rings and the bitmap it maps lie
		// inside the file, the header inside its pages, and the slot table
		// inside the bytes given.
		if s.hdrSize%pageSize != 0 || s.stride%pageSize != 0 || s.stride < ringCtl+s.ncells*s.cellSize {
			t.Fatalf("header %d bytes, stride %d for %d cells of %d", s.hdrSize, s.stride, s.ncells, s.cellSize)
		}
		if int64(s.hdrSize)+int64(len(s.slots))*int64(s.stride) != size {
			t.Fatalf("%d slots of %d bytes after a %d-byte header in a %d-byte file", len(s.slots), s.stride, s.hdrSize, size)
		}
		if end := s.bitmap + 8*bitmapWords(len(s.slots)); end > s.hdrSize || end > len(hdr) || s.bitmap%lineSize != 0 {
			t.Fatalf("bitmap at %d ends at %d: header %d bytes, %d given", s.bitmap, end, s.hdrSize, len(hdr))
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
	p := newProducer(seg, 0, r)
	return t, &p
}

// boundedAlloc refuses (with a buffer of the wrong length, which the
// transport reports as a failure) payloads over fuzzMaxPayload: a fuzzed
// length must not cost the fuzzer a large allocation per input (the ring
// of 8 cells never carries more than a few hundred bytes of one anyway).
type boundedAlloc struct{ *transporttest.Recorder }

// fuzzMaxPayload bounds the payload boundedAlloc hands out, and
// fuzzMaxCells the cells one FuzzRing input writes: inputs stay cheap to
// run, and to minimize.
const (
	fuzzMaxPayload = 16 << 10
	fuzzMaxCells   = 64
)

func (b boundedAlloc) Alloc(h *transport.Header) []byte {
	if h.PayloadLen() > fuzzMaxPayload {
		return nil
	}
	return b.Recorder.Alloc(h)
}

// ringSeeds are the cells a real sender writes for frames of several
// sizes, and a prefix of them.
func ringSeeds(tb testing.TB) [][]byte {
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
		tb.Fatalf("seed frames: %d delivered, want 5", len(rec.Frames()))
	}
	return [][]byte{stream, stream[:128*3]}
}

// FuzzRing feeds arbitrary cells, as an authenticated but broken or
// hostile sender could write them, to the consumer: it must deliver only
// frames of the announced length, or report the peer, never panic.
func FuzzRing(f *testing.F) {
	for _, s := range ringSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cells []byte) {
		cells = cells[:min(len(cells), fuzzMaxCells*128)]
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

// The fuzz targets stay cheap per input, so that they explore instead of
// minimizing: seeds are small (a segment, even a header page, is not), and
// parsing a header that describes the largest segment allocates little.
func TestFuzzSeedsSmall(t *testing.T) {
	const maxSeed = 1024
	for i, s := range parseSegmentSeeds() {
		if len(s.hdr) > maxSeed {
			t.Errorf("FuzzParseSegment seed %d: %d bytes, want at most %d", i, len(s.hdr), maxSeed)
		}
	}
	for i, s := range ringSeeds(t) {
		if len(s) > maxSeed {
			t.Errorf("FuzzRing seed %d: %d bytes, want at most %d", i, len(s), maxSeed)
		}
	}
	// The most slots and cells a header may claim.
	hdr := headerBytes(make([]int, maxSlots), maxCells, maxCellSize)
	_, _, size := layout(maxSlots, maxCells, maxCellSize)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := parseHeader(hdr, int64(size)); err != nil {
		t.Fatalf("largest header: %v", err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("parsing a header of %d slots allocated %d bytes", maxSlots, n)
	}
}
