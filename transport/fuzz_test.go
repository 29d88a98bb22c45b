package transport

import (
	"bytes"
	"testing"
)

// FuzzHeaderDecode: Decode never panics on outside bytes; what it accepts
// is a valid header that encodes back to the same bytes and respects the
// payload bound.
func FuzzHeaderDecode(f *testing.F) {
	for _, h := range sampleHeaders() {
		b := make([]byte, HeaderSize)
		h.Encode(b)
		f.Add(b, uint64(0))
		f.Add(b, uint64(4096))
		f.Add(b[:HeaderSize-1], uint64(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, max uint64) {
		var h Header
		if err := h.Decode(b, max); err != nil {
			return
		}
		if h.Kind == 0 || h.Kind >= kindEnd || h.Source < 0 {
			t.Fatalf("Decode accepted an invalid header: %v", &h)
		}
		if max > 0 && h.PayloadLen() > max {
			t.Fatalf("Decode accepted payload %d over limit %d", h.PayloadLen(), max)
		}
		out := make([]byte, HeaderSize)
		h.Encode(out)
		if !bytes.Equal(out, b[:HeaderSize]) {
			t.Fatalf("decode/encode changed the header:\n in  %x\n out %x", b[:HeaderSize], out)
		}
		var again Header
		if err := again.Decode(out, max); err != nil || again != h {
			t.Fatalf("re-decoding %v: %v, %v", &h, &again, err)
		}
	})
}
