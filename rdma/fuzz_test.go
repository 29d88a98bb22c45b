package rdma

import (
	"bytes"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
)

func FuzzDecodeKey(f *testing.F) {
	f.Add((&packedKey{id: 1, size: 8, sections: []keySection{{"cma", make([]byte, cmaKeyLen)}}}).encode())
	f.Add([]byte(keyMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeKey(b)
		if err != nil {
			return
		}
		if again, err := decodeKey(k.encode()); err != nil || again.id != k.id || len(again.sections) != len(k.sections) {
			t.Fatalf("re-encoded key does not decode alike: %v", err)
		}
	})
}

// Frames from a peer (authenticated, but perhaps buggy) never make the
// target touch memory outside its region, nor panic.
func FuzzDeliver(f *testing.F) {
	f.Add(uint8(opPut), uint32(1), uint64(4), uint64(0), uint64(0), []byte{1, 2, 3, 4})
	f.Add(uint8(opGet), uint32(1), uint64(0), uint64(1), uint64(16), []byte{})
	f.Add(uint8(opCAS), uint32(1), uint64(8), uint64(1), uint64(0), make([]byte, 16))
	f.Add(uint8(opData), uint32(0), uint64(0), uint64(9), uint64(0), []byte{1, 2, 3})
	f.Add(uint8(opCall), uint32(1), uint64(99), uint64(2), uint64(5), []byte{1})
	f.Fuzz(func(t *testing.T, kind uint8, ctx uint32, seq, sreq, rreq uint64, payload []byte) {
		fab := newFabric(2, 0, nil)
		fab.drop = true // replies go nowhere
		backing := make([]byte, 48)
		fab.doms[1].Register(backing[16:32], func(src int, code uint32, off int, arg []byte, reply func([]byte, error)) {
			reply(arg, nil)
		})
		h := transport.Header{Kind: transport.KindRMA, Source: 0, Context: ctx, Tag: int32(kind), Seq: seq,
			Len: uint64(len(payload)), SReq: sreq, RReq: rreq}
		d := fab.doms[1]
		buf := d.Alloc(&h)
		if len(buf) != len(payload) {
			t.Fatalf("Alloc gave %d bytes for %d", len(buf), len(payload))
		}
		copy(buf, payload)
		d.Deliver(&h, buf)
		if !bytes.Equal(backing[:16], make([]byte, 16)) || !bytes.Equal(backing[32:], make([]byte, 16)) {
			t.Fatalf("memory outside the region changed: %x", backing)
		}
	})
}
