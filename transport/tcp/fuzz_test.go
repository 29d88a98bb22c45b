package tcp

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// fuzzMaxPayload bounds the payload the fuzz Handler allocates: a fuzzed
// header may announce up to MaxFrame, and a 64 MiB allocation per input
// leaves the fuzzer no time to explore.
const fuzzMaxPayload = 64 << 10

// boundedAlloc refuses (with a nil buffer, which the reader reports as a
// broken Handler contract) payloads over fuzzMaxPayload.
type boundedAlloc struct{ *transporttest.Recorder }

func (b boundedAlloc) Alloc(h *transport.Header) []byte {
	if h.PayloadLen() > fuzzMaxPayload {
		return nil
	}
	return b.Recorder.Alloc(h)
}

// refFrames decodes a stream the plain way, for the fuzz oracle. A frame
// over fuzzMaxPayload is malformed as soon as its header is read, as the
// reader finds when boundedAlloc refuses it.
func refFrames(b []byte, peer int) (frames []transporttest.Frame, bad bool) {
	for len(b) >= transport.HeaderSize {
		var h transport.Header
		if err := h.Decode(b[:transport.HeaderSize], MaxFrame); err != nil || int(h.Source) != peer {
			return frames, true
		}
		n := h.PayloadLen()
		if n > fuzzMaxPayload {
			return frames, true
		}
		if uint64(len(b)-transport.HeaderSize) < n {
			return frames, false
		}
		p := append([]byte{}, b[transport.HeaderSize:transport.HeaderSize+int(n)]...)
		frames = append(frames, transporttest.Frame{Header: h, Payload: p})
		b = b[transport.HeaderSize+int(n):]
	}
	return frames, false
}

// frameReaderSeed is an input of FuzzFrameReader: stream bytes, the seed
// of the read sizes, and a count of filler bytes appended to the stream
// (so that a frame long enough for a direct read, over directMin, needs no
// kilobytes of seed: large seeds leave the fuzzer minimizing, not
// exploring).
type frameReaderSeed struct {
	stream []byte
	cuts   uint64
	pad    uint16
}

func frameReaderSeeds() []frameReaderSeed {
	var stream []byte
	hb := make([]byte, transport.HeaderSize)
	for i, n := range []int{0, 5, 100} {
		h := transport.Header{Kind: transport.KindEager, Source: 3, Tag: int32(i), Seq: uint64(i), Len: uint64(n)}
		h.Encode(hb)
		stream = append(stream, hb...)
		stream = append(stream, bytes.Repeat([]byte{byte(i)}, n)...)
	}
	// A frame whose payload is the filler: read straight into its buffer.
	big := 2*directMin + 17
	h := transport.Header{Kind: transport.KindEager, Source: 3, Tag: 3, Seq: 3, Len: uint64(big)}
	h.Encode(hb)
	withBig := append(append([]byte{}, stream...), hb...)
	return []frameReaderSeed{
		{stream, 0x1234567, 0},
		{withBig, 7, uint16(big)},
		{withBig, 99, uint16(big - 3)},              // cut short
		{append(stream[:60:60], 0xff, 0xff), 99, 0}, // malformed
	}
}

// fuzzFrameReader feeds stream (and pad filler bytes) to the frame reader
// in reads of varying sizes, as a socket would, and checks it against a
// plain decoder: same frames, same verdict on malformed input, no panic.
func fuzzFrameReader(t *testing.T, stream []byte, cuts uint64, pad uint16) {
	const peer = 3
	if pad > 0 {
		filler := make([]byte, int(pad)%(3*directMin))
		for i := range filler {
			filler[i] = byte(i)
		}
		stream = append(stream[:len(stream):len(stream)], filler...)
	}
	want, bad := refFrames(stream, peer)
	rec := transporttest.NewRecorder()
	fr := newFrameReader(1 << 10) // small, to exercise compaction and direct reads
	rest := stream
	var err error
	for len(rest) > 0 && err == nil {
		dst := fr.target()
		n := int(cuts%97) + 1
		cuts = cuts*6364136223846793005 + 1442695040888963407
		n = min(n, len(dst), len(rest))
		if n == 0 {
			t.Fatalf("target gave an empty buffer with %d bytes to go", len(rest))
		}
		copy(dst, rest[:n])
		rest = rest[n:]
		err = fr.advance(n, boundedAlloc{rec}, peer)
	}
	got := rec.Frames()
	if (err != nil) != bad {
		t.Fatalf("reader error %v, plain decoder says malformed=%v", err, bad)
	}
	if len(got) != len(want) {
		t.Fatalf("reader delivered %d frames, plain decoder %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Header != want[i].Header || !bytes.Equal(got[i].Payload, want[i].Payload) {
			t.Fatalf("frame %d differs: %v vs %v", i, got[i].Header, want[i].Header)
		}
	}
	if fr.frames != uint64(len(got)) {
		t.Fatalf("frames counter %d, delivered %d", fr.frames, len(got))
	}
}

func FuzzFrameReader(f *testing.F) {
	for _, s := range frameReaderSeeds() {
		f.Add(s.stream, s.cuts, s.pad)
	}
	f.Fuzz(fuzzFrameReader)
}

// The fuzz target stays cheap per input, so that it explores instead of
// minimizing: its seeds are small, and no input makes it allocate much,
// even one whose header announces the largest frame.
func TestFuzzFrameReaderCheap(t *testing.T) {
	const maxSeed = 512
	for i, s := range frameReaderSeeds() {
		if len(s.stream) > maxSeed {
			t.Errorf("seed %d: %d bytes, want at most %d", i, len(s.stream), maxSeed)
		}
		fuzzFrameReader(t, s.stream, s.cuts, s.pad)
	}
	hb := make([]byte, transport.HeaderSize)
	h := transport.Header{Kind: transport.KindEager, Source: 3, Len: MaxFrame}
	h.Encode(hb)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fuzzFrameReader(t, hb, 1, 0)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("an input announcing a %d-byte frame allocated %d bytes", MaxFrame, n)
	}
}
